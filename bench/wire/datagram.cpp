#include "bench/wire/datagram.h"

#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace sealnet::wire {

namespace {

constexpr uint8_t kVersion = 1;

template <typename T>
void put_be(uint8_t* p, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) p[i] = static_cast<uint8_t>(v >> (8 * (sizeof(T) - 1 - i)));
}
template <typename T>
T get_be(const uint8_t* p) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v = static_cast<T>(v << 8 | p[i]);
  return v;
}

uint8_t filler(uint32_t flow, uint64_t seq, size_t i) {
  return static_cast<uint8_t>(flow * 131u + seq * 7u + i);
}

// The filler is a byte ramp (base + i, mod 256): the bytes a datagram must
// carry from offset i on are ramp()[(base + i) % 256 ...], so the capture
// compares each payload with one memcmp instead of byte by byte.
constexpr size_t kMaxDatagram = 65536;
const std::array<uint8_t, kMaxDatagram + 256>& ramp() {
  static const auto r = [] {
    std::array<uint8_t, kMaxDatagram + 256> a{};
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i);
    return a;
  }();
  return r;
}

}  // namespace

std::vector<uint8_t> encode_datagram(const Stamp& s, size_t size) {
  size = std::max(size, kStampLen);
  std::vector<uint8_t> out(size);
  uint8_t* p = out.data();
  std::copy(std::begin(kStampMagic), std::end(kStampMagic), p);
  p[4] = kVersion;
  put_be<uint16_t>(p + 6, static_cast<uint16_t>(size));
  put_be<uint32_t>(p + 8, s.flow);
  put_be<uint64_t>(p + 16, s.seq);
  put_be<uint64_t>(p + 24, s.tx_ns);
  std::copy_n(s.ep.src.bytes.begin(), 4, p + 32);
  std::copy_n(s.ep.dst.bytes.begin(), 4, p + 36);
  put_be<uint16_t>(p + 40, s.ep.sport);
  put_be<uint16_t>(p + 42, s.ep.dport);
  for (size_t i = kStampLen; i < size; ++i) p[i] = filler(s.flow, s.seq, i);
  return out;
}

bool looks_like_datagram(std::span<const uint8_t> p) {
  return p.size() >= kStampLen && std::equal(std::begin(kStampMagic), std::end(kStampMagic), p.begin()) &&
         p[4] == kVersion;
}

Result<Stamp> decode_datagram(std::span<const uint8_t> payload) {
  if (!looks_like_datagram(payload)) return fail(0, "decode datagram", {}, "no harness stamp");
  const uint8_t* p = payload.data();
  const size_t len = get_be<uint16_t>(p + 6);
  if (len != payload.size())
    return fail(
        0, "decode datagram", {},
        "stamped length " + std::to_string(len) + ", arrived " + std::to_string(payload.size()) + " bytes");
  Stamp s;
  s.flow = get_be<uint32_t>(p + 8);
  s.seq = get_be<uint64_t>(p + 16);
  s.tx_ns = get_be<uint64_t>(p + 24);
  s.ep.src.family = s.ep.dst.family = AF_INET;
  std::copy_n(p + 32, 4, s.ep.src.bytes.begin());
  std::copy_n(p + 36, 4, s.ep.dst.bytes.begin());
  s.ep.sport = get_be<uint16_t>(p + 40);
  s.ep.dport = get_be<uint16_t>(p + 42);
  const uint8_t* want = ramp().data() + filler(s.flow, s.seq, kStampLen);
  if (len > kStampLen && std::memcmp(p + kStampLen, want, len - kStampLen) != 0)
    for (size_t i = kStampLen; i < len; ++i)
      if (p[i] != filler(s.flow, s.seq, i))
        return fail(0, "decode datagram", "flow " + std::to_string(s.flow) + " seq " + std::to_string(s.seq),
                    "payload byte " + std::to_string(i) + " differs from what was sent");
  return s;
}

Result<Stamp> verify_datagram(const UdpView& udp) {
  auto s = decode_datagram(udp.payload);
  if (!s) return s;
  if (!(s->ep == udp.ep))
    return fail(0, "verify datagram", "flow " + std::to_string(s->flow) + " seq " + std::to_string(s->seq),
                "sent " + s->ep.src.str() + ":" + std::to_string(s->ep.sport) + " -> " + s->ep.dst.str() +
                    ":" + std::to_string(s->ep.dport) + ", arrived as " + udp.ep.src.str() + ":" +
                    std::to_string(udp.ep.sport) + " -> " + udp.ep.dst.str() + ":" +
                    std::to_string(udp.ep.dport));
  return s;
}

}  // namespace sealnet::wire

namespace sealnet::wire {

UdpEndpoints FlowPlan::endpoints(uint32_t flow) const {
  UdpEndpoints ep = base;
  ep.sport = static_cast<uint16_t>(base.sport + flow);
  return ep;
}

Stamp FlowPlan::stamp(uint64_t i, uint64_t tx_ns) const {
  const uint32_t flow = static_cast<uint32_t>(i % flows);
  return Stamp{flow, i / flows, tx_ns, endpoints(flow)};
}

uint64_t due_ns(uint64_t i, uint64_t rate) {
  if (rate == 0) return 0;
  // i * 1e9 / rate without overflow for any i a run can reach.
  return static_cast<uint64_t>(static_cast<unsigned __int128>(i) * 1'000'000'000u / rate);
}

}  // namespace sealnet::wire
