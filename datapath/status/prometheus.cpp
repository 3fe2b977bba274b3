#include "datapath/status/prometheus.h"

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
  e.family("sealnet_last_reconcile_failed", "gauge", "1 when the last reconcile failed (see last_error in /status).")
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

  auto sa_labels = [](const PeerStatus& p, const PeerSa& sa) {
    return Labels{{"peer", peer_name(p)},
                  {"dir", sa.dir},
                  {"spi", spi_str(sa.spi)},
                  {"key", std::to_string(sa.key)},
                  {"mode", sa.mode}};
  };
  e.family("sealnet_peer_sa_packets_total", "counter", "Packets through each XFRM state (resets with a new SPI).");
  for (const auto& p : s.peers)
    for (const auto& sa : p.sas) e.sample(sa_labels(p, sa), sa.counters.packets);
  e.family("sealnet_peer_sa_bytes_total", "counter", "Bytes through each XFRM state (resets with a new SPI).");
  for (const auto& p : s.peers)
    for (const auto& sa : p.sas) e.sample(sa_labels(p, sa), sa.counters.bytes);
  e.family("sealnet_peer_sa_errors_total", "counter",
           "Errors the kernel counted on each XFRM state, by kind (replay, integrity, replay_window).");
  for (const auto& p : s.peers)
    for (const auto& sa : p.sas) {
      const std::pair<const char*, uint64_t> kinds[] = {{"replay", sa.counters.replay_errors},
                                                        {"integrity", sa.counters.integrity_errors},
                                                        {"replay_window", sa.counters.replay_window_errors}};
      for (const auto& [kind, n] : kinds) {
        Labels l = {{"peer", peer_name(p)}, {"dir", sa.dir}, {"spi", spi_str(sa.spi)}, {"kind", kind}};
        e.sample(l, n);
      }
    }

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

  e.family("sealnet_discovery_connected", "gauge", "1 while the discovery backend is reachable.")
      .sample({{"backend", s.discovery.backend}}, s.discovery.connected ? 1 : 0);
  e.family("sealnet_discovery_peers", "gauge", "Peers the discovery backend last reported.")
      .sample({{"backend", s.discovery.backend}}, s.discovery.peers);
  return e.take();
}

}  // namespace sealnet::status
