// offload/reconciler.h + fallback/modes.h against the fake kernel: the diff
// (idempotent, O(change), foreign objects untouched, UPDPOLICY, resync after an
// overrun), every fallback decision (a)-(e) with its reason and the "no window"
// rule (states before policies, add before delete, old SPIs never re-added), and
// rotation sequencing.
#include "offload/reconciler.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "bpf/shared.h"
#include "tests/unit/offload_fake_kernel.h"
#include "tests/unit/offload_fixtures.h"

namespace sealnet::offload {
namespace {

using fallback::Reason;
using Kind = KernelOp::Kind;
using testing::FakeXfrmKernel;
using xfrm::Direction;
using xfrm::OffloadMode;

using namespace testing;  // ip, key_set, kK1, kK2, peer (tests/unit/offload_fixtures.h)

// One node (id 1) with slot 0 on netdevsim-like ifindex 10.
struct Rig {
  FakeXfrmKernel kernel;
  fallback::DecisionLog log;
  fallback::ModeBook modes{log};
  Reconciler rec{kernel, modes};
  keys::KeySet keys = key_set(kK1);
  ReconcileInput in;
  uint64_t now = 1000;

  explicit Rig(OffloadMode cap = OffloadMode::crypto, size_t peers = 2) {
    kernel.devices[10] = {};
    modes.set_device({0, 10, "nsim0", cap}, now);
    in.local = {1, ip("10.0.0.1")};
    in.opts.subnets = {*IpPrefix::parse("10.128.0.0/9")};
    for (uint16_t id = 2; id < 2 + peers; ++id) in.peers.push_back(peer(id));
    in.keys = &keys;
  }
  ReconcileResult run() {
    auto r = rec.reconcile(in, now);
    EXPECT_TRUE(r) << r.error().message();
    return r ? *r : ReconcileResult{};
  }
  const xfrm::SaInfo* state(uint32_t spi) const {
    for (const auto& [k, s] : kernel.states_)
      if (s.id.spi == spi) return &s;
    return nullptr;
  }
  size_t states_of(uint32_t reqid) const {
    return static_cast<size_t>(std::count_if(kernel.states_.begin(), kernel.states_.end(),
                                             [&](const auto& kv) { return kv.second.reqid == reqid; }));
  }
};

// Every op index of kind `k` comes after every op index of kind `before`.
bool all_after(const std::vector<Kind>& ops, Kind k, Kind before) {
  size_t last_before = 0, first_k = ops.size();
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i] == before) last_before = i;
    if (ops[i] == k && first_k == ops.size()) first_k = i;
  }
  return first_k == ops.size() || first_k > last_before;
}

TEST(Reconciler, InstallsThenIsIdempotent) {
  Rig r;
  auto first = r.run();
  // 2 peers: out 1 state + 1 policy each; in 2 generations each; in + fwd policy.
  EXPECT_EQ(first.states_added, 2u + 4u);
  EXPECT_EQ(first.policies_added, 2u + 2u);
  EXPECT_TRUE(first.errors.empty());
  EXPECT_TRUE(all_after(r.kernel.ops, Kind::add_policy, Kind::add_state));  // no policy before its state
  const size_t sent = r.kernel.ops.size();
  auto second = r.run();
  EXPECT_EQ(second.changes(), 0u);
  EXPECT_EQ(r.kernel.ops.size(), sent);  // nothing sent at all
  EXPECT_EQ(second.installed_keys.at(2), (std::vector<uint8_t>{1}));
}

TEST(Reconciler, OneJoiningPeerTouchesOnlyItsObjects) {
  Rig r(OffloadMode::none, 50);
  r.run();
  const size_t sent = r.kernel.ops.size();
  r.in.peers.push_back(peer(99));
  auto res = r.run();
  EXPECT_EQ(res.states_added, 3u);    // 1 out + 2 in
  EXPECT_EQ(res.policies_added, 1u);  // its out policy; in/fwd are per subnet
  EXPECT_EQ(res.states_deleted + res.policies_deleted + res.policies_updated, 0u);
  EXPECT_EQ(r.kernel.ops.size() - sent, 4u);
}

