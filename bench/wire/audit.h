// The capture's judgement, independent of how frames are read or decrypted:
// which SA an ESP frame belongs to (SaCatalog), and what each frame and each
// decrypted packet means for the report (WireAudit). The DPDK capture feeds it
// frames from a port and packets from its decryptor; unit tests feed it bytes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "bench/wire/classify.h"
#include "bench/wire/esp.h"
#include "bench/wire/ledger.h"
#include "bench/wire/nodes.h"
#include "core/error.h"
#include "keys/keys.h"
#include "offload/binding.h"

namespace sealnet::wire {

// Manual SAs for tools other than sealnet (Cilium: SPI = key id): "--spi 3"
// (key id 3) or "--spi 0x1003:3" (SPI 0x1003 under key 3). sealnet's own SPIs
// need none: the node table resolves them (nodes.h).
struct SpiBinding {
  uint32_t spi = 0;
  uint8_t key_id = 0;
};
Result<SpiBinding> parse_spi_binding(std::string_view text);

// Which AAD an SA's frames carry (RFC 4106 section 5): on, SPI || seq_hi ||
// seq_lo (the agent's software SAs); off, SPI || seq (its offloaded ones).
// A passive observer cannot tell a sender slot's mode, so auto tries each
// SA's first frames with ESN, then without, and keeps what opened one.
enum class EsnMode { Auto, On, Off };
Result<EsnMode> parse_esn_mode(std::string_view text);  // "auto", "on", "off"

struct CatalogOptions {
  NodeTable nodes;  // sealnet's SPIs between these nodes; empty: --spi bindings only
  EsnMode esn = EsnMode::Auto;
  // The receiver's window of the ESN inference (RFC 4303 Appendix A2): the agent's.
  uint32_t window = offload::PlanOptions{}.replay_window;
};

// SAs made on demand from the key file: an ESP frame names its SPI and node
// pair. Its key is the one the SPI names: through a --spi binding, or as
// sealnet lays SPIs out (sender node, key id, sender slot, generation) when
// the sender and receiver are nodes of the table; a per-pair ("+") key is
// derived for the pair in the frame's direction (keys::derive_pair_key).
class SaCatalog {
 public:
  // Fails when a binding names a key the file does not have or cannot be used.
  static Result<SaCatalog> make(keys::KeySet keys, std::vector<SpiBinding> spis, CatalogOptions opts = {});

  struct Entry {
    size_t index = 0;  // stable, dense: 0, 1, 2, ... in order of first use
    const EspSa* sa = nullptr;
    bool created = false;  // made by this lookup
    uint32_t seq_lo = 0;   // the frame's sequence number (set by WireAudit::sa_for)
  };
  // The SA for an ESP frame; an error when its SPI has no key.
  Result<Entry> find(uint32_t spi, const IpAddr& outer_src, const IpAddr& outer_dst);
  size_t size() const { return sas_.size(); }
  const EspSa& at(size_t i) const { return sas_[i]->sa; }

  // What the capture keeps per SA: whether its ESN mode is settled (always
  // with --esn on/off), its sequence window, what became of its frames.
  struct SaState {
    EspSa sa;  // sa.esn: the mode, once settled
    bool esn_settled = false;
    SeqWindow seq;
    std::string origin;  // "--spi" or describe_spi()
    uint64_t decrypted = 0, failures = 0;
  };
  SaState& state(size_t i) { return *sas_[i]; }
  const SaState& state(size_t i) const { return *sas_[i]; }

  // --esn auto: opens `outer`, a frame of SA i, with the ESN AAD (seq_hi
  // inferred from the SA's window), then without, and settles the SA's mode
  // on the first that works. True when the mode is settled.
  bool settle_esn(size_t i, const Ipv4View& outer);

  // Per SA: spi, addresses, origin, esn (null while unsettled), counts.
  nlohmann::json sas_json() const;

 private:
  keys::KeySet keys_;
  std::map<uint32_t, uint8_t> key_of_spi_;
  CatalogOptions opts_;
  std::map<std::tuple<uint32_t, IpAddr, IpAddr>, size_t> index_;
  std::vector<std::unique_ptr<SaState>> sas_;
};

class WireAudit {
 public:
  // `require_esp`: our datagrams must cross as ESP only (a key was given);
  // otherwise clear datagrams are simply counted as arrivals.
  WireAudit(bool require_esp, std::vector<IpPrefix> protect);

  enum class Next { Decrypt, Done };
  // One captured Ethernet frame. Decrypt: an ESP frame, hand it to the
  // decryptor and report back with on_decrypted / on_decrypt_failure / on_unknown_sa.
  Next on_frame(std::span<const uint8_t> frame, uint64_t rx_ns);
  // The SA of an ESP frame on_frame() asked to decrypt; nullopt when there is
  // none (the frame is then counted as unknown_sa).
  std::optional<SaCatalog::Entry> sa_for(std::span<const uint8_t> frame, SaCatalog& catalog);
  // The inner IPv4 packet of a decrypted ESP frame.
  void on_decrypted(std::span<const uint8_t> inner_ip, uint64_t rx_ns);
  void on_decrypt_failure(std::string why);
  void on_unknown_sa(std::string why);

  uint64_t datagrams() const { return ledger_.received(); }
  CaptureReport report(std::optional<uint64_t> expected, double seconds) const;

 private:
  void check_datagram(std::span<const uint8_t> ip_packet, uint64_t rx_ns, bool was_esp);

  bool require_esp_;
  std::vector<IpPrefix> protect_;
  FlowLedger ledger_;
  CaptureReport r_;
};

}  // namespace sealnet::wire
