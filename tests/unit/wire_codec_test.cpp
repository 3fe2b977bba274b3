// The wire harness's pure encoders and decoders: golden bytes recomputed by
// tests/unit/wire_golden.py (Python struct + cryptography), and every check
// the decoders make, each shown to reject what it should.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "bench/wire/datagram.h"
#include "bench/wire/esp.h"
#include "bench/wire/frame.h"
#include "tests/unit/wire_test_util.h"

namespace sealnet::wire {
namespace {

using testing::hex;
using testing::ip4;
using testing::unhex;

constexpr const char* kDatagram =
    "534c4e570100003c0000000300000000000000000000000511223344556677880a0100010a0200019c431389"
    "d8d9dadbdcdddedfe0e1e2e3e4e5e6e7";
constexpr const char* kInner =
    "45000058000740004011268a0a0100010a0200019c4313890044c47f" /* IPv4 + UDP headers */
    "534c4e570100003c0000000300000000000000000000000511223344556677880a0100010a0200019c431389"
    "d8d9dadbdcdddedfe0e1e2e3e4e5e6e7";
constexpr const char* kEsp =
    "45000090000940004032b8dfc0a80001c0a8000200000003000000010102030405060708d55657f8d03aa7f15d"
    "a97f40d757824d51c491de9ce58790dd8d0d5f14e71c0f836d532f0825631149d5b4b482dc5e7c54199c2003"
    "35437022293fb1e34366603e48ee016a4ebf2391bd068315366ed7e6fd84601243ef2e35f7200d267cc5740d"
    "9e1f0dadcff55ead23530f";
// The same inner packet and IV under SPI 0x00013000 (node 1, key 3, slot 0,
// generation 0) with ESN, sequence number 2^32 + 5: the wire carries 5, the
// AAD is SPI || 1 || 5 (wire_golden.py, "esp_esn"). Same ciphertext, other ICV.
constexpr const char* kEspEsn =
    "45000090000940004032b8dfc0a80001c0a8000200013000000000050102030405060708d55657f8d03aa7f15d"
    "a97f40d757824d51c491de9ce58790dd8d0d5f14e71c0f836d532f0825631149d5b4b482dc5e7c54199c2003"
    "35437022293fb1e34366603e48ee016a4ebf2391bd068315366ed7e6fd84601243ef2e35f7200d7dd58d0a41"
    "0854b2267fda11e7662682";

Stamp golden_stamp() {
  return Stamp{3, 5, 0x1122334455667788, {ip4("10.1.0.1"), ip4("10.2.0.1"), 40003, 5001}};
}

EspSa golden_sa() {
  auto keys = keys::parse_key_file(testing::kKeyLine, "test");
  auto sa = esp_sa_from_key(keys->keys[0], 3, ip4("192.168.0.1"), ip4("192.168.0.2"));
  EXPECT_TRUE(sa) << sa.error().message();
  return *sa;
}

// What Linux's esp4 sends under an ESN SA (rfc4106(gcm(aes)) with
// XFRMA_REPLAY_ESN_VAL, as the agent's software SAs are), made here from the
// RFCs alone with OpenSSL's EVP calls, none of esp.cpp's code: RFC 4303 2.2.1
// (only the low 32 bits of the sequence number are sent), RFC 4106 section 5
// (AAD = SPI || seq_hi || seq_lo), section 4 (nonce = salt || IV), RFC 4303
// 2.4 (padding 1, 2, ...; pad length; next header 4 for IPv4 in IPv4).
std::vector<uint8_t> rfc_esn_packet(std::span<const uint8_t> key, std::span<const uint8_t> salt, uint32_t spi,
                                    uint64_t seq, uint64_t iv, std::span<const uint8_t> inner) {
  const auto be32 = [](std::vector<uint8_t>& v, uint32_t x) {
    for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<uint8_t>(x >> s));
  };
  std::vector<uint8_t> clear(inner.begin(), inner.end());
  const size_t pad = (4 - (clear.size() + 2) % 4) % 4;
  for (size_t i = 1; i <= pad; ++i) clear.push_back(static_cast<uint8_t>(i));
  clear.push_back(static_cast<uint8_t>(pad));
  clear.push_back(4);
  std::vector<uint8_t> aad, esp, nonce(salt.begin(), salt.end());
  be32(aad, spi);
  be32(aad, static_cast<uint32_t>(seq >> 32));
  be32(aad, static_cast<uint32_t>(seq));
  be32(esp, spi);
  be32(esp, static_cast<uint32_t>(seq));
  be32(esp, static_cast<uint32_t>(iv >> 32));
  be32(esp, static_cast<uint32_t>(iv));
  nonce.insert(nonce.end(), esp.end() - 8, esp.end());
  std::vector<uint8_t> ct(clear.size() + 16);
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  int len = 0;
  EXPECT_EQ(EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), nullptr, key.data(), nonce.data()), 1);
  EXPECT_EQ(EVP_EncryptUpdate(c, nullptr, &len, aad.data(), static_cast<int>(aad.size())), 1);
  EXPECT_EQ(EVP_EncryptUpdate(c, ct.data(), &len, clear.data(), static_cast<int>(clear.size())), 1);
  EXPECT_EQ(EVP_EncryptFinal_ex(c, ct.data() + len, &len), 1);
  EXPECT_EQ(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, ct.data() + clear.size()), 1);
  EVP_CIPHER_CTX_free(c);
  esp.insert(esp.end(), ct.begin(), ct.end());
  const auto outer = build_ipv4_header(ip4("192.168.0.1"), ip4("192.168.0.2"), 50, esp.size(), 9);
  std::vector<uint8_t> pkt(outer.begin(), outer.end());
  pkt.insert(pkt.end(), esp.begin(), esp.end());
  return pkt;
}

