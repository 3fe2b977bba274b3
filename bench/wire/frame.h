// Ethernet, IPv4 and UDP as the wire harness builds and reads them: pure
// functions over bytes, no sockets. IPv4 only: every wire the harness watches
// (node-to-node ESP, pod traffic in all test tiers) is IPv4.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/ip.h"

namespace sealnet::wire {

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr size_t kEthHeaderLen = 14;
constexpr size_t kIpv4HeaderLen = 20;  // what we build: no options
constexpr size_t kUdpHeaderLen = 8;
constexpr uint8_t kProtoIpip = 4;  // ESP next header of a tunnelled IPv4 packet
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoEsp = 50;

struct MacAddr {
  std::array<uint8_t, 6> bytes{};
  static Result<MacAddr> parse(std::string_view text);  // "02:00:00:00:00:01"
  std::string str() const;
  bool operator==(const MacAddr&) const = default;
};

// One UDP flow's addresses (IPv4).
struct UdpEndpoints {
  IpAddr src, dst;
  uint16_t sport = 0, dport = 0;
  bool operator==(const UdpEndpoints&) const = default;
};

// RFC 1071 ones' complement sum folded and inverted; `seed` carries a
// pseudo-header sum in.
uint16_t inet_checksum(std::span<const uint8_t> data, uint32_t seed = 0);

// IPv4 header (DF set, no options) + UDP header with checksum + payload.
std::vector<uint8_t> build_ipv4_udp(const UdpEndpoints& ep, std::span<const uint8_t> payload, uint16_t ip_id,
                                    uint8_t ttl = 64);
// An IPv4 header (no options) for `payload_len` bytes of protocol `proto`.
std::array<uint8_t, kIpv4HeaderLen> build_ipv4_header(const IpAddr& src, const IpAddr& dst, uint8_t proto,
                                                      size_t payload_len, uint16_t ip_id, uint8_t ttl = 64);
// Ethernet II frame around an L3 packet.
std::vector<uint8_t> build_ethernet(const MacAddr& dst, const MacAddr& src, uint16_t ethertype,
                                    std::span<const uint8_t> l3);

struct EthernetView {
  MacAddr dst, src;
  uint16_t ethertype = 0;
  std::span<const uint8_t> payload;
};
Result<EthernetView> parse_ethernet(std::span<const uint8_t> frame);

// A checked IPv4 packet: version 4, header length, total length within the
// buffer (link padding after it is cut off), header checksum, not a fragment.
struct Ipv4View {
  IpAddr src, dst;
  uint8_t proto = 0;
  uint8_t ttl = 0;
  uint16_t id = 0;
  size_t header_len = 0;
  bool checksum_zero = false;       // a zero header checksum (what rte_ipsec leaves behind)
  std::span<const uint8_t> packet;  // header and payload, exactly total-length bytes
  std::span<const uint8_t> payload;
};
// `allow_zero_checksum`: accept a header whose checksum field is 0 without
// checking it (rte_ipsec does not fill in the outer checksum it rewrites).
Result<Ipv4View> parse_ipv4(std::span<const uint8_t> packet, bool allow_zero_checksum = false);

// A checked UDP datagram: length field, and the checksum when non-zero and
// `check_sum`. A frame captured on the sender's side of a device with tx
// checksum offload (veth, most NICs) carries only the pseudo-header sum, so
// captures of clear frames cannot check it; decrypted ESP inner packets can
// (the kernel resolves the checksum before it encrypts).
struct UdpView {
  UdpEndpoints ep;
  std::span<const uint8_t> payload;
};
Result<UdpView> parse_udp(const Ipv4View& ip, bool check_sum = true);

}  // namespace sealnet::wire
