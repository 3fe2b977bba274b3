// Netlink for every sealnet component, on libmnl: message building and parsing as
// pure functions over bytes (golden-byte tested, no root), and one socket per protocol
// that sends many requests in one sendmsg and matches each reply to its request.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/error.h"

struct mnl_socket;

namespace sealnet::nl {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

// ---------------------------------------------------------------- building --

// One netlink message under construction, built with libmnl (mnl_nlmsg_put_*,
// mnl_attr_put*, mnl_attr_nest_*). The bytes are what goes on the wire, except
// nlmsg_seq and nlmsg_pid: the socket assigns those when it sends, so an
// encoder's output is the same on every call and can be compared to golden bytes.
class MessageBuilder {
 public:
  MessageBuilder(uint16_t type, uint16_t flags);
  MessageBuilder(MessageBuilder&&) noexcept = default;
  MessageBuilder& operator=(MessageBuilder&& o) noexcept;
  // Wipes what was built and not taken by finish().
  ~MessageBuilder();

  // The family header (ifinfomsg, genlmsghdr, xfrm_usersa_info...), padded to 4.
  template <typename T>
  MessageBuilder& header(const T& h) {
    return raw(ByteView(reinterpret_cast<const uint8_t*>(&h), sizeof h));
  }
  MessageBuilder& raw(ByteView bytes);

  MessageBuilder& put(uint16_t type, ByteView payload);
  template <typename T>
  MessageBuilder& put_struct(uint16_t type, const T& v) {
    return put(type, ByteView(reinterpret_cast<const uint8_t*>(&v), sizeof v));
  }
  MessageBuilder& put_u8(uint16_t type, uint8_t v);
  MessageBuilder& put_u16(uint16_t type, uint16_t v);
  MessageBuilder& put_u32(uint16_t type, uint32_t v);
  MessageBuilder& put_u64(uint16_t type, uint64_t v);
  MessageBuilder& put_flag(uint16_t type) { return put(type, {}); }
  // NUL-terminated, as the kernel's NLA_NUL_STRING and NLA_STRING policies accept.
  MessageBuilder& put_str(uint16_t type, std::string_view s);

  // A nested attribute: begin_nest returns a token for end_nest.
  size_t begin_nest(uint16_t type);
  MessageBuilder& end_nest(size_t token);

  // Room for `bytes` in all, up front. The buffer grows by copying into a new
  // one and wiping the old, so no copy of a key is left in freed memory either
  // way; a message that carries key material reserves its size so it never has to.
  MessageBuilder& reserve(size_t bytes);

  // The finished message; fails when an attribute or the message outgrew what
  // netlink lengths can express (attributes are limited to 64 KiB).
  Result<Bytes> finish() &&;

 private:
  nlmsghdr* nlh() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
  // Makes room for `more` bytes after the message's current end.
  void room(size_t more);
  // Moves the message into a buffer of `capacity` bytes, wiping the old one.
  void grow_to(size_t capacity);

  Bytes buf_;  // the message's capacity; nlmsg_len says how much of it is used
  bool overflow_ = false;
};

// Zeroes a message in place (explicit_bzero: not optimised away); for buffers
// that held key material (an encoded NEWSA/UPDSA).
void wipe(Bytes& message);

// Sets nlmsg_seq and nlmsg_pid of an encoded message in place.
void set_seq(Bytes& message, uint32_t seq, uint32_t portid = 0);

// ----------------------------------------------------------------- parsing --

// A view of one message in a receive buffer; valid while the buffer is.
struct MessageView {
  const nlmsghdr* hdr = nullptr;

  uint16_t type() const { return hdr->nlmsg_type; }
  uint16_t flags() const { return hdr->nlmsg_flags; }
  uint32_t seq() const { return hdr->nlmsg_seq; }
  ByteView bytes() const { return {reinterpret_cast<const uint8_t*>(hdr), hdr->nlmsg_len}; }
  // Everything after the netlink header.
  ByteView payload() const { return bytes().subspan(NLMSG_HDRLEN); }
  // The family header as T, when the payload is long enough for one.
  template <typename T>
  const T* family_header() const {
    return payload().size() >= sizeof(T) ? reinterpret_cast<const T*>(payload().data()) : nullptr;
  }
};

// Splits a buffer into its messages; fails on a truncated or malformed one.
Result<std::vector<MessageView>> split_messages(ByteView buffer);

// Calls fn(MessageView) -> Status for every message of a received buffer, in
// order, through mnl_cb_run2: data and control messages alike, no sequence or
// port check (one datagram answers many requests of a batch; the caller matches
// each by its seq). A message flagged NLM_F_DUMP_INTR, where mnl_cb_run2 stops,
// is handed to fn too and the walk goes on after it; a malformed message, where
// it stops quietly, is an error. Stops at fn's first error.
template <typename Fn>
Status for_each_message(ByteView buffer, Fn&& fn);

// The attributes of one level, indexed by type (nested flag and byte-order bit
// masked off); a later attribute of the same type replaces an earlier one, use
// for_each_attr for repeated ones.
class AttrTable {
 public:
  // Attributes start `offset` bytes into `payload` (after the family header).
  static Result<AttrTable> parse(ByteView payload, size_t offset = 0);

