// The payload of every UDP datagram the harness sends: which flow, which
// sequence number, when it left, and the addresses it left with, followed by a
// filler derived from (flow, seq). A receiver rebuilds the whole datagram from
// the stamp alone, so it checks every byte of what arrived against what was
// sent, including after decryption.
//
// Layout (network byte order), 44 bytes, then filler:
//   0 magic "SLNW"   4 version (1)   5 reserved   6 payload length (u16)
//   8 flow (u32)    12 reserved (u32)  16 seq (u64)  24 tx time, CLOCK_MONOTONIC ns (u64)
//  32 src IPv4     36 dst IPv4      40 src port (u16)  42 dst port (u16)
//  44.. filler[i] = (flow * 131 + seq * 7 + i) & 0xff
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "bench/wire/frame.h"
#include "core/error.h"

namespace sealnet::wire {

constexpr size_t kStampLen = 44;
constexpr uint8_t kStampMagic[4] = {'S', 'L', 'N', 'W'};

struct Stamp {
  uint32_t flow = 0;
  uint64_t seq = 0;
  uint64_t tx_ns = 0;
  UdpEndpoints ep;  // the addresses the sender used (IPv4)
  bool operator==(const Stamp&) const = default;
};

// The payload for `stamp`, `size` bytes long (at least kStampLen).
std::vector<uint8_t> encode_datagram(const Stamp& stamp, size_t size);

// Whether the bytes start like a harness datagram (magic and version); cheap,
// for spotting our traffic in clear on a wire.
bool looks_like_datagram(std::span<const uint8_t> payload);

// Decodes and checks a payload: magic, version, length, filler.
Result<Stamp> decode_datagram(std::span<const uint8_t> payload);

// Checks a received UDP datagram end to end: the payload decodes, and the
// IP/UDP addresses it arrived with are the ones stamped in it.
Result<Stamp> verify_datagram(const UdpView& udp);

}  // namespace sealnet::wire

namespace sealnet::wire {

// What a sender sends: `count` datagrams round-robin over `flows` flows;
// datagram i goes to flow i % flows with sequence number i / flows, from
// source port base.sport + flow.
struct FlowPlan {
  UdpEndpoints base;
  uint32_t flows = 1;
  uint64_t count = 0;
  size_t size = 64;  // UDP payload bytes

  UdpEndpoints endpoints(uint32_t flow) const;
  Stamp stamp(uint64_t i, uint64_t tx_ns) const;
};

// When datagram i is due at `rate` per second (0: no pacing), in ns after start.
uint64_t due_ns(uint64_t i, uint64_t rate);

}  // namespace sealnet::wire
