// datapath/status/traffic: counters that never go down, made from the kernel's
// per-state ones (which start at zero with every new SPI and vanish with their
// state): per peer and direction, and per device, mode and direction. What the
// metrics export as counters (docs/status.md "Metrics"), so rate() holds across
// rotations and rebuilt states.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <utility>

#include "datapath/status/model.h"

namespace sealnet::status {

class TrafficBook {
 public:
  // Reads s.peers[].sas (and each peer's device, for software states); adds what
  // each state counted since the last call (all of it for a state not seen
  // before, or one whose counters went down: the kernel started it again), then
  // writes s.peers[].out_since_start / in_since_start and s.traffic. Peers no
  // longer in `s` are forgotten; a device and mode seen once stays in s.traffic.
  void account(AgentStatus& s);

 private:
  using StateKey = std::tuple<uint16_t, std::string, uint32_t>;        // peer id, dir, spi
  using GroupKey = std::tuple<std::string, std::string, std::string>;  // device, mode, dir
  std::map<StateKey, SaCounters> last_;
  std::map<std::pair<uint16_t, std::string>, SaCounters> peers_;  // (peer id, dir)
  std::map<GroupKey, SaCounters> groups_;
};

// The device label of a state: where it is offloaded to, else the peer's uplink,
// else "none".
std::string traffic_device(const PeerStatus& p, const PeerSa& sa);

}  // namespace sealnet::status
