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
#include "bench/wire/nodes.h"
#include "datapath/config.h"
#include "offload/binding.h"
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

// What the capture loop (CaptureStep::on_burst) does with one frame, with
// OpenSSL in the DPDK engines' place: the SA, its ESN mode settled, seq_hi
// inferred from its window, opened, the window moved by what authenticated.
void feed(WireAudit& audit, SaCatalog& cat, const std::vector<uint8_t>& frame, uint64_t rx_ns = 2000) {
  if (audit.on_frame(frame, rx_ns) != WireAudit::Next::Decrypt) return;
  auto entry = audit.sa_for(frame, cat);
  if (!entry) return;
  auto outer = parse_ipv4(std::span(frame).subspan(kEthHeaderLen));
  ASSERT_TRUE(outer);
  auto& st = cat.state(entry->index);
  if (!cat.settle_esn(entry->index, *outer)) {
    ++st.failures;
    audit.on_decrypt_failure(st.sa.describe() + ": opens neither with ESN nor without");
    return;
  }
  const uint64_t seq = st.sa.esn ? st.seq.full(entry->seq_lo) : entry->seq_lo;
  auto inner = open_tunnel(st.sa, *outer, static_cast<uint32_t>(seq >> 32));
  if (inner) {
    st.seq.authenticated(seq);
    ++st.decrypted;
    audit.on_decrypted(*inner, rx_ns);
  } else {
    ++st.failures;
    audit.on_decrypt_failure(inner.error().message());
  }
}

// A per-pair key and two lab nodes, as `sealnet lab` makes them.
constexpr const char* kPairKeyLine = "1+ rfc4106(gcm(aes)) 0x000102030405060708090a0b0c0d0e0f10111213 128\n";
const IpAddr kLab1 = ip4("10.240.0.1"), kLab2 = ip4("10.240.0.2");

// The SA the agent on node `from` sends with to `to`, built from the
// project's own pieces by hand: SPI = offload::make_spi, key =
// keys::derive_pair_key for (from, to), ESN as its software SAs have it.
EspSa agent_sa(uint16_t from_id, const IpAddr& from, const IpAddr& to, uint8_t slot = 0, uint8_t gen = 0,
               bool esn = true) {
  auto keys = keys::parse_key_file(kPairKeyLine, "test");
  auto derived = keys::derive_pair_key(keys->keys[0].aead_key, from, to);
  EXPECT_TRUE(derived);
  EspSa sa;
  sa.spi = offload::make_spi(from_id, 1, slot, gen);
  sa.aes_key.assign(derived->begin(), derived->end() - 4);
  std::copy(derived->end() - 4, derived->end(), sa.salt.begin());
  sa.icv_len = 16;
  sa.outer_src = from;
  sa.outer_dst = to;
  sa.esn = esn;
  return sa;
}

std::vector<uint8_t> agent_frame(const EspSa& sa, const FlowPlan& p, uint64_t i, uint64_t seq) {
  return build_ethernet(kMacB, kMacA, kEtherTypeIpv4, *seal_tunnel(sa, seq, seq, inner_of(p, i)));
}

SaCatalog lab_catalog(EsnMode esn = EsnMode::Auto) {
  auto keys = keys::parse_key_file(kPairKeyLine, "test");
  CatalogOptions o;
  o.nodes = *NodeTable::make({{1, kLab1, 2}, {2, kLab2, 1}});
  o.esn = esn;
  auto c = SaCatalog::make(std::move(*keys), {}, std::move(o));
  EXPECT_TRUE(c) << c.error().message();
  return std::move(*c);
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

TEST(WireNodes, ParsesNodeFlagsAndRefusesDuplicates) {
  auto n = parse_node_flag("7=10.0.0.7");
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(n->id, 7);
  EXPECT_EQ(n->addr, ip4("10.0.0.7"));
  EXPECT_EQ(n->slots, 16) << "from a flag: any slot";
  for (const char* bad : {"7", "0=10.0.0.7", "65535=10.0.0.7", "x=10.0.0.7", "7=10.0.0", "7="})
    EXPECT_FALSE(parse_node_flag(bad)) << bad;
  EXPECT_FALSE(NodeTable::make({{1, kLab1, 1}, {1, kLab2, 1}})) << "id twice";
  EXPECT_FALSE(NodeTable::make({{1, kLab1, 1}, {2, kLab1, 1}})) << "address twice";
  EXPECT_FALSE(NodeTable::make({{1, ip4("fd00::1"), 1}})) << "IPv4 tunnels only";
}

TEST(WireNodes, ComeFromTheAgentConfigsNodeAndStaticPeers) {
  // `sealnet lab`'s node 1 (datapath/lab/lab.sh write_config), plus an IPv6-only peer.
  const char* text = R"(node: {name: lab-1, id: 1, addresses: [10.240.0.1], pod_cidrs: [10.241.1.0/24]}
peers:
  - {name: lab-2, id: 2, addresses: [10.240.0.2], pod_cidrs: [10.241.2.0/24]}
  - {name: lab-3, id: 3, addresses: [10.240.0.3], pod_cidrs: [10.241.3.0/24], uplinks: 3}
  - {name: v6, id: 9, addresses: ["fd00::9"], pod_cidrs: [10.241.9.0/24]}
keys: {file: /run/sealnet-lab/secret/keys}
uplinks: [up0, nsim0]
)";
  auto c = config::parse_agent_config(text, "lab-1.yaml");
  ASSERT_TRUE(c) << c.error().message();
  auto t = NodeTable::from_config(*c);
  ASSERT_TRUE(t) << t.error().message();
  ASSERT_EQ(t->nodes().size(), 3u) << "the IPv6-only peer is left out";
  EXPECT_EQ(t->by_id(1)->slots, 2) << "the node sends from its two uplinks";
  EXPECT_EQ(t->by_id(2)->slots, 1) << "a peer's uplinks default to 1";
  EXPECT_EQ(t->by_id(3)->slots, 3);
  EXPECT_EQ(t->by_addr(ip4("10.240.0.3"))->id, 3);
  EXPECT_FALSE(t->by_id(9));
}

