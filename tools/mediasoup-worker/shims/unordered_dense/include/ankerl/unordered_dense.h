// FlyLive's stand-in for ankerl::unordered_dense (MIT, v4.x) used by mediasoup-worker.
// The worker uses only map, set and hash from it; mapping them onto the standard
// containers keeps semantics (lookup, insert, erase, iteration) and avoids vendoring
// a third-party header of unclear provenance. Iteration order is not relied upon by
// the worker (it is unspecified for std containers and "insertion order until erase"
// for unordered_dense).
#ifndef FLYLIVE_ANKERL_UNORDERED_DENSE_SHIM_H
#define FLYLIVE_ANKERL_UNORDERED_DENSE_SHIM_H

#include <functional>
#include <unordered_map>
#include <unordered_set>

namespace ankerl::unordered_dense
{
	template<class T, class Enable = void>
	struct hash : std::hash<T>
	{
	};

	template<
	  class Key,
	  class T,
	  class Hash     = hash<Key>,
	  class KeyEqual = std::equal_to<Key>,
	  class Alloc    = std::allocator<std::pair<const Key, T>>>
	using map = std::unordered_map<Key, T, Hash, KeyEqual, Alloc>;

	template<class Key, class Hash = hash<Key>, class KeyEqual = std::equal_to<Key>, class Alloc = std::allocator<Key>>
	using set = std::unordered_set<Key, Hash, KeyEqual, Alloc>;
} // namespace ankerl::unordered_dense

#endif
