#include "offload/route_kernel.h"

#include <linux/netlink.h>
#include <sys/socket.h>

namespace sealnet::offload {

std::string RouteOp::describe() const {
  switch (kind) {
    case Kind::add_rule:
      return "RTM_NEWRULE " + rule.str();
    case Kind::delete_rule:
      return "RTM_DELRULE " + rule.str();
    case Kind::add_route:
      return "RTM_NEWROUTE " + route.str();
    case Kind::replace_route:
      return "RTM_NEWROUTE replace " + route.str();
    case Kind::delete_route:
      return "RTM_DELROUTE " + route.str();
  }
  return "?";
}

namespace {

class NetlinkRouteKernel final : public RouteKernel {
 public:
  explicit NetlinkRouteKernel(nl::Socket s) : sock_(std::move(s)) {}

  Result<std::vector<route::Rule>> rules() override {
    std::vector<route::Rule> out;
    auto st = dump(route::encode_dump_rules(AF_UNSPEC), "RTM_GETRULE dump", [&](const nl::MessageView& v) -> Status {
      auto r = route::decode_rule(v);
      if (!r) return std::unexpected(r.error());
      out.push_back(*r);
      return {};
    });
    if (!st) return std::unexpected(st.error());
    return out;
  }

  Result<std::vector<route::Route>> routes() override {
    std::vector<route::Route> out;
    auto st =
        dump(route::encode_dump_routes(AF_UNSPEC), "RTM_GETROUTE dump", [&](const nl::MessageView& v) -> Status {
          auto r = route::decode_route(v);
          if (!r) return std::unexpected(r.error());
          if (*r) out.push_back(**r);
          return {};
        });
    if (!st) return std::unexpected(st.error());
    return out;
  }

  Result<std::vector<Status>> apply(const std::vector<RouteOp>& ops) override {
    std::vector<nl::Bytes> reqs;
    reqs.reserve(ops.size());
    for (const RouteOp& op : ops) {
      Result<nl::Bytes> m = [&]() -> Result<nl::Bytes> {
        switch (op.kind) {
          case RouteOp::Kind::add_rule:
            return route::encode_new_rule(op.rule);
          case RouteOp::Kind::delete_rule:
            return route::encode_delete_rule(op.rule);
          case RouteOp::Kind::add_route:
            return route::encode_new_route(op.route, false);
          case RouteOp::Kind::replace_route:
            return route::encode_new_route(op.route, true);
          case RouteOp::Kind::delete_route:
            return route::encode_delete_route(op.route);
        }
        return fail(EINVAL, "encode route op");
      }();
      if (!m) return std::unexpected(m.error());
      reqs.push_back(std::move(*m));
    }
    return nl::statuses(sock_.transact(std::move(reqs)), [&](size_t i) { return ops[i].describe(); });
  }

 private:
  template <typename Fn>
  Status dump(Result<nl::Bytes> req, const char* op, Fn&& each) {
    if (!req) return std::unexpected(req.error());
    auto msgs = sock_.request(std::move(*req), op);
    if (!msgs) return std::unexpected(msgs.error());
    for (const auto& m : *msgs) {
      auto views = nl::split_messages(m);
      if (!views) return std::unexpected(views.error());
      for (const auto& v : *views)
        if (auto st = each(v); !st) return st;
    }
    return {};
  }

  nl::Socket sock_;
};

}  // namespace

Result<std::unique_ptr<RouteKernel>> make_netlink_route_kernel() {
  auto s = nl::Socket::open(NETLINK_ROUTE);
  if (!s) return std::unexpected(s.error());
  return std::make_unique<NetlinkRouteKernel>(std::move(*s));
}

}  // namespace sealnet::offload
