// Device changes that call for a re-probe of one device: added, removed, up or
// down (a link going down flushes its offloaded SAs), renamed, features changed.
// Sources: the rtnetlink link group and the ethtool "monitor" group.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "netlink/link_codec.h"
#include "netlink/transport.h"

namespace sealnet::probe {

struct DeviceEvent {
  enum class Kind : uint8_t {
    added,
    removed,
    up,
    down,
    renamed,
    features_changed,
    // Events were lost (receive buffer overrun): re-probe everything.
    resync,
  };
  Kind kind = Kind::added;
  int ifindex = 0;  // 0 for resync
  std::string name;
  bool operator==(const DeviceEvent&) const = default;
};
const char* to_string(DeviceEvent::Kind k);

// The pure half: the last known state of every device, and the events a new
// rtnetlink or ethtool message means against it.
class LinkTracker {
 public:
  // Replaces what is known; returns the differences as events (for a resync
  // after lost events; empty the first time).
  std::vector<DeviceEvent> reset(const std::vector<LinkInfo>& links, bool report_changes);
  // RTM_NEWLINK / RTM_DELLINK. The kernel sends NEWLINK for many changes
  // (statistics, flags of no interest): only the ones above become events.
  Result<std::vector<DeviceEvent>> on_link_message(const nl::MessageView& msg);
  // ETHTOOL_MSG_FEATURES_NTF; other ethtool notifications give no event.
  Result<std::optional<DeviceEvent>> on_ethtool_message(const nl::MessageView& msg);

  const std::map<int, LinkInfo>& known() const { return known_; }

 private:
  std::vector<DeviceEvent> diff(const LinkInfo* before, const LinkInfo& after);
  std::map<int, LinkInfo> known_;
};

// The socket half, in the calling thread's network namespace: subscribes first,
// then dumps the links, so no change between the two is missed.
class Monitor {
 public:
  static Result<Monitor> make();

  // Waits up to timeout_ms; returns the events that arrived (possibly none).
  Result<std::vector<DeviceEvent>> poll(int timeout_ms);
  // For an event loop: both sockets become readable when events are queued.
  std::vector<int> fds() const;
  const LinkTracker& tracker() const { return tracker_; }

 private:
  Monitor(nl::Socket requests, nl::Socket links, nl::Socket ethtool)
      : requests_(std::move(requests)), links_(std::move(links)), ethtool_(std::move(ethtool)) {}
  Result<std::vector<LinkInfo>> dump_links();
  Result<std::vector<DeviceEvent>> resync();

  nl::Socket requests_;  // NETLINK_ROUTE, for dumps
  nl::Socket links_;     // NETLINK_ROUTE, RTNLGRP_LINK
  nl::Socket ethtool_;   // NETLINK_GENERIC, ethtool "monitor"
  LinkTracker tracker_;
};

}  // namespace sealnet::probe
