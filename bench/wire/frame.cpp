#include "bench/wire/frame.h"

#include <netinet/in.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>

namespace sealnet::wire {

namespace {

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// The one's-complement sum of the big-endian 16-bit words of `data`, added to
// `acc` (not folded). The capture checksums every inner packet it judges, so
// the bulk goes 16 bytes a step in vector lanes, summing the words in the
// machine's order: a one's-complement sum is byte-order independent up to a
// final byte swap (RFC 1071, 2.B). The tail goes word by word.
uint32_t sum16(std::span<const uint8_t> data, uint32_t acc) {
  static_assert(std::endian::native == std::endian::little);
  using u32x4 = uint32_t __attribute__((vector_size(16)));  // one SSE2 register
  const uint8_t* p = data.data();
  const size_t n = data.size();
  size_t i = 0;
  while (i + 16 <= n) {
    // A lane takes two words a step, at most 8192 of 0xffff before the sum is moved out.
    u32x4 lanes{};
    for (const size_t end = std::min(n - n % 16, i + 4096 * 16); i < end; i += 16) {
      u32x4 w;
      std::memcpy(&w, p + i, sizeof w);
      lanes += (w & 0xffff) + (w >> 16);
    }
    uint64_t s = 0;
    for (int k = 0; k < 4; ++k) s += lanes[k];
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    acc += static_cast<uint16_t>(s << 8 | s >> 8);
  }
  for (; i + 1 < n; i += 2) acc += get16(&p[i]);
  if (i < n) acc += static_cast<uint32_t>(p[i]) << 8;
  return acc;
}

uint16_t fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(~acc);
}

uint32_t udp_pseudo_sum(const IpAddr& src, const IpAddr& dst, size_t udp_len) {
  uint32_t acc = 0;
  acc = sum16(std::span(src.bytes.data(), 4), acc);
  acc = sum16(std::span(dst.bytes.data(), 4), acc);
  return acc + kProtoUdp + static_cast<uint32_t>(udp_len);
}

}  // namespace

Result<MacAddr> MacAddr::parse(std::string_view text) {
  MacAddr m;
  unsigned b[6];
  char tail = 0;
  const std::string s(text);
  if (std::sscanf(s.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) !=
          6 ||
      s.size() != 17)
    return fail(0, "parse MAC address", s, "expected six hex bytes like 02:00:00:00:00:01");
  for (int i = 0; i < 6; ++i) m.bytes[i] = static_cast<uint8_t>(b[i]);
  return m;
}

std::string MacAddr::str() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2], bytes[3],
                bytes[4], bytes[5]);
  return buf;
}

uint16_t inet_checksum(std::span<const uint8_t> data, uint32_t seed) { return fold(sum16(data, seed)); }

std::array<uint8_t, kIpv4HeaderLen> build_ipv4_header(const IpAddr& src, const IpAddr& dst, uint8_t proto,
                                                      size_t payload_len, uint16_t ip_id, uint8_t ttl) {
  std::array<uint8_t, kIpv4HeaderLen> h{};
  h[0] = 0x45;
  put16(&h[2], static_cast<uint16_t>(kIpv4HeaderLen + payload_len));
  put16(&h[4], ip_id);
  h[6] = 0x40;  // DF: the harness never wants its frames fragmented on the way
  h[8] = ttl;
  h[9] = proto;
  std::copy_n(src.bytes.begin(), 4, &h[12]);
  std::copy_n(dst.bytes.begin(), 4, &h[16]);
  put16(&h[10], inet_checksum(h));
  return h;
}

std::vector<uint8_t> build_ipv4_udp(const UdpEndpoints& ep, std::span<const uint8_t> payload, uint16_t ip_id,
                                    uint8_t ttl) {
  const size_t udp_len = kUdpHeaderLen + payload.size();
  const auto ip = build_ipv4_header(ep.src, ep.dst, kProtoUdp, udp_len, ip_id, ttl);
  std::vector<uint8_t> out(kIpv4HeaderLen + udp_len);
  std::copy(ip.begin(), ip.end(), out.begin());
  uint8_t* u = &out[kIpv4HeaderLen];
  put16(&u[0], ep.sport);
  put16(&u[2], ep.dport);
  put16(&u[4], static_cast<uint16_t>(udp_len));
  std::copy(payload.begin(), payload.end(), u + kUdpHeaderLen);
  uint16_t c = inet_checksum(std::span<const uint8_t>(u, udp_len), udp_pseudo_sum(ep.src, ep.dst, udp_len));
  put16(&u[6], c == 0 ? 0xffff : c);  // RFC 768: a computed 0 is sent as all ones
  return out;
}

