// The software AES-GCM ceiling per core: what one core can encrypt, so the
// ESP verifier and the datapath can be judged against it (the project's aim: "within
// 10% of intel-ipsec-mb / OpenSSL speed on the same machine").
//
//   aes_gcm/<engine>/<key bits>/<packet bytes>
//     openssl-evp        OpenSSL EVP in this thread
//     cryptodev-aesni_gcm  DPDK cryptodev, intel-ipsec-mb (crypto_aesni_gcm PMD)
//     cryptodev-openssl    DPDK cryptodev, crypto_openssl PMD
//   esp_open/cryptodev-aesni_gcm/<key bits>/<inner packet bytes>
//     ESP frames copied into mbufs (as a capture's rx does) and decrypted
//     with raw cryptodev ops through a queue pair: a baseline of
//   esp_open/cpu-aesni_gcm/<key bits>/<inner packet bytes>
//     the same through the PMD's synchronous CPU crypto call: the other
//     baseline (raw intel-ipsec-mb with the least around it)
//   esp_verify/harness-aesni_gcm/<key bits>/<inner packet bytes>
//     the wire harness's own decrypt path on the same frames: the call a
//     capture makes (dpdk::IpsecInbound::decrypt on crypto_aesni_gcm: ESP
//     lengths, ICV, trailer and padding checked, cut to the inner packet)
//   esp_capture/harness-aesni_gcm/<key bits>/<inner packet bytes>
//     everything a capture does with those frames past its rx
//     (CaptureStep::on_burst: audit, SA lookup, decrypt, each inner datagram
//     checked byte for byte against what was sent, UDP checksum included)
//   esp_ratio/harness-aesni_gcm/<key bits>/<inner packet bytes>
//     the four above alternating burst by burst in one loop; counters
//     `ratio` (verify / cryptodev ops) and `ratio_cpu` (verify / CPU crypto),
//     from median bursts: the overhead figure to read (target <= 1.10), as
//     it holds on a shared machine where separate benchmarks drift;
//     `ratio_capture` (capture / cryptodev ops) is the whole per-frame cost
//
// Every packet is sealed as ESP would: a fresh IV per packet, 8 bytes of AAD
// (SPI || seq), a 16-byte tag. Counters: Gbit/s of packet bytes and ns/packet.
// Run by hand (not a test), on an otherwise idle machine:
//   sudo build/bench/bench_crypto --benchmark_format=json > crypto.json
// DPDK's EAL must start (no hugepages needed); without it the bench refuses to run.
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <rte_cryptodev.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench/wire/audit.h"
#include "bench/wire/capture.h"
#include "bench/wire/datagram.h"
#include "bench/wire/dpdk.h"
#include "bench/wire/esp.h"
#include "core/text.h"

// DPDK's inline op accessors index the zero-length `sym[0]` array (see dpdk.cpp).
#pragma GCC diagnostic ignored "-Warray-bounds"

