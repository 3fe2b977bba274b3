// datapath/status/model: what a running agent knows about itself, as one plain
// snapshot (AgentStatus), and its JSON (docs/status.md). Never key material: keys
// appear as id, algorithm, sizes and age only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace sealnet::status {

struct SaCounters {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t replay_errors = 0;     // xfrm_stats.replay
  uint64_t integrity_errors = 0;  // xfrm_stats.integrity_failed
  uint64_t replay_window_errors = 0;  // xfrm_stats.replay_window

  bool operator==(const SaCounters&) const = default;
};

// One of sealnet's XFRM states towards or from a peer.
struct PeerSa {
  uint32_t spi = 0;
  std::string dir;  // "out" | "in"
  uint8_t key = 0;
  uint8_t slot = 0;        // out: our slot; in: the peer's slot
  uint8_t generation = 0;
  std::string mode;        // "packet" | "crypto" | "software" (what the kernel reports)
  std::string device;      // the device it is offloaded to, empty for software
  SaCounters counters;

  bool operator==(const PeerSa&) const = default;
};

struct PeerStatus {
  uint16_t id = 0;
  std::string name;
  std::string address;  // outer (node) address
  std::vector<std::string> pod_cidrs;
  std::string device;   // the uplink the FIB uses towards it (empty: none)
  uint8_t slot = 0;
  std::string mode;         // mode of the outbound state in use: packet|crypto|software|none
  std::string mode_reason;  // why (the last decision for that slot/state, or the probe's reason)
  uint8_t tx_key = 0;               // key the datapath sends with (0: none: dropped when fail-closed)
  std::vector<uint8_t> peer_keys;   // keys the peer is known to hold
  std::string keys_source;          // "config" | "assumed" | "observed" | "discovery"
  std::vector<PeerSa> sas;
  SaCounters out_total, in_total;  // the sum over `sas` now (goes down when a state goes)
  // What its states counted since the agent started; never goes down
  // (datapath/status/traffic.h fills them; the metrics' counters).
  SaCounters out_since_start, in_since_start;

  bool operator==(const PeerStatus&) const = default;
};

struct DeviceStatus {
  std::string name;
  int ifindex = 0;
  uint8_t slot = 0;
  bool up = false;
  std::string verdict;  // the probe's verdict: packet-offload | crypto-offload | software
  std::string reason;   // the probe's reason
  std::string mode;     // what new states on it ask for now: packet | crypto | software
  uint8_t generation = 0;
  uint32_t offloaded_states = 0;

  bool operator==(const DeviceStatus&) const = default;
};

// Our states per device, mode and direction: how many now, and what they
// counted since the agent started (never goes down; datapath/status/traffic.h).
struct TrafficStatus {
  std::string device;  // offloaded to; for a software state the peer's uplink ("none": no route)
  std::string mode;    // packet | crypto | software
  std::string dir;     // out | in
  uint64_t states = 0;
  SaCounters since_start;

  bool operator==(const TrafficStatus&) const = default;
};

struct KeyStatus {
  uint8_t id = 0;
  std::string algorithm;  // e.g. "rfc4106(gcm(aes))" or "hmac(sha256)+cbc(aes)"
  uint32_t key_bits = 0;
  uint32_t icv_bits = 0;
  bool per_pair = false;  // the "+" form
  uint64_t age_seconds = 0;

  bool operator==(const KeyStatus&) const = default;
};

struct DiscoveryStatus {
  std::string backend;  // "static" | "etcd"
  bool connected = true;
  std::string last_error;
  uint64_t peers = 0;

  bool operator==(const DiscoveryStatus&) const = default;
};

// The datapath's events (docs/events.md): what the config asks for and the
// counters of bpf/shared.h's sealnet_ev_stats, since the programs were loaded.
struct EventsStatus {
  bool drops = false, flows = false;
  uint64_t sent = 0;          // records written to the ring buffer
  uint64_t lost = 0;          // the ring buffer was full
  uint64_t rate_limited = 0;  // drop reports cut by the per-reason limit

  bool operator==(const EventsStatus&) const = default;
};

