#include "datapath/status/prometheus.h"

#include <map>
#include <utility>
#include <vector>

#include "datapath/status/text.h"

namespace sealnet::status {

namespace {

std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

using Labels = std::vector<std::pair<std::string, std::string>>;

class Exposition {
 public:
  // Every family gets HELP and TYPE, with or without samples, so the set of
  // names a scraper sees does not depend on the state.
  Exposition& family(std::string name, const char* type, const char* help) {
    name_ = std::move(name);
    out_ += "# HELP " + name_ + " " + help + "\n# TYPE " + name_ + " " + type + "\n";
    return *this;
  }
  Exposition& sample(const Labels& labels, uint64_t value) {
    out_ += name_;
    if (!labels.empty()) {
      out_ += "{";
      for (size_t i = 0; i < labels.size(); ++i) {
        if (i) out_ += ",";
        out_ += labels[i].first + "=\"" + escape_label(labels[i].second) + "\"";
      }
      out_ += "}";
    }
    out_ += " " + std::to_string(value) + "\n";
    return *this;
  }
  Exposition& sample(uint64_t value) { return sample({}, value); }
  std::string take() { return std::move(out_); }

 private:
  std::string name_;
  std::string out_;
};

}  // namespace

std::string render_prometheus(const AgentStatus& s) {
  Exposition e;
  e.family("sealnet_up", "gauge", "1 while the agent serves this endpoint.").sample(1);
  e.family("sealnet_node_info", "gauge", "This node's name and id; the value is always 1.")
      .sample({{"node", s.node_name}, {"id", std::to_string(s.node_id)}}, 1);
  e.family("sealnet_start_time_seconds", "gauge", "Unix time the agent started.").sample(s.started_at);
  e.family("sealnet_ready", "gauge", "1 once the first reconcile completed.").sample(s.ready ? 1 : 0);
  e.family("sealnet_fail_closed", "gauge", "1 when traffic without a usable state is dropped rather than sent in clear.")
      .sample(s.fail_closed ? 1 : 0);
  e.family("sealnet_last_reconcile_failed", "gauge", "1 when last_error in /status is set: the last reconcile failed, or a refused key or config file was not replaced yet.")
      .sample(s.last_error.empty() ? 0 : 1);
  e.family("sealnet_reconciles_total", "counter", "Reconciles run since start.").sample(s.reconciles);
  e.family("sealnet_reconcile_failures_total", "counter", "Reconciles that failed since start.")
      .sample(s.reconcile_failures);

  e.family("sealnet_tx_key", "gauge", "Id of this node's newest key (0: none).").sample(s.tx_key);
  e.family("sealnet_key_info", "gauge", "Keys loaded from the key file (never key material); the value is always 1.");
  for (const auto& k : s.keys)
    e.sample({{"key", std::to_string(k.id)},
              {"algorithm", k.algorithm},
              {"key_bits", std::to_string(k.key_bits)},
              {"icv_bits", std::to_string(k.icv_bits)},
              {"per_pair", k.per_pair ? "true" : "false"}},
             1);
  e.family("sealnet_key_age_seconds", "gauge", "Seconds since each key was loaded.");
  for (const auto& k : s.keys) e.sample({{"key", std::to_string(k.id)}}, k.age_seconds);

  e.family("sealnet_peers", "gauge", "Peers the agent knows.").sample(s.peers.size());
  e.family("sealnet_peers_by_mode", "gauge", "Peers by the mode of their outbound state (none: no state in use).");
  {
    std::map<std::string, uint64_t> n = {{"packet", 0}, {"crypto", 0}, {"software", 0}, {"none", 0}};
    for (const auto& p : s.peers) ++n[p.mode.empty() ? "none" : p.mode];
    for (const auto& [mode, count] : n) e.sample({{"mode", mode}}, count);
  }
  e.family("sealnet_peer_info", "gauge", "Each peer's address, uplink and the mode of its outbound state; the value is always 1.");
  for (const auto& p : s.peers)
    e.sample({{"peer", peer_name(p)},
              {"id", std::to_string(p.id)},
              {"address", p.address},
              {"device", p.device},
              {"mode", p.mode.empty() ? "none" : p.mode}},
             1);
  e.family("sealnet_peer_tx_key", "gauge", "Key id the datapath sends to each peer with (0: none).");
  for (const auto& p : s.peers) e.sample({{"peer", peer_name(p)}}, p.tx_key);

  // Per peer and direction; no SPI label (a new series at every rotation):
  // per-state detail is in /status (docs/status.md "Metrics").
  e.family("sealnet_peer_packets_total", "counter",
           "Packets through our XFRM states with each peer since the agent started, by direction.");
  for (const auto& p : s.peers)
    for (const auto& [dir, c] : {std::pair{"out", &p.out_since_start}, {"in", &p.in_since_start}})
      e.sample({{"peer", peer_name(p)}, {"dir", dir}}, c->packets);
  e.family("sealnet_peer_bytes_total", "counter",
           "Bytes through our XFRM states with each peer since the agent started, by direction.");
  for (const auto& p : s.peers)
    for (const auto& [dir, c] : {std::pair{"out", &p.out_since_start}, {"in", &p.in_since_start}})
      e.sample({{"peer", peer_name(p)}, {"dir", dir}}, c->bytes);
  e.family("sealnet_peer_errors_total", "counter",
           "Errors the kernel counted on our XFRM states with each peer since the agent started, by kind "
           "(replay, integrity, replay_window).");
  for (const auto& p : s.peers) {
    const auto& o = p.out_since_start;
    const auto& i = p.in_since_start;
    const std::pair<const char*, uint64_t> kinds[] = {
        {"replay", o.replay_errors + i.replay_errors},
        {"integrity", o.integrity_errors + i.integrity_errors},
        {"replay_window", o.replay_window_errors + i.replay_window_errors}};
    for (const auto& [kind, n] : kinds) e.sample({{"peer", peer_name(p)}, {"kind", kind}}, n);
  }

  // Per device, mode and direction.
  auto by_group = [&](const char* dir, auto value) {
    for (const auto& t : s.traffic)
      if (t.dir == dir) e.sample({{"device", t.device}, {"mode", t.mode}}, value(t));
  };
  e.family("sealnet_states", "gauge", "Our XFRM states now, by device, mode and direction.");
  for (const auto& t : s.traffic) e.sample({{"device", t.device}, {"mode", t.mode}, {"dir", t.dir}}, t.states);
  e.family("sealnet_encrypted_packets_total", "counter",
           "Packets our outbound XFRM states encrypted since the agent started, by device and mode.");
  by_group("out", [](const TrafficStatus& t) { return t.since_start.packets; });
  e.family("sealnet_encrypted_bytes_total", "counter",
           "Bytes our outbound XFRM states encrypted since the agent started, by device and mode.");
  by_group("out", [](const TrafficStatus& t) { return t.since_start.bytes; });
  e.family("sealnet_decrypted_packets_total", "counter",
           "Packets our inbound XFRM states decrypted since the agent started, by device and mode.");
  by_group("in", [](const TrafficStatus& t) { return t.since_start.packets; });
  e.family("sealnet_decrypted_bytes_total", "counter",
           "Bytes our inbound XFRM states decrypted since the agent started, by device and mode.");
  by_group("in", [](const TrafficStatus& t) { return t.since_start.bytes; });

  auto drops = [&](const std::map<std::string, uint64_t>& counts) {
    for (const auto& reason : s.bpf_drop_reasons) {
      const auto it = counts.find(reason);
      e.sample({{"reason", reason}}, it == counts.end() ? 0 : it->second);
    }
  };
  e.family("sealnet_dropped_packets_total", "counter", "Packets the BPF programs dropped, by drop reason.");
  drops(s.bpf_packets);
  e.family("sealnet_dropped_bytes_total", "counter", "Bytes the BPF programs dropped, by drop reason.");
  drops(s.bpf_bytes);

  e.family("sealnet_device_info", "gauge", "Each uplink's slot, probe verdict and the mode new states ask for; the value is always 1.");
  for (const auto& d : s.devices)
    e.sample({{"device", d.name}, {"slot", std::to_string(d.slot)}, {"verdict", d.verdict}, {"mode", d.mode}}, 1);
  e.family("sealnet_device_up", "gauge", "1 when the uplink is up.");
  for (const auto& d : s.devices) e.sample({{"device", d.name}}, d.up ? 1 : 0);
  e.family("sealnet_device_generation", "gauge", "Offload generation of each uplink (bumps when its states are rebuilt).");
  for (const auto& d : s.devices) e.sample({{"device", d.name}}, d.generation);
  e.family("sealnet_device_offloaded_states", "gauge", "XFRM states offloaded to each uplink.");
  for (const auto& d : s.devices) e.sample({{"device", d.name}}, d.offloaded_states);

  e.family("sealnet_bpf_packets_total", "counter", "Packets the BPF programs counted, by reason (summed over CPUs).");
  for (const auto& [reason, n] : s.bpf_packets) e.sample({{"reason", reason}}, n);
  e.family("sealnet_bpf_bytes_total", "counter", "Bytes the BPF programs counted, by reason (summed over CPUs).");
  for (const auto& [reason, n] : s.bpf_bytes) e.sample({{"reason", reason}}, n);

  e.family("sealnet_xfrm_stat_total", "counter",
           "The kernel's /proc/net/xfrm_stat counters of the agent's namespace, by counter name.");
  for (const auto& [counter, n] : s.xfrm_stat) e.sample({{"counter", counter}}, n);

  e.family("sealnet_fallback_decisions_total", "counter", "Offload fallback decisions since start, by reason.");
  for (const auto& [reason, n] : s.fallback_counts) e.sample({{"reason", reason}}, n);

  // The datapath's events (docs/events.md): records written, and those lost.
  e.family("sealnet_events_sent_total", "counter", "Event records the BPF programs wrote to the ring buffer since they were loaded.")
      .sample(s.events.sent);
  e.family("sealnet_events_lost_total", "counter",
           "Event records not written since the programs were loaded, by cause: the ring buffer was full, or the per-reason rate limit cut a drop report.");
  e.sample({{"cause", "ring-buffer-full"}}, s.events.lost);
  e.sample({{"cause", "rate-limited"}}, s.events.rate_limited);

  e.family("sealnet_discovery_connected", "gauge", "1 while the discovery backend is reachable.")
      .sample({{"backend", s.discovery.backend}}, s.discovery.connected ? 1 : 0);
  e.family("sealnet_discovery_peers", "gauge", "Peers the discovery backend last reported.")
      .sample({{"backend", s.discovery.backend}}, s.discovery.peers);
  return e.take();
}

}  // namespace sealnet::status
