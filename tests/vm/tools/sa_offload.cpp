// sa_offload: adds, reads back and deletes one ESP SA with XFRMA_OFFLOAD_DEV over XFRM
// netlink (libmnl). VM test tool: the read-back (XFRM_MSG_GETSA) is the proof that an
// offload attached, because the kernel turns some refused requests into plain software
// SAs without an error (veth); a refusal is shown with errno and the kernel's extack.
//
//   sa_offload add --dev DEV --src IP --dst IP --spi N [--offload crypto|packet|none]
//                  [--dir out|in] [--mode tunnel|transport] [--reqid N] [--key-bits 128|256]
//   sa_offload get --src IP --dst IP --spi N
//   sa_offload del --src IP --dst IP --spi N
// Exit: 0 done (get: offload attached); 3 get: SA present, no offload attached;
//       1 the kernel refused (errno + extack printed); 2 usage or local error.
// The key is a fixed test key: this tool is for tests only.
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>
#include <net/if.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#ifndef XFRM_OFFLOAD_PACKET  // uapi of kernels before 6.2
#define XFRM_OFFLOAD_PACKET 4
#endif

namespace {

enum Exit : int { kOk = 0, kRefused = 1, kUsage = 2, kNoOffload = 3 };

constexpr std::size_t kRequestBytes = 1024;  // one SA request is a few hundred bytes

struct SaId {
  int family = AF_UNSPEC;
  xfrm_address_t src{};
  xfrm_address_t dst{};
  std::uint32_t spi = 0;  // host order
};

enum class OffloadKind { none, crypto, packet };

struct SaSpec {
  SaId id;
  std::uint8_t mode = XFRM_MODE_TUNNEL;
  std::uint32_t reqid = 0;
  unsigned key_bits = 128;
  OffloadKind offload = OffloadKind::crypto;
  bool inbound = false;
  int ifindex = 0;
};

// What GETSA returns that the tests care about.
struct SaState {
  std::uint8_t mode = 0;
  std::uint32_t reqid = 0;
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  std::string aead;
  std::optional<xfrm_user_offload> offload;
};

struct KernelError {
  int error = 0;  // positive errno
  std::string extack;
};

// ---- encoders: pure, they only fill the caller's buffer -----------------------------

nlmsghdr* put_header(std::span<char> buf, std::uint16_t type, std::uint16_t flags, std::uint32_t seq) {
  std::memset(buf.data(), 0, buf.size());
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  nlh->nlmsg_seq = seq;
  return nlh;
}

nlmsghdr* encode_newsa(std::span<char> buf, const SaSpec& s, std::uint32_t seq) {
  nlmsghdr* nlh = put_header(buf, XFRM_MSG_NEWSA, NLM_F_CREATE | NLM_F_EXCL, seq);
  auto* sa = static_cast<xfrm_usersa_info*>(mnl_nlmsg_put_extra_header(nlh, sizeof(xfrm_usersa_info)));
  const bool v6 = s.id.family == AF_INET6;
  sa->family = static_cast<std::uint16_t>(s.id.family);
  sa->saddr = s.id.src;
  sa->id.daddr = s.id.dst;
  sa->id.spi = htonl(s.id.spi);
  sa->id.proto = IPPROTO_ESP;
  sa->mode = s.mode;
  sa->reqid = s.reqid;
  sa->replay_window = 32;
  sa->sel.family = sa->family;
  if (s.mode == XFRM_MODE_TRANSPORT) {  // transport SAs carry exactly this host pair
    sa->sel.saddr = s.id.src;
    sa->sel.daddr = s.id.dst;
    sa->sel.prefixlen_s = sa->sel.prefixlen_d = v6 ? 128 : 32;
  }
  sa->lft.soft_byte_limit = sa->lft.hard_byte_limit = XFRM_INF;
  sa->lft.soft_packet_limit = sa->lft.hard_packet_limit = XFRM_INF;

  // rfc4106: AES key followed by a 4-byte salt; ICV 128 bits (all netdevsim accepts).
  const unsigned key_bytes = s.key_bits / 8 + 4;
  std::array<char, sizeof(xfrm_algo_aead) + 36> aead_buf{};
  auto* aead = reinterpret_cast<xfrm_algo_aead*>(aead_buf.data());
  std::snprintf(aead->alg_name, sizeof aead->alg_name, "rfc4106(gcm(aes))");
  aead->alg_key_len = key_bytes * 8;
  aead->alg_icv_len = 128;
  for (unsigned i = 0; i < key_bytes; ++i) aead->alg_key[i] = static_cast<char>(0x30 + i % 10);
  mnl_attr_put(nlh, XFRMA_ALG_AEAD, sizeof(xfrm_algo_aead) + key_bytes, aead);

  if (s.offload != OffloadKind::none) {
    xfrm_user_offload off{};
    off.ifindex = s.ifindex;
    if (v6) off.flags |= XFRM_OFFLOAD_IPV6;
    if (s.inbound) off.flags |= XFRM_OFFLOAD_INBOUND;
    if (s.offload == OffloadKind::packet) off.flags |= XFRM_OFFLOAD_PACKET;
    mnl_attr_put(nlh, XFRMA_OFFLOAD_DEV, sizeof off, &off);
  }
  return nlh;
}

// GETSA and DELSA share the request: the SA's (daddr, spi, proto) plus its source.
nlmsghdr* encode_sa_id(std::span<char> buf, std::uint16_t type, const SaId& id, std::uint32_t seq) {
  nlmsghdr* nlh = put_header(buf, type, 0, seq);
  auto* sid = static_cast<xfrm_usersa_id*>(mnl_nlmsg_put_extra_header(nlh, sizeof(xfrm_usersa_id)));
  sid->daddr = id.dst;
  sid->spi = htonl(id.spi);
  sid->family = static_cast<std::uint16_t>(id.family);
  sid->proto = IPPROTO_ESP;
  mnl_attr_put(nlh, XFRMA_SRCADDR, sizeof id.src, &id.src);
  return nlh;
}

// ---- decoders --------------------------------------------------------------------------

int collect_attr(const nlattr* attr, void* data) {
  auto* tb = static_cast<std::vector<const nlattr*>*>(data);
  const auto type = mnl_attr_get_type(attr);
  if (type < tb->size()) (*tb)[type] = attr;
  return MNL_CB_OK;
}

// NLMSG_ERROR: errno plus the extack message (NLMSGERR_ATTR_MSG) when the kernel sent one.
KernelError decode_error(const nlmsghdr* nlh) {
  const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  KernelError ke{-err->error, {}};
  if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return ke;
  // The TLVs follow the echoed request, which is cut to its header when NLM_F_CAPPED.
  unsigned offset = sizeof(nlmsgerr);
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) offset += err->msg.nlmsg_len - sizeof(nlmsghdr);
  if (offset >= mnl_nlmsg_get_payload_len(nlh)) return ke;
  std::vector<const nlattr*> tb(NLMSGERR_ATTR_MAX + 1);
  if (mnl_attr_parse(nlh, offset, collect_attr, &tb) >= 0 && tb[NLMSGERR_ATTR_MSG])
    ke.extack = mnl_attr_get_str(tb[NLMSGERR_ATTR_MSG]);
  return ke;
}

