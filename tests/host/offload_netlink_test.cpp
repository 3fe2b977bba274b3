// offload/xfrm_kernel.h + reconciler against the host kernel, in a private
// namespace. The host kernel takes XFRM policies but has no ESP, so this tier
// checks what it can for real: policies go in through the batched transport,
// read back equal to what was planned (a second run sends nothing), retire after
// the grace period with DELPOLICY, and a foreign policy is never touched. The
// refused states come back as per-object errors naming the kernel's reason. A
// refusal inside a batch of thousands (error-only acks, nl::Acks::errors) is
// reported for its own op and no other.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>

#include "offload/reconciler.h"
#include "tests/host/netns_fixture.h"

namespace sealnet::offload {
namespace {

using testing::TestNetns;

keys::KeySet key_set() {
  auto k = keys::parse_key_file("1 rfc4106(gcm(aes)) 0x000102030405060708090a0b0c0d0e0f10111213 128\n", "keys");
  EXPECT_TRUE(k);
  return std::move(*k);
}

TEST(OffloadNetlink, PoliciesRoundTripTheRealKernelAndForeignOnesStay) {
  TestNetns ns;
  ns.must("ip xfrm policy add src 198.51.100.0/24 dst 203.0.113.0/24 dir out "
          "tmpl src 192.0.2.1 dst 192.0.2.2 proto esp reqid 42 mode tunnel");
  auto scope = ns.enter();
  auto kernel = make_netlink_kernel();
  ASSERT_TRUE(kernel) << kernel.error().message();
  fallback::DecisionLog log;
  fallback::ModeBook modes(log);
  modes.set_device({0, 1, "lo", xfrm::OffloadMode::none}, 0);
  Reconciler rec(**kernel, modes);
  rec.grace_seconds = 10;
  auto keys = key_set();
  ReconcileInput in;
  in.local = {1, *IpAddr::parse("10.201.0.1")};
  in.opts.subnets = {*IpPrefix::parse("10.210.0.0/16")};
  for (uint16_t id = 2; id < 12; ++id) {
    PeerNode p;
    p.id = id;
    p.addr = *IpAddr::parse("10.201.0." + std::to_string(id));
    p.keys = {1};
    in.peers.push_back(p);
  }
  in.keys = &keys;

  auto first = rec.reconcile(in, 100);
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(first->policies_added, 10u + 2u);
  EXPECT_EQ(first->foreign_policies, 1u);
  // Without ESP in this kernel every state is refused, each with the reason.
  for (const auto& e : first->errors) {
    EXPECT_NE(e.err, 0);
    EXPECT_NE(e.op.find("NEWSA spi 0x"), std::string::npos) << e.message();
  }

  auto second = rec.reconcile(in, 101);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(second->policies_added + second->policies_updated + second->policies_deleted, 0u)
      << "what the kernel reports must equal what was planned";

  in.peers.resize(5);  // five peers leave
  auto third = rec.reconcile(in, 102);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->policies_deleted, 0u);
  EXPECT_EQ(third->retiring, 5u + 5u * (first->errors.empty() ? 3u : 0u));
  auto fourth = rec.reconcile(in, 112);
  ASSERT_TRUE(fourth);
  EXPECT_EQ(fourth->policies_deleted, 5u);

  auto out = ns.must("ip xfrm policy list dir out");
  EXPECT_NE(out.find("198.51.100.0/24"), std::string::npos) << "the foreign policy must stay";
  EXPECT_EQ(out.find("mark 0x71e00"), std::string::npos) << "peer 7's policy should be gone:\n" << out;
  EXPECT_NE(out.find("mark 0x61e00"), std::string::npos) << out;
}

// One outbound policy per mark, each on its own /32 (many MiB-sized batches).
xfrm::PolicySpec out_policy(uint32_t i) {
  xfrm::PolicySpec p;
  p.selector.src = *IpPrefix::parse("0.0.0.0/0");
  p.selector.dst = *IpPrefix::parse("10." + std::to_string(64 + i / 65536) + "." +
                                    std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) + "/32");
  p.dir = xfrm::PolicyDir::out;
  p.priority = kPolicyPriority;
  p.mark = xfrm::Mark{(i + 2) << 16 | 0x1e00, 0xfffffff0};
  p.templates.push_back({{*IpAddr::parse("10.201.0.2"), 0, IPPROTO_ESP},
                         *IpAddr::parse("10.201.0.1"),
                         kReqidOut,
                         xfrm::SaMode::tunnel,
                         false});
  return p;
}

TEST(OffloadNetlink, ARefusedOpInABigBatchIsReportedAtItsIndex) {
  TestNetns ns;
  auto scope = ns.enter();
  auto kernel = make_netlink_kernel();
  ASSERT_TRUE(kernel) << kernel.error().message();
  // ~12,000 NEWPOLICY of ~200 bytes: a few 1 MiB batches. Three are refused:
  // duplicates of earlier ones (EEXIST), in the first batch, in a later one and last.
  constexpr uint32_t kPolicies = 12000;
  const size_t dup_at[] = {10, 7777, kPolicies + 2};
  std::vector<KernelOp> ops;
  for (uint32_t i = 0; i < kPolicies; ++i) ops.push_back(KernelOp::add(out_policy(i), false));
  for (size_t at : dup_at)  // ascending: each index is final when inserted
    ops.insert(ops.begin() + static_cast<std::ptrdiff_t>(at),
               KernelOp::add(out_policy(static_cast<uint32_t>(at / 2)), false));
  ASSERT_EQ(ops.size(), kPolicies + 3);
  auto st = (*kernel)->apply(ops);
  ASSERT_TRUE(st) << st.error().message();
  ASSERT_EQ(st->size(), ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    const bool dup = std::find(std::begin(dup_at), std::end(dup_at), i) != std::end(dup_at);
    ASSERT_EQ(!(*st)[i], dup) << "op " << i << ": " << ((*st)[i] ? "accepted" : (*st)[i].error().message());
    if (dup) {
      EXPECT_EQ((*st)[i].error().err, EEXIST);
      EXPECT_EQ((*st)[i].error().op, ops[i].describe());
    }
  }
  auto in_kernel = (*kernel)->policies();
  ASSERT_TRUE(in_kernel) << in_kernel.error().message();
  EXPECT_EQ(in_kernel->size(), kPolicies);

  // Deletes through the same path: one that is gone already is ENOENT at its index.
  std::vector<KernelOp> dels;
  for (uint32_t i = 0; i < kPolicies; ++i) dels.push_back(KernelOp::remove(out_policy(i)));
  dels.insert(dels.begin() + 5000, KernelOp::remove(out_policy(4000)));
  auto dst = (*kernel)->apply(dels);
  ASSERT_TRUE(dst) << dst.error().message();
  for (size_t i = 0; i < dels.size(); ++i) ASSERT_EQ(!(*dst)[i], i == 5000) << "delete " << i;
  EXPECT_EQ((*dst)[5000].error().err, ENOENT);
  auto after = (*kernel)->policies();
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->empty());
}

}  // namespace
}  // namespace sealnet::offload
