#include "core/ip.h"

#include <arpa/inet.h>

#include <charconv>

namespace sealnet {

Result<IpAddr> IpAddr::parse(std::string_view text) {
  IpAddr a;
  std::string s(text);
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET6;
    return a;
  }
  return fail(0, "parse address", s, "not an IPv4 or IPv6 address");
}

size_t IpAddr::size() const { return family == AF_INET ? 4 : 16; }

std::string IpAddr::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family != AF_INET && family != AF_INET6) return "(none)";
  inet_ntop(family, bytes.data(), buf, sizeof buf);
  return buf;
}

static void clear_host_bits(IpAddr& a, unsigned len) {
  for (unsigned i = 0; i < a.size(); ++i) {
    const unsigned bit = i * 8;
    if (bit >= len) a.bytes[i] = 0;
    else if (len - bit < 8) a.bytes[i] &= static_cast<uint8_t>(0xFF << (8 - (len - bit)));
  }
}

Result<IpPrefix> IpPrefix::parse(std::string_view text) {
  const auto slash = text.find('/');
  auto addr = IpAddr::parse(text.substr(0, slash));
  if (!addr) return fail(0, "parse prefix", std::string(text), addr.error().detail);
  IpPrefix p{*addr, static_cast<uint8_t>(addr->size() * 8)};
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    unsigned len = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (ec != std::errc() || ptr != digits.data() + digits.size() || digits.empty() ||
        len > addr->size() * 8)
      return fail(0, "parse prefix", std::string(text), "bad prefix length");
    p.len = static_cast<uint8_t>(len);
  }
  clear_host_bits(p.addr, p.len);
  return p;
}

bool IpPrefix::contains(const IpAddr& a) const {
  if (a.family != addr.family) return false;
  IpAddr masked = a;
  clear_host_bits(masked, len);
  return masked == addr;
}

bool IpPrefix::overlaps(const IpPrefix& o) const {
  return len <= o.len ? contains(o.addr) : o.contains(addr);
}

std::string IpPrefix::str() const { return addr.str() + "/" + std::to_string(len); }

}  // namespace sealnet
