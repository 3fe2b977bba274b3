#include "bench/wire/capture.h"

#include <algorithm>

namespace sealnet::wire {

void CaptureStep::decrypt_run(SaCatalog::SaState& st, size_t engine_sa, std::span<const Pending> run,
                              uint64_t rx_ns) {
  const auto count = static_cast<uint16_t>(run.size());
  rte_mbuf* ms[dpdk::IpsecInbound::kBurst];
  uint64_t seq[dpdk::IpsecInbound::kBurst];
  uint32_t seq_hi[dpdk::IpsecInbound::kBurst];
  for (uint16_t i = 0; i < count; ++i) {
    ms[i] = run[i].m;
    seq[i] = st.sa.esn ? st.seq.full(run[i].seq_lo) : run[i].seq_lo;
    seq_hi[i] = static_cast<uint32_t>(seq[i] >> 32);
  }
  const uint64_t b0 = dpdk::monotonic_ns();
  const uint16_t ok = inbound_->decrypt(engine_sa, ms, count, seq_hi);
  busy_ns_ += dpdk::monotonic_ns() - b0;
  for (uint16_t i = 0; i < count; ++i) {
    if (i < ok) {
      // Only what authenticated moves the window (RFC 4303 Appendix A).
      const auto at = std::ranges::find(run, ms[i], &Pending::m) - run.begin();
      st.seq.authenticated(seq[at]);
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
    by_sa_[index].push_back({m, entry->seq_lo});
  }
  for (size_t sa = 0; sa < by_sa_.size(); ++sa) {
    const auto& pending = by_sa_[sa];
    auto& st = catalog_->state(sa);
    // A burst goes to the decryptor in runs. RFC 4303 Appendix A infers each
    // packet's seq_hi from the window as the packets before it left it; the
    // engines infer a whole run from the window before it (rte_ipsec at its
    // prepare step). They differ only where a run's own frames would move the
    // window so far that a later one's inference changes (the 2^32 wrap
    // inside one burst): the run ends before that frame.
    for (size_t from = 0; from < pending.size();) {
      size_t to = from + 1;
      if (st.sa.esn) {
        SeqWindow moved = st.seq;
        moved.authenticated(st.seq.full(pending[from].seq_lo));
        for (; to < pending.size(); ++to) {
          const uint64_t seq = st.seq.full(pending[to].seq_lo);
          if (moved.full(pending[to].seq_lo) != seq) break;
          moved.authenticated(seq);
        }
      } else {
        to = pending.size();
      }
      decrypt_run(st, static_cast<size_t>(engine_sa_[sa]), std::span(pending).subspan(from, to - from),
                  rx_ns);
      from = to;
    }
  }
  return status;
}

}  // namespace sealnet::wire