EspSa golden_esn_sa() {
  EspSa sa = golden_sa();
  sa.spi = 0x00013000;
  sa.esn = true;
  return sa;
}

TEST(WireFrame, ChecksumMatchesRfc1071Example) {
  // The IPv4 header of RFC 1071-style worked examples: sum folds to 0xb861.
  const auto h = unhex("450000730000400040110000c0a80001c0a800c7");
  EXPECT_EQ(inet_checksum(h), 0xb861);
  auto with = h;
  with[10] = 0xb8;
  with[11] = 0x61;
  EXPECT_EQ(inet_checksum(with), 0);
}

TEST(WireFrame, ChecksumAgreesWithWordByWordAtEveryLengthAndOffset) {
  // inet_checksum sums in vector lanes; the reference is RFC 1071 word by word.
  const auto reference = [](std::span<const uint8_t> d, uint32_t acc) {
    for (size_t i = 0; i < d.size(); i += 2)
      acc += static_cast<uint32_t>(d[i]) << 8 | (i + 1 < d.size() ? d[i + 1] : 0);
    while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
    return static_cast<uint16_t>(~acc);
  };
  std::vector<uint8_t> buf(70000);
  uint32_t x = 12345;
  for (auto& b : buf) b = static_cast<uint8_t>((x = x * 1103515245u + 12345u) >> 16);
  for (size_t len : {0, 1, 2, 15, 16, 17, 31, 32, 33, 100, 1427, 9000, 65535, 70000})
    for (size_t off : {0, 1, 3})
      for (uint32_t seed : {0u, 0x1234u, 0x3fffeu}) {
        const auto d = std::span<const uint8_t>(buf).subspan(off, std::min(len, buf.size() - off));
        EXPECT_EQ(inet_checksum(d, seed), reference(d, seed)) << len << " " << off << " " << seed;
      }
  std::vector<uint8_t> ones(65536, 0xff);
  EXPECT_EQ(inet_checksum(ones), reference(ones, 0)) << "no lane overflows";
}

TEST(WireFrame, BuildsIpv4UdpLikeTheReference) {
  const auto payload = encode_datagram(golden_stamp(), 60);
  EXPECT_EQ(hex(build_ipv4_udp(golden_stamp().ep, payload, 7)), kInner);
}

