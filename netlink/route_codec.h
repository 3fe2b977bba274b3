// rtnetlink policy-routing rules and routes as pure functions: typed rules and
// routes in, wire bytes out (and back). No socket here: netlink/transport.h sends them.
// Used for the per-slot tables that make an encrypted packet leave through the
// device whose SA encrypted it (offload/README.md, "Which device sends the ESP
// packet").
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/error.h"
#include "core/ip.h"
#include "netlink/transport.h"

namespace sealnet::route {

// `ip rule add fwmark <mark>/<mask> lookup <table> priority <priority>`.
struct Rule {
  uint8_t family = 2;  // AF_INET or AF_INET6
  uint32_t priority = 0;
  uint32_t table = 0;
  std::optional<uint32_t> fwmark, fwmask;
  uint8_t action = 1;  // FR_ACT_TO_TBL
  bool operator==(const Rule&) const = default;
  std::string str() const;  // "fwmark 0xd10/0xff0 lookup 24225 priority 24225"
};

// A unicast route in one table: `ip route add <dst> [via <gateway>] dev <oif> table <table>`.
struct Route {
  uint32_t table = 0;
  IpPrefix dst;
  int oif = 0;
  std::optional<IpAddr> gateway;
  uint8_t protocol = 3;  // RTPROT_BOOT, what iproute2 sets
  uint8_t type = 1;      // RTN_UNICAST
  // RT_SCOPE_LINK for an on-link route, RT_SCOPE_UNIVERSE with a gateway (as iproute2 does).
  uint8_t scope() const { return gateway ? 0 : 253; }
  bool operator==(const Route&) const = default;
  std::string str() const;  // "10.221.0.0/24 via 10.221.0.254 oif 3 table 24225"
};

// RTM_NEWRULE (create, exclusive) / RTM_DELRULE / RTM_GETRULE dump of one
// family (AF_UNSPEC: all).
Result<nl::Bytes> encode_new_rule(const Rule& r);
Result<nl::Bytes> encode_delete_rule(const Rule& r);
Result<nl::Bytes> encode_dump_rules(uint8_t family);
// A rule from a dump (RTM_NEWRULE).
Result<Rule> decode_rule(const nl::MessageView& msg);

// RTM_NEWROUTE (create; `replace` swaps a route of the same table and prefix,
// else exclusive) / RTM_DELROUTE / RTM_GETROUTE dump of one family.
Result<nl::Bytes> encode_new_route(const Route& r, bool replace);
Result<nl::Bytes> encode_delete_route(const Route& r);
Result<nl::Bytes> encode_dump_routes(uint8_t family);
// A route from a dump; nullopt for what the per-slot tables never hold (multipath,
// non-unicast, cached clones) so a caller can skip it.
Result<std::optional<Route>> decode_route(const nl::MessageView& msg);

}  // namespace sealnet::route
