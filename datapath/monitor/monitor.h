// datapath/monitor: `sealnet monitor` (the datapath's events, live, from the
// ring buffer a running agent pinned) and `sealnet audit` (a compliance verdict
// over a window of the agent's counters). docs/events.md.
#pragma once

#include <csignal>
#include <cstdint>
#include <optional>
#include <string>

#include "datapath/monitor/audit.h"
#include "datapath/monitor/format.h"

namespace sealnet::monitor {

struct MonitorOptions {
  bool drops = false;  // neither: both
  bool flows = false;
  std::optional<std::string> peer;  // a peer's name (from /status) or node id
  bool json = false;
  std::string bpffs_dir = "/sys/fs/bpf/sealnet";
  std::string endpoint = "127.0.0.1:9962";  // for names and SPI generations; optional
};

// Runs until `stop`. Exit status: 0 stopped, 1 a failure (monitor off in the
// agent's config, unknown peer, a map that cannot be read), 2 no agent (no
// pinned ring buffer: the message names the path).
int monitor_main(const MonitorOptions& o, const volatile sig_atomic_t& stop);

// `sealnet audit`: 0 compliant, 1 not (the violations are printed), 2 the agent
// cannot be reached.
int audit_main(const std::string& endpoint, uint64_t since, bool json);

}  // namespace sealnet::monitor
