"""Redis keys of the gift buffer (contract 7.3, 11; the index and lock are this port's).

The buffer's keys share the `{gifts}` hash tag: its scripts move items between them, which on a
Redis Cluster needs one slot.
"""

from __future__ import annotations

# List of transaction JSON texts waiting to be sent (RPUSH by gift:send, LPOP'd in batches).
PENDING_KEY = "{gifts}:pending"
# One list per batch in flight: `{gifts}:pending:processing:<ms>-<token>-<n>`. It is deleted only
# once Laravel's answer to that batch is handled, so one left behind is a batch whose flush died.
PROCESSING_PREFIX = "{gifts}:pending:processing:"
# Set of the processing lists that exist, so a flush finds the ones a dead flush left without SCAN.
PROCESSING_INDEX_KEY = "{gifts}:processing"
# Hash of the flush's figures (apps/gifts/stats.py): outcomes by status and batch sizes.
STATS_KEY = "{gifts}:stats"
# The flush lock (flylive.redis_lock.RedisLock): never two flushes at once.
FLUSH_LOCK_KEY = "gifts:flush:lock"
