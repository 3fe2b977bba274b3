// IPv4 and IPv6 addresses and prefixes: parsing, printing, containment.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace sealnet {

// An IPv4 or IPv6 address, network order, IPv4 in the first four bytes.
struct IpAddr {
  uint8_t family = 0;  // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};

  static Result<IpAddr> parse(std::string_view text);
  std::string str() const;
  size_t size() const;  // 4 or 16
  bool operator==(const IpAddr&) const = default;
  auto operator<=>(const IpAddr&) const = default;
};

// addr/len with the host bits zero.
struct IpPrefix {
  IpAddr addr;
  uint8_t len = 0;

  // "10.0.0.0/24", "fd00::/64"; a bare address is a host prefix.
  static Result<IpPrefix> parse(std::string_view text);
  static IpPrefix host(const IpAddr& a) { return {a, static_cast<uint8_t>(a.size() * 8)}; }
  bool contains(const IpAddr& a) const;
  bool overlaps(const IpPrefix& o) const;
  std::string str() const;
  bool operator==(const IpPrefix&) const = default;
  auto operator<=>(const IpPrefix&) const = default;
};

}  // namespace sealnet
