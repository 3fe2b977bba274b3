// What the loader refuses before it writes a map, and the metric names the
// agent prints: pure functions, no kernel.
#include <gtest/gtest.h>

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

TEST(MetricName, EveryReasonHasADistinctName) {
  std::set<std::string> names;
  for (uint32_t i = 0; i < SEALNET_M_COUNT; ++i) {
    const auto n = metric_name(i);
    EXPECT_NE(n, "unknown-" + std::to_string(i));
    EXPECT_TRUE(names.insert(n).second) << n;
  }
  EXPECT_EQ(metric_name(SEALNET_M_WIRE_PLAINTEXT_DROPPED), "plaintext-to-remote");
  EXPECT_EQ(metric_name(SEALNET_M_FIB_RET_BASE + 7), "fib-ret-7");
  EXPECT_EQ(metric_name(SEALNET_M_FIB_RET_BASE + SEALNET_FIB_RET_HELPER_ERROR), "fib-ret-error");
  EXPECT_EQ(metric_name(SEALNET_M_COUNT), "unknown-" + std::to_string(SEALNET_M_COUNT));
}

}  // namespace
}  // namespace sealnet::bpf
