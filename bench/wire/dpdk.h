// The thin DPDK layer of the wire harness: EAL without hugepages, a port on a
// kernel interface through a virtual device (net_af_packet or net_af_xdp), and
// ESP decryption through rte_ipsec on a software cryptodev (crypto_aesni_gcm,
// i.e. intel-ipsec-mb, or crypto_openssl). Everything that decides anything
// lives in the pure parts (audit.h, esp.h); this only moves mbufs.
#pragma once

#include <rte_crypto.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/wire/esp.h"
#include "bench/wire/frame.h"
#include "core/error.h"
#include "offload/binding.h"

struct rte_ipsec_session;

namespace sealnet::wire::dpdk {

// Where the 12-byte GCM nonce of a crypto op sits: right behind the op, in its
// private area (the layout DPDK's ipsec-secgw and rte_ipsec use).
inline constexpr uint16_t kGcmIvOffset = sizeof(rte_crypto_op) + sizeof(rte_crypto_sym_op);

// The AES-GCM transform of an ESP SA (RFC 4106: 12-byte nonce, AAD = SPI || seq,
// 8 bytes, or with ESN SPI || seq_hi || seq_lo, 12) for a cryptodev session.
// `key` must outlive the session's creation.
inline rte_crypto_sym_xform aes_gcm_xform(rte_crypto_aead_operation op, const uint8_t* key, size_t key_len,
                                          uint16_t icv_len, uint16_t aad_len = 8) {
  rte_crypto_sym_xform xf{};
  xf.type = RTE_CRYPTO_SYM_XFORM_AEAD;
  xf.aead.op = op;
  xf.aead.algo = RTE_CRYPTO_AEAD_AES_GCM;
  xf.aead.key.data = key;
  xf.aead.key.length = static_cast<uint16_t>(key_len);
  xf.aead.iv.offset = kGcmIvOffset;
  xf.aead.iv.length = 12;
  xf.aead.digest_length = icv_len;
  xf.aead.aad_length = aad_len;
  return xf;
}

struct EalConfig {
  std::string file_prefix;         // unique per process: two harness processes may run at once
  std::vector<std::string> vdevs;  // "net_af_packet0,iface=veth1", "crypto_aesni_gcm0"
  std::vector<int> cpus;           // where the main lcore may run; empty: cpu 0
  unsigned memory_mb = 256;
  bool verbose = false;
};

// The EAL command line for `c`: no hugepages, no PCI, no shared config, no
// telemetry socket (docs/kernel-facts.md: `--in-memory` does not start here, this does).
std::vector<std::string> eal_arguments(const EalConfig& c);

// The EAL of this process. DPDK allows one initialisation per process, ever.
class Eal {
 public:
  static Result<std::unique_ptr<Eal>> init(const EalConfig& c);
  ~Eal();
  Eal(const Eal&) = delete;
  Eal& operator=(const Eal&) = delete;

 private:
  Eal() = default;
};

struct MempoolFree {
  void operator()(rte_mempool* p) const;
};
using Mempool = std::unique_ptr<rte_mempool, MempoolFree>;

// A packet-mbuf pool; `data_room` bytes per mbuf after the headroom.
Result<Mempool> make_mbuf_pool(const std::string& name, unsigned count, uint16_t data_room);

// Which PMD attaches to the kernel interface.
enum class Driver { AfPacket, AfXdp };
Result<Driver> parse_driver(const std::string& name);
// The --vdev argument attaching `driver` to `iface`, and the port's name.
std::string port_vdev(Driver driver, const std::string& iface);
std::string port_name(Driver driver);

// One started ethdev port with one rx and one tx queue.
class EthPort {
 public:
  static Result<std::unique_ptr<EthPort>> open(const std::string& name, rte_mempool* pool, bool promiscuous);
  ~EthPort();
  EthPort(const EthPort&) = delete;
  EthPort& operator=(const EthPort&) = delete;

  uint16_t rx(rte_mbuf** m, uint16_t n);
  uint16_t tx(rte_mbuf** m, uint16_t n);
  MacAddr mac() const { return mac_; }

 private:
  explicit EthPort(uint16_t port) : port_(port) {}
  uint16_t port_;
  MacAddr mac_;
};

// Which software cryptodev decrypts.
enum class CryptoEngine { AesniGcm, OpenSsl };
Result<CryptoEngine> parse_engine(const std::string& name);
std::string engine_vdev(CryptoEngine e);  // "crypto_aesni_gcm0" / "crypto_openssl0"

// Inbound tunnel-mode ESP (RFC 4303 + RFC 4106, as Linux writes it) on a
// software cryptodev, one crypto session per EspSa, used synchronously.
// On a PMD with synchronous CPU crypto (crypto_aesni_gcm) the harness does
// the ESP steps itself around one call into intel-ipsec-mb per burst: no
// crypto ops, no queue pair, no rte_ipsec (whose per-packet steps cost 15 %
// at 1400 bytes; bench_crypto's esp_ratio). On the others (crypto_openssl)
// rte_ipsec runs lookaside on one queue pair (enqueue, then dequeue until
// everything came back; the software PMDs complete at once). Both check the
// same: lengths, the ICV, next header 4, the padding bytes.
// ESN SAs (EspSa::esn): the CPU path puts the caller's seq_hi into each
// packet's AAD; rte_ipsec infers seq_hi itself (RFC 4303 Appendix A, over
// its window: ESN in rte_ipsec always comes with anti-replay, at least 64,
// lib/ipsec/sa.c), so there a replayed or too old ESN frame fails.
class IpsecInbound {
 public:
  static constexpr uint16_t kBurst = 32;
  // `device`: the cryptodev's name, by default engine_vdev(engine) (another
  // instance of the same PMD lets a benchmark run it next to a raw one).
  static Result<std::unique_ptr<IpsecInbound>> make(CryptoEngine engine, unsigned max_sas,
                                                    const std::string& device = {});
  ~IpsecInbound();
  IpsecInbound(const IpsecInbound&) = delete;
  IpsecInbound& operator=(const IpsecInbound&) = delete;

  // Adds an SA; its index is the number of SAs added before it. `window`:
  // rte_ipsec's replay window of an ESN SA (the receiver's, for the inference).
  Status add_sa(const EspSa& sa, uint32_t window = offload::PlanOptions{}.replay_window);
  size_t size() const { return sas_.size(); }

  // Decrypts up to kBurst ESP frames of SA `sa` in place. Each mbuf starts at
  // its Ethernet header; seq_hi[i] (ESN SAs; null: all 0) is the high half
  // of mb[i]'s sequence number. Returns how many succeeded: mb[0..k) then
  // hold the inner IPv4 packet at their data start, mb[k..n) failed (any order).
  uint16_t decrypt(size_t sa, rte_mbuf** mb, uint16_t n, const uint32_t* seq_hi = nullptr);

 private:
  struct Sa;
  IpsecInbound() = default;
  uint16_t decrypt_cpu(Sa& sa, rte_mbuf** mb, uint16_t n, const uint32_t* seq_hi);
  uint16_t decrypt_lookaside(Sa& sa, rte_mbuf** mb, uint16_t n);
  uint8_t dev_ = 0;
  bool started_ = false, cpu_crypto_ = false;
  Mempool sessions_, ops_;
  std::vector<std::unique_ptr<Sa>> sas_;
};

uint64_t monotonic_ns();

}  // namespace sealnet::wire::dpdk
