// offload/route_reconciler.h against a fake rtnetlink kernel: one rule and the
// routes per slot in use, idempotent, foreign rules and routes untouched (even in
// sealnet's tables), a changed gateway replaced in place, a removed slot's
// objects deleted, routes re-added after link down deleted them.
#include "offload/route_reconciler.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>

#include "bpf/shared.h"
#include "tests/unit/offload_fake_route_kernel.h"

namespace sealnet::offload {
namespace {

using Kind = RouteOp::Kind;

using testing::FakeRouteKernel;

IpPrefix pfx(const char* s) { return *IpPrefix::parse(s); }
IpAddr ip(const char* s) { return *IpAddr::parse(s); }

struct World {
  fallback::DecisionLog log;
  fallback::ModeBook modes{log};
  FakeRouteKernel kernel;
  RouteReconciler rec{kernel};
  SlotRouteInput in;
  World() {
    modes.set_device({0, 3, "eth0", xfrm::OffloadMode::none}, 0);
    modes.set_device({1, 4, "eth1", xfrm::OffloadMode::crypto}, 0);
    in.modes = &modes;
    in.routes[0] = {{pfx("10.221.0.0/24"), std::nullopt}};
    in.routes[1] = {{pfx("10.222.0.0/24"), std::nullopt}, {pfx("10.230.0.0/16"), ip("10.222.0.254")}};
  }
};

size_t count(const std::vector<RouteOp>& ops, Kind k) {
  return static_cast<size_t>(std::ranges::count_if(ops, [&](const RouteOp& o) { return o.kind == k; }));
}

TEST(RouteReconciler, InstallsOneRulePerSlotAndItsRoutesThenNothing) {
  World w;
  auto r = w.rec.reconcile(w.in);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->rules_added, 2u);
  EXPECT_EQ(r->routes_added, 3u);
  EXPECT_TRUE(r->errors.empty());
  EXPECT_EQ(w.kernel.applies, 1u);  // one batch
  // Slot 1: fwmark sealnet_mark_encrypted(1)/0xFF0 -> table 0x5EA1, via eth1.
  route::Rule want;
  want.family = AF_INET;
  want.priority = kSlotRulePriority;
  want.table = kSlotTableBase + 1;
  want.fwmark = sealnet_mark_encrypted(1);
  want.fwmask = 0xFF0;
  EXPECT_NE(std::ranges::find(w.kernel.rule_table, want), w.kernel.rule_table.end());
  EXPECT_EQ(want.fwmark, 0xD10u);
  for (const auto& rt : w.kernel.route_table) {
    EXPECT_EQ(rt.protocol, kRouteProtocol);
    EXPECT_EQ(rt.oif, rt.table == kSlotTableBase ? 3 : 4) << rt.str();
  }
  // Routes go in before the rules that point at their tables.
  const auto first_rule = std::ranges::find_if(w.kernel.sent, [](const RouteOp& o) { return o.kind == Kind::add_rule; });
  EXPECT_TRUE(std::all_of(first_rule, w.kernel.sent.end(), [](const RouteOp& o) { return o.kind == Kind::add_rule; }));

  auto again = w.rec.reconcile(w.in);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->changes(), 0u);
  EXPECT_EQ(w.kernel.applies, 1u);
}

