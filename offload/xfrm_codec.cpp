#include "offload/xfrm_codec.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace sealnet::xfrm {

namespace {

// iproute2's default: no byte or packet limit. A zero limit would expire the
// state on its first packet.
constexpr uint64_t kInfinite = ~0ULL;

const char* kDecode = "decode XFRM state";

xfrm_address_t to_xfrm(const IpAddr& a) {
  xfrm_address_t x{};
  std::memcpy(&x, a.bytes.data(), a.size());
  return x;
}

IpAddr from_xfrm(const xfrm_address_t& x, uint16_t family) {
  IpAddr a;
  a.family = static_cast<uint8_t>(family);
  std::memcpy(a.bytes.data(), &x, family == AF_INET ? 4 : 16);
  return a;
}

xfrm_selector to_xfrm(const Selector& s, uint16_t fallback_family) {
  xfrm_selector x{};
  x.family = s.dst.addr.family ? s.dst.addr.family : s.src.addr.family ? s.src.addr.family : fallback_family;
  if (s.dst.addr.family) {
    x.daddr = to_xfrm(s.dst.addr);
    x.prefixlen_d = s.dst.len;
  }
  if (s.src.addr.family) {
    x.saddr = to_xfrm(s.src.addr);
    x.prefixlen_s = s.src.len;
  }
  x.proto = s.proto;
  return x;
}

Selector from_xfrm(const xfrm_selector& x) {
  Selector s;
  if (x.family == AF_INET || x.family == AF_INET6) {
    s.dst = {from_xfrm(x.daddr, x.family), x.prefixlen_d};
    s.src = {from_xfrm(x.saddr, x.family), x.prefixlen_s};
  }
  s.proto = x.proto;
  return s;
}

xfrm_lifetime_cfg unlimited() {
  xfrm_lifetime_cfg l{};
  l.soft_byte_limit = l.hard_byte_limit = kInfinite;
  l.soft_packet_limit = l.hard_packet_limit = kInfinite;
  return l;
}

Status check_family(const IpAddr& a, const char* what) {
  if (a.family != AF_INET && a.family != AF_INET6)
    return fail(EINVAL, "encode XFRM message", what, "no address");
  return {};
}

xfrm_usersa_id to_usersa_id(const SaId& id) {
  xfrm_usersa_id x{};
  x.daddr = to_xfrm(id.daddr);
  x.spi = htonl(id.spi);
  x.family = id.daddr.family;
  x.proto = id.proto;
  return x;
}

void put_mark(nl::MessageBuilder& b, const std::optional<Mark>& mark) {
  if (mark) b.put_struct(XFRMA_MARK, xfrm_mark{mark->value, mark->mask});
}

Result<nl::Bytes> sa_by_id(uint16_t type, const SaId& id, const std::optional<Mark>& mark) {
  if (auto st = check_family(id.daddr, "SA destination"); !st) return std::unexpected(st.error());
  nl::MessageBuilder b(type, 0);
  b.header(to_usersa_id(id));
  put_mark(b, mark);
  return std::move(b).finish();
}

xfrm_userpolicy_id to_policy_id(const Selector& sel, PolicyDir dir) {
  xfrm_userpolicy_id x{};
  x.sel = to_xfrm(sel, AF_INET);
  x.dir = static_cast<uint8_t>(dir);
  return x;
}

}  // namespace

const char* to_string(Direction d) { return d == Direction::in ? "in" : "out"; }

const char* to_string(OffloadMode m) {
  switch (m) {
    case OffloadMode::none:
      return "none";
    case OffloadMode::crypto:
      return "crypto";
    case OffloadMode::packet:
      return "packet";
  }
  return "?";
}

OffloadMode OffloadInfo::mode() const {
  return (flags & XFRM_OFFLOAD_PACKET) ? OffloadMode::packet : OffloadMode::crypto;
}

Direction OffloadInfo::dir() const { return (flags & XFRM_OFFLOAD_INBOUND) ? Direction::in : Direction::out; }

// ------------------------------------------------------------------- SAs --

