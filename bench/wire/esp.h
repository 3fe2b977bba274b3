// Tunnel-mode ESP with AES-GCM (RFC 4303 + RFC 4106) as Linux's esp4 writes it:
//   outer IPv4 | SPI | seq | IV (8) | enc(inner IPv4 | pad 1,2,.. | pad len | 4) | ICV
// AAD = SPI || seq (no ESN), nonce = the key's 4-byte salt || IV, padding to a
// multiple of 4 (GCM's block size is 1; ESP aligns the trailer to 4 bytes).
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

  std::string describe() const;  // "spi 0x3 10.0.0.1->10.0.0.2 aes-128-gcm icv 16"
};

// The SA for `spi` between two nodes made from a key-file key: a per-pair ("+")
// key is first derived for (outer_src, outer_dst) the way the agent derives it.
Result<EspSa> esp_sa_from_key(const keys::Key& key, uint32_t spi, const IpAddr& outer_src,
                              const IpAddr& outer_dst);

// The outer IPv4 packet carrying `inner` (an IPv4 packet) under `sa`.
Result<std::vector<uint8_t>> seal_tunnel(const EspSa& sa, uint32_t seq, uint64_t iv,
                                         std::span<const uint8_t> inner, uint16_t outer_id = 0);

// The same with the ESP payload given whole (the inner packet, padding, pad
// length and next header): tests make malformed trailers with it.
Result<std::vector<uint8_t>> seal_esp(const EspSa& sa, uint32_t seq, uint64_t iv,
                                      std::span<const uint8_t> clear, uint16_t outer_id = 0);

struct EspHeader {
  uint32_t spi = 0;
  uint32_t seq = 0;
};
// SPI and sequence number of an ESP packet (the outer IPv4 payload).
Result<EspHeader> parse_esp_header(std::span<const uint8_t> esp);

// Decrypts and checks one ESP packet (outer IPv4 included) under `sa`:
// ICV, padding bytes, next header 4; returns the inner IPv4 packet.
Result<std::vector<uint8_t>> open_tunnel(const EspSa& sa, const Ipv4View& outer);

}  // namespace sealnet::wire
