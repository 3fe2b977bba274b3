// datapath/: the sealnet agent — desired state (nodes, keys, devices) reconciled
// into kernel state (BPF maps, XFRM states and policies, routes) with no flush
// and no drop; event loop, key manager, status and metrics.
#pragma once

// So far: the key file and the agent's configuration.
#include "datapath/config.h"
#include "datapath/keys.h"