namespace sealnet::wire {
namespace {

constexpr int kSizes[] = {64, 256, 512, 1400, 4096, 9000};
constexpr int kKeyBits[] = {128, 256};
constexpr uint16_t kBurst = 32;
constexpr uint16_t kDataRoom = 9216 + 128;

// DPDK objects of the run; released in main() before the EAL goes.
dpdk::Mempool g_mbufs;
std::unique_ptr<dpdk::IpsecInbound> g_inbound;

void set_counters(benchmark::State& state, int size, uint64_t packets) {
  const double bytes = static_cast<double>(packets) * size;
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["Gbit/s"] = benchmark::Counter(bytes * 8 / 1e9, benchmark::Counter::kIsRate);
  state.counters["ns/packet"] = benchmark::Counter(static_cast<double>(packets) * 1e-9,
                                                   benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

std::vector<uint8_t> random_key(int bits) {
  std::vector<uint8_t> k(static_cast<size_t>(bits / 8));
  RAND_bytes(k.data(), static_cast<int>(k.size()));
  return k;
}

void openssl_evp(benchmark::State& state, int bits, int size) {
  const auto key = random_key(bits);
  std::vector<uint8_t> buf(static_cast<size_t>(size), 0xab);
  uint8_t aad[8] = {0, 0, 0, 3, 0, 0, 0, 1}, tag[16], nonce[12] = {1, 2, 3, 4};
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                      EVP_CIPHER_CTX_free);
  EVP_EncryptInit_ex(ctx.get(), bits == 128 ? EVP_aes_128_gcm() : EVP_aes_256_gcm(), nullptr, key.data(),
                     nullptr);
  uint64_t iv = 0, packets = 0;
  for (auto _ : state) {
    ++iv;
    std::memcpy(nonce + 4, &iv, 8);
    int len = 0;
    if (EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, nullptr, nonce) != 1 ||
        EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad, sizeof aad) != 1 ||
        EVP_EncryptUpdate(ctx.get(), buf.data(), &len, buf.data(), size) != 1 ||
        EVP_EncryptFinal_ex(ctx.get(), buf.data() + len, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, tag) != 1) {
      state.SkipWithError("OpenSSL AES-GCM failed");
      break;
    }
    benchmark::DoNotOptimize(tag);
    ++packets;
  }
  set_counters(state, size, packets);
}

// One cryptodev with one queue pair, configured once per process.
struct Cryptodev {
  uint8_t id = 0;
  dpdk::Mempool sessions, ops;
  std::string error;
};

std::map<std::string, Cryptodev> g_devs;

Cryptodev& cryptodev(const std::string& name) {
  auto [it, fresh] = g_devs.try_emplace(name);
  Cryptodev& d = it->second;
  if (!fresh) return d;
  const int id = rte_cryptodev_get_dev_id(name.c_str());
  if (id < 0) {
    d.error = name + " is not there";
    return d;
  }
  d.id = static_cast<uint8_t>(id);
  rte_cryptodev_config conf{};
  conf.socket_id = rte_cryptodev_socket_id(d.id);
  conf.nb_queue_pairs = 1;
  d.sessions.reset(rte_cryptodev_sym_session_pool_create(
      ("bs_" + name).c_str(), 16, rte_cryptodev_sym_get_private_session_size(d.id), 0, 0, conf.socket_id));
  rte_cryptodev_qp_conf qp{};
  qp.nb_descriptors = 2048;
  qp.mp_session = d.sessions.get();
  d.ops.reset(rte_crypto_op_pool_create(("bo_" + name).c_str(), RTE_CRYPTO_OP_TYPE_SYMMETRIC, 2 * kBurst, 0,
                                        16, conf.socket_id));
  if (!d.sessions || !d.ops || rte_cryptodev_configure(d.id, &conf) < 0 ||
      rte_cryptodev_queue_pair_setup(d.id, 0, &qp, conf.socket_id) < 0 || rte_cryptodev_start(d.id) < 0)
    d.error = "could not set up " + name;
  return d;
}

void cryptodev_gcm(benchmark::State& state, const std::string& device, int bits, int size) {
  Cryptodev& dev = cryptodev(device);
  if (!dev.error.empty()) {
    state.SkipWithError(dev.error.c_str());
    return;
  }
  auto key = random_key(bits);
  rte_crypto_sym_xform xf = dpdk::aes_gcm_xform(RTE_CRYPTO_AEAD_OP_ENCRYPT, key.data(), key.size(), 16);
  void* session = rte_cryptodev_sym_session_create(dev.id, &xf, dev.sessions.get());
  if (!session) {
    state.SkipWithError("session create failed");
    return;
  }
  rte_crypto_op* ops[kBurst];
  rte_mbuf* mbufs[kBurst];
  alignas(16) static uint8_t aad[kBurst][16];
  if (rte_crypto_op_bulk_alloc(dev.ops.get(), RTE_CRYPTO_OP_TYPE_SYMMETRIC, ops, kBurst) != kBurst ||
      rte_pktmbuf_alloc_bulk(g_mbufs.get(), mbufs, kBurst) != 0) {
    state.SkipWithError("out of ops or mbufs");
    return;
  }
  for (uint16_t i = 0; i < kBurst; ++i) {
    char* data = rte_pktmbuf_append(mbufs[i], static_cast<uint16_t>(size + 16));
    std::memset(data, 0xab, static_cast<size_t>(size));
    rte_crypto_op_attach_sym_session(ops[i], session);
    rte_crypto_sym_op* sym = ops[i]->sym;
    sym->m_src = mbufs[i];
    sym->aead.data.offset = 0;
    sym->aead.data.length = static_cast<uint32_t>(size);
    sym->aead.digest.data = rte_pktmbuf_mtod_offset(mbufs[i], uint8_t*, size);
    sym->aead.digest.phys_addr = rte_pktmbuf_iova_offset(mbufs[i], size);
    sym->aead.aad.data = aad[i];
    sym->aead.aad.phys_addr = rte_mem_virt2iova(aad[i]);
  }
  uint64_t iv = 0, packets = 0;
  for (auto _ : state) {
    for (uint16_t i = 0; i < kBurst; ++i) {
      uint8_t* nonce = rte_crypto_op_ctod_offset(ops[i], uint8_t*, dpdk::kGcmIvOffset);
      ++iv;
      std::memcpy(nonce, "\x01\x02\x03\x04", 4);
      std::memcpy(nonce + 4, &iv, 8);  // a fresh IV per packet, as ESP needs
      ops[i]->status = RTE_CRYPTO_OP_STATUS_NOT_PROCESSED;
    }
    uint16_t sent = 0, back = 0;
    while (sent < kBurst) sent += rte_cryptodev_enqueue_burst(dev.id, 0, ops + sent, kBurst - sent);
    rte_crypto_op* done[kBurst];
    while (back < kBurst) back += rte_cryptodev_dequeue_burst(dev.id, 0, done + back, kBurst - back);
    if (done[0]->status != RTE_CRYPTO_OP_STATUS_SUCCESS) {
      state.SkipWithError("cryptodev op failed");
      break;
    }
    packets += kBurst;
  }
  set_counters(state, size, packets);
  rte_pktmbuf_free_bulk(mbufs, kBurst);
  rte_mempool_put_bulk(dev.ops.get(), reinterpret_cast<void**>(ops), kBurst);
  rte_cryptodev_sym_session_free(dev.id, session);
}

// An inner IPv4/UDP harness datagram of `size` bytes (at least the stamp's).
std::vector<uint8_t> inner_packet(int size) {
  const int payload =
      std::max<int>(size - static_cast<int>(kIpv4HeaderLen + kUdpHeaderLen), static_cast<int>(kStampLen));
  const Stamp st{0, 0, 0, {*IpAddr::parse("10.1.0.1"), *IpAddr::parse("10.2.0.1"), 40000, 5001}};
  return build_ipv4_udp(st.ep, encode_datagram(st, static_cast<size_t>(payload)), 1);
}

EspSa random_sa(int bits, uint32_t spi) {
  const auto k = random_key(bits + 32);  // AES key + 4-byte salt
  EspSa sa;
  sa.spi = spi;
  sa.aes_key.assign(k.begin(), k.begin() + bits / 8);
  std::copy(k.end() - 4, k.end(), sa.salt.begin());
  sa.outer_src = *IpAddr::parse("192.168.0.1");
  sa.outer_dst = *IpAddr::parse("192.168.0.2");
  return sa;
}

// kBurst ESP frames (Ethernet included) of one inner packet, seq and IV 1..kBurst.
std::vector<std::vector<uint8_t>> esp_frames(const EspSa& sa, int size) {
  const auto inner = inner_packet(size);
  std::vector<std::vector<uint8_t>> frames;
  for (uint32_t i = 0; i < kBurst; ++i)
    frames.push_back(build_ethernet({}, {}, kEtherTypeIpv4, *seal_tunnel(sa, i + 1, i + 1, inner)));
  return frames;
}

// Fresh mbufs holding `frames`, copied in as a capture's rx fills them.
bool load_frames(const std::vector<std::vector<uint8_t>>& frames, rte_mbuf** m) {
  if (rte_pktmbuf_alloc_bulk(g_mbufs.get(), m, kBurst) != 0) return false;
  for (uint16_t i = 0; i < kBurst; ++i)
    std::memcpy(rte_pktmbuf_append(m[i], static_cast<uint16_t>(frames[i].size())), frames[i].data(),
                frames[i].size());
  return true;
}

// One burst of the wire harness's verify path: ESP frames copied into mbufs,
// decrypted and checked by dpdk::IpsecInbound::decrypt (the very call a
// capture makes, on intel-ipsec-mb), the inner packets located.
class VerifyBurst {
 public:
  std::string init(int bits, int size) {
    if (!g_inbound) {
      auto in = dpdk::IpsecInbound::make(dpdk::CryptoEngine::AesniGcm, 16, "crypto_aesni_gcm1");
      if (!in) return in.error().message();
      g_inbound = std::move(*in);
    }
    // One SA per key size for the whole run: the benchmark functions are
    // called many times (iteration estimates, repetitions) and SAs stay.
    static std::map<int, std::pair<size_t, EspSa>> sa_of_bits;
    if (!sa_of_bits.contains(bits)) {
      EspSa sa = random_sa(bits, static_cast<uint32_t>(0x100 + bits));
      if (auto st = g_inbound->add_sa(sa); !st) return st.error().message();
      sa_of_bits.emplace(bits, std::make_pair(g_inbound->size() - 1, std::move(sa)));
    }
    const auto& [index, sa] = sa_of_bits.at(bits);
    index_ = index;
    frames_ = esp_frames(sa, size);
    return {};
  }
  // False when a frame did not come out (which must not happen here).
  bool run() {
    rte_mbuf* m[kBurst];
    if (!load_frames(frames_, m)) return false;
    const uint16_t ok = g_inbound->decrypt(index_, m, kBurst);
    benchmark::DoNotOptimize(rte_pktmbuf_mtod(m[0], uint8_t*)[0]);
    rte_pktmbuf_free_bulk(m, kBurst);
    return ok == kBurst;
  }

