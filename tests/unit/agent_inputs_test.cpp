// bench/driver/agent_inputs: the agent's desired state for the XFRM driver, from
// the config, the key file, the slots and the main table alone.
#include "bench/driver/agent_inputs.h"

#include <gtest/gtest.h>

#include "tests/unit/offload_fixtures.h"

namespace sealnet::driver {
namespace {

constexpr const char* kConfig = R"(node: a
peers:
  - {name: a, id: 1, addresses: [10.221.0.1], pod_cidrs: [10.230.1.0/24]}
  - {name: b, id: 2, addresses: [10.221.0.2], pod_cidrs: [10.230.2.0/24], keys: [1]}
  - {name: c, id: 3, addresses: [10.9.0.3], pod_cidrs: [10.230.3.0/24], uplinks: 2}
  - {name: v6, id: 4, addresses: ["fd00::4"]}
keys: {file: /etc/sealnet/keys}
uplinks: [eth0]
)";

route::Route rt(const char* dst, int oif, const char* via = nullptr) {
  route::Route r;
  r.table = agent::kMainTable;
  r.dst = *IpPrefix::parse(dst);
  r.oif = oif;
  if (via) r.gateway = *IpAddr::parse(via);
  return r;
}

probe::LinkInfo link(int ifindex, const char* name) {
  probe::LinkInfo l;
  l.ifindex = ifindex;
  l.name = name;
  return l;
}

struct AgentInputsTest : ::testing::Test {
  void SetUp() override {
    auto c = config::parse_agent_config(kConfig, "test.yaml", {"a"});
    ASSERT_TRUE(c) << c.error().message();
    cfg = std::move(*c);
    keyset = offload::testing::key_set(offload::testing::kK1 + offload::testing::kK2);
    modes.set_device({0, 5, "eth0", xfrm::OffloadMode::crypto}, 0);
  }
  config::AgentConfig cfg;
  keys::KeySet keyset;
  fallback::DecisionLog log;
  fallback::ModeBook modes{log};
  std::map<int, probe::LinkInfo> links = {{5, link(5, "eth0")}, {6, link(6, "eth1")}};
  std::vector<route::Route> main = {rt("10.221.0.0/24", 5), rt("10.230.2.0/24", 5, "10.221.0.2"),
                                    rt("10.9.0.0/16", 6), rt("0.0.0.0/0", 6, "10.9.0.254")};
};

TEST_F(AgentInputsTest, PeersAsTheAgentMapsThem) {
  const auto in = desired(cfg, keyset, modes, {{5, 0}}, links, main);
  ASSERT_EQ(in.problems.size(), 1u);
  EXPECT_TRUE(in.problems[0].starts_with("peer v6 has no IPv4 address, the outer family of node a")) << in.problems[0];
  EXPECT_EQ(in.xfrm.local.id, 1);
  EXPECT_EQ(in.xfrm.local.addr, *IpAddr::parse("10.221.0.1"));
  EXPECT_EQ(in.xfrm.keys, &keyset);
  ASSERT_EQ(in.xfrm.peers.size(), 2u);
  const auto& b = in.xfrm.peers[0];
  EXPECT_EQ(b.id, 2);
  EXPECT_EQ(b.keys, (std::vector<uint8_t>{1}));  // announced
  EXPECT_EQ(b.slots, (std::vector<uint8_t>{0}));
  EXPECT_EQ(b.rx_slot, std::optional<uint8_t>(0));  // eth0 routes to it
  EXPECT_EQ(b.dsts, (std::vector<IpPrefix>{*IpPrefix::parse("10.230.2.0/24")}));
  const auto& c = in.xfrm.peers[1];
  EXPECT_EQ(c.keys, (std::vector<uint8_t>{1, 2}));  // none announced: every key we hold
  EXPECT_EQ(c.slots, (std::vector<uint8_t>{0, 1}));
  EXPECT_FALSE(c.rx_slot);  // reached through a device that is no uplink
  EXPECT_EQ(in.xfrm.opts.subnets,
            (std::vector<IpPrefix>{*IpPrefix::parse("10.230.2.0/24"), *IpPrefix::parse("10.230.3.0/24")}));
}

TEST_F(AgentInputsTest, SlotTablesCopyTheMainRoutesThroughTheSlotDevice) {
  const auto in = desired(cfg, keyset, modes, {{5, 0}}, links, main);
  EXPECT_EQ(in.routes.modes, &modes);
  ASSERT_EQ(in.routes.routes.size(), 1u);
  const auto& r = in.routes.routes.at(0);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].dst, *IpPrefix::parse("10.221.0.0/24"));
  EXPECT_FALSE(r[0].via);
  EXPECT_EQ(r[1].dst, *IpPrefix::parse("10.230.2.0/24"));
  EXPECT_EQ(r[1].via, *IpAddr::parse("10.221.0.2"));
}

}  // namespace
}  // namespace sealnet::driver