TEST(RouteReconciler, ForeignRulesAndRoutesStayEvenInSealnetsTables) {
  World w;
  route::Rule foreign_rule;  // someone's rule into our table at another priority
  foreign_rule.priority = 100;
  foreign_rule.table = kSlotTableBase;
  foreign_rule.fwmark = 0xD00;
  foreign_rule.fwmask = 0xFF0;
  route::Rule main_rule;
  main_rule.priority = 32766;
  main_rule.table = 254;
  route::Route foreign_route;  // iproute2's (protocol boot) in our slot-0 table
  foreign_route.table = kSlotTableBase;
  foreign_route.dst = pfx("192.0.2.0/24");
  foreign_route.oif = 3;
  route::Route clash = foreign_route;  // ... and one on the prefix we want
  clash.dst = pfx("10.221.0.0/24");
  route::Route main_route = foreign_route;
  main_route.table = 254;
  main_route.dst = pfx("10.222.0.0/24");
  w.kernel.rule_table = {foreign_rule, main_rule};
  w.kernel.route_table = {foreign_route, clash, main_route};

  auto r = w.rec.reconcile(w.in);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->foreign_rules, 1u);
  EXPECT_EQ(r->foreign_routes, 2u);
  EXPECT_EQ(r->routes_added, 2u);  // slot 1's; slot 0's prefix is held by the foreign route
  ASSERT_EQ(r->errors.size(), 1u);
  EXPECT_EQ(r->errors[0].err, EEXIST);
  EXPECT_NE(r->errors[0].op.find("10.221.0.0/24"), std::string::npos);
  EXPECT_EQ(count(w.kernel.sent, Kind::delete_rule) + count(w.kernel.sent, Kind::delete_route) +
                count(w.kernel.sent, Kind::replace_route),
            0u);
  for (const auto& x : {foreign_route, clash, main_route})
    EXPECT_NE(std::ranges::find(w.kernel.route_table, x), w.kernel.route_table.end());
}

TEST(RouteReconciler, ChangedGatewayIsReplacedAndARemovedSlotIsCleanedUp) {
  World w;
  ASSERT_TRUE(w.rec.reconcile(w.in));
  w.kernel.sent.clear();
  w.in.routes[1][1].via = ip("10.222.0.253");
  w.in.routes.erase(0);
  auto r = w.rec.reconcile(w.in);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->routes_replaced, 1u);
  EXPECT_EQ(r->rules_deleted, 1u);
  EXPECT_EQ(r->routes_deleted, 1u);
  EXPECT_EQ(count(w.kernel.sent, Kind::add_route), 0u);  // replaced in place, never delete-then-add
  for (const auto& rt : w.kernel.route_table) EXPECT_EQ(rt.table, kSlotTableBase + 1) << rt.str();
  EXPECT_EQ(w.kernel.rule_table.size(), 1u);
}

TEST(RouteReconciler, RoutesComeBackAfterLinkUp) {
  World w;
  ASSERT_TRUE(w.rec.reconcile(w.in));
  w.kernel.link_down(4);
  w.modes.link_down(1, 10);
  auto down = w.rec.reconcile(w.in);
  ASSERT_TRUE(down);
  // The rule stays (an empty table sends the lookup on to the next rule); no
  // route is added through a device that is down.
  EXPECT_EQ(down->changes(), 0u);
  EXPECT_EQ(w.kernel.route_table.size(), 1u);
  w.modes.link_up(1, 20);
  auto up = w.rec.reconcile(w.in);
  ASSERT_TRUE(up);
  EXPECT_EQ(up->routes_added, 2u);
  EXPECT_EQ(w.kernel.route_table.size(), 3u);
}

TEST(RouteReconciler, PlanHasOneRulePerFamilyAndNothingForSlotsWithoutRoutes) {
  World w;
  w.in.routes[0].push_back({pfx("fd00:221::/64"), std::nullopt});
  w.modes.set_device({2, 5, "eth2", xfrm::OffloadMode::none}, 0);
  const auto p = plan_slot_routes(w.in);
  EXPECT_EQ(p.rules.size(), 3u);  // slot 0: v4 + v6, slot 1: v4, slot 2: none
  EXPECT_EQ(p.routes.size(), 4u);
  EXPECT_TRUE(owned(p.rules[0]));
  route::Rule other = p.rules[0];
  other.priority = kSlotRulePriority + 1;
  EXPECT_FALSE(owned(other));
  route::Route out_of_range = p.routes[0];
  out_of_range.table = kSlotTableBase + SEALNET_MAX_SLOTS;
  EXPECT_FALSE(owned(out_of_range));
}

}  // namespace
}  // namespace sealnet::offload
