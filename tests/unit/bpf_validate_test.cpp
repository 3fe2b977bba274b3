// What the loader refuses before it writes a map, and the metric names the
// agent prints: pure functions, no kernel.
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <set>

#include "bpf/programs.h"

namespace sealnet::bpf {
namespace {

TEST(Validate, NodeIdMustFitTheMark) {
  const sealnet_node_value v{.ipv4 = {192, 0, 2, 1}, .ipv6 = {}, .peer_key_id = 1, .pad = 0,
                             .flags = SEALNET_NODE_HAS_IPV4};
  EXPECT_TRUE(validate(1, v));
  EXPECT_TRUE(validate(0xFFFE, v));
  EXPECT_FALSE(validate(0xFFFF, v));  // kept back
  auto bad = validate(0x10000, v);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("node 65536"), std::string::npos) << bad.error().message();
  EXPECT_FALSE(validate(0, v));
}

TEST(Validate, PeerKeyIdIsZeroOrOnTheRing) {
  sealnet_node_value v{};
  v.flags = SEALNET_NODE_HAS_IPV4;
  v.peer_key_id = 0;
  EXPECT_TRUE(validate(1, v));
  v.peer_key_id = 15;
  EXPECT_TRUE(validate(1, v));
  v.peer_key_id = 16;
  EXPECT_FALSE(validate(1, v));
  v.peer_key_id = 1;
  v.flags = 0x80;
  EXPECT_FALSE(validate(1, v));
}

TEST(Validate, IpcacheValue) {
  EXPECT_TRUE(validate(sealnet_ipcache_value{.node_id = 0, .flags = 0}));
  EXPECT_TRUE(validate(sealnet_ipcache_value{.node_id = 0xFFFE, .flags = SEALNET_IPCACHE_POD_CIDR}));
  EXPECT_FALSE(validate(sealnet_ipcache_value{.node_id = 0xFFFF, .flags = SEALNET_IPCACHE_POD_CIDR}));
  EXPECT_FALSE(validate(sealnet_ipcache_value{.node_id = 0x10000, .flags = 0}));
  EXPECT_FALSE(validate(sealnet_ipcache_value{.node_id = 1, .flags = 0x100}));
}

TEST(Validate, DeviceSlotAndMode) {
  EXPECT_TRUE(validate(sealnet_device_value{.slot = 15, .mode = SEALNET_MODE_PACKET, .flags = 0, .pad = 0}));
  auto bad = validate(sealnet_device_value{.slot = 16, .mode = 0, .flags = 0, .pad = 0});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("device.slot"), std::string::npos) << bad.error().message();
  EXPECT_FALSE(validate(sealnet_device_value{.slot = 1, .mode = SEALNET_MODE_COUNT, .flags = 0, .pad = 0}));
}

// The presence bits of the array maps are the loader's: a caller setting one
// would make an empty slot look used (or be silently overwritten).
TEST(Validate, PresenceBitsAreTheLoaders) {
  sealnet_node_value n{};
  n.flags = SEALNET_NODE_HAS_IPV4 | SEALNET_NODE_PRESENT;
  EXPECT_FALSE(validate(1, n));
  EXPECT_FALSE(validate(sealnet_device_value{.slot = 1, .mode = 0, .flags = SEALNET_DEVICE_PRESENT, .pad = 0}));
}

TEST(Validate, Config) {
  EXPECT_TRUE(validate(sealnet_config{.local_node_id = 0, .key_id = 0, .fail_closed = 0, .encrypt_host = 0, .events = 0}));
  EXPECT_TRUE(validate(sealnet_config{.local_node_id = 1, .key_id = 15, .fail_closed = 1, .encrypt_host = 1, .events = 0}));
  EXPECT_FALSE(validate(sealnet_config{.local_node_id = 1, .key_id = 0, .fail_closed = 1, .encrypt_host = 0, .events = 0}));
  EXPECT_FALSE(validate(sealnet_config{.local_node_id = 0x10000, .key_id = 1, .fail_closed = 1, .encrypt_host = 0, .events = 0}));
  EXPECT_FALSE(validate(sealnet_config{.local_node_id = 1, .key_id = 1, .fail_closed = 2, .encrypt_host = 0, .events = 0}));
}

uint32_t fib_reason(int rc) { return static_cast<uint32_t>(SEALNET_M_FIB_RET_BASE) + static_cast<uint32_t>(rc); }
std::string fib(int rc) { return metric_name(fib_reason(rc)); }

TEST(MetricName, EveryReasonHasADistinctName) {
  std::set<std::string> names;
  for (uint32_t i = 0; i < SEALNET_M_COUNT; ++i) {
    const auto n = metric_name(i);
    EXPECT_NE(n, "unknown-" + std::to_string(i));
    EXPECT_TRUE(names.insert(n).second) << n;
  }
  EXPECT_EQ(metric_name(SEALNET_M_WIRE_PLAINTEXT_DROPPED), "plaintext-to-remote");
  // The FIB's return codes by their BPF_FIB_LKUP_RET_* names, not "fib-ret-7".
  EXPECT_EQ(fib(BPF_FIB_LKUP_RET_NO_NEIGH), "fib-no-neigh");
  EXPECT_EQ(fib(BPF_FIB_LKUP_RET_FWD_DISABLED), "fib-fwd-disabled");
  EXPECT_EQ(fib(BPF_FIB_LKUP_RET_FRAG_NEEDED), "fib-frag-needed");
  EXPECT_EQ(fib(BPF_FIB_LKUP_RET_BLACKHOLE), "fib-blackhole");
  EXPECT_EQ(fib(BPF_FIB_LKUP_RET_NO_SRC_ADDR), "fib-no-src-addr");
  EXPECT_EQ(metric_name(SEALNET_M_FIB_RET_BASE + 12), "fib-ret-12");
  EXPECT_EQ(metric_name(SEALNET_M_FIB_RET_BASE + SEALNET_FIB_RET_HELPER_ERROR), "fib-helper-error");
  // Drops: the verdicts the programs shoot, nothing else (docs/status.md lists them).
  std::set<std::string> drops;
  for (uint32_t i = 0; i < SEALNET_M_COUNT; ++i)
    if (metric_is_drop(i)) drops.insert(metric_name(i));
  EXPECT_EQ(drops, (std::set<std::string>{"malformed", "unknown-node", "no-key", "unknown-device", "fib-failed",
                                          "plaintext-to-remote", "node-no-address", "host-misrouted"}));
  for (uint32_t m : std::initializer_list<uint32_t>{SEALNET_M_NO_KEY, SEALNET_M_WIRE_PLAINTEXT_DROPPED, SEALNET_M_MALFORMED, SEALNET_M_FIB_FAILED})
    EXPECT_TRUE(metric_is_drop(m)) << metric_name(m);
  for (uint32_t m : std::initializer_list<uint32_t>{SEALNET_M_MARK_CRYPTO, SEALNET_M_LOCAL_PASS, SEALNET_M_WIRE_PLAINTEXT_PASSED,
                     SEALNET_M_WIRE_ESP_PACKET, fib_reason(BPF_FIB_LKUP_RET_NO_NEIGH)})
    EXPECT_FALSE(metric_is_drop(m)) << metric_name(m);
  EXPECT_EQ(metric_name(SEALNET_M_COUNT), "unknown-" + std::to_string(SEALNET_M_COUNT));
}

}  // namespace
}  // namespace sealnet::bpf
