// Test frames as bytes: Ethernet + IPv4/IPv6 + UDP/TCP/ESP/ICMP built for
// BPF_PROG_TEST_RUN (unit and host tests, bench_bpf, the self-test).
#pragma once

#include <cstdint>
#include <vector>

#include "core/ip.h"

namespace sealnet::bpf {

// Builds Ethernet frames for BPF_PROG_TEST_RUN: tests, benchmarks and the
// self-test feed the programs exactly what a device would.
//   auto frame = PacketBuilder().ip(src, dst).udp(4000, 5000).payload(64).build();
class PacketBuilder {
 public:
  PacketBuilder& ip(const IpAddr& src, const IpAddr& dst);
  PacketBuilder& udp(uint16_t sport, uint16_t dport);
  PacketBuilder& tcp(uint16_t sport, uint16_t dport);
  PacketBuilder& esp(uint32_t spi, uint32_t seq);
  PacketBuilder& icmp_echo();
  PacketBuilder& ethertype(uint16_t type);  // a non-IP frame (ARP, ...)
  PacketBuilder& payload(size_t bytes);
  std::vector<uint8_t> build() const;

 private:
  IpAddr src_, dst_;
  uint16_t ethertype_ = 0;
  uint8_t proto_ = 0;
  std::vector<uint8_t> l4_;
  size_t payload_ = 0;
};

}  // namespace sealnet::bpf
