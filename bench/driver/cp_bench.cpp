#include "bench/driver/cp_bench.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/driver/agent_inputs.h"
#include "core/netns.h"
#include "offload/reconciler.h"

namespace sealnet::driver {

using namespace offload;
namespace {

// ------------------------------------------------------------ measuring --

struct Usage {
  double wall_ms = 0, user_ms = 0, sys_ms = 0;
  Usage operator-(const Usage& o) const { return {wall_ms - o.wall_ms, user_ms - o.user_ms, sys_ms - o.sys_ms}; }
  Usage operator+(const Usage& o) const { return {wall_ms + o.wall_ms, user_ms + o.user_ms, sys_ms + o.sys_ms}; }
};

double ms_of(const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; }

double wall_now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// This process so far (the kernel runs a netlink request inside the sender's
// sendmsg, so its cost is this process's system time).
Usage self_now() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return {wall_now_ms(), ms_of(ru.ru_utime), ms_of(ru.ru_stime)};
}

// Waits until the CPU is idle (>= 90 % over half a second, at most 60 s): the
// kernel frees namespaces, states and policies in work items after the fact,
// and on a one-CPU guest that work would be billed to the next measurement.
double wait_quiet() {
  auto sample = [] {
    std::ifstream f("/proc/stat");
    std::string cpu;
    unsigned long long v, total = 0, idle = 0;
    f >> cpu;
    for (int i = 0; i < 8 && (f >> v); ++i) {
      total += v;
      if (i == 3 || i == 4) idle += v;  // idle, iowait
    }
    return std::pair{total, idle};
  };
  const double t0 = wall_now_ms();
  for (;;) {
    const auto a = sample();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const auto b = sample();
    const double total = static_cast<double>(b.first - a.first), idle = static_cast<double>(b.second - a.second);
    if (total <= 0 || idle / total >= 0.9 || wall_now_ms() - t0 > 60000) break;
  }
  return (wall_now_ms() - t0) / 1e3;
}

// ----------------------------------------------------------- the objects --

std::string mark_text(const char* kw, const xfrm::Mark& m) {
  char b[64];
  std::snprintf(b, sizeof b, " %s 0x%x mask 0x%x", kw, m.value, m.mask);
  return b;
}

// The bench's keys: fixed test patterns, so writing them to the `ip -batch` file
// is harmless. The file holds the key file's own text of each key (no key is
// per-pair, so every state carries the key as the file has it); nothing prints
// the bytes of a loaded key.
constexpr const char* kKeyHex[] = {"0x000102030405060708090a0b0c0d0e0f10111213",
                                   "0x101112131415161718191a1b1c1d1e1f20212223"};

// The same objects as `ip xfrm` commands, for the comparison only.
std::string ip_states(const DesiredSet& set) {
  std::string out;
  char b[256];
  for (const auto& d : set.states) {
    const auto& s = d.spec;
    std::snprintf(b, sizeof b, "xfrm state add src %s dst %s proto esp spi 0x%08x reqid 0x%x mode tunnel",
                  s.saddr.str().c_str(), s.id.daddr.str().c_str(), s.id.spi, s.reqid);
    out += b;
    if (s.esn) out += " flag esn";
    out += " replay-window " + std::to_string(s.replay_window);
    out += " aead " + s.aead->name + " " + kKeyHex[d.key - 1] + " " + std::to_string(s.aead->icv_bits);
    if (s.mark) out += mark_text("mark", *s.mark);
    if (s.set_mark) out += mark_text("output-mark", *s.set_mark);
    out += "\n";
  }
  return out;
}

std::string ip_policies(const DesiredSet& set) {
  std::string out;
  char b[256];
  for (const auto& p : set.policies) {
    const char* dir = p.dir == xfrm::PolicyDir::out ? "out" : p.dir == xfrm::PolicyDir::in ? "in" : "fwd";
    std::snprintf(b, sizeof b, "xfrm policy add src %s dst %s dir %s priority %u", p.selector.src.str().c_str(),
                  p.selector.dst.str().c_str(), dir, p.priority);
    out += b;
    if (p.mark) out += mark_text("mark", *p.mark);
    for (const auto& t : p.templates) {
      std::snprintf(b, sizeof b, " tmpl src %s dst %s proto esp reqid 0x%x mode tunnel%s", t.saddr.str().c_str(),
                    t.id.daddr.str().c_str(), t.reqid, t.optional ? " level use" : "");
      out += b;
    }
    out += "\n";
  }
  return out;
}

// One software slot: lo (ifindex 1) in each fresh namespace.
const std::map<int, uint8_t> kSlots = {{1, 0}};

struct Workload {
  config::AgentConfig cfg;
  ReconcileInput in;
  keys::KeySet keys;
  fallback::DecisionLog log;
  fallback::ModeBook modes{log};
  DesiredSet set;
};

// ---------------------------------------------------------------- paths --

enum class Path { batched, ip };
constexpr Path kPaths[] = {Path::batched, Path::ip};
const char* name_of(Path p) { return p == Path::batched ? "batched" : "ip"; }

struct Sample {
  Usage states, policies, other;  // other: the reconciler's dumps and planning
  Usage total() const { return states + policies + other; }
  // batched only: one more node joins the converged set (issue 8 (b))
  double join_ms = 0;
  size_t join_objects = 0;  // kernel objects the join added or changed
};

// Times each apply() of the kernel it wraps: the reconciler sends states, then
// policies (no offload here: no read-back, nothing to delete).
class TimedKernel final : public XfrmKernel {
 public:
  explicit TimedKernel(XfrmKernel& k) : k_(k) {}
  Result<std::vector<xfrm::SaInfo>> states() override { return k_.states(); }
  Result<std::vector<xfrm::PolicyInfo>> policies() override { return k_.policies(); }
  Result<std::vector<Status>> apply(const std::vector<KernelOp>& ops) override {
    const Usage t0 = self_now();
    auto r = k_.apply(ops);
    const Usage d = self_now() - t0;
    const bool states = !ops.empty() && ops.front().kind == KernelOp::Kind::add_state;
    (states ? states_ : policies_) = (states ? states_ : policies_) + d;
    return r;
  }
  Result<std::vector<Result<xfrm::SaInfo>>> read_back(const std::vector<StateRef>& refs) override {
    return k_.read_back(refs);
  }
  Usage states_, policies_;

