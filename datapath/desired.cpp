// The agent's desired state (datapath/desired.h): pure functions of what it knows.
#include "datapath/desired.h"

#include <algorithm>
#include <cstring>

#include <sys/socket.h>

#include "keys/ring.h"

namespace sealnet::agent {

std::optional<IpAddr> outer_local(const config::LocalNode& n) { return n.ipv4 ? n.ipv4 : n.ipv6; }
std::optional<IpAddr> outer_peer(const config::LocalNode& local, const config::Peer& p) {
  if (local.ipv4) return p.ipv4;
  return p.ipv6;
}

std::string no_outer_address(const config::LocalNode& local) {
  return std::string("no ") + (local.ipv4 ? "IPv4" : "IPv6") + " address, the outer family of node " + local.name +
         ": its traffic is dropped and counted as node-no-address until it has one (or this node has an "
         "address of the peer's family)";
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

UplinkChoice select_uplinks(const config::AgentConfig& cfg, const std::vector<config::Peer>& peers,
                            const std::map<int, probe::LinkInfo>& links,
                            const std::vector<route::Route>& main) {
  UplinkChoice c;
  if (!cfg.uplinks.empty()) {
    for (const auto& name : cfg.uplinks) {
      auto it =
          std::find_if(links.begin(), links.end(), [&](const auto& kv) { return kv.second.name == name; });
      if (it == links.end())
        c.problems.push_back("uplink " + name + " does not exist");
      else
        c.uplinks.insert(it->first);
    }
    return c;
  }
  for (const auto& p : peers)
    if (auto a = outer_peer(cfg.node, p))
      if (int oif = route_device(main, *a); oif > 0 && links.contains(oif) && links.at(oif).name != "lo")
        c.uplinks.insert(oif);
  return c;
}

std::optional<uint8_t> choose_slot(const std::map<int, uint8_t>& slot_of, std::optional<uint8_t> pinned) {
  std::set<uint8_t> used;
  for (const auto& [_, s] : slot_of) used.insert(s);
  if (pinned && !used.contains(*pinned)) return pinned;
  for (uint8_t s = 0; s < SEALNET_MAX_SLOTS; ++s)
    if (!used.contains(s)) return s;
  return std::nullopt;
}

std::vector<std::string> join_uplinks(const config::AgentConfig& cfg, const std::vector<config::Peer>& peers,
                                      const std::map<int, probe::LinkInfo>& links,
                                      const std::vector<route::Route>& main, std::map<int, uint8_t>& slot_of,
                                      const fallback::ModeBook& modes,
                                      const std::function<std::optional<uint8_t>(int)>& pinned_slot,
                                      const std::function<void(int, uint8_t)>& join) {
  auto chosen = select_uplinks(cfg, peers, links, main);
  for (int ifx : chosen.uplinks) {
    if (slot_of.contains(ifx)) continue;
    auto pinned = pinned_slot(ifx);
    // An uplink that vanished (its ifindex is gone from the links) and is back
    // under a new ifindex (a re-created device, a driver reload) takes its slot
    // back, found by its name: the marks, SPIs and decisions carry that slot.
    for (auto it = slot_of.begin(); it != slot_of.end(); ++it) {
      if (links.contains(it->first)) continue;
      const auto* st = modes.slot(it->second);
      const bool same_device = pinned ? *pinned == it->second : st && st->dev.name == links.at(ifx).name;
      if (!same_device) continue;
      pinned = it->second;
      slot_of.erase(it);
      break;
    }
    auto slot = choose_slot(slot_of, pinned);
    if (!slot) {
      chosen.problems.push_back(fail(ENOSPC, "assign a device slot", "ifindex " + std::to_string(ifx),
                                     "all 16 slots are in use (4 bits of the packet mark)")
                                    .error()
                                    .message());
      continue;
    }
    slot_of[ifx] = *slot;
    join(ifx, *slot);
  }
  return std::move(chosen.problems);
}

void observe_links(fallback::ModeBook& modes, const std::map<int, uint8_t>& slot_of,
                   const std::map<int, probe::LinkInfo>& links, uint64_t now_s) {
  for (const auto& [ifx, slot] : slot_of) {
    auto l = links.find(ifx);
    if (l == links.end() || !l->second.up())
      modes.link_down(slot, now_s);
    else
      modes.link_up(slot, now_s);
  }
}

std::map<uint8_t, uint8_t> kernel_generations(const std::vector<xfrm::SaEntry>& states, uint16_t local_id) {
  std::map<uint8_t, std::set<uint8_t>> seen;
  for (const auto& sa : states) {
    if (sa.reqid != offload::kReqidOut) continue;
    const auto parts = offload::split_spi(sa.id.spi);
    if (parts.node != local_id) continue;
    seen[parts.slot].insert(parts.generation);
  }
  std::map<uint8_t, uint8_t> out;
  for (const auto& [slot, gens] : seen) {
    // Newest on the ring: no other generation is 1..127 steps ahead of it.
    uint8_t newest = *gens.rbegin();
    for (uint8_t g : gens)
      if (std::all_of(gens.begin(), gens.end(), [g](uint8_t h) {
            const uint8_t ahead = static_cast<uint8_t>(h - g);
            return ahead == 0 || ahead >= 128;
          })) {
        newest = g;
        break;
      }
    out[slot] = newest;
  }
  return out;
}

bool generation_ahead(uint8_t a, uint8_t b) {
  const auto d = static_cast<uint8_t>(a - b);
  return d >= 1 && d <= 127;
}

std::optional<uint8_t> start_generation(std::optional<uint8_t> kernel, std::optional<uint8_t> saved) {
  if (saved && (!kernel || generation_ahead(*saved, *kernel))) return static_cast<uint8_t>(*saved + 1);
  return kernel;
}

std::optional<uint8_t> continue_generation(fallback::ModeBook& modes, uint8_t slot,
                                           std::map<uint8_t, uint8_t>& kernel_generations,
                                           const std::map<uint8_t, uint8_t>& saved) {
  if (!modes.slot(slot)) return std::nullopt;
  std::optional<uint8_t> kernel, file;
  if (auto g = kernel_generations.find(slot); g != kernel_generations.end()) {
    kernel = g->second;
    kernel_generations.erase(g);
  }
  if (auto g = saved.find(slot); g != saved.end()) file = g->second;
  const auto gen = start_generation(kernel, file);
  if (gen) modes.adopt_generation(slot, *gen);
  return gen;
}

namespace {
bool advance(RxBases& bases, uint16_t peer, uint8_t slot, uint8_t g) {
  auto [it, fresh] = bases[peer].try_emplace(slot, g);
  if (fresh) return g != 0;
  if (!generation_ahead(g, it->second)) return false;
  it->second = g;
  return true;
}
}  // namespace

bool follow_generations(const std::vector<xfrm::SaEntry>& states, RxBases& bases) {
  bool moved = false;
  for (const auto& sa : states) {
    if (sa.reqid != offload::kReqidIn || sa.current.packets == 0) continue;
    const auto parts = offload::split_spi(sa.id.spi);
    moved = advance(bases, parts.node, parts.slot, parts.generation) || moved;
  }
  return moved;
}

bool follow_announced(const std::map<uint16_t, std::vector<uint8_t>>& announced, RxBases& bases) {
  bool moved = false;
  for (const auto& [peer, gens] : announced)
    for (size_t s = 0; s < gens.size(); ++s) moved = advance(bases, peer, static_cast<uint8_t>(s), gens[s]) || moved;
  return moved;
}

std::set<uint8_t> adopted_keys(const keys::KeySet& keys, uint8_t pinned_send_key) {
  std::set<uint8_t> out;
  if (pinned_send_key == 0) return out;
  for (const auto& key : keys.keys)
    if (key.id == pinned_send_key || sealnet_key_ahead(pinned_send_key, key.id) <= SEALNET_KEY_HALF_RING)
      out.insert(key.id);
  return out;
}

std::vector<uint8_t> peer_key_ids(const config::Peer& p, const keys::KeySet& keys, const KeyEvidence& ev,
                                  uint64_t now_ms, std::string* source) {
  if (p.keys) {
    if (source) *source = "config";
    return *p.keys;
  }
  auto holds = [&](const std::map<uint16_t, std::set<uint8_t>>& m, uint8_t id) {
    auto it = m.find(p.id);
    return it != m.end() && it->second.contains(id);
  };
  std::vector<uint8_t> out;
  bool observed = false;
  for (const auto& key : keys.keys) {
    const bool seen = holds(ev.observed, key.id);
    const bool adopted = holds(ev.adopted, key.id);
    const auto at = ev.loaded_at.find(key.id);
    const bool settled = at != ev.loaded_at.end() && now_ms >= at->second + ev.activation_ms;
    if (seen || adopted || settled) out.push_back(key.id);
    observed = observed || seen;
  }
  if (source) *source = observed ? "observed" : "assumed";
  return out;
}

std::vector<std::string> host_encryption_problems(const config::AgentConfig& cfg, const HostSysctls& s) {
  std::vector<std::string> out;
  if (!cfg.encrypt_host) return out;
  auto v6 = [](const std::vector<IpPrefix>& cidrs) {
    return std::any_of(cidrs.begin(), cidrs.end(), [](const IpPrefix& c) { return c.addr.family == AF_INET6; });
  };
  bool ipv6 = cfg.node.ipv6.has_value() || v6(cfg.node.pod_cidrs);
  for (const auto& p : cfg.peers) ipv6 = ipv6 || p.ipv6.has_value() || v6(p.pod_cidrs);
  const std::string why = "; encrypt_host: true re-routes host traffic through the host encryption device "
                          "as forwarded traffic (docs/traffic-classes.md)";
  if (s.ipv4_forwarding != true)
    out.push_back(std::string(s.ipv4_forwarding ? "net.ipv4.ip_forward is 0" : "net.ipv4.ip_forward could not be read") +
                  ": set net.ipv4.ip_forward=1" + why);
  if (ipv6 && s.ipv6_forwarding != true)
    out.push_back(std::string(s.ipv6_forwarding ? "net.ipv6.conf.all.forwarding is 0"
                                                : "net.ipv6.conf.all.forwarding could not be read") +
                  " and this cluster has IPv6: set net.ipv6.conf.all.forwarding=1" + why);
  if (!s.ipv4_rp_filter)
    out.push_back("net.ipv4.conf.all.rp_filter could not be read: it must be 0 or 2" + why);
  else if (*s.ipv4_rp_filter == 1)
    out.push_back("net.ipv4.conf.all.rp_filter is 1 (strict; the larger of `all` and the device's value "
                  "applies to every device, so the device's own 0 cannot lift it): set "
                  "net.ipv4.conf.all.rp_filter=0 or 2, host traffic re-entering at the host encryption device "
                  "has a local source and fails the strict check (net/ipv4/fib_frontend.c:397-398)");
  return out;
}

namespace {

uint8_t bpf_mode(xfrm::OffloadMode m) {
  switch (m) {
    case xfrm::OffloadMode::packet:
      return SEALNET_MODE_PACKET;
    case xfrm::OffloadMode::crypto:
      return SEALNET_MODE_CRYPTO;
    default:
      return SEALNET_MODE_SOFTWARE;
  }
}

}  // namespace

DesiredState compute(const DesiredInput& in) {
  const config::AgentConfig& cfg = *in.cfg;
  const auto& main = *in.main;
  const auto& links = *in.links;
  const auto& slot_of = *in.slot_of;
  DesiredState d;

  for (const auto& p : *in.peers)
    if (auto a = outer_peer(cfg.node, p))
      if (auto it = slot_of.find(route_device(main, *a)); it != slot_of.end())
        d.route_slot[p.id] = it->second;

  // Pod devices: where the routes to this node's pod CIDRs lead.
  for (const auto& r : main)
    for (const auto& cidr : cfg.node.pod_cidrs)
      if (r.dst.addr.family == cidr.addr.family && r.dst.len >= cidr.len && cidr.contains(r.dst.addr) &&
          !slot_of.contains(r.oif) && links.contains(r.oif))
        d.from_pod.insert(r.oif);
  for (const auto& [ifx, _] : slot_of)
    if (links.contains(ifx)) d.to_wire.insert(ifx);
  for (const auto& [ifx, _] : links) d.present.insert(ifx);

  // BPF maps.
  d.config.local_node_id = cfg.node.id;
  d.config.key_id = in.keys->newest() ? in.keys->newest()->id : 0;
  d.config.fail_closed = cfg.fail_closed ? 1 : 0;
  d.config.encrypt_host = cfg.encrypt_host ? 1 : 0;
  d.config.events = static_cast<uint8_t>((cfg.monitor.drops ? SEALNET_EV_F_DROPS : 0) |
                                         (cfg.monitor.flows ? SEALNET_EV_F_FLOWS : 0));
  for (const auto& [ifx, slot] : slot_of) {
    sealnet_device_value v{};
    v.slot = slot;
    v.mode = bpf_mode(in.modes->slot(slot) ? in.modes->slot(slot)->mode : xfrm::OffloadMode::none);
    d.devices[ifx] = v;
  }
  auto add_node = [&](uint16_t id, const std::optional<IpAddr>& v4, const std::optional<IpAddr>& v6,
                      const std::vector<IpPrefix>& cidrs) {
    for (const auto& a : {v4, v6})
      if (a) d.ipcache[IpPrefix::host(*a)] = {id, SEALNET_IPCACHE_NODE_ADDR};
    for (const auto& c : cidrs) d.ipcache[c] = {id, SEALNET_IPCACHE_POD_CIDR};
  };
  add_node(cfg.node.id, cfg.node.ipv4, cfg.node.ipv6, cfg.node.pod_cidrs);
  for (const auto& p : *in.peers) add_node(p.id, p.ipv4, p.ipv6, p.pod_cidrs);
  for (const auto& p : *in.peers) {
    // Only the address of the outer family: the BPF program tunnels to the
    // peer's IPv4 address when it has one, the XFRM plan to outer_peer(). A
    // peer without that family gets no address at all, so its traffic is
    // dropped and counted as node-no-address (and reported below), not marked
    // for a tunnel no state or policy exists for.
    sealnet_node_value v{};
    const auto outer = outer_peer(cfg.node, p);
    if (outer && outer->family == AF_INET) {
      std::memcpy(v.ipv4, outer->bytes.data(), 4);
      v.flags |= SEALNET_NODE_HAS_IPV4;
    } else if (outer) {
      std::memcpy(v.ipv6, outer->bytes.data(), 16);
      v.flags |= SEALNET_NODE_HAS_IPV6;
    }
    auto k = in.send_keys.find(p.id);
    v.peer_key_id = k != in.send_keys.end() ? k->second : 0;
    d.nodes[p.id] = v;
  }

  // XFRM.
  d.xfrm.local = {cfg.node.id, *outer_local(cfg.node), cfg.node.pod_cidrs};
  d.xfrm.keys = in.keys;
  std::set<IpPrefix> subnets;
  for (const auto& p : *in.peers) {
    auto a = outer_peer(cfg.node, p);
    if (!a) {
      d.problems.push_back("peer " + p.name + " has " + no_outer_address(cfg.node));
      continue;
    }
    offload::PeerNode pn;
    pn.id = p.id;
    pn.addr = *a;
    pn.slots.clear();
    for (uint8_t s = 0; s < p.uplinks; ++s) pn.slots.push_back(s);
    if (auto g = in.peer_generations.find(p.id); g != in.peer_generations.end())
      for (size_t s = 0; s < g->second.size(); ++s) pn.generations[static_cast<uint8_t>(s)] = g->second[s];
    if (auto b = in.rx_bases.find(p.id); b != in.rx_bases.end())
      for (const auto& [s, base] : b->second) {
        auto [it, fresh] = pn.generations.try_emplace(s, base);
        if (!fresh && generation_ahead(base, it->second)) it->second = base;
      }
    if (auto k = in.peer_keys.find(p.id); k != in.peer_keys.end()) pn.keys = k->second;
    if (auto rs = d.route_slot.find(p.id); rs != d.route_slot.end()) pn.rx_slot = rs->second;
    // docs/traffic-classes.md: out policies for every address the BPF program
    // marks for the peer (its pod CIDRs and node addresses); strict in/fwd for
    // its node addresses only when host traffic is encrypted (its plaintext
    // host traffic must be received otherwise).
    pn.dsts = p.pod_cidrs;
    for (const auto& a : {p.ipv4, p.ipv6})
      if (a) (cfg.encrypt_host ? pn.dsts : pn.out_only).push_back(IpPrefix::host(*a));
    for (const auto& c : p.pod_cidrs) subnets.insert(c);
    d.xfrm.peers.push_back(std::move(pn));
  }
  d.xfrm.opts.subnets.assign(subnets.begin(), subnets.end());
  d.xfrm.opts.rx_any_fwd = cfg.node.pod_cidrs;
  if (cfg.encrypt_host)
    for (const auto& a : {cfg.node.ipv4, cfg.node.ipv6})
      if (a) d.xfrm.opts.rx_any_in.push_back(IpPrefix::host(*a));
  d.xfrm.opts.inbound_generations = kRxWindow;

  // Slot routes.
  d.routes.modes = in.modes;
  for (const auto& [ifx, slot] : slot_of)
    for (const auto& rt : main)
      if (rt.oif == ifx) d.routes.routes[slot].push_back({rt.dst, rt.gateway});
  return d;
}

Result<offload::DesiredSet> xfrm_plan(const DesiredState& d, const fallback::ModeBook& modes) {
  if (!d.xfrm.keys) return fail(EINVAL, "plan XFRM", {}, "no key set");
  return offload::plan(d.xfrm.local, modes, d.xfrm.peers, *d.xfrm.keys, d.xfrm.opts);
}

std::map<uint16_t, uint8_t> send_keys(const DesiredState& d,
                                      const std::map<uint16_t, std::vector<uint8_t>>& installed) {
  std::map<uint16_t, uint8_t> out;
  for (const auto& pn : d.xfrm.peers) {
    auto inst = installed.find(pn.id);
    out[pn.id] =
        offload::tx_key(*d.xfrm.keys, pn, inst == installed.end() ? std::vector<uint8_t>{} : inst->second);
  }
  return out;
}

}  // namespace sealnet::agent
