#include "bpf/packet.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

namespace sealnet::bpf {

namespace {

void put16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t>& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}

uint16_t ipv4_checksum(const uint8_t* h, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(h[i] << 8 | h[i + 1]);
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace

PacketBuilder& PacketBuilder::ip(const IpAddr& src, const IpAddr& dst) {
  src_ = src;
  dst_ = dst;
  ethertype_ = src.family == AF_INET6 ? 0x86DD : 0x0800;
  return *this;
}

PacketBuilder& PacketBuilder::udp(uint16_t sport, uint16_t dport) {
  proto_ = IPPROTO_UDP;
  l4_.clear();
  put16(l4_, sport);
  put16(l4_, dport);
  put16(l4_, 0);  // length, filled in build()
  put16(l4_, 0);  // checksum: none (IPv4); the programs do not verify it
  return *this;
}

PacketBuilder& PacketBuilder::tcp(uint16_t sport, uint16_t dport) {
  proto_ = IPPROTO_TCP;
  l4_.clear();
  put16(l4_, sport);
  put16(l4_, dport);
  put32(l4_, 1);           // seq
  put32(l4_, 0);           // ack
  put16(l4_, 0x5002);      // data offset 5, SYN
  put16(l4_, 0xFFFF);      // window
  put32(l4_, 0);           // checksum, urgent
  return *this;
}

PacketBuilder& PacketBuilder::esp(uint32_t spi, uint32_t seq) {
  proto_ = IPPROTO_ESP;
  l4_.clear();
  put32(l4_, spi);
  put32(l4_, seq);
  return *this;
}

PacketBuilder& PacketBuilder::icmp_echo() {
  proto_ = static_cast<uint8_t>(src_.family == AF_INET6 ? int{IPPROTO_ICMPV6} : int{IPPROTO_ICMP});
  l4_ = {static_cast<uint8_t>(src_.family == AF_INET6 ? 128 : 8), 0, 0, 0, 0, 1, 0, 1};
  return *this;
}

PacketBuilder& PacketBuilder::ethertype(uint16_t type) {
  ethertype_ = type;
  return *this;
}

PacketBuilder& PacketBuilder::payload(size_t bytes) {
  payload_ = bytes;
  return *this;
}

std::vector<uint8_t> PacketBuilder::build() const {
  std::vector<uint8_t> f = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
  put16(f, ethertype_);
  const bool v4 = ethertype_ == 0x0800, v6 = ethertype_ == 0x86DD;
  if (!v4 && !v6) {
    f.resize(f.size() + std::max<size_t>(payload_, 46), 0);
    return f;
  }
  std::vector<uint8_t> l4 = l4_;
  for (size_t i = 0; i < payload_; ++i) l4.push_back(static_cast<uint8_t>(i));
  if (proto_ == IPPROTO_UDP) {
    l4[4] = static_cast<uint8_t>(l4.size() >> 8);
    l4[5] = static_cast<uint8_t>(l4.size());
  }
  const size_t l3 = f.size();
  if (v4) {
    f.insert(f.end(), {0x45, 0});
    put16(f, static_cast<uint16_t>(20 + l4.size()));
    f.insert(f.end(), {0, 1, 0x40, 0, 64, proto_, 0, 0});
    f.insert(f.end(), src_.bytes.begin(), src_.bytes.begin() + 4);
    f.insert(f.end(), dst_.bytes.begin(), dst_.bytes.begin() + 4);
    const uint16_t csum = ipv4_checksum(&f[l3], 20);
    f[l3 + 10] = static_cast<uint8_t>(csum >> 8);
    f[l3 + 11] = static_cast<uint8_t>(csum);
  } else {
    f.insert(f.end(), {0x60, 0, 0, 0});
    put16(f, static_cast<uint16_t>(l4.size()));
    f.insert(f.end(), {proto_, 64});
    f.insert(f.end(), src_.bytes.begin(), src_.bytes.end());
    f.insert(f.end(), dst_.bytes.begin(), dst_.bytes.end());
  }
  f.insert(f.end(), l4.begin(), l4.end());
  return f;
}

}  // namespace sealnet::bpf