TEST(WireFrame, ParsesWhatItBuildsAndCutsLinkPadding) {
  auto pkt = unhex(kInner);
  pkt.resize(pkt.size() + 6, 0);  // Ethernet minimum-size padding after the IP packet
  auto ip = parse_ipv4(pkt);
  ASSERT_TRUE(ip) << ip.error().message();
  EXPECT_EQ(ip->packet.size(), 88u);
  EXPECT_EQ(ip->src, ip4("10.1.0.1"));
  EXPECT_EQ(ip->id, 7);
  auto udp = parse_udp(*ip);
  ASSERT_TRUE(udp) << udp.error().message();
  EXPECT_EQ(udp->ep, golden_stamp().ep);
  EXPECT_EQ(udp->payload.size(), 60u);
}

TEST(WireFrame, Ipv4ChecksRejectBrokenHeaders) {
  const auto good = unhex(kInner);
  auto bad_sum = good;
  bad_sum[11] ^= 1;
  EXPECT_FALSE(parse_ipv4(bad_sum));
  auto zero_sum = good;
  zero_sum[10] = zero_sum[11] = 0;
  EXPECT_FALSE(parse_ipv4(zero_sum));
  auto z = parse_ipv4(zero_sum, /*allow_zero_checksum=*/true);
  ASSERT_TRUE(z);
  EXPECT_TRUE(z->checksum_zero);
  EXPECT_FALSE(parse_ipv4(std::span(good).first(good.size() - 1))) << "total length beyond the buffer";
  auto v6 = good;
  v6[0] = 0x65;
  EXPECT_FALSE(parse_ipv4(v6));
  auto frag = good;
  frag[6] = 0x20;  // more fragments; the checksum is made right so only that is wrong
  frag[10] = frag[11] = 0;
  const uint16_t c = inet_checksum(std::span(frag).first(kIpv4HeaderLen));
  frag[10] = static_cast<uint8_t>(c >> 8);
  frag[11] = static_cast<uint8_t>(c);
  auto f = parse_ipv4(frag);
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message().find("fragment"), std::string::npos);
}

TEST(WireFrame, UdpChecksRejectBadChecksumAndLength) {
  auto bad = unhex(kInner);
  bad.back() ^= 0xff;  // payload byte: UDP checksum no longer matches
  auto ip = parse_ipv4(bad);
  ASSERT_TRUE(ip);
  auto udp = parse_udp(*ip);
  ASSERT_FALSE(udp);
  EXPECT_NE(udp.error().message().find("checksum"), std::string::npos);
  EXPECT_TRUE(parse_udp(*ip, /*check_sum=*/false)) << "offloaded captures skip only the checksum";
  auto len = unhex(kInner);
  len[25] = 0x40;  // UDP length 0x40 != 68 bytes of IP payload
  ip = parse_ipv4(len);
  ASSERT_TRUE(ip);
  EXPECT_FALSE(parse_udp(*ip));
}

TEST(WireFrame, MacAddressRoundTripsAndRejectsJunk) {
  auto m = MacAddr::parse("02:aa:00:00:0f:01");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->str(), "02:aa:00:00:0f:01");
  EXPECT_FALSE(MacAddr::parse("02:aa:00:00:0f"));
  EXPECT_FALSE(MacAddr::parse("02:aa:00:00:0f:01:02"));
  EXPECT_FALSE(MacAddr::parse("zz:aa:00:00:0f:01"));
}

TEST(WireDatagram, EncodesLikeTheReference) {
  EXPECT_EQ(hex(encode_datagram(golden_stamp(), 60)), kDatagram);
  EXPECT_EQ(encode_datagram(golden_stamp(), 10).size(), kStampLen) << "never shorter than the stamp";
}

TEST(WireDatagram, DecodesAndRejectsAnyChangedByte) {
  const auto d = unhex(kDatagram);
  auto s = decode_datagram(d);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(*s, golden_stamp());
  auto filler = d;
  filler[50] ^= 1;
  auto e = decode_datagram(filler);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message().find("byte 50"), std::string::npos) << e.error().message();
  EXPECT_FALSE(decode_datagram(std::span(d).first(59))) << "length field disagrees";
  auto magic = d;
  magic[0] = 'X';
  EXPECT_FALSE(looks_like_datagram(magic));
  EXPECT_FALSE(decode_datagram(magic));
}

