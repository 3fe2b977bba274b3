// What a captured frame is, as far as "did anything cross in clear" goes.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "bench/wire/frame.h"
#include "core/ip.h"

namespace sealnet::wire {

enum class FrameKind {
  Esp,        // IPv4 protocol 50
  Plaintext,  // should have been ESP: see classify_frame
  Other,      // ARP, IPv6 ND, anything else that is not ours to judge
};

struct FrameClass {
  FrameKind kind = FrameKind::Other;
  std::string why;  // for Plaintext: what gave it away
};

// An IPv4 frame that is not ESP is plaintext when it carries a harness
// datagram in clear (our own test traffic leaked), or when its source and
// destination both fall in `protect` (traffic the policy says must be
// encrypted, e.g. pod CIDRs). Everything else is Other.
FrameClass classify_frame(std::span<const uint8_t> frame, std::span<const IpPrefix> protect);

}  // namespace sealnet::wire
