// What the agent hands the XFRM and slot-route reconcilers, computed from the
// agent's own inputs (its config, key set, device slots, the main routing table)
// the way datapath/agent.cpp's sync does, for the drivers that stand in for it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "datapath/config.h"
#include "fallback/modes.h"
#include "keys/keys.h"
#include "netlink/route_codec.h"
#include "offload/reconciler.h"
#include "offload/route_reconciler.h"

namespace sealnet::driver {

inline constexpr uint32_t kMainTable = 254;  // RT_TABLE_MAIN

// The outer (node) address used towards a peer: IPv4 when both have one.
std::optional<IpAddr> outer_local(const config::LocalNode& n);
std::optional<IpAddr> outer_peer(const config::LocalNode& local, const config::Peer& p);

// Longest-prefix match over the main table's routes: the output ifindex (0: none).
int route_device(const std::vector<route::Route>& main, const IpAddr& dst);

// The uplinks' ifindexes: the configured names found in `links` (ifindex ->
// name), or with none configured every device the main table uses to reach a
// peer (not lo). Names not found are reported in `problems`.
std::vector<int> uplinks(const config::AgentConfig& cfg, const std::map<int, std::string>& links,
                         const std::vector<route::Route>& main, std::string& problems);

struct AgentInputs {
  offload::ReconcileInput xfrm;
  offload::SlotRouteInput routes;
  std::string problems;  // "peer x has no address of our outer family; ..."
};

// The reconcilers' inputs. A peer's keys are those its config entry announces;
// without `keys:` every key of `keys` (the agent's fresh-start assumption: the
// cluster is settled on the keys present). Peers announce no generations (they
// come from discovery). `slot_of`: uplink ifindex -> slot.
AgentInputs agent_inputs(const config::AgentConfig& cfg, const keys::KeySet& keys,
                         const fallback::ModeBook& modes, const std::map<int, uint8_t>& slot_of,
                         const std::vector<route::Route>& main);

}  // namespace sealnet::driver
