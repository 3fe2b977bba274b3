#include "bench/wire/dpdk.h"

// DPDK's inline fast-path functions index the zero-length array
// `rte_crypto_op::sym[0]`; GCC 12 reports that as out of bounds wherever they
// are inlined. The accesses are within the op's allocation (the op pool sizes
// it), so the warning is silenced for this file, the only one calling them.
#pragma GCC diagnostic ignored "-Warray-bounds"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <rte_cryptodev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ipsec.h>
#include <rte_malloc.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace sealnet::wire::dpdk {

namespace {

// DPDK's own error numbers (beyond the system's) have only rte_strerror text.
std::string dpdk_only_text(int err) {
  return err >= RTE_MIN_ERRNO ? std::string(rte_strerror(err)) + "; " : "";
}

std::unexpected<Error> rte_fail(const std::string& op, const std::string& object, int rc) {
  const int err = rc < 0 ? -rc : rte_errno;
  auto text = dpdk_only_text(err);
  if (!text.empty()) text.resize(text.size() - 2);
  return fail(err, op, object, text);
}

}  // namespace

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

std::vector<std::string> eal_arguments(const EalConfig& c) {
  std::string cpus;
  for (int cpu : c.cpus) cpus += (cpus.empty() ? "" : ",") + std::to_string(cpu);
  std::vector<std::string> a = {"sealnet-wire", "--no-huge", "--no-pci", "--no-shconf", "--no-telemetry",
                                "-m", std::to_string(c.memory_mb), "--file-prefix=" + c.file_prefix,
                                // lcore 0 may float over the allowed CPUs: the
                                // harness shares a small machine with its peer.
                                "--lcores=0@(" + (cpus.empty() ? "0" : cpus) + ")",
                                "--log-level=" + std::string(c.verbose ? "8" : "4")};
  for (const auto& v : c.vdevs) a.push_back("--vdev=" + v);
  return a;
}

Result<std::unique_ptr<Eal>> Eal::init(const EalConfig& c) {
  auto args = eal_arguments(c);
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  const int rc = rte_eal_init(static_cast<int>(args.size()), argv.data());
  if (rc < 0)
    return fail(rte_errno, "rte_eal_init", "EAL --file-prefix=" + c.file_prefix,
                dpdk_only_text(rte_errno) +
                    "see the EAL log above; DPDK needs root, /dev/shm and "
                    "the Debian dpdk runtime");
  return std::unique_ptr<Eal>(new Eal());
}

Eal::~Eal() { rte_eal_cleanup(); }

void MempoolFree::operator()(rte_mempool* p) const { rte_mempool_free(p); }

Result<Mempool> make_mbuf_pool(const std::string& name, unsigned count, uint16_t data_room) {
  rte_mempool* p = rte_pktmbuf_pool_create(name.c_str(), count, 64, 0,
                                           static_cast<uint16_t>(data_room + RTE_PKTMBUF_HEADROOM),
                                           static_cast<int>(rte_socket_id()));
  if (!p) return rte_fail("rte_pktmbuf_pool_create", name, 0);
  return Mempool(p);
}

Result<Driver> parse_driver(const std::string& name) {
  if (name == "af_packet") return Driver::AfPacket;
  if (name == "af_xdp") return Driver::AfXdp;
  return fail(0, "parse --driver", name, "expected af_packet or af_xdp");
}

std::string port_name(Driver d) { return d == Driver::AfPacket ? "net_af_packet0" : "net_af_xdp0"; }

std::string port_vdev(Driver d, const std::string& iface) {
  // 4096 ring frames (8 MiB) instead of 512: a capture on a shared core must
  // ride out a burst of ~100k frames/s without the ring overflowing.
  if (d == Driver::AfPacket) return port_name(d) + ",iface=" + iface + ",qpairs=1,framecnt=4096";
  return port_name(d) + ",iface=" + iface + ",start_queue=0,queue_count=1";
}

