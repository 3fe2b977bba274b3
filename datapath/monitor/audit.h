// datapath/monitor/audit: `sealnet audit`'s compliance verdict over a window
// of the agent's counter samples (docs/events.md "sealnet audit"). Pure: two
// samples in, a report and an exit status out.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "datapath/status/model.h"

namespace sealnet::monitor {

struct AuditReport {
  uint64_t from = 0, to = 0;  // unix seconds of the two samples compared
  uint64_t asked = 0;         // the window asked for, seconds
  // Packets in the window (counter deltas; a counter that went down counts 0).
  uint64_t to_remote = 0;                       // packets classified for a remote node
  std::map<std::string, uint64_t> marked;       // by mode: software, crypto-offload, packet-offload
  std::map<std::string, uint64_t> wire_esp;     // ESP that left, by the uplink's mode
  std::map<std::string, uint64_t> sa_out;       // packets our outbound SAs sealed, by "device mode"
  std::map<std::string, uint64_t> passed;       // by the rule: local-pass, non-cluster-pass, ...
  std::map<std::string, uint64_t> dropped;      // by reason
  std::map<std::string, uint64_t> fallbacks;    // fallback decisions, by reason
  std::vector<uint8_t> keys_loaded;             // key ids that arrived in the window (rotations)
  uint64_t plaintext_left = 0;                  // plaintext-to-remote-passed
  uint64_t must_pass_dropped = 0;               // drops of traffic that had to reach a peer
  std::vector<std::string> violations;          // one sentence each; empty = compliant

  int exit_code() const { return violations.empty() ? 0 : 1; }
};

// Reasons whose drop means traffic for a peer was lost (exit 1).
bool must_pass_reason(const std::string& reason);

// The sample to compare the newest with: the newest at least `since` seconds
// older than `now`, else the oldest (the report then says the window is shorter).
const status::CounterSample* baseline(const std::vector<status::CounterSample>& history, uint64_t now,
                                      uint64_t since);

// The verdict over (before, after].
AuditReport judge(const status::CounterSample& before, const status::CounterSample& after);

// judge() over an agent's /status: the snapshot itself is the newest sample;
// its history gives the baseline; keys with an age inside the window count as
// loaded in it.
AuditReport audit(const status::AgentStatus& s, uint64_t since);

std::string audit_text(const AuditReport& r);
std::string audit_json(const AuditReport& r);

// "10m", "90s", "2h", "1d" or plain seconds; false on anything else.
bool parse_duration(const std::string& text, uint64_t& seconds);

}  // namespace sealnet::monitor
