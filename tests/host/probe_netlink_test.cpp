// netlink/transport.h's socket on the host kernel, in a private namespace: many
// requests in one send matched to their answers, multi-part dumps, extack text,
// and a receive overrun surfaced as its own error.
#include <gtest/gtest.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include "netlink/link_codec.h"
#include "netlink/transport.h"
#include "netlink/xfrm_codec.h"
#include "tests/host/netns_fixture.h"

namespace sealnet::nl {
namespace {

using testing::TestNetns;

TEST(NetlinkSocket, ManyRequestsOneAnswerEachInOrder) {
  TestNetns ns;
  auto scope = ns.enter();
  auto s = Socket::open(NETLINK_ROUTE);
  ASSERT_TRUE(s) << s.error().message();
  // 1000 requests (~40 KB) need more than one send; odd ones ask for a device
  // that does not exist and must get their own ENODEV.
  std::vector<Bytes> reqs;
  for (int i = 0; i < 1000; ++i) reqs.push_back(*probe::encode_get_link(i % 2 ? 9999 : 1));
  auto replies = s->transact(std::move(reqs));
  ASSERT_TRUE(replies) << replies.error().message();
  ASSERT_EQ(replies->size(), 1000u);
  for (size_t i = 0; i < replies->size(); ++i) {
    const Reply& r = (*replies)[i];
    if (i % 2) {
      ASSERT_FALSE(r.status) << i;
      EXPECT_EQ(r.status.error().err, ENODEV) << i;
      EXPECT_TRUE(r.messages.empty());
    } else {
      ASSERT_TRUE(r.status) << i;
      ASSERT_EQ(r.messages.size(), 1u) << i;
      auto v = split_messages(r.messages[0]);
      ASSERT_TRUE(v);
      auto l = probe::decode_link(v->front());
      ASSERT_TRUE(l);
      EXPECT_EQ(l->name, "lo");
    }
  }
}

TEST(NetlinkSocket, DumpCollectsEveryPart) {
  TestNetns ns;
  ns.must("for i in $(seq 1 150); do echo link add x$i type veth peer name y$i; done | ip -batch -");
  auto scope = ns.enter();
  auto s = Socket::open(NETLINK_ROUTE);
  ASSERT_TRUE(s);
  auto msgs = s->request(*probe::encode_link_dump(), "RTM_GETLINK", "dump");
  ASSERT_TRUE(msgs) << msgs.error().message();
  size_t links = 0;
  for (const auto& m : *msgs) {
    auto v = split_messages(m);
    ASSERT_TRUE(v);
    links += v->size();
  }
  EXPECT_EQ(links, 301u);  // lo + 300 veth ends, over several receive buffers
}

TEST(NetlinkSocket, RefusalCarriesErrnoAndExtack) {
  TestNetns ns;
  auto scope = ns.enter();
  auto s = Socket::open(NETLINK_XFRM);
  ASSERT_TRUE(s);
  xfrm::SaSpec sa;
  sa.id = {*IpAddr::parse("192.0.2.2"), 0xFFFFFF10, 50};
  sa.saddr = *IpAddr::parse("192.0.2.1");
  sa.aead = xfrm::Aead{"no-such-aead", std::vector<uint8_t>(20, 1), 128};
  auto r = s->request(*xfrm::encode_new_sa(sa), "XFRM_MSG_NEWSA", "spi 0xffffff10");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().op, "XFRM_MSG_NEWSA");
  EXPECT_EQ(r.error().object, "spi 0xffffff10");
  EXPECT_NE(r.error().err, 0);
  EXPECT_EQ(r.error().detail, "Requested AEAD algorithm not found");
  EXPECT_EQ(ns.must("ip xfrm state list"), "");
}

TEST(NetlinkSocket, OverrunIsItsOwnError) {
  TestNetns ns;
  auto scope = ns.enter();
  auto s = Socket::open(NETLINK_ROUTE);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->join_group(RTNLGRP_LINK));
  const int tiny = 1;
  ASSERT_EQ(::setsockopt(s->fd(), SOL_SOCKET, SO_RCVBUF, &tiny, sizeof tiny), 0);
  ns.must("for i in $(seq 1 20); do ip link add o$i type veth peer name p$i; done");
  Result<std::vector<Bytes>> ev = std::vector<Bytes>{};
  for (int i = 0; i < 10 && ev; ++i) ev = s->receive_events(50);
  ASSERT_FALSE(ev);
  EXPECT_TRUE(is_overrun(ev.error())) << ev.error().message();
}

TEST(NetlinkSocket, SequenceNumbersStayUniqueAcrossCalls) {
  TestNetns ns;
  auto scope = ns.enter();
  auto s = Socket::open(NETLINK_ROUTE);
  ASSERT_TRUE(s);
  // A timed-out or abandoned answer must never be taken for a later request's:
  // two calls in a row each get their own.
  for (int i = 0; i < 3; ++i) {
    auto r = s->request(*probe::encode_get_link(1), "RTM_GETLINK", "lo");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 1u);
    auto v = split_messages(r->front());
    EXPECT_EQ(v->front().seq(), static_cast<uint32_t>(i + 1));
  }
}

}  // namespace
}  // namespace sealnet::nl