std::vector<uint8_t> build_ethernet(const MacAddr& dst, const MacAddr& src, uint16_t ethertype,
                                    std::span<const uint8_t> l3) {
  std::vector<uint8_t> out(kEthHeaderLen + l3.size());
  std::copy(dst.bytes.begin(), dst.bytes.end(), out.begin());
  std::copy(src.bytes.begin(), src.bytes.end(), out.begin() + 6);
  put16(&out[12], ethertype);
  std::copy(l3.begin(), l3.end(), out.begin() + kEthHeaderLen);
  return out;
}

Result<EthernetView> parse_ethernet(std::span<const uint8_t> frame) {
  if (frame.size() < kEthHeaderLen)
    return fail(0, "parse Ethernet", {}, std::to_string(frame.size()) + " bytes is shorter than a header");
  EthernetView v;
  std::copy_n(frame.begin(), 6, v.dst.bytes.begin());
  std::copy_n(frame.begin() + 6, 6, v.src.bytes.begin());
  v.ethertype = get16(&frame[12]);
  v.payload = frame.subspan(kEthHeaderLen);
  return v;
}

Result<Ipv4View> parse_ipv4(std::span<const uint8_t> p, bool allow_zero_checksum) {
  // Built in place and returned by name on every path: the capture parses
  // every frame and inner packet, and copying a finished view out (narrow
  // stores, then wide loads) cost more than all the checks.
  Result<Ipv4View> r(std::in_place);
  const auto bad = [&r](std::string why) { r = fail(0, "parse IPv4", {}, std::move(why)); };
  Ipv4View& v = *r;
  if (p.size() < kIpv4HeaderLen) {
    bad("shorter than a header");
    return r;
  }
  if (p[0] >> 4 != 4) {
    bad("version is not 4");
    return r;
  }
  v.header_len = static_cast<size_t>(p[0] & 0xf) * 4;
  const size_t total = get16(&p[2]);
  if (v.header_len < kIpv4HeaderLen || total < v.header_len || total > p.size()) {
    bad("header length " + std::to_string(v.header_len) + " or total length " + std::to_string(total) +
        " does not fit " + std::to_string(p.size()) + " bytes");
    return r;
  }
  if (get16(&p[6]) & 0x3fff) {
    bad("a fragment (the harness never fragments)");
    return r;
  }
  v.packet = p.first(total);
  v.checksum_zero = get16(&p[10]) == 0;
  if (!(allow_zero_checksum && v.checksum_zero) && inet_checksum(p.first(v.header_len)) != 0) {
    bad("bad header checksum");
    return r;
  }
  v.id = get16(&p[4]);
  v.ttl = p[8];
  v.proto = p[9];
  v.src.family = v.dst.family = AF_INET;
  std::memcpy(v.src.bytes.data(), &p[12], 4);
  std::memcpy(v.dst.bytes.data(), &p[16], 4);
  v.payload = v.packet.subspan(v.header_len);
  return r;
}

Result<UdpView> parse_udp(const Ipv4View& ip, bool check_sum) {
  if (ip.proto != kProtoUdp) return fail(0, "parse UDP", {}, "IP protocol " + std::to_string(ip.proto));
  const auto p = ip.payload;
  if (p.size() < kUdpHeaderLen) return fail(0, "parse UDP", {}, "shorter than a header");
  const size_t len = get16(&p[4]);
  if (len < kUdpHeaderLen || len != p.size())
    return fail(0, "parse UDP", {},
                "length field " + std::to_string(len) + " but the IP payload is " + std::to_string(p.size()) +
                    " bytes");
  if (check_sum && get16(&p[6]) != 0 && inet_checksum(p, udp_pseudo_sum(ip.src, ip.dst, len)) != 0)
    return fail(0, "parse UDP", {}, "bad checksum");
  UdpView v;
  v.ep = {ip.src, ip.dst, get16(&p[0]), get16(&p[2])};
  v.payload = p.subspan(kUdpHeaderLen);
  return v;
}

}  // namespace sealnet::wire
