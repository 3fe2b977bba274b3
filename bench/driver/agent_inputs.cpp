#include "bench/driver/agent_inputs.h"

namespace sealnet::driver {

agent::DesiredState desired(const config::AgentConfig& cfg, const keys::KeySet& keys,
                            const fallback::ModeBook& modes, const std::map<int, uint8_t>& slot_of,
                            const std::map<int, probe::LinkInfo>& links,
                            const std::vector<route::Route>& main) {
  agent::KeyEvidence settled;
  settled.activation_ms = 0;
  for (const auto& k : keys.keys) settled.loaded_at[k.id] = 0;
  agent::DesiredInput in;
  in.cfg = &cfg;
  in.peers = &cfg.peers;
  in.keys = &keys;
  in.modes = &modes;
  in.slot_of = &slot_of;
  in.links = &links;
  in.main = &main;
  for (const auto& p : cfg.peers) in.peer_keys[p.id] = agent::peer_key_ids(p, keys, settled, 0);
  return agent::compute(in);
}

}  // namespace sealnet::driver
