#include "netlink/xfrm_codec.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace sealnet::xfrm {

namespace {

// iproute2's default: no byte or packet limit. A zero limit would expire the
// state on its first packet.
constexpr uint64_t kInfinite = ~0ULL;

const char* kDecode = "decode XFRM state";

// XFRMA_REPLAY_ESN_MAX is 4096 bytes of bitmap in the kernel; sealnet needs far less.
constexpr uint32_t kMaxReplayWindow = 4096;

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

void put_offload(nl::MessageBuilder& b, const OffloadRequest& req, uint8_t family) {
  if (req.mode == OffloadMode::none) return;
  xfrm_user_offload o{};
  o.ifindex = req.ifindex;
  if (family == AF_INET6) o.flags |= XFRM_OFFLOAD_IPV6;
  if (req.dir == Direction::in) o.flags |= XFRM_OFFLOAD_INBOUND;
  if (req.mode == OffloadMode::packet) o.flags |= XFRM_OFFLOAD_PACKET;
  b.put_struct(XFRMA_OFFLOAD_DEV, o);
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
  if (int(sa.aead.has_value()) + int(sa.auth_enc.has_value()) + int(sa.cipher.has_value()) != 1)
    return fail(EINVAL, "encode XFRM state", "spi " + std::to_string(sa.id.spi),
                "exactly one of an AEAD, an auth+enc pair or a cipher is needed");
  if (sa.replay_window > kMaxReplayWindow)
    return fail(EINVAL, "encode XFRM state", "spi " + std::to_string(sa.id.spi),
                "replay window above " + std::to_string(kMaxReplayWindow));
  for (const std::string* name :
       {sa.aead ? &sa.aead->name : nullptr, sa.cipher ? &sa.cipher->name : nullptr,
        sa.auth_enc ? &sa.auth_enc->auth_name : nullptr, sa.auth_enc ? &sa.auth_enc->enc_name : nullptr})
    if (name && name->size() >= sizeof(xfrm_algo_aead::alg_name))
      return fail(EINVAL, "encode XFRM state", *name, "algorithm name too long");
  // The legacy field holds at most a 32-packet bitmap; anything larger, and ESN,
  // goes in XFRMA_REPLAY_ESN_VAL with the legacy field 0 (xfrm_user verify_replay).
  const bool esn_attr = sa.esn || sa.replay_window > 32;

  xfrm_usersa_info info{};
  // No selector: AF_UNSPEC, as iproute2 sends it; the kernel then checks no inner
  // addresses on the state (the policy's selector already chose the traffic).
  const bool no_selector = !sa.selector.src.addr.family && !sa.selector.dst.addr.family && !sa.selector.proto;
  if (!no_selector) info.sel = to_xfrm(sa.selector, sa.id.daddr.family);
  info.id.daddr = to_xfrm(sa.id.daddr);
  info.id.spi = htonl(sa.id.spi);
  info.id.proto = sa.id.proto;
  info.saddr = to_xfrm(sa.saddr);
  info.lft = unlimited();
  info.reqid = sa.reqid;
  info.family = sa.id.daddr.family;
  info.mode = static_cast<uint8_t>(sa.mode);
  info.replay_window = esn_attr ? 0 : static_cast<uint8_t>(sa.replay_window);
  if (sa.esn) info.flags |= XFRM_STATE_ESN;

  nl::MessageBuilder b(update ? XFRM_MSG_UPDSA : XFRM_MSG_NEWSA, update ? 0 : (NLM_F_CREATE | NLM_F_EXCL));
  // All the room up front: a growing buffer would free a copy of the key unwiped.
  // netlink/transport's Socket::transact wipes the message after sending it.
  b.reserve(kSaMessageRoom + (sa.aead ? sa.aead->key.size() : 0) +
            (sa.auth_enc ? sa.auth_enc->auth_key.size() + sa.auth_enc->enc_key.size() : 0) +
            (sa.cipher ? sa.cipher->key.size() : 0));
  b.header(info);

  if (sa.aead) {
    SecretBytes aead(sizeof(xfrm_algo_aead) + sa.aead->key.size(), 0);
    xfrm_algo_aead head{};
    std::memcpy(head.alg_name, sa.aead->name.data(), sa.aead->name.size());
    head.alg_key_len = static_cast<unsigned>(sa.aead->key.size() * 8);
    head.alg_icv_len = sa.aead->icv_bits;
    std::memcpy(aead.data(), &head, sizeof head);
    if (!sa.aead->key.empty())
      std::memcpy(aead.data() + sizeof head, sa.aead->key.data(), sa.aead->key.size());
    b.put(XFRMA_ALG_AEAD, aead);  // the key leaves only in the message; `aead` is wiped
  } else if (sa.auth_enc) {
    const AuthEnc& ae = *sa.auth_enc;
    SecretBytes auth(sizeof(xfrm_algo_auth) + ae.auth_key.size(), 0);
    xfrm_algo_auth ahead{};
    std::memcpy(ahead.alg_name, ae.auth_name.data(), ae.auth_name.size());
    ahead.alg_key_len = static_cast<unsigned>(ae.auth_key.size() * 8);
    ahead.alg_trunc_len = ae.trunc_bits;
    std::memcpy(auth.data(), &ahead, sizeof ahead);
    if (!ae.auth_key.empty()) std::memcpy(auth.data() + sizeof ahead, ae.auth_key.data(), ae.auth_key.size());
    b.put(XFRMA_ALG_AUTH_TRUNC, auth);
    SecretBytes enc(sizeof(xfrm_algo) + ae.enc_key.size(), 0);
    xfrm_algo ehead{};
    std::memcpy(ehead.alg_name, ae.enc_name.data(), ae.enc_name.size());
    ehead.alg_key_len = static_cast<unsigned>(ae.enc_key.size() * 8);
    std::memcpy(enc.data(), &ehead, sizeof ehead);
    if (!ae.enc_key.empty()) std::memcpy(enc.data() + sizeof ehead, ae.enc_key.data(), ae.enc_key.size());
    b.put(XFRMA_ALG_CRYPT, enc);
  } else {
    SecretBytes algo(sizeof(xfrm_algo) + sa.cipher->key.size(), 0);
    xfrm_algo head{};
    std::memcpy(head.alg_name, sa.cipher->name.data(), sa.cipher->name.size());
    head.alg_key_len = static_cast<unsigned>(sa.cipher->key.size() * 8);
    std::memcpy(algo.data(), &head, sizeof head);
    if (!sa.cipher->key.empty())
      std::memcpy(algo.data() + sizeof head, sa.cipher->key.data(), sa.cipher->key.size());
    // SecretBytes: a memset before the vector's free is a dead store the
    // optimiser may drop.
    b.put(XFRMA_ALG_CRYPT, algo);
  }

  if (esn_attr) {
    // The fixed part only, as iproute2 sends it: the kernel sizes the bitmap from
    // bmp_len and starts it empty (xfrm_alloc_replay_state_esn).
    xfrm_replay_state_esn head{};
    head.bmp_len = (std::max<uint32_t>(sa.replay_window, 1) + 31) / 32;
    head.replay_window = sa.replay_window;
    b.put(XFRMA_REPLAY_ESN_VAL, nl::ByteView(reinterpret_cast<const uint8_t*>(&head), sizeof head));
  }
  put_mark(b, sa.mark);
  if (sa.set_mark) {
    b.put_u32(XFRMA_SET_MARK, sa.set_mark->value);
    b.put_u32(XFRMA_SET_MARK_MASK, sa.set_mark->mask);
  }
  if (sa.extra_flags) b.put_u32(XFRMA_SA_EXTRA_FLAGS, sa.extra_flags);
  if (sa.offload) put_offload(b, *sa.offload, sa.id.daddr.family);
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

Result<nl::Bytes> encode_dump_sa(const SaDumpFilter& filter) {
  if (auto st = check_family(filter.src.addr, "dump filter source"); !st) return std::unexpected(st.error());
  if (filter.dst.addr.family != filter.src.addr.family)
    return fail(EINVAL, "encode XFRM message", "dump filter", "source and destination of different families");
  if (filter.src.len > filter.src.addr.size() * 8 || filter.dst.len > filter.dst.addr.size() * 8)
    return fail(EINVAL, "encode XFRM message", "dump filter", "prefix longer than its address");
  xfrm_address_filter f{};
  f.saddr = to_xfrm(filter.src.addr);
  f.daddr = to_xfrm(filter.dst.addr);
  f.family = filter.src.addr.family;
  f.splen = filter.src.len;
  f.dplen = filter.dst.len;
  nl::MessageBuilder b(XFRM_MSG_GETSA, NLM_F_DUMP);
  b.put_u8(XFRMA_PROTO, filter.proto);
  b.put_struct(XFRMA_ADDRESS_FILTER, f);
  return std::move(b).finish();
}

namespace {

// The fixed part and the attributes of a NEWSA/UPDSA message.
struct SaMessage {
  const xfrm_usersa_info* info = nullptr;
  nl::AttrTable attrs;
};

Result<SaMessage> parse_sa(const nl::MessageView& msg) {
  if (msg.type() != XFRM_MSG_NEWSA && msg.type() != XFRM_MSG_UPDSA)
    return fail(EBADMSG, kDecode, {}, "message type " + std::to_string(msg.type()));
  const auto* info = msg.family_header<xfrm_usersa_info>();
  if (!info) return fail(EBADMSG, kDecode, {}, "shorter than xfrm_usersa_info");
  if (info->family != AF_INET && info->family != AF_INET6)
    return fail(EBADMSG, kDecode, {}, "family " + std::to_string(info->family));
  auto attrs = nl::AttrTable::parse(msg.payload(), sizeof(xfrm_usersa_info));
  if (!attrs) return std::unexpected(attrs.error());
  return SaMessage{info, std::move(*attrs)};
}

Status fill_entry(const SaMessage& m, SaEntry& sa) {
  const xfrm_usersa_info* info = m.info;
  const nl::AttrTable& attrs = m.attrs;
  sa.id = {from_xfrm(info->id.daddr, info->family), ntohl(info->id.spi), info->id.proto};
  sa.saddr = from_xfrm(info->saddr, info->family);
  sa.reqid = info->reqid;
  sa.mode = static_cast<SaMode>(info->mode);
  sa.replay_window = info->replay_window;
  sa.flags = info->flags;
  sa.esn = (info->flags & XFRM_STATE_ESN) != 0;
  sa.selector = from_xfrm(info->sel);
  sa.current = {info->curlft.bytes, info->curlft.packets, info->curlft.add_time, info->curlft.use_time};
  sa.stats = {info->stats.replay_window, info->stats.replay, info->stats.integrity_failed};
  if (auto r = attrs.bytes(XFRMA_REPLAY_ESN_VAL)) {
    // Read the window field alone: the struct ends in a flexible bitmap.
    if (r->size() < sizeof(xfrm_replay_state_esn))
      return fail(EBADMSG, kDecode, {}, "short XFRMA_REPLAY_ESN_VAL");
    std::memcpy(&sa.replay_window, r->data() + offsetof(xfrm_replay_state_esn, replay_window),
                sizeof(uint32_t));
  }
  if (auto mk = attrs.as<xfrm_mark>(XFRMA_MARK)) sa.mark = Mark{mk->v, mk->m};
  if (auto v = attrs.u32(XFRMA_SET_MARK))
    sa.set_mark = Mark{*v, attrs.u32(XFRMA_SET_MARK_MASK).value_or(~0U)};
  if (auto x = attrs.u32(XFRMA_SA_EXTRA_FLAGS)) sa.extra_flags = *x;
  // The kernel sends the 5 meaningful bytes of xfrm_user_offload padded to 8;
  // read the two fields so a shorter (unpadded) attribute still decodes.
  if (auto o = attrs.bytes(XFRMA_OFFLOAD_DEV)) {
    if (o->size() < sizeof(int) + 1) return fail(EBADMSG, kDecode, {}, "short XFRMA_OFFLOAD_DEV");
    OffloadInfo oi;
    std::memcpy(&oi.ifindex, o->data(), sizeof(int));
    oi.flags = (*o)[sizeof(int)];
    sa.offload = oi;
  }
  return {};
}

}  // namespace

Result<SaEntry> decode_sa_entry(const nl::MessageView& msg) {
  auto m = parse_sa(msg);
  if (!m) return std::unexpected(m.error());
  SaEntry sa;
  if (auto st = fill_entry(*m, sa); !st) return std::unexpected(st.error());
  return sa;
}

Result<SaInfo> decode_sa(const nl::MessageView& msg) {
  auto m = parse_sa(msg);
  if (!m) return std::unexpected(m.error());
  SaInfo sa;
  if (auto st = fill_entry(*m, sa); !st) return std::unexpected(st.error());
  const nl::AttrTable& attrs = m->attrs;
  // Only the heads: the key that follows each stays in the receive buffer.
  if (auto aead = attrs.bytes(XFRMA_ALG_AEAD)) {
    xfrm_algo_aead head;
    if (aead->size() < sizeof head) return fail(EBADMSG, kDecode, {}, "short XFRMA_ALG_AEAD");
    std::memcpy(&head, aead->data(), sizeof head);
    sa.aead_name.assign(head.alg_name, strnlen(head.alg_name, sizeof head.alg_name));
    sa.aead_key_bits = head.alg_key_len;
    sa.aead_icv_bits = head.alg_icv_len;
  }
  if (auto a = attrs.bytes(XFRMA_ALG_AUTH_TRUNC)) {
    xfrm_algo_auth head;
    if (a->size() < sizeof head) return fail(EBADMSG, kDecode, {}, "short XFRMA_ALG_AUTH_TRUNC");
    std::memcpy(&head, a->data(), sizeof head);
    sa.auth_name.assign(head.alg_name, strnlen(head.alg_name, sizeof head.alg_name));
    sa.auth_trunc_bits = head.alg_trunc_len;
  }
  if (auto e = attrs.bytes(XFRMA_ALG_CRYPT)) {
    xfrm_algo head;
    if (e->size() < sizeof head) return fail(EBADMSG, kDecode, {}, "short XFRMA_ALG_CRYPT");
    std::memcpy(&head, e->data(), sizeof head);
    sa.enc_name.assign(head.alg_name, strnlen(head.alg_name, sizeof head.alg_name));
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
      x.optional = t.optional ? 1 : 0;
      // Any algorithm: the SA decides, as iproute2 does by default.
      x.aalgos = x.ealgos = x.calgos = ~0U;
      tmpls.push_back(x);
    }
    b.put(XFRMA_TMPL, nl::ByteView(reinterpret_cast<const uint8_t*>(tmpls.data()),
                                   tmpls.size() * sizeof(xfrm_user_tmpl)));
  }
  put_mark(b, p.mark);
  if (p.offload)
    put_offload(b, *p.offload, p.templates.empty() ? AF_INET : p.templates.front().id.daddr.family);
  return std::move(b).finish();
}

Result<nl::Bytes> encode_dump_policy() {
  // As for states: no family header on the dump request.
  nl::MessageBuilder b(XFRM_MSG_GETPOLICY, NLM_F_DUMP);
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
  if (auto o = attrs->bytes(XFRMA_OFFLOAD_DEV); o && o->size() >= sizeof(int) + 1) {
    OffloadInfo oi;
    std::memcpy(&oi.ifindex, o->data(), sizeof(int));
    oi.flags = (*o)[sizeof(int)];
    p.spec.offload = OffloadRequest{oi.ifindex, oi.mode(), oi.dir()};
  }
  if (auto t = attrs->bytes(XFRMA_TMPL)) {
    if (t->size() % sizeof(xfrm_user_tmpl) != 0)
      return fail(EBADMSG, what, {}, "XFRMA_TMPL is not a whole number of templates");
    for (size_t off = 0; off < t->size(); off += sizeof(xfrm_user_tmpl)) {
      xfrm_user_tmpl x;
      std::memcpy(&x, t->data() + off, sizeof x);
      p.spec.templates.push_back({{from_xfrm(x.id.daddr, x.family), ntohl(x.id.spi), x.id.proto},
                                  from_xfrm(x.saddr, x.family),
                                  x.reqid,
                                  static_cast<SaMode>(x.mode),
                                  x.optional != 0});
    }
  }
  return p;
}

}  // namespace sealnet::xfrm