TEST(WireDatagram, RejectsAChangedByteAnywhereInALongDatagram) {
  // The filler is compared in one memcmp; the message still names the byte.
  Stamp st = golden_stamp();
  st.flow = 7;
  st.seq = 123456789;
  const auto d = encode_datagram(st, 9000);
  ASSERT_TRUE(decode_datagram(d));
  for (size_t i : {kStampLen, kStampLen + 1, size_t{300}, size_t{1399}, size_t{8999}}) {
    auto bad = d;
    bad[i] ^= 0x80;
    auto e = decode_datagram(bad);
    ASSERT_FALSE(e) << i;
    EXPECT_NE(e.error().message().find("byte " + std::to_string(i)), std::string::npos)
        << e.error().message();
  }
}

TEST(WireDatagram, VerifyComparesTheStampedAddressesWithTheHeaders) {
  const auto payload = encode_datagram(golden_stamp(), 60);
  UdpView v{golden_stamp().ep, payload};
  EXPECT_TRUE(verify_datagram(v));
  v.ep.sport = 40004;  // a NAT, or a datagram of another flow's socket
  EXPECT_FALSE(verify_datagram(v));
  v = {golden_stamp().ep, payload};
  v.ep.dst = ip4("10.2.0.2");
  EXPECT_FALSE(verify_datagram(v));
}

TEST(WireDatagram, PlanSpreadsDatagramsRoundRobinOverFlows) {
  FlowPlan p;
  p.base = golden_stamp().ep;
  p.flows = 3;
  p.count = 10;
  const Stamp s = p.stamp(7, 99);
  EXPECT_EQ(s.flow, 1u);
  EXPECT_EQ(s.seq, 2u);
  EXPECT_EQ(s.tx_ns, 99u);
  EXPECT_EQ(s.ep.sport, 40004);
  EXPECT_EQ(due_ns(0, 1000), 0u);
  EXPECT_EQ(due_ns(3, 1000), 3'000'000u);
  // i * 1e9 overflows 64 bits here; the quotient does not.
  EXPECT_EQ(due_ns(1'000'000'000'000u, 1000), 1'000'000'000'000'000'000u);
  EXPECT_EQ(due_ns(12345, 0), 0u) << "rate 0: unpaced";
}

TEST(WireEsp, SealsLikeTheReference) {
  const auto inner = unhex(kInner);
  auto esp = seal_tunnel(golden_sa(), 1, 0x0102030405060708, inner, 9);
  ASSERT_TRUE(esp) << esp.error().message();
  EXPECT_EQ(hex(*esp), kEsp);
}

TEST(WireEsp, OpensTheReferenceAndChecksTrailer) {
  const auto bytes = unhex(kEsp);
  auto outer = parse_ipv4(bytes);
  ASSERT_TRUE(outer);
  auto hdr = parse_esp_header(outer->payload);
  ASSERT_TRUE(hdr);
  EXPECT_EQ(hdr->spi, 3u);
  EXPECT_EQ(hdr->seq, 1u);
  auto inner = open_tunnel(golden_sa(), *outer);
  ASSERT_TRUE(inner) << inner.error().message();
  EXPECT_EQ(hex(*inner), kInner);
}

TEST(WireEsp, RejectsTamperingAndTheWrongKey) {
  for (size_t at : {size_t{20}, size_t{24}, size_t{40}, size_t{140}}) {  // SPI, seq (AAD), ciphertext, ICV
    auto bytes = unhex(kEsp);
    bytes[at] ^= 0x80;
    auto outer = parse_ipv4(bytes);
    ASSERT_TRUE(outer);
    EXPECT_FALSE(open_tunnel(golden_sa(), *outer)) << "byte " << at;
  }
  auto bytes = unhex(kEsp);
  auto outer = parse_ipv4(bytes);
  EspSa other = golden_sa();
  other.salt[0] ^= 1;
  auto e = open_tunnel(other, *outer);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message().find("ICV"), std::string::npos);
}

