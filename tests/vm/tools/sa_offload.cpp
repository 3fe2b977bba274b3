// sa_offload: adds, reads back and deletes one ESP SA with XFRMA_OFFLOAD_DEV, through
// sealnet's own XFRM codec (netlink/xfrm_codec.h) and netlink transport
// (netlink/transport.h), so the VM smoke test also proves those against a real kernel.
// The read-back (XFRM_MSG_GETSA) is the proof that an offload attached: the kernel
// turns some refused requests into plain software SAs without an error (veth).
//
//   sa_offload add --dev DEV --src IP --dst IP --spi N [--offload crypto|packet|none]
//                  [--dir out|in] [--mode tunnel|transport] [--reqid N] [--key-bits 128|256]
//   sa_offload get --src IP --dst IP --spi N
//   sa_offload del --src IP --dst IP --spi N
// Exit: 0 done (get: offload attached); 3 get: SA present, no offload attached;
//       1 the kernel refused (errno + extack printed); 2 usage or local error.
// The key is a fixed test key: this tool is for tests only.
#include <linux/netlink.h>
#include <net/if.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "core/text.h"
#include "netlink/transport.h"
#include "netlink/xfrm_codec.h"

namespace {

using namespace sealnet;

enum Exit : int { kOk = 0, kRefused = 1, kUsage = 2, kNoOffload = 3 };

struct Args {
  std::string cmd, dev, src, dst, offload = "crypto", dir = "out", mode = "tunnel";
  uint32_t spi = 0, reqid = 0, key_bits = 128;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(
      stderr,
      "sa_offload: %s\n"
      "usage: sa_offload add --dev DEV --src IP --dst IP --spi N [--offload crypto|packet|none]\n"
      "                      [--dir out|in] [--mode tunnel|transport] [--reqid N] [--key-bits 128|256]\n"
      "       sa_offload get|del --src IP --dst IP --spi N\n",
      why);
  std::exit(kUsage);
}

uint32_t parse_u32(const char* s, const char* what) {
  auto v = parse_unsigned(s, UINT32_MAX);
  if (!v) usage(what);
  return static_cast<uint32_t>(*v);
}

Args parse_args(int argc, char** argv) {
  if (argc < 2) usage("no command");
  Args a;
  a.cmd = argv[1];
  for (int i = 2; i < argc; i += 2) {
    const std::string_view k = argv[i];
    if (i + 1 >= argc) usage("option without value");
    const char* v = argv[i + 1];
    if (k == "--dev")
      a.dev = v;
    else if (k == "--src")
      a.src = v;
    else if (k == "--dst")
      a.dst = v;
    else if (k == "--spi")
      a.spi = parse_u32(v, "bad --spi");
    else if (k == "--reqid")
      a.reqid = parse_u32(v, "bad --reqid");
    else if (k == "--key-bits")
      a.key_bits = parse_u32(v, "bad --key-bits");
    else if (k == "--offload")
      a.offload = v;
    else if (k == "--dir")
      a.dir = v;
    else if (k == "--mode")
      a.mode = v;
    else
      usage("unknown option");
  }
  if (a.src.empty() || a.dst.empty() || a.spi == 0) usage("--src, --dst and --spi are required");
  return a;
}

IpAddr addr(const std::string& s) {
  auto a = IpAddr::parse(s);
  if (!a) usage("not an IP address");
  return *a;
}

xfrm::SaId make_id(const Args& a) { return {addr(a.dst), a.spi, 50}; }

void print_error(const char* op, const Error& e) {
  std::printf("%s: refused: errno %d (%s)%s%s\n", op, e.err, std::strerror(e.err),
              e.detail.empty() ? "" : "; extack: ", e.detail.c_str());
}

int cmd_add(nl::Socket& sock, const Args& a) {
  xfrm::SaSpec s;
  s.id = make_id(a);
  s.saddr = addr(a.src);
  s.reqid = a.reqid;
  if (a.key_bits != 128 && a.key_bits != 256) usage("--key-bits is 128 or 256");
  if (a.mode == "tunnel")
    s.mode = xfrm::SaMode::tunnel;
  else if (a.mode == "transport")
    s.mode = xfrm::SaMode::transport;
  else
    usage("--mode is tunnel or transport");
  if (a.dir != "out" && a.dir != "in") usage("--dir is out or in");
  // AES key + 4-byte salt (RFC 4106): a fixed, public test pattern.
  std::array<uint8_t, 36> key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(0x30 + i);
  s.aead = xfrm::Aead("rfc4106(gcm(aes))", std::span(key.data(), a.key_bits / 8 + 4), 128);
  s.replay_window = 32;
  if (a.offload != "none") {
    if (a.offload != "crypto" && a.offload != "packet") usage("--offload is crypto, packet or none");
    if (a.dev.empty()) usage("--dev is required with offload");
    const int ifindex = static_cast<int>(if_nametoindex(a.dev.c_str()));
    if (ifindex == 0) {
      std::fprintf(stderr, "sa_offload: no device %s in this namespace\n", a.dev.c_str());
      return kUsage;
    }
    s.offload = xfrm::OffloadRequest{
        ifindex, a.offload == "packet" ? xfrm::OffloadMode::packet : xfrm::OffloadMode::crypto,
        a.dir == "in" ? xfrm::Direction::in : xfrm::Direction::out};
  }
  auto msg = xfrm::encode_new_sa(s);
  if (!msg) {
    std::fprintf(stderr, "sa_offload: %s\n", msg.error().message().c_str());
    return kUsage;
  }
  if (auto r = sock.request(std::move(*msg), "XFRM_MSG_NEWSA"); !r) {
    print_error("NEWSA", r.error());
    return kRefused;
  }
  std::printf("NEWSA: accepted spi=0x%x mode=%s offload=%s dir=%s dev=%s\n", a.spi, a.mode.c_str(),
              a.offload.c_str(), a.dir.c_str(), a.dev.empty() ? "-" : a.dev.c_str());
  return kOk;
}

int cmd_get(nl::Socket& sock, const Args& a) {
  auto msg = xfrm::encode_get_sa(make_id(a));
  if (!msg) return kUsage;
  auto r = sock.request(std::move(*msg), "XFRM_MSG_GETSA");
  if (!r) {
    print_error("GETSA", r.error());
    return kRefused;
  }
  std::optional<xfrm::SaInfo> st;
  for (const auto& bytes : *r) {
    auto views = nl::split_messages(bytes);
    if (!views) continue;
    for (const auto& v : *views)
      if (auto info = xfrm::decode_sa(v)) st = std::move(*info);
  }
  if (!st) {
    std::printf("GETSA: no SA in the reply\n");
    return kRefused;
  }
  std::printf("sa: spi=0x%x mode=%s reqid=%u aead=%s packets=%llu bytes=%llu\n", a.spi,
              st->mode == xfrm::SaMode::tunnel ? "tunnel" : "transport", st->reqid,
              st->aead_name.empty() ? "-" : st->aead_name.c_str(),
              static_cast<unsigned long long>(st->current.packets),
              static_cast<unsigned long long>(st->current.bytes));
  if (!st->offload) {
    std::printf("offload: none\n");
    return kNoOffload;
  }
  std::array<char, IF_NAMESIZE> name{};
  const xfrm::OffloadInfo& o = *st->offload;
  const char* dev = if_indextoname(static_cast<unsigned>(o.ifindex), name.data()) ? name.data() : "?";
  std::printf("offload: attached dev=%s ifindex=%d flags=0x%x type=%s dir=%s\n", dev, o.ifindex, o.flags,
              xfrm::to_string(o.mode()), xfrm::to_string(o.dir()));
  return kOk;
}

int cmd_del(nl::Socket& sock, const Args& a) {
  auto msg = xfrm::encode_delete_sa(make_id(a));
  if (!msg) return kUsage;
  if (auto r = sock.request(std::move(*msg), "XFRM_MSG_DELSA"); !r) {
    print_error("DELSA", r.error());
    return kRefused;
  }
  std::printf("DELSA: removed spi=0x%x\n", a.spi);
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse_args(argc, argv);
  auto sock = nl::Socket::open(NETLINK_XFRM);
  if (!sock) {
    std::fprintf(stderr, "sa_offload: %s\n", sock.error().message().c_str());
    return kUsage;
  }
  if (a.cmd == "add") return cmd_add(*sock, a);
  if (a.cmd == "get") return cmd_get(*sock, a);
  if (a.cmd == "del") return cmd_del(*sock, a);
  usage("unknown command");
}
