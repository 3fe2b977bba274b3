// One received burst of `sealnet-wire capture`: every frame judged by the
// audit, ESP frames batched per SA, decrypted, and each inner packet checked
// against what was sent. The capture loop and bench_crypto's esp_capture run
// this same code, so the bench measures what a capture does per frame.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>
#include <span>
#include <vector>

#include "bench/wire/audit.h"
#include "bench/wire/dpdk.h"
#include "core/error.h"

namespace sealnet::wire {

class CaptureStep {
 public:
  // `catalog` and `inbound` are null for a capture without a key (ESP is then
  // counted, not judged). All three must outlive the step.
  CaptureStep(WireAudit& audit, SaCatalog* catalog, dpdk::IpsecInbound* inbound)
      : audit_(audit), catalog_(catalog), inbound_(inbound) {}

  // Judges and frees `n` (at most IpsecInbound::kBurst) frames received at
  // rx_ns. An error only when a new SA cannot be set up (a set-up failure).
  // An SA goes to the decryptor once its ESN mode is settled (--esn auto:
  // SaCatalog::settle_esn on its first frames); each ESN frame's seq_hi is
  // inferred from its SA's window, which the frames that decrypt move on, as
  // if one at a time (RFC 4303 Appendix A), also across the wrap in one burst.
  Status on_burst(rte_mbuf** rx, uint16_t n, uint64_t rx_ns);

  // Time spent decrypting so far (CLOCK_MONOTONIC ns).
  uint64_t busy_ns() const { return busy_ns_; }

 private:
  struct Pending {
    rte_mbuf* m;
    uint32_t seq_lo;  // the frame's sequence number (the low half with ESN)
  };
  // Decrypts one run of an SA's frames, judges and frees them, moves its window.
  void decrypt_run(SaCatalog::SaState& st, size_t engine_sa, std::span<const Pending> run, uint64_t rx_ns);
  WireAudit& audit_;
  SaCatalog* catalog_;
  dpdk::IpsecInbound* inbound_;
  std::vector<std::vector<Pending>> by_sa_;  // reused: no allocation once warm
  std::vector<long> engine_sa_;              // catalog index -> decryptor index (-1: not added)
  uint64_t busy_ns_ = 0;
};

}  // namespace sealnet::wire
