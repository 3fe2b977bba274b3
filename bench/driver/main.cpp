// sealnet-xfrm-driver: the agent's XFRM and slot-route half, driven from the
// agent's own inputs, for the VM suite (vm.offload) and the control-plane bench.
// It reads the agent's config (datapath/config.h, docs/agent-config.md) and key
// file (keys/keys.h), probes the uplinks (probe/), sets their modes through
// fallback::from_probe and hands offload's Reconciler and RouteReconciler what
// the agent's sync hands them (datapath/desired.h: agent::join_uplinks,
// observe_links, compute). No BPF, tc, status server or discovery: what the agent
// adds around it. Never prints key material.
//
//   sealnet-xfrm-driver run --config FILE [--node NAME] [--once] [--status PATH]
//                           [--interval-ms N] [--trial flagged|all|none]
//     Reconciles the current network namespace, then (without --once) keeps
//     doing so every interval: re-reads the config and its key file when they
//     change (a rejected one is reported and the running one stays), follows
//     each uplink's link state (fallback d) and prints every decision. --status
//     writes a small text file per round (slots, decision counts, key
//     descriptions, each peer's send key, the decisions, the last reconcile's
//     time split and keys derived). SIGTERM/SIGINT stop it
//     and leave the kernel state in force.
//   sealnet-xfrm-driver bench [--peers N] [--keys K] [--rounds R] [--dir TMPDIR]
//     The control-plane bench (bench/driver/cp_bench.h).
#include <signal.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "bench/driver/agent_inputs.h"
#include "bench/driver/cp_bench.h"
#include "bpf/shared.h"
#include "fallback/verdict.h"
#include "probe/monitor.h"
#include "probe/probe.h"

namespace sealnet::driver {
namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

uint64_t now_s() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

int64_t mtime(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? st.st_mtim.tv_sec * 1000000000L + st.st_mtim.tv_nsec : 0;
}

struct RunOptions {
  std::string config;
  std::string node;
  bool once = false;
  std::string status;
  int interval_ms = 200;
  std::string trial = "flagged";
};

void write_status(const std::string& path, const fallback::ModeBook& modes, const fallback::DecisionLog& log,
                  const offload::ReconcileResult& last, const keys::KeySet& keys,
                  const std::vector<offload::PeerNode>& peers) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  std::ofstream f(tmp);
  for (const auto& [n, s] : modes.slots())
    f << "slot " << int(n) << " dev " << s.dev.name << " mode " << xfrm::to_string(s.mode) << " up " << s.up
      << " generation " << int(s.generation) << "\n";
  for (int r = 0; r < static_cast<int>(fallback::Reason::count_); ++r)
    f << "count " << fallback::to_string(static_cast<fallback::Reason>(r)) << " "
      << log.count(static_cast<fallback::Reason>(r)) << "\n";
  for (const auto& k : keys.keys) f << "key " << k.describe() << "\n";  // never the bytes
  for (const auto& p : peers) {
    auto it = last.installed_keys.find(p.id);
    f << "peer " << p.id << " tx-key "
      << int(offload::tx_key(keys, p, it == last.installed_keys.end() ? std::vector<uint8_t>{} : it->second))
      << "\n";
  }
  for (const auto& d : log.entries()) f << "decision " << d.str() << "\n";
  // The last reconcile's split (offload::ReconcileTimes, docs/xfrm-design.md "Installing them"), in
  // microseconds, and the keys it derived (one per state it sent).
  const auto& t = last.times;
  f << "reconcile dump_us " << t.dump_ns / 1000 << " plan_us " << t.plan_ns / 1000 << " diff_us "
    << t.diff_ns / 1000 << " send_us " << t.send_ns / 1000 << " kernel_us " << t.kernel_ns / 1000
    << " total_us " << t.total_ns() / 1000 << " keys_derived " << last.keys_derived << "\n";
  f.close();
  std::rename(tmp.c_str(), path.c_str());
}

// The agent's node: what it knows and the kernels it talks to.
struct Node {
  fallback::DecisionLog log;
  fallback::ModeBook modes{log};
  std::unique_ptr<probe::ProbeKernel> probe_kernel;
  probe::ProbeOptions probe_opts;
  probe::ProbeReport report;
  std::optional<probe::Monitor> monitor;
  std::unique_ptr<offload::XfrmKernel> xfrm;
  std::unique_ptr<offload::RouteKernel> route_kernel;
  std::optional<offload::Reconciler> reconciler;
  std::optional<offload::RouteReconciler> route_reconciler;
  std::map<int, uint8_t> slot_of;  // uplink ifindex -> slot

