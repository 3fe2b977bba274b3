// The monitor's pure half: which rtnetlink and ethtool messages become which
// device events, including recorded notifications from the host kernel.
#include <gtest/gtest.h>
#include <linux/ethtool_netlink.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>

#include "probe/monitor.h"
#include "tests/unit/probe_recorded_replies.h"

namespace sealnet::probe {
namespace {

using Kind = DeviceEvent::Kind;

nl::Bytes link_message(uint16_t type, int ifindex, const std::string& name, unsigned flags) {
  nl::MessageBuilder b(type, 0);
  ifinfomsg ifi{};
  ifi.ifi_index = ifindex;
  ifi.ifi_flags = flags;
  b.header(ifi);
  b.put_str(IFLA_IFNAME, name);
  b.put_u32(IFLA_MTU, 1500);
  return *std::move(b).finish();
}

std::vector<DeviceEvent> feed(LinkTracker& t, const nl::Bytes& msg) {
  auto v = nl::split_messages(msg);
  EXPECT_TRUE(v);
  auto ev = t.on_link_message(v->front());
  EXPECT_TRUE(ev) << ev.error().message();
  return *ev;
}

LinkInfo link(int ifindex, const std::string& name, bool up) {
  LinkInfo l;
  l.ifindex = ifindex;
  l.name = name;
  l.flags = up ? IFF_UP : 0;
  return l;
}

TEST(LinkTracker, AddedUpDownRenamedRemoved) {
  LinkTracker t;
  EXPECT_TRUE(t.reset({link(1, "lo", true)}, false).empty());
  EXPECT_EQ(feed(t, link_message(RTM_NEWLINK, 4, "eni0", 0)),
            (std::vector<DeviceEvent>{{Kind::added, 4, "eni0"}}));
  // A NEWLINK that changes nothing the probe cares about is no event.
  EXPECT_TRUE(feed(t, link_message(RTM_NEWLINK, 4, "eni0", 0)).empty());
  EXPECT_EQ(feed(t, link_message(RTM_NEWLINK, 4, "eni0", IFF_UP)),
            (std::vector<DeviceEvent>{{Kind::up, 4, "eni0"}}));
  EXPECT_EQ(feed(t, link_message(RTM_NEWLINK, 4, "wan0", 0)),
            (std::vector<DeviceEvent>{{Kind::renamed, 4, "wan0"}, {Kind::down, 4, "wan0"}}));
  EXPECT_EQ(feed(t, link_message(RTM_DELLINK, 4, "wan0", 0)),
            (std::vector<DeviceEvent>{{Kind::removed, 4, "wan0"}}));
  EXPECT_TRUE(feed(t, link_message(RTM_DELLINK, 4, "wan0", 0)).empty());
  EXPECT_EQ(t.known().size(), 1u);
}

TEST(LinkTracker, RecordedDownNotification) {
  LinkTracker t;
  t.reset({link(2, "vb", true), link(3, "va", true)}, false);
  auto v = nl::split_messages(nl::ByteView(recorded::kLinkNtf_0));
  ASSERT_TRUE(v);
  auto ev = t.on_link_message(v->front());
  ASSERT_TRUE(ev);
  EXPECT_EQ(*ev, (std::vector<DeviceEvent>{{Kind::down, 2, "vb"}}));
}

TEST(LinkTracker, RecordedFeatureNotificationNamesTheDevice) {
  LinkTracker t;
  t.reset({link(3, "va", true)}, false);
  auto v = nl::split_messages(nl::ByteView(recorded::kFeaturesNtf_0));
  ASSERT_TRUE(v);
  auto ev = t.on_ethtool_message(v->front());
  ASSERT_TRUE(ev);
  ASSERT_TRUE(*ev);
  EXPECT_EQ(**ev, (DeviceEvent{Kind::features_changed, 3, "va"}));
  // A features GET reply is not a change.
  auto reply = nl::split_messages(nl::ByteView(recorded::kFeaturesCompact_0));
  auto none = t.on_ethtool_message(reply->front());
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
}

TEST(LinkTracker, ResyncReportsWhatChangedMeanwhile) {
  LinkTracker t;
  t.reset({link(1, "lo", true), link(2, "a", true), link(3, "b", true)}, false);
  auto ev = t.reset({link(1, "lo", true), link(3, "b", false), link(9, "c", true)}, true);
  EXPECT_EQ(ev,
            (std::vector<DeviceEvent>{{Kind::removed, 2, "a"}, {Kind::down, 3, "b"}, {Kind::added, 9, "c"}}));
}

TEST(LinkTracker, OtherMessagesAreIgnored) {
  LinkTracker t;
  auto v = nl::split_messages(nl::ByteView(recorded::kGetSaMissing_0));
  auto ev = t.on_link_message(v->front());
  ASSERT_TRUE(ev);
  EXPECT_TRUE(ev->empty());
}

TEST(DeviceEvent, KindNames) {
  EXPECT_STREQ(to_string(Kind::features_changed), "features-changed");
  EXPECT_STREQ(to_string(Kind::resync), "resync");
}

}  // namespace
}  // namespace sealnet::probe