TEST(Reconciler, APeersPrefixesArePartOfItsPolicysIdentity) {
  Rig r(OffloadMode::none, 3);
  r.in.peers[0].dsts = {*IpPrefix::parse("10.130.2.0/24")};
  auto first = r.run();
  // 3 out (one per slot), the strict in + fwd of the prefix, the shared in + fwd
  // of the subnet (the second peer has no dsts).
  EXPECT_EQ(first.policies_added, 3u + 2u + 2u);
  EXPECT_EQ(r.run().changes(), 0u);  // the kernel's selector reads back as planned
  // A new pod CIDR adds its out, in and fwd policies and leaves the others
  // alone; one that goes away is deleted after the grace period, never replaced
  // in place (the selector is part of the kernel's key: UPDPOLICY could not move it).
  r.in.peers[0].dsts.push_back(*IpPrefix::parse("10.130.9.0/24"));
  auto grow = r.run();
  EXPECT_EQ(grow.policies_added, 3u);
  EXPECT_EQ(grow.changes(), 3u);
  r.in.peers[0].dsts.erase(r.in.peers[0].dsts.begin());
  auto shrink = r.run();
  EXPECT_EQ(shrink.changes(), 0u);
  EXPECT_EQ(shrink.retiring, 3u);
  EXPECT_EQ(shrink.installed_keys.at(2), (std::vector<uint8_t>{1}));
  r.now += r.rec.grace_seconds;
  auto gone = r.run();
  EXPECT_EQ(gone.policies_deleted, 3u);
  EXPECT_EQ(gone.changes(), 3u);
}

TEST(Reconciler, LeavesForeignStatesAndPoliciesAlone) {
  Rig r;
  r.kernel.add_foreign_state(0x1234);
  r.kernel.add_foreign_policy();
  r.now += 10000;  // far past any grace period
  auto res = r.run();
  res = r.run();
  EXPECT_EQ(res.foreign_states, 1u);
  EXPECT_EQ(res.foreign_policies, 1u);
  EXPECT_EQ(r.kernel.count(Kind::delete_state) + r.kernel.count(Kind::delete_policy), 0u);
  EXPECT_NE(r.state(0x1234), nullptr);
}

TEST(Reconciler, ChangedPolicyIsUpdatedInPlaceNeverDeletedAndReAdded) {
  Rig r;
  r.run();
  for (auto& [k, p] : r.kernel.policies_)
    if (p.dir == xfrm::PolicyDir::out) p.templates[0].saddr = ip("10.0.0.77");  // drifted
  auto res = r.run();
  EXPECT_EQ(res.policies_updated, 2u);
  EXPECT_EQ(r.kernel.count(Kind::delete_policy), 0u);
  for (auto& [k, p] : r.kernel.policies_)
    if (p.dir == xfrm::PolicyDir::out) {
      EXPECT_EQ(p.templates[0].saddr, ip("10.0.0.1"));
    }
}

TEST(Reconciler, OverrunIsAnsweredByADumpAndADiff) {
  Rig r;
  r.kernel.overruns = 1;  // the first batch is applied, its replies are lost
  auto res = r.run();
  EXPECT_EQ(res.resyncs, 1u);
  EXPECT_TRUE(res.errors.empty());  // no EEXIST: the diff saw what the lost batch did
  EXPECT_EQ(r.states_of(kReqidOut), 2u);
  EXPECT_EQ(r.states_of(kReqidIn), 4u);
  EXPECT_EQ(r.run().changes(), 0u);
}

// ---------------------------------------------------------------- fallback --

TEST(Fallback, A_RefusedCryptoOffloadIsReAddedAsSoftwareWithTheReason) {
  Rig r;
  r.kernel.devices[10].refuse_crypto = {EINVAL, "Device failed to offload this state"};
  auto res = r.run();
  // Both peers' states were in the same batch: each refusal is a decision.
  EXPECT_EQ(res.software_retries, 2u);
  EXPECT_TRUE(res.errors.empty());
  EXPECT_EQ(r.states_of(kReqidOut), 2u);
  for (const auto& [k, s] : r.kernel.states_) EXPECT_FALSE(s.offload);
  EXPECT_EQ(r.log.count(Reason::offload_refused), 2u);
  const auto* d = r.log.last();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->reason, Reason::offload_refused);
  EXPECT_NE(d->detail.find("errno 22"), std::string::npos);
  EXPECT_NE(d->detail.find("Device failed to offload this state"), std::string::npos);
  EXPECT_EQ(r.modes.slot(0)->mode, OffloadMode::none);
  EXPECT_TRUE(all_after(r.kernel.ops, Kind::add_policy, Kind::add_state));
}

TEST(Fallback, A_RefusedPacketOffloadStepsDownToCrypto) {
  Rig r(OffloadMode::packet, 1);  // the fake refuses packet offload like netdevsim
  auto res = r.run();
  EXPECT_TRUE(res.errors.empty());
  const auto* out = r.state(make_spi(1, 1, 0, 0));
  ASSERT_TRUE(out && out->offload);
  EXPECT_EQ(out->offload->mode(), OffloadMode::crypto);
  EXPECT_EQ(r.log.count(Reason::offload_refused), 1u);
  EXPECT_NE(r.log.last()->detail.find("Unsupported ipsec offload type"), std::string::npos);
  // The out policy lost its packet-offload device with the mode: no policy may
  // ask for packet offload of a state that has none.
  for (const auto& [k, p] : r.kernel.policies_) EXPECT_FALSE(p.offload);
}

