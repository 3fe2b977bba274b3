// datapath/status/prometheus: the snapshot as Prometheus text exposition 0.0.4,
// every family declared on every scrape (docs/status.md "Metrics").
#pragma once

#include <string>

#include "datapath/status/model.h"

namespace sealnet::status {

std::string render_prometheus(const AgentStatus& s);

}  // namespace sealnet::status