 private:
  size_t index_ = 0;
  std::vector<std::vector<uint8_t>> frames_;
};

// One burst of the baseline: the same frames copied into mbufs the same way
// and decrypted by intel-ipsec-mb (crypto_aesni_gcm0) with nothing around it:
// cryptodev ops through a queue pair (`cpu` false), or the PMD's synchronous
// CPU crypto call on the whole burst (`cpu` true, the API rte_ipsec's
// CPU_CRYPTO sessions use, and the lower of the two).
class OpenBurst {
 public:
  OpenBurst() = default;
  OpenBurst(const OpenBurst&) = delete;
  OpenBurst& operator=(const OpenBurst&) = delete;
  ~OpenBurst() {
    if (ops_[0]) rte_mempool_put_bulk(dev_->ops.get(), reinterpret_cast<void**>(ops_), kBurst);
    if (session_) rte_cryptodev_sym_session_free(dev_->id, session_);
  }
  std::string init(int bits, int size, bool cpu) {
    dev_ = &cryptodev("crypto_aesni_gcm0");
    if (!dev_->error.empty()) return dev_->error;
    cpu_ = cpu;
    sa_ = random_sa(bits, 0x200);
    rte_crypto_sym_xform xf =
        dpdk::aes_gcm_xform(RTE_CRYPTO_AEAD_OP_DECRYPT, sa_.aes_key.data(), sa_.aes_key.size(), 16);
    session_ = rte_cryptodev_sym_session_create(dev_->id, &xf, dev_->sessions.get());
    if (!session_) return "session create failed";
    if (!cpu &&
        rte_crypto_op_bulk_alloc(dev_->ops.get(), RTE_CRYPTO_OP_TYPE_SYMMETRIC, ops_, kBurst) != kBurst) {
      ops_[0] = nullptr;
      return "out of ops";
    }
    frames_ = esp_frames(sa_, size);
    return {};
  }
  bool run() {
    constexpr size_t kEspAt = kEthHeaderLen + kIpv4HeaderLen;
    constexpr size_t kCtAt = kEspAt + kEspHeaderLen + kGcmIvLen;
    rte_mbuf* m[kBurst];
    if (!load_frames(frames_, m)) return false;
    bool ok = true;
    if (cpu_) {
      rte_crypto_vec vec[kBurst];
      rte_crypto_sgl sgl[kBurst];
      rte_crypto_va_iova_ptr iv[kBurst], aad[kBurst], digest[kBurst];
      alignas(16) uint8_t nonce[kBurst][16];
      int32_t status[kBurst];
      for (uint16_t i = 0; i < kBurst; ++i) {
        uint8_t* d = rte_pktmbuf_mtod(m[i], uint8_t*);
        const uint32_t ct_len = static_cast<uint32_t>(rte_pktmbuf_data_len(m[i]) - kCtAt - 16);
        vec[i] = {d + kCtAt, rte_pktmbuf_iova_offset(m[i], kCtAt), ct_len, ct_len};
        sgl[i] = {&vec[i], 1};
        std::memcpy(nonce[i], sa_.salt.data(), 4);
        std::memcpy(nonce[i] + 4, d + kEspAt + kEspHeaderLen, kGcmIvLen);
        iv[i].va = nonce[i];
        aad[i].va = d + kEspAt;  // SPI || seq lie together in the frame
        digest[i].va = d + kCtAt + ct_len;
      }
      rte_crypto_sym_vec sv{};
      sv.num = kBurst;
      sv.src_sgl = sgl;
      sv.iv = iv;
      sv.digest = digest;
      sv.aad = aad;
      sv.status = status;
      rte_crypto_sym_ofs ofs{};
      ok = rte_cryptodev_sym_cpu_crypto_process(dev_->id, session_, ofs, &sv) == kBurst;
    } else {
      for (uint16_t i = 0; i < kBurst; ++i) {
        uint8_t* d = rte_pktmbuf_mtod(m[i], uint8_t*);
        const uint32_t ct_len = static_cast<uint32_t>(rte_pktmbuf_data_len(m[i]) - kCtAt - 16);
        rte_crypto_op_attach_sym_session(ops_[i], session_);
        rte_crypto_sym_op* sym = ops_[i]->sym;
        sym->m_src = m[i];
        sym->aead.data.offset = kCtAt;
        sym->aead.data.length = ct_len;
        sym->aead.digest.data = d + kCtAt + ct_len;
        sym->aead.digest.phys_addr = rte_pktmbuf_iova_offset(m[i], kCtAt + ct_len);
        sym->aead.aad.data = d + kEspAt;  // SPI || seq lie together in the frame
        sym->aead.aad.phys_addr = rte_pktmbuf_iova_offset(m[i], kEspAt);
        uint8_t* nonce = rte_crypto_op_ctod_offset(ops_[i], uint8_t*, dpdk::kGcmIvOffset);
        std::memcpy(nonce, sa_.salt.data(), 4);
        std::memcpy(nonce + 4, d + kEspAt + kEspHeaderLen, kGcmIvLen);
        ops_[i]->status = RTE_CRYPTO_OP_STATUS_NOT_PROCESSED;
      }
      uint16_t sent = 0, back = 0;
      while (sent < kBurst) sent += rte_cryptodev_enqueue_burst(dev_->id, 0, ops_ + sent, kBurst - sent);
      rte_crypto_op* done[kBurst];
      while (back < kBurst) back += rte_cryptodev_dequeue_burst(dev_->id, 0, done + back, kBurst - back);
      for (uint16_t i = 0; i < kBurst; ++i) ok &= done[i]->status == RTE_CRYPTO_OP_STATUS_SUCCESS;
    }
    rte_pktmbuf_free_bulk(m, kBurst);
    return ok;
  }

