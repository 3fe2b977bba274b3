// offload/route_reconciler.h + the rtnetlink RouteKernel against the host kernel
// in a private namespace (policy routing works on the host; no ESP needed): the
// per-slot rule and routes go in, read back as iproute2 shows them, a second run
// sends nothing, foreign rules and routes stay, link down/up re-adds the routes
// the kernel deleted, a slot that leaves is cleaned up.
#include <gtest/gtest.h>
#include <net/if.h>

#include "offload/route_reconciler.h"
#include "tests/host/netns_fixture.h"

namespace sealnet::offload {
namespace {

using testing::TestNetns;

TEST(OffloadRoutes, SlotRulesAndRoutesOnTheRealKernel) {
  TestNetns ns;
  ns.must("ip link add s0 type veth peer name p0 && ip link add s1 type veth peer name p1");
  ns.must("for d in s0 p0 s1 p1; do ip link set $d up; done");
  ns.must("ip addr add 10.221.0.1/24 dev s0 && ip addr add 10.222.0.1/24 dev s1");
  // Foreign: a rule at our priority into another table, a route of another
  // protocol inside our slot-1 table, and the main table.
  ns.must("ip rule add fwmark 0x1 lookup 100 priority 24224");
  ns.must("ip route add 192.0.2.0/24 dev s0 table 24225");
  auto scope = ns.enter();
  auto kernel = make_netlink_route_kernel();
  ASSERT_TRUE(kernel) << kernel.error().message();
  fallback::DecisionLog log;
  fallback::ModeBook modes(log);
  const int s0 = static_cast<int>(if_nametoindex("s0")), s1 = static_cast<int>(if_nametoindex("s1"));
  ASSERT_GT(s0, 0);
  modes.set_device({0, s0, "s0", xfrm::OffloadMode::none}, 0);
  modes.set_device({1, s1, "s1", xfrm::OffloadMode::crypto}, 0);
  SlotRouteInput in;
  in.modes = &modes;
  in.routes[0] = {{*IpPrefix::parse("10.221.0.0/24"), std::nullopt}};
  in.routes[1] = {{*IpPrefix::parse("10.222.0.0/24"), std::nullopt},
                  {*IpPrefix::parse("10.230.0.0/16"), *IpAddr::parse("10.222.0.2")}};
  RouteReconciler rec(**kernel);

  auto first = rec.reconcile(in);
  ASSERT_TRUE(first) << first.error().message();
  for (const auto& e : first->errors) ADD_FAILURE() << e.message();
  EXPECT_EQ(first->rules_added, 2u);
  EXPECT_EQ(first->routes_added, 3u);
  EXPECT_EQ(first->foreign_routes, 1u);
  const std::string rules = ns.must("ip rule show");
  EXPECT_NE(rules.find("24224:\tfrom all fwmark 0xd00/0xff0 lookup 24224"), std::string::npos) << rules;
  EXPECT_NE(rules.find("24224:\tfrom all fwmark 0xd10/0xff0 lookup 24225"), std::string::npos) << rules;
  EXPECT_NE(rules.find("fwmark 0x1 lookup 100"), std::string::npos) << rules;
  const std::string t1 = ns.must("ip route show table 24225");
  EXPECT_NE(t1.find("10.222.0.0/24 dev s1 proto 94 scope link"), std::string::npos) << t1;
  EXPECT_NE(t1.find("10.230.0.0/16 via 10.222.0.2 dev s1 proto 94"), std::string::npos) << t1;
  EXPECT_NE(t1.find("192.0.2.0/24 dev s0"), std::string::npos) << t1;
  // The kernel now routes the slot-1 output mark out of s1, whatever main says.
  EXPECT_NE(ns.must("ip route get 10.230.1.1 mark 0xd10").find("dev s1"), std::string::npos);

  auto second = rec.reconcile(in);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(second->changes(), 0u);
  EXPECT_TRUE(second->errors.empty());

  // Link down deletes the routes through s1; after link up they come back.
  ns.must("ip link set s1 down");
  modes.link_down(1, 10);
  EXPECT_EQ(ns.must("ip route show table 24225 proto 94"), "");
  auto down = rec.reconcile(in);
  ASSERT_TRUE(down) << down.error().message();
  EXPECT_EQ(down->changes(), 0u);
  ns.must("ip link set s1 up");
  modes.link_up(1, 20);
  auto up = rec.reconcile(in);
  ASSERT_TRUE(up) << up.error().message();
  for (const auto& e : up->errors) ADD_FAILURE() << e.message();
  EXPECT_EQ(up->routes_added, 2u);
  EXPECT_NE(ns.must("ip route get 10.230.1.1 mark 0xd10").find("via 10.222.0.2 dev s1"), std::string::npos);

  // Slot 0 leaves: its rule and route go, nothing foreign does.
  in.routes.erase(0);
  auto gone = rec.reconcile(in);
  ASSERT_TRUE(gone) << gone.error().message();
  EXPECT_EQ(gone->rules_deleted, 1u);
  EXPECT_EQ(gone->routes_deleted, 1u);
  EXPECT_EQ(ns.must("ip rule show | grep -c 'lookup 24224' || true"), "0\n");
  EXPECT_EQ(ns.must("ip route show table 24224"), "");
  EXPECT_NE(ns.must("ip rule show").find("fwmark 0x1 lookup 100"), std::string::npos);
  EXPECT_NE(ns.must("ip route show table 24225").find("192.0.2.0/24 dev s0"), std::string::npos);
}

}  // namespace
}  // namespace sealnet::offload