TEST(Fallback, B_ReadBackWithoutOffloadIsRecordedAndTheDeviceGoesSoftware) {
  Rig r;
  r.kernel.devices[10].silent_software = true;  // veth-like
  r.run();
  EXPECT_EQ(r.log.count(Reason::no_offload_readback), 2u);  // one per state read back
  EXPECT_EQ(r.modes.slot(0)->mode, OffloadMode::none);
  EXPECT_EQ(r.run().changes(), 0u);  // and nothing churns afterwards
  r.in.peers.push_back(peer(9));
  r.run();
  EXPECT_FALSE(r.state(make_spi(1, 1, 0, 0)) == nullptr);
  EXPECT_EQ(r.log.count(Reason::no_offload_readback), 2u);  // later adds asked for software
}

TEST(Fallback, C_FullTableMovesOnlyTheRestToSoftware) {
  Rig r(OffloadMode::crypto, 20);
  for (auto& p : r.in.peers) p.rx_slot = 0;  // inbound wants the device too: 60 states
  auto res = r.run();
  EXPECT_TRUE(res.errors.empty());
  EXPECT_EQ(r.kernel.offloaded_on(10), 33u);
  EXPECT_EQ(r.kernel.states_.size(), 60u);
  EXPECT_EQ(r.log.count(Reason::table_full), 27u);
  EXPECT_EQ(r.modes.slot(0)->mode, OffloadMode::crypto);  // the device keeps offloading
  EXPECT_NE(r.log.last()->detail.find("No space for SA in Rx table!"), std::string::npos);
  EXPECT_EQ(r.run().changes(), 0u);
}

TEST(Fallback, D_LinkDownThenUpReinstallsUnderTheNextGeneration) {
  Rig r;
  for (auto& p : r.in.peers) p.rx_slot = 0;
  r.run();
  const uint32_t g0 = make_spi(1, 1, 0, 0);
  ASSERT_TRUE(r.state(g0) && r.state(g0)->offload);

  r.kernel.flush_device(10);
  r.modes.link_down(0, r.now);
  auto down = r.run();
  EXPECT_EQ(r.state(g0), nullptr);  // the flushed outbound SPI is not re-added
  // Inbound SPIs are the peer's to choose: re-added at once, in software.
  EXPECT_EQ(down.states_added, 4u);
  for (const auto& [k, s] : r.kernel.states_) EXPECT_FALSE(s.offload);
  // Every mark still has its policy: traffic is dropped, not sent in plaintext.
  EXPECT_EQ(r.kernel.count(Kind::delete_policy), 0u);

  r.now += 5;
  r.modes.link_up(0, r.now);
  r.run();
  const uint32_t g1 = make_spi(1, 1, 0, 1);
  ASSERT_NE(r.state(g1), nullptr);
  EXPECT_TRUE(r.state(g1)->offload);
  EXPECT_EQ(r.state(g0), nullptr);
  EXPECT_EQ(r.log.count(Reason::link_down), 1u);
  EXPECT_EQ(r.log.count(Reason::link_up), 1u);
}

TEST(Fallback, D_AFlushWeDidNotHearAboutIsDetectedByTheDump) {
  Rig r;
  r.run();
  r.kernel.flush_device(10);  // no event
  r.run();
  EXPECT_EQ(r.log.count(Reason::link_down), 1u);
  EXPECT_EQ(r.state(make_spi(1, 1, 0, 0)), nullptr);
  ASSERT_NE(r.state(make_spi(1, 1, 0, 1)), nullptr);
  EXPECT_TRUE(r.state(make_spi(1, 1, 0, 1))->offload);
}

TEST(Fallback, E_FeatureOffMovesToSoftwareAddBeforeRemoveAfterGrace) {
  Rig r;
  r.run();
  const uint32_t g0 = make_spi(1, 1, 0, 0), g1 = make_spi(1, 1, 0, 1);
  const size_t before = r.kernel.ops.size();
  r.modes.feature_changed(0, false, r.now);
  auto res = r.run();
  ASSERT_NE(r.state(g1), nullptr);
  EXPECT_FALSE(r.state(g1)->offload);
  ASSERT_NE(r.state(g0), nullptr);  // still there: the grace period runs
  EXPECT_GT(res.retiring, 0u);
  EXPECT_EQ(r.kernel.count(Kind::delete_state), 0u);
  r.now += r.rec.grace_seconds;
  res = r.run();
  EXPECT_EQ(r.state(g0), nullptr);
  EXPECT_EQ(res.states_deleted, 2u);  // one per peer
  const std::vector<Kind> tail(r.kernel.ops.begin() + static_cast<long>(before), r.kernel.ops.end());
  EXPECT_TRUE(all_after(tail, Kind::delete_state, Kind::add_state));
  EXPECT_EQ(r.log.count(Reason::feature_off), 1u);

  r.modes.feature_changed(0, true, r.now);
  r.run();
  const uint32_t g2 = make_spi(1, 1, 0, 2);
  ASSERT_NE(r.state(g2), nullptr);
  EXPECT_TRUE(r.state(g2)->offload);
  EXPECT_EQ(r.log.count(Reason::feature_on), 1u);
}