  Status start(const std::string& trial) {
    auto pk = probe::make_kernel();
    if (!pk) return std::unexpected(pk.error());
    probe_kernel = std::move(*pk);
    probe_opts.trial = trial == "all"    ? probe::TrialPolicy::all
                       : trial == "none" ? probe::TrialPolicy::none
                                         : probe::TrialPolicy::flagged;
    auto r = probe::run_probe(*probe_kernel, probe_opts);
    if (!r) return std::unexpected(r.error());
    report = std::move(*r);
    // The agent refuses to start here; a driver goes on, so that the host tier
    // can watch its policies where the kernel has no ESP.
    if (!report.node.can_encrypt())
      std::printf("warning: this kernel cannot encrypt: ESP %s; AES-GCM %s\n", report.node.esp.reason.c_str(),
                  report.node.aes_gcm.reason.c_str());
    auto xk = offload::make_netlink_kernel();
    if (!xk) return std::unexpected(xk.error());
    xfrm = std::move(*xk);
    auto rk = offload::make_netlink_route_kernel();
    if (!rk) return std::unexpected(rk.error());
    route_kernel = std::move(*rk);
    auto mon = probe::Monitor::make();
    if (!mon) return std::unexpected(mon.error());
    monitor.emplace(std::move(*mon));
    reconciler.emplace(*xfrm, modes);
    route_reconciler.emplace(*route_kernel);
    return {};
  }

  // A new uplink in `slot` (agent::join_uplinks chose it): the probe's verdict as its mode.
  void add_uplink(int ifindex, uint8_t slot, uint64_t now) {
    auto dev = probe::probe_device(*probe_kernel, ifindex, report.node, probe_opts);
    if (!dev) {
      probe::DeviceReport d;
      d.ifindex = ifindex;
      d.name = monitor->tracker().known().contains(ifindex) ? monitor->tracker().known().at(ifindex).name
                                                            : std::to_string(ifindex);
      d.verdict = probe::Verdict::software;
      d.reason = "probe failed: " + dev.error().message();
      dev = std::move(d);
    }
    const auto probed = fallback::from_probe(slot, *dev, now);
    modes.set_device(probed.device, now, probed.decision.detail);
    std::printf("uplink %s: slot %u, %s (%s)\n", dev->name.c_str(), slot, probe::to_string(dev->verdict),
                dev->reason.c_str());
    report.update(std::move(*dev));
  }
};