 private:
  Cryptodev* dev_ = nullptr;
  bool cpu_ = false;
  EspSa sa_;
  void* session_ = nullptr;
  rte_crypto_op* ops_[kBurst] = {};
  std::vector<std::vector<uint8_t>> frames_;
};

// The capture's whole per-frame work, shared by all sizes and key lengths
// of the run: a key file with key 3 (AES-128) and key 4 (AES-256) bound to
// SPIs 3 and 4, the audit, and an inbound on its own cryptodev (a capture's
// SA indices are its catalog's, so it cannot share g_inbound).
struct CaptureRig {
  std::optional<SaCatalog> catalog;
  std::unique_ptr<dpdk::IpsecInbound> inbound;
  std::optional<WireAudit> audit;
  std::optional<CaptureStep> step;
  keys::KeySet keys;
};
std::unique_ptr<CaptureRig> g_capture;

// One burst of `sealnet-wire capture` past its rx: ESP frames copied into
// mbufs and handed to CaptureStep::on_burst, the capture loop's own code
// (audit, SA lookup, decrypt, every inner datagram checked byte for byte).
class CaptureBurst {
 public:
  std::string init(int bits, int size) {
    if (!g_capture) {
      auto rig = std::make_unique<CaptureRig>();
      const std::string text = "3 rfc4106(gcm(aes)) 0x" + hex(random_key(128 + 32)) + " 128\n" +
                               "4 rfc4106(gcm(aes)) 0x" + hex(random_key(256 + 32)) + " 128\n";
      auto keys = keys::parse_key_file(text, "bench");
      if (!keys) return keys.error().message();
      rig->keys = *keys;
      auto cat = SaCatalog::make(std::move(*keys), {{3, 3}, {4, 4}});
      if (!cat) return cat.error().message();
      rig->catalog = std::move(*cat);
      auto in = dpdk::IpsecInbound::make(dpdk::CryptoEngine::AesniGcm, 16, "crypto_aesni_gcm2");
      if (!in) return in.error().message();
      rig->inbound = std::move(*in);
      rig->audit.emplace(true, std::vector<IpPrefix>{});
      rig->step.emplace(*rig->audit, &*rig->catalog, rig->inbound.get());
      g_capture = std::move(rig);
    }
    const uint32_t spi = bits == 128 ? 3 : 4;
    auto sa = esp_sa_from_key(*g_capture->keys.find(static_cast<uint8_t>(spi)), spi,
                              *IpAddr::parse("192.168.0.1"), *IpAddr::parse("192.168.0.2"));
    if (!sa) return sa.error().message();
    frames_ = esp_frames(*sa, size);
    return {};
  }
  bool run() {
    rte_mbuf* m[kBurst];
    if (!load_frames(frames_, m)) return false;
    return g_capture->step->on_burst(m, kBurst, dpdk::monotonic_ns()).has_value();
  }
  // Whether everything so far decrypted and checked out.
  static bool clean() {
    const auto r = g_capture->audit->report(std::nullopt, 0);
    return r.decrypt_failures == 0 && r.invalid_inner == 0 && r.unknown_sa == 0 && r.foreign_inner == 0 &&
           r.plaintext_frames == 0 && r.decrypted == r.esp_frames;
  }

