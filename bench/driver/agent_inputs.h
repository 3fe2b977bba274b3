// The agent's desired state (datapath/desired.h) for a driver that stands in for
// the agent with its config and key file only: no discovery (peers announce no
// generations), no pinned maps, no traffic seen yet.
#pragma once

#include <map>
#include <vector>

#include "datapath/config.h"
#include "datapath/desired.h"
#include "fallback/modes.h"
#include "keys/keys.h"
#include "netlink/link_codec.h"
#include "netlink/route_codec.h"

namespace sealnet::driver {

// agent::compute of the config's peers. A peer's keys are agent::peer_key_ids
// with every key of `keys` held past its activation delay: the ones its config
// entry announces, else all of ours (the agent's fresh-start assumption).
agent::DesiredState desired(const config::AgentConfig& cfg, const keys::KeySet& keys,
                            const fallback::ModeBook& modes, const std::map<int, uint8_t>& slot_of,
                            const std::map<int, probe::LinkInfo>& links,
                            const std::vector<route::Route>& main);

}  // namespace sealnet::driver
