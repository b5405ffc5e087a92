// The libsrtp 3.0 API (versatica's fork, which mediasoup-worker 3.27 is written
// against) provided on top of Debian's libsrtp 2.5. Only the calls the worker
// makes are provided. C++ only: where a 3.0 signature differs from 2.x the 3.0
// form is a C++ overload of the 2.x function.
#ifndef FLYLIVE_SRTP3_ON_SRTP2_H
#define FLYLIVE_SRTP3_ON_SRTP2_H

// libsrtp 2.x names its policy struct srtp_policy_t; 3.0 uses that name for an
// opaque handle. Include the 2.x header with the struct renamed.
#define srtp_policy_t srtp2_policy_t
#include <srtp2/srtp.h>
#undef srtp_policy_t

#include <cstddef>
#include <cstdint>

using srtp_policy_t = srtp2_policy_t*;

// Status codes that only exist in 3.0; only this shim returns them.
constexpr srtp_err_status_t srtp_err_status_buffer_small = static_cast<srtp_err_status_t>(28);
constexpr srtp_err_status_t srtp_err_status_cryptex_err  = static_cast<srtp_err_status_t>(29);

srtp_err_status_t srtp_policy_create(srtp_policy_t* policy);
void srtp_policy_destroy(srtp_policy_t policy);
srtp_err_status_t srtp_policy_set_ssrc(srtp_policy_t policy, srtp_ssrc_t ssrc);
srtp_err_status_t srtp_policy_set_profile(srtp_policy_t policy, srtp_profile_t profile);
srtp_err_status_t srtp_policy_add_key(
  srtp_policy_t policy,
  const uint8_t* key,
  size_t keyLen,
  const uint8_t* salt,
  size_t saltLen,
  const uint8_t* mki,
  size_t mkiLen);
srtp_err_status_t srtp_policy_set_allow_repeat_tx(srtp_policy_t policy, bool allow);
srtp_err_status_t srtp_policy_set_window_size(srtp_policy_t policy, size_t windowSize);

// 3.0 protect/unprotect take separate in/out buffers with size_t lengths.
srtp_err_status_t srtp_protect(
  srtp_t ctx, const uint8_t* rtp, size_t rtpLen, uint8_t* srtp, size_t* srtpLen, size_t mkiIndex);
srtp_err_status_t srtp_unprotect(
  srtp_t ctx, const uint8_t* srtp, size_t srtpLen, uint8_t* rtp, size_t* rtpLen);
srtp_err_status_t srtp_protect_rtcp(
  srtp_t ctx, const uint8_t* rtcp, size_t rtcpLen, uint8_t* srtcp, size_t* srtcpLen, size_t mkiIndex);
srtp_err_status_t srtp_unprotect_rtcp(
  srtp_t ctx, const uint8_t* srtcp, size_t srtcpLen, uint8_t* rtcp, size_t* rtcpLen);

inline srtp_err_status_t srtp_stream_remove(srtp_t session, uint32_t ssrc)
{
	return srtp_remove_stream(session, ssrc);
}

#endif
