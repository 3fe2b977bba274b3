// Tunnel-mode ESP with AES-GCM (RFC 4303 + RFC 4106) as Linux's esp4 writes it:
//   outer IPv4 | SPI | seq | IV (8) | enc(inner IPv4 | pad 1,2,.. | pad len | 4) | ICV
// nonce = the key's 4-byte salt || IV, padding to a multiple of 4 (GCM's block
// size is 1; ESP aligns the trailer to 4 bytes). The AAD (RFC 4106 section 5)
// is SPI || seq without ESN, and SPI || seq_hi || seq_lo with ESN (RFC 4303
// 2.2.1: 64-bit sequence numbers of which only the low 32 bits are sent; the
// receiver infers the high ones from its window, Appendix A). The agent's
// software SAs use ESN, its offloaded ones do not (offload/binding.h).
// Pure functions over bytes with OpenSSL: the host tier has no kernel ESP, so
// tests make the kernel's frames here, and the DPDK path is checked against them.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "bench/wire/frame.h"
#include "core/error.h"
#include "core/ip.h"
#include "keys/keys.h"

namespace sealnet::wire {

constexpr size_t kEspHeaderLen = 8;  // SPI + sequence number
constexpr size_t kGcmIvLen = 8;

// One direction's SA as the harness needs it. Never printed: describe() it.
struct EspSa {
  uint32_t spi = 0;
  keys::SecretBytes aes_key;      // 16, 24 or 32 bytes
  std::array<uint8_t, 4> salt{};  // the last 4 bytes of the key-file key
  uint8_t icv_len = 16;
  IpAddr outer_src, outer_dst;  // the tunnel's node addresses
  bool esn = false;             // 64-bit sequence numbers, the high half in the AAD only

  std::string describe() const;  // "spi 0x3 10.0.0.1->10.0.0.2 aes-128-gcm icv 16 esn"
};

// The AAD of one packet under `sa` (RFC 4106 section 5): 8 bytes, or 12 with ESN.
struct EspAad {
  std::array<uint8_t, 12> bytes{};
  size_t len = 0;
  std::span<const uint8_t> view() const { return {bytes.data(), len}; }
};
EspAad esp_aad(const EspSa& sa, uint64_t seq);

// The high 32 bits of a received packet's sequence number, as RFC 4303
// Appendix A2.2 infers them from the highest authenticated sequence number
// `top` of the SA and its window size (the agent's: 128): a low half far below
// the window's bottom is in the next 2^32 block, one above it in the window's
// block, and near the start of a block one close under 2^32 is from the
// previous block (none before block 0).
uint32_t infer_seq_hi(uint64_t top, uint32_t seq_lo, uint32_t window);

// One inbound SA's sequence state, as a receiver keeps it for the inference:
// only authenticated packets move it. A capture that starts near sequence 0
// starts at top 0 (seq_hi 0).
class SeqWindow {
 public:
  explicit SeqWindow(uint32_t window, uint64_t top = 0) : window_(window), top_(top) {}
  uint64_t full(uint32_t seq_lo) const {
    return uint64_t{infer_seq_hi(top_, seq_lo, window_)} << 32 | seq_lo;
  }
  void authenticated(uint64_t seq) { top_ = seq > top_ ? seq : top_; }
  uint64_t top() const { return top_; }
  uint32_t window() const { return window_; }

 private:
  uint32_t window_;
  uint64_t top_;
};

// The SA for `spi` between two nodes made from a key-file key: a per-pair ("+")
// key is first derived for (outer_src, outer_dst) the way the agent derives it.
Result<EspSa> esp_sa_from_key(const keys::Key& key, uint32_t spi, const IpAddr& outer_src,
                              const IpAddr& outer_dst);

// The outer IPv4 packet carrying `inner` (an IPv4 packet) under `sa`, with
// sequence number `seq`: its low 32 bits go on the wire; with ESN the high 32
// go into the AAD, without ESN they must be 0.
Result<std::vector<uint8_t>> seal_tunnel(const EspSa& sa, uint64_t seq, uint64_t iv,
                                         std::span<const uint8_t> inner, uint16_t outer_id = 0);

// The same with the ESP payload given whole (the inner packet, padding, pad
// length and next header): tests make malformed trailers with it.
Result<std::vector<uint8_t>> seal_esp(const EspSa& sa, uint64_t seq, uint64_t iv,
                                      std::span<const uint8_t> clear, uint16_t outer_id = 0);

struct EspHeader {
  uint32_t spi = 0;
  uint32_t seq = 0;
};
// SPI and sequence number of an ESP packet (the outer IPv4 payload).
Result<EspHeader> parse_esp_header(std::span<const uint8_t> esp);

// Decrypts and checks one ESP packet (outer IPv4 included) under `sa`:
// ICV, padding bytes, next header 4; returns the inner IPv4 packet. With ESN
// the AAD takes `seq_hi` (the receiver's inference) as the high 32 bits.
Result<std::vector<uint8_t>> open_tunnel(const EspSa& sa, const Ipv4View& outer, uint32_t seq_hi = 0);

}  // namespace sealnet::wire
