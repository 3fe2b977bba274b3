#include "bench/wire/capture.h"

namespace sealnet::wire {

Status CaptureStep::on_burst(rte_mbuf** rx, uint16_t n, uint64_t rx_ns) {
  // ESP frames are batched per SA for the decryptor; everything else is judged at once.
  for (auto& v : by_sa_) v.clear();
  Status status;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = rx[i];
    const std::span<const uint8_t> frame(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m));
    // ESP with no key: counted as ESP, not judged (plain-traffic capture).
    // After a set-up failure the rest of the burst is only freed.
    if (audit_.on_frame(frame, rx_ns) != WireAudit::Next::Decrypt || !catalog_ || !status) {
      rte_pktmbuf_free(m);
      continue;
    }
    auto entry = audit_.sa_for(frame, *catalog_);
    if (!entry) {
      rte_pktmbuf_free(m);
      continue;
    }
    if (entry->created) status = inbound_->add_sa(*entry->sa);
    if (!status) {
      rte_pktmbuf_free(m);
      continue;
    }
    if (by_sa_.size() <= entry->index) by_sa_.resize(entry->index + 1);
    by_sa_[entry->index].push_back(m);
  }
  for (size_t sa = 0; sa < by_sa_.size(); ++sa) {
    auto& ms = by_sa_[sa];
    if (ms.empty()) continue;
    const uint64_t b0 = dpdk::monotonic_ns();
    const uint16_t ok = inbound_->decrypt(sa, ms.data(), static_cast<uint16_t>(ms.size()));
    busy_ns_ += dpdk::monotonic_ns() - b0;
    for (uint16_t i = 0; i < ms.size(); ++i) {
      if (i < ok)
        audit_.on_decrypted({rte_pktmbuf_mtod(ms[i], const uint8_t*), rte_pktmbuf_data_len(ms[i])}, rx_ns);
      else
        audit_.on_decrypt_failure(catalog_->at(sa).describe() +
                                  ": decryption rejected the frame (ICV, trailer or length)");
      rte_pktmbuf_free(ms[i]);
    }
  }
  return status;
}

}  // namespace sealnet::wire
