// sealnet-wire: the DPDK wire harness (a test and bench tool, not the product).
//
//   sealnet-wire send    numbered UDP flows at a set rate, through the kernel
//                        (--via socket: the real pod path, XFRM included) or
//                        raw on an interface (--via dpdk, optionally already
//                        ESP-encrypted with a key-file key, for tests)
//   sealnet-wire capture frames on an interface through DPDK (net_af_packet or
//                        net_af_xdp, no hugepages): ESP is decrypted (see
//                        dpdk.h) and every inner datagram is checked against
//                        what was sent; a plaintext frame or a decrypt failure
//                        fails the run
//   sealnet-wire recv    datagrams on a kernel UDP socket (the far pod's view)
//
// Each prints one JSON summary on stdout. Exit status: 0 pass, 1 the wire
// check failed (see "failures"), 2 bad usage or set-up.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "bench/wire/audit.h"
#include "bench/wire/capture.h"
#include "bench/wire/datagram.h"
#include "bench/wire/dpdk.h"
#include "bench/wire/esp.h"
#include "bench/wire/nodes.h"
#include "core/fd.h"
#include "core/netns.h"
#include "datapath/config.h"
#include "keys/keys.h"

namespace {

using namespace sealnet;
using namespace sealnet::wire;

constexpr int kFail = 1;
constexpr int kSetup = 2;

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

int setup_error(const std::string& cmd, const Error& e) {
  std::cerr << "sealnet-wire " << cmd << ": " << e.message() << "\n";
  return kSetup;
}

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

std::string default_prefix(const char* what) {
  return std::string("sealnet-wire-") + what + "-" + std::to_string(getpid());
}

void sleep_until(uint64_t t_ns) {
  for (;;) {
    const uint64_t now = dpdk::monotonic_ns();
    if (now >= t_ns) return;
    // Sleep most of a long wait, spin the last stretch: nanosleep overshoots.
    if (t_ns - now > 100'000) {
      timespec ts{0, static_cast<long>(t_ns - now - 50'000)};
      nanosleep(&ts, nullptr);
    }
  }
}

struct Common {
  std::string netns;
  bool verbose = false;
  std::string eal_prefix;
};

struct KeyArgs {
  std::string key_file;
  std::vector<std::string> spis;
  std::vector<std::string> nodes;  // --node ID=IPV4
  std::string config;              // the agent's config: its node and static peers
  std::string esn = "auto";
};

// The nodes whose SPIs (sealnet's layout) the capture resolves: the config's
// node and peers, then --node flags.
Result<NodeTable> load_nodes(const KeyArgs& k, const std::optional<config::AgentConfig>& c) {
  std::vector<WireNode> nodes;
  if (c) {
    auto t = NodeTable::from_config(*c);
    if (!t) return std::unexpected(t.error());
    nodes = t->nodes();
  }
  for (const auto& n : k.nodes) {
    auto w = parse_node_flag(n);
    if (!w) return std::unexpected(w.error());
    nodes.push_back(*w);
  }
  return NodeTable::make(std::move(nodes));
}

Result<SaCatalog> load_catalog(const KeyArgs& k) {
  std::optional<config::AgentConfig> conf;
  if (!k.config.empty()) {
    auto c = config::load_agent_config(k.config);
    if (!c) return std::unexpected(c.error());
    conf = std::move(*c);
  }
  // The key file the agent reads, unless another is named.
  auto keys = keys::load_key_file(k.key_file.empty() && conf ? conf->key_file : k.key_file);
  if (!keys) return std::unexpected(keys.error());
  std::vector<SpiBinding> spis;
  for (const auto& s : k.spis) {
    auto b = parse_spi_binding(s);
    if (!b) return std::unexpected(b.error());
    spis.push_back(*b);
  }
  CatalogOptions opts;
  auto nodes = load_nodes(k, conf);
  if (!nodes) return std::unexpected(nodes.error());
  opts.nodes = std::move(*nodes);
  auto esn = parse_esn_mode(k.esn);
  if (!esn) return std::unexpected(esn.error());
  opts.esn = *esn;
  if (spis.empty() && opts.nodes.empty())
    return fail(0, "parse arguments", "--node/--config/--spi",
                "a key file needs the nodes (--node ID=IPV4 or --config: sealnet's SPIs) or an --spi");
  return SaCatalog::make(std::move(*keys), std::move(spis), std::move(opts));
}

bool has_key(const KeyArgs& k) { return !k.key_file.empty() || !k.config.empty(); }

// ---- send ----------------------------------------------------------------

struct SendArgs {
  std::string via = "socket";
  std::string iface, driver = "af_packet";
  std::string src, dst, dst_mac, src_mac;
  uint16_t port = 5001, src_port = 40000;
  uint32_t flows = 1;
  uint64_t count = 1000, rate = 1000;
  size_t size = 64;
  KeyArgs key;
  std::string outer_src, outer_dst;
};

nlohmann::json send_summary(uint64_t sent, uint64_t failed, uint64_t t0, uint64_t t1) {
  const double s = static_cast<double>(t1 - t0) / 1e9;
  return {{"sent", sent},
          {"send_failures", failed},
          {"seconds", s},
          {"rate_pps", s > 0 ? static_cast<double>(sent) / s : 0.0}};
}

int send_socket(const SendArgs& a, FlowPlan plan) {
  // One connected socket per flow: the kernel picks the source address (the
  // route's), which the stamp must carry for the receiver to check it.
  std::vector<Fd> socks;
  for (uint32_t f = 0; f < plan.flows; ++f) {
    Fd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in local{AF_INET, htons(plan.endpoints(f).sport), {}, {}};
    sockaddr_in peer{AF_INET, htons(plan.base.dport), {}, {}};
    std::memcpy(&peer.sin_addr, plan.base.dst.bytes.data(), 4);
    if (!s || bind(s.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
        connect(s.get(), reinterpret_cast<sockaddr*>(&peer), sizeof peer) != 0)
      return setup_error(
          "send", fail_errno("bind/connect UDP", "flow " + std::to_string(f) + " to " + a.dst).error());
    socklen_t len = sizeof local;
    getsockname(s.get(), reinterpret_cast<sockaddr*>(&local), &len);
    if (f == 0) std::memcpy(plan.base.src.bytes.data(), &local.sin_addr, 4);
    socks.push_back(std::move(s));
  }
  plan.base.src.family = AF_INET;
  uint64_t sent = 0, failed = 0;
  const uint64_t t0 = dpdk::monotonic_ns();
  for (uint64_t i = 0; i < plan.count && !g_stop; ++i) {
    sleep_until(t0 + due_ns(i, a.rate));
    const Stamp st = plan.stamp(i, dpdk::monotonic_ns());
    const auto payload = encode_datagram(st, plan.size);
    if (::send(socks[st.flow].get(), payload.data(), payload.size(), 0) ==
        static_cast<ssize_t>(payload.size()))
      ++sent;
    else
      ++failed;  // EPERM from a blocking policy, ENOBUFS, ...: counted, the run goes on
  }
  std::cout << send_summary(sent, failed, t0, dpdk::monotonic_ns()).dump() << "\n";
  return failed ? kFail : 0;
}

int send_dpdk(const SendArgs& a, const Common& c, const FlowPlan& plan) {
  auto driver = dpdk::parse_driver(a.driver);
  if (!driver) return setup_error("send", driver.error());
  auto dst_mac = MacAddr::parse(a.dst_mac);
  if (!dst_mac) return setup_error("send", dst_mac.error());
  std::optional<EspSa> sa;
  if (has_key(a.key)) {
    auto catalog = load_catalog(a.key);
    auto osrc = IpAddr::parse(a.outer_src), odst = IpAddr::parse(a.outer_dst);
    if (!catalog) return setup_error("send", catalog.error());
    if (!osrc || !odst || a.key.spis.size() != 1)
      return setup_error("send", Error{0, "parse arguments", "--outer-src/--outer-dst/--spi",
                                       "ESP sending needs both node addresses and exactly one --spi"});
    auto entry = catalog->find(parse_spi_binding(a.key.spis[0])->spi, *osrc, *odst);
    if (!entry) return setup_error("send", entry.error());
    sa = *entry->sa;
    sa->esn = a.key.esn == "on";
  }
  dpdk::EalConfig ec{c.eal_prefix.empty() ? default_prefix("send") : c.eal_prefix,
                     {dpdk::port_vdev(*driver, a.iface)},
                     allowed_cpus(),
                     256,
                     c.verbose};
  auto eal = dpdk::Eal::init(ec);
  if (!eal) return setup_error("send", eal.error());
  auto pool = dpdk::make_mbuf_pool("tx", 4095, 2048);
  if (!pool) return setup_error("send", pool.error());
  auto port = dpdk::EthPort::open(dpdk::port_name(*driver), pool->get(), false);
  if (!port) return setup_error("send", port.error());
  MacAddr src_mac = (*port)->mac();
  if (!a.src_mac.empty()) {
    auto m = MacAddr::parse(a.src_mac);
    if (!m) return setup_error("send", m.error());
    src_mac = *m;
  }
  uint64_t sent = 0, failed = 0;
  const uint64_t t0 = dpdk::monotonic_ns();
  for (uint64_t i = 0; i < plan.count && !g_stop; ++i) {
    sleep_until(t0 + due_ns(i, a.rate));
    const Stamp st = plan.stamp(i, dpdk::monotonic_ns());
    std::vector<uint8_t> l3 = build_ipv4_udp(st.ep, encode_datagram(st, plan.size), static_cast<uint16_t>(i));
    if (sa) {
      // ESP sequence numbers start at 1 (RFC 4303); the IV only has to be unique.
      auto esp = seal_tunnel(*sa, i + 1, i + 1, l3, static_cast<uint16_t>(i));
      if (!esp) return setup_error("send", esp.error());
      l3 = std::move(*esp);
    }
    const auto frame = build_ethernet(*dst_mac, src_mac, kEtherTypeIpv4, l3);
    rte_mbuf* m = rte_pktmbuf_alloc(pool->get());
    char* room = m ? rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size())) : nullptr;
    if (!room) {
      if (m) rte_pktmbuf_free(m);
      ++failed;
      continue;
    }
    std::memcpy(room, frame.data(), frame.size());
    // af_packet takes a frame or leaves it; retry briefly before counting a drop.
    bool out = false;
    for (int tries = 0; tries < 1000 && !out; ++tries) out = (*port)->tx(&m, 1) == 1;
    if (out)
      ++sent;
    else {
      rte_pktmbuf_free(m);
      ++failed;
    }
  }
  const uint64_t t1 = dpdk::monotonic_ns();
  std::cout << send_summary(sent, failed, t0, t1).dump() << "\n";
  return failed ? kFail : 0;
}

// ---- capture -------------------------------------------------------------

struct CaptureArgs {
  std::string iface, driver = "af_packet", crypto = "aesni_gcm";
  KeyArgs key;
  std::vector<std::string> protect;
  std::optional<uint64_t> expect;
  double timeout = 10, idle = 0, linger = 0.2;
  std::string ready_file;
};

int capture(const CaptureArgs& a, const Common& c) {
  auto driver = dpdk::parse_driver(a.driver);
  if (!driver) return setup_error("capture", driver.error());
  auto engine = dpdk::parse_engine(a.crypto);
  if (!engine) return setup_error("capture", engine.error());
  std::vector<IpPrefix> protect;
  for (const auto& p : a.protect) {
    auto pr = IpPrefix::parse(p);
    if (!pr) return setup_error("capture", pr.error());
    protect.push_back(*pr);
  }
  std::optional<SaCatalog> catalog;
  if (has_key(a.key)) {
    auto cat = load_catalog(a.key);
    if (!cat) return setup_error("capture", cat.error());
    catalog = std::move(*cat);
  }
  dpdk::EalConfig ec{c.eal_prefix.empty() ? default_prefix("capture") : c.eal_prefix,
                     {dpdk::port_vdev(*driver, a.iface)},
                     allowed_cpus(),
                     256,
                     c.verbose};
  if (catalog) ec.vdevs.push_back(dpdk::engine_vdev(*engine));
  auto eal = dpdk::Eal::init(ec);
  if (!eal) return setup_error("capture", eal.error());
  auto pool = dpdk::make_mbuf_pool("rx", 8191, 2048);
  if (!pool) return setup_error("capture", pool.error());
  std::unique_ptr<dpdk::IpsecInbound> inbound;
  if (catalog) {
    auto in = dpdk::IpsecInbound::make(*engine, 1024);
    if (!in) return setup_error("capture", in.error());
    inbound = std::move(*in);
  }
  auto port = dpdk::EthPort::open(dpdk::port_name(*driver), pool->get(), true);
  if (!port) return setup_error("capture", port.error());
  if (!a.ready_file.empty()) Fd(open(a.ready_file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));

  WireAudit audit(catalog.has_value(), protect);
  const uint64_t t0 = dpdk::monotonic_ns();
  uint64_t last_rx = t0, done_at = 0;
  constexpr uint16_t kBurst = dpdk::IpsecInbound::kBurst;
  CaptureStep step(audit, catalog ? &*catalog : nullptr, inbound.get());
  while (!g_stop) {
    const uint64_t now = dpdk::monotonic_ns();
    if (now - t0 > static_cast<uint64_t>(a.timeout * 1e9)) break;
    if (a.idle > 0 && last_rx != t0 && now - last_rx > static_cast<uint64_t>(a.idle * 1e9)) break;
    if (a.expect && !done_at && audit.datagrams() >= *a.expect) done_at = now;
    // Linger after the last expected datagram: a late duplicate or a
    // plaintext copy must still be seen.
    if (done_at && now - done_at > static_cast<uint64_t>(a.linger * 1e9)) break;
    rte_mbuf* rx[kBurst];
    const uint16_t n = (*port)->rx(rx, kBurst);
    if (n == 0) {
      usleep(50);  // af_packet has no interrupt mode here; a short nap keeps the shared core free
      continue;
    }
    const uint64_t rx_ns = dpdk::monotonic_ns();
    last_rx = rx_ns;
    if (auto st = step.on_burst(rx, n, rx_ns); !st) return setup_error("capture", st.error());
  }
  const auto report = audit.report(a.expect, static_cast<double>(dpdk::monotonic_ns() - t0) / 1e9);
  auto j = to_json(report);
  j["decrypt_ns_per_frame"] =
      report.decrypted ? nlohmann::json(static_cast<double>(step.busy_ns()) /
                                        static_cast<double>(report.decrypted + report.decrypt_failures))
                       : nlohmann::json();
  j["crypto"] = catalog ? a.crypto : "none";
  j["esn"] = catalog ? a.key.esn : "none";
  j["sas"] = catalog ? catalog->sas_json() : nlohmann::json::array();
  const auto why = verdict(report, a.expect.has_value());
  j["failures"] = why;
  std::cout << j.dump() << "\n";
  return why.empty() ? 0 : kFail;
}

// ---- recv ----------------------------------------------------------------

struct RecvArgs {
  uint16_t port = 5001;
  std::optional<uint64_t> expect;
  double timeout = 10, linger = 0.2;
  std::string ready_file;
};

int recv_socket(const RecvArgs& a) {
  Fd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in local{AF_INET, htons(a.port), {}, {}};
  if (!s || bind(s.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
    return setup_error("recv", fail_errno("bind UDP", "port " + std::to_string(a.port)).error());
  int big = 4 << 20;
  setsockopt(s.get(), SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  if (!a.ready_file.empty()) Fd(open(a.ready_file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  WireAudit audit(false, {});
  const uint64_t t0 = dpdk::monotonic_ns();
  uint64_t done_at = 0;
  // IP_PKTINFO: the address each datagram was sent to, which the stamp must match.
  const int on = 1;
  setsockopt(s.get(), IPPROTO_IP, IP_PKTINFO, &on, sizeof on);
  std::vector<uint8_t> buf(65536);
  alignas(cmsghdr) char control[256];
  while (!g_stop) {
    const uint64_t now = dpdk::monotonic_ns();
    if (now - t0 > static_cast<uint64_t>(a.timeout * 1e9)) break;
    if (a.expect && !done_at && audit.datagrams() >= *a.expect) done_at = now;
    if (done_at && now - done_at > static_cast<uint64_t>(a.linger * 1e9)) break;
    pollfd p{s.get(), POLLIN, 0};
    if (poll(&p, 1, 10) <= 0) continue;
    sockaddr_in from{};
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = recvmsg(s.get(), &msg, 0);
    if (n < 0) continue;
    // Rebuild the datagram the kernel delivered, so the one checker judges it.
    UdpEndpoints ep;
    ep.src.family = ep.dst.family = AF_INET;
    std::memcpy(ep.src.bytes.data(), &from.sin_addr, 4);
    ep.sport = ntohs(from.sin_port);
    ep.dport = a.port;
    for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
      if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
        in_pktinfo info;
        std::memcpy(&info, CMSG_DATA(cm), sizeof info);
        std::memcpy(ep.dst.bytes.data(), &info.ipi_addr, 4);
      }
    const auto ip = build_ipv4_udp(ep, std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)), 0);
    const auto frame = build_ethernet({}, {}, kEtherTypeIpv4, ip);
    audit.on_frame(frame, dpdk::monotonic_ns());
  }
  const auto report = audit.report(a.expect, static_cast<double>(dpdk::monotonic_ns() - t0) / 1e9);
  auto j = to_json(report.flows);
  j["invalid"] = report.invalid_inner;
  j["seconds"] = report.seconds;
  j["problems"] = report.problems;
  auto why = verdict(report, a.expect.has_value());
  j["failures"] = why;
  std::cout << j.dump() << "\n";
  return why.empty() ? 0 : kFail;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sealnet-wire: DPDK wire harness (numbered UDP flows; ESP capture, decrypt and check)"};
  app.require_subcommand(1);
  Common common;
  app.add_option("--netns", common.netns, "run inside this network namespace (name or path)");
  app.add_flag("--verbose", common.verbose, "show the DPDK EAL log");
  app.add_option("--eal-prefix", common.eal_prefix, "EAL --file-prefix (default: unique per process)");

  SendArgs sa;
  sa.key.esn = "off";  // a sender knows its SA: no auto
  auto* send = app.add_subcommand("send", "send numbered UDP flows at a set rate");
  send->add_option("--via", sa.via, "socket (kernel UDP, the real path) or dpdk (raw frames on --iface)")
      ->check(CLI::IsMember({"socket", "dpdk"}));
  send->add_option("--iface", sa.iface, "interface for --via dpdk");
  send->add_option("--driver", sa.driver, "af_packet or af_xdp");
  send->add_option("--src", sa.src, "inner source IPv4 (--via dpdk)");
  send->add_option("--dst", sa.dst, "destination IPv4")->required();
  send->add_option("--dst-mac", sa.dst_mac, "next hop MAC (--via dpdk)");
  send->add_option("--src-mac", sa.src_mac, "source MAC (--via dpdk; default the port's)");
  send->add_option("--port", sa.port, "destination UDP port");
  send->add_option("--src-port", sa.src_port, "source port of flow 0; flow f uses src-port + f");
  send->add_option("--flows", sa.flows, "number of flows")->check(CLI::Range(1u, 65535u));
  send->add_option("--count", sa.count, "datagrams in all, round-robin over the flows");
  send->add_option("--rate", sa.rate, "datagrams per second (0: as fast as possible)");
  send->add_option("--size", sa.size, "UDP payload bytes (at least 44)")
      ->check(CLI::Range(size_t{44}, size_t{1400}));
  send->add_option("--key-file", sa.key.key_file, "--via dpdk: send ESP made with this key file");
  send->add_option("--spi", sa.key.spis, "SPI[:KEYID] of the ESP to send");
  send->add_option("--esn", sa.key.esn, "on: 64-bit sequence numbers (seq_hi in the AAD), off (default)")
      ->check(CLI::IsMember({"on", "off"}));
  send->add_option("--outer-src", sa.outer_src, "tunnel source node IPv4");
  send->add_option("--outer-dst", sa.outer_dst, "tunnel destination node IPv4");

  CaptureArgs ca;
  auto* cap = app.add_subcommand("capture", "capture a wire, decrypt ESP, check every datagram");
  cap->add_option("--iface", ca.iface, "interface to attach to")->required();
  cap->add_option("--driver", ca.driver, "af_packet or af_xdp");
  cap->add_option("--crypto", ca.crypto, "aesni_gcm (intel-ipsec-mb) or openssl");
  cap->add_option("--key-file", ca.key.key_file,
                  "sealnet/Cilium-format key file (mode 0600; default: --config's); ESP becomes mandatory");
  cap->add_option("--node", ca.key.nodes,
                  "ID=IPV4 of a node (repeat): sealnet's SPIs and per-pair keys between the nodes");
  cap->add_option("--config", ca.key.config,
                  "the agent's config file: its node and static peers are the nodes");
  cap->add_option("--spi", ca.key.spis,
                  "SPI[:KEYID], a manual SA (Cilium: SPI = key id); repeat for several");
  cap->add_option("--esn", ca.key.esn, "auto (default: per SA, ESN AAD first, then without), on or off")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  cap->add_option("--protect", ca.protect, "CIDR; non-ESP IPv4 between two addresses in these is plaintext");
  cap->add_option("--expect", ca.expect, "datagrams the sender sent; stop once all arrived");
  cap->add_option("--timeout", ca.timeout, "stop after this many seconds");
  cap->add_option("--idle", ca.idle, "stop after this many seconds without a frame (once frames began)");
  cap->add_option("--linger", ca.linger, "keep watching this long after the last expected datagram");
  cap->add_option("--ready-file", ca.ready_file, "created once the port is attached");

  RecvArgs ra;
  auto* rcv = app.add_subcommand("recv", "receive datagrams on a kernel UDP socket and check them");
  rcv->add_option("--port", ra.port, "UDP port");
  rcv->add_option("--expect", ra.expect, "datagrams the sender sent");
  rcv->add_option("--timeout", ra.timeout, "stop after this many seconds");
  rcv->add_option("--linger", ra.linger, "keep listening this long after the last expected datagram");
  rcv->add_option("--ready-file", ra.ready_file, "created once the socket is bound");

  CLI11_PARSE(app, argc, argv);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);

  std::optional<NetnsScope> ns;
  if (!common.netns.empty()) {
    auto s = NetnsScope::enter(common.netns);
    if (!s) return setup_error("", s.error());
    ns.emplace(std::move(*s));
  }

  if (send->parsed()) {
    FlowPlan plan;
    auto dst = IpAddr::parse(sa.dst);
    if (!dst || dst->family != AF_INET)
      return setup_error("send", Error{0, "parse --dst", sa.dst, "not an IPv4 address"});
    plan.base.dst = *dst;
    plan.base.dport = sa.port;
    plan.base.sport = sa.src_port;
    plan.flows = sa.flows;
    plan.count = sa.count;
    plan.size = sa.size;
    if (sa.via == "socket") return send_socket(sa, plan);
    auto src = IpAddr::parse(sa.src);
    if (!src || src->family != AF_INET || sa.iface.empty() || sa.dst_mac.empty())
      return setup_error(
          "send", Error{0, "parse arguments", "--via dpdk", "needs --iface, --src (IPv4) and --dst-mac"});
    plan.base.src = *src;
    return send_dpdk(sa, common, plan);
  }
  if (cap->parsed()) return capture(ca, common);
  return recv_socket(ra);
}