TEST(WireEsp, PadsToFourBytesWithMonotonicPadding) {
  const EspSa sa = golden_sa();
  for (size_t extra = 0; extra < 4; ++extra) {
    Stamp st = golden_stamp();
    const auto inner = build_ipv4_udp(st.ep, encode_datagram(st, 60 + extra), 1);
    auto esp = seal_tunnel(sa, 7, 7, inner);
    ASSERT_TRUE(esp);
    const size_t ct = esp->size() - kIpv4HeaderLen - kEspHeaderLen - kGcmIvLen - 16;
    EXPECT_EQ(ct % 4, 0u);
    EXPECT_EQ(ct - inner.size() - 2, (4 - (inner.size() + 2) % 4) % 4);
    auto outer = parse_ipv4(*esp);
    auto back = open_tunnel(sa, *outer);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(*back, inner);
  }
}

TEST(WireEsp, PerPairKeysAreDerivedForTheNodePair) {
  auto keys =
      keys::parse_key_file("5+ rfc4106(gcm(aes)) 0x000102030405060708090a0b0c0d0e0f10111213 96\n", "t");
  ASSERT_TRUE(keys);
  const auto a = ip4("192.168.0.1"), b = ip4("192.168.0.2");
  auto ab = esp_sa_from_key(keys->keys[0], 5, a, b);
  auto ba = esp_sa_from_key(keys->keys[0], 5, b, a);
  ASSERT_TRUE(ab && ba);
  auto derived = keys::derive_pair_key(keys->keys[0].aead_key, a, b);
  ASSERT_TRUE(derived);
  EXPECT_TRUE(std::equal(ab->aes_key.begin(), ab->aes_key.end(), derived->begin()));
  EXPECT_TRUE(std::equal(ab->salt.begin(), ab->salt.end(), derived->end() - 4));
  EXPECT_NE(ab->aes_key, ba->aes_key) << "each direction has its own key";
  EXPECT_EQ(ab->icv_len, 12);
}

TEST(WireEsp, RefusesKeysItCannotUse) {
  auto keys = keys::parse_key_file(
      "4 hmac(sha256) 00112233445566778899aabbccddeeff cbc(aes) 000102030405060708090a0b0c0d0e0f\n", "t");
  ASSERT_TRUE(keys);
  EXPECT_FALSE(esp_sa_from_key(keys->keys[0], 4, ip4("1.1.1.1"), ip4("2.2.2.2")));
  auto gcm = keys::parse_key_file(testing::kKeyLine, "t");
  EXPECT_FALSE(esp_sa_from_key(gcm->keys[0], 3, ip4("fd00::1"), ip4("fd00::2")));
}

TEST(WireEsp, DescribeNeverShowsKeyBytes) {
  const std::string d = golden_sa().describe();
  EXPECT_EQ(d, "spi 0x3 192.168.0.1->192.168.0.2 aes-128-gcm icv 16");
  EXPECT_EQ(golden_esn_sa().describe(), "spi 0x13000 192.168.0.1->192.168.0.2 aes-128-gcm icv 16 esn");
}

TEST(WireEsp, EsnFrameOfTheRfcsMatchesTheReferenceAndTheSealer) {
  const std::vector<uint8_t> key = unhex("000102030405060708090a0b0c0d0e0f"), salt = unhex("10111213");
  const auto inner = unhex(kInner);
  const auto rfc = rfc_esn_packet(key, salt, 0x00013000, (uint64_t{1} << 32) | 5, 0x0102030405060708, inner);
  EXPECT_EQ(hex(rfc), kEspEsn) << "OpenSSL from the RFCs and Python's cryptography agree";
  auto sealed = seal_tunnel(golden_esn_sa(), (uint64_t{1} << 32) | 5, 0x0102030405060708, inner, 9);
  ASSERT_TRUE(sealed) << sealed.error().message();
  EXPECT_EQ(hex(*sealed), kEspEsn);
  auto outer = parse_ipv4(rfc);
  ASSERT_TRUE(outer);
  EXPECT_EQ(parse_esp_header(outer->payload)->seq, 5u) << "only the low half is on the wire";
}

