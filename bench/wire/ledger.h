// Counting what arrived: per flow, which sequence numbers came, in which order,
// how late; and per capture, what kinds of frames crossed the wire. The JSON
// summary and the pass/fail verdict of `sealnet-wire capture` come from here.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/wire/datagram.h"

namespace sealnet::wire {

struct FlowTotals {
  uint64_t expected = 0;      // what the sender sent (--expect), else inferred from the highest seq
  uint64_t received = 0;      // distinct (flow, seq) pairs
  uint64_t lost = 0;          // expected - received, never negative
  uint64_t duplicates = 0;    // a (flow, seq) seen before
  uint64_t reordered = 0;     // arrived after a higher seq of its flow
  uint64_t out_of_range = 0;  // seq beyond what the ledger tracks (counted, not stored)
  uint32_t flows = 0;
  // One-way latency (rx CLOCK_MONOTONIC - tx stamp): meaningful only when
  // sender and receiver share a kernel clock (namespaces, one VM).
  std::optional<uint64_t> latency_p50_ns, latency_p99_ns, latency_max_ns;
};

class FlowLedger {
 public:
  static constexpr uint64_t kMaxSeq = uint64_t{1} << 28;  // 32 MiB of bits per flow at most

  // One verified datagram, received at rx_ns.
  void record(const Stamp& s, uint64_t rx_ns);
  // `expected`: total datagrams sent over all flows, when the caller knows it.
  FlowTotals totals(std::optional<uint64_t> expected) const;
  uint64_t received() const { return received_; }

 private:
  struct Flow {
    std::vector<bool> seen;
    uint64_t highest = 0;
    bool any = false;
  };
  std::unordered_map<uint32_t, Flow> flows_;
  std::vector<uint64_t> latency_ns_;
  uint64_t received_ = 0, duplicates_ = 0, reordered_ = 0, out_of_range_ = 0;
};

// Everything a capture saw.
struct CaptureReport {
  FlowTotals flows;
  uint64_t frames = 0;
  uint64_t esp_frames = 0;
  uint64_t decrypted = 0;
  uint64_t plaintext_frames = 0;
  uint64_t decrypt_failures = 0;  // ICV mismatch, bad trailer, replay, crypto error
  uint64_t unknown_sa = 0;        // ESP under an SPI/address pair we hold no key for
  uint64_t invalid_inner = 0;     // decrypted (or clear) packet that is not what was sent
  uint64_t foreign_inner = 0;     // packets that are not harness datagrams (pings, ...)
  uint64_t other_frames = 0;
  double seconds = 0;
  bool require_esp = false;           // a key was given: every datagram must come as ESP
  std::vector<std::string> problems;  // the first few, for a human

  void note(std::string problem);  // keeps the first kMaxProblems
  static constexpr size_t kMaxProblems = 10;
};

nlohmann::json to_json(const FlowTotals& t);
nlohmann::json to_json(const CaptureReport& r);

// Why the capture fails, empty when it passes: any plaintext frame, decrypt
// failure, unknown SA or corrupt inner packet; with `expected`, anything lost.
std::vector<std::string> verdict(const CaptureReport& r, bool expected_given);

}  // namespace sealnet::wire
