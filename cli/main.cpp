// The one sealnet binary: each subcommand is a thin front end over a component.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#include "bench/plan/plan.h"
#include "bpf/programs.h"
#include "datapath/agent.h"
#include "datapath/lab/lab.h"
#include "datapath/monitor/monitor.h"
#include "datapath/status.h"
#include "core/netns.h"
#include "probe/probe.h"
#include "probe/monitor.h"
#include "probe/render.h"
#include "probe/watch.h"
#include "sealnet_version.h"  // generated: cmake/Version.cmake

namespace {

int run_selftest() {
  if (geteuid() != 0) {
    std::cerr << "sealnet selftest: loading BPF programs needs root (CAP_BPF and CAP_NET_ADMIN); "
                 "run it with sudo\n";
    return 2;
  }
  auto cases = sealnet::bpf::self_test();
  if (!cases) {
    std::cerr << "sealnet selftest: " << cases.error().message() << "\n";
    return 1;
  }
  int failed = 0;
  std::cout << "BPF datapath on this kernel (loaded, verified, run with BPF_PROG_TEST_RUN):\n";
  for (const auto& c : *cases) {
    std::cout << "  " << (c.ok() ? "ok  " : "FAIL") << "  " << c.name << "\n";
    failed += c.ok() ? 0 : 1;
  }
  std::cout << (failed ? "selftest FAILED\n" : "selftest passed\n");
  return failed ? 1 : 0;
}

// Whether the process holds one capability in its effective set.
bool has_capability(int cap) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("CapEff:", 0) == 0) return (std::stoull(line.substr(7), nullptr, 16) >> cap) & 1;
  return false;
}

constexpr int kCapSysAdmin = 21;
constexpr int kCapNetAdmin = 12;

const char* kProbePrivileges =
    "sealnet probe: needs CAP_NET_ADMIN (it adds throw-away XFRM states to confirm what each "
    "device really offloads)%s; run it as root, e.g. `sudo sealnet probe`\n";

struct ProbeArgs {
  bool json = false;
  bool no_trial = false;
  std::string trial = "flagged";
  std::string netns;
  std::optional<int> watch_seconds;
};

int run_probe_command(const ProbeArgs& a) {
  const bool need_sys_admin = !a.netns.empty();
  if (!has_capability(kCapNetAdmin) || (need_sys_admin && !has_capability(kCapSysAdmin))) {
    std::fprintf(stderr, kProbePrivileges,
                 need_sys_admin ? " and CAP_SYS_ADMIN to enter another network namespace" : "");
    return 2;
  }
  sealnet::probe::ProbeOptions opts;
  opts.netns = a.netns;
  opts.trial = a.no_trial          ? sealnet::probe::TrialPolicy::none
               : a.trial == "all" ? sealnet::probe::TrialPolicy::all
                                  : sealnet::probe::TrialPolicy::flagged;
  // Every socket must be opened inside the namespace: they stay bound to it.
  std::optional<sealnet::NetnsScope> scope;
  if (!a.netns.empty()) {
    auto s = sealnet::NetnsScope::enter(a.netns);
    if (!s) {
      std::cerr << "sealnet probe: cannot enter network namespace " << a.netns << ": "
                << s.error().message() << "\n";
      return 1;
    }
    scope.emplace(std::move(*s));
  }
  auto kernel = sealnet::probe::make_kernel();
  if (!kernel) {
    std::cerr << "sealnet probe: " << kernel.error().message() << "\n";
    return 1;
  }
  // Subscribed before the first probe, so a change during it is not missed.
  std::optional<sealnet::probe::Monitor> monitor;
  if (a.watch_seconds) {
    auto m = sealnet::probe::Monitor::make();
    if (!m) {
      std::cerr << "sealnet probe: " << m.error().message() << "\n";
      return 1;
    }
    monitor.emplace(std::move(*m));
  }
  auto report = sealnet::probe::run_probe(**kernel, opts);
  if (!report) {
    if (report.error().err == EPERM) {
      std::fprintf(stderr, kProbePrivileges, "");
      return 2;
    }
    std::cerr << "sealnet probe: " << report.error().message() << "\n";
    return 1;
  }
  if (!monitor) {
    if (a.json)
      std::cout << sealnet::probe::to_json(*report).dump(2) << "\n";
    else
      std::cout << sealnet::probe::render_table(*report);
    return 0;
  }
  // Watching: JSON Lines (the report, then one line per event) or text.
  if (a.json)
    std::cout << sealnet::probe::to_json(*report).dump() << std::endl;
  else
    std::cout << sealnet::probe::render_table(*report) << "\nwatching for device changes\n" << std::flush;
  auto print = [&](const sealnet::probe::DeviceEvent& e, const sealnet::probe::DeviceReport* d) {
    using Kind = sealnet::probe::DeviceEvent::Kind;
    if (a.json) {
      nlohmann::ordered_json j = {{"event", sealnet::probe::to_string(e.kind)},
                                  {"ifindex", e.ifindex},
                                  {"name", e.name}};
      if (d) j["device"] = sealnet::probe::to_json(*d);
      if (e.kind == Kind::resync) j["report"] = sealnet::probe::to_json(*report);
      std::cout << j.dump() << std::endl;
      return;
    }
    std::cout << sealnet::probe::to_string(e.kind) << " " << (e.name.empty() ? "-" : e.name);
    if (d) std::cout << " (ifindex " << d->ifindex << "): " << sealnet::probe::to_string(d->verdict)
                     << ": " << d->reason;
    std::cout << std::endl;
  };
  if (auto st = sealnet::probe::watch(**kernel, *monitor, *report, opts, *a.watch_seconds, print);
      !st) {
    std::cerr << "sealnet probe: " << st.error().message() << "\n";
    return 1;
  }
  return 0;
}

