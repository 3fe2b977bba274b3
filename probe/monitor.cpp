#include "probe/monitor.h"

#include <linux/ethtool_netlink.h>
#include <linux/genetlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>

namespace sealnet::probe {

using Kind = DeviceEvent::Kind;

const char* to_string(Kind k) {
  switch (k) {
    case Kind::added:
      return "added";
    case Kind::removed:
      return "removed";
    case Kind::up:
      return "up";
    case Kind::down:
      return "down";
    case Kind::renamed:
      return "renamed";
    case Kind::features_changed:
      return "features-changed";
    case Kind::resync:
      return "resync";
  }
  return "?";
}

std::vector<DeviceEvent> LinkTracker::diff(const LinkInfo* before, const LinkInfo& after) {
  std::vector<DeviceEvent> ev;
  if (!before) {
    ev.push_back({Kind::added, after.ifindex, after.name});
    return ev;
  }
  if (before->name != after.name) ev.push_back({Kind::renamed, after.ifindex, after.name});
  if (before->up() != after.up())
    ev.push_back({after.up() ? Kind::up : Kind::down, after.ifindex, after.name});
  return ev;
}

std::vector<DeviceEvent> LinkTracker::reset(const std::vector<LinkInfo>& links, bool report_changes) {
  std::map<int, LinkInfo> now;
  for (const auto& l : links) now[l.ifindex] = l;
  std::vector<DeviceEvent> ev;
  if (report_changes) {
    for (const auto& [idx, l] : known_)
      if (!now.contains(idx)) ev.push_back({Kind::removed, idx, l.name});
    for (const auto& [idx, l] : now) {
      auto it = known_.find(idx);
      auto d = diff(it == known_.end() ? nullptr : &it->second, l);
      ev.insert(ev.end(), d.begin(), d.end());
    }
  }
  known_ = std::move(now);
  return ev;
}

Result<std::vector<DeviceEvent>> LinkTracker::on_link_message(const nl::MessageView& msg) {
  if (msg.type() != RTM_NEWLINK && msg.type() != RTM_DELLINK) return std::vector<DeviceEvent>{};
  auto l = decode_link(msg);
  if (!l) return std::unexpected(l.error());
  auto it = known_.find(l->ifindex);
  if (msg.type() == RTM_DELLINK) {
    if (it == known_.end()) return std::vector<DeviceEvent>{};
    known_.erase(it);
    return std::vector<DeviceEvent>{{Kind::removed, l->ifindex, l->name}};
  }
  auto ev = diff(it == known_.end() ? nullptr : &it->second, *l);
  known_[l->ifindex] = *l;
  return ev;
}

Result<std::optional<DeviceEvent>> LinkTracker::on_ethtool_message(const nl::MessageView& msg) {
  const auto* g = msg.family_header<genlmsghdr>();
  if (!g || g->cmd != ETHTOOL_MSG_FEATURES_NTF) return std::optional<DeviceEvent>{};
  auto idx = ethtool_ifindex(msg);
  if (!idx) return std::unexpected(idx.error());
  auto it = known_.find(*idx);
  return std::optional<DeviceEvent>{
      DeviceEvent{Kind::features_changed, *idx, it == known_.end() ? "" : it->second.name}};
}

// ---------------------------------------------------------------- sockets --

Result<Monitor> Monitor::make() {
  auto requests = nl::Socket::open(NETLINK_ROUTE);
  if (!requests) return std::unexpected(requests.error());
  auto links = nl::Socket::open(NETLINK_ROUTE);
  if (!links) return std::unexpected(links.error());
  if (auto st = links->join_group(RTNLGRP_LINK); !st) return std::unexpected(st.error());
  auto eth = nl::Socket::open(NETLINK_GENERIC);
  if (!eth) return std::unexpected(eth.error());
  auto fam = nl::resolve_family(*eth, ETHTOOL_GENL_NAME);
  if (!fam) return std::unexpected(fam.error());
  auto grp = fam->mcast_groups.find(ETHTOOL_MCGRP_MONITOR_NAME);
  if (grp == fam->mcast_groups.end())
    return fail(ENOENT, "join ethtool monitor group", {}, "the ethtool family has no monitor group");
  if (auto st = eth->join_group(grp->second); !st) return std::unexpected(st.error());

  Monitor m(std::move(*requests), std::move(*links), std::move(*eth));
  auto base = m.dump_links();
  if (!base) return std::unexpected(base.error());
  m.tracker_.reset(*base, false);
  return m;
}

std::vector<int> Monitor::fds() const { return {links_.fd(), ethtool_.fd()}; }

Result<std::vector<LinkInfo>> Monitor::dump_links() {
  auto req = encode_link_dump();
  if (!req) return std::unexpected(req.error());
  auto msgs = requests_.request(std::move(*req), "RTM_GETLINK", "dump");
  if (!msgs) return std::unexpected(msgs.error());
  std::vector<LinkInfo> out;
  for (const auto& m : *msgs) {
    auto v = nl::split_messages(m);
    if (!v) return std::unexpected(v.error());
    for (const auto& mv : *v) {
      auto l = decode_link(mv);
      if (!l) return std::unexpected(l.error());
      out.push_back(*l);
    }
  }
  return out;
}

Result<std::vector<DeviceEvent>> Monitor::resync() {
  auto links = dump_links();
  if (!links) return std::unexpected(links.error());
  std::vector<DeviceEvent> ev{{Kind::resync, 0, {}}};
  auto d = tracker_.reset(*links, true);
  ev.insert(ev.end(), d.begin(), d.end());
  return ev;
}

Result<std::vector<DeviceEvent>> Monitor::poll(int timeout_ms) {
  pollfd p[2] = {{links_.fd(), POLLIN, 0}, {ethtool_.fd(), POLLIN, 0}};
  if (::poll(p, 2, timeout_ms) < 0 && errno != EINTR) return fail_errno("poll monitor sockets");
  std::vector<DeviceEvent> out;
  bool lost = false;
  auto link_msgs = links_.receive_events(0);
  if (!link_msgs && !nl::is_overrun(link_msgs.error())) return std::unexpected(link_msgs.error());
  lost |= !link_msgs;
  auto eth_msgs = ethtool_.receive_events(0);
  if (!eth_msgs && !nl::is_overrun(eth_msgs.error())) return std::unexpected(eth_msgs.error());
  lost |= !eth_msgs;
  if (link_msgs)
    for (const auto& m : *link_msgs) {
      auto v = nl::split_messages(m);
      if (!v) return std::unexpected(v.error());
      for (const auto& mv : *v) {
        auto ev = tracker_.on_link_message(mv);
        if (!ev) return std::unexpected(ev.error());
        out.insert(out.end(), ev->begin(), ev->end());
      }
    }
  if (eth_msgs)
    for (const auto& m : *eth_msgs) {
      auto v = nl::split_messages(m);
      if (!v) return std::unexpected(v.error());
      for (const auto& mv : *v) {
        auto ev = tracker_.on_ethtool_message(mv);
        if (!ev) return std::unexpected(ev.error());
        if (*ev) out.push_back(**ev);
      }
    }
  if (lost) {
    auto r = resync();
    if (!r) return std::unexpected(r.error());
    out.insert(out.end(), r->begin(), r->end());
  }
  return out;
}

}  // namespace sealnet::probe