std::optional<SaState> decode_sa(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != XFRM_MSG_NEWSA || mnl_nlmsg_get_payload_len(nlh) < sizeof(xfrm_usersa_info))
    return std::nullopt;
  const auto* sa = static_cast<const xfrm_usersa_info*>(mnl_nlmsg_get_payload(nlh));
  SaState st;
  st.mode = sa->mode;
  st.reqid = sa->reqid;
  st.packets = sa->curlft.packets;
  st.bytes = sa->curlft.bytes;
  std::vector<const nlattr*> tb(XFRMA_MAX + 1);
  if (mnl_attr_parse(nlh, sizeof(xfrm_usersa_info), collect_attr, &tb) < 0) return std::nullopt;
  if (const nlattr* a = tb[XFRMA_ALG_AEAD]; a && mnl_attr_get_payload_len(a) >= sizeof(xfrm_algo_aead))
    st.aead = static_cast<const xfrm_algo_aead*>(mnl_attr_get_payload(a))->alg_name;
  if (const nlattr* a = tb[XFRMA_OFFLOAD_DEV]; a && mnl_attr_get_payload_len(a) >= sizeof(xfrm_user_offload)) {
    xfrm_user_offload off{};
    std::memcpy(&off, mnl_attr_get_payload(a), sizeof off);
    st.offload = off;
  }
  return st;
}

// ---- transport: one socket, one request at a time, replies matched by sequence ---------