  bool has(uint16_t type) const { return attrs_.contains(type); }
  std::optional<ByteView> bytes(uint16_t type) const;
  std::optional<uint8_t> u8(uint16_t type) const;
  std::optional<uint16_t> u16(uint16_t type) const;
  std::optional<uint32_t> u32(uint16_t type) const;
  std::optional<uint64_t> u64(uint16_t type) const;
  // Up to the first NUL.
  std::optional<std::string> str(uint16_t type) const;
  // A fixed struct, when the attribute holds at least sizeof(T) bytes (a kernel
  // struct may grow; the fields this T knows stay where they are).
  template <typename T>
  std::optional<T> as(uint16_t type) const {
    auto b = bytes(type);
    if (!b || b->size() < sizeof(T)) return std::nullopt;
    T v;
    std::memcpy(&v, b->data(), sizeof v);
    return v;
  }
  Result<AttrTable> nested(uint16_t type) const;

 private:
  // The attribute when it is there and mnl_attr_validate accepts it as `kind`
  // (an enum mnl_attr_data_type: exact size for the integers).
  const nlattr* valid(uint16_t type, int kind) const;

  std::map<uint16_t, const nlattr*> attrs_;
};

// Calls fn(type, payload) for every attribute of one level, in order.
template <typename Fn>
Status for_each_attr(ByteView payload, Fn&& fn);

// What the kernel said about one request: NLMSG_ERROR (error 0 is an ACK) or the
// NLMSG_DONE that ends a dump. `error` is a positive errno or 0.
struct Ack {
  int error = 0;
  std::string extack;              // NLMSGERR_ATTR_MSG
  std::optional<uint32_t> offset;  // NLMSGERR_ATTR_OFFS: the offending attribute
};
Result<Ack> parse_ack(const MessageView& msg);

// -------------------------------------------------------------- genetlink --

namespace genl {

struct Family {
  uint16_t id = 0;
  uint32_t version = 0;
  std::map<std::string, uint32_t> mcast_groups;  // name -> group id
};

// CTRL_CMD_GETFAMILY for one family by name.
Result<Bytes> encode_get_family(std::string_view name);
Result<Family> decode_family(const MessageView& reply);

// A generic netlink message: the genlmsghdr filled in.
MessageBuilder message(uint16_t family, uint8_t cmd, uint8_t version, uint16_t flags);

}  // namespace genl

// ----------------------------------------------------------------- socket --

// The replies to one request: its data messages (the GET reply, every part of a
// dump) and how it ended. A refused request has status with the errno and the
// kernel's extack text in Error::detail.
struct Reply {
  std::vector<Bytes> messages;
  Status status;
};

// Receive buffer overrun: the kernel dropped messages for this socket. Requests
// in flight have lost their replies, subscribers have lost events; both must
// resynchronise (dump again) rather than trust what they hold.
bool is_overrun(const Error& e);

// How transact() learns that a request succeeded.
enum class Acks : uint8_t {
  // NLM_F_ACK on every request that is not a dump: each one is answered (an
  // ack or its refusal). For requests whose replies matter (GET, read-back).
  every,
  // No NLM_F_ACK: netlink_rcv_skb acks a request when asked *or* when it failed,
  // so the kernel answers only refusals (NLMSG_ERROR carrying the request's seq).
  // Each sendmsg ends with a NLMSG_NOOP that asks for an ack, a barrier: the
  // kernel handles one socket's requests in order inside sendmsg, so once the
  // barrier is acked every request before it without an error succeeded. For
  // bulk changes (NEWSA, NEWPOLICY, DEL...): a 30,000-object install then reads
  // a few datagrams instead of 30,000 acks, and sends 1 MiB per sendmsg.
  errors,
};

// One netlink socket of one protocol in the calling thread's network namespace,
// with extended acks (the kernel's reason in words) and capped acks (no echo of
// the request). Sequence numbers are unique per socket. Its send and receive
// buffers are 8 MiB when the process may force them (CAP_NET_ADMIN), else what
// wmem_max / rmem_max allow; transact() sizes its batches to what it got.
class Socket {
 public:
  static Result<Socket> open(int protocol);
  Socket(Socket&&) noexcept;
  Socket& operator=(Socket&&) noexcept;
  ~Socket();