// The counters `sealnet audit` compares over a window (docs/events.md).
struct CounterSample {
  uint64_t at = 0;  // unix seconds
  std::map<std::string, uint64_t> bpf_packets;      // as AgentStatus::bpf_packets
  std::map<std::string, uint64_t> fallback_counts;  // as AgentStatus::fallback_counts
  // Packets our outbound SAs sealed, by "DEVICE MODE" ("software" without a device).
  std::map<std::string, uint64_t> sa_out_packets;

  bool operator==(const CounterSample&) const = default;
};

// The JSON schema's major version: from_json refuses any other; additions that
// old readers can ignore keep it (docs/status.md).
inline constexpr uint32_t kSchemaMajor = 1;
inline constexpr size_t kHistoryMax = 61;
inline constexpr uint64_t kHistoryEvery = 60;  // seconds between samples

// Adds `now` to `history` when the newest sample is kHistoryEvery old (or there
// is none), keeping the first sample and the newest kHistoryMax - 1.
void sample_history(std::vector<CounterSample>& history, CounterSample now);

struct AgentStatus {
  uint32_t schema = kSchemaMajor;
  std::string node_name;
  uint16_t node_id = 0;
  std::vector<std::string> node_addresses;
  std::vector<std::string> pod_cidrs;
  uint64_t started_at = 0;  // unix seconds
  uint64_t now = 0;         // unix seconds of this snapshot
  bool ready = false;       // the first reconcile completed
  bool fail_closed = true;
  std::string last_error;   // the last failed step, empty when the last run was clean
  uint64_t reconciles = 0, reconcile_failures = 0;
  uint8_t tx_key = 0;       // our newest key
  std::vector<KeyStatus> keys;
  std::vector<PeerStatus> peers;
  std::vector<DeviceStatus> devices;
  std::vector<std::string> pod_devices;  // where from_pod is attached
  // BPF per-CPU counters summed, by bpf::metric_name(reason).
  std::map<std::string, uint64_t> bpf_packets, bpf_bytes;
  std::vector<std::string> bpf_drop_reasons;  // which of those reasons are drops (bpf::metric_is_drop)
  std::vector<TrafficStatus> traffic;
  // /proc/net/xfrm_stat of the agent's namespace, by counter name (XfrmInNoStates ...).
  std::map<std::string, uint64_t> xfrm_stat;
  // Fallback decisions since start, by fallback::to_string(Reason); and the last ones, as text.
  std::map<std::string, uint64_t> fallback_counts;
  std::vector<std::string> decisions;
  DiscoveryStatus discovery;
  // Counter samples, oldest first: the one taken at start, then one a minute,
  // at most kHistoryMax (datapath/monitor/audit.h reads them).
  std::vector<CounterSample> history;
  EventsStatus events;
  // The event loop's pulse, for /healthz (datapath/status/health.h). Not in the
  // JSON or the metrics: their bytes stay as they were.
  struct Loop {
    uint64_t last_sync = 0;          // unix seconds a sync last finished, passed or failed (0: none yet)
    uint64_t failing_since = 0;      // unix seconds of the first of the failures in a row (0: the last passed)
    uint64_t failures_in_a_row = 0;
    uint64_t sync_every = 0;         // seconds between periodic syncs
    bool operator==(const Loop&) const = default;
  } loop;

  bool operator==(const AgentStatus&) const = default;
};

// The sample of a snapshot (its own history aside).
CounterSample counter_sample(const AgentStatus& s);

// /proc/net/xfrm_stat text ("XfrmInError   0" lines) -> counters.
std::map<std::string, uint64_t> parse_xfrm_stat(std::string_view text);

// The JSON of docs/status.md, and its reader: a document without `schema` or of
// another major, or a field of the wrong type or out of range, is an error that
// names the field (peers[1].sas[0].spi); unknown fields are ignored and missing
// ones keep their default (a newer or older agent of the same major).
std::string to_json(const AgentStatus& s);
Result<AgentStatus> from_json(std::string_view text);

}  // namespace sealnet::status