Result<std::unique_ptr<EthPort>> EthPort::open(const std::string& name, rte_mempool* pool, bool promiscuous) {
  uint16_t port = 0;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &port) != 0)
    return fail(ENODEV, "find port", name, "no such ethdev (did the --vdev attach? see the EAL log)");
  std::unique_ptr<EthPort> p(new EthPort(port));
  rte_eth_conf conf{};
  int rc = rte_eth_dev_configure(port, 1, 1, &conf);
  if (rc < 0) return rte_fail("rte_eth_dev_configure", name, rc);
  const int socket = rte_eth_dev_socket_id(port);
  rc = rte_eth_rx_queue_setup(port, 0, 1024, static_cast<unsigned>(socket), nullptr, pool);
  if (rc < 0) return rte_fail("rte_eth_rx_queue_setup", name, rc);
  rc = rte_eth_tx_queue_setup(port, 0, 1024, static_cast<unsigned>(socket), nullptr);
  if (rc < 0) return rte_fail("rte_eth_tx_queue_setup", name, rc);
  rc = rte_eth_dev_start(port);
  if (rc < 0) return rte_fail("rte_eth_dev_start", name, rc);
  // An observer on a wire must see frames for any MAC.
  if (promiscuous && (rc = rte_eth_promiscuous_enable(port)) < 0)
    return rte_fail("rte_eth_promiscuous_enable", name, rc);
  rte_ether_addr mac{};
  rte_eth_macaddr_get(port, &mac);
  std::copy(std::begin(mac.addr_bytes), std::end(mac.addr_bytes), p->mac_.bytes.begin());
  return p;
}

EthPort::~EthPort() {
  rte_eth_dev_stop(port_);
  rte_eth_dev_close(port_);
}

uint16_t EthPort::rx(rte_mbuf** m, uint16_t n) { return rte_eth_rx_burst(port_, 0, m, n); }
uint16_t EthPort::tx(rte_mbuf** m, uint16_t n) { return rte_eth_tx_burst(port_, 0, m, n); }

Result<CryptoEngine> parse_engine(const std::string& name) {
  if (name == "aesni_gcm") return CryptoEngine::AesniGcm;
  if (name == "openssl") return CryptoEngine::OpenSsl;
  return fail(0, "parse --crypto", name, "expected aesni_gcm or openssl");
}

std::string engine_vdev(CryptoEngine e) {
  return e == CryptoEngine::AesniGcm ? "crypto_aesni_gcm0" : "crypto_openssl0";
}

struct IpsecInbound::Sa {
  uint8_t dev = 0;
  rte_ipsec_sa* sa = nullptr;  // lookaside only
  void* crypto = nullptr;
  rte_ipsec_session session{};  // lookaside only
  std::array<uint8_t, 4> salt{};
  uint8_t icv_len = 16;
  bool esn = false;
  ~Sa() {
    if (crypto) rte_cryptodev_sym_session_free(dev, crypto);
    if (sa) {
      rte_ipsec_sa_fini(sa);
      rte_free(sa);
    }
  }
};

Result<std::unique_ptr<IpsecInbound>> IpsecInbound::make(CryptoEngine engine, unsigned max_sas,
                                                         const std::string& device) {
  const std::string name = device.empty() ? engine_vdev(engine) : device;
  const int dev = rte_cryptodev_get_dev_id(name.c_str());
  if (dev < 0) return fail(ENODEV, "find cryptodev", name, "not created (is it in the EAL --vdev list?)");
  std::unique_ptr<IpsecInbound> in(new IpsecInbound());
  in->dev_ = static_cast<uint8_t>(dev);
  const int socket = rte_cryptodev_socket_id(in->dev_);
  rte_cryptodev_config conf{};
  conf.socket_id = socket;
  conf.nb_queue_pairs = 1;
  int rc = rte_cryptodev_configure(in->dev_, &conf);
  if (rc < 0) return rte_fail("rte_cryptodev_configure", name, rc);
  const unsigned session_size = rte_cryptodev_sym_get_private_session_size(in->dev_);
  in->sessions_.reset(rte_cryptodev_sym_session_pool_create(("ses_" + name).c_str(), max_sas + 1,
                                                            session_size, 0, 0, socket));
  if (!in->sessions_) return rte_fail("create session pool", name, 0);
  rte_cryptodev_qp_conf qp{};
  qp.nb_descriptors = 2048;
  qp.mp_session = in->sessions_.get();
  rc = rte_cryptodev_queue_pair_setup(in->dev_, 0, &qp, socket);
  if (rc < 0) return rte_fail("rte_cryptodev_queue_pair_setup", name, rc);
  rc = rte_cryptodev_start(in->dev_);
  if (rc < 0) return rte_fail("rte_cryptodev_start", name, rc);
  in->started_ = true;
  rte_cryptodev_info info{};
  rte_cryptodev_info_get(in->dev_, &info);
  in->cpu_crypto_ = (info.feature_flags & RTE_CRYPTODEV_FF_SYM_CPU_CRYPTO) != 0;
  // The private area holds the nonce (salt || IV), 12 bytes, 16 aligned.
  in->ops_.reset(rte_crypto_op_pool_create(("ops_" + name).c_str(), RTE_CRYPTO_OP_TYPE_SYMMETRIC, 4 * kBurst,
                                           0, 16, socket));
  if (!in->ops_) return rte_fail("rte_crypto_op_pool_create", name, 0);
  return in;
}