  // Sends every request (as few sendmsg calls as the socket buffers allow) and
  // returns one Reply per request, in order (see Acks for how success is
  // learnt). A dump ends its batch: the kernel runs one dump per socket at a
  // time. Fails as a whole only when the socket fails (send error, overrun,
  // timeout); a refused request is a Reply.
  // Every request, the send buffer they were copied into and the receive buffer
  // are wiped (nl::wipe) before it returns, on every path: requests may carry
  // keys (NEWSA/UPDSA), and so may replies (GETSA, SA dumps); a caller that
  // asked for SAs wipes the Reply messages once decoded.
  Result<std::vector<Reply>> transact(std::vector<Bytes>&& requests, Acks acks = Acks::every);
  // One request; its refusal becomes the error, named by `op` and `object`.
  Result<std::vector<Bytes>> request(Bytes message, std::string op, std::string object = {});

  // Subscriptions (multicast) and their messages.
  Status join_group(uint32_t group);
  // Waits up to timeout_ms for events and returns what arrived (possibly none).
  // The receive buffer is wiped before it returns (XFRM events carry keys).
  Result<std::vector<Bytes>> receive_events(int timeout_ms);

  int fd() const;
  uint32_t portid() const { return portid_; }
  int protocol() const { return protocol_; }
  // The buffer sizes the kernel granted (bytes of skb memory, as SO_SNDBUF /
  // SO_RCVBUF read them back).
  int send_buffer() const { return send_buffer_; }
  int receive_buffer() const { return receive_buffer_; }

 private:
  Socket(mnl_socket* s, int protocol, uint32_t portid);
  Result<size_t> receive(Bytes& buf, int timeout_ms);
  // The first of `n` consecutive free sequence numbers, none of them 0 (what
  // multicast carries); the caller moves next_seq_ past the ones it used.
  uint32_t seq_room(size_t n);

  struct Closer {
    void operator()(mnl_socket* s) const;
  };
  std::unique_ptr<mnl_socket, Closer> sock_;
  int protocol_ = 0;
  uint32_t portid_ = 0;
  uint32_t next_seq_ = 1;
  int send_buffer_ = 0, receive_buffer_ = 0;
};

// Resolves a generic netlink family over a NETLINK_GENERIC socket.
Result<genl::Family> resolve_family(Socket& generic, std::string_view name);

// The outcome of each request of a transact(), a refusal named by the operation it
// answers: name_of(i) is called only for the refused ones.
template <typename NameFn>
Result<std::vector<Status>> statuses(Result<std::vector<Reply>> replies, NameFn&& name_of) {
  if (!replies) return std::unexpected(replies.error());
  std::vector<Status> out;
  out.reserve(replies->size());
  for (size_t i = 0; i < replies->size(); ++i) {
    Status st = std::move((*replies)[i].status);
    if (!st) {
      Error e = std::move(st.error());
      e.op = name_of(i);
      st = std::unexpected(std::move(e));
    }
    out.push_back(std::move(st));
  }
  return out;
}

// ------------------------------------------------------- implementation --

// mnl_attr_parse_payload over one level, each attribute's type (nested flag and
// byte-order bit masked off) and payload handed to visit(ctx, ...); fails on an
// attribute that runs past the payload.
using AttrVisitor = void (*)(void* ctx, uint16_t type, ByteView payload);
Status walk_attrs(ByteView payload, AttrVisitor visit, void* ctx);

using MessageVisitor = Status (*)(void* ctx, const MessageView& msg);
Status walk_messages(ByteView buffer, MessageVisitor visit, void* ctx);

template <typename Fn>
Status for_each_message(ByteView buffer, Fn&& fn) {
  using F = std::remove_reference_t<Fn>;
  return walk_messages(
      buffer, [](void* ctx, const MessageView& m) -> Status { return (*static_cast<F*>(ctx))(m); },
      const_cast<void*>(static_cast<const void*>(std::addressof(fn))));
}

template <typename Fn>
Status for_each_attr(ByteView payload, Fn&& fn) {
  using F = std::remove_reference_t<Fn>;
  return walk_attrs(
      payload, [](void* ctx, uint16_t type, ByteView data) { (*static_cast<F*>(ctx))(type, data); },
      const_cast<void*>(static_cast<const void*>(std::addressof(fn))));
}

}  // namespace sealnet::nl
