#include "bench/wire/classify.h"

#include <algorithm>

#include "bench/wire/datagram.h"

namespace sealnet::wire {

FrameClass classify_frame(std::span<const uint8_t> frame, std::span<const IpPrefix> protect) {
  const auto eth = parse_ethernet(frame);
  if (!eth || eth->ethertype != kEtherTypeIpv4) return {};
  // A header too broken to parse still counts when it names a protected pair:
  // parse leniently here, the judgement is about addresses and payload.
  const auto ip = parse_ipv4(eth->payload, /*allow_zero_checksum=*/true);
  if (!ip) return {};
  if (ip->proto == kProtoEsp) return {FrameKind::Esp, {}};
  const auto in_protected = [&](const IpAddr& a) {
    return std::ranges::any_of(protect, [&](const IpPrefix& p) { return p.contains(a); });
  };
  if (in_protected(ip->src) && in_protected(ip->dst))
    return {FrameKind::Plaintext, "IP protocol " + std::to_string(ip->proto) + " " + ip->src.str() + " -> " +
                                      ip->dst.str() + " inside protected prefixes"};
  if (ip->proto == kProtoUdp && ip->payload.size() >= kUdpHeaderLen &&
      looks_like_datagram(ip->payload.subspan(kUdpHeaderLen)))
    return {FrameKind::Plaintext, "a harness datagram in clear " + ip->src.str() + " -> " + ip->dst.str()};
  return {};
}

}  // namespace sealnet::wire
