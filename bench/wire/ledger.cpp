#include "bench/wire/ledger.h"

#include <algorithm>

namespace sealnet::wire {

void FlowLedger::record(const Stamp& s, uint64_t rx_ns) {
  if (s.seq >= kMaxSeq) {
    ++out_of_range_;
    return;
  }
  Flow& f = flows_[s.flow];
  if (f.seen.size() <= s.seq) f.seen.resize(std::max<size_t>(s.seq + 1, f.seen.size() * 2));
  if (f.seen[s.seq]) {
    ++duplicates_;
    return;
  }
  f.seen[s.seq] = true;
  ++received_;
  if (f.any && s.seq < f.highest) ++reordered_;
  f.highest = f.any ? std::max(f.highest, s.seq) : s.seq;
  f.any = true;
  if (s.tx_ns && rx_ns >= s.tx_ns) latency_ns_.push_back(rx_ns - s.tx_ns);
}

FlowTotals FlowLedger::totals(std::optional<uint64_t> expected) const {
  FlowTotals t;
  t.received = received_;
  t.duplicates = duplicates_;
  t.reordered = reordered_;
  t.out_of_range = out_of_range_;
  t.flows = static_cast<uint32_t>(flows_.size());
  uint64_t inferred = 0;
  for (const auto& [id, f] : flows_) inferred += f.any ? f.highest + 1 : 0;
  t.expected = expected.value_or(inferred);
  t.lost = t.expected > received_ ? t.expected - received_ : 0;
  if (!latency_ns_.empty()) {
    auto v = latency_ns_;
    const auto at = [&](double q) {
      const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
      std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(i), v.end());
      return v[i];
    };
    t.latency_p50_ns = at(0.50);
    t.latency_p99_ns = at(0.99);
    t.latency_max_ns = *std::max_element(v.begin(), v.end());
  }
  return t;
}

void CaptureReport::note(std::string problem) {
  if (problems.size() < kMaxProblems) problems.push_back(std::move(problem));
}

nlohmann::json to_json(const FlowTotals& t) {
  nlohmann::json j = {{"sent", t.expected},
                      {"received", t.received},
                      {"lost", t.lost},
                      {"duplicates", t.duplicates},
                      {"reordered", t.reordered},
                      {"flows", t.flows},
                      {"out_of_range", t.out_of_range}};
  const auto opt = [](const std::optional<uint64_t>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); };
  j["latency_ns"] = {
      {"p50", opt(t.latency_p50_ns)}, {"p99", opt(t.latency_p99_ns)}, {"max", opt(t.latency_max_ns)}};
  return j;
}

nlohmann::json to_json(const CaptureReport& r) {
  nlohmann::json j = to_json(r.flows);
  j["frames"] = r.frames;
  j["esp_frames"] = r.esp_frames;
  j["decrypted"] = r.decrypted;
  j["plaintext_frames"] = r.plaintext_frames;
  j["decrypt_failures"] = r.decrypt_failures;
  j["unknown_sa"] = r.unknown_sa;
  j["invalid_inner"] = r.invalid_inner;
  j["foreign_inner"] = r.foreign_inner;
  j["other_frames"] = r.other_frames;
  j["seconds"] = r.seconds;
  j["problems"] = r.problems;
  return j;
}

std::vector<std::string> verdict(const CaptureReport& r, bool expected_given) {
  std::vector<std::string> why;
  const auto add = [&](uint64_t n, const char* what) {
    if (n) why.push_back(std::to_string(n) + " " + what);
  };
  add(r.plaintext_frames, "plaintext frame(s) crossed the wire");
  add(r.decrypt_failures, "ESP frame(s) failed to decrypt or verify");
  add(r.unknown_sa, "ESP frame(s) under an SA with no key");
  add(r.invalid_inner, "packet(s) differ from what was sent");
  if (expected_given) add(r.flows.lost, "datagram(s) lost");
  return why;
}

}  // namespace sealnet::wire
