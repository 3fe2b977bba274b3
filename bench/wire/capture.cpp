#include "bench/wire/capture.h"

#include <algorithm>

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
    const size_t index = entry->index;
    auto& st = catalog_->state(index);
    if (!st.esn_settled) {
      const auto outer = parse_ipv4(frame.subspan(kEthHeaderLen));
      if (!outer || !catalog_->settle_esn(index, *outer)) {
        ++st.failures;
        audit_.on_decrypt_failure(st.sa.describe() + ": opens neither with the ESN AAD nor without (ICV)");
        rte_pktmbuf_free(m);
        continue;
      }
    }
    if (engine_sa_.size() <= index) engine_sa_.resize(index + 1, -1);
    if (engine_sa_[index] < 0) {
      status = inbound_->add_sa(st.sa, st.seq.window());
      if (!status) {
        rte_pktmbuf_free(m);
        continue;
      }
      engine_sa_[index] = static_cast<long>(inbound_->size() - 1);
    }
    if (by_sa_.size() <= index) by_sa_.resize(index + 1);
    by_sa_[index].push_back({m, st.sa.esn ? st.seq.full(entry->seq_lo) : entry->seq_lo});
  }
  for (size_t sa = 0; sa < by_sa_.size(); ++sa) {
    const auto& pending = by_sa_[sa];
    if (pending.empty()) continue;
    auto& st = catalog_->state(sa);
    const auto count = static_cast<uint16_t>(pending.size());
    rte_mbuf* ms[dpdk::IpsecInbound::kBurst];
    uint32_t seq_hi[dpdk::IpsecInbound::kBurst];
    for (uint16_t i = 0; i < count; ++i) {
      ms[i] = pending[i].m;
      seq_hi[i] = static_cast<uint32_t>(pending[i].seq >> 32);
    }
    const uint64_t b0 = dpdk::monotonic_ns();
    const uint16_t ok = inbound_->decrypt(static_cast<size_t>(engine_sa_[sa]), ms, count, seq_hi);
    busy_ns_ += dpdk::monotonic_ns() - b0;
    for (uint16_t i = 0; i < count; ++i) {
      if (i < ok) {
        // Only what authenticated moves the window (RFC 4303 Appendix A).
        const auto it = std::ranges::find(pending, ms[i], &Pending::m);
        st.seq.authenticated(it->seq);
        ++st.decrypted;
        audit_.on_decrypted({rte_pktmbuf_mtod(ms[i], const uint8_t*), rte_pktmbuf_data_len(ms[i])}, rx_ns);
      } else {
        ++st.failures;
        audit_.on_decrypt_failure(st.sa.describe() + ": decryption rejected the frame (ICV, trailer or length" +
                                  (st.sa.esn ? ", seq_hi, or a replay" : "") + ")");
      }
      rte_pktmbuf_free(ms[i]);
    }
  }
  return status;
}

}  // namespace sealnet::wire
