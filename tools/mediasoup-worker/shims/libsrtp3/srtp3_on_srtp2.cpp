#include "srtp.h"
#include <climits>
#include <cstdlib>
#include <cstring>

srtp_err_status_t srtp_policy_create(srtp_policy_t* policy)
{
	if (!policy)
		return srtp_err_status_bad_param;

	auto* created = static_cast<srtp2_policy_t*>(std::calloc(1, sizeof(srtp2_policy_t)));

	if (!created)
		return srtp_err_status_alloc_fail;

	// libsrtp 3.0's default replay window.
	created->window_size = 128;
	*policy              = created;

	return srtp_err_status_ok;
}

void srtp_policy_destroy(srtp_policy_t policy)
{
	if (!policy)
		return;

	if (policy->key)
	{
		// Key material: wipe before freeing.
		std::memset(policy->key, 0, static_cast<size_t>(policy->rtp.cipher_key_len));
		std::free(policy->key);
	}

	std::free(policy);
}

srtp_err_status_t srtp_policy_set_ssrc(srtp_policy_t policy, srtp_ssrc_t ssrc)
{
	if (!policy)
		return srtp_err_status_bad_param;

	policy->ssrc = ssrc;

	return srtp_err_status_ok;
}

srtp_err_status_t srtp_policy_set_profile(srtp_policy_t policy, srtp_profile_t profile)
{
	if (!policy)
		return srtp_err_status_bad_param;

	const srtp_err_status_t err = srtp_crypto_policy_set_from_profile_for_rtp(&policy->rtp, profile);

	if (err != srtp_err_status_ok)
		return err;

	return srtp_crypto_policy_set_from_profile_for_rtcp(&policy->rtcp, profile);
}

srtp_err_status_t srtp_policy_add_key(
  srtp_policy_t policy,
  const uint8_t* key,
  size_t keyLen,
  const uint8_t* salt,
  size_t saltLen,
  const uint8_t* /*mki*/,
  size_t mkiLen)
{
	// mediasoup uses one master key and no MKI.
	if (!policy || !key || !salt || mkiLen != 0 || policy->key)
		return srtp_err_status_bad_param;

	// libsrtp 2.x wants key || salt in one buffer of cipher_key_len bytes
	// (cipher_key_len was set by srtp_policy_set_profile()).
	if (keyLen + saltLen != static_cast<size_t>(policy->rtp.cipher_key_len))
		return srtp_err_status_bad_param;

	auto* material = static_cast<unsigned char*>(std::malloc(keyLen + saltLen));

	if (!material)
		return srtp_err_status_alloc_fail;

	std::memcpy(material, key, keyLen);
	std::memcpy(material + keyLen, salt, saltLen);
	policy->key = material;

	return srtp_err_status_ok;
}

srtp_err_status_t srtp_policy_set_allow_repeat_tx(srtp_policy_t policy, bool allow)
{
	if (!policy)
		return srtp_err_status_bad_param;

	policy->allow_repeat_tx = allow ? 1 : 0;

	return srtp_err_status_ok;
}

srtp_err_status_t srtp_policy_set_window_size(srtp_policy_t policy, size_t windowSize)
{
	// Same bounds libsrtp 2.x enforces in srtp_create().
	if (!policy || windowSize < 64 || windowSize >= 0x8000)
		return srtp_err_status_bad_param;

	policy->window_size = windowSize;

	return srtp_err_status_ok;
}

namespace
{
	// libsrtp 2.x works in place and may grow the packet by up to
	// SRTP_MAX_TRAILER_LEN bytes; copy into the caller's output buffer first.
	srtp_err_status_t Protect(bool rtcp, srtp_t ctx, const uint8_t* in, size_t inLen, uint8_t* out, size_t* outLen)
	{
		if (!in || !out || !outLen || inLen > static_cast<size_t>(INT_MAX - SRTP_MAX_TRAILER_LEN))
			return srtp_err_status_bad_param;

		if (*outLen < inLen + SRTP_MAX_TRAILER_LEN)
			return srtp_err_status_buffer_small;

		if (out != in)
			std::memmove(out, in, inLen);

		int len = static_cast<int>(inLen);
		const srtp_err_status_t err =
		  rtcp ? srtp_protect_rtcp(ctx, out, &len) : srtp_protect(ctx, out, &len);

		if (err != srtp_err_status_ok)
			return err;

		*outLen = static_cast<size_t>(len);

		return srtp_err_status_ok;
	}

	srtp_err_status_t Unprotect(bool rtcp, srtp_t ctx, const uint8_t* in, size_t inLen, uint8_t* out, size_t* outLen)
	{
		if (!in || !out || !outLen || inLen > static_cast<size_t>(INT_MAX))
			return srtp_err_status_bad_param;

		if (out != in)
		{
			if (*outLen < inLen)
				return srtp_err_status_buffer_small;

			std::memmove(out, in, inLen);
		}

		int len = static_cast<int>(inLen);
		const srtp_err_status_t err =
		  rtcp ? srtp_unprotect_rtcp(ctx, out, &len) : srtp_unprotect(ctx, out, &len);

		if (err != srtp_err_status_ok)
			return err;

		*outLen = static_cast<size_t>(len);

		return srtp_err_status_ok;
	}
} // namespace

srtp_err_status_t srtp_protect(
  srtp_t ctx, const uint8_t* rtp, size_t rtpLen, uint8_t* srtp, size_t* srtpLen, size_t /*mkiIndex*/)
{
	return Protect(false, ctx, rtp, rtpLen, srtp, srtpLen);
}

srtp_err_status_t srtp_unprotect(srtp_t ctx, const uint8_t* srtp, size_t srtpLen, uint8_t* rtp, size_t* rtpLen)
{
	return Unprotect(false, ctx, srtp, srtpLen, rtp, rtpLen);
}

srtp_err_status_t srtp_protect_rtcp(
  srtp_t ctx, const uint8_t* rtcp, size_t rtcpLen, uint8_t* srtcp, size_t* srtcpLen, size_t /*mkiIndex*/)
{
	return Protect(true, ctx, rtcp, rtcpLen, srtcp, srtcpLen);
}

srtp_err_status_t srtp_unprotect_rtcp(
  srtp_t ctx, const uint8_t* srtcp, size_t srtcpLen, uint8_t* rtcp, size_t* rtcpLen)
{
	return Unprotect(true, ctx, srtcp, srtcpLen, rtcp, rtcpLen);
}