IpsecInbound::~IpsecInbound() {
  sas_.clear();  // sessions go back before their pool
  sessions_.reset();
  if (started_) {
    rte_cryptodev_stop(dev_);
    rte_cryptodev_close(dev_);
  }
}

Status IpsecInbound::add_sa(const EspSa& esp, uint32_t window) {
  const std::string what = esp.describe();
  auto sa = std::make_unique<Sa>();
  sa->dev = dev_;

  rte_crypto_sym_xform xf = aes_gcm_xform(RTE_CRYPTO_AEAD_OP_DECRYPT, esp.aes_key.data(), esp.aes_key.size(),
                                          esp.icv_len, esp.esn ? 12 : 8);
  sa->crypto = rte_cryptodev_sym_session_create(dev_, &xf, sessions_.get());
  if (!sa->crypto) return rte_fail("rte_cryptodev_sym_session_create", what, 0);
  sa->salt = esp.salt;
  sa->icv_len = esp.icv_len;
  sa->esn = esp.esn;
  if (cpu_crypto_) {
    sas_.push_back(std::move(sa));
    return {};
  }

  rte_ipsec_sa_prm prm{};
  prm.ipsec_xform.spi = esp.spi;
  // rte_ipsec copies the salt into the nonce as it lies in memory: the key
  // file's 4 bytes in wire order.
  std::memcpy(&prm.ipsec_xform.salt, esp.salt.data(), 4);
  prm.ipsec_xform.direction = RTE_SECURITY_IPSEC_SA_DIR_INGRESS;
  prm.ipsec_xform.proto = RTE_SECURITY_IPSEC_SA_PROTO_ESP;
  prm.ipsec_xform.mode = RTE_SECURITY_IPSEC_SA_MODE_TUNNEL;
  prm.ipsec_xform.tunnel.type = RTE_SECURITY_IPSEC_TUNNEL_IPV4;
  // No anti-replay window: duplicates and reordering are what the harness
  // measures (from the inner sequence numbers), not what it should drop.
  // ESN needs one: rte_ipsec infers seq_hi from it (and enforces it), from
  // sequence 0 on (esn.value), as the agent's receiver does.
  prm.ipsec_xform.options.esn = esp.esn ? 1 : 0;
  prm.ipsec_xform.replay_win_sz = esp.esn ? std::max<uint32_t>(window, 64) : 0;
  prm.ipsec_xform.esn.value = 0;
  prm.crypto_xform = &xf;
  prm.tun.next_proto = IPPROTO_IPIP;

  const int size = rte_ipsec_sa_size(&prm);
  if (size < 0) return rte_fail("rte_ipsec_sa_size", what, size);
  sa->sa =
      static_cast<rte_ipsec_sa*>(rte_zmalloc("sealnet_sa", static_cast<size_t>(size), RTE_CACHE_LINE_SIZE));
  if (!sa->sa) return fail(ENOMEM, "rte_zmalloc", what);
  int rc = rte_ipsec_sa_init(sa->sa, &prm, static_cast<uint32_t>(size));
  if (rc < 0) return rte_fail("rte_ipsec_sa_init", what, rc);
  sa->session.sa = sa->sa;
  sa->session.type = RTE_SECURITY_ACTION_TYPE_NONE;
  sa->session.crypto.ses = static_cast<rte_cryptodev_sym_session*>(sa->crypto);
  sa->session.crypto.dev_id = dev_;
  rc = rte_ipsec_session_prepare(&sa->session);
  if (rc < 0) return rte_fail("rte_ipsec_session_prepare", what, rc);
  // rte_ipsec_pkt_crypto_group finds the session through the crypto session.
  rte_cryptodev_sym_session_opaque_data_set(sa->crypto, reinterpret_cast<uintptr_t>(&sa->session));
  sas_.push_back(std::move(sa));
  return {};
}

