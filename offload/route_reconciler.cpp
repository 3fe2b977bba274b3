#include "offload/route_reconciler.h"

#include <sys/socket.h>

#include <set>
#include <string>

#include "bpf/shared.h"
#include "offload/binding.h"

namespace sealnet::offload {

uint32_t slot_table(uint8_t slot) { return kSlotTableBase + slot; }

namespace {

bool in_slot_range(uint32_t table) { return table >= kSlotTableBase && table < kSlotTableBase + SEALNET_MAX_SLOTS; }

std::string rule_key(const route::Rule& r) {
  return std::to_string(r.family) + "|" + r.str();
}

// The kernel keys a route by (table, prefix) here (no tos, no metric).
std::string route_key(const route::Route& r) { return std::to_string(r.table) + "|" + r.dst.str(); }

}  // namespace

bool owned(const route::Rule& r) { return r.priority == kSlotRulePriority && in_slot_range(r.table); }
bool owned(const route::Route& r) { return r.protocol == kRouteProtocol && in_slot_range(r.table); }

SlotRoutePlan plan_slot_routes(const SlotRouteInput& in) {
  SlotRoutePlan p;
  if (!in.modes) return p;
  for (const auto& [slot, st] : in.modes->slots()) {
    if (st.dev.ifindex <= 0) continue;
    auto it = in.routes.find(slot);
    if (it == in.routes.end()) continue;
    std::set<uint8_t> families;
    for (const auto& r : it->second) {
      families.insert(r.dst.addr.family);
      if (!st.up) continue;
      route::Route rt;
      rt.table = slot_table(slot);
      rt.dst = r.dst;
      rt.oif = st.dev.ifindex;
      rt.gateway = r.via;
      rt.protocol = kRouteProtocol;
      p.routes.push_back(rt);
    }
    for (uint8_t f : families) {
      route::Rule rule;
      rule.family = f;
      rule.priority = kSlotRulePriority;
      rule.table = slot_table(slot);
      rule.fwmark = sealnet_mark_encrypted(slot);
      rule.fwmask = kSetMarkMask;
      p.rules.push_back(rule);
    }
  }
  return p;
}

Result<RouteReconcileResult> RouteReconciler::reconcile(const SlotRouteInput& in) {
  RouteReconcileResult res;
  auto krules = kernel_.rules();
  if (!krules) return std::unexpected(krules.error());
  auto kroutes = kernel_.routes();
  if (!kroutes) return std::unexpected(kroutes.error());

  std::map<std::string, route::Rule> have_rules;
  for (const auto& r : *krules) {
    if (owned(r))
      have_rules[rule_key(r)] = r;
    else if (in_slot_range(r.table))
      ++res.foreign_rules;
  }
  std::map<std::string, route::Route> have_routes;
  std::set<std::string> foreign_route_keys;
  for (const auto& r : *kroutes) {
    if (owned(r)) {
      have_routes[route_key(r)] = r;
    } else if (in_slot_range(r.table)) {
      ++res.foreign_routes;
      foreign_route_keys.insert(route_key(r));
    }
  }

  const SlotRoutePlan want = plan_slot_routes(in);
  std::vector<RouteOp> ops;
  // Routes before rules: a rule into an empty table is harmless (the lookup goes
  // on to the next rule) but pointless.
  std::set<std::string> want_routes;
  for (const auto& r : want.routes) {
    const std::string k = route_key(r);
    want_routes.insert(k);
    auto it = have_routes.find(k);
    if (it == have_routes.end()) {
      if (foreign_route_keys.contains(k)) {
        res.errors.push_back(Error{EEXIST, "RTM_NEWROUTE " + r.str(), {}, "a route that is not sealnet's holds it"});
        continue;
      }
      ops.push_back({RouteOp::Kind::add_route, {}, r});
    } else if (!(it->second == r)) {
      ops.push_back({RouteOp::Kind::replace_route, {}, r});
    }
  }
  std::set<std::string> want_rules;
  for (const auto& r : want.rules) {
    want_rules.insert(rule_key(r));
    if (!have_rules.contains(rule_key(r))) ops.push_back({RouteOp::Kind::add_rule, r, {}});
  }
  for (const auto& [k, r] : have_rules)
    if (!want_rules.contains(k)) ops.push_back({RouteOp::Kind::delete_rule, r, {}});
  for (const auto& [k, r] : have_routes)
    if (!want_routes.contains(k)) ops.push_back({RouteOp::Kind::delete_route, {}, r});
  if (ops.empty()) return res;

  auto st = kernel_.apply(ops);
  if (!st) return std::unexpected(st.error());
  for (size_t i = 0; i < ops.size(); ++i) {
    const bool deleting = ops[i].kind == RouteOp::Kind::delete_rule || ops[i].kind == RouteOp::Kind::delete_route;
    // A route gone by itself (its device went down meanwhile) needs no delete.
    if (!(*st)[i] && !(deleting && (*st)[i].error().err == ENOENT)) {
      res.errors.push_back((*st)[i].error());
      continue;
    }
    switch (ops[i].kind) {
      case RouteOp::Kind::add_rule: ++res.rules_added; break;
      case RouteOp::Kind::delete_rule: ++res.rules_deleted; break;
      case RouteOp::Kind::add_route: ++res.routes_added; break;
      case RouteOp::Kind::replace_route: ++res.routes_replaced; break;
      case RouteOp::Kind::delete_route: ++res.routes_deleted; break;
    }
  }
  return res;
}

}  // namespace sealnet::offload
