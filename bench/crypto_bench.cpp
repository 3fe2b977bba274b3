// The software AES-GCM ceiling per core: what one core can encrypt, so the
// ESP verifier and the datapath can be judged against it (DESIGN.md: "within
// 10% of intel-ipsec-mb / OpenSSL speed on the same machine").
//
//   aes_gcm/<engine>/<key bits>/<packet bytes>
//     openssl-evp        OpenSSL EVP in this thread
//     cryptodev-aesni_gcm  DPDK cryptodev, intel-ipsec-mb (crypto_aesni_gcm PMD)
//     cryptodev-openssl    DPDK cryptodev, crypto_openssl PMD
//   esp_open/cryptodev-aesni_gcm/<key bits>/<inner packet bytes>
//     ESP frames copied into mbufs (as a capture's rx does) and decrypted
//     with raw cryptodev ops: the baseline of
//   esp_verify/rte_ipsec-aesni_gcm/<key bits>/<inner packet bytes>
//     the wire harness's own decrypt path (bench/wire: rte_ipsec inbound on
//     crypto_aesni_gcm) on the same frames; verify/open is its overhead
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
#include <rte_mbuf.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/wire/datagram.h"
#include "bench/wire/dpdk.h"
#include "bench/wire/esp.h"

// DPDK's inline op accessors index the zero-length `sym[0]` array (see dpdk.cpp).
#pragma GCC diagnostic ignored "-Warray-bounds"