Result<nl::Bytes> encode_new_sa(const SaSpec& sa, bool update) {
  if (auto st = check_family(sa.id.daddr, "SA destination"); !st) return std::unexpected(st.error());
  if (sa.saddr.family != sa.id.daddr.family)
    return fail(EINVAL, "encode XFRM state", "spi " + std::to_string(sa.id.spi),
                "source and destination are of different families");
  if (sa.aead.has_value() == sa.cipher.has_value())
    return fail(EINVAL, "encode XFRM state", "spi " + std::to_string(sa.id.spi),
                "exactly one of an AEAD or a cipher is needed");
  const std::string& alg_name = sa.aead ? sa.aead->name : sa.cipher->name;
  if (alg_name.size() >= sizeof(xfrm_algo_aead::alg_name))
    return fail(EINVAL, "encode XFRM state", alg_name, "algorithm name too long");

  xfrm_usersa_info info{};
  info.sel = to_xfrm(sa.selector, sa.id.daddr.family);
  info.id.daddr = to_xfrm(sa.id.daddr);
  info.id.spi = htonl(sa.id.spi);
  info.id.proto = sa.id.proto;
  info.saddr = to_xfrm(sa.saddr);
  info.lft = unlimited();
  info.reqid = sa.reqid;
  info.family = sa.id.daddr.family;
  info.mode = static_cast<uint8_t>(sa.mode);
  info.replay_window = sa.replay_window;

  nl::MessageBuilder b(update ? XFRM_MSG_UPDSA : XFRM_MSG_NEWSA, update ? 0 : (NLM_F_CREATE | NLM_F_EXCL));
  b.header(info);

  if (sa.aead) {
    std::vector<uint8_t> aead(sizeof(xfrm_algo_aead) + sa.aead->key.size(), 0);
    xfrm_algo_aead head{};
    std::memcpy(head.alg_name, sa.aead->name.data(), sa.aead->name.size());
    head.alg_key_len = static_cast<unsigned>(sa.aead->key.size() * 8);
    head.alg_icv_len = sa.aead->icv_bits;
    std::memcpy(aead.data(), &head, sizeof head);
    if (!sa.aead->key.empty())
      std::memcpy(aead.data() + sizeof head, sa.aead->key.data(), sa.aead->key.size());
    b.put(XFRMA_ALG_AEAD, aead);
    std::memset(aead.data(), 0, aead.size());  // the key leaves only in the message
  } else {
    std::vector<uint8_t> algo(sizeof(xfrm_algo) + sa.cipher->key.size(), 0);
    xfrm_algo head{};
    std::memcpy(head.alg_name, sa.cipher->name.data(), sa.cipher->name.size());
    head.alg_key_len = static_cast<unsigned>(sa.cipher->key.size() * 8);
    std::memcpy(algo.data(), &head, sizeof head);
    if (!sa.cipher->key.empty())
      std::memcpy(algo.data() + sizeof head, sa.cipher->key.data(), sa.cipher->key.size());
    b.put(XFRMA_ALG_CRYPT, algo);
    std::memset(algo.data(), 0, algo.size());
  }

  put_mark(b, sa.mark);
  if (sa.offload && sa.offload->mode != OffloadMode::none) {
    xfrm_user_offload o{};
    o.ifindex = sa.offload->ifindex;
    if (sa.id.daddr.family == AF_INET6) o.flags |= XFRM_OFFLOAD_IPV6;
    if (sa.offload->dir == Direction::in) o.flags |= XFRM_OFFLOAD_INBOUND;
    if (sa.offload->mode == OffloadMode::packet) o.flags |= XFRM_OFFLOAD_PACKET;
    b.put_struct(XFRMA_OFFLOAD_DEV, o);
  }
  return std::move(b).finish();
}

Result<nl::Bytes> encode_get_sa(const SaId& id, std::optional<Mark> mark) {
  return sa_by_id(XFRM_MSG_GETSA, id, mark);
}

Result<nl::Bytes> encode_delete_sa(const SaId& id, std::optional<Mark> mark) {
  return sa_by_id(XFRM_MSG_DELSA, id, mark);
}

Result<nl::Bytes> encode_dump_sa(uint8_t proto) {
  // The kernel parses a dump's filter attributes from offset 0: no family header.
  nl::MessageBuilder b(XFRM_MSG_GETSA, NLM_F_DUMP);
  b.put_u8(XFRMA_PROTO, proto);
  return std::move(b).finish();
}

Result<SaInfo> decode_sa(const nl::MessageView& msg) {
  if (msg.type() != XFRM_MSG_NEWSA && msg.type() != XFRM_MSG_UPDSA)
    return fail(EBADMSG, kDecode, {}, "message type " + std::to_string(msg.type()));
  const auto* info = msg.family_header<xfrm_usersa_info>();
  if (!info) return fail(EBADMSG, kDecode, {}, "shorter than xfrm_usersa_info");
  if (info->family != AF_INET && info->family != AF_INET6)
    return fail(EBADMSG, kDecode, {}, "family " + std::to_string(info->family));
  auto attrs = nl::AttrTable::parse(msg.payload(), sizeof(xfrm_usersa_info));
  if (!attrs) return std::unexpected(attrs.error());

  SaInfo sa;
  sa.id = {from_xfrm(info->id.daddr, info->family), ntohl(info->id.spi), info->id.proto};
  sa.saddr = from_xfrm(info->saddr, info->family);
  sa.reqid = info->reqid;
  sa.mode = static_cast<SaMode>(info->mode);
  sa.replay_window = info->replay_window;
  sa.selector = from_xfrm(info->sel);
  sa.current = {info->curlft.bytes, info->curlft.packets, info->curlft.add_time, info->curlft.use_time};
  if (auto aead = attrs->bytes(XFRMA_ALG_AEAD)) {
    // Only the head: the key that follows it stays in the receive buffer.
    xfrm_algo_aead head;
    if (aead->size() < sizeof head) return fail(EBADMSG, kDecode, {}, "short XFRMA_ALG_AEAD");
    std::memcpy(&head, aead->data(), sizeof head);
    sa.aead_name.assign(head.alg_name, strnlen(head.alg_name, sizeof head.alg_name));
    sa.aead_key_bits = head.alg_key_len;
    sa.aead_icv_bits = head.alg_icv_len;
  }
  if (auto m = attrs->as<xfrm_mark>(XFRMA_MARK)) sa.mark = Mark{m->v, m->m};
  // The kernel sends the 5 meaningful bytes of xfrm_user_offload padded to 8;
  // read the two fields so a shorter (unpadded) attribute still decodes.
  if (auto o = attrs->bytes(XFRMA_OFFLOAD_DEV)) {
    if (o->size() < sizeof(int) + 1) return fail(EBADMSG, kDecode, {}, "short XFRMA_OFFLOAD_DEV");
    OffloadInfo oi;
    std::memcpy(&oi.ifindex, o->data(), sizeof(int));
    oi.flags = (*o)[sizeof(int)];
    sa.offload = oi;
  }
  return sa;
}

