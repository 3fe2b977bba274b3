#include "netlink/route_codec.h"

#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstdio>

namespace sealnet::route {

namespace {

constexpr const char* kDecodeRule = "decode RTM_NEWRULE";
constexpr const char* kDecodeRoute = "decode RTM_NEWROUTE";

nl::ByteView addr_bytes(const IpAddr& a) { return {a.bytes.data(), a.size()}; }

std::optional<IpAddr> addr_from(std::optional<nl::ByteView> b, uint8_t family) {
  const size_t n = family == AF_INET ? 4 : 16;
  if (!b || b->size() != n) return std::nullopt;
  IpAddr a;
  a.family = family;
  std::copy(b->begin(), b->end(), a.bytes.begin());
  return a;
}

Result<nl::Bytes> encode_rule(uint16_t type, uint16_t flags, const Rule& r) {
  nl::MessageBuilder b(type, flags);
  fib_rule_hdr h{};
  h.family = r.family;
  h.action = r.action;
  // Tables above 255 travel in FRA_TABLE only, with the header's table 0 (iproute2 does the same).
  h.table = r.table < 256 ? static_cast<uint8_t>(r.table) : static_cast<uint8_t>(RT_TABLE_UNSPEC);
  b.header(h);
  if (r.fwmark) b.put_u32(FRA_FWMARK, *r.fwmark);
  if (r.fwmask) b.put_u32(FRA_FWMASK, *r.fwmask);
  b.put_u32(FRA_TABLE, r.table);
  b.put_u32(FRA_PRIORITY, r.priority);
  return std::move(b).finish();
}

Result<nl::Bytes> encode_route(uint16_t type, uint16_t flags, const Route& r) {
  if (r.gateway && r.gateway->family != r.dst.addr.family)
    return fail(EINVAL, "encode route", r.str(), "gateway and destination are of different families");
  nl::MessageBuilder b(type, flags);
  rtmsg m{};
  m.rtm_family = r.dst.addr.family;
  m.rtm_dst_len = r.dst.len;
  m.rtm_table = r.table < 256 ? static_cast<uint8_t>(r.table) : static_cast<uint8_t>(RT_TABLE_UNSPEC);
  m.rtm_protocol = r.protocol;
  m.rtm_scope = r.scope();
  m.rtm_type = r.type;
  b.header(m);
  b.put(RTA_DST, addr_bytes(r.dst.addr));
  if (r.gateway) b.put(RTA_GATEWAY, addr_bytes(*r.gateway));
  b.put_u32(RTA_TABLE, r.table);
  b.put_u32(RTA_OIF, static_cast<uint32_t>(r.oif));
  return std::move(b).finish();
}

}  // namespace

std::string Rule::str() const {
  char buf[128];
  std::snprintf(buf, sizeof buf, "fwmark 0x%x/0x%x lookup %u priority %u", fwmark.value_or(0),
                fwmask.value_or(0), table, priority);
  return buf;
}

std::string Route::str() const {
  std::string s = dst.str();
  if (gateway) s += " via " + gateway->str();
  return s + " oif " + std::to_string(oif) + " table " + std::to_string(table);
}

Result<nl::Bytes> encode_new_rule(const Rule& r) {
  return encode_rule(RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, r);
}

Result<nl::Bytes> encode_delete_rule(const Rule& r) { return encode_rule(RTM_DELRULE, 0, r); }

Result<nl::Bytes> encode_dump_rules(uint8_t family) {
  nl::MessageBuilder b(RTM_GETRULE, NLM_F_DUMP);
  fib_rule_hdr h{};
  h.family = family;
  b.header(h);
  return std::move(b).finish();
}

Result<Rule> decode_rule(const nl::MessageView& msg) {
  if (msg.type() != RTM_NEWRULE)
    return fail(EBADMSG, kDecodeRule, {}, "message type " + std::to_string(msg.type()));
  const auto* h = msg.family_header<fib_rule_hdr>();
  if (!h) return fail(EBADMSG, kDecodeRule, {}, "shorter than fib_rule_hdr");
  auto t = nl::AttrTable::parse(msg.payload(), sizeof(fib_rule_hdr));
  if (!t) return std::unexpected(t.error());
  Rule r;
  r.family = h->family;
  r.action = h->action;
  r.table = t->u32(FRA_TABLE).value_or(h->table);
  r.priority = t->u32(FRA_PRIORITY).value_or(0);
  r.fwmark = t->u32(FRA_FWMARK);
  r.fwmask = t->u32(FRA_FWMASK);
  return r;
}

Result<nl::Bytes> encode_new_route(const Route& r, bool replace) {
  return encode_route(RTM_NEWROUTE, NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL), r);
}

Result<nl::Bytes> encode_delete_route(const Route& r) { return encode_route(RTM_DELROUTE, 0, r); }

Result<nl::Bytes> encode_dump_routes(uint8_t family) {
  nl::MessageBuilder b(RTM_GETROUTE, NLM_F_DUMP);
  rtmsg m{};
  m.rtm_family = family;
  b.header(m);
  return std::move(b).finish();
}

Result<std::optional<Route>> decode_route(const nl::MessageView& msg) {
  if (msg.type() != RTM_NEWROUTE)
    return fail(EBADMSG, kDecodeRoute, {}, "message type " + std::to_string(msg.type()));
  const auto* m = msg.family_header<rtmsg>();
  if (!m) return fail(EBADMSG, kDecodeRoute, {}, "shorter than rtmsg");
  if (m->rtm_family != AF_INET && m->rtm_family != AF_INET6) return std::optional<Route>();
  auto t = nl::AttrTable::parse(msg.payload(), sizeof(rtmsg));
  if (!t) return std::unexpected(t.error());
  if (m->rtm_type != RTN_UNICAST || (m->rtm_flags & RTM_F_CLONED) || !t->has(RTA_OIF))
    return std::optional<Route>();
  Route r;
  r.table = t->u32(RTA_TABLE).value_or(m->rtm_table);
  r.protocol = m->rtm_protocol;
  r.type = m->rtm_type;
  r.oif = static_cast<int>(*t->u32(RTA_OIF));
  r.gateway = addr_from(t->bytes(RTA_GATEWAY), m->rtm_family);
  if (t->has(RTA_DST)) {
    auto a = addr_from(t->bytes(RTA_DST), m->rtm_family);
    if (!a) return fail(EBADMSG, kDecodeRoute, {}, "RTA_DST of the wrong length");
    r.dst = {*a, m->rtm_dst_len};
  } else {
    r.dst.addr.family = m->rtm_family;  // a default route
    r.dst.len = 0;
  }
  return std::optional<Route>(std::move(r));
}

}  // namespace sealnet::route