TEST(WireNodes, ResolveSpisAsOffloadLaysThemOut) {
  auto t = *NodeTable::make({{1, kLab1, 2}, {2, kLab2, 1}});
  const uint32_t spi = offload::make_spi(2, 5, 0, 7);
  EXPECT_EQ(spi, 0x00025007u) << "docs/xfrm-design.md: node << 16 | key << 12 | slot << 8 | generation";
  auto p = t.sender_of(spi, kLab2, kLab1);
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->node, 2);
  EXPECT_EQ(p->key, 5);
  EXPECT_EQ(p->slot, 0);
  EXPECT_EQ(p->generation, 7);
  EXPECT_TRUE(t.sender_of(offload::make_spi(1, 5, 1, 0), kLab1, kLab2)) << "node 1 has two slots";
  EXPECT_FALSE(t.sender_of(offload::make_spi(2, 5, 1, 0), kLab2, kLab1)) << "node 2 sends from slot 0 only";
  EXPECT_FALSE(t.sender_of(spi, kLab1, kLab2)) << "node 2's SPI from node 1's address";
  EXPECT_FALSE(t.sender_of(offload::make_spi(3, 5, 0, 0), ip4("10.240.0.3"), kLab1)) << "no node 3";
  EXPECT_FALSE(t.sender_of(spi, kLab2, ip4("10.240.0.9"))) << "to no node of the table";
  EXPECT_FALSE(t.sender_of(spi, kLab2, kLab2)) << "to itself";
  auto e = t.sender_of(offload::make_spi(3, 5, 0, 0), ip4("10.240.0.3"), kLab1);
  EXPECT_NE(e.error().message().find("spi 0x00035000 (node 3 key 5 slot 0 generation 0)"), std::string::npos)
      << e.error().message();
}

TEST(WireAudit, DecryptsSealnetSpisWithPerPairKeysInBothDirections) {
  auto cat = lab_catalog();
  WireAudit audit(true, {});
  const auto p = plan(1, 6);
  const EspSa ab = agent_sa(1, kLab1, kLab2), ba = agent_sa(2, kLab2, kLab1, 0, 3);
  for (uint64_t i = 0; i < 6; ++i) feed(audit, cat, agent_frame(i % 2 ? ba : ab, p, i, i / 2 + 1));
  const auto r = audit.report(6, 1.0);
  EXPECT_EQ(r.decrypted, 6u) << r.problems.size() << (r.problems.empty() ? "" : r.problems[0]);
  EXPECT_EQ(r.unknown_sa, 0u);
  EXPECT_TRUE(verdict(r, true).empty());
  ASSERT_EQ(cat.size(), 2u);
  EXPECT_EQ(cat.at(0).spi, 0x00011000u);
  EXPECT_EQ(cat.at(1).spi, 0x00021003u);
  EXPECT_TRUE(cat.at(0).esn && cat.at(1).esn) << "settled on ESN";
  EXPECT_EQ(cat.state(0).seq.top(), 3u);
  const auto j = cat.sas_json();
  EXPECT_EQ(j[0]["origin"], "spi 0x00011000 (node 1 key 1 slot 0 generation 0)");
  EXPECT_EQ(j[1]["src"], "10.240.0.2");
  EXPECT_EQ(j[1]["esn"], true);
  EXPECT_EQ(j[1]["decrypted"], 3);
  EXPECT_EQ(j.dump().find("0001020304"), std::string::npos) << "no key bytes";
}

