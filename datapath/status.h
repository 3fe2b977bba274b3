// datapath/status: what a running agent knows about itself (AgentStatus), as
// `sealnet status` (table, --json) and the Prometheus endpoint show it. One job
// per header in status/; this one gathers them for the agent and the CLI.
#pragma once

#include "datapath/status/client.h"      // `sealnet status`: fetch and print
#include "datapath/status/health.h"      // /healthz, /readyz
#include "datapath/status/model.h"       // the snapshot and its JSON
#include "datapath/status/prometheus.h"  // /metrics
#include "datapath/status/server.h"      // the HTTP endpoint
#include "datapath/status/table.h"       // the `sealnet status` table
#include "datapath/status/traffic.h"     // counters that never go down
