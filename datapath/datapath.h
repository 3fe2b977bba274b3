// datapath/: the sealnet agent — desired state (nodes, keys, devices) reconciled
// into kernel state (BPF maps, XFRM states and policies, routes) with no flush
// and no drop; event loop, key manager, status and metrics.
#pragma once

#include "datapath/agent.h"               // the agent: run_agent
#include "datapath/config.h"              // its configuration (docs/agent-config.md)
#include "datapath/desired.h"             // what the datapath should be, decided without the kernel
#include "datapath/discovery/registry.h"  // peers on etcd
#include "datapath/effectors.h"           // a desired state applied, in order
#include "datapath/lab/lab.h"             // `sealnet lab`
#include "datapath/status.h"              // status, metrics, the HTTP endpoint
#include "keys/keys.h"                    // the key file