class XfrmSocket {
 public:
  static std::expected<XfrmSocket, std::string> open() {
    std::unique_ptr<mnl_socket, int (*)(mnl_socket*)> nl(mnl_socket_open(NETLINK_XFRM), mnl_socket_close);
    if (!nl) return std::unexpected(std::string("socket(NETLINK_XFRM): ") + std::strerror(errno));
    int one = 1;
    // Without NETLINK_EXT_ACK the kernel keeps its reason to itself.
    mnl_socket_setsockopt(nl.get(), NETLINK_EXT_ACK, &one, sizeof one);
    if (mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID) < 0)
      return std::unexpected(std::string("bind: ") + std::strerror(errno));
    return XfrmSocket(std::move(nl));
  }

  // Sends one request; returns the reply messages before the ack, or the kernel's error.
  std::expected<std::vector<std::vector<char>>, KernelError> request(const nlmsghdr* req) {
    if (mnl_socket_sendto(nl_.get(), req, req->nlmsg_len) < 0) return std::unexpected(KernelError{errno, "sendto"});
    const std::uint32_t portid = mnl_socket_get_portid(nl_.get());
    std::vector<std::vector<char>> replies;
    std::vector<char> buf(8192);  // MNL_SOCKET_BUFFER_SIZE's ceiling; one SA fits easily
    for (;;) {
      const ssize_t n = mnl_socket_recvfrom(nl_.get(), buf.data(), buf.size());
      if (n < 0) return std::unexpected(KernelError{errno, "recv"});
      int len = static_cast<int>(n);
      for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, len);
           nlh = mnl_nlmsg_next(nlh, &len)) {
        if (nlh->nlmsg_seq != req->nlmsg_seq || nlh->nlmsg_pid != portid) continue;
        if (nlh->nlmsg_type == NLMSG_ERROR) {
          KernelError ke = decode_error(nlh);
          if (ke.error != 0) return std::unexpected(ke);
          return replies;  // the ack closes the exchange
        }
        const auto* p = reinterpret_cast<const char*>(nlh);
        replies.emplace_back(p, p + nlh->nlmsg_len);
      }
    }
  }

 private:
  explicit XfrmSocket(std::unique_ptr<mnl_socket, int (*)(mnl_socket*)> nl) : nl_(std::move(nl)) {}
  std::unique_ptr<mnl_socket, int (*)(mnl_socket*)> nl_;
};

// ---- command line ----------------------------------------------------------------------

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "sa_offload: %s\n"
               "usage: sa_offload add --dev DEV --src IP --dst IP --spi N [--offload crypto|packet|none]\n"
               "                      [--dir out|in] [--mode tunnel|transport] [--reqid N] [--key-bits 128|256]\n"
               "       sa_offload get|del --src IP --dst IP --spi N\n",
               why);
  std::exit(kUsage);
}

int parse_addr(const char* text, xfrm_address_t& out) {
  if (inet_pton(AF_INET, text, &out.a4) == 1) return AF_INET;
  if (inet_pton(AF_INET6, text, &out.a6) == 1) return AF_INET6;
  usage("not an IP address");
}

std::uint32_t parse_u32(const char* text, const char* what) {
  char* end = nullptr;
  errno = 0;
  const unsigned long v = std::strtoul(text, &end, 0);
  if (errno || !end || *end || v > 0xffffffffUL) usage(what);
  return static_cast<std::uint32_t>(v);
}

struct Args {
  std::string cmd, dev, src, dst;
  std::string offload = "crypto", dir = "out", mode = "tunnel";
  std::uint32_t spi = 0, reqid = 0, key_bits = 128;
};

Args parse_args(int argc, char** argv) {
  if (argc < 2) usage("no command");
  Args a;
  a.cmd = argv[1];
  for (int i = 2; i < argc; i += 2) {
    const std::string_view k = argv[i];
    if (i + 1 >= argc) usage("option without value");
    const char* v = argv[i + 1];
    if (k == "--dev") a.dev = v;
    else if (k == "--src") a.src = v;
    else if (k == "--dst") a.dst = v;
    else if (k == "--spi") a.spi = parse_u32(v, "bad --spi");
    else if (k == "--reqid") a.reqid = parse_u32(v, "bad --reqid");
    else if (k == "--key-bits") a.key_bits = parse_u32(v, "bad --key-bits");
    else if (k == "--offload") a.offload = v;
    else if (k == "--dir") a.dir = v;
    else if (k == "--mode") a.mode = v;
    else usage("unknown option");
  }
  if (a.src.empty() || a.dst.empty() || a.spi == 0) usage("--src, --dst and --spi are required");
  return a;
}

SaId make_id(const Args& a) {
  SaId id;
  id.family = parse_addr(a.src.c_str(), id.src);
  if (parse_addr(a.dst.c_str(), id.dst) != id.family) usage("--src and --dst differ in family");
  id.spi = a.spi;
  return id;
}

