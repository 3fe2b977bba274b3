#include "bench/driver/agent_inputs.h"

#include <algorithm>
#include <set>

namespace sealnet::driver {

std::optional<IpAddr> outer_local(const config::LocalNode& n) { return n.ipv4 ? n.ipv4 : n.ipv6; }

std::optional<IpAddr> outer_peer(const config::LocalNode& local, const config::Peer& p) {
  if (local.ipv4) return p.ipv4;
  return p.ipv6;
}

int route_device(const std::vector<route::Route>& main, const IpAddr& dst) {
  int best = 0, best_len = -1;
  for (const auto& r : main)
    if (r.dst.addr.family == dst.family && r.dst.contains(dst) && r.dst.len > best_len) {
      best = r.oif;
      best_len = r.dst.len;
    }
  return best;
}

std::vector<int> uplinks(const config::AgentConfig& cfg, const std::map<int, std::string>& links,
                         const std::vector<route::Route>& main, std::string& problems) {
  std::set<int> out;
  if (!cfg.uplinks.empty()) {
    for (const auto& name : cfg.uplinks) {
      auto it = std::find_if(links.begin(), links.end(), [&](const auto& kv) { return kv.second == name; });
      if (it == links.end())
        problems += "uplink " + name + " does not exist; ";
      else
        out.insert(it->first);
    }
  } else {
    for (const auto& p : cfg.peers)
      if (auto a = outer_peer(cfg.node, p))
        if (int oif = route_device(main, *a); oif > 0 && links.contains(oif) && links.at(oif) != "lo")
          out.insert(oif);
  }
  return {out.begin(), out.end()};
}

AgentInputs agent_inputs(const config::AgentConfig& cfg, const keys::KeySet& keys,
                         const fallback::ModeBook& modes, const std::map<int, uint8_t>& slot_of,
                         const std::vector<route::Route>& main) {
  AgentInputs out;
  auto& in = out.xfrm;
  in.local = {cfg.node.id, outer_local(cfg.node).value_or(IpAddr{})};
  in.keys = &keys;
  std::set<IpPrefix> subnets;
  for (const auto& p : cfg.peers) {
    auto a = outer_peer(cfg.node, p);
    if (!a) {
      out.problems += "peer " + p.name + " has no address of our outer family; ";
      continue;
    }
    offload::PeerNode pn;
    pn.id = p.id;
    pn.addr = *a;
    pn.slots.clear();
    for (uint8_t s = 0; s < p.uplinks; ++s) pn.slots.push_back(s);
    if (p.keys) {
      pn.keys = *p.keys;
    } else {
      for (const auto& k : keys.keys) pn.keys.push_back(k.id);
    }
    // The slot its traffic arrives on: the one whose device routes to it.
    if (auto it = slot_of.find(route_device(main, *a)); it != slot_of.end()) pn.rx_slot = it->second;
    pn.dsts = p.pod_cidrs;
    for (const auto& c : p.pod_cidrs) subnets.insert(c);
    in.peers.push_back(std::move(pn));
  }
  in.opts.subnets.assign(subnets.begin(), subnets.end());

  // Each slot's table routes what the main table routes through the slot's
  // device, so ESP leaves by the device whose SA made it.
  out.routes.modes = &modes;
  for (const auto& [ifx, slot] : slot_of)
    for (const auto& rt : main)
      if (rt.oif == ifx) out.routes.routes[slot].push_back({rt.dst, rt.gateway});
  return out;
}

}  // namespace sealnet::driver