 private:
  XfrmKernel& k_;
};

Result<Sample> run_batched(Workload& w) {
  auto kernel = make_netlink_kernel();
  if (!kernel) return std::unexpected(kernel.error());
  TimedKernel timed(**kernel);
  Reconciler rec(timed, w.modes);
  const Usage t0 = self_now();
  auto r = rec.reconcile(w.in, 0);
  const Usage all = self_now() - t0;
  if (!r) return std::unexpected(r.error());
  if (!r->errors.empty()) return std::unexpected(r->errors.front());
  Sample s{timed.states_, timed.policies_, all - timed.states_ - timed.policies_};
  // One node joins the converged cluster: the reconciler must touch only its objects.
  config::AgentConfig cfg = w.cfg;
  config::Peer p = cfg.peers.back();
  p.id = static_cast<uint16_t>(p.id + 1);
  p.name = "bench-" + std::to_string(p.id);
  p.ipv4 = *IpAddr::parse("10.101.0.1");
  p.pod_cidrs = {*IpPrefix::parse("10.255.255.0/24")};
  cfg.peers.push_back(std::move(p));
  ReconcileInput joined = desired(cfg, w.keys, w.modes, kSlots, {}, {}).xfrm;
  const Usage j0 = self_now();
  auto jr = rec.reconcile(joined, 0);
  s.join_ms = (self_now() - j0).wall_ms;
  if (!jr) return std::unexpected(jr.error());
  if (!jr->errors.empty()) return std::unexpected(jr->errors.front());
  s.join_objects = jr->states_added + jr->states_deleted + jr->policies_added + jr->policies_updated +
                   jr->policies_deleted;
  return s;
}

// `ip -n NS -batch FILE` as a child; its own CPU times from wait4.
Result<Usage> run_ip_file(const std::string& netns, const std::string& file) {
  const double t0 = wall_now_ms();
  const pid_t pid = fork();
  if (pid < 0) return fail_errno("fork", "ip");
  if (pid == 0) {
    execlp("ip", "ip", "-n", netns.c_str(), "-batch", file.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  rusage ru{};
  if (wait4(pid, &status, 0, &ru) < 0) return fail_errno("wait4", "ip");
  const double wall = wall_now_ms() - t0;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return fail(EIO, "ip -batch", file, "exit status " + std::to_string(status));
  return Usage{wall, ms_of(ru.ru_utime), ms_of(ru.ru_stime)};
}

Result<Sample> run_ip(const std::string& netns, const std::string& states_file, const std::string& policies_file) {
  auto s = run_ip_file(netns, states_file);
  if (!s) return std::unexpected(s.error());
  auto p = run_ip_file(netns, policies_file);
  if (!p) return std::unexpected(p.error());
  return Sample{*s, *p, {}};
}

Result<size_t> count_objects(const std::string& netns) {
  auto ns = NetnsScope::enter(netns);
  if (!ns) return std::unexpected(ns.error());
  auto k = make_netlink_kernel();
  if (!k) return std::unexpected(k.error());
  auto s = (*k)->states();
  if (!s) return std::unexpected(s.error());
  auto p = (*k)->policies();
  if (!p) return std::unexpected(p.error());
  return s->size() + p->size();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

void print_usage(const char* label, const Usage& u, size_t objects) {
  std::printf("  %-9s wall %7.0f ms  user %6.0f ms  sys %7.0f ms  (%5.1f us user + %6.1f us sys per object)\n",
              label, u.wall_ms, u.user_ms, u.sys_ms, objects ? u.user_ms * 1e3 / objects : 0.0,
              objects ? u.sys_ms * 1e3 / objects : 0.0);
}

}  // namespace

int run_bench(const BenchOptions& o) {
  const int peers = o.peers, nkeys = o.keys, rounds = o.rounds;
  const std::string& dir = o.dir;
  Workload w;
  std::string text;
  for (int k = 0; k < nkeys; ++k) text += std::to_string(k + 1) + " rfc4106(gcm(aes)) " + kKeyHex[k] + " 128\n";
  auto keyset = keys::parse_key_file(text, "bench keys");
  if (!keyset) return 1;
  w.keys = std::move(*keyset);
  // The cluster as the agent's config would list it: this node and N peers, each
  // with its pod CIDR (a /24 of 10.128.0.0/9 per node id, as an IPAM that hands
  // out one block per node would) and the keys it announces.
  w.cfg.node = {"bench-1", 1, *IpAddr::parse("10.99.0.1"), std::nullopt, {*IpPrefix::parse("10.128.1.0/24")}};
  for (int i = 0; i < peers; ++i) {
    config::Peer p;
    p.id = static_cast<uint16_t>(i + 2);
    p.name = "bench-" + std::to_string(p.id);
    p.ipv4 = *IpAddr::parse("10.100." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1));
    p.pod_cidrs = {
        *IpPrefix::parse("10." + std::to_string(128 + p.id / 256) + "." + std::to_string(p.id % 256) + ".0/24")};
    p.keys.emplace();
    for (int k = 1; k <= nkeys; ++k) p.keys->push_back(static_cast<uint8_t>(k));
    w.cfg.peers.push_back(std::move(p));
  }
  // One software slot (lo in each fresh namespace); no routes, so no peer has an
  // arrival slot and there are no slot tables to time.
  w.modes.set_device({0, 1, "lo", xfrm::OffloadMode::none}, 0);
  auto inputs = desired(w.cfg, w.keys, w.modes, kSlots, {}, {});
  if (!inputs.problems.empty()) {
    std::printf("bench: %s\n", inputs.problems.front().c_str());
    return 1;
  }
  w.in = std::move(inputs.xfrm);
  w.in.keys = &w.keys;
  auto set = plan(w.in.local, w.modes, w.in.peers, w.keys, w.in.opts);
  if (!set) return 1;
  w.set = std::move(*set);
  const size_t nstates = w.set.states.size(), npolicies = w.set.policies.size(), objects = nstates + npolicies;

  // The ip -batch files in a directory of our own (mkdtemp, 0700): a fixed name
  // in a shared /tmp is a symlink root would write through.
  std::string tmpl = dir + "/sealnet-cp-bench.XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::printf("bench: mkdtemp %s: %s\n", tmpl.c_str(), std::strerror(errno));
    return 1;
  }
  struct RemoveDir {
    std::string path;
    ~RemoveDir() { std::filesystem::remove_all(path); }
  } batch_dir{tmpl};
  const std::string states_file = tmpl + "/states.batch", policies_file = tmpl + "/policies.batch";
  std::ofstream(states_file) << ip_states(w.set);
  std::ofstream(policies_file) << ip_policies(w.set);

  size_t sbytes = 0, pbytes = 0;
  for (const auto& d : w.set.states) sbytes += xfrm::encode_new_sa(d.spec).value_or(nl::Bytes{}).size();
  for (const auto& p : w.set.policies) pbytes += xfrm::encode_new_policy(p).value_or(nl::Bytes{}).size();
  std::printf("bench: the agent's layout: outbound policies select each peer's pod /24, in/fwd policies per "
              "peer pod CIDR, inbound states for %d generations\n",
              w.in.opts.inbound_generations);
  std::printf("bench: peers=%d keys=%d states=%zu policies=%zu (NEWSA %zu KiB, NEWPOLICY %zu KiB in all); "
              "batched transport: <= 1 MiB per sendmsg, acks for refusals only + one barrier per sendmsg\n",
              peers, nkeys, nstates, npolicies, sbytes / 1024, pbytes / 1024);
  std::fflush(stdout);

  std::vector<std::vector<Sample>> samples(std::size(kPaths));
  bool ok = true;
  for (int r = 0; r < rounds; ++r) {
    std::vector<std::string> ns(std::size(kPaths));
    for (size_t i = 0; i < ns.size(); ++i) {
      ns[i] = "cpb" + std::to_string(getpid()) + "-" + std::to_string(r) + "-" + name_of(kPaths[i]);
      if (std::system(("ip netns add " + ns[i]).c_str()) != 0) return 1;
    }
    for (size_t j = 0; j < std::size(kPaths); ++j) {
      const size_t i = (j + static_cast<size_t>(r)) % std::size(kPaths);  // rotate the order every round
      const double settled = wait_quiet();
      const Result<Sample> s = [&]() -> Result<Sample> {
        if (kPaths[i] == Path::ip) return run_ip(ns[i], states_file, policies_file);
        auto scope = NetnsScope::enter(ns[i]);
        if (!scope) return std::unexpected(scope.error());
        return run_batched(w);
      }();
      if (!s) {
        std::printf("round %d %s: failed: %s\n", r + 1, name_of(kPaths[i]), s.error().message().c_str());
        ok = false;
        continue;
      }
      auto n = count_objects(ns[i]);
      // The batched path also holds the objects of the node that joined after it converged.
      const size_t want = objects + (kPaths[i] == Path::batched ? s->join_objects : 0);
      const bool same = n && *n == want;
      ok = ok && same;
      std::printf("round %d %-10s (after %.1f s idle wait) total %.0f ms, %zu objects in the namespace%s\n", r + 1,
                  name_of(kPaths[i]), settled, s->total().wall_ms, n ? *n : 0, same ? "" : "  MISMATCH");
      print_usage("states", s->states, nstates);
      print_usage("policies", s->policies, npolicies);
      if (kPaths[i] == Path::batched) {
        print_usage("dump+plan", s->other, 0);
        std::printf("    join of one more node: %.0f ms, %zu kernel objects touched\n", s->join_ms, s->join_objects);
      }
      std::fflush(stdout);
      samples[i].push_back(*s);
    }
    for (const auto& n : ns)
      if (std::system(("ip netns del " + n).c_str()) != 0) ok = false;
  }
  std::remove(states_file.c_str());
  std::remove(policies_file.c_str());

  std::printf("medians over %d rounds (wall / user / sys ms):\n", rounds);
  std::vector<double> total_med(std::size(kPaths));
  for (size_t i = 0; i < std::size(kPaths); ++i) {
    auto med = [&](auto field) {
      std::vector<double> v;
      for (const auto& s : samples[i]) v.push_back(field(s));
      return median(v);
    };
    total_med[i] = med([](const Sample& s) { return s.total().wall_ms; });
    std::printf("  %-10s total %7.0f | states %7.0f / %6.0f / %7.0f | policies %7.0f / %6.0f / %7.0f\n",
                name_of(kPaths[i]), total_med[i], med([](const Sample& s) { return s.states.wall_ms; }),
                med([](const Sample& s) { return s.states.user_ms; }),
                med([](const Sample& s) { return s.states.sys_ms; }),
                med([](const Sample& s) { return s.policies.wall_ms; }),
                med([](const Sample& s) { return s.policies.user_ms; }),
                med([](const Sample& s) { return s.policies.sys_ms; }));
  }
  const double ip = total_med[1];
  std::vector<double> joins;
  size_t join_objects = 0;
  for (const auto& s : samples[0]) {
    joins.push_back(s.join_ms);
    join_objects = s.join_objects;
  }
  const double join_ms = joins.empty() ? 0 : median(joins);
  std::printf("bench: peers=%d keys=%d objects=%zu rounds=%d batched_ms=%.0f ip_batch_ms=%.0f "
              "ratio=%.2f join_ms=%.0f join_objects=%zu ok=%d\n",
              peers, nkeys, objects, rounds, total_med[0], ip,
              total_med[0] > 0 ? ip / total_med[0] : 0.0, join_ms, join_objects, ok ? 1 : 0);
  return ok ? 0 : 1;
}

}  // namespace sealnet::driver
