// datapath/status/health: what /healthz and /readyz answer, from a snapshot and
// the clock. Pure. Bodies say why in words, never a key (errors pass through
// printable()).
//
//  /healthz fails when the event loop has not finished a sync for `stale_after`
//  seconds (default max(60, 4 x the resync period): a stuck loop), or when
//  reconciles have failed `failures` times in a row over at least `failing_for`
//  seconds (a node that cannot converge: restart it, or look at the error).
//  /readyz is false until the first full reconcile after a start succeeded.
#pragma once

#include <cstdint>
#include <string>

#include "datapath/status/model.h"

namespace sealnet::status {

struct HealthLimits {
  uint64_t stale_after = 0;  // 0: max(60, 4 * loop.sync_every)
  uint64_t failing_for = 120;
  uint64_t failures = 3;
};

struct Probe {
  bool ok = false;
  std::string body;  // one line, ends with \n
};

Probe healthz(const AgentStatus& s, uint64_t now, const HealthLimits& limits = {});
Probe readyz(const AgentStatus& s);

}  // namespace sealnet::status
