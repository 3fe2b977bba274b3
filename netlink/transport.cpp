#include "netlink/transport.h"

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <poll.h>
#include <string.h>  // explicit_bzero
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "core/secret.h"

namespace sealnet::nl {

namespace {

// Acks::every: requests per sendmsg are capped so that their replies (a GETSA
// reply is several times its request) fit the receive buffer: the kernel
// answers inside sendmsg, drops what it cannot queue, and a dropped ack is a
// lost answer.
constexpr size_t kMaxBatchBytes = 32 * 1024;
// Acks::errors: up to 1 MiB per sendmsg (the kernel takes one socket's batch
// under one lock, one skb), and at most as many requests as the receive buffer
// holds refusals: each one's NLMSG_ERROR (capped echo + extack text) is an skb
// of well under kErrorAckRoom bytes of truesize.
constexpr size_t kMaxStreamBytes = 1 << 20;
constexpr size_t kErrorAckRoom = 2048;
// Big enough for any dump part the kernel builds (it sizes them to at most 32 KiB
// plus the largest single message).
constexpr size_t kReceiveBuffer = 64 * 1024;
constexpr int kReplyTimeoutMs = 10000;
// The kernel doubles it (skb overhead); FORCE needs CAP_NET_ADMIN, without it the
// request is capped by wmem_max / rmem_max.
constexpr int kSocketBuffer = 8 * 1024 * 1024;

nlmsghdr* hdr_of(Bytes& b) { return reinterpret_cast<nlmsghdr*>(b.data()); }

}  // namespace

// ---------------------------------------------------------------- building --

namespace {
// Most requests fit; an SA reserves what its keys need.
constexpr size_t kInitialRoom = 256;
}  // namespace

MessageBuilder::MessageBuilder(uint16_t type, uint16_t flags) : buf_(kInitialRoom, 0) {
  nlmsghdr* h = mnl_nlmsg_put_header(buf_.data());
  h->nlmsg_type = type;
  h->nlmsg_flags = flags | NLM_F_REQUEST;
}

MessageBuilder::~MessageBuilder() {
  if (!buf_.empty()) wipe(buf_);
}

MessageBuilder& MessageBuilder::operator=(MessageBuilder&& o) noexcept {
  if (this != &o) {
    if (!buf_.empty()) wipe(buf_);
    buf_ = std::move(o.buf_);
    o.buf_.clear();
    overflow_ = o.overflow_;
  }
  return *this;
}

void MessageBuilder::grow_to(size_t capacity) {
  const size_t used = nlh()->nlmsg_len;
  Bytes bigger(capacity, 0);
  std::memcpy(bigger.data(), buf_.data(), used);
  wipe(buf_);
  buf_.swap(bigger);
}

void MessageBuilder::room(size_t more) {
  const size_t used = nlh()->nlmsg_len;
  if (used + more > buf_.size()) grow_to(std::max(buf_.size() * 2, used + more));
}

MessageBuilder& MessageBuilder::reserve(size_t bytes) {
  if (bytes > buf_.size()) grow_to(bytes);
  return *this;
}

MessageBuilder& MessageBuilder::raw(ByteView bytes) {
  room(MNL_ALIGN(bytes.size()));
  void* p = mnl_nlmsg_put_extra_header(nlh(), bytes.size());  // zeroed, padded to 4
  if (!bytes.empty()) std::memcpy(p, bytes.data(), bytes.size());
  return *this;
}

MessageBuilder& MessageBuilder::put(uint16_t type, ByteView payload) {
  // nla_len is 16 bits; libmnl would truncate it silently.
  if (MNL_ATTR_HDRLEN + payload.size() > UINT16_MAX) {
    overflow_ = true;
    return *this;
  }
  room(MNL_ATTR_HDRLEN + MNL_ALIGN(payload.size()));
  static const uint8_t kNone = 0;
  if (!mnl_attr_put_check(nlh(), buf_.size(), type, payload.size(), payload.empty() ? &kNone : payload.data()))
    overflow_ = true;
  return *this;
}

MessageBuilder& MessageBuilder::put_u8(uint16_t type, uint8_t v) {
  room(MNL_ATTR_HDRLEN + MNL_ALIGN(sizeof v));
  if (!mnl_attr_put_u8_check(nlh(), buf_.size(), type, v)) overflow_ = true;
  return *this;
}
MessageBuilder& MessageBuilder::put_u16(uint16_t type, uint16_t v) {
  room(MNL_ATTR_HDRLEN + MNL_ALIGN(sizeof v));
  if (!mnl_attr_put_u16_check(nlh(), buf_.size(), type, v)) overflow_ = true;
  return *this;
}
MessageBuilder& MessageBuilder::put_u32(uint16_t type, uint32_t v) {
  room(MNL_ATTR_HDRLEN + MNL_ALIGN(sizeof v));
  if (!mnl_attr_put_u32_check(nlh(), buf_.size(), type, v)) overflow_ = true;
  return *this;
}
MessageBuilder& MessageBuilder::put_u64(uint16_t type, uint64_t v) {
  room(MNL_ATTR_HDRLEN + MNL_ALIGN(sizeof v));
  if (!mnl_attr_put_u64_check(nlh(), buf_.size(), type, v)) overflow_ = true;
  return *this;
}

MessageBuilder& MessageBuilder::put_str(uint16_t type, std::string_view s) {
  // mnl_attr_put_strz would stop at an embedded NUL; the whole view and one NUL
  // is what was asked for.
  const std::string z(s);
  return put(type, ByteView(reinterpret_cast<const uint8_t*>(z.c_str()), z.size() + 1));
}

size_t MessageBuilder::begin_nest(uint16_t type) {
  room(MNL_ATTR_HDRLEN);
  // An offset, not the nlattr pointer: the buffer may move while the nest fills.
  const size_t token = nlh()->nlmsg_len;
  if (!mnl_attr_nest_start_check(nlh(), buf_.size(), type)) overflow_ = true;
  return token;
}

MessageBuilder& MessageBuilder::end_nest(size_t token) {
  if (overflow_ || token < MNL_NLMSG_HDRLEN || token > nlh()->nlmsg_len) {
    overflow_ = true;
    return *this;
  }
  if (nlh()->nlmsg_len - token > UINT16_MAX) {
    overflow_ = true;
    return *this;
  }
  mnl_attr_nest_end(nlh(), reinterpret_cast<nlattr*>(buf_.data() + token));
  return *this;
}

Result<Bytes> MessageBuilder::finish() && {
  if (overflow_)
    return fail(EMSGSIZE, "encode netlink message", {}, "an attribute is longer than 64 KiB");
  // Shrinking keeps the allocation: nothing is copied, the tail is zeros.
  buf_.resize(nlh()->nlmsg_len);
  return std::move(buf_);
}

void wipe(Bytes& message) { wipe_buffer(message); }

void set_seq(Bytes& message, uint32_t seq, uint32_t portid) {
  hdr_of(message)->nlmsg_seq = seq;
  hdr_of(message)->nlmsg_pid = portid;
}

// ----------------------------------------------------------------- parsing --

Result<std::vector<MessageView>> split_messages(ByteView buffer) {
  std::vector<MessageView> out;
  int left = static_cast<int>(std::min<size_t>(buffer.size(), INT32_MAX));
  const auto* h = reinterpret_cast<const nlmsghdr*>(buffer.data());
  for (; mnl_nlmsg_ok(h, left); h = mnl_nlmsg_next(h, &left)) out.push_back({h});
  // mnl_nlmsg_ok stops quietly at a bad message; a buffer must end at a message's end.
  if (left > 0 && static_cast<size_t>(left) < NLMSG_HDRLEN)
    return fail(EBADMSG, "parse netlink messages", {}, "truncated header");
  if (left > 0)
    return fail(EBADMSG, "parse netlink messages", {},
                "message length " + std::to_string(h->nlmsg_len) + " does not fit");
  return out;
}

namespace {

struct Walk {
  AttrVisitor visit;
  void* ctx;
  const uint8_t* end = nullptr;  // past the last attribute mnl_attr_parse_payload accepted
};

int walk_one(const nlattr* a, void* data) {
  auto* w = static_cast<Walk*>(data);
  const auto* payload = static_cast<const uint8_t*>(mnl_attr_get_payload(a));
  w->visit(w->ctx, mnl_attr_get_type(a), ByteView(payload, mnl_attr_get_payload_len(a)));
  w->end = reinterpret_cast<const uint8_t*>(a) + MNL_ALIGN(a->nla_len);
  return MNL_CB_OK;
}

}  // namespace

Status walk_messages(ByteView buf, MessageVisitor visit, void* visit_ctx) {
  struct Ctx {
    MessageVisitor visit;
    void* visit_ctx;
    Status status;
    const uint8_t* end;  // past the last message visited
  } ctx{visit, visit_ctx, {}, buf.data()};
  auto one = [](const nlmsghdr* h, void* data) -> int {
    auto* c = static_cast<Ctx*>(data);
    c->end = reinterpret_cast<const uint8_t*>(h) + NLMSG_ALIGN(h->nlmsg_len);
    c->status = c->visit(c->visit_ctx, MessageView{h});
    return c->status ? MNL_CB_OK : MNL_CB_ERROR;
  };
  mnl_cb_t control[NLMSG_MIN_TYPE];
  std::fill(std::begin(control), std::end(control), +one);
  size_t off = 0;
  while (off < buf.size()) {
    ctx.end = buf.data() + off;
    errno = 0;
    const int rc = mnl_cb_run2(buf.data() + off, buf.size() - off, 0, 0, one, &ctx, control, NLMSG_MIN_TYPE);
    const int err = errno;
    if (!ctx.status) return ctx.status;
    const size_t done = std::min<size_t>(static_cast<size_t>(ctx.end - buf.data()), buf.size());
    if (rc < 0 && err == EINTR && done < buf.size()) {
      one(reinterpret_cast<const nlmsghdr*>(buf.data() + done), &ctx);  // the flagged message
      if (!ctx.status) return ctx.status;
      off = std::min<size_t>(static_cast<size_t>(ctx.end - buf.data()), buf.size());
      continue;
    }
    if (done < buf.size()) {
      auto rest = split_messages(buf.subspan(done));
      if (!rest) return std::unexpected(rest.error());
      return fail(rc < 0 ? err : EBADMSG, "parse netlink messages", {}, "a message was not processed");
    }
    break;
  }
  return {};
}

Status walk_attrs(ByteView payload, AttrVisitor visit, void* ctx) {
  Walk w{visit, ctx, payload.data()};
  mnl_attr_parse_payload(payload.data(), payload.size(), walk_one, &w);
  // mnl_attr_parse_payload stops quietly at an attribute that does not fit; fewer
  // bytes than an attribute header at the end are padding.
  const size_t done = std::min<size_t>(static_cast<size_t>(w.end - payload.data()), payload.size());
  if (payload.size() - done >= MNL_ATTR_HDRLEN) {
    nlattr bad;
    std::memcpy(&bad, payload.data() + done, sizeof bad);
    return fail(EBADMSG, "parse netlink attributes", {},
                "attribute " + std::to_string(bad.nla_type & NLA_TYPE_MASK) + " runs past its message");
  }
  return {};
}

Result<AttrTable> AttrTable::parse(ByteView payload, size_t offset) {
  AttrTable t;
  if (offset > payload.size())
    return fail(EBADMSG, "parse netlink attributes", {}, "message shorter than its header");
  const size_t start = std::min<size_t>(NLMSG_ALIGN(offset), payload.size());
  // A later attribute of a type replaces an earlier one, as before.
  auto st = for_each_attr(payload.subspan(start), [&](uint16_t type, ByteView data) {
    t.attrs_[type] = reinterpret_cast<const nlattr*>(data.data() - MNL_ATTR_HDRLEN);
  });
  if (!st) return std::unexpected(st.error());
  return t;
}

const nlattr* AttrTable::valid(uint16_t type, int kind) const {
  auto it = attrs_.find(type);
  if (it == attrs_.end()) return nullptr;
  if (mnl_attr_validate(it->second, static_cast<mnl_attr_data_type>(kind)) < 0) return nullptr;
  return it->second;
}

std::optional<ByteView> AttrTable::bytes(uint16_t type) const {
  auto it = attrs_.find(type);
  if (it == attrs_.end()) return std::nullopt;
  return ByteView(static_cast<const uint8_t*>(mnl_attr_get_payload(it->second)),
                  mnl_attr_get_payload_len(it->second));
}

// Exact sizes (mnl_attr_validate); read with memcpy, a recorded reply in a test
// need not be aligned.
std::optional<uint8_t> AttrTable::u8(uint16_t type) const {
  return valid(type, MNL_TYPE_U8) ? as<uint8_t>(type) : std::nullopt;
}
std::optional<uint16_t> AttrTable::u16(uint16_t type) const {
  return valid(type, MNL_TYPE_U16) ? as<uint16_t>(type) : std::nullopt;
}
std::optional<uint32_t> AttrTable::u32(uint16_t type) const {
  return valid(type, MNL_TYPE_U32) ? as<uint32_t>(type) : std::nullopt;
}
std::optional<uint64_t> AttrTable::u64(uint16_t type) const {
  return valid(type, MNL_TYPE_U64) ? as<uint64_t>(type) : std::nullopt;
}

std::optional<std::string> AttrTable::str(uint16_t type) const {
  auto b = bytes(type);
  if (!b) return std::nullopt;
  std::string s(reinterpret_cast<const char*>(b->data()), b->size());
  if (auto nul = s.find('\0'); nul != std::string::npos) s.resize(nul);
  return s;
}

Result<AttrTable> AttrTable::nested(uint16_t type) const {
  if (!attrs_.contains(type))
    return fail(ENOENT, "parse netlink attributes", {},
                "nested attribute " + std::to_string(type) + " is missing");
  if (!valid(type, MNL_TYPE_NESTED))
    return fail(EBADMSG, "parse netlink attributes", {},
                "attribute " + std::to_string(type) + " is too short to nest attributes");
  return parse(*bytes(type));
}

Result<Ack> parse_ack(const MessageView& msg) {
  Ack ack;
  const ByteView p = msg.payload();
  if (msg.type() == NLMSG_DONE && p.size() < sizeof(int)) return ack;  // old kernels: bare DONE
  if (p.size() < sizeof(int)) return fail(EBADMSG, "parse netlink ack", {}, "no error code");
  int code;
  std::memcpy(&code, p.data(), sizeof code);
  ack.error = code < 0 ? -code : code;
  size_t tlv_off = sizeof(int);
  if (msg.type() == NLMSG_ERROR) {
    // The request is echoed after the code: only its header with NETLINK_CAP_ACK
    // (NLM_F_CAPPED), the whole request otherwise.
    if (p.size() < sizeof(int) + NLMSG_HDRLEN)
      return fail(EBADMSG, "parse netlink ack", {}, "no echoed request header");
    nlmsghdr echoed;
    std::memcpy(&echoed, p.data() + sizeof(int), sizeof echoed);
    tlv_off += (msg.flags() & NLM_F_CAPPED) ? NLMSG_HDRLEN : NLMSG_ALIGN(echoed.nlmsg_len);
  }
  if (!(msg.flags() & NLM_F_ACK_TLVS) || tlv_off >= p.size()) return ack;
  auto tlvs = AttrTable::parse(p, tlv_off);
  if (!tlvs) return std::unexpected(tlvs.error());
  if (auto m = tlvs->str(NLMSGERR_ATTR_MSG)) ack.extack = *m;
  ack.offset = tlvs->u32(NLMSGERR_ATTR_OFFS);
  return ack;
}

// -------------------------------------------------------------- genetlink --

namespace genl {

MessageBuilder message(uint16_t family, uint8_t cmd, uint8_t version, uint16_t flags) {
  MessageBuilder b(family, flags);
  genlmsghdr g{};
  g.cmd = cmd;
  g.version = version;
  b.header(g);
  return b;
}

Result<Bytes> encode_get_family(std::string_view name) {
  auto b = message(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, 0);
  b.put_str(CTRL_ATTR_FAMILY_NAME, name);
  return std::move(b).finish();
}

Result<Family> decode_family(const MessageView& reply) {
  if (reply.type() != GENL_ID_CTRL)
    return fail(EBADMSG, "decode CTRL_CMD_NEWFAMILY", {}, "not a genetlink controller message");
  auto t = AttrTable::parse(reply.payload(), GENL_HDRLEN);
  if (!t) return std::unexpected(t.error());
  Family f;
  auto id = t->u16(CTRL_ATTR_FAMILY_ID);
  if (!id) return fail(EBADMSG, "decode CTRL_CMD_NEWFAMILY", {}, "no family id");
  f.id = *id;
  f.version = t->u32(CTRL_ATTR_VERSION).value_or(0);
  if (auto groups = t->bytes(CTRL_ATTR_MCAST_GROUPS)) {
    Status inner_status;
    auto st = for_each_attr(*groups, [&](uint16_t, ByteView grp) {
      auto g = AttrTable::parse(grp);
      if (!g) {
        inner_status = std::unexpected(g.error());
        return;
      }
      auto name = g->str(CTRL_ATTR_MCAST_GRP_NAME);
      auto gid = g->u32(CTRL_ATTR_MCAST_GRP_ID);
      if (name && gid) f.mcast_groups[*name] = *gid;
    });
    if (!st) return std::unexpected(st.error());
    if (!inner_status) return std::unexpected(inner_status.error());
  }
  return f;
}

}  // namespace genl

// ----------------------------------------------------------------- socket --

bool is_overrun(const Error& e) { return e.err == ENOBUFS; }

void Socket::Closer::operator()(mnl_socket* s) const { mnl_socket_close(s); }

Socket::Socket(mnl_socket* s, int protocol, uint32_t portid)
    : sock_(s), protocol_(protocol), portid_(portid) {}
Socket::Socket(Socket&&) noexcept = default;
Socket& Socket::operator=(Socket&&) noexcept = default;
Socket::~Socket() = default;

int Socket::fd() const { return mnl_socket_get_fd(sock_.get()); }

Result<Socket> Socket::open(int protocol) {
  const std::string what = "netlink protocol " + std::to_string(protocol);
  mnl_socket* raw = mnl_socket_open2(protocol, SOCK_CLOEXEC);
  if (!raw) return fail_errno("open netlink socket", what);
  Socket s(raw, protocol, 0);
  int on = 1;
  // Both are best effort: a kernel without them still answers, just with less.
  mnl_socket_setsockopt(raw, NETLINK_EXT_ACK, &on, sizeof on);
  mnl_socket_setsockopt(raw, NETLINK_CAP_ACK, &on, sizeof on);
  const int fd = mnl_socket_get_fd(raw);
  auto size = [&](int force, int plain) {
    if (::setsockopt(fd, SOL_SOCKET, force, &kSocketBuffer, sizeof kSocketBuffer) != 0)
      ::setsockopt(fd, SOL_SOCKET, plain, &kSocketBuffer, sizeof kSocketBuffer);
    int got = 0;
    socklen_t len = sizeof got;
    ::getsockopt(fd, SOL_SOCKET, plain, &got, &len);
    return got;
  };
  s.send_buffer_ = size(SO_SNDBUFFORCE, SO_SNDBUF);
  s.receive_buffer_ = size(SO_RCVBUFFORCE, SO_RCVBUF);
  if (mnl_socket_bind(raw, 0, MNL_SOCKET_AUTOPID) != 0) return fail_errno("bind netlink socket", what);
  s.portid_ = mnl_socket_get_portid(raw);
  return s;
}

Status Socket::join_group(uint32_t group) {
  if (mnl_socket_setsockopt(sock_.get(), NETLINK_ADD_MEMBERSHIP, &group, sizeof group) != 0)
    return fail_errno("join netlink group", std::to_string(group));
  return {};
}

Result<size_t> Socket::receive(Bytes& buf, int timeout_ms) {
  buf.resize(kReceiveBuffer);
  // Read first, poll only when nothing is queued: the kernel answers requests
  // inside sendmsg, so their answers are usually there already.
  for (bool polled = false;; polled = true) {
    iovec iov{buf.data(), buf.size()};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    const ssize_t got = ::recvmsg(fd(), &mh, MSG_DONTWAIT);
    if (got < 0) {
      if (errno == ENOBUFS)
        return fail(ENOBUFS, "netlink receive", {},
                    "the kernel dropped messages for this socket; resynchronise");
      if (errno != EAGAIN && errno != EINTR) return fail_errno("netlink receive");
      if (polled) return 0;
      pollfd p{fd(), POLLIN, 0};
      const int n = ::poll(&p, 1, timeout_ms);
      if (n < 0) return fail_errno("poll netlink socket");
      if (n == 0) return 0;
      continue;
    }
    if (mh.msg_flags & MSG_TRUNC)
      return fail(EMSGSIZE, "netlink receive", {}, "a message did not fit the receive buffer");
    return static_cast<size_t>(got);
  }
}

uint32_t Socket::seq_room(size_t n) {
  // Consecutive within one batch so an answer maps to its request by
  // subtraction; restart at 1 rather than wrap through 0.
  if (n >= UINT32_MAX - next_seq_) next_seq_ = 1;
  return next_seq_;
}

Result<std::vector<Reply>> Socket::transact(std::vector<Bytes>&& requests, Acks acks) {
  const bool errors_only = acks == Acks::errors;
  std::vector<Reply> replies(requests.size());
  std::vector<bool> interrupted(requests.size(), false);
  // Batch limits: what one sendmsg may carry (netlink refuses a message longer
  // than the send buffer less 32 bytes) and, with Acks::errors, how many
  // refusals the receive buffer holds while the kernel works through a batch.
  const nlmsghdr barrier_hdr{NLMSG_HDRLEN, NLMSG_NOOP, NLM_F_REQUEST | NLM_F_ACK, 0, 0};
  size_t max_bytes = kMaxBatchBytes, max_count = SIZE_MAX;
  if (errors_only) {
    const size_t sendable = send_buffer_ > 64 ? static_cast<size_t>(send_buffer_) - 64 : 0;
    max_bytes = std::clamp(sendable, kMaxBatchBytes, kMaxStreamBytes);
    max_count = std::max<size_t>(static_cast<size_t>(std::max(receive_buffer_, 0)) / kErrorAckRoom, 16) - 1;
  }
  // The send buffer never grows while filled (a reallocation would free a copy
  // of what it holds unwiped), and it and every request are wiped on return.
  size_t largest = 0;
  for (const Bytes& m : requests) largest = std::max(largest, m.size());
  // mnl_nlmsg_batch over it: each request is copied to the batch's current end
  // and mnl_nlmsg_batch_next takes it in; the limits above are checked before a
  // request is copied, so the batch's own limit (the whole buffer) never refuses one.
  Bytes batch(std::max(max_bytes, largest) + sizeof barrier_hdr, 0);
  struct BatchStop {
    void operator()(mnl_nlmsg_batch* b) const { mnl_nlmsg_batch_stop(b); }
  };
  std::unique_ptr<mnl_nlmsg_batch, BatchStop> nb(mnl_nlmsg_batch_start(batch.data(), batch.size()));
  if (!nb) return fail_errno("netlink send", "batch");
  // The receive buffer too: GETSA replies and SA dumps carry the keys.
  Bytes rbuf;
  const WipeOnExit wiped(batch, rbuf, requests);
  size_t begin = 0;
  while (begin < requests.size()) {
    // One batch: requests up to the limits; a dump ends its batch because the
    // kernel runs one dump per socket at a time.
    explicit_bzero(batch.data(), mnl_nlmsg_batch_size(nb.get()));
    mnl_nlmsg_batch_reset(nb.get());
    const uint32_t first_seq = seq_room(requests.size() - begin + 1);
    size_t end = begin, outstanding = 0;  // answers that end a request (or the batch)
    std::vector<bool> awaiting;           // per request of the batch: its end is still to come
    while (end < requests.size() && end - begin < max_count) {
      Bytes& m = requests[end];
      if (m.size() < NLMSG_HDRLEN || hdr_of(m)->nlmsg_len != m.size())
        return fail(EINVAL, "netlink send", {}, "request " + std::to_string(end) + " is not a message");
      if (!mnl_nlmsg_batch_is_empty(nb.get()) && mnl_nlmsg_batch_size(nb.get()) + m.size() > max_bytes) break;
      const bool dump = (hdr_of(m)->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
      // A dump always ends with NLMSG_DONE (or its error); anything else is
      // answered only when it asks, or when it fails.
      if (!dump && errors_only)
        hdr_of(m)->nlmsg_flags &= static_cast<uint16_t>(~NLM_F_ACK);
      else if (!dump)
        hdr_of(m)->nlmsg_flags |= NLM_F_ACK;
      const bool awaited = dump || !errors_only;
      awaiting.push_back(awaited);
      outstanding += awaited;
      set_seq(m, first_seq + static_cast<uint32_t>(end - begin), 0);
      std::memcpy(mnl_nlmsg_batch_current(nb.get()), m.data(), m.size());
      mnl_nlmsg_batch_next(nb.get());
      ++end;
      if (dump) break;
    }
    const uint32_t count = static_cast<uint32_t>(end - begin);
    const uint32_t barrier_seq = first_seq + count;
    next_seq_ = barrier_seq + (errors_only ? 1 : 0);
    bool barrier_open = false;
    if (errors_only) {
      nlmsghdr h = barrier_hdr;
      h.nlmsg_seq = barrier_seq;
      std::memcpy(mnl_nlmsg_batch_current(nb.get()), &h, sizeof h);
      mnl_nlmsg_batch_next(nb.get());
      barrier_open = true;
      ++outstanding;
    }
    if (mnl_socket_sendto(sock_.get(), mnl_nlmsg_batch_head(nb.get()), mnl_nlmsg_batch_size(nb.get())) < 0)
      return fail_errno("netlink send", std::to_string(count) + " requests");

    while (outstanding > 0) {
      auto got = receive(rbuf, kReplyTimeoutMs);
      if (!got) return std::unexpected(got.error());
      if (*got == 0)
        return fail(ETIMEDOUT, "netlink receive", {}, std::to_string(outstanding) + " answers missing");
      auto st = for_each_message(ByteView(rbuf.data(), *got), [&](const MessageView& m) -> Status {
        const uint32_t rel = m.seq() - first_seq;  // unsigned: seqs before the batch are large
        if (errors_only && m.seq() == barrier_seq) {
          if (m.type() == NLMSG_ERROR && barrier_open) {
            barrier_open = false;
            --outstanding;
          }
          return {};
        }
        if (rel >= count) return {};  // a late answer to an abandoned request
        const size_t idx = begin + rel;
        if (m.type() == NLMSG_ERROR || m.type() == NLMSG_DONE) {
          auto ack = parse_ack(m);
          if (!ack) return std::unexpected(ack.error());
          if (ack->error != 0)
            replies[idx].status =
                fail(ack->error, "netlink request",
                     "type " + std::to_string(hdr_of(requests[idx])->nlmsg_type), ack->extack);
          else if (interrupted[idx])
            replies[idx].status =
                fail(EINTR, "netlink dump", {}, "interrupted by a concurrent change; dump again");
          if (awaiting[rel]) {
            awaiting[rel] = false;
            --outstanding;
          }
          return {};
        }
        if (m.type() == NLMSG_NOOP || m.type() == NLMSG_OVERRUN) return {};
        if (m.flags() & NLM_F_DUMP_INTR) interrupted[idx] = true;
        replies[idx].messages.emplace_back(m.bytes().begin(), m.bytes().end());
        return {};
      });
      if (!st) return std::unexpected(st.error());
    }
    begin = end;
  }
  return replies;
}

Result<std::vector<Bytes>> Socket::request(Bytes message, std::string op, std::string object) {
  std::vector<Bytes> one;
  one.push_back(std::move(message));
  auto r = transact(std::move(one));
  if (!r) return std::unexpected(r.error());
  Reply& reply = r->front();
  if (!reply.status) {
    Error e = reply.status.error();
    e.op = std::move(op);
    e.object = std::move(object);
    return std::unexpected(std::move(e));
  }
  return std::move(reply.messages);
}

Result<std::vector<Bytes>> Socket::receive_events(int timeout_ms) {
  std::vector<Bytes> events;
  Bytes rbuf;
  // An XFRM subscriber's events (NEWSA, UPDSA) carry keys: the receive buffer
  // is wiped as transact's is.
  const WipeOnExit wiped(rbuf);
  int wait = timeout_ms;
  for (;;) {
    auto got = receive(rbuf, wait);
    if (!got) return std::unexpected(got.error());
    if (*got == 0) return events;
    // Every message kept, control messages too: a subscriber sees what arrived.
    auto st = for_each_message(ByteView(rbuf.data(), *got), [&](const MessageView& m) -> Status {
      events.emplace_back(m.bytes().begin(), m.bytes().end());
      return {};
    });
    if (!st) return std::unexpected(st.error());
    wait = 0;  // drain what is queued, then return
  }
}

Result<genl::Family> resolve_family(Socket& generic, std::string_view name) {
  auto req = genl::encode_get_family(name);
  if (!req) return std::unexpected(req.error());
  auto msgs =
      generic.request(std::move(*req), "CTRL_CMD_GETFAMILY", "generic netlink family " + std::string(name));
  if (!msgs) return std::unexpected(msgs.error());
  if (msgs->empty()) return fail(EBADMSG, "CTRL_CMD_GETFAMILY", std::string(name), "no reply");
  auto views = split_messages(msgs->front());
  if (!views || views->empty()) return fail(EBADMSG, "CTRL_CMD_GETFAMILY", std::string(name), "bad reply");
  return genl::decode_family(views->front());
}

}  // namespace sealnet::nl