namespace sealnet::wire {
namespace {

constexpr int kSizes[] = {64, 256, 1400, 4096, 9000};
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

// kBurst ESP frames (Ethernet included) of one inner packet, seq and IV 1..kBurst.
std::vector<std::vector<uint8_t>> esp_frames(const EspSa& sa, int size) {
  const auto inner = inner_packet(size);
  std::vector<std::vector<uint8_t>> frames;
  for (uint32_t i = 0; i < kBurst; ++i)
    frames.push_back(build_ethernet({}, {}, kEtherTypeIpv4, *seal_tunnel(sa, i + 1, i + 1, inner)));
  return frames;
}

// The harness's verify path: ESP frames copied into mbufs, decrypted by
// rte_ipsec on intel-ipsec-mb, the inner datagram located. `size` is the
// inner IPv4 packet's length.
void esp_verify(benchmark::State& state, int bits, int size) {
  auto& inbound = g_inbound;
  if (!inbound) {
    auto in = dpdk::IpsecInbound::make(dpdk::CryptoEngine::AesniGcm, 16, "crypto_aesni_gcm1");
    if (!in) {
      state.SkipWithError(in.error().message().c_str());
      return;
    }
    inbound = std::move(*in);
  }
  // One SA per key size for the whole run: the benchmark function is called
  // many times (iteration estimates, repetitions) and SAs are not removed.
  static std::map<int, std::pair<size_t, EspSa>> sa_of_bits;
  if (!sa_of_bits.contains(bits)) {
    const auto k = random_key(bits + 32);  // AES key + 4-byte salt
    EspSa sa;
    sa.spi = static_cast<uint32_t>(0x100 + bits);
    sa.aes_key.assign(k.begin(), k.begin() + bits / 8);
    std::copy(k.end() - 4, k.end(), sa.salt.begin());
    sa.outer_src = *IpAddr::parse("192.168.0.1");
    sa.outer_dst = *IpAddr::parse("192.168.0.2");
    if (auto st = inbound->add_sa(sa); !st) {
      state.SkipWithError(st.error().message().c_str());
      return;
    }
    sa_of_bits.emplace(bits, std::make_pair(inbound->size() - 1, std::move(sa)));
  }
  const auto& [index, sa] = sa_of_bits.at(bits);
  const auto frames = esp_frames(sa, size);
  const size_t inner_size = inner_packet(size).size();
  uint64_t packets = 0;
  for (auto _ : state) {
    rte_mbuf* m[kBurst];
    if (rte_pktmbuf_alloc_bulk(g_mbufs.get(), m, kBurst) != 0) {
      state.SkipWithError("out of mbufs");
      break;
    }
    for (uint16_t i = 0; i < kBurst; ++i)
      std::memcpy(rte_pktmbuf_append(m[i], static_cast<uint16_t>(frames[i].size())), frames[i].data(),
                  frames[i].size());
    const uint16_t ok = inbound->decrypt(index, m, kBurst);
    if (ok != kBurst) {
      state.SkipWithError("rte_ipsec rejected a frame");
      rte_pktmbuf_free_bulk(m, kBurst);
      break;
    }
    benchmark::DoNotOptimize(rte_pktmbuf_mtod(m[0], uint8_t*)[0]);
    rte_pktmbuf_free_bulk(m, kBurst);
    packets += kBurst;
  }
  set_counters(state, static_cast<int>(inner_size), packets);
}

// The baseline of esp_verify: the same frames copied into mbufs the same way
// and decrypted by the same cryptodev, without rte_ipsec and the harness
// around it. esp_verify / esp_open is the verifier's overhead.
void esp_open(benchmark::State& state, int bits, int size) {
  Cryptodev& dev = cryptodev("crypto_aesni_gcm0");
  if (!dev.error.empty()) {
    state.SkipWithError(dev.error.c_str());
    return;
  }
  const auto k = random_key(bits + 32);
  EspSa sa;
  sa.spi = 0x200;
  sa.aes_key.assign(k.begin(), k.begin() + bits / 8);
  std::copy(k.end() - 4, k.end(), sa.salt.begin());
  sa.outer_src = *IpAddr::parse("192.168.0.1");
  sa.outer_dst = *IpAddr::parse("192.168.0.2");
  rte_crypto_sym_xform xf = dpdk::aes_gcm_xform(RTE_CRYPTO_AEAD_OP_DECRYPT, sa.aes_key.data(), sa.aes_key.size(), 16);
  void* session = rte_cryptodev_sym_session_create(dev.id, &xf, dev.sessions.get());
  if (!session) {
    state.SkipWithError("session create failed");
    return;
  }
  const auto frames = esp_frames(sa, size);
  constexpr size_t kEspAt = kEthHeaderLen + kIpv4HeaderLen;
  constexpr size_t kCtAt = kEspAt + kEspHeaderLen + kGcmIvLen;
  rte_crypto_op* ops[kBurst];
  if (rte_crypto_op_bulk_alloc(dev.ops.get(), RTE_CRYPTO_OP_TYPE_SYMMETRIC, ops, kBurst) != kBurst) {
    state.SkipWithError("out of ops");
    return;
  }
  uint64_t packets = 0;
  for (auto _ : state) {
    rte_mbuf* m[kBurst];
    if (rte_pktmbuf_alloc_bulk(g_mbufs.get(), m, kBurst) != 0) {
      state.SkipWithError("out of mbufs");
      break;
    }
    for (uint16_t i = 0; i < kBurst; ++i) {
      const auto& f = frames[i];
      uint8_t* d = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m[i], static_cast<uint16_t>(f.size())));
      std::memcpy(d, f.data(), f.size());
      const uint32_t ct_len = static_cast<uint32_t>(f.size() - kCtAt - 16);
      rte_crypto_op_attach_sym_session(ops[i], session);
      rte_crypto_sym_op* sym = ops[i]->sym;
      sym->m_src = m[i];
      sym->aead.data.offset = kCtAt;
      sym->aead.data.length = ct_len;
      sym->aead.digest.data = d + kCtAt + ct_len;
      sym->aead.digest.phys_addr = rte_pktmbuf_iova_offset(m[i], kCtAt + ct_len);
      sym->aead.aad.data = d + kEspAt;  // SPI || seq lie together in the frame
      sym->aead.aad.phys_addr = rte_pktmbuf_iova_offset(m[i], kEspAt);
      uint8_t* nonce = rte_crypto_op_ctod_offset(ops[i], uint8_t*, dpdk::kGcmIvOffset);
      std::memcpy(nonce, sa.salt.data(), 4);
      std::memcpy(nonce + 4, d + kEspAt + kEspHeaderLen, kGcmIvLen);
      ops[i]->status = RTE_CRYPTO_OP_STATUS_NOT_PROCESSED;
    }
    uint16_t sent = 0, back = 0;
    while (sent < kBurst) sent += rte_cryptodev_enqueue_burst(dev.id, 0, ops + sent, kBurst - sent);
    rte_crypto_op* done[kBurst];
    while (back < kBurst) back += rte_cryptodev_dequeue_burst(dev.id, 0, done + back, kBurst - back);
    bool ok = true;
    for (uint16_t i = 0; i < kBurst; ++i) ok &= done[i]->status == RTE_CRYPTO_OP_STATUS_SUCCESS;
    rte_pktmbuf_free_bulk(m, kBurst);
    if (!ok) {
      state.SkipWithError("a frame did not authenticate");
      break;
    }
    packets += kBurst;
  }
  set_counters(state, static_cast<int>(inner_packet(size).size()), packets);
  rte_mempool_put_bulk(dev.ops.get(), reinterpret_cast<void**>(ops), kBurst);
  rte_cryptodev_sym_session_free(dev.id, session);
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
      benchmark::RegisterBenchmark(("esp_open/cryptodev-aesni_gcm" + tail).c_str(), esp_open, bits, size)
          ->UseRealTime();
      benchmark::RegisterBenchmark(("esp_verify/rte_ipsec-aesni_gcm" + tail).c_str(), esp_verify, bits, size)
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
  ec.vdevs = {"crypto_aesni_gcm0", "crypto_openssl0", "crypto_aesni_gcm1"};
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
  for (auto& [name, dev] : g_devs) {
    if (!dev.error.empty()) continue;
    rte_cryptodev_stop(dev.id);
    rte_cryptodev_close(dev.id);
  }
  g_devs.clear();
  g_mbufs.reset();
  return 0;
}
