// offload/binding.h: which states and policies a node wants, per device mode,
// per key, per peer; SPI layout; subnet-mode policy counts; per-peer outbound
// selectors; per-pair keys.
#include "offload/binding.h"

#include <gtest/gtest.h>

#include <netinet/in.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "bpf/shared.h"
#include "tests/unit/offload_fixtures.h"

namespace sealnet::offload {
namespace {

using xfrm::Direction;
using xfrm::OffloadMode;

using namespace testing;  // ip, key_set, kK1, kK2, peer (tests/unit/offload_fixtures.h)

struct World {
  fallback::DecisionLog log;
  fallback::ModeBook modes{log};
  LocalNode local{1, ip("10.0.0.1")};
  PlanOptions opts;
  World() {
    opts.subnets = {pfx("10.128.0.0/9")};
    modes.set_device({0, 10, "nsim0", OffloadMode::crypto}, 0);
    modes.set_device({1, 11, "veth0", OffloadMode::none}, 0);
    modes.set_device({2, 12, "mlx0", OffloadMode::packet}, 0);
  }
};

TEST(Spi, CarriesSenderKeySlotGeneration) {
  EXPECT_EQ(make_spi(3, 2, 1, 5), 0x00032105u);
  auto p = split_spi(0xBEEF7A42);
  EXPECT_EQ(p.node, 0xBEEF);
  EXPECT_EQ(p.key, 7);
  EXPECT_EQ(p.slot, 0xA);
  EXPECT_EQ(p.generation, 0x42);
  // Node ids start at 1: every real SPI is above the reserved 1..255; the
  // probe's range (0xFFFFFF00.., node id 0xFFFF) is refused by the config.
  EXPECT_GE(make_spi(1, 1, 0, 0), 0x10000u);
}

TEST(Binding, OneOutboundStatePerSlotInThatSlotsMode) {
  World w;
  auto set = plan(w.local, w.modes, {peer(2)}, key_set(kK1), w.opts);
  ASSERT_TRUE(set) << set.error().message();
  std::map<uint8_t, const DesiredState*> out;
  for (const auto& s : set->states)
    if (s.dir == Direction::out) out[s.slot] = &s;
  ASSERT_EQ(out.size(), 3u);
  // Crypto device: offloaded, no ESN (devices without advance_esn refuse it), 32 window.
  ASSERT_TRUE(out[0]->spec.offload);
  EXPECT_EQ(out[0]->spec.offload->mode, OffloadMode::crypto);
  EXPECT_EQ(out[0]->spec.offload->ifindex, 10);
  EXPECT_FALSE(out[0]->spec.esn);
  EXPECT_EQ(out[0]->spec.replay_window, 32u);
  // Software device: no offload request at all, ESN, wide window.
  EXPECT_FALSE(out[1]->spec.offload);
  EXPECT_TRUE(out[1]->spec.esn);
  EXPECT_EQ(out[1]->spec.replay_window, 128u);
  EXPECT_EQ(out[2]->spec.offload->mode, OffloadMode::packet);
  for (const auto& [slot, s] : out) {
    EXPECT_EQ(s->spec.id.spi, make_spi(1, 1, slot, 0));
    EXPECT_EQ(s->spec.mark, (xfrm::Mark{sealnet_mark_encrypt(2, 1, slot), SEALNET_MARK_POLICY_MASK}));
    EXPECT_EQ(s->spec.set_mark, (xfrm::Mark{sealnet_mark_encrypted(slot), 0xFF0}));
    EXPECT_EQ(s->spec.reqid, kReqidOut);
    EXPECT_EQ(s->spec.id.daddr, ip("10.0.0.2"));
    EXPECT_EQ(s->spec.saddr, ip("10.0.0.1"));
  }
}

TEST(Binding, EveryMarkTheClassifierCanProduceHasAPolicyWithTheStatesMark) {
  World w;
  auto set = plan(w.local, w.modes, {peer(2, {1, 2}), peer(3, {1, 2})}, key_set(kK1 + kK2), w.opts);
  ASSERT_TRUE(set);
  std::set<uint32_t> policy_marks;
  for (const auto& p : set->policies)
    if (p.dir == xfrm::PolicyDir::out) {
      policy_marks.insert(p.mark->value);
      ASSERT_EQ(p.templates.size(), 1u);
      EXPECT_EQ(p.templates[0].reqid, kReqidOut);
      EXPECT_EQ(p.selector.dst, pfx("10.128.0.0/9"));
    }
  for (uint16_t peer_id : {2, 3})
    for (uint8_t key : {1, 2})
      for (uint8_t slot : {0, 1, 2}) EXPECT_TRUE(policy_marks.contains(sealnet_mark_encrypt(peer_id, key, slot)));
  EXPECT_EQ(policy_marks.size(), 2u * 2u * 3u);
  // The packet-offload slot's policies sit on the device too.
  for (const auto& p : set->policies)
    if (p.mark && (p.mark->value & SEALNET_MARK_SLOT_MASK) >> SEALNET_MARK_SLOT_SHIFT == 2) {
      EXPECT_TRUE(p.offload && p.offload->mode == OffloadMode::packet);
    }
}

TEST(Binding, APeersOwnPrefixesReplaceTheClusterSubnetInItsOutboundPolicies) {
  World w;
  PeerNode a = peer(2, {1, 2});
  a.dsts = {pfx("10.130.2.0/24"), pfx("10.0.0.2/32")};  // pod CIDR + node address (host traffic)
  PeerNode b = peer(3, {1, 2});                         // no dsts: cluster subnet, as before
  auto set = plan(w.local, w.modes, {a, b}, key_set(kK1 + kK2), w.opts);
  ASSERT_TRUE(set) << set.error().message();
  std::map<uint16_t, std::set<std::pair<uint32_t, std::string>>> out;  // peer -> (mark, dst)
  for (const auto& p : set->policies) {
    if (p.dir != xfrm::PolicyDir::out) continue;
    EXPECT_EQ(p.selector.src, pfx("0.0.0.0/0"));
    out[static_cast<uint16_t>(p.mark->value >> SEALNET_MARK_NODE_SHIFT)].insert(
        {p.mark->value, p.selector.dst.str()});
  }
  // One policy per (key, slot, prefix): 2 x 3 x 2 for a, 2 x 3 x 1 for b.
  ASSERT_EQ(out[2].size(), 12u);
  ASSERT_EQ(out[3].size(), 6u);
  for (uint8_t key : {1, 2})
    for (uint8_t slot : {0, 1, 2}) {
      const uint32_t ma = sealnet_mark_encrypt(2, key, slot), mb = sealnet_mark_encrypt(3, key, slot);
      EXPECT_TRUE(out[2].contains({ma, "10.130.2.0/24"}));
      EXPECT_TRUE(out[2].contains({ma, "10.0.0.2/32"}));
      EXPECT_TRUE(out[3].contains({mb, "10.128.0.0/9"}));
    }
  // A's marks never select the cluster subnet: a wrong mark cannot reach A's SA
  // for another peer's pods.
  for (const auto& [mark, dst] : out[2]) EXPECT_NE(dst, "10.128.0.0/9");
  // Inbound: a's prefixes get strict in + fwd policies (required, from a);
  // b, whose prefixes are unknown, keeps the shared optional subnet pair.
  std::set<std::tuple<std::string, bool, std::string>> rx;  // (src prefix, optional, template source)
  for (const auto& p : set->policies)
    if (p.dir != xfrm::PolicyDir::out) rx.insert({p.selector.src.str(), p.templates[0].optional, p.templates[0].saddr.str()});
  EXPECT_EQ(rx, (std::set<std::tuple<std::string, bool, std::string>>{{"10.130.2.0/24", false, "10.0.0.2"},
                                                                      {"10.0.0.2/32", false, "10.0.0.2"},
                                                                      {"10.128.0.0/9", true, "0.0.0.0"}}));
  EXPECT_EQ(std::count_if(set->policies.begin(), set->policies.end(),
                          [](const auto& p) { return p.dir != xfrm::PolicyDir::out; }),
            6);

  PeerNode bad = peer(4);
  bad.dsts = {IpPrefix{}};
  EXPECT_FALSE(plan(w.local, w.modes, {bad}, key_set(kK1), w.opts));
}

// Peers whose prefixes are unknown (no dsts) share the optional subnet pair.
TEST(Binding, SubnetModeInboundPoliciesDoNotGrowWithPeers) {
  World w;
  std::vector<PeerNode> peers;
  for (uint16_t id = 2; id < 102; ++id) peers.push_back(peer(id));
  auto set = plan(w.local, w.modes, peers, key_set(kK1), w.opts);
  ASSERT_TRUE(set);
  size_t in = 0, fwd = 0;
  for (const auto& p : set->policies) {
    if (p.dir == xfrm::PolicyDir::in) ++in;
    if (p.dir == xfrm::PolicyDir::fwd) {
      ++fwd;
      EXPECT_TRUE(p.templates[0].optional);
      EXPECT_EQ(p.templates[0].saddr, ip("0.0.0.0"));  // any peer
      EXPECT_EQ(p.templates[0].id.daddr, ip("10.0.0.1"));
    }
  }
  EXPECT_EQ(in, 1u);
  EXPECT_EQ(fwd, 1u);
}

// Strict receive (docs/xfrm-design.md, "Policies"; issue 15): plaintext or
// another peer's traffic claiming a peer's pods finds a required template.
TEST(Binding, StrictInboundPoliciesPerPeerPrefix) {
  World w;
  w.local.pod_cidrs = {pfx("10.130.1.0/24")};
  PeerNode a = peer(2), b = peer(3), c = peer(4), d = peer(5);
  a.dsts = {pfx("10.130.2.0/24"), pfx("10.130.20.0/26")};
  b.dsts = {pfx("10.130.3.0/24"), pfx("10.130.99.0/24")};
  c.dsts = {pfx("10.130.99.0/24")};  // claimed by b too
  d.dsts = {pfx("10.130.0.0/16")};   // overlaps our own pods: optional, any peer
  w.opts.subnets = {pfx("10.130.2.0/24"), pfx("10.130.3.0/24"), pfx("10.200.0.0/16")};
  auto set = plan(w.local, w.modes, {a, b, c, d}, key_set(kK1), w.opts);
  ASSERT_TRUE(set) << set.error().message();
  std::map<std::pair<std::string, xfrm::PolicyDir>, const xfrm::PolicySpec*> rx;
  for (const auto& p : set->policies)
    if (p.dir != xfrm::PolicyDir::out) {
      ASSERT_EQ(p.templates.size(), 1u);
      EXPECT_FALSE(p.mark);  // received packets carry no mark
      EXPECT_TRUE(rx.emplace(std::pair{p.selector.src.str(), p.dir}, &p).second) << "duplicate " << p.selector.src.str();
    }
  auto at = [&](const char* src, xfrm::PolicyDir dir) -> const xfrm::PolicySpec& {
    auto it = rx.find({src, dir});
    EXPECT_NE(it, rx.end()) << src;
    return *it->second;
  };
  for (auto dir : {xfrm::PolicyDir::in, xfrm::PolicyDir::fwd}) {
    for (const char* src : {"10.130.2.0/24", "10.130.20.0/26", "10.130.3.0/24"}) {
      const auto& p = at(src, dir);
      EXPECT_FALSE(p.templates[0].optional) << src;
      EXPECT_EQ(p.templates[0].reqid, kReqidIn);
      EXPECT_EQ(p.templates[0].id.daddr, ip("10.0.0.1"));
      EXPECT_EQ(p.templates[0].id.proto, IPPROTO_ESP);
      EXPECT_EQ(p.templates[0].mode, xfrm::SaMode::tunnel);
      EXPECT_EQ(p.selector.dst, pfx("0.0.0.0/0"));
    }
    EXPECT_EQ(at("10.130.2.0/24", dir).templates[0].saddr, ip("10.0.0.2"));  // from a only
    EXPECT_EQ(at("10.130.3.0/24", dir).templates[0].saddr, ip("10.0.0.3"));  // from b only
    // Claimed twice: required, from any peer.
    EXPECT_FALSE(at("10.130.99.0/24", dir).templates[0].optional);
    EXPECT_EQ(at("10.130.99.0/24", dir).templates[0].saddr, ip("0.0.0.0"));
    // Priorities: before the shared ones, a longer prefix first.
    EXPECT_EQ(at("10.130.2.0/24", dir).priority, kPolicyPriority - 25);
    EXPECT_LT(at("10.130.20.0/26", dir).priority, at("10.130.2.0/24", dir).priority);
    // A subnet no peer claims exactly keeps the shared optional policy; one a
    // peer claims does not get a second, conflicting one.
    const auto& shared = at("10.200.0.0/16", dir);
    EXPECT_TRUE(shared.templates[0].optional);
    EXPECT_EQ(shared.priority, kPolicyPriority);
    EXPECT_EQ(shared.templates[0].saddr, ip("0.0.0.0"));
    // d overlaps our 10.130.1.0/24: required would drop our own pods' traffic.
    EXPECT_TRUE(at("10.130.0.0/16", dir).templates[0].optional);
    EXPECT_EQ(at("10.130.0.0/16", dir).templates[0].saddr, ip("0.0.0.0"));
    EXPECT_EQ(at("10.130.0.0/16", dir).priority, kPolicyPriority - 17);
  }
  EXPECT_EQ(rx.size(), 2u * 6);
  for (const auto& [k, p] : rx) EXPECT_LT(p->priority, kPolicyPriority + 1);
}

TEST(Binding, InboundForEveryKeyOutboundOnlyForKeysThePeerHas) {
  World w;
  PeerNode p = peer(7, {1});
  p.slots = {0, 3};
  p.generations[3] = 9;
  auto set = plan(w.local, w.modes, {p}, key_set(kK1 + kK2), w.opts);
  ASSERT_TRUE(set);
  std::set<uint32_t> in_spis;
  std::set<uint8_t> out_keys;
  for (const auto& s : set->states) {
    if (s.dir == Direction::in) {
      in_spis.insert(s.spec.id.spi);
      EXPECT_EQ(s.spec.reqid, kReqidIn);
      EXPECT_FALSE(s.spec.mark);  // received ESP carries no mark
      EXPECT_EQ(s.spec.id.daddr, ip("10.0.0.1"));
      EXPECT_EQ(s.spec.saddr, ip("10.0.0.7"));
    } else {
      out_keys.insert(s.key);
    }
  }
  EXPECT_EQ(out_keys, (std::set<uint8_t>{1}));
  // keys 1, 2 x peer slots 0 (gen 0, 1) and 3 (gen 9, 10)
  const std::set<uint32_t> want = {make_spi(7, 1, 0, 0), make_spi(7, 1, 0, 1), make_spi(7, 1, 3, 9),
                                   make_spi(7, 1, 3, 10), make_spi(7, 2, 0, 0), make_spi(7, 2, 0, 1),
                                   make_spi(7, 2, 3, 9), make_spi(7, 2, 3, 10)};
  EXPECT_EQ(in_spis, want);
}

TEST(Binding, InboundOffloadedOnTheArrivalDeviceWhenItCan) {
  World w;
  PeerNode p = peer(2);
  p.rx_slot = 0;
  PeerNode q = peer(3);
  q.rx_slot = 2;  // packet-offload device: inbound gets crypto (policies are shared)
  auto set = plan(w.local, w.modes, {p, q}, key_set(kK1), w.opts);
  ASSERT_TRUE(set);
  for (const auto& s : set->states)
    if (s.dir == Direction::in) {
      ASSERT_TRUE(s.spec.offload);
      EXPECT_EQ(s.spec.offload->dir, Direction::in);
      EXPECT_EQ(s.spec.offload->mode, OffloadMode::crypto);
      EXPECT_EQ(s.spec.offload->ifindex, s.peer == 2 ? 10 : 12);
    }
}

TEST(Binding, PerPairKeysDifferByDirectionAndBothEndsAgree) {
  const std::string text = "5+ rfc4106(gcm(aes)) 0x000102030405060708090a0b0c0d0e0f10111213 128\n";
  fallback::DecisionLog log;
  fallback::ModeBook modes(log);
  modes.set_device({0, 1, "eth0", OffloadMode::none}, 0);
  PlanOptions opts;
  opts.inbound_generations = 1;
  LocalNode a{1, ip("10.0.0.1")}, b{2, ip("10.0.0.2")};
  PeerNode pa{1, ip("10.0.0.1"), {0}, {}, {5}, {}, {}}, pb{2, ip("10.0.0.2"), {0}, {}, {5}, {}, {}};
  auto at_a = plan(a, modes, {pb}, key_set(text), opts);
  auto at_b = plan(b, modes, {pa}, key_set(text), opts);
  ASSERT_TRUE(at_a && at_b);
  auto find = [](const DesiredSet& s, Direction d) {
    for (const auto& st : s.states)
      if (st.dir == d) return st.spec;
    return xfrm::SaSpec{};
  };
  const auto a_out = find(*at_a, Direction::out), a_in = find(*at_a, Direction::in);
  const auto b_out = find(*at_b, Direction::out), b_in = find(*at_b, Direction::in);
  EXPECT_EQ(a_out.id.spi, b_in.id.spi);
  EXPECT_EQ(a_out.aead->key, b_in.aead->key);  // A->B
  EXPECT_EQ(b_out.aead->key, a_in.aead->key);  // B->A
  EXPECT_NE(a_out.aead->key, a_in.aead->key);
  EXPECT_NE(a_out.aead->key, key_set(text).keys[0].aead_key);
  EXPECT_EQ(a_out.aead->key.size(), 20u);
}

TEST(Binding, AuthEncKeysBecomeAuthTruncPlusCrypt) {
  World w;
  const std::string text =
      "4 hmac(sha256) 00112233445566778899aabbccddeeff cbc(aes) 000102030405060708090a0b0c0d0e0f\n";
  auto set = plan(w.local, w.modes, {peer(2, {4})}, key_set(text), w.opts);
  ASSERT_TRUE(set);
  const auto& sa = set->states.front().spec;
  ASSERT_TRUE(sa.auth_enc);
  EXPECT_FALSE(sa.aead);
  EXPECT_EQ(sa.auth_enc->auth_name, "hmac(sha256)");
  EXPECT_EQ(sa.auth_enc->trunc_bits, 128u);
  EXPECT_EQ(sa.auth_enc->enc_name, "cbc(aes)");
  EXPECT_EQ(sa.auth_enc->enc_key.size(), 16u);
}

TEST(Binding, ADownDeviceKeepsItsPoliciesButGetsNoStates) {
  World w;
  w.modes.link_down(0, 1);
  auto set = plan(w.local, w.modes, {peer(2)}, key_set(kK1), w.opts);
  ASSERT_TRUE(set);
  for (const auto& s : set->states) {
    EXPECT_FALSE(s.dir == Direction::out && s.slot == 0);
  }
  size_t slot0_policies = 0;
  for (const auto& p : set->policies)
    if (p.mark && p.mark->value == sealnet_mark_encrypt(2, 1, 0)) ++slot0_policies;
  EXPECT_EQ(slot0_policies, 1u);
}

TEST(Binding, RefusesBadNodes) {
  World w;
  EXPECT_FALSE(plan(w.local, w.modes, {peer(1)}, key_set(kK1), w.opts));  // ourselves
  PeerNode v6 = peer(2);
  v6.addr = ip("fd00::2");
  EXPECT_FALSE(plan(w.local, w.modes, {v6}, key_set(kK1), w.opts));
}

TEST(Rotation, TxKeyIsTheNewestKeyBothHoldAndWeInstalled) {
  auto ours = key_set("15 rfc4106(gcm(aes)) 0x000102030405060708090a0b0c0d0e0f10111213 128\n" + kK1);
  PeerNode p = peer(2, {15, 1});
  EXPECT_EQ(tx_key(ours, p, {15, 1}), 1);  // 1 follows 15 on the ring
  EXPECT_EQ(tx_key(ours, p, {15}), 15);    // 1 not installed yet
  p.keys = {15};
  EXPECT_EQ(tx_key(ours, p, {15, 1}), 15);  // the peer lacks 1
  p.keys = {};
  EXPECT_EQ(tx_key(ours, p, {15, 1}), 0);
}

}  // namespace
}  // namespace sealnet::offload