// -------------------------------------------------------------- policies --

Result<nl::Bytes> encode_new_policy(const PolicySpec& p, bool update) {
  xfrm_userpolicy_info info{};
  info.sel = to_xfrm(p.selector, AF_INET);
  info.lft = unlimited();
  info.priority = p.priority;
  info.dir = static_cast<uint8_t>(p.dir);
  info.action = XFRM_POLICY_ALLOW;
  nl::MessageBuilder b(update ? XFRM_MSG_UPDPOLICY : XFRM_MSG_NEWPOLICY,
                       update ? 0 : (NLM_F_CREATE | NLM_F_EXCL));
  b.header(info);
  if (!p.templates.empty()) {
    std::vector<xfrm_user_tmpl> tmpls;
    for (const auto& t : p.templates) {
      if (auto st = check_family(t.id.daddr, "template destination"); !st) return std::unexpected(st.error());
      xfrm_user_tmpl x{};
      x.id.daddr = to_xfrm(t.id.daddr);
      x.id.spi = htonl(t.id.spi);
      x.id.proto = t.id.proto;
      x.family = t.id.daddr.family;
      x.saddr = to_xfrm(t.saddr);
      x.reqid = t.reqid;
      x.mode = static_cast<uint8_t>(t.mode);
      // Any algorithm: the SA decides, as iproute2 does by default.
      x.aalgos = x.ealgos = x.calgos = ~0U;
      tmpls.push_back(x);
    }
    b.put(XFRMA_TMPL, nl::ByteView(reinterpret_cast<const uint8_t*>(tmpls.data()),
                                   tmpls.size() * sizeof(xfrm_user_tmpl)));
  }
  put_mark(b, p.mark);
  return std::move(b).finish();
}

Result<nl::Bytes> encode_get_policy(const Selector& sel, PolicyDir dir, std::optional<Mark> mark) {
  nl::MessageBuilder b(XFRM_MSG_GETPOLICY, 0);
  b.header(to_policy_id(sel, dir));
  put_mark(b, mark);
  return std::move(b).finish();
}

Result<nl::Bytes> encode_delete_policy(const Selector& sel, PolicyDir dir, std::optional<Mark> mark) {
  nl::MessageBuilder b(XFRM_MSG_DELPOLICY, 0);
  b.header(to_policy_id(sel, dir));
  put_mark(b, mark);
  return std::move(b).finish();
}

Result<PolicyInfo> decode_policy(const nl::MessageView& msg) {
  const char* what = "decode XFRM policy";
  if (msg.type() != XFRM_MSG_NEWPOLICY && msg.type() != XFRM_MSG_UPDPOLICY)
    return fail(EBADMSG, what, {}, "message type " + std::to_string(msg.type()));
  const auto* info = msg.family_header<xfrm_userpolicy_info>();
  if (!info) return fail(EBADMSG, what, {}, "shorter than xfrm_userpolicy_info");
  auto attrs = nl::AttrTable::parse(msg.payload(), sizeof(xfrm_userpolicy_info));
  if (!attrs) return std::unexpected(attrs.error());
  PolicyInfo p;
  p.index = info->index;
  p.spec.selector = from_xfrm(info->sel);
  p.spec.dir = static_cast<PolicyDir>(info->dir);
  p.spec.priority = info->priority;
  if (auto m = attrs->as<xfrm_mark>(XFRMA_MARK)) p.spec.mark = Mark{m->v, m->m};
  if (auto t = attrs->bytes(XFRMA_TMPL)) {
    if (t->size() % sizeof(xfrm_user_tmpl) != 0)
      return fail(EBADMSG, what, {}, "XFRMA_TMPL is not a whole number of templates");
    for (size_t off = 0; off < t->size(); off += sizeof(xfrm_user_tmpl)) {
      xfrm_user_tmpl x;
      std::memcpy(&x, t->data() + off, sizeof x);
      p.spec.templates.push_back({{from_xfrm(x.id.daddr, x.family), ntohl(x.id.spi), x.id.proto},
                                  from_xfrm(x.saddr, x.family),
                                  x.reqid,
                                  static_cast<SaMode>(x.mode)});
    }
  }
  return p;
}

}  // namespace sealnet::xfrm