uint16_t IpsecInbound::decrypt(size_t index, rte_mbuf** mb, uint16_t n, const uint32_t* seq_hi) {
  n = std::min(n, kBurst);
  Sa& sa = *sas_.at(index);
  return cpu_crypto_ ? decrypt_cpu(sa, mb, n, seq_hi) : decrypt_lookaside(sa, mb, n);
}

// Inbound tunnel-mode ESP on the PMD's synchronous AES-GCM. It makes the
// checks rte_ipsec's inbound tunnel processing makes, on the same bytes:
// lengths (IV, trailer and ICV present, ciphertext a multiple of 4), the ICV
// (intel-ipsec-mb, over AAD = SPI || seq, or SPI || seq_hi || seq_lo with
// ESN), then the trailer: next header 4 (IPv4 in IPv4), the pad length within
// the payload, the padding bytes 1, 2, 3, ... (RFC 4303). What passes is cut to the inner IPv4 packet.
// rte_ipsec doing the same costs ~70 cycles a packet more (its prepare and
// process steps, timed with the TSC): bench_crypto's esp_ratio was 1.16 at
// 1400 bytes through rte_ipsec (lookaside or CPU_CRYPTO alike), ~1.02 this way.
uint16_t IpsecInbound::decrypt_cpu(Sa& sa, rte_mbuf** mb, uint16_t n, const uint32_t* seq_hi) {
  rte_crypto_vec vec[kBurst];
  rte_crypto_sgl sgl[kBurst];
  rte_crypto_va_iova_ptr iv[kBurst], aad[kBurst], digest[kBurst];
  alignas(16) uint8_t nonce[kBurst][16];
  alignas(16) uint8_t esn_aad[kBurst][16];  // SPI || seq_hi || seq_lo: seq_hi is not in the frame
  int32_t status[kBurst];                   // fail-closed until the PMD says otherwise
  std::fill(std::begin(status), std::end(status), EBADMSG);
  rte_mbuf* cand[kBurst];    // well-formed: handed to the cipher
  uint32_t ct_at[kBurst];    // where each one's ciphertext starts
  rte_mbuf* failed[kBurst];  // refused, in any order
  uint16_t k = 0, nfailed = 0;
  const uint32_t icv = sa.icv_len;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = mb[i];
    uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
    const uint32_t len = rte_pktmbuf_pkt_len(m);
    // Frames fit one mbuf (README); a chained one is refused, never misread.
    const uint32_t ihl = len > kEthHeaderLen ? (d[kEthHeaderLen] & 0xfu) * 4 : 0;
    const uint32_t esp = static_cast<uint32_t>(kEthHeaderLen) + ihl;
    const uint32_t ct = esp + static_cast<uint32_t>(kEspHeaderLen + kGcmIvLen);
    if (m->nb_segs != 1 || ihl < kIpv4HeaderLen || len < ct + 4 + icv || (len - ct - icv) % 4 != 0) {
      failed[nfailed++] = m;
      continue;
    }
    const uint32_t ct_len = len - ct - icv;
    vec[k] = {d + ct, rte_pktmbuf_iova_offset(m, ct), ct_len, ct_len};
    sgl[k] = {&vec[k], 1};
    std::memcpy(nonce[k], sa.salt.data(), 4);  // the key file's salt, wire order
    std::memcpy(nonce[k] + 4, d + esp + kEspHeaderLen, kGcmIvLen);
    iv[k].va = nonce[k];
    if (sa.esn) {
      const uint32_t hi = seq_hi ? htonl(seq_hi[i]) : 0;
      std::memcpy(esn_aad[k], d + esp, 4);
      std::memcpy(esn_aad[k] + 4, &hi, 4);
      std::memcpy(esn_aad[k] + 8, d + esp + 4, 4);
      aad[k].va = esn_aad[k];
    } else {
      aad[k].va = d + esp;  // SPI || seq lie together in the frame
    }
    digest[k].va = d + ct + ct_len;
    ct_at[k] = ct;
    cand[k++] = m;
  }
  uint16_t ok = 0;
  if (k) {
    rte_crypto_sym_vec sv{};
    sv.num = k;
    sv.src_sgl = sgl;
    sv.iv = iv;
    sv.digest = digest;
    sv.aad = aad;
    sv.status = status;
    rte_crypto_sym_ofs ofs{};
    // Sets status[i] to 0 where the ICV matched (payload decrypted in place).
    rte_cryptodev_sym_cpu_crypto_process(dev_, sa.crypto, ofs, &sv);
  }
  for (uint16_t i = 0; i < k; ++i) {
    rte_mbuf* m = cand[i];
    const uint8_t* clear = static_cast<const uint8_t*>(vec[i].base);
    const uint32_t ct_len = vec[i].len;
    const uint8_t pad = clear[ct_len - 2];
    bool good = status[i] == 0 && clear[ct_len - 1] == kProtoIpip && pad + 2u <= ct_len;
    for (uint32_t j = 0; good && j < pad; ++j) good = clear[ct_len - 2 - pad + j] == j + 1;
    if (!good) {
      failed[nfailed++] = m;
      continue;
    }
    rte_pktmbuf_adj(m, static_cast<uint16_t>(ct_at[i]));
    rte_pktmbuf_trim(m, static_cast<uint16_t>(pad + 2u + icv));
    mb[ok++] = m;
  }
  std::copy(failed, failed + nfailed, mb + ok);
  return ok;
}

