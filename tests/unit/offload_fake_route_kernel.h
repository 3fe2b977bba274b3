// A fake rtnetlink kernel for unit tests of the slot routes: rules and routes
// kept like the kernel keys them (EEXIST/ENOENT), every op it was sent recorded,
// and what link down does to the routes through a device.
#pragma once

#include <algorithm>
#include <cerrno>
#include <vector>

#include "offload/route_kernel.h"

namespace sealnet::offload::testing {

class FakeRouteKernel final : public RouteKernel {
 public:
  std::vector<route::Rule> rule_table;
  std::vector<route::Route> route_table;
  std::vector<RouteOp> sent;
  size_t applies = 0;

  Result<std::vector<route::Rule>> rules() override { return rule_table; }
  Result<std::vector<route::Route>> routes() override { return route_table; }
  Result<std::vector<Status>> apply(const std::vector<RouteOp>& ops) override {
    ++applies;
    std::vector<Status> out;
    for (const auto& op : ops) {
      sent.push_back(op);
      out.push_back(one(op));
    }
    return out;
  }
  // What the kernel does to routes through a device that goes down.
  void link_down(int ifindex) {
    std::erase_if(route_table, [&](const route::Route& r) { return r.oif == ifindex; });
  }

 private:
  Status one(const RouteOp& op) {
    auto same_route = [&](const route::Route& r) {
      return r.table == op.route.table && r.dst == op.route.dst;
    };
    switch (op.kind) {
      case RouteOp::Kind::add_rule:
        if (std::ranges::find(rule_table, op.rule) != rule_table.end()) return fail(EEXIST, op.describe());
        rule_table.push_back(op.rule);
        return {};
      case RouteOp::Kind::delete_rule: {
        auto it = std::ranges::find(rule_table, op.rule);
        if (it == rule_table.end()) return fail(ENOENT, op.describe());
        rule_table.erase(it);
        return {};
      }
      case RouteOp::Kind::add_route:
        if (std::ranges::any_of(route_table, same_route)) return fail(EEXIST, op.describe());
        route_table.push_back(op.route);
        return {};
      case RouteOp::Kind::replace_route:
        std::erase_if(route_table, same_route);
        route_table.push_back(op.route);
        return {};
      case RouteOp::Kind::delete_route: {
        auto it = std::ranges::find(route_table, op.route);
        if (it == route_table.end()) return fail(ENOENT, op.describe());
        route_table.erase(it);
        return {};
      }
    }
    return fail(EINVAL, "op");
  }
};

}  // namespace sealnet::offload::testing
