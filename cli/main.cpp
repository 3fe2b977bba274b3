// The one sealnet binary: each subcommand is a thin front end over a component.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#include "bpf/programs.h"
#include "core/netns.h"
#include "probe/probe.h"
#include "probe/monitor.h"
#include "probe/render.h"
#include "probe/watch.h"

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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sealnet: transparent, hardware-offload-aware IPsec for bare-metal clusters"};
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
  CLI11_PARSE(app, argc, argv);
  if (*selftest) return run_selftest();
  if (*probe) return run_probe_command(probe_args);
  return 0;
}
