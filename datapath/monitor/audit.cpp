#include "datapath/monitor/audit.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

namespace sealnet::monitor {

namespace {

uint64_t delta(const std::map<std::string, uint64_t>& before, const std::map<std::string, uint64_t>& after,
               const std::string& name) {
  auto a = after.find(name);
  if (a == after.end()) return 0;
  auto b = before.find(name);
  const uint64_t base = b == before.end() ? 0 : b->second;
  return a->second > base ? a->second - base : 0;
}

const char* const kPassRules[] = {"local-pass", "non-cluster-pass", "host-pass", "not-ip", "not-configured",
                                  "wire-other", "wire-host-pass"};
const char* const kDrops[] = {"malformed",      "unknown-node", "no-key",         "unknown-device",
                              "fib-failed",     "node-no-address", "host-misrouted", "plaintext-to-remote"};
const char* const kMustPass[] = {"unknown-node",   "no-key",         "unknown-device",     "fib-failed",
                                 "node-no-address", "host-misrouted", "plaintext-to-remote"};

std::string mode_of(const std::string& suffix) {
  if (suffix == "crypto") return "crypto-offload";
  if (suffix == "packet") return "packet-offload";
  return suffix;
}

}  // namespace

bool must_pass_reason(const std::string& reason) {
  return std::ranges::find(kMustPass, reason) != std::end(kMustPass);
}

const status::CounterSample* baseline(const std::vector<status::CounterSample>& history, uint64_t now,
                                      uint64_t since) {
  const status::CounterSample* best = nullptr;
  for (const auto& s : history) {
    if (s.at + since <= now) best = &s;  // oldest first: the last that qualifies is the newest
  }
  if (!best && !history.empty()) best = &history.front();
  return best;
}

AuditReport judge(const status::CounterSample& before, const status::CounterSample& after) {
  AuditReport r;
  r.from = before.at;
  r.to = after.at;
  const auto& b = before.bpf_packets;
  const auto& a = after.bpf_packets;
  for (const char* m : {"software", "crypto", "packet"}) {
    if (uint64_t n = delta(b, a, std::string("mark-") + m)) r.marked[mode_of(m)] = n;
    if (uint64_t n = delta(b, a, std::string("wire-esp-") + m)) r.wire_esp[mode_of(m)] = n;
  }
  for (const char* rule : kPassRules)
    if (uint64_t n = delta(b, a, rule)) r.passed[rule] = n;
  for (const char* d : kDrops)
    if (uint64_t n = delta(b, a, d)) r.dropped[d] = n;
  for (const auto& [name, _] : after.fallback_counts)
    if (uint64_t n = delta(before.fallback_counts, after.fallback_counts, name)) r.fallbacks[name] = n;
  for (const auto& [name, _] : after.sa_out_packets)
    if (uint64_t n = delta(before.sa_out_packets, after.sa_out_packets, name)) r.sa_out[name] = n;
  for (const auto& [_, n] : r.marked) r.to_remote += n;
  for (const auto& [reason, n] : r.dropped)
    if (must_pass_reason(reason) && reason != "plaintext-to-remote") r.to_remote += n;
  r.plaintext_left = delta(b, a, "plaintext-to-remote-passed");
  for (const auto& [reason, n] : r.dropped)
    if (must_pass_reason(reason)) r.must_pass_dropped += n;

  if (r.plaintext_left)
    r.violations.push_back(std::to_string(r.plaintext_left) +
                           " plaintext packets left for a remote node (plaintext-to-remote-passed: fail-closed off)");
  for (const auto& [reason, n] : r.dropped)
    if (must_pass_reason(reason))
      r.violations.push_back(std::to_string(n) + " packets for a peer dropped: " + reason);
  return r;
}

AuditReport audit(const status::AgentStatus& s, uint64_t since) {
  const status::CounterSample now = status::counter_sample(s);
  const status::CounterSample* base = baseline(s.history, s.now, since);
  status::CounterSample empty{.at = s.started_at, .bpf_packets = {}, .fallback_counts = {}, .sa_out_packets = {}};
  AuditReport r = judge(base ? *base : empty, now);
  r.asked = since;
  for (const auto& k : s.keys)
    if (k.age_seconds <= r.to - std::min(r.to, r.from)) r.keys_loaded.push_back(k.id);
  return r;
}

namespace {

std::string list(const std::map<std::string, uint64_t>& m) {
  if (m.empty()) return "none";
  std::string out;
  for (const auto& [k, v] : m) out += (out.empty() ? "" : ", ") + k + " " + std::to_string(v);
  return out;
}

}  // namespace

std::string audit_text(const AuditReport& r) {
  const uint64_t covered = r.to > r.from ? r.to - r.from : 0;
  std::string s = "window          " + std::to_string(covered) + "s";
  if (covered + 60 < r.asked) s += " (asked " + std::to_string(r.asked) + "s: the agent's samples reach back no further)";
  s += "\n";
  s += "to remote nodes " + std::to_string(r.to_remote) + " packets\n";
  s += "marked          " + list(r.marked) + "\n";
  s += "esp on the wire " + list(r.wire_esp) + "\n";
  s += "sealed by SAs   " + list(r.sa_out) + "\n";
  s += "passed by rule  " + list(r.passed) + "\n";
  s += "dropped         " + list(r.dropped) + "\n";
  s += "fallbacks       " + list(r.fallbacks) + "\n";
  std::string keys;
  for (uint8_t k : r.keys_loaded) keys += (keys.empty() ? "" : ", ") + std::to_string(k);
  s += "keys loaded     " + (keys.empty() ? std::string("none") : keys) + "\n";
  if (r.violations.empty()) {
    s += "verdict         COMPLIANT: no plaintext left for a remote node, no traffic for a peer dropped\n";
  } else {
    s += "verdict         NOT COMPLIANT\n";
    for (const auto& v : r.violations) s += "  " + v + "\n";
  }
  return s;
}

std::string audit_json(const AuditReport& r) {
  nlohmann::ordered_json j;
  j["from"] = r.from;
  j["to"] = r.to;
  j["asked_seconds"] = r.asked;
  j["to_remote"] = r.to_remote;
  j["marked"] = r.marked;
  j["wire_esp"] = r.wire_esp;
  j["sa_out"] = r.sa_out;
  j["passed"] = r.passed;
  j["dropped"] = r.dropped;
  j["fallbacks"] = r.fallbacks;
  j["keys_loaded"] = r.keys_loaded;
  j["plaintext_left"] = r.plaintext_left;
  j["must_pass_dropped"] = r.must_pass_dropped;
  j["violations"] = r.violations;
  j["compliant"] = r.violations.empty();
  return j.dump();
}

bool parse_duration(const std::string& text, uint64_t& seconds) {
  if (text.empty()) return false;
  uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || ptr == text.data()) return false;
  const std::string unit(ptr, text.data() + text.size());
  uint64_t mul = 0;
  if (unit.empty() || unit == "s") mul = 1;
  else if (unit == "m") mul = 60;
  else if (unit == "h") mul = 3600;
  else if (unit == "d") mul = 86400;
  else return false;
  seconds = n * mul;
  return true;
}

}  // namespace sealnet::monitor
