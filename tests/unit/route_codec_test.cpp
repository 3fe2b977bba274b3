// netlink/route_codec.h against what iproute2 6.1 sent for the same objects and
// what the kernel answered to its dumps (captured with `strace -xx ip -n
// <private netns> rule|route ...` in a namespace with a veth d0 at ifindex 3).
// iproute2 puts the attributes in the same order we do, so requests compare
// byte for byte after the netlink header (whose seq/pid the socket sets).
#include "netlink/route_codec.h"

#include <gtest/gtest.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>

namespace sealnet::route {
namespace {

nl::Bytes from_hex(std::string_view hex) {
  nl::Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoul(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

nlmsghdr header_of(const nl::Bytes& m) {
  nlmsghdr h;
  std::memcpy(&h, m.data(), sizeof h);
  return h;
}

nl::Bytes body_of(const nl::Bytes& m) { return nl::Bytes(m.begin() + NLMSG_HDRLEN, m.end()); }

// A dump reply as the kernel sent it: header + the captured body.
nl::Bytes reply(uint16_t type, std::string_view body_hex) {
  const nl::Bytes body = from_hex(body_hex);
  nlmsghdr h{};
  h.nlmsg_len = static_cast<uint32_t>(NLMSG_HDRLEN + body.size());
  h.nlmsg_type = type;
  h.nlmsg_flags = NLM_F_MULTI;
  h.nlmsg_seq = 7;
  // One allocation and two copies (GCC 12 at -O2 misreads an insert after a
  // 16-byte construction as an out-of-bounds memcpy: -Warray-bounds).
  nl::Bytes m(sizeof h + body.size());
  std::memcpy(m.data(), &h, sizeof h);
  if (!body.empty()) std::memcpy(m.data() + sizeof h, body.data(), body.size());
  return m;
}

IpAddr ip(const char* s) { return *IpAddr::parse(s); }

Rule slot1_rule() {
  Rule r;
  r.family = AF_INET;
  r.priority = 2001;
  r.table = 2001;
  r.fwmark = 0xd10;
  r.fwmask = 0xff0;
  return r;
}

// ip rule add fwmark 0xd10/0xff0 lookup 2001 priority 2001
constexpr std::string_view kRuleAdd =
    "0200000000000001000000000800 0a00100d0000080010 00f00f0000 08000f00d1070000 08000600d1070000";

std::string nospace(std::string_view s) {
  std::string o;
  for (char c : s)
    if (c != ' ') o += c;
  return o;
}

TEST(RouteCodec, NewRuleIsWhatIproute2Sends) {
  auto m = encode_new_rule(slot1_rule());
  ASSERT_TRUE(m) << m.error().message();
  const auto h = header_of(*m);
  EXPECT_EQ(h.nlmsg_type, RTM_NEWRULE);
  EXPECT_EQ(h.nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL);  // the socket adds NLM_F_ACK
  EXPECT_EQ(h.nlmsg_len, 60u);
  EXPECT_EQ(body_of(*m), from_hex(nospace(kRuleAdd)));
}

TEST(RouteCodec, DeleteRuleDiffersFromIproute2OnlyInTheAction) {
  auto m = encode_delete_rule(slot1_rule());
  ASSERT_TRUE(m);
  EXPECT_EQ(header_of(*m).nlmsg_type, RTM_DELRULE);
  EXPECT_EQ(header_of(*m).nlmsg_flags, NLM_F_REQUEST);
  // iproute2 sends action 0 (any); we name the action of the rule we dumped, so
  // only a "lookup" rule matches (fib_nl_delrule compares a non-zero action).
  nl::Bytes iproute2 = from_hex(nospace(
      "0200000000000000000000000800 0a00100d0000080010 00f00f0000 08000f00d1070000 08000600d1070000"));
  iproute2[7] = FR_ACT_TO_TBL;
  EXPECT_EQ(body_of(*m), iproute2);
}

TEST(RouteCodec, RuleDumpRequestIsIproute2s) {
  auto m = encode_dump_rules(AF_INET);
  ASSERT_TRUE(m);
  EXPECT_EQ(header_of(*m).nlmsg_type, RTM_GETRULE);
  EXPECT_EQ(header_of(*m).nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
  EXPECT_EQ(body_of(*m), from_hex("020000000000000000000000"));  // ip rule show
}

TEST(RouteCodec, DecodesTheKernelsRuleDump) {
  // The rule added above as the kernel dumps it: header table 252 (RT_TABLE_COMPAT,
  // the real one is in FRA_TABLE), FRA_SUPPRESS_PREFIXLEN and FRA_PROTOCOL added.
  auto ours = reply(RTM_NEWRULE,
                    nospace("02000000fc00000100000000 08000f00d1070000 08000e00ffffffff 0500150000000000 "
                            "08000600d1070000 08000a00100d0000 08001000f00f0000"));
  auto views = nl::split_messages(ours);
  ASSERT_TRUE(views);
  auto r = decode_rule(views->front());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, slot1_rule());
  // "from all lookup main": no mark.
  auto main_rule = reply(RTM_NEWRULE, nospace("02000000fe00000100000000 08000f00fe000000 08000e00ffffffff "
                                              "0500150002000000 08000600fe7f0000"));
  auto mv = nl::split_messages(main_rule);
  ASSERT_TRUE(mv);
  auto m = decode_rule(mv->front());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->table, 254u);
  EXPECT_EQ(m->priority, 32766u);
  EXPECT_FALSE(m->fwmark);
  // A route message is not a rule.
  auto route_msg = reply(RTM_NEWROUTE, "020000000000000000000000");
  auto rv = nl::split_messages(route_msg);
  ASSERT_TRUE(rv);
  EXPECT_FALSE(decode_rule(rv->front()));
}

Route onlink_route() {
  Route r;
  r.table = 2001;
  r.dst = *IpPrefix::parse("10.221.0.0/24");
  r.oif = 3;
  return r;
}

TEST(RouteCodec, NewRoutesAreWhatIproute2Sends) {
  // ip route add 10.221.0.0/24 dev d0 table 2001
  auto m = encode_new_route(onlink_route(), false);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(header_of(*m).nlmsg_type, RTM_NEWROUTE);
  EXPECT_EQ(header_of(*m).nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL);
  EXPECT_EQ(body_of(*m),
            from_hex(nospace("021800000003fd0100000000 080001000add0000 08000f00d1070000 0800040003000000")));
  // ip route add 10.230.0.0/16 via 10.221.0.2 dev d0 table 2001
  Route via = onlink_route();
  via.dst = *IpPrefix::parse("10.230.0.0/16");
  via.gateway = ip("10.221.0.2");
  auto v = encode_new_route(via, false);
  ASSERT_TRUE(v);
  EXPECT_EQ(body_of(*v),
            from_hex(nospace("0210000000030001000000000800 01000ae60000 080005000add0002 08000f00d1070000 "
                             "0800040003000000")));
  // ip route replace ...: the same body, CREATE|REPLACE.
  auto rep = encode_new_route(via, true);
  ASSERT_TRUE(rep);
  EXPECT_EQ(header_of(*rep).nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE);
  EXPECT_EQ(body_of(*rep), body_of(*v));
}

TEST(RouteCodec, DeleteRouteNamesProtocolScopeAndType) {
  Route r = onlink_route();
  r.protocol = 0x5E;
  auto m = encode_delete_route(r);
  ASSERT_TRUE(m);
  EXPECT_EQ(header_of(*m).nlmsg_type, RTM_DELROUTE);
  // iproute2 (ip route del 10.221.0.0/24 dev d0 table 2001) sends protocol 0,
  // scope NOWHERE, type 0: "any". We name ours, so fib_table_delete can only
  // match sealnet's route, never a foreign one with the same prefix.
  nl::Bytes iproute2 =
      from_hex(nospace("021800000000ff0000000000 080001000add0000 08000f00d1070000 0800040003000000"));
  iproute2[5] = 0x5E;  // rtm_protocol
  iproute2[6] = RT_SCOPE_LINK;
  iproute2[7] = RTN_UNICAST;
  EXPECT_EQ(body_of(*m), iproute2);
}

TEST(RouteCodec, RouteDumpRequestIsIproute2s) {
  auto m = encode_dump_routes(AF_INET);  // ip -4 route show table all
  ASSERT_TRUE(m);
  EXPECT_EQ(header_of(*m).nlmsg_type, RTM_GETROUTE);
  EXPECT_EQ(header_of(*m).nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
  EXPECT_EQ(body_of(*m), from_hex("020000000000000000000000"));
}

TEST(RouteCodec, DecodesTheKernelsRouteDump) {
  auto a = reply(RTM_NEWROUTE,
                 nospace("02180000fc03fd0100000000 08000f00d1070000 080001000add0000 0800040003000000"));
  auto b = reply(RTM_NEWROUTE,
                 nospace("02100000fc030001000000000800 0f00d1070000 080001000ae60000 080005000add0002 "
                         "0800040003000000"));
  auto va = nl::split_messages(a);
  auto vb = nl::split_messages(b);
  ASSERT_TRUE(va && vb);
  auto ra = decode_route(va->front());
  ASSERT_TRUE(ra) << ra.error().message();
  ASSERT_TRUE(*ra);
  EXPECT_EQ(**ra, onlink_route());
  auto rb = decode_route(vb->front());
  ASSERT_TRUE(rb && *rb);
  EXPECT_EQ((*rb)->dst, *IpPrefix::parse("10.230.0.0/16"));
  EXPECT_EQ((*rb)->gateway, ip("10.221.0.2"));
  EXPECT_EQ((*rb)->scope(), RT_SCOPE_UNIVERSE);
  // A local route (type RTN_LOCAL) is not one of the per-slot tables' kind.
  auto local = reply(RTM_NEWROUTE,
                     nospace("02200000ff02fe0200000000 08000f00ff000000 080001000add0001 0800040003000000"));
  auto vl = nl::split_messages(local);
  ASSERT_TRUE(vl);
  auto rl = decode_route(vl->front());
  ASSERT_TRUE(rl);
  EXPECT_FALSE(*rl);
  // A truncated RTA_DST is an error, not a route to 0.0.0.0.
  auto bad = reply(RTM_NEWROUTE, nospace("02180000fc03fd0100000000 06000100 0add0000 0800040003000000"));
  auto vbad = nl::split_messages(bad);
  ASSERT_TRUE(vbad);
  EXPECT_FALSE(decode_route(vbad->front()));
}

}  // namespace
}  // namespace sealnet::route