TEST(WireEsp, OpensAnEsnFrameOnlyWithItsSeqHi) {
  const auto bytes = unhex(kEspEsn);
  auto outer = parse_ipv4(bytes);
  ASSERT_TRUE(outer);
  auto inner = open_tunnel(golden_esn_sa(), *outer, 1);
  ASSERT_TRUE(inner) << inner.error().message();
  EXPECT_EQ(hex(*inner), kInner);
  for (uint32_t wrong : {0u, 2u, 0x100u, 0xffffffffu}) {
    auto e = open_tunnel(golden_esn_sa(), *outer, wrong);
    ASSERT_FALSE(e) << "seq_hi " << wrong;
    EXPECT_NE(e.error().message().find("seq_hi " + std::to_string(wrong)), std::string::npos);
  }
  EspSa plain = golden_esn_sa();
  plain.esn = false;
  EXPECT_FALSE(open_tunnel(plain, *outer)) << "an ESN frame has a 12-byte AAD, not SPI || seq";
  // And the other way round: a non-ESN frame does not open as ESN with seq_hi 0.
  const auto old = unhex(kEsp);
  EspSa esn3 = golden_sa();
  esn3.esn = true;
  EXPECT_FALSE(open_tunnel(esn3, *parse_ipv4(old), 0));
  EXPECT_TRUE(open_tunnel(golden_sa(), *parse_ipv4(old))) << "non-ESN still opens";
}

TEST(WireEsp, RefusesSequenceNumbersBeyond32BitsWithoutEsn) {
  const auto inner = unhex(kInner);
  EXPECT_FALSE(seal_tunnel(golden_sa(), uint64_t{1} << 32, 1, inner));
  EXPECT_TRUE(seal_tunnel(golden_sa(), 0xffffffffu, 1, inner));
  EXPECT_TRUE(seal_tunnel(golden_esn_sa(), uint64_t{7} << 32, 1, inner));
}

TEST(WireEsp, InfersSeqHiAsRfc4303AppendixA) {
  constexpr uint32_t W = 128;
  constexpr uint64_t B = uint64_t{1} << 32;
  // Case A (window within one block): at or above its bottom -> this block, below -> the next.
  EXPECT_EQ(infer_seq_hi(1000, 1001, W), 0u);
  EXPECT_EQ(infer_seq_hi(1000, 873, W), 0u) << "873 = 1000 - 128 + 1, the window's bottom";
  EXPECT_EQ(infer_seq_hi(1000, 872, W), 1u) << "below the window: after the wrap";
  EXPECT_EQ(infer_seq_hi(3 * B + 0xfffffff0, 5, W), 4u) << "just after a wrap";
  EXPECT_EQ(infer_seq_hi(3 * B + 0xfffffff0, 0xffffffff, W), 3u);
  // Case B (window reaches into the previous block).
  EXPECT_EQ(infer_seq_hi(3 * B + 5, 0xfffffff0, W), 2u) << "a late one from before the wrap";
  EXPECT_EQ(infer_seq_hi(3 * B + 5, 6, W), 3u);
  EXPECT_EQ(infer_seq_hi(3 * B + 5, 0x1000, W), 3u);
  // A capture starting near 0: block 0, and nothing before it.
  EXPECT_EQ(infer_seq_hi(0, 1, W), 0u);
  EXPECT_EQ(infer_seq_hi(0, 0xfffffffe, W), 0u) << "no block -1";
  EXPECT_EQ(infer_seq_hi(B - 2, 1, W), 1u);
  SeqWindow w(W);
  EXPECT_EQ(w.full(0xfffffffe), 0xfffffffeu);
  w.authenticated(0xfffffffe);
  EXPECT_EQ(w.full(0xffffffff), 0xffffffffu);
  EXPECT_EQ(w.full(0), B);
  EXPECT_EQ(w.full(3), B + 3);
  w.authenticated(B + 3);
  EXPECT_EQ(w.full(0xffffffff), 0xffffffffu) << "late, within the window: before the wrap";
  w.authenticated(5);
  EXPECT_EQ(w.top(), B + 3) << "only a higher number moves the top";
}

}  // namespace
}  // namespace sealnet::wire
