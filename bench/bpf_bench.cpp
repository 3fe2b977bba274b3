// ns/packet of sealnet's BPF programs through BPF_PROG_TEST_RUN (needs root).
//
// The classifier (from_pod: parse, ipcache lookup, nodes, key choice,
// bpf_fib_lookup, devices, mark) is measured next to bench/fib_baseline.bpf.c,
// which does only the FIB lookup, in alternating runs of the same process, so
// the ratio holds on a noisy shared machine. The FIB answers from real routes
// and a neighbour in a private network namespace the process unshares into at
// start (it disappears when the process exits); nothing is sent.
//
//   sudo build/bench/bench_bpf [--benchmark_filter=...]
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "bpf/packet.h"
#include "bpf/programs.h"
#include "fib_baseline.skel.h"

namespace sealnet::bpf {
namespace {

constexpr uint32_t kLocalNode = 1;
constexpr uint32_t kNodes = 5000;         // remote nodes 2..5001
constexpr uint32_t kBaselinePeer = 4242;  // any node: the FIB answers alike for each
constexpr uint32_t kRepeat = 100000;      // BPF_PROG_TEST_RUN repeats per measurement

// Node n's address: 10.200.0.0/16, connected on the uplink `up0`.
IpAddr node_addr(uint32_t n) {
  IpAddr a{};
  a.family = AF_INET;
  a.bytes[0] = 10;
  a.bytes[1] = 200;
  a.bytes[2] = static_cast<uint8_t>(n >> 8);
  a.bytes[3] = static_cast<uint8_t>(n);
  return a;
}

// ipcache entry k: a /32 pod address in 10.0.0.0/10, spread over the nodes.
IpAddr pod_addr(uint32_t k) {
  IpAddr a{};
  a.family = AF_INET;
  const uint32_t v = (10u << 24) | (k + 1);
  for (int i = 0; i < 4; ++i) a.bytes[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
  return a;
}
uint32_t pod_node(uint32_t k) { return 2 + k % kNodes; }

// Node n's pod CIDR in the realistic shape: 10.<n/256>.<n%256>.0/24, below
// 10.63.255.0/24 (the local node's) for every n up to 5001.
IpPrefix pod_cidr(uint32_t n) {
  IpAddr a{};
  a.family = AF_INET;
  a.bytes[0] = 10;
  a.bytes[1] = static_cast<uint8_t>(n >> 8);
  a.bytes[2] = static_cast<uint8_t>(n);
  return {a, 24};
}

bool sh(const std::string& cmd) {
  if (std::system(cmd.c_str()) == 0) return true;
  std::fprintf(stderr, "bench_bpf: set-up failed: %s\n", cmd.c_str());
  return false;
}

// The private namespace: a pod device (the ingress the FIB simulates
// forwarding from) and an uplink with a permanent neighbour for the peer.
bool build_netns() {
  if (::unshare(CLONE_NEWNET) != 0) {
    std::perror("bench_bpf: unshare(CLONE_NEWNET)");
    return false;
  }
  // A permanent neighbour for every node, as a busy node's table would hold.
  // A file of our own (mkstemp: O_EXCL, mode 0600, an unpredictable name), never
  // one a user could have planted a symlink at; its name alone reaches the shell.
  char batch_path[] = "/tmp/sealnet-bench-neigh.XXXXXX";
  const int batch_fd = ::mkstemp(batch_path);
  if (batch_fd < 0) {
    std::perror("bench_bpf: mkstemp");
    return false;
  }
  const std::string batch = batch_path;
  if (FILE* f = ::fdopen(batch_fd, "w")) {
    for (uint32_t n = 2; n < 2 + kNodes; ++n)
      std::fprintf(f, "neigh replace %s lladdr 02:00:00:00:%02x:%02x dev up0 nud permanent\n",
                   node_addr(n).str().c_str(), n >> 8 & 0xff, n & 0xff);
    std::fclose(f);
  } else {
    ::close(batch_fd);
  }
  const bool ok = sh("ip link set lo up") && sh("ip link add pod0 type veth peer name pod0p") &&
                  sh("ip link add up0 type veth peer name up0p") &&
                  sh("for d in pod0 pod0p up0 up0p; do ip link set $d up || exit 1; done") &&
                  sh("sysctl -qw net.ipv4.conf.all.forwarding=1") &&
                  sh("ip addr add 10.200.0.1/16 dev up0") && sh("ip addr add 10.63.255.254/32 dev pod0") &&
                  sh("ip -batch " + batch);
  std::remove(batch.c_str());
  return ok;
}

uint32_t ifindex(const char* dev) { return ::if_nametoindex(dev); }

// Node n's IPv6 address (the /128 entries of shape D) and pod CIDR (/64).
IpAddr node_addr6(uint32_t n) {
  IpAddr a = *IpAddr::parse("fd00:200::");
  a.bytes[14] = static_cast<uint8_t>(n >> 8);
  a.bytes[15] = static_cast<uint8_t>(n);
  return a;
}
IpPrefix pod_cidr6(uint32_t n) {
  IpAddr a = *IpAddr::parse("fd01::");
  a.bytes[6] = static_cast<uint8_t>(n >> 8);
  a.bytes[7] = static_cast<uint8_t>(n);
  return {a, 64};
}

// Shape C's node n: a /24 (n % 3 == 0), two /26 of its /24 (n % 3 == 1), or
// 16 /32 pod addresses in its /24 (n % 3 == 2).
constexpr uint32_t kShapeCHosts = 16;
constexpr uint32_t kNonCluster = 1000;
// Non-cluster CIDR k (node id 0): /16, /20, /28 and /8 in turn, outside the
// cluster's 10.0.0.0/8 (so they shadow nothing).
IpPrefix non_cluster(uint32_t k) {
  IpAddr a{};
  a.family = AF_INET;
  static constexpr uint8_t kLens[] = {16, 20, 28, 8};
  const uint8_t len = kLens[k % 4];
  const uint32_t v = len == 8 ? (static_cast<uint32_t>(100 + k / 4 % 100) << 24)
                              : (static_cast<uint32_t>(172 + k / 4 % 20) << 24) |
                                    (static_cast<uint32_t>(k / 4 / 20 * 16 + (k % 4)) << 16) |
                                    (len == 28 ? 0x1230u : 0u);
  for (int i = 0; i < 4; ++i) a.bytes[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
  return {a, len};
}

// What the ipcache holds besides the 5,000 node addresses (/32 each) and the
// local node's 10.63.255.0/24:
//  - PodAddresses: `entries` /32 pod addresses (every pod its own entry; shape
//    A at 100,000);
//  - PodCidrs: one /24 pod CIDR per node, as a cluster with per-node pod CIDRs
//    has it (shape B);
//  - Mixed: shape C above, plus 1,000 non-cluster CIDRs; the packet goes to a
//    pod of a /24 node (the longest walk of the list among cluster entries);
//    MixedTo26 / MixedTo32: the same table, the packet to a pod of a /26 node
//    (one hash probe: a /26 has no direct word) or to a /32 pod;
//  - Ipv6: the node addresses as /128 and a /64 pod CIDR per node (shape D,
//    an IPv6 pod packet; the outer ESP stays IPv4).
enum class Shape { PodAddresses, PodCidrs, Mixed, MixedTo26, MixedTo32, Ipv6 };

struct Loaded {
  Datapath dp;
  std::vector<uint8_t> frame;  // pod -> a pod of `peer` in the middle of the table
  uint32_t peer;
};

std::optional<Loaded> load_classifier(Shape shape, uint32_t entries, std::string& err) {
  auto dp = Datapath::load({});
  if (!dp) {
    err = dp.error().message();
    return std::nullopt;
  }
  auto check = [&](const Status& s) {
    if (!s && err.empty()) err = s.error().message();
    return static_cast<bool>(s);
  };
  check(dp->set_config(
      {.local_node_id = kLocalNode, .key_id = 3, .fail_closed = 1, .encrypt_host = 0, .events = 0}));
  check(dp->upsert_device(ifindex("up0"), {.slot = 1, .mode = SEALNET_MODE_CRYPTO, .flags = 0, .pad = 0}));
  check(dp->upsert_ipcache(*IpPrefix::parse("10.63.255.0/24"), {kLocalNode, SEALNET_IPCACHE_POD_CIDR}));
  if (shape == Shape::Ipv6)
    check(dp->upsert_ipcache(*IpPrefix::parse("fd01:ffff::/64"), {kLocalNode, SEALNET_IPCACHE_POD_CIDR}));
  for (uint32_t n = 2; n < 2 + kNodes && err.empty(); ++n) {
    sealnet_node_value v{};
    std::memcpy(v.ipv4, node_addr(n).bytes.data(), 4);
    v.peer_key_id = 3;
    v.flags = SEALNET_NODE_HAS_IPV4;
    check(dp->upsert_node(n, v));
    check(dp->upsert_ipcache(IpPrefix::host(node_addr(n)), {n, SEALNET_IPCACHE_NODE_ADDR}));
    const sealnet_ipcache_value pod{n, SEALNET_IPCACHE_POD_CIDR};
    switch (shape) {
      case Shape::PodAddresses: break;
      case Shape::PodCidrs: check(dp->upsert_ipcache(pod_cidr(n), pod)); break;
      case Shape::Ipv6:
        check(dp->upsert_ipcache(IpPrefix::host(node_addr6(n)), {n, SEALNET_IPCACHE_NODE_ADDR}));
        check(dp->upsert_ipcache(pod_cidr6(n), pod));
        break;
      case Shape::Mixed:
      case Shape::MixedTo26:
      case Shape::MixedTo32: {
        IpPrefix c = pod_cidr(n);
        if (n % 3 == 0) {
          check(dp->upsert_ipcache(c, pod));
        } else if (n % 3 == 1) {
          c.len = 26;
          check(dp->upsert_ipcache(c, pod));
          c.addr.bytes[3] = 64;
          check(dp->upsert_ipcache(c, pod));
        } else {
          for (uint32_t h = 1; h <= kShapeCHosts; ++h) {
            c.addr.bytes[3] = static_cast<uint8_t>(h);
            check(dp->upsert_ipcache(IpPrefix::host(c.addr), pod));
          }
        }
        break;
      }
    }
  }
  if (shape == Shape::PodAddresses) {
    for (uint32_t k = 0; k < entries && err.empty(); ++k)
      check(dp->upsert_ipcache(IpPrefix::host(pod_addr(k)), {pod_node(k), SEALNET_IPCACHE_POD_CIDR}));
  }
  if (shape == Shape::Mixed || shape == Shape::MixedTo26 || shape == Shape::MixedTo32) {
    for (uint32_t k = 0; k < kNonCluster && err.empty(); ++k) check(dp->upsert_ipcache(non_cluster(k), {0, 0}));
  }
  if (!err.empty()) return std::nullopt;
  IpAddr src = *IpAddr::parse("10.63.255.7"), dst;
  uint32_t peer;
  switch (shape) {
    case Shape::PodAddresses:
      dst = pod_addr(entries / 2);
      peer = pod_node(entries / 2);
      break;
    case Shape::PodCidrs:
    case Shape::Mixed:
      peer = 3 + kNodes / 2 / 3 * 3;  // n % 3 == 0: a /24 node in shape C
      dst = pod_cidr(peer).addr;
      dst.bytes[3] = 7;
      break;
    case Shape::MixedTo26:
      peer = 4 + kNodes / 2 / 3 * 3;  // n % 3 == 1: two /26
      dst = pod_cidr(peer).addr;
      dst.bytes[3] = 64 + 7;
      break;
    case Shape::MixedTo32:
      peer = 5 + kNodes / 2 / 3 * 3;  // n % 3 == 2: 16 /32 pods
      dst = pod_cidr(peer).addr;
      dst.bytes[3] = 5;
      break;
    case Shape::Ipv6:
      peer = 2 + kNodes / 2;
      src = *IpAddr::parse("fd01:ffff::7");
      dst = pod_cidr6(peer).addr;
      dst.bytes[15] = 7;
      break;
  }
  auto frame = PacketBuilder().ip(src, dst).udp(4000, 5000).payload(64).build();
  return Loaded{std::move(*dp), std::move(frame), peer};
}

// The FIB-only program, set to look up the same node address as the
// classifier it is compared with.
struct Baseline {
  fib_baseline* skel = nullptr;
  explicit Baseline(uint32_t peer) {
    skel = fib_baseline__open();
    if (!skel) return;
    std::memcpy(const_cast<uint32_t*>(&skel->rodata->peer_ipv4), node_addr(peer).bytes.data(), 4);
    if (fib_baseline__load(skel) != 0) {
      fib_baseline__destroy(skel);
      skel = nullptr;
    }
  }
  ~Baseline() { fib_baseline__destroy(skel); }
  Baseline(const Baseline&) = delete;
  Baseline& operator=(const Baseline&) = delete;
  int fd() const { return bpf_program__fd(skel->progs.fib_only); }
};

// One measurement: the kernel's average ns per repeat.
std::optional<double> ns_per_packet(int prog, const std::vector<uint8_t>& frame, uint32_t expect_mark,
                                    benchmark::State& state) {
  auto r = test_run(prog, {.packet = frame, .ifindex = ifindex("pod0"), .mark = 0, .repeat = kRepeat});
  if (!r) {
    state.SkipWithError(r.error().message().c_str());
    return std::nullopt;
  }
  if (expect_mark && r->mark != expect_mark) {
    state.SkipWithError(("unexpected mark " + std::to_string(r->mark)).c_str());
    return std::nullopt;
  }
  return static_cast<double>(r->duration_ns);
}

void BM_FibBaseline(benchmark::State& state) {
  Baseline base(kBaselinePeer);
  if (!base.skel) return state.SkipWithError("fib_baseline did not load");
  const auto frame =
      PacketBuilder().ip(*IpAddr::parse("10.63.255.7"), pod_addr(0)).udp(4000, 5000).payload(64).build();
  double ns = 0;
  for (auto _ : state) {
    auto v = ns_per_packet(base.fd(), frame, ifindex("up0"), state);
    if (!v) return;
    ns += *v;
  }
  state.counters["ns_per_packet"] = ns / static_cast<double>(state.iterations());
}
BENCHMARK(BM_FibBaseline)->Iterations(20)->Unit(benchmark::kMillisecond);

// `prog` on `frame`, alternating with the baseline (the FIB lookup of
// `peer`'s node address) so both see the same machine; ratio = ns / baseline
// ns. `want` is the mark the program must set (0: not checked).
void vs_baseline(benchmark::State& state, int prog, const std::vector<uint8_t>& frame, uint32_t peer,
                 uint32_t want, uint32_t ifidx) {
  Baseline base(peer);
  if (!base.skel) return state.SkipWithError("fib_baseline did not load");
  double ns = 0, base_ns = 0;
  for (auto _ : state) {
    auto b = ns_per_packet(base.fd(), frame, ifindex("up0"), state);
    auto r = test_run(prog, {.packet = frame, .ifindex = ifidx, .mark = 0, .repeat = kRepeat});
    if (!b || !r) return;
    if (want && r->mark != want) return state.SkipWithError(("unexpected mark " + std::to_string(r->mark)).c_str());
    base_ns += *b;
    ns += static_cast<double>(r->duration_ns);
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["ns_per_packet"] = ns / n;
  state.counters["baseline_ns"] = base_ns / n;
  state.counters["ratio"] = ns / base_ns;
}

// The classifier over `shape`, against the baseline.
void classifier_vs_baseline(benchmark::State& state, Shape shape, uint32_t entries) {
  std::string err;
  auto loaded = load_classifier(shape, entries, err);
  if (!loaded) return state.SkipWithError(err.c_str());
  vs_baseline(state, loaded->dp.prog_fd(Program::FromPod), loaded->frame, loaded->peer,
              sealnet_mark_encrypt(loaded->peer, 3, 1), ifindex("pod0"));
}

// An ipcache of state.range(0) /32 pod addresses plus the 5,000 node addresses.
void BM_Classifier(benchmark::State& state) {
  classifier_vs_baseline(state, Shape::PodAddresses, static_cast<uint32_t>(state.range(0)));
  state.counters["ipcache"] = static_cast<double>(state.range(0) + kNodes + 1);
}
BENCHMARK(BM_Classifier)->Arg(1000)->Arg(10000)->Arg(100000)->Iterations(20)->Unit(benchmark::kMillisecond);

// 5,000 nodes, each with its address (/32) and one /24 pod CIDR.
void BM_ClassifierPodCidrs(benchmark::State& state) {
  classifier_vs_baseline(state, Shape::PodCidrs, 0);
  state.counters["ipcache"] = static_cast<double>(2 * kNodes + 1);
}
BENCHMARK(BM_ClassifierPodCidrs)->Iterations(20)->Unit(benchmark::kMillisecond);

// The cost of the events setting (docs/events.md): state.range(0) is
// sealnet_config.events (0 off, 1 drops, 3 drops+flows), shape B. Encrypted:
// a pod packet marked for the SA (with flows on, each repeat after the first
// is an LRU hit that reports nothing). WireDrop: the same packet in clear at
// to_wire, a drop (with drops on, 100 reports a second per CPU, the rest cut
// by the limiter; no reader runs, so the ring buffer fills and reservations fail).
void events_setting(benchmark::State& state, bool wire) {
  std::string err;
  auto loaded = load_classifier(Shape::PodCidrs, 0, err);
  if (!loaded) return state.SkipWithError(err.c_str());
  auto cfg = loaded->dp.config();
  if (!cfg) return state.SkipWithError(cfg.error().message().c_str());
  cfg->events = static_cast<uint8_t>(state.range(0));
  if (auto s = loaded->dp.set_config(*cfg); !s) return state.SkipWithError(s.error().message().c_str());
  if (wire)
    vs_baseline(state, loaded->dp.prog_fd(Program::ToWire), loaded->frame, loaded->peer, 0, ifindex("up0"));
  else
    vs_baseline(state, loaded->dp.prog_fd(Program::FromPod), loaded->frame, loaded->peer,
                sealnet_mark_encrypt(loaded->peer, 3, 1), ifindex("pod0"));
  state.counters["events"] = static_cast<double>(state.range(0));
}
void BM_EventsEncrypted(benchmark::State& state) { events_setting(state, false); }
void BM_EventsWireDrop(benchmark::State& state) { events_setting(state, true); }
BENCHMARK(BM_EventsEncrypted)->Arg(0)->Arg(SEALNET_EV_F_DROPS)->Arg(SEALNET_EV_F_DROPS | SEALNET_EV_F_FLOWS)
    ->Iterations(20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EventsWireDrop)->Arg(0)->Arg(SEALNET_EV_F_DROPS)->Arg(SEALNET_EV_F_DROPS | SEALNET_EV_F_FLOWS)
    ->Iterations(20)->Unit(benchmark::kMillisecond);

// The shapes of issue 17, each with its ratio against the baseline:
// a: 100,000 /32 pods + 5,000 /32 nodes; b: per-node /24 + /32 node address;
// c: mixed /24, /26, /32 + 1,000 non-cluster CIDRs; d: IPv6 /64 + /128.
void BM_IpcacheShapeA(benchmark::State& state) { classifier_vs_baseline(state, Shape::PodAddresses, 100000); }
void BM_IpcacheShapeB(benchmark::State& state) { classifier_vs_baseline(state, Shape::PodCidrs, 0); }
void BM_IpcacheShapeC(benchmark::State& state) { classifier_vs_baseline(state, Shape::Mixed, 0); }
void BM_IpcacheShapeD(benchmark::State& state) { classifier_vs_baseline(state, Shape::Ipv6, 0); }
void BM_IpcacheShapeCTo26(benchmark::State& state) { classifier_vs_baseline(state, Shape::MixedTo26, 0); }
void BM_IpcacheShapeCTo32(benchmark::State& state) { classifier_vs_baseline(state, Shape::MixedTo32, 0); }
BENCHMARK(BM_IpcacheShapeA)->Iterations(20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IpcacheShapeB)->Iterations(20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IpcacheShapeC)->Iterations(20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IpcacheShapeD)->Iterations(20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IpcacheShapeCTo26)->Iterations(20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IpcacheShapeCTo32)->Iterations(20)->Unit(benchmark::kMillisecond);

// Shape B's two other paths against the same baseline: a packet to a pod of
// this node (from_pod stops at its ipcache decision, no FIB lookup) and
// to_wire auditing an ESP packet between two node addresses (two lookups).
void BM_IpcacheShapeBLocalPass(benchmark::State& state) {
  std::string err;
  auto loaded = load_classifier(Shape::PodCidrs, 0, err);
  if (!loaded) return state.SkipWithError(err.c_str());
  const auto frame = PacketBuilder()
                         .ip(*IpAddr::parse("10.63.255.7"), *IpAddr::parse("10.63.255.9"))
                         .udp(4000, 5000)
                         .payload(64)
                         .build();
  vs_baseline(state, loaded->dp.prog_fd(Program::FromPod), frame, loaded->peer, 0, ifindex("pod0"));
}
BENCHMARK(BM_IpcacheShapeBLocalPass)->Iterations(20)->Unit(benchmark::kMillisecond);

void BM_IpcacheShapeBToWire(benchmark::State& state) {
  std::string err;
  auto loaded = load_classifier(Shape::PodCidrs, 0, err);
  if (!loaded) return state.SkipWithError(err.c_str());
  // Our node address is in 10.200/16 too (node 1), so the source resolves.
  if (auto s = loaded->dp.upsert_ipcache(IpPrefix::host(node_addr(kLocalNode)), {kLocalNode, SEALNET_IPCACHE_NODE_ADDR}); !s)
    return state.SkipWithError(s.error().message().c_str());
  const auto frame = PacketBuilder().ip(node_addr(kLocalNode), node_addr(loaded->peer)).esp(0x100, 1).payload(1400).build();
  vs_baseline(state, loaded->dp.prog_fd(Program::ToWire), frame, loaded->peer, 0, ifindex("up0"));
}
BENCHMARK(BM_IpcacheShapeBToWire)->Iterations(20)->Unit(benchmark::kMillisecond);

// What BPF_PROG_TEST_RUN costs around any program: a tc program that returns
// at once. Both the classifier and the baseline carry it.
void BM_EmptyProgram(benchmark::State& state) {
  const bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  const int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "empty", "GPL", insns, 2, nullptr);
  if (fd < 0) return state.SkipWithError("empty program did not load");
  const auto frame =
      PacketBuilder().ip(*IpAddr::parse("10.63.255.7"), pod_addr(0)).udp(4000, 5000).payload(64).build();
  double ns = 0;
  for (auto _ : state) {
    auto v = ns_per_packet(fd, frame, 0, state);
    if (!v) break;
    ns += *v;
  }
  ::close(fd);
  state.counters["ns_per_packet"] = ns / static_cast<double>(state.iterations());
}
BENCHMARK(BM_EmptyProgram)->Iterations(20)->Unit(benchmark::kMillisecond);

void BM_ToWireEsp(benchmark::State& state) {
  auto dp = Datapath::load({});
  if (!dp) return state.SkipWithError(dp.error().message().c_str());
  (void)dp->upsert_ipcache(*IpPrefix::parse("192.0.2.1/32"), {1, SEALNET_IPCACHE_NODE_ADDR});
  (void)dp->upsert_ipcache(*IpPrefix::parse("192.0.2.2/32"), {2, SEALNET_IPCACHE_NODE_ADDR});
  (void)dp->set_config({.local_node_id = 1, .key_id = 1, .fail_closed = 1, .encrypt_host = 0, .events = 0});
  const auto frame = PacketBuilder()
                         .ip(*IpAddr::parse("192.0.2.1"), *IpAddr::parse("192.0.2.2"))
                         .esp(0x100, 1)
                         .payload(1400)
                         .build();
  double ns = 0;
  for (auto _ : state) {
    auto r = test_run(dp->prog_fd(Program::ToWire),
                      {.packet = frame, .ifindex = ifindex("up0"), .mark = 0, .repeat = kRepeat});
    if (!r) return state.SkipWithError(r.error().message().c_str());
    ns += static_cast<double>(r->duration_ns);
  }
  state.counters["ns_per_packet"] = ns / static_cast<double>(state.iterations());
}
BENCHMARK(BM_ToWireEsp)->Iterations(20)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sealnet::bpf

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (geteuid() != 0) {
    std::fprintf(stderr, "bench_bpf needs root to load BPF programs\n");
    return 2;
  }
  if (!sealnet::bpf::build_netns()) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
