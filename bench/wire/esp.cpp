#include "bench/wire/esp.h"

#include <netinet/in.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <memory>

namespace sealnet::wire {

namespace {

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

const EVP_CIPHER* gcm_cipher(size_t key_len) {
  switch (key_len) {
    case 16:
      return EVP_aes_128_gcm();
    case 24:
      return EVP_aes_192_gcm();
    case 32:
      return EVP_aes_256_gcm();
    default:
      return nullptr;
  }
}

void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}
uint32_t get32(const uint8_t* p) { return static_cast<uint32_t>(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

std::array<uint8_t, 12> nonce(const EspSa& sa, const uint8_t* iv) {
  std::array<uint8_t, 12> n{};
  std::copy(sa.salt.begin(), sa.salt.end(), n.begin());
  std::copy_n(iv, kGcmIvLen, n.begin() + 4);
  return n;
}

std::string spi_hex(uint32_t spi) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", spi);
  return buf;
}

}  // namespace

std::string EspSa::describe() const {
  return "spi " + spi_hex(spi) + " " + outer_src.str() + "->" + outer_dst.str() + " aes-" +
         std::to_string(aes_key.size() * 8) + "-gcm icv " + std::to_string(icv_len) + (esn ? " esn" : "");
}

EspAad esp_aad(const EspSa& sa, uint64_t seq) {
  EspAad a;
  put32(a.bytes.data(), sa.spi);
  if (sa.esn) {
    put32(a.bytes.data() + 4, static_cast<uint32_t>(seq >> 32));
    put32(a.bytes.data() + 8, static_cast<uint32_t>(seq));
    a.len = 12;
  } else {
    put32(a.bytes.data() + 4, static_cast<uint32_t>(seq));
    a.len = 8;
  }
  return a;
}

uint32_t infer_seq_hi(uint64_t top, uint32_t seq_lo, uint32_t window) {
  const uint32_t tl = static_cast<uint32_t>(top), th = static_cast<uint32_t>(top >> 32);
  const uint32_t w = window ? window : 1;
  const uint32_t bottom = tl - w + 1;                      // mod 2^32
  if (tl >= w - 1) return seq_lo >= bottom ? th : th + 1;  // Case A: the window in one block
  // Case B: the window reaches back into the previous block (none before block 0).
  return seq_lo >= bottom && th > 0 ? th - 1 : th;
}

Result<EspSa> esp_sa_from_key(const keys::Key& key, uint32_t spi, const IpAddr& outer_src,
                              const IpAddr& outer_dst) {
  const std::string what = "key " + std::to_string(key.id) + " for spi " + spi_hex(spi);
  if (key.form != keys::KeyForm::Aead || key.aead_algo != "rfc4106(gcm(aes))")
    return fail(0, "make ESP SA", what, "the wire harness decrypts rfc4106(gcm(aes)) keys only");
  if (outer_src.family != AF_INET || outer_dst.family != AF_INET)
    return fail(0, "make ESP SA", what, "the wire harness handles IPv4 tunnels only");
  keys::SecretBytes material = key.aead_key;
  if (key.per_pair) {
    auto derived = keys::derive_pair_key(key.aead_key, outer_src, outer_dst);
    if (!derived) return std::unexpected(derived.error());
    material = std::move(*derived);
  }
  if (!gcm_cipher(material.size() - 4))
    return fail(0, "make ESP SA", what, "key length " + std::to_string(material.size()) + " bytes");
  EspSa sa;
  sa.spi = spi;
  sa.aes_key.assign(material.begin(), material.end() - 4);
  std::copy(material.end() - 4, material.end(), sa.salt.begin());
  sa.icv_len = static_cast<uint8_t>(key.icv_bits / 8);
  sa.outer_src = outer_src;
  sa.outer_dst = outer_dst;
  return sa;
}

Result<std::vector<uint8_t>> seal_tunnel(const EspSa& sa, uint64_t seq, uint64_t iv,
                                         std::span<const uint8_t> inner, uint16_t outer_id) {
  const size_t pad = (4 - (inner.size() + 2) % 4) % 4;
  std::vector<uint8_t> clear(inner.begin(), inner.end());
  for (size_t i = 1; i <= pad; ++i) clear.push_back(static_cast<uint8_t>(i));
  clear.push_back(static_cast<uint8_t>(pad));
  clear.push_back(kProtoIpip);
  return seal_esp(sa, seq, iv, clear, outer_id);
}

Result<std::vector<uint8_t>> seal_esp(const EspSa& sa, uint64_t seq, uint64_t iv,
                                      std::span<const uint8_t> clear, uint16_t outer_id) {
  const EVP_CIPHER* cipher = gcm_cipher(sa.aes_key.size());
  if (!cipher) return fail(0, "seal ESP", sa.describe(), "bad key length");
  if (!sa.esn && seq >> 32)
    return fail(0, "seal ESP", sa.describe(), "sequence number beyond 2^32 without ESN");
  const size_t clear_len = clear.size();
  const size_t esp_len = kEspHeaderLen + kGcmIvLen + clear_len + sa.icv_len;
  const auto outer = build_ipv4_header(sa.outer_src, sa.outer_dst, kProtoEsp, esp_len, outer_id);

  std::vector<uint8_t> out(kIpv4HeaderLen + esp_len);
  std::copy(outer.begin(), outer.end(), out.begin());
  uint8_t* esp = &out[kIpv4HeaderLen];
  put32(esp, sa.spi);
  put32(esp + 4, static_cast<uint32_t>(seq));
  for (size_t i = 0; i < kGcmIvLen; ++i) esp[8 + i] = static_cast<uint8_t>(iv >> (56 - 8 * i));

  const auto n = nonce(sa, esp + 8);
  const auto aad = esp_aad(sa, seq);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  uint8_t* ct = esp + kEspHeaderLen + kGcmIvLen;
  int len = 0, fin = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), cipher, nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, 12, nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, sa.aes_key.data(), n.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.bytes.data(), static_cast<int>(aad.len)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), ct, &len, clear.data(), static_cast<int>(clear_len)) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), ct + len, &fin) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, sa.icv_len, ct + clear_len) != 1)
    return fail(0, "seal ESP", sa.describe(), "OpenSSL AES-GCM encryption failed");
  return out;
}