uint16_t IpsecInbound::decrypt_lookaside(Sa& sa, rte_mbuf** mb, uint16_t n) {
  for (uint16_t i = 0; i < n; ++i) {
    // rte_ipsec strips l2_len + l3_len bytes of outer headers (caller's job).
    const uint8_t* ip = rte_pktmbuf_mtod_offset(mb[i], const uint8_t*, kEthHeaderLen);
    mb[i]->l2_len = kEthHeaderLen;
    mb[i]->l3_len = static_cast<uint64_t>(ip[0] & 0xf) * 4;
  }
  rte_crypto_op* cop[kBurst];
  if (rte_crypto_op_bulk_alloc(ops_.get(), RTE_CRYPTO_OP_TYPE_SYMMETRIC, cop, n) != n) return 0;
  // Prepare moves the frames it refuses (too short, bad padding offsets)
  // behind the ones it accepts.
  const uint16_t prepared = rte_ipsec_pkt_crypto_prepare(&sa.session, mb, cop, n);
  uint16_t sent = rte_cryptodev_enqueue_burst(dev_, 0, cop, prepared);
  rte_crypto_op* done[kBurst];
  uint16_t back = 0;
  while (back < sent)
    back += rte_cryptodev_dequeue_burst(dev_, 0, done + back, static_cast<uint16_t>(sent - back));
  rte_mbuf* out[kBurst];
  rte_ipsec_group grp[kBurst];
  const uint16_t groups = rte_ipsec_pkt_crypto_group(const_cast<const rte_crypto_op**>(done), out, grp, back);
  rte_mbuf* failed[kBurst];
  uint16_t nfailed = 0;
  for (uint16_t i = back; i < n; ++i) failed[nfailed++] = mb[i];  // refused by prepare or enqueue
  uint16_t ok = 0;
  uint32_t grouped = 0;
  for (uint16_t g = 0; g < groups; ++g) {
    auto* ss = static_cast<rte_ipsec_session*>(grp[g].id.ptr);
    const uint16_t k = rte_ipsec_pkt_process(ss, grp[g].m, static_cast<uint16_t>(grp[g].cnt));
    for (uint32_t i = 0; i < grp[g].cnt; ++i) (i < k ? mb[ok++] : failed[nfailed++]) = grp[g].m[i];
    grouped += grp[g].cnt;
  }
  // Ops whose mbuf had no session land after the groups in `out`.
  for (uint32_t i = grouped; i < back; ++i) failed[nfailed++] = out[i];
  std::copy(failed, failed + nfailed, mb + ok);
  rte_mempool_put_bulk(ops_.get(), reinterpret_cast<void**>(cop), n);
  return ok;
}

}  // namespace sealnet::wire::dpdk
