#include "datapath/why.h"

#include "offload/binding.h"

namespace sealnet::agent {

const fallback::Decision* peer_decision(const std::deque<fallback::Decision>& log, uint16_t peer_id,
                                        const std::string& address, uint8_t slot) {
  for (auto it = log.rbegin(); it != log.rend(); ++it) {
    const auto& d = *it;
    if (d.dst.empty()) {
      if (d.slot == slot) return &d;
      continue;
    }
    // SPIs carry the sender's node id: ours on outbound states (told apart by
    // their destination), the peer's on inbound ones.
    if (d.dst == address || (d.spi && offload::split_spi(*d.spi).node == peer_id)) return &d;
  }
  return nullptr;
}

std::string ErrorNotes::last_error() const {
  std::string out = failed_;
  for (const auto& [file, what] : refused_) out += (out.empty() ? "" : "; ") + what;
  return out;
}

}  // namespace sealnet::agent
