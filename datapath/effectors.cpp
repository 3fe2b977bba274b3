// A desired state applied (datapath/effectors.h).
#include "datapath/effectors.h"

#include <cstdio>
#include <cstring>

namespace sealnet::agent {

Status DatapathTc::ensure(int ifindex, bpf::TcHook hook, bpf::Program prog) {
  if (tc_.contains({ifindex, hook})) return {};
  auto a = bpf::TcAttachment::attach(ifindex, hook, dp_.prog_fd(prog));
  if (!a) return std::unexpected(a.error());
  a->keep();  // stopping the agent must not lift encryption
  tc_.emplace(std::pair{ifindex, hook}, std::move(*a));
  return {};
}

void DatapathTc::forget_absent(const std::set<int>& present) {
  std::erase_if(tc_, [&](const auto& kv) { return !present.contains(kv.first.first); });
}

namespace {

std::string join(const std::vector<uint8_t>& v) {
  std::string s;
  for (uint8_t x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

bool same_node(const sealnet_node_value& a, const sealnet_node_value& b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

}  // namespace

size_t adopt_pinned(Written& w, const std::map<uint32_t, sealnet_node_value>& nodes,
                    const std::map<IpPrefix, sealnet_ipcache_value>& ipcache, const DesiredState& d) {
  size_t stale = 0;
  for (const auto& [id, v] : nodes) {
    if (id == 0 || id > SEALNET_MAX_NODE_ID) continue;
    const auto nid = static_cast<uint16_t>(id);
    w.nodes.try_emplace(nid, v);
    stale += d.nodes.contains(nid) ? 0 : 1;
  }
  for (const auto& [p, v] : ipcache) {
    w.ipcache.try_emplace(p, v);
    stale += d.ipcache.contains(p) ? 0 : 1;
  }
  return stale;
}

Result<Applied> apply(const DesiredState& d, Effectors& fx, Written& w, uint64_t now_s,
                      std::vector<std::string> problems) {
  Applied out;
  // ---- BPF maps. Nodes first carry the send key they already had.
  if (auto s = fx.maps.set_config(d.config); !s) return std::unexpected(s.error());
  for (const auto& [ifx, v] : d.devices) {
    auto it = w.devices.find(ifx);
    if (it != w.devices.end() && it->second.slot == v.slot && it->second.mode == v.mode) continue;
    if (auto s = fx.maps.upsert_device(static_cast<uint32_t>(ifx), v); !s) return std::unexpected(s.error());
    w.devices[ifx] = v;
  }
  // Nodes before the ipcache entries that name them; removals the other way.
  for (const auto& [id, v] : d.nodes) {
    if (auto it = w.nodes.find(id); it != w.nodes.end() && same_node(it->second, v)) continue;
    if (auto s = fx.maps.upsert_node(id, v); !s) return std::unexpected(s.error());
    w.nodes[id] = v;
  }
  for (const auto& [pfx, v] : d.ipcache) {
    if (auto it = w.ipcache.find(pfx);
        it != w.ipcache.end() && it->second.node_id == v.node_id && it->second.flags == v.flags)
      continue;
    if (auto s = fx.maps.upsert_ipcache(pfx, v); !s) return std::unexpected(s.error());
    w.ipcache[pfx] = v;
  }
  for (auto it = w.ipcache.begin(); it != w.ipcache.end();) {
    if (d.ipcache.contains(it->first)) {
      ++it;
      continue;
    }
    if (auto s = fx.maps.delete_ipcache(it->first); !s) return std::unexpected(s.error());
    it = w.ipcache.erase(it);
  }
  for (auto it = w.nodes.begin(); it != w.nodes.end();) {
    if (d.nodes.contains(it->first)) {
      ++it;
      continue;
    }
    if (auto s = fx.maps.delete_node(it->first); !s) return std::unexpected(s.error());
    w.send_keys.erase(it->first);
    it = w.nodes.erase(it);
  }

  // ---- tc: the wire audit on every uplink before from_pod classifies.
  for (int ifx : d.to_wire)
    if (auto s = fx.tc.ensure(ifx, bpf::TcHook::Egress, bpf::Program::ToWire); !s)
      problems.push_back(s.error().message());
  for (int ifx : d.from_pod)
    if (auto s = fx.tc.ensure(ifx, bpf::TcHook::Ingress, bpf::Program::FromPod); !s)
      problems.push_back(s.error().message());
  fx.tc.forget_absent(d.present);

  // ---- XFRM, then the slot routes that send each ESP packet out of its SA's device.
  problems.insert(problems.end(), d.problems.begin(), d.problems.end());
  auto r = fx.xfrm.reconcile(d.xfrm, now_s);
  if (!r) return std::unexpected(r.error());
  for (const auto& e : r->errors) problems.push_back("refused: " + e.message());
  if (r->changes() && fx.note) {
    char line[256];
    std::snprintf(line, sizeof line,
                  "xfrm: +%zu -%zu states, +%zu ~%zu -%zu policies (%zu software retries, %zu retiring)",
                  r->states_added, r->states_deleted, r->policies_added, r->policies_updated,
                  r->policies_deleted, r->software_retries, r->retiring);
    fx.note(line);
  }
  auto rr = fx.routes.reconcile(d.routes);
  if (!rr) return std::unexpected(rr.error());
  for (const auto& e : rr->errors) problems.push_back("refused: " + e.message());

  // ---- send keys: only keys whose outbound states now exist.
  const auto keys = send_keys(d, r->installed_keys);
  for (const auto& pn : d.xfrm.peers) {
    const uint8_t k = keys.at(pn.id);
    if (w.send_keys[pn.id] == k && w.nodes.contains(pn.id) && w.nodes[pn.id].peer_key_id == k) continue;
    sealnet_node_value v = w.nodes[pn.id];
    v.peer_key_id = k;
    if (auto s = fx.maps.upsert_node(pn.id, v); !s) return std::unexpected(s.error());
    w.nodes[pn.id] = v;
    if (w.send_keys[pn.id] != k && fx.note)
      fx.note("peer " + std::to_string(pn.id) + ": sending with key " + std::to_string(k) + " (peer holds " +
              join(pn.keys) + ")");
    w.send_keys[pn.id] = k;
  }
  out.xfrm = std::move(*r);
  out.routes = std::move(*rr);
  out.problems = std::move(problems);
  return out;
}

}  // namespace sealnet::agent
