#include "netlink/link_codec.h"

#include <linux/ethtool.h>
#include <linux/ethtool_netlink.h>
#include <linux/genetlink.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

namespace sealnet::probe {

// ------------------------------------------------------------ rtnetlink --

bool LinkInfo::up() const { return flags & IFF_UP; }
bool LinkInfo::running() const { return flags & IFF_LOWER_UP; }

const char* operstate_name(uint8_t s) {
  switch (s) {
    case IF_OPER_NOTPRESENT:
      return "notpresent";
    case IF_OPER_DOWN:
      return "down";
    case IF_OPER_LOWERLAYERDOWN:
      return "lowerlayerdown";
    case IF_OPER_TESTING:
      return "testing";
    case IF_OPER_DORMANT:
      return "dormant";
    case IF_OPER_UP:
      return "up";
    default:
      return "unknown";
  }
}

Result<nl::Bytes> encode_link_dump() {
  nl::MessageBuilder b(RTM_GETLINK, NLM_F_DUMP);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  b.header(ifi);
  b.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  return std::move(b).finish();
}

Result<nl::Bytes> encode_get_link(int ifindex) {
  nl::MessageBuilder b(RTM_GETLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = ifindex;
  b.header(ifi);
  b.put_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  return std::move(b).finish();
}

Result<LinkInfo> decode_link(const nl::MessageView& msg) {
  const char* what = "decode RTM_NEWLINK";
  if (msg.type() != RTM_NEWLINK && msg.type() != RTM_DELLINK)
    return fail(EBADMSG, what, {}, "message type " + std::to_string(msg.type()));
  const auto* ifi = msg.family_header<ifinfomsg>();
  if (!ifi) return fail(EBADMSG, what, {}, "shorter than ifinfomsg");
  auto t = nl::AttrTable::parse(msg.payload(), sizeof(ifinfomsg));
  if (!t) return std::unexpected(t.error());
  LinkInfo l;
  l.ifindex = ifi->ifi_index;
  l.flags = ifi->ifi_flags;
  l.name = t->str(IFLA_IFNAME).value_or("");
  l.mtu = t->u32(IFLA_MTU).value_or(0);
  l.operstate = t->u8(IFLA_OPERSTATE).value_or(IF_OPER_UNKNOWN);
  if (auto link = t->u32(IFLA_LINK); link && static_cast<int>(*link) != l.ifindex && *link != 0)
    l.link = static_cast<int>(*link);
  l.link_elsewhere = t->has(IFLA_LINK_NETNSID);
  if (auto m = t->u32(IFLA_MASTER); m && *m != 0) l.master = static_cast<int>(*m);
  if (t->has(IFLA_LINKINFO)) {
    auto info = t->nested(IFLA_LINKINFO);
    if (!info) return std::unexpected(info.error());
    l.kind = info->str(IFLA_INFO_KIND).value_or("");
  }
  return l;
}

// --------------------------------------------------------------- ethtool --

namespace {

nl::MessageBuilder ethtool_request(uint16_t family, uint8_t cmd, uint16_t header_attr, int ifindex,
                                   uint32_t flags) {
  auto b = nl::genl::message(family, cmd, ETHTOOL_GENL_VERSION, 0);
  const size_t h = b.begin_nest(header_attr);
  if (ifindex) b.put_u32(ETHTOOL_A_HEADER_DEV_INDEX, static_cast<uint32_t>(ifindex));
  if (flags) b.put_u32(ETHTOOL_A_HEADER_FLAGS, flags);
  b.end_nest(h);
  return b;
}

Result<nl::AttrTable> genl_attrs(const nl::MessageView& msg) {
  if (msg.payload().size() < GENL_HDRLEN)
    return fail(EBADMSG, "decode ethtool message", {}, "shorter than genlmsghdr");
  return nl::AttrTable::parse(msg.payload(), GENL_HDRLEN);
}

uint8_t genl_cmd(const nl::MessageView& msg) {
  const auto* g = msg.family_header<genlmsghdr>();
  return g ? g->cmd : 0;
}

Result<int> header_ifindex(const nl::AttrTable& t, uint16_t header_attr) {
  auto h = t.nested(header_attr);
  if (!h) return std::unexpected(h.error());
  auto idx = h->u32(ETHTOOL_A_HEADER_DEV_INDEX);
  if (!idx) return fail(EBADMSG, "decode ethtool message", {}, "header without a device index");
  return static_cast<int>(*idx);
}

}  // namespace

std::optional<FeatureState> FeatureSet::get(const std::string& name) const {
  auto it = features.find(name);
  if (it == features.end()) return std::nullopt;
  return it->second;
}

Result<nl::Bytes> encode_features_get(uint16_t family, int ifindex, bool compact) {
  return ethtool_request(family, ETHTOOL_MSG_FEATURES_GET, ETHTOOL_A_FEATURES_HEADER, ifindex,
                         compact ? ETHTOOL_FLAG_COMPACT_BITSETS : 0)
      .finish();
}

Result<nl::Bytes> encode_linkmodes_get(uint16_t family, int ifindex) {
  // Compact: the reply's link-mode bitsets are large and the probe reads only speed.
  return ethtool_request(family, ETHTOOL_MSG_LINKMODES_GET, ETHTOOL_A_LINKMODES_HEADER, ifindex,
                         ETHTOOL_FLAG_COMPACT_BITSETS)
      .finish();
}

Result<nl::Bytes> encode_strset_get(uint16_t family, uint32_t set_id) {
  auto b = ethtool_request(family, ETHTOOL_MSG_STRSET_GET, ETHTOOL_A_STRSET_HEADER, 0, 0);
  const size_t sets = b.begin_nest(ETHTOOL_A_STRSET_STRINGSETS);
  const size_t set = b.begin_nest(ETHTOOL_A_STRINGSETS_STRINGSET);
  b.put_u32(ETHTOOL_A_STRINGSET_ID, set_id);
  b.end_nest(set);
  b.end_nest(sets);
  return std::move(b).finish();
}

Result<StringSet> decode_strset(const nl::MessageView& msg, uint32_t set_id) {
  const char* what = "decode ETHTOOL_MSG_STRSET_GET_REPLY";
  if (genl_cmd(msg) != ETHTOOL_MSG_STRSET_GET_REPLY) return fail(EBADMSG, what, {}, "not a string set reply");
  auto t = genl_attrs(msg);
  if (!t) return std::unexpected(t.error());
  auto sets = t->bytes(ETHTOOL_A_STRSET_STRINGSETS);
  if (!sets) return fail(EBADMSG, what, {}, "no string sets");
  StringSet out;
  bool found = false;
  Status inner;
  // The count and the indices come from the reply: bounded before they size
  // anything, so a hostile or corrupt reply is refused instead of allocating
  // gigabytes or writing past the vector (an index of 0xffffffff wraps *idx + 1).
  auto too_many = [&](uint64_t n) {
    return fail(EBADMSG, what, {},
                "string set of " + std::to_string(n) + " entries, more than " + std::to_string(kMaxStrings));
  };
  auto st = nl::for_each_attr(*sets, [&](uint16_t, nl::ByteView set_bytes) {
    if (!inner) return;
    auto set = nl::AttrTable::parse(set_bytes);
    if (!set) {
      inner = std::unexpected(set.error());
      return;
    }
    if (set->u32(ETHTOOL_A_STRINGSET_ID) != set_id) return;
    found = true;
    const uint32_t count = set->u32(ETHTOOL_A_STRINGSET_COUNT).value_or(0);
    if (count > kMaxStrings) {
      inner = too_many(count);
      return;
    }
    out.resize(count);
    auto strings = set->bytes(ETHTOOL_A_STRINGSET_STRINGS);
    if (!strings) return;
    auto s2 = nl::for_each_attr(*strings, [&](uint16_t, nl::ByteView str_bytes) {
      if (!inner) return;
      auto s = nl::AttrTable::parse(str_bytes);
      if (!s) return;
      auto idx = s->u32(ETHTOOL_A_STRING_INDEX);
      auto val = s->str(ETHTOOL_A_STRING_VALUE);
      if (!idx || !val) return;
      if (*idx >= kMaxStrings) {
        inner = too_many(uint64_t{*idx} + 1);
        return;
      }
      if (*idx >= out.size()) out.resize(size_t{*idx} + 1);
      out[*idx] = *val;
    });
    if (!s2 && inner) inner = std::unexpected(s2.error());
  });
  if (!st) return std::unexpected(st.error());
  if (!inner) return std::unexpected(inner.error());
  if (!found) return fail(ENOENT, what, {}, "string set " + std::to_string(set_id) + " not in reply");
  return out;
}

Result<std::vector<std::string>> decode_bitset(nl::ByteView nest, const StringSet* names) {
  const char* what = "decode ethtool bitset";
  auto t = nl::AttrTable::parse(nest);
  if (!t) return std::unexpected(t.error());
  const bool list = t->has(ETHTOOL_A_BITSET_NOMASK);
  std::vector<std::string> set;
  if (auto bits = t->bytes(ETHTOOL_A_BITSET_BITS)) {
    // Verbose: each bit named; in a list every listed bit is set, otherwise the
    // VALUE flag says so.
    Status inner;
    auto st = nl::for_each_attr(*bits, [&](uint16_t, nl::ByteView bit_bytes) {
      auto bit = nl::AttrTable::parse(bit_bytes);
      if (!bit) {
        inner = std::unexpected(bit.error());
        return;
      }
      if (!list && !bit->has(ETHTOOL_A_BITSET_BIT_VALUE)) return;
      if (auto name = bit->str(ETHTOOL_A_BITSET_BIT_NAME)) {
        set.push_back(*name);
      } else if (auto idx = bit->u32(ETHTOOL_A_BITSET_BIT_INDEX)) {
        set.push_back(names && *idx < names->size() ? (*names)[*idx] : "bit" + std::to_string(*idx));
      }
    });
    if (!st) return std::unexpected(st.error());
    if (!inner) return std::unexpected(inner.error());
    return set;
  }
  // Compact: SIZE bits in host-order u32 words.
  auto size = t->u32(ETHTOOL_A_BITSET_SIZE);
  auto value = t->bytes(ETHTOOL_A_BITSET_VALUE);
  if (!size) return fail(EBADMSG, what, {}, "no size");
  if (*size == 0) return set;
  if (!value || value->size() * 8 < *size) return fail(EBADMSG, what, {}, "value shorter than size");
  for (uint32_t i = 0; i < *size; ++i) {
    uint32_t word;
    std::memcpy(&word, value->data() + (i / 32) * 4, 4);
    if (!(word >> (i % 32) & 1)) continue;
    if (!names || i >= names->size() || (*names)[i].empty())
      set.push_back("bit" + std::to_string(i));
    else
      set.push_back((*names)[i]);
  }
  return set;
}

Result<FeatureSet> decode_features(const nl::MessageView& msg, const StringSet* names) {
  const char* what = "decode ethtool features";
  const uint8_t cmd = genl_cmd(msg);
  if (cmd != ETHTOOL_MSG_FEATURES_GET_REPLY && cmd != ETHTOOL_MSG_FEATURES_NTF)
    return fail(EBADMSG, what, {}, "ethtool command " + std::to_string(cmd));
  auto t = genl_attrs(msg);
  if (!t) return std::unexpected(t.error());
  auto idx = header_ifindex(*t, ETHTOOL_A_FEATURES_HEADER);
  if (!idx) return std::unexpected(idx.error());
  FeatureSet fs;
  fs.ifindex = *idx;
  struct Field {
    uint16_t attr;
    bool FeatureState::*member;
  };
  for (const Field f : {Field{ETHTOOL_A_FEATURES_HW, &FeatureState::changeable},
                        Field{ETHTOOL_A_FEATURES_WANTED, &FeatureState::wanted},
                        Field{ETHTOOL_A_FEATURES_ACTIVE, &FeatureState::active},
                        Field{ETHTOOL_A_FEATURES_NOCHANGE, &FeatureState::fixed}}) {
    auto nest = t->bytes(f.attr);
    if (!nest) return fail(EBADMSG, what, {}, "bitset " + std::to_string(f.attr) + " missing");
    auto bits = decode_bitset(*nest, names);
    if (!bits) return std::unexpected(bits.error());
    for (const auto& name : *bits) fs.features[name].*f.member = true;
  }
  // Features no bitset mentions exist too (off, not changeable): name them all
  // when the string set is known, so "absent" means "unknown to this kernel".
  if (names)
    for (const auto& n : *names)
      if (!n.empty()) fs.features.try_emplace(n);
  // What ethtool -k prints as "[fixed]": not switchable by ethtool -K.
  for (auto& [name, f] : fs.features) f.fixed = f.fixed || !f.changeable;
  return fs;
}

Result<LinkSpeed> decode_linkmodes(const nl::MessageView& msg) {
  if (genl_cmd(msg) != ETHTOOL_MSG_LINKMODES_GET_REPLY)
    return fail(EBADMSG, "decode ethtool link modes", {}, "not a link modes reply");
  auto t = genl_attrs(msg);
  if (!t) return std::unexpected(t.error());
  LinkSpeed s;
  if (auto v = t->u32(ETHTOOL_A_LINKMODES_SPEED); v && *v != 0 && *v != static_cast<uint32_t>(SPEED_UNKNOWN))
    s.mbps = *v;
  if (auto d = t->u8(ETHTOOL_A_LINKMODES_DUPLEX); d && *d != DUPLEX_UNKNOWN) s.duplex = *d;
  return s;
}

Result<int> ethtool_ifindex(const nl::MessageView& msg) {
  auto t = genl_attrs(msg);
  if (!t) return std::unexpected(t.error());
  // Every ethtool message's attribute 1 is its request/reply header.
  return header_ifindex(*t, 1);
}

}  // namespace sealnet::probe