TEST(WireAudit, APerPairKeyOpensOnlyItsOwnDirection) {
  auto cat = lab_catalog();
  WireAudit audit(true, {});
  const auto p = plan(1, 2);
  EspSa wrong = agent_sa(2, kLab2, kLab1);  // the 2 -> 1 key ...
  wrong.spi = offload::make_spi(1, 1, 0, 0);
  wrong.outer_src = kLab1;  // ... on a 1 -> 2 frame
  wrong.outer_dst = kLab2;
  feed(audit, cat, agent_frame(wrong, p, 0, 1));
  // A shared key would open both directions; a per-pair key is bound to both addresses in order.
  feed(audit, cat, agent_frame(agent_sa(1, kLab1, kLab2), p, 1, 2));
  const auto r = audit.report(std::nullopt, 1.0);
  EXPECT_EQ(r.decrypt_failures, 1u);
  EXPECT_EQ(r.decrypted, 1u);
}

TEST(WireAudit, SpisOutsideTheNodeTableAreUnknownSas) {
  auto cat = lab_catalog();
  WireAudit audit(true, {});
  const auto p = plan(1, 4);
  EspSa from3 = agent_sa(3, ip4("10.240.0.3"), kLab1);
  feed(audit, cat, agent_frame(from3, p, 0, 1));                         // node 3: not in the table
  feed(audit, cat, agent_frame(agent_sa(2, kLab2, kLab1, 1), p, 1, 1));  // node 2 has one slot
  EspSa key2 = agent_sa(1, kLab1, kLab2);
  key2.spi = offload::make_spi(1, 2, 0, 0);  // key 2: not in the key file
  feed(audit, cat, agent_frame(key2, p, 2, 1));
  const auto r = audit.report(std::nullopt, 1.0);
  EXPECT_EQ(r.unknown_sa, 3u);
  EXPECT_EQ(r.decrypted, 0u);
  EXPECT_EQ(cat.size(), 0u);
}

TEST(WireAudit, EsnAutoSettlesPerSaOnOffAreFixed) {
  const auto p = plan(1, 4);
  const EspSa esn = agent_sa(1, kLab1, kLab2), plain = agent_sa(2, kLab2, kLab1, 0, 0, /*esn=*/false);
  {
    auto cat = lab_catalog(EsnMode::Auto);
    WireAudit audit(true, {});
    for (uint64_t i = 0; i < 4; ++i) feed(audit, cat, agent_frame(i % 2 ? plain : esn, p, i, i / 2 + 1));
    EXPECT_EQ(audit.report(std::nullopt, 1).decrypted, 4u);
    EXPECT_TRUE(cat.at(0).esn);
    EXPECT_FALSE(cat.at(1).esn) << "an offloaded state's SA, no ESN";
  }
  for (EsnMode mode : {EsnMode::On, EsnMode::Off}) {
    auto cat = lab_catalog(mode);
    WireAudit audit(true, {});
    for (uint64_t i = 0; i < 4; ++i) feed(audit, cat, agent_frame(i % 2 ? plain : esn, p, i, i / 2 + 1));
    const auto r = audit.report(std::nullopt, 1);
    EXPECT_EQ(r.decrypted, 2u) << "only the SA of that mode opens";
    EXPECT_EQ(r.decrypt_failures, 2u);
  }
  EXPECT_EQ(parse_esn_mode("on"), EsnMode::On);
  EXPECT_FALSE(parse_esn_mode("yes"));
}

TEST(WireAudit, EsnSeqHiFollowsTheWindowAcrossTheWrapAndAWrongOneFails) {
  constexpr uint64_t B = uint64_t{1} << 32;
  const auto p = plan(1, 8);
  const EspSa ab = agent_sa(1, kLab1, kLab2);
  {
    // Sent after 2^32 packets already, seen from a capture that starts at 0:
    // the inference says seq_hi 0, so nothing opens (and nothing is settled).
    auto cat = lab_catalog();
    WireAudit audit(true, {});
    feed(audit, cat, agent_frame(ab, p, 0, B + 1));
    const auto r = audit.report(std::nullopt, 1);
    EXPECT_EQ(r.decrypt_failures, 1u);
    EXPECT_EQ(r.decrypted, 0u);
    EXPECT_FALSE(cat.state(0).esn_settled);
  }
  auto cat = lab_catalog();
  WireAudit audit(true, {});
  const uint64_t seqs[] = {B - 3, B - 2, B - 1, B, B + 1, B - 4 /* late, within the window */, B + 2, B + 3};
  for (uint64_t i = 0; i < 8; ++i) feed(audit, cat, agent_frame(ab, p, i, seqs[i]));
  const auto r = audit.report(8, 1);
  EXPECT_EQ(r.decrypted, 8u) << (r.problems.empty() ? "" : r.problems[0]);
  EXPECT_EQ(r.flows.lost, 0u);
  EXPECT_EQ(cat.state(0).seq.top(), B + 3);
}

}  // namespace
}  // namespace sealnet::wire
