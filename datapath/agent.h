// datapath/agent: the sealnet agent — one node's datapath kept in force.
//
// Desired state (the config's node and peers, the key file, the uplinks and
// their probed modes) is reconciled into kernel state: the pinned BPF maps
// (config, ipcache, nodes, devices), the tc programs (from_pod on pod devices,
// to_wire on uplinks), the XFRM states and policies (offload/reconciler.h) and
// the per-slot policy routing (offload/route_reconciler.h). Every change is a
// diff against what is there: nothing is flushed. The agent is the composition
// root: a sync gathers what it knows, datapath/desired.h decides (pure, unit
// tested), datapath/effectors.h applies; the event loop only turns events into
// syncs.
//
// Order, so that no packet leaves in plaintext and none is dropped needlessly:
//  1. maps first (ipcache, devices, nodes with "no key yet" = drop), then the
//     to_wire audit, then from_pod: a remote pod is never "unknown" (= plaintext
//     passes) once its traffic is classified;
//  2. XFRM states and policies, then slot routes;
//  3. only then a peer's send key in the nodes map (offload::tx_key): the BPF
//     program marks packets for a key only when its states exist.
// Events: inotify on the directories of the key file and of the config file
// (catches editors, `mv`, and the ..data symlink swap of Kubernetes Secret
// volumes), device add/remove/up/down/feature changes (probe::Monitor), a
// periodic resync as the safety net. Stop (SIGTERM/SIGINT) leaves everything in
// force; a restart loads the pinned maps (each peer keeps the send key in force,
// each uplink its slot; entries of peers no longer in force are swept),
// replaces the tc programs in place and continues each slot at the generation
// its outbound states in the kernel carry, or after a reboot past the one the
// state file (state_dir) saved (docs/xfrm-design.md "Generations").
#pragma once

#include <signal.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "core/error.h"
#include "datapath/config.h"
#include "datapath/status.h"
#include "probe/probe.h"

namespace sealnet::agent {

struct Options {
  std::string config_path;  // empty: the embedded default (no reloads)
  std::optional<std::string> node_name;  // `--node NAME`: pick this node out of a shared file
  std::optional<std::string> metrics_listen;  // overrides the config's metrics.listen
  probe::TrialPolicy trial = probe::TrialPolicy::flagged;
  // Static peers without `keys:` are assumed to hold a key of ours this long
  // after we first loaded it (a Secret reaches every node within the kubelet's
  // sync period); traffic a peer sends us under that key proves it sooner.
  std::chrono::seconds key_activation{10};
  std::chrono::milliseconds resync{2000};  // full reconcile at least this often
  std::chrono::milliseconds status_refresh{1000};
  bool once = false;  // one reconcile, then return (tests, `sealnet agent --once`)
  // Validate the config and the key file, print what would run, change nothing
  // (`sealnet agent --check`; needs no privileges beyond reading the files).
  bool check = false;
};

// Runs the agent until `stop` becomes non-zero (the CLI's signal handler sets
// it). Returns the process exit code: 0 stopped cleanly, 1 could not start.
int run_agent(const Options& opts, const volatile sig_atomic_t& stop);

}  // namespace sealnet::agent
