// The capture's judgement without DPDK: frames are classified, ESP goes to
// the SA catalog and is opened with the OpenSSL reference (the DPDK capture
// opens it with rte_ipsec instead, see tests/host/wire_harness_test.cpp), and
// the report must flag plaintext, tampering, unknown SAs, loss, reordering
// and duplicates.
#include <gtest/gtest.h>

#include "bench/wire/audit.h"
#include "bench/wire/classify.h"
#include "bench/wire/datagram.h"
#include "bench/wire/esp.h"
#include "bench/wire/ledger.h"
#include "tests/unit/wire_test_util.h"

namespace sealnet::wire {
namespace {

using testing::ip4;

const MacAddr kMacA{{2, 0, 0, 0, 0, 1}}, kMacB{{2, 0, 0, 0, 0, 2}};
const IpAddr kNodeA = ip4("192.168.0.1"), kNodeB = ip4("192.168.0.2");

FlowPlan plan(uint32_t flows, uint64_t count) {
  FlowPlan p;
  p.base = {ip4("10.1.0.1"), ip4("10.2.0.1"), 40000, 5001};
  p.flows = flows;
  p.count = count;
  p.size = 100;
  return p;
}

std::vector<uint8_t> inner_of(const FlowPlan& p, uint64_t i, uint64_t tx_ns = 1000) {
  const Stamp st = p.stamp(i, tx_ns);
  return build_ipv4_udp(st.ep, encode_datagram(st, p.size), static_cast<uint16_t>(i));
}

std::vector<uint8_t> clear_frame(const FlowPlan& p, uint64_t i) {
  return build_ethernet(kMacB, kMacA, kEtherTypeIpv4, inner_of(p, i));
}

SaCatalog catalog(std::vector<SpiBinding> spis = {{3, 3}}) {
  auto keys = keys::parse_key_file(testing::kKeyLine, "test");
  auto c = SaCatalog::make(std::move(*keys), std::move(spis));
  EXPECT_TRUE(c) << c.error().message();
  return std::move(*c);
}

std::vector<uint8_t> esp_frame(const FlowPlan& p, uint64_t i, uint32_t spi = 3, uint64_t tx_ns = 1000) {
  auto keys = keys::parse_key_file(testing::kKeyLine, "test");
  auto sa = esp_sa_from_key(keys->keys[0], spi, kNodeA, kNodeB);
  auto esp = seal_tunnel(*sa, static_cast<uint32_t>(i + 1), i + 1, inner_of(p, i, tx_ns));
  return build_ethernet(kMacB, kMacA, kEtherTypeIpv4, *esp);
}

// What the capture loop does with one frame, with OpenSSL in rte_ipsec's place.
void feed(WireAudit& audit, SaCatalog& cat, const std::vector<uint8_t>& frame, uint64_t rx_ns = 2000) {
  if (audit.on_frame(frame, rx_ns) != WireAudit::Next::Decrypt) return;
  auto entry = audit.sa_for(frame, cat);
  if (!entry) return;
  auto outer = parse_ipv4(std::span(frame).subspan(kEthHeaderLen));
  auto inner = outer ? open_tunnel(*entry->sa, *outer) : std::unexpected(outer.error());
  if (inner)
    audit.on_decrypted(*inner, rx_ns);
  else
    audit.on_decrypt_failure(inner.error().message());
}

TEST(WireClassify, TellsEspPlaintextAndOther) {
  const auto p = plan(1, 1);
  EXPECT_EQ(classify_frame(esp_frame(p, 0), {}).kind, FrameKind::Esp);
  auto c = classify_frame(clear_frame(p, 0), {});
  EXPECT_EQ(c.kind, FrameKind::Plaintext);
  EXPECT_NE(c.why.find("harness datagram"), std::string::npos);
  // Not ours, but between protected addresses: plaintext all the same.
  const auto ping = build_ethernet(kMacB, kMacA, kEtherTypeIpv4,
                                   build_ipv4_header(ip4("10.1.0.1"), ip4("10.2.0.9"), 1, 0, 1));
  const std::vector<IpPrefix> pods = {*IpPrefix::parse("10.1.0.0/16"), *IpPrefix::parse("10.2.0.0/16")};
  EXPECT_EQ(classify_frame(ping, pods).kind, FrameKind::Plaintext);
  EXPECT_EQ(classify_frame(ping, {}).kind, FrameKind::Other);
  const std::vector<IpPrefix> one = {*IpPrefix::parse("10.1.0.0/16")};
  EXPECT_EQ(classify_frame(ping, one).kind, FrameKind::Other) << "both ends must be protected";
  const auto arp = build_ethernet(kMacB, kMacA, 0x0806, std::vector<uint8_t>(28));
  EXPECT_EQ(classify_frame(arp, pods).kind, FrameKind::Other);
}

TEST(WireLedger, CountsLossReorderDuplicatesAndLatency) {
  FlowLedger l;
  const auto at = [](uint32_t flow, uint64_t seq) { return Stamp{flow, seq, 1000, {}}; };
  l.record(at(0, 0), 1100);
  l.record(at(0, 2), 1200);
  l.record(at(0, 1), 1300);  // late: reordered
  l.record(at(0, 1), 1400);  // again: duplicate
  l.record(at(1, 0), 2000);
  l.record(at(1, 4), 3000);  // flow 1 lost 1..3
  auto t = l.totals(std::nullopt);
  EXPECT_EQ(t.received, 5u);
  EXPECT_EQ(t.reordered, 1u);
  EXPECT_EQ(t.duplicates, 1u);
  EXPECT_EQ(t.flows, 2u);
  EXPECT_EQ(t.expected, 3u + 5u) << "inferred from the highest seq of each flow";
  EXPECT_EQ(t.lost, 3u);
  EXPECT_EQ(t.latency_p50_ns, 300u);
  EXPECT_EQ(t.latency_max_ns, 2000u);
  EXPECT_EQ(l.totals(20).lost, 15u) << "with the sender's count, trailing losses show too";
  EXPECT_EQ(l.totals(2).lost, 0u) << "never negative";
  l.record(at(0, FlowLedger::kMaxSeq), 1);
  EXPECT_EQ(l.totals(std::nullopt).out_of_range, 1u);
}

TEST(WireAudit, CleanEspRunPasses) {
  auto cat = catalog();
  WireAudit audit(true, {});
  const auto p = plan(3, 30);
  for (uint64_t i = 0; i < p.count; ++i) feed(audit, cat, esp_frame(p, i));
  const auto r = audit.report(30, 1.0);
  EXPECT_EQ(r.esp_frames, 30u);
  EXPECT_EQ(r.decrypted, 30u);
  EXPECT_EQ(r.flows.received, 30u);
  EXPECT_EQ(r.flows.flows, 3u);
  EXPECT_EQ(r.flows.lost, 0u);
  EXPECT_TRUE(verdict(r, true).empty());
  EXPECT_EQ(cat.size(), 1u) << "one SA per (spi, node pair), made once";
  const auto j = to_json(r);
  for (const char* k : {"sent", "received", "lost", "reordered", "latency_ns", "esp_frames",
                        "plaintext_frames", "decrypt_failures"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["latency_ns"]["p50"], 1000);
}

TEST(WireAudit, FlagsAPlaintextFrame) {
  auto cat = catalog();
  WireAudit audit(true, {});
  const auto p = plan(1, 3);
  feed(audit, cat, esp_frame(p, 0));
  feed(audit, cat, clear_frame(p, 1));  // leaked
  feed(audit, cat, esp_frame(p, 2));
  const auto r = audit.report(3, 1.0);
  EXPECT_EQ(r.plaintext_frames, 1u);
  EXPECT_EQ(r.flows.lost, 1u) << "a leaked datagram does not count as delivered";
  const auto why = verdict(r, true);
  ASSERT_FALSE(why.empty());
  EXPECT_NE(why[0].find("plaintext"), std::string::npos);
}

TEST(WireAudit, ClearDatagramsAreArrivalsWhenNoKeyIsGiven) {
  auto cat = catalog();
  WireAudit audit(false, {});
  const auto p = plan(1, 3);
  for (uint64_t i = 0; i < 2; ++i) feed(audit, cat, clear_frame(p, i));
  // Captured on the sending side of a veth: tx checksum offload left only the
  // pseudo-header sum in the UDP checksum field.
  auto partial = clear_frame(p, 2);
  partial[kEthHeaderLen + kIpv4HeaderLen + 6] ^= 0x5a;
  feed(audit, cat, partial);
  const auto r = audit.report(3, 1.0);
  EXPECT_EQ(r.plaintext_frames, 0u);
  EXPECT_EQ(r.invalid_inner, 0u);
  EXPECT_EQ(r.flows.received, 3u);
  EXPECT_TRUE(verdict(r, true).empty());
}

TEST(WireAudit, FlagsTamperedMissingReorderedAndUnknownSa) {
  auto cat = catalog();
  WireAudit audit(true, {});
  const auto p = plan(1, 6);
  feed(audit, cat, esp_frame(p, 0));
  auto tampered = esp_frame(p, 1);
  tampered[tampered.size() - 20] ^= 1;
  feed(audit, cat, tampered);
  // 2 is missing
  feed(audit, cat, esp_frame(p, 4));
  feed(audit, cat, esp_frame(p, 3));             // reordered
  feed(audit, cat, esp_frame(p, 5, /*spi=*/9));  // no --spi names 9
  const auto r = audit.report(6, 1.0);
  EXPECT_EQ(r.decrypt_failures, 1u);
  EXPECT_EQ(r.unknown_sa, 1u);
  EXPECT_EQ(r.flows.reordered, 1u);
  EXPECT_EQ(r.flows.received, 3u);
  EXPECT_EQ(r.flows.lost, 3u);             // 1 (tampered), 2 (missing), 5 (undecryptable)
  EXPECT_EQ(verdict(r, true).size(), 3u);  // decrypt, unknown SA, loss
  EXPECT_EQ(verdict(r, false).size(), 2u) << "without --expect, loss is reported, not judged";
  EXPECT_FALSE(r.problems.empty());
}

TEST(WireAudit, FlagsAnInnerPacketThatDiffersFromWhatWasSent) {
  auto cat = catalog();
  WireAudit audit(true, {});
  const auto p = plan(1, 1);
  // Encrypted correctly, but the datagram inside is not what its stamp says.
  auto inner = inner_of(p, 0);
  inner[kIpv4HeaderLen + kUdpHeaderLen + 60] ^= 1;
  const auto* k = cat.find(3, kNodeA, kNodeB)->sa;
  auto esp = seal_tunnel(*k, 1, 1, inner);
  feed(audit, cat, build_ethernet(kMacB, kMacA, kEtherTypeIpv4, *esp));
  // A ping through the tunnel is counted, not judged.
  auto ping = build_ipv4_header(ip4("10.1.0.1"), ip4("10.2.0.1"), 1, 8, 1);
  std::vector<uint8_t> pkt(ping.begin(), ping.end());
  pkt.resize(28);
  auto esp2 = seal_tunnel(*k, 2, 2, pkt);
  feed(audit, cat, build_ethernet(kMacB, kMacA, kEtherTypeIpv4, *esp2));
  const auto r = audit.report(std::nullopt, 1.0);
  EXPECT_EQ(r.invalid_inner, 1u);
  EXPECT_EQ(r.foreign_inner, 1u);
  EXPECT_EQ(r.flows.received, 0u);
  ASSERT_FALSE(r.problems.empty());
  EXPECT_NE(r.problems[0].find("inner packet"), std::string::npos);
  EXPECT_EQ(verdict(r, false).size(), 1u);
}

TEST(WireAudit, SpiBindingsFollowCiliumsConventionOrAnExplicitKey) {
  auto a = parse_spi_binding("3");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->spi, 3u);
  EXPECT_EQ(a->key_id, 3);
  auto b = parse_spi_binding("0x1003:3");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->spi, 0x1003u);
  EXPECT_EQ(b->key_id, 3);
  EXPECT_FALSE(parse_spi_binding("0x1003")) << "key id 0x1003 is not 1..15";
  EXPECT_FALSE(parse_spi_binding("0"));
  EXPECT_FALSE(parse_spi_binding("3:x"));
  EXPECT_FALSE(parse_spi_binding("3:16"));
  auto keys = keys::parse_key_file(testing::kKeyLine, "test");
  EXPECT_FALSE(SaCatalog::make(*keys, {{4, 4}})) << "no key 4 in the file";
  EXPECT_FALSE(SaCatalog::make(*keys, {{3, 3}, {3, 3}})) << "SPI twice";
}

TEST(WireAudit, RotationKeepsSeveralSpisApart) {
  auto cat = catalog({{3, 3}, {0x1003, 3}});
  WireAudit audit(true, {});
  const auto p = plan(1, 4);
  feed(audit, cat, esp_frame(p, 0, 3));
  feed(audit, cat, esp_frame(p, 1, 0x1003));
  feed(audit, cat, esp_frame(p, 2, 3));
  feed(audit, cat, esp_frame(p, 3, 0x1003));
  const auto r = audit.report(4, 1.0);
  EXPECT_EQ(r.decrypted, 4u);
  EXPECT_EQ(cat.size(), 2u);
  EXPECT_TRUE(verdict(r, true).empty());
}

}  // namespace
}  // namespace sealnet::wire