TEST(Fallback, SequenceSpaceOfANonEsnStateIsRenewedBeforeItRunsOut) {
  Rig r(OffloadMode::crypto, 1);
  r.run();
  const uint32_t g0 = make_spi(1, 1, 0, 0);
  ASSERT_FALSE(r.state(g0)->esn);
  for (auto& [k, s] : r.kernel.states_)
    if (s.id.spi == g0) s.current.packets = r.rec.sequence_limit;
  r.run();
  EXPECT_EQ(r.log.count(Reason::sequence_exhausting), 1u);
  EXPECT_NE(r.state(make_spi(1, 1, 0, 1)), nullptr);
  r.run();
  EXPECT_EQ(r.log.count(Reason::sequence_exhausting), 1u);  // once per state
}

TEST(Fallback, DecisionsReadLikeStatusLines) {
  Rig r;
  r.kernel.devices[10].refuse_crypto = {EINVAL, "nope"};
  r.run();
  const std::string s = r.log.last()->str();
  EXPECT_NE(s.find("offload-refused: slot 0 (nsim0) spi 0x00011000 -> 10.0.0.3 crypto -> software"), std::string::npos) << s;
}

// ---------------------------------------------------------------- rotation --

TEST(Rotation, InboundFirstOutboundWhenThePeerHasItOldKeyAfterGrace) {
  Rig r(OffloadMode::none, 1);
  r.run();
  const size_t phase0 = r.kernel.ops.size();

  // 1. Key 2 arrives here; the peer does not have it yet.
  keys::KeySet both = key_set(kK1 + kK2);
  r.in.keys = &both;
  auto res = r.run();
  EXPECT_EQ(res.states_added, 2u);  // inbound key 2, generations 0 and 1
  EXPECT_EQ(r.state(make_spi(1, 2, 0, 0)), nullptr);
  EXPECT_NE(r.state(make_spi(2, 2, 0, 0)), nullptr);
  EXPECT_EQ(tx_key(both, r.in.peers[0], res.installed_keys[2]), 1);

  // 2. The peer announces key 2: our outbound for it appears; only now may the
  // BPF program send with it.
  r.in.peers[0].keys = {1, 2};
  res = r.run();
  EXPECT_NE(r.state(make_spi(1, 2, 0, 0)), nullptr);
  EXPECT_EQ(tx_key(both, r.in.peers[0], res.installed_keys[2]), 2);

  // 3. Key 1 leaves the key file: its objects stay for the grace period.
  keys::KeySet only2 = key_set(kK2);
  r.in.keys = &only2;
  r.in.peers[0].keys = {2};
  res = r.run();
  EXPECT_NE(r.state(make_spi(1, 1, 0, 0)), nullptr);
  EXPECT_EQ(r.kernel.count(Kind::delete_state) + r.kernel.count(Kind::delete_policy), 0u);
  r.now += r.rec.grace_seconds;
  res = r.run();
  EXPECT_EQ(r.state(make_spi(1, 1, 0, 0)), nullptr);
  EXPECT_EQ(r.state(make_spi(2, 1, 0, 0)), nullptr);
  EXPECT_EQ(res.states_deleted, 3u);
  EXPECT_EQ(res.policies_deleted, 1u);
  // Never delete-then-add: every delete of the rotation came after every add.
  const std::vector<Kind> tail(r.kernel.ops.begin() + static_cast<long>(phase0), r.kernel.ops.end());
  EXPECT_TRUE(all_after(tail, Kind::delete_state, Kind::add_state));
  EXPECT_TRUE(all_after(tail, Kind::delete_policy, Kind::add_policy));
}

TEST(Rotation, NoOpCarriesKeyMaterialInItsDescription) {
  Rig r;
  r.run();
  for (const auto& line : r.kernel.op_log) {
    EXPECT_EQ(line.find("000102030405"), std::string::npos) << line;
    EXPECT_EQ(line.find("0x0001020304"), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace sealnet::offload