Result<EspHeader> parse_esp_header(std::span<const uint8_t> esp) {
  if (esp.size() < kEspHeaderLen) return fail(0, "parse ESP", {}, "shorter than an ESP header");
  return EspHeader{get32(&esp[0]), get32(&esp[4])};
}

Result<std::vector<uint8_t>> open_tunnel(const EspSa& sa, const Ipv4View& outer, uint32_t seq_hi) {
  const auto esp = outer.payload;
  if (outer.proto != kProtoEsp) return fail(0, "open ESP", sa.describe(), "not ESP");
  if (esp.size() < kEspHeaderLen + kGcmIvLen + 2 + sa.icv_len)
    return fail(0, "open ESP", sa.describe(), "too short for IV, trailer and ICV");
  const auto hdr = parse_esp_header(esp);
  if (hdr->spi != sa.spi) return fail(0, "open ESP", sa.describe(), "SPI " + spi_hex(hdr->spi));
  const EVP_CIPHER* cipher = gcm_cipher(sa.aes_key.size());
  if (!cipher) return fail(0, "open ESP", sa.describe(), "bad key length");
  const size_t ct_len = esp.size() - kEspHeaderLen - kGcmIvLen - sa.icv_len;
  const uint8_t* ct = esp.data() + kEspHeaderLen + kGcmIvLen;
  std::vector<uint8_t> clear(ct_len);
  std::vector<uint8_t> tag(ct + ct_len, ct + ct_len + sa.icv_len);
  const auto n = nonce(sa, esp.data() + kEspHeaderLen);
  const auto aad = esp_aad(sa, uint64_t{seq_hi} << 32 | hdr->seq);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0, fin = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), cipher, nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, 12, nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, sa.aes_key.data(), n.data()) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, aad.bytes.data(), static_cast<int>(aad.len)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), clear.data(), &len, ct, static_cast<int>(ct_len)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, sa.icv_len, tag.data()) != 1)
    return fail(0, "open ESP", sa.describe(), "OpenSSL AES-GCM set-up failed");
  if (EVP_DecryptFinal_ex(ctx.get(), clear.data() + len, &fin) != 1)
    return fail(0, "open ESP", sa.describe() + " seq " + std::to_string(hdr->seq),
                sa.esn ? "ICV does not match (tampered, a different key, or not seq_hi " +
                             std::to_string(seq_hi) + ")"
                       : "ICV does not match (tampered, a different key, or an ESN SA)");
  const uint8_t next = clear[ct_len - 1], pad = clear[ct_len - 2];
  if (next != kProtoIpip)
    return fail(0, "open ESP", sa.describe(), "next header " + std::to_string(next) + ", not IPv4 in IPv4");
  if (pad + 2u > ct_len) return fail(0, "open ESP", sa.describe(), "pad length beyond the payload");
  const size_t inner_len = ct_len - 2 - pad;
  for (size_t i = 0; i < pad; ++i)
    if (clear[inner_len + i] != i + 1)
      return fail(0, "open ESP", sa.describe(), "padding bytes are not 1, 2, 3, ... (RFC 4303)");
  clear.resize(inner_len);
  return clear;
}

}  // namespace sealnet::wire