 private:
  std::vector<std::vector<uint8_t>> frames_;
};

size_t inner_size(int size) { return inner_packet(size).size(); }

void esp_capture(benchmark::State& state, int bits, int size) {
  CaptureBurst c;
  if (auto e = c.init(bits, size); !e.empty()) return state.SkipWithError(e.c_str());
  uint64_t packets = 0;
  for (auto _ : state) {
    if (!c.run()) {
      state.SkipWithError("capture step failed");
      break;
    }
    packets += kBurst;
  }
  if (!CaptureBurst::clean()) state.SkipWithError("the capture judged a frame bad");
  set_counters(state, static_cast<int>(inner_size(size)), packets);
}

void esp_verify(benchmark::State& state, int bits, int size) {
  VerifyBurst v;
  if (auto e = v.init(bits, size); !e.empty()) return state.SkipWithError(e.c_str());
  uint64_t packets = 0;
  for (auto _ : state) {
    if (!v.run()) {
      state.SkipWithError("the harness rejected a frame");
      break;
    }
    packets += kBurst;
  }
  set_counters(state, static_cast<int>(inner_size(size)), packets);
}

void esp_open(benchmark::State& state, int bits, int size, bool cpu) {
  OpenBurst o;
  if (auto e = o.init(bits, size, cpu); !e.empty()) return state.SkipWithError(e.c_str());
  uint64_t packets = 0;
  for (auto _ : state) {
    if (!o.run()) {
      state.SkipWithError("a frame did not authenticate");
      break;
    }
    packets += kBurst;
  }
  set_counters(state, static_cast<int>(inner_size(size)), packets);
}

// The verify path and the capture step against both baselines in one loop:
// bursts of the four alternate (rotating which goes first), each timed with
// the TSC, and each one's median burst is taken. A neighbour stealing the
// core then hits all alike and a preempted burst does not move a median, so
// `ratio` (verify / cryptodev ops), `ratio_cpu` (verify / synchronous CPU
// crypto) and `ratio_capture` (capture / cryptodev ops) hold on a busy
// machine where separate runs of the single benchmarks do not.
void esp_ratio(benchmark::State& state, int bits, int size) {
  VerifyBurst v;
  OpenBurst ops, cpu;
  CaptureBurst cap;
  for (auto e :
       {v.init(bits, size), ops.init(bits, size, false), cpu.init(bits, size, true), cap.init(bits, size)})
    if (!e.empty()) return state.SkipWithError(e.c_str());
  std::vector<uint64_t> t[4];
  const auto timed = [&](int which) {
    const uint64_t t0 = rte_rdtsc_precise();
    const bool ok = which == 0 ? v.run() : which == 1 ? ops.run() : which == 2 ? cpu.run() : cap.run();
    t[which].push_back(rte_rdtsc_precise() - t0);
    return ok;
  };
  uint64_t round = 0;
  for (auto _ : state) {
    bool ok = true;
    for (int k = 0; k < 4; ++k) ok &= timed(static_cast<int>((round + k) % 4));
    ++round;
    if (!ok) {
      state.SkipWithError("a frame did not decrypt");
      return;
    }
  }
  const auto median_ns = [](std::vector<uint64_t>& x) {
    std::nth_element(x.begin(), x.begin() + static_cast<ptrdiff_t>(x.size() / 2), x.end());
    return static_cast<double>(x[x.size() / 2]) * 1e9 / static_cast<double>(rte_get_tsc_hz()) / kBurst;
  };
  if (!CaptureBurst::clean()) return state.SkipWithError("the capture judged a frame bad");
  const double verify = median_ns(t[0]), open = median_ns(t[1]), open_cpu = median_ns(t[2]),
               capture = median_ns(t[3]);
  state.counters["verify_ns"] = verify;
  state.counters["open_ns"] = open;
  state.counters["open_cpu_ns"] = open_cpu;
  state.counters["ratio"] = verify / open;
  state.counters["ratio_cpu"] = verify / open_cpu;
  state.counters["capture_ns"] = capture;
  state.counters["ratio_capture"] = capture / open;
}

void register_all() {
  for (int bits : kKeyBits)
    for (int size : kSizes) {
      const std::string tail = "/" + std::to_string(bits) + "/" + std::to_string(size);
      benchmark::RegisterBenchmark(("aes_gcm/openssl-evp" + tail).c_str(), openssl_evp, bits, size)
          ->UseRealTime();
      benchmark::RegisterBenchmark(("aes_gcm/cryptodev-aesni_gcm" + tail).c_str(), cryptodev_gcm,
                                   std::string("crypto_aesni_gcm0"), bits, size)
          ->UseRealTime();
      benchmark::RegisterBenchmark(("aes_gcm/cryptodev-openssl" + tail).c_str(), cryptodev_gcm,
                                   std::string("crypto_openssl0"), bits, size)
          ->UseRealTime();
      benchmark::RegisterBenchmark(("esp_open/cryptodev-aesni_gcm" + tail).c_str(), esp_open, bits, size,
                                   false)
          ->UseRealTime();
      benchmark::RegisterBenchmark(("esp_open/cpu-aesni_gcm" + tail).c_str(), esp_open, bits, size, true)
          ->UseRealTime();
      benchmark::RegisterBenchmark(("esp_verify/harness-aesni_gcm" + tail).c_str(), esp_verify, bits, size)
          ->UseRealTime();
      benchmark::RegisterBenchmark(("esp_capture/harness-aesni_gcm" + tail).c_str(), esp_capture, bits, size)
          ->UseRealTime();
      benchmark::RegisterBenchmark(("esp_ratio/harness-aesni_gcm" + tail).c_str(), esp_ratio, bits, size)
          ->UseRealTime();
    }
}

}  // namespace
}  // namespace sealnet::wire

