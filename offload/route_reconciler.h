// Makes the encrypted packet leave through the device whose SA encrypted it. An
// outbound state's output mark is sealnet_mark_encrypted(slot) / 0xFF0; the
// kernel looks the outer route up with that mark (xfrm_bundle_create), so one
// policy-routing rule per slot in use (fwmark -> the slot's table) and the slot's
// routes in that table (through the slot's device) pick the device, even when
// the main table would pick another one. Without them a crypto-offloaded SA whose
// route leaves elsewhere is silently encrypted in software.
//
//  - Owned: rules with priority kSlotRulePriority into a table of the slot range
//    [kSlotTableBase, kSlotTableBase + SEALNET_MAX_SLOTS); routes in that range
//    with protocol kRouteProtocol. Everything else is foreign and left alone.
//  - Idempotent dump -> diff -> batched apply; a changed route is replaced, not
//    deleted and re-added; owned objects no longer wanted are deleted.
//  - Routes of a slot whose link is down are not added (link down deletes the
//    kernel's routes through the device; the next run after link up re-adds them).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "core/ip.h"
#include "fallback/modes.h"
#include "offload/route_kernel.h"

namespace sealnet::offload {

inline constexpr uint32_t kSlotTableBase = 0x5EA0;     // table of slot s: kSlotTableBase + s
inline constexpr uint32_t kSlotRulePriority = 0x5EA0;  // after "local" (0), before "main" (32766)
inline constexpr uint8_t kRouteProtocol = 0x5E;        // rtm_protocol of sealnet's routes (not in rt_protos)
uint32_t slot_table(uint8_t slot);
bool owned(const route::Rule& r);
bool owned(const route::Route& r);

// What a slot's table routes: a destination (the node network, or a default)
// and, when it is not on-link, the gateway; the device is the slot's.
struct SlotRoute {
  IpPrefix dst;
  std::optional<IpAddr> via;
};

struct SlotRouteInput {
  const fallback::ModeBook* modes = nullptr;        // the slots in use, their devices and link state
  std::map<uint8_t, std::vector<SlotRoute>> routes;  // per slot
};

struct SlotRoutePlan {
  std::vector<route::Rule> rules;
  std::vector<route::Route> routes;
};
// Pure: every slot with a device gets one rule per address family of its routes;
// routes only for slots whose link is up.
SlotRoutePlan plan_slot_routes(const SlotRouteInput& in);

struct RouteReconcileResult {
  size_t rules_added = 0, rules_deleted = 0;
  size_t routes_added = 0, routes_replaced = 0, routes_deleted = 0;
  size_t foreign_rules = 0, foreign_routes = 0;  // seen in (or pointing at) our tables and left alone
  std::vector<Error> errors;                     // ops the kernel refused
  size_t changes() const { return rules_added + rules_deleted + routes_added + routes_replaced + routes_deleted; }
};

class RouteReconciler {
 public:
  explicit RouteReconciler(RouteKernel& kernel) : kernel_(kernel) {}
  Result<RouteReconcileResult> reconcile(const SlotRouteInput& in);

 private:
  RouteKernel& kernel_;
};

}  // namespace sealnet::offload
