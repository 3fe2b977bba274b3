#include "datapath/status/traffic.h"

namespace sealnet::status {

namespace {

uint64_t grown(uint64_t now, uint64_t before) { return now >= before ? now - before : now; }

SaCounters increase(const SaCounters& now, const SaCounters& before) {
  // A state the kernel started again under the same SPI counts from zero: one
  // field going down means all of them did.
  const bool restarted = now.packets < before.packets || now.bytes < before.bytes;
  if (restarted) return now;
  return {grown(now.packets, before.packets), grown(now.bytes, before.bytes),
          grown(now.replay_errors, before.replay_errors),
          grown(now.integrity_errors, before.integrity_errors),
          grown(now.replay_window_errors, before.replay_window_errors)};
}

void add(SaCounters& to, const SaCounters& d) {
  to.packets += d.packets;
  to.bytes += d.bytes;
  to.replay_errors += d.replay_errors;
  to.integrity_errors += d.integrity_errors;
  to.replay_window_errors += d.replay_window_errors;
}

}  // namespace

std::string traffic_device(const PeerStatus& p, const PeerSa& sa) {
  if (!sa.device.empty()) return sa.device;
  return p.device.empty() ? "none" : p.device;
}

void TrafficBook::account(AgentStatus& s) {
  std::map<StateKey, SaCounters> seen;
  std::map<std::pair<uint16_t, std::string>, SaCounters> peers;
  std::map<GroupKey, uint64_t> states;
  for (auto& p : s.peers) {
    for (const char* dir : {"out", "in"}) {
      const auto key = std::pair{p.id, std::string(dir)};
      if (auto it = peers_.find(key); it != peers_.end()) peers[key] = it->second;
    }
    for (const auto& sa : p.sas) {
      StateKey k{p.id, sa.dir, sa.spi};
      const auto before = last_.find(k);
      const SaCounters d = before == last_.end() ? sa.counters : increase(sa.counters, before->second);
      seen[k] = sa.counters;
      add(peers[{p.id, sa.dir}], d);
      GroupKey g{traffic_device(p, sa), sa.mode.empty() ? "software" : sa.mode, sa.dir};
      add(groups_[g], d);
      ++states[g];
    }
    p.out_since_start = peers[{p.id, "out"}];
    p.in_since_start = peers[{p.id, "in"}];
  }
  last_ = std::move(seen);
  peers_ = std::move(peers);
  s.traffic.clear();
  for (const auto& [g, c] : groups_) {
    const auto& [device, mode, dir] = g;
    const auto n = states.find(g);
    s.traffic.push_back({device, mode, dir, n == states.end() ? 0 : n->second, c});
  }
}

}  // namespace sealnet::status