void print_error(const char* op, const KernelError& e) {
  std::printf("%s: refused: errno %d (%s)%s%s\n", op, e.error, std::strerror(e.error),
              e.extack.empty() ? "" : "; extack: ", e.extack.c_str());
}

int cmd_add(XfrmSocket& nl, const Args& a) {
  SaSpec s;
  s.id = make_id(a);
  s.reqid = a.reqid;
  if (a.key_bits != 128 && a.key_bits != 256) usage("--key-bits is 128 or 256");
  s.key_bits = a.key_bits;
  if (a.mode == "tunnel") s.mode = XFRM_MODE_TUNNEL;
  else if (a.mode == "transport") s.mode = XFRM_MODE_TRANSPORT;
  else usage("--mode is tunnel or transport");
  if (a.offload == "crypto") s.offload = OffloadKind::crypto;
  else if (a.offload == "packet") s.offload = OffloadKind::packet;
  else if (a.offload == "none") s.offload = OffloadKind::none;
  else usage("--offload is crypto, packet or none");
  if (a.dir != "out" && a.dir != "in") usage("--dir is out or in");
  s.inbound = a.dir == "in";
  if (s.offload != OffloadKind::none) {
    if (a.dev.empty()) usage("--dev is required with offload");
    s.ifindex = static_cast<int>(if_nametoindex(a.dev.c_str()));
    if (s.ifindex == 0) {
      std::fprintf(stderr, "sa_offload: no device %s in this namespace\n", a.dev.c_str());
      return kUsage;
    }
  }
  std::array<char, kRequestBytes> buf{};
  auto r = nl.request(encode_newsa(buf, s, 1));
  if (!r) {
    print_error("NEWSA", r.error());
    return kRefused;
  }
  std::printf("NEWSA: accepted spi=0x%x mode=%s offload=%s dir=%s dev=%s\n", a.spi, a.mode.c_str(),
              a.offload.c_str(), a.dir.c_str(), a.dev.empty() ? "-" : a.dev.c_str());
  return kOk;
}

int cmd_get(XfrmSocket& nl, const Args& a) {
  std::array<char, kRequestBytes> buf{};
  auto r = nl.request(encode_sa_id(buf, XFRM_MSG_GETSA, make_id(a), 1));
  if (!r) {
    print_error("GETSA", r.error());
    return kRefused;
  }
  std::optional<SaState> st;
  for (const auto& m : *r)
    if ((st = decode_sa(reinterpret_cast<const nlmsghdr*>(m.data())))) break;
  if (!st) {
    std::printf("GETSA: no SA in the reply\n");
    return kRefused;
  }
  std::printf("sa: spi=0x%x mode=%s reqid=%u aead=%s packets=%llu bytes=%llu\n", a.spi,
              st->mode == XFRM_MODE_TUNNEL ? "tunnel" : st->mode == XFRM_MODE_TRANSPORT ? "transport" : "other",
              st->reqid, st->aead.empty() ? "-" : st->aead.c_str(), static_cast<unsigned long long>(st->packets),
              static_cast<unsigned long long>(st->bytes));
  if (!st->offload) {
    std::printf("offload: none\n");
    return kNoOffload;
  }
  std::array<char, IF_NAMESIZE> name{};
  const xfrm_user_offload& o = *st->offload;
  const char* dev = if_indextoname(static_cast<unsigned>(o.ifindex), name.data()) ? name.data() : "?";
  std::printf("offload: attached dev=%s ifindex=%d flags=0x%x type=%s dir=%s\n", dev, o.ifindex, o.flags,
              (o.flags & XFRM_OFFLOAD_PACKET) ? "packet" : "crypto", (o.flags & XFRM_OFFLOAD_INBOUND) ? "in" : "out");
  return kOk;
}

int cmd_del(XfrmSocket& nl, const Args& a) {
  std::array<char, kRequestBytes> buf{};
  auto r = nl.request(encode_sa_id(buf, XFRM_MSG_DELSA, make_id(a), 1));
  if (!r) {
    print_error("DELSA", r.error());
    return kRefused;
  }
  std::printf("DELSA: removed spi=0x%x\n", a.spi);
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse_args(argc, argv);
  auto nl = XfrmSocket::open();
  if (!nl) {
    std::fprintf(stderr, "sa_offload: %s\n", nl.error().c_str());
    return kUsage;
  }
  if (a.cmd == "add") return cmd_add(*nl, a);
  if (a.cmd == "get") return cmd_get(*nl, a);
  if (a.cmd == "del") return cmd_del(*nl, a);
  usage("unknown command");
}
