// The capture's judgement, independent of how frames are read or decrypted:
// which SA an ESP frame belongs to (SaCatalog), and what each frame and each
// decrypted packet means for the report (WireAudit). The DPDK capture feeds it
// frames from a port and packets from its decryptor; unit tests feed it bytes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "bench/wire/classify.h"
#include "bench/wire/esp.h"
#include "bench/wire/ledger.h"
#include "core/error.h"
#include "keys/keys.h"

namespace sealnet::wire {

// "--spi 3" (key id 3, Cilium's convention: the SPI is the key id) or
// "--spi 0x1003:3" (SPI 0x1003 under key 3).
struct SpiBinding {
  uint32_t spi = 0;
  uint8_t key_id = 0;
};
Result<SpiBinding> parse_spi_binding(std::string_view text);

// SAs made on demand from the key file: an ESP frame names its SPI and node
// pair, and the SA follows from the SPI's key (derived per pair for "+" keys).
class SaCatalog {
 public:
  // Fails when a binding names a key the file does not have or cannot be used.
  static Result<SaCatalog> make(keys::KeySet keys, std::vector<SpiBinding> spis);

  struct Entry {
    size_t index = 0;  // stable, dense: 0, 1, 2, ... in order of first use
    const EspSa* sa = nullptr;
    bool created = false;  // made by this lookup
  };
  // The SA for an ESP frame; an error when its SPI has no key.
  Result<Entry> find(uint32_t spi, const IpAddr& outer_src, const IpAddr& outer_dst);
  size_t size() const { return sas_.size(); }
  const EspSa& at(size_t i) const { return *sas_[i]; }

 private:
  keys::KeySet keys_;
  std::map<uint32_t, uint8_t> key_of_spi_;
  std::map<std::tuple<uint32_t, IpAddr, IpAddr>, size_t> index_;
  std::vector<std::unique_ptr<EspSa>> sas_;
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