int main(int argc, char** argv) {
  using namespace sealnet::wire;
  benchmark::Initialize(&argc, argv);
  dpdk::EalConfig ec;
  ec.file_prefix = "sealnet-bench-crypto-" + std::to_string(getpid());
  ec.vdevs = {"crypto_aesni_gcm0", "crypto_openssl0", "crypto_aesni_gcm1", "crypto_aesni_gcm2"};
  ec.memory_mb = 256;
  auto eal = dpdk::Eal::init(ec);
  if (!eal) {
    std::fprintf(stderr,
                 "bench_crypto: refusing to run: DPDK's EAL did not start, so the cryptodev "
                 "baselines cannot be measured next to OpenSSL.\n  %s\n",
                 eal.error().message().c_str());
    return 2;
  }
  auto pool = dpdk::make_mbuf_pool("bench_mbufs", 255, kDataRoom);
  if (!pool) {
    std::fprintf(stderr, "bench_crypto: %s\n", pool.error().message().c_str());
    return 2;
  }
  g_mbufs = std::move(*pool);
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_inbound.reset();
  g_capture.reset();
  for (auto& [name, dev] : g_devs) {
    if (!dev.error.empty()) continue;
    rte_cryptodev_stop(dev.id);
    rte_cryptodev_close(dev.id);
  }
  g_devs.clear();
  g_mbufs.reset();
  return 0;
}