int run(const RunOptions& o) {
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  Node node;
  if (auto s = node.start(o.trial); !s) {
    std::fprintf(stderr, "xfrm-driver: %s\n", s.error().message().c_str());
    return 1;
  }
  config::ParseOptions popts;
  if (!o.node.empty()) popts.node_name = o.node;
  config::AgentConfig cfg;
  keys::KeySet keys;
  int64_t cfg_mtime = -1, keys_mtime = -1;
  uint64_t logged = 0;
  bool have_cfg = false, have_keys = false;
  int failures = 0;
  std::string last_problems;
  for (;;) {
    const uint64_t now = now_s();
    if (mtime(o.config) != cfg_mtime) {
      cfg_mtime = mtime(o.config);
      auto c = config::load_agent_config(o.config, popts);
      if (!c) {
        std::printf("config rejected, keeping the running one: %s\n", c.error().message().c_str());
      } else {
        if (have_cfg && c->key_file != cfg.key_file) keys_mtime = -1;
        cfg = std::move(*c);
        have_cfg = true;
        node.reconciler->grace_seconds = static_cast<uint64_t>(cfg.key_grace.count());
      }
    }
    if (have_cfg && mtime(cfg.key_file) != keys_mtime) {
      keys_mtime = mtime(cfg.key_file);
      auto k = keys::load_key_file(cfg.key_file, cfg.allow_shared_keys);  // as the agent: shared AEAD keys refused
      if (!k) {
        std::printf("key file rejected, the running keys stay in force: %s\n", k.error().message().c_str());
      } else {
        keys = std::move(*k);
        have_keys = true;
        std::printf("keys:");
        for (const auto& key : keys.keys) std::printf(" [%s]", key.describe().c_str());
        std::printf("\n");
      }
    }
    if (have_cfg && have_keys) {
      auto all_routes = node.route_kernel->routes();
      if (!all_routes) {
        std::printf("route dump failed: %s\n", all_routes.error().message().c_str());
        ++failures;
        all_routes = std::vector<route::Route>{};
      }
      std::vector<route::Route> main;
      for (auto& r : *all_routes)
        if (r.table == agent::kMainTable) main.push_back(r);
      // The agent's sync: uplinks join (probed), links observed (d: the kernel
      // flushes a device's offloaded states when it goes down), then the desired state.
      const auto& links = node.monitor->tracker().known();
      auto problem_list = agent::join_uplinks(
          cfg, cfg.peers, links, main, node.slot_of, node.modes, [](int) { return std::optional<uint8_t>(); },
          [&](int ifx, uint8_t slot) { node.add_uplink(ifx, slot, now); });
      agent::observe_links(node.modes, node.slot_of, links, now);
      const auto in = desired(cfg, keys, node.modes, node.slot_of, links, main);
      problem_list.insert(problem_list.end(), in.problems.begin(), in.problems.end());
      std::string problems;
      for (const auto& p : problem_list) problems += p + "; ";
      auto r = node.reconciler->reconcile(in.xfrm, now);
      if (!r) {
        std::printf("reconcile failed: %s\n", r.error().message().c_str());
        ++failures;
      } else {
        if (r->changes() || !r->errors.empty())
          std::printf(
              "reconcile: +%zu states -%zu states, +%zu ~%zu -%zu policies, %zu software retries, "
              "%zu retiring, %zu foreign states, %zu foreign policies, %zu batches, %zu resyncs, "
              "%zu keys derived; %s\n",
              r->states_added, r->states_deleted, r->policies_added, r->policies_updated, r->policies_deleted,
              r->software_retries, r->retiring, r->foreign_states, r->foreign_policies, r->batches,
              r->resyncs, r->keys_derived, r->times.str().c_str());
        for (const auto& e : r->errors) std::printf("refused: %s\n", e.message().c_str());
      }
      auto rr = node.route_reconciler->reconcile(in.routes);
      if (!rr) {
        std::printf("slot routes failed: %s\n", rr.error().message().c_str());
        ++failures;
      } else {
        if (rr->changes())
          std::printf(
              "slot routes: +%zu -%zu rules, +%zu ~%zu -%zu routes, %zu foreign rules, %zu foreign routes\n",
              rr->rules_added, rr->rules_deleted, rr->routes_added, rr->routes_replaced, rr->routes_deleted,
              rr->foreign_rules, rr->foreign_routes);
        for (const auto& e : rr->errors) std::printf("refused: %s\n", e.message().c_str());
      }
      if (problems != last_problems && !problems.empty())
        std::printf("problems: %s\n", problems.substr(0, problems.size() - 2).c_str());
      last_problems = problems;
      if (r) write_status(o.status, node.modes, node.log, *r, keys, in.xfrm.peers);
      for (const auto* d : node.log.since(logged)) std::printf("decision: %s\n", d->str().c_str());
      std::fflush(stdout);
      if (o.once) return r && rr ? 0 : 1;
    } else if (o.once) {
      return 1;
    }
    if (g_stop) return failures ? 1 : 0;
    // Link events (and the tracker they update) arrive here; the next round reads them.
    if (auto ev = node.monitor->poll(o.interval_ms); !ev)
      std::printf("link monitor: %s\n", ev.error().message().c_str());
    if (g_stop) return failures ? 1 : 0;
  }
}

}  // namespace
}  // namespace sealnet::driver

int main(int argc, char** argv) {
  CLI::App app{
      "sealnet-xfrm-driver: the agent's XFRM and slot-route reconcile, for the VM tier and the bench"};
  app.require_subcommand(1);
  sealnet::driver::RunOptions ro;
  auto* run = app.add_subcommand("run", "Reconcile this namespace to the agent's config and key file");
  run->add_option("--config", ro.config, "The agent's config (docs/agent-config.md)")->required();
  run->add_option("--node", ro.node, "This node's name in a shared config (sealnet agent --node)");
  run->add_flag("--once", ro.once, "One reconcile, then exit (0: it succeeded)");
  run->add_option("--status", ro.status, "Write the slots, decisions and send keys here every round");
  run->add_option("--interval-ms", ro.interval_ms, "Time between rounds")
      ->capture_default_str()
      ->check(CLI::Range(10, 60000));
  run->add_option("--trial", ro.trial, "Probe trial SAs: flagged, all or none")
      ->capture_default_str()
      ->check(CLI::IsMember({"flagged", "all", "none"}));
  sealnet::driver::BenchOptions bo;
  auto* bench = app.add_subcommand("bench", "The control-plane bench: the reconciler against ip -batch");
  bench->add_option("--peers", bo.peers, "Peers")->capture_default_str()->check(CLI::Range(1, 32000));
  bench->add_option("--keys", bo.keys, "Keys per peer")->capture_default_str()->check(CLI::Range(1, 2));
  bench->add_option("--rounds", bo.rounds, "Rounds per path")
      ->capture_default_str()
      ->check(CLI::Range(1, 15));
  bench->add_option("--dir", bo.dir, "Where the ip -batch files go")
      ->capture_default_str()
      ->check(CLI::ExistingDirectory);
  CLI11_PARSE(app, argc, argv);
  if (*run) return sealnet::driver::run(ro);
  return sealnet::driver::run_bench(bo);
}