struct PlanArgs {
  std::string probe_file;  // empty: probe this node now
  std::string out_dir = "sealnet-plan";
  sealnet::plan::Assumptions in;
};

int run_plan_command(PlanArgs a) {
  nlohmann::json probe_json;
  if (!a.probe_file.empty()) {
    std::ifstream f(a.probe_file);
    if (!f) {
      std::cerr << "sealnet plan: cannot read " << a.probe_file << ": " << std::strerror(errno) << "\n";
      return 1;
    }
    probe_json = nlohmann::json::parse(f, nullptr, false);
    if (probe_json.is_discarded()) {
      std::cerr << "sealnet plan: " << a.probe_file << " is not JSON (expected `sealnet probe --json` output)\n";
      return 1;
    }
  } else {
    if (!has_capability(kCapNetAdmin)) {
      std::fprintf(stderr, "sealnet plan: without --probe FILE it probes this node, which needs CAP_NET_ADMIN; "
                           "run it as root or pass --probe with a saved `sealnet probe --json`\n");
      return 2;
    }
    auto kernel = sealnet::probe::make_kernel();
    if (!kernel) {
      std::cerr << "sealnet plan: " << kernel.error().message() << "\n";
      return 1;
    }
    auto report = sealnet::probe::run_probe(**kernel, {});
    if (!report) {
      std::cerr << "sealnet plan: probe: " << report.error().message() << "\n";
      return 1;
    }
    probe_json = sealnet::probe::to_json(*report);
  }
  auto devices = sealnet::plan::devices_from_probe(probe_json);
  if (!devices) {
    std::cerr << "sealnet plan: " << devices.error().message() << "\n";
    return 1;
  }
  if (devices->empty()) {
    std::cerr << "sealnet plan: the probe report has no device that is up (loopback is left out)\n";
    return 1;
  }
  if (a.in.cores <= 0) a.in.cores = static_cast<int>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
  auto node_plan = sealnet::plan::plan_node(*devices, a.in);
  node_plan.node_warning = sealnet::plan::node_warning_from_probe(probe_json);
  const auto report = sealnet::plan::render(node_plan);
  std::error_code ec;
  std::filesystem::create_directories(a.out_dir, ec);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream o(std::filesystem::path(a.out_dir) / name);
    o << text;
    return static_cast<bool>(o);
  };
  bool ok = !ec && write("report.md", report.markdown);
  for (const auto& [name, svg] : report.charts) ok = ok && write(name, svg);
  if (!ok) {
    std::cerr << "sealnet plan: cannot write the report into " << a.out_dir << "\n";
    return 1;
  }
  std::cout << report.markdown << "\nwritten: " << a.out_dir << "/report.md";
  for (const auto& [name, svg] : report.charts) std::cout << ", " << name;
  std::cout << "\n";
  return 0;
}

volatile sig_atomic_t g_stop = 0;
void on_stop_signal(int) { g_stop = 1; }

struct AgentArgs {
  std::string config;
  std::string node;
  std::string metrics;
  std::string trial = "flagged";
  bool once = false;
  bool check = false;
  int key_activation_s = 10;
  int resync_ms = 2000;
};

