// Everything the slot-route reconciler asks the kernel's policy routing, behind
// one interface: the real one speaks rtnetlink through netlink/transport's batched
// Socket; unit tests inject a fake (tests/unit/route_reconciler_test.cpp).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "netlink/route_codec.h"

namespace sealnet::offload {

struct RouteOp {
  enum class Kind : uint8_t { add_rule, delete_rule, add_route, replace_route, delete_route };
  Kind kind = Kind::add_rule;
  route::Rule rule;              // the rule ops
  route::Route route;            // the route ops
  std::string describe() const;  // "RTM_NEWRULE fwmark 0xd10/0xff0 lookup 24225 priority 24224"
};

class RouteKernel {
 public:
  virtual ~RouteKernel() = default;
  virtual Result<std::vector<route::Rule>> rules() = 0;
  // Unicast routes with an output device, of every table and family.
  virtual Result<std::vector<route::Route>> routes() = 0;
  // One Status per op, in order; the call fails only when the transport does.
  virtual Result<std::vector<Status>> apply(const std::vector<RouteOp>& ops) = 0;
};

// rtnetlink in the calling thread's current network namespace.
Result<std::unique_ptr<RouteKernel>> make_netlink_route_kernel();

}  // namespace sealnet::offload