int run_agent_command(const AgentArgs& a) {
  constexpr int kCapBpf = 39;
  if (!a.check && (!has_capability(kCapNetAdmin) || !(has_capability(kCapSysAdmin) || has_capability(kCapBpf)))) {
    std::fprintf(stderr, "sealnet agent: needs CAP_NET_ADMIN (XFRM, routes, tc) and CAP_SYS_ADMIN or CAP_BPF "
                         "(BPF maps, bpffs); run it as root or with those capabilities\n");
    return 2;
  }
  sealnet::agent::Options o;
  o.config_path = a.config;
  if (!a.node.empty()) o.node_name = a.node;
  if (!a.metrics.empty()) o.metrics_listen = a.metrics;
  o.trial = a.trial == "all" ? sealnet::probe::TrialPolicy::all
            : a.trial == "none" ? sealnet::probe::TrialPolicy::none
                                : sealnet::probe::TrialPolicy::flagged;
  o.once = a.once;
  o.check = a.check;
  o.key_activation = std::chrono::seconds(a.key_activation_s);
  o.resync = std::chrono::milliseconds(a.resync_ms);
  struct sigaction sa{};
  sa.sa_handler = on_stop_signal;  // no SA_RESTART: poll() returns EINTR
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  return sealnet::agent::run_agent(o, g_stop);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sealnet: transparent, hardware-offload-aware IPsec for bare-metal clusters"};
  app.set_version_flag("--version", std::string("sealnet ") + SEALNET_VERSION);
  app.require_subcommand(1);
  auto* selftest = app.add_subcommand(
      "selftest", "Load the BPF datapath into this kernel and run known frames through it");
  ProbeArgs probe_args;
  auto* probe = app.add_subcommand(
      "probe", "Which devices really offload ESP: feature flags, trial SAs read back, verdicts");
  probe->add_flag("--json", probe_args.json, "JSON output (schema: docs/probe-json.md)");
  probe->add_option("--netns", probe_args.netns, "Probe this network namespace (ip netns name)");
  probe->add_flag("--no-trial", probe_args.no_trial, "Feature flags only, no trial SAs");
  probe->add_option("--trial", probe_args.trial,
                    "Which devices get trial SAs: flagged (esp-hw-offload on) or all")
      ->check(CLI::IsMember({"flagged", "all"}))
      ->excludes("--no-trial");
  probe->add_option("--watch", probe_args.watch_seconds,
                    "After the probe, re-probe each device that is added, changes state or "
                    "features, for this many seconds (0: until killed)")
      ->check(CLI::NonNegativeNumber);
  PlanArgs plan_args;
  auto* plan = app.add_subcommand(
      "plan", "Capacity plan from a probe report: encrypted throughput and CPU cost per device");
  plan->add_option("--probe", plan_args.probe_file, "`sealnet probe --json` output (default: probe this node now)");
  plan->add_option("--cores", plan_args.in.cores, "Cores for ESP (default: this machine's)")->check(CLI::PositiveNumber);
  plan->add_option("--nic-gbps", plan_args.in.nic_gbps, "Line rate where the probe does not know it")
      ->check(CLI::PositiveNumber);
  plan->add_option("--peers", plan_args.in.peers, "Nodes this node talks to")->capture_default_str()->check(CLI::PositiveNumber);
  plan->add_option("--mtu", plan_args.in.mtu, "MTU of the uplinks")->capture_default_str()->check(CLI::Range(576, 65535));
  plan->add_option("--keys", plan_args.in.keys_in_flight, "Keys in flight (2 during a rotation)")->capture_default_str()
      ->check(CLI::Range(1, 15));
  plan->add_option("--nic-sa-table", plan_args.in.nic_sa_table, "SAs one NIC holds (default: unbounded)")
      ->check(CLI::PositiveNumber);
  plan->add_option("--target-gbps", plan_args.in.target_gbps, "Compute the CPU cost at this rate")
      ->check(CLI::PositiveNumber);
  plan->add_option("--aes-gbps-per-core", plan_args.in.aes_gcm_gbps_per_core,
                   "Raw AES-GCM rate of one core (bench_crypto)")->capture_default_str()->check(CLI::PositiveNumber);
  plan->add_option("--esp-fixed-ns", plan_args.in.esp_fixed_ns, "Software ESP cost per packet besides AES")->capture_default_str()
      ->check(CLI::PositiveNumber);
  plan->add_option("--out", plan_args.out_dir, "Directory for report.md and the SVG charts")->capture_default_str();
  AgentArgs agent_args;
  auto* agent = app.add_subcommand("agent", "Run the sealnet agent: keep this node's traffic to other nodes encrypted");
  agent->add_option("--config", agent_args.config, "Agent config, YAML or JSON (docs/agent-config.md); "
                                                   "default: the embedded 3-node lab config");
  agent->add_option("--node", agent_args.node, "Which node of a shared config this is (by name)");
  agent->add_option("--metrics", agent_args.metrics, "Status and metrics address (overrides metrics.listen; off: none)");
  agent->add_option("--trial", agent_args.trial, "Probe trial SAs: flagged, all or none")
      ->check(CLI::IsMember({"flagged", "all", "none"}))->capture_default_str();
  agent->add_option("--key-activation", agent_args.key_activation_s,
                    "Seconds after which a static peer without `keys:` is assumed to hold a new key")
      ->capture_default_str()->check(CLI::Range(0, 3600));
  agent->add_option("--resync-ms", agent_args.resync_ms, "Full reconcile at least this often")
      ->capture_default_str()->check(CLI::Range(100, 600000));
  agent->add_flag("--once", agent_args.once, "Reconcile once and exit");
  agent->add_flag("--check", agent_args.check, "Validate the config and the key file, change nothing");
  std::string status_endpoint = "127.0.0.1:9962";
  bool status_json = false;
  auto* status = app.add_subcommand("status", "What the local agent encrypts how, and why (from its status endpoint)");
  status->add_option("--endpoint", status_endpoint, "The agent's metrics.listen address")->capture_default_str();
  status->add_flag("--json", status_json, "The agent's JSON (docs/status.md), all of it");
  sealnet::status::TableOptions status_table;
  bool status_all = false;
  status->add_option("--peer", status_table.peer, "Only this peer (name, node-<id> or address) and its states");
  auto* status_limit = status->add_option("--limit", status_table.limit,
                                          "At most N peers (problems first) after the summary")
                           ->capture_default_str();
  status->add_flag("--all", status_all, "Every peer")->excludes(status_limit);
  sealnet::monitor::MonitorOptions monitor_opts;
  std::string monitor_peer;
  auto* monitor = app.add_subcommand(
      "monitor", "The datapath's drops and flow records, live, from the running agent's ring buffer (docs/events.md)");
  monitor->add_flag("--drops", monitor_opts.drops, "Drops (and plaintext let pass); with neither flag: both");
  monitor->add_flag("--flows", monitor_opts.flows, "Flows marked for encryption or passed by a rule");
  monitor->add_option("--peer", monitor_peer, "Only records for this peer (name or node id)");
  monitor->add_flag("--json", monitor_opts.json, "One JSON object per line");
  monitor->add_option("--bpffs", monitor_opts.bpffs_dir, "The agent's bpffs_dir")->capture_default_str();
  monitor->add_option("--endpoint", monitor_opts.endpoint, "The agent's status address, for names")
      ->capture_default_str();
  std::string audit_since = "10m";
  std::string audit_endpoint = "127.0.0.1:9962";
  bool audit_json = false;
  auto* audit = app.add_subcommand(
      "audit", "Compliance over a window: exit 1 when plaintext left for a remote node or traffic for a peer was "
               "dropped (docs/events.md)");
  audit->add_option("--since", audit_since, "The window: 90s, 10m, 2h (the agent keeps an hour)")
      ->capture_default_str();
  audit->add_option("--endpoint", audit_endpoint, "The agent's metrics.listen address")->capture_default_str();
  audit->add_flag("--json", audit_json, "The report as one JSON object");
  auto* lab = app.add_subcommand("lab", "A 3-node cluster of network namespaces with one agent each: "
                                      "up [--nodes N] | add-node | traffic | status | down, each also --vm");
  lab->allow_extras()->prefix_command();
  CLI11_PARSE(app, argc, argv);
  if (*lab) return sealnet::lab::lab_main(lab->remaining());
  if (*agent) return run_agent_command(agent_args);
  if (*status) {
    if (status_all) status_table.limit = SIZE_MAX;
    return sealnet::status::status_main(status_endpoint, status_json, status_table);
  }
  if (*monitor) {
    if (!monitor_peer.empty()) monitor_opts.peer = monitor_peer;
    struct sigaction sa{};
    sa.sa_handler = on_stop_signal;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    return sealnet::monitor::monitor_main(monitor_opts, g_stop);
  }
  if (*audit) {
    uint64_t since = 0;
    if (!sealnet::monitor::parse_duration(audit_since, since)) {
      std::fprintf(stderr, "sealnet audit: --since %s: expected a duration such as 90s, 10m or 2h\n",
                   audit_since.c_str());
      return 2;
    }
    return sealnet::monitor::audit_main(audit_endpoint, since, audit_json);
  }
  if (*plan) return run_plan_command(plan_args);
  if (*selftest) return run_selftest();
  if (*probe) return run_probe_command(probe_args);
  return 0;
}
