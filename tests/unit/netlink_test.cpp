// netlink/transport.h: the pure half (building, splitting, attributes, acks, genetlink
// family replies) against golden bytes and replies recorded from a real kernel;
// and Socket::transact's answer matching against the kernel's rtnetlink, with
// requests that need no privilege and change nothing.
#include <gtest/gtest.h>
#include <linux/genetlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "netlink/tc_codec.h"
#include "netlink/transport.h"
#include "tests/unit/probe_recorded_replies.h"

namespace sealnet::nl {
namespace {

template <size_t N>
ByteView view(const uint8_t (&a)[N]) {
  return {a, N};
}

MessageView only_message(ByteView b) {
  auto m = split_messages(b);
  EXPECT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->size(), 1u);
  return m->front();
}

TEST(MessageBuilder, EncodesHeaderAttributesAndNestsExactly) {
  MessageBuilder b(RTM_GETLINK, NLM_F_DUMP);
  ifinfomsg ifi{};
  ifi.ifi_index = 7;
  b.header(ifi);
  b.put_u32(IFLA_MTU, 1500);
  b.put_str(IFLA_IFNAME, "eth0");  // 5 bytes with NUL -> padded to 8
  const size_t n = b.begin_nest(IFLA_LINKINFO);
  b.put_str(IFLA_INFO_KIND, "veth");
  b.end_nest(n);
  b.put_flag(99);
  auto bytes = std::move(b).finish();
  ASSERT_TRUE(bytes);
  const Bytes golden = {
      0x48, 0x00, 0x00, 0x00,                       // nlmsg_len 72
      0x12, 0x00,                                   // RTM_GETLINK
      0x01, 0x03,                                   // NLM_F_REQUEST | NLM_F_DUMP
      0,    0,    0,    0,    0,    0,    0,    0,  // seq, pid: the socket fills them
      0,    0,    0,    0,    7,    0,    0,    0,    0, 0, 0, 0, 0, 0, 0, 0,  // ifinfomsg, index 7
      0x08, 0x00, 0x04, 0x00, 0xdc, 0x05, 0x00, 0x00,                          // IFLA_MTU 1500
      0x09, 0x00, 0x03, 0x00, 'e',  't',  'h',  '0',  0, 0, 0, 0,              // IFLA_IFNAME
      0x10, 0x00, 0x12, 0x80,                                      // IFLA_LINKINFO | NLA_F_NESTED, 16 bytes
      0x09, 0x00, 0x01, 0x00, 'v',  'e',  't',  'h',  0, 0, 0, 0,  // IFLA_INFO_KIND
      0x04, 0x00, 0x63, 0x00,                                      // flag 99
  };
  EXPECT_EQ(*bytes, golden);
}

TEST(MessageBuilder, RefusesAttributesLongerThanNetlinkCanExpress) {
  MessageBuilder b(RTM_GETLINK, 0);
  Bytes big(70000, 0);
  b.put(1, big);
  auto r = std::move(b).finish();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().err, EMSGSIZE);
}

TEST(MessageBuilder, SetSeqWritesSequenceAndPort) {
  auto m = MessageBuilder(RTM_GETLINK, 0).finish();
  ASSERT_TRUE(m);
  set_seq(*m, 0x01020304, 0x0a0b0c0d);
  const Bytes want = {0x10, 0, 0, 0, 0x12, 0, 0x01, 0, 0x04, 0x03, 0x02, 0x01, 0x0d, 0x0c, 0x0b, 0x0a};
  EXPECT_EQ(*m, want);
}

TEST(SplitMessages, RejectsTruncatedAndOverlongMessages) {
  Bytes b(recorded::kGetSaMissing_0, recorded::kGetSaMissing_0 + sizeof recorded::kGetSaMissing_0);
  EXPECT_FALSE(split_messages(ByteView(b.data(), 10)));            // shorter than a header
  EXPECT_FALSE(split_messages(ByteView(b.data(), b.size() - 1)));  // nlmsg_len past the end
  Bytes two = b;
  two.insert(two.end(), b.begin(), b.end());
  auto m = split_messages(two);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->size(), 2u);
}

TEST(ForEachMessage, VisitsDataControlAndInterruptedMessagesAndRejectsATruncatedOne) {
  Bytes buf;
  for (uint16_t flags : {uint16_t{0}, uint16_t{NLM_F_DUMP_INTR}, uint16_t{0}}) {
    Bytes m = *MessageBuilder(RTM_NEWLINK, 0).finish();
    reinterpret_cast<nlmsghdr*>(m.data())->nlmsg_flags |= flags;
    buf.insert(buf.end(), m.begin(), m.end());
  }
  buf.insert(buf.end(), recorded::kDumpSaEmpty_0, recorded::kDumpSaEmpty_0 + sizeof recorded::kDumpSaEmpty_0);
  std::vector<std::pair<uint16_t, uint16_t>> seen;  // type, flags
  auto st = for_each_message(buf, [&](const MessageView& m) -> Status {
    seen.emplace_back(m.type(), m.flags());
    return {};
  });
  ASSERT_TRUE(st) << st.error().message();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_TRUE(seen[1].second & NLM_F_DUMP_INTR);
  EXPECT_EQ(seen[2].first, RTM_NEWLINK);
  EXPECT_EQ(seen[3].first, NLMSG_DONE);

  int visited = 0;
  auto stop = for_each_message(buf, [&](const MessageView&) -> Status {
    return ++visited == 2 ? fail(EIO, "visit") : Status{};
  });
  ASSERT_FALSE(stop);
  EXPECT_EQ(stop.error().err, EIO);
  EXPECT_EQ(visited, 2);

  Bytes truncated = buf;
  truncated.resize(buf.size() - 4);
  visited = 0;
  auto bad = for_each_message(truncated, [&](const MessageView&) -> Status {
    ++visited;
    return {};
  });
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().err, EBADMSG);
  EXPECT_EQ(visited, 3);
}

TEST(AttrTable, ReadsScalarsStringsAndNestsAndRejectsOverruns) {
  MessageBuilder b(RTM_NEWLINK, 0);
  b.header(ifinfomsg{});
  b.put_u8(1, 0xab).put_u16(2, 0x1234).put_u64(3, 0x1122334455667788ULL).put_str(4, "x");
  const size_t n = b.begin_nest(5);
  b.put_u32(1, 42);
  b.end_nest(n);
  auto bytes = std::move(b).finish();
  ASSERT_TRUE(bytes);
  auto msg = only_message(*bytes);
  auto t = AttrTable::parse(msg.payload(), sizeof(ifinfomsg));
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->u8(1), 0xab);
  EXPECT_EQ(t->u16(2), 0x1234);
  EXPECT_EQ(t->u64(3), 0x1122334455667788ULL);
  EXPECT_EQ(t->str(4), "x");
  EXPECT_FALSE(t->u32(4));  // 2 bytes are not a u32
  auto inner = t->nested(5);
  ASSERT_TRUE(inner);
  EXPECT_EQ(inner->u32(1), 42u);
  EXPECT_FALSE(t->nested(6));

  Bytes bad = {0x08, 0x00, 0x01, 0x00, 0, 0, 0, 0, 0x10, 0x00, 0x02, 0x00};  // second runs past
  EXPECT_FALSE(AttrTable::parse(bad));
}

TEST(AttrTable, IntegersMustHaveTheirExactSize) {
  // mnl_attr_validate: a u32 read of an 8-byte attribute is refused, not truncated.
  MessageBuilder b(RTM_NEWLINK, 0);
  b.put_u64(1, 7).put_u32(2, 7).put_u16(3, 7);
  const size_t n = b.begin_nest(4);
  b.end_nest(n);
  b.put_u8(5, 1);
  auto bytes = std::move(b).finish();
  ASSERT_TRUE(bytes);
  auto t = AttrTable::parse(only_message(*bytes).payload());
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->u32(1));
  EXPECT_EQ(t->u64(1), 7u);
  EXPECT_FALSE(t->u64(2));
  EXPECT_FALSE(t->u8(3));
  EXPECT_EQ(t->u16(3), 7u);
  auto empty = t->nested(4);  // an empty nest is a nest
  ASSERT_TRUE(empty);
  EXPECT_FALSE(empty->has(1));
  EXPECT_FALSE(t->nested(5));  // one byte cannot hold attributes
  EXPECT_EQ(t->nested(5).error().err, EBADMSG);
}

TEST(MessageBuilder, GrowingKeepsEveryByteAndReserveIsExact) {
  MessageBuilder b(RTM_NEWLINK, 0);
  Bytes big(3000, 0xa5);
  b.put(1, big).put_u32(2, 9);
  auto m = std::move(b).finish();
  ASSERT_TRUE(m);
  ASSERT_EQ(m->size(), NLMSG_HDRLEN + NLA_HDRLEN + 3000 + NLA_HDRLEN + 4);
  auto t = AttrTable::parse(only_message(*m).payload());
  ASSERT_TRUE(t);
  EXPECT_TRUE(std::equal(big.begin(), big.end(), t->bytes(1)->begin(), t->bytes(1)->end()));
  EXPECT_EQ(t->u32(2), 9u);
  MessageBuilder reserved(RTM_NEWLINK, 0);
  reserved.reserve(5000);
  auto r = std::move(reserved).finish();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->capacity(), 5000u);
}

// Real refusals from the host kernel: the errno and the extack text.
TEST(ParseAck, RecordedNewSaRefusalCarriesErrnoAndExtack) {
  auto msg = only_message(view(recorded::kNewSaAeadRefused_0));
  ASSERT_EQ(msg.type(), NLMSG_ERROR);
  auto ack = parse_ack(msg);
  ASSERT_TRUE(ack) << ack.error().message();
  EXPECT_EQ(ack->error, ENOSYS);
  EXPECT_EQ(ack->extack, "Requested AEAD algorithm not found");
}

TEST(ParseAck, RecordedEspTypeRefusal) {
  auto ack = parse_ack(only_message(view(recorded::kNewSaNullRefused_0)));
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->error, EPROTONOSUPPORT);
  EXPECT_EQ(ack->extack, "Requested type not found");
}

TEST(ParseAck, RecordedMissingStateHasErrnoWithoutExtack) {
  auto ack = parse_ack(only_message(view(recorded::kGetSaMissing_0)));
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->error, ESRCH);
  EXPECT_EQ(ack->extack, "");
}

TEST(ParseAck, RecordedAckAndDumpDoneAreSuccess) {
  auto ack = parse_ack(only_message(view(recorded::kNewPolicyAck_0)));
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->error, 0);
  auto done = only_message(view(recorded::kDumpSaEmpty_0));
  EXPECT_EQ(done.type(), NLMSG_DONE);
  auto d = parse_ack(done);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->error, 0);
}

TEST(Genl, GetFamilyGoldenBytes) {
  auto m = genl::encode_get_family("ethtool");
  ASSERT_TRUE(m);
  const Bytes golden = {
      0x20, 0x00, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00, 0,   0,   0,   0,    0, 0, 0, 0,  // GENL_ID_CTRL
      0x03, 0x01, 0x00, 0x00,                                               // CTRL_CMD_GETFAMILY, version 1
      0x0c, 0x00, 0x02, 0x00, 'e',  't',  'h',  't',  'o', 'o', 'l', 0x00,  // CTRL_ATTR_FAMILY_NAME
  };
  EXPECT_EQ(*m, golden);
}

TEST(TcCodec, FilterDumpGoldenBytes) {
  EXPECT_EQ(tc::clsact_parent(true), 0xfffffff2u);
  EXPECT_EQ(tc::clsact_parent(false), 0xfffffff3u);
  auto m = tc::encode_filter_dump(7, tc::clsact_parent(true));
  ASSERT_TRUE(m);
  const Bytes golden = {
      0x24, 0x00, 0x00, 0x00, 0x2e, 0x00, 0x01, 0x03, 0, 0, 0, 0, 0, 0, 0, 0,  // RTM_GETTFILTER dump
      0x00, 0x00, 0x00, 0x00,                                                   // AF_UNSPEC, padding
      0x07, 0x00, 0x00, 0x00,                                                   // tcm_ifindex 7
      0x00, 0x00, 0x00, 0x00,                                                   // tcm_handle
      0xf2, 0xff, 0xff, 0xff,                                                   // clsact ingress
      0x00, 0x00, 0x00, 0x00,                                                   // tcm_info
  };
  EXPECT_EQ(*m, golden);
}

TEST(Genl, DecodesRecordedEthtoolFamilyWithMonitorGroup) {
  auto f = genl::decode_family(only_message(view(recorded::kEthtoolFamilyReply_0)));
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ(f->id, 21);
  EXPECT_EQ(f->version, 1u);
  ASSERT_TRUE(f->mcast_groups.contains("monitor"));
  EXPECT_EQ(f->mcast_groups.at("monitor"), 6u);
}

TEST(Genl, RejectsNonControllerMessage) {
  EXPECT_FALSE(genl::decode_family(only_message(view(recorded::kFeaturesCompact_0))));
}

// Requests the kernel answers without privilege and without side effects: NOOP
// (acked only when asked), a type rtnetlink does not know (refused with
// EOPNOTSUPP whatever the caller may do), GETLINK of lo (a data reply).
Bytes noop() { return *MessageBuilder(NLMSG_NOOP, 0).finish(); }
Bytes unknown_type() { return *MessageBuilder(RTM_MAX + 1, NLM_F_ACK).finish(); }
Bytes get_lo() {
  MessageBuilder b(RTM_GETLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = 1;
  b.header(ifi);
  return *std::move(b).finish();
}

TEST(SocketErrorsOnly, ARefusalInABigBatchIsReportedAtItsIndexAndNothingElseFails) {
  auto sock = Socket::open(NETLINK_ROUTE);
  if (!sock) GTEST_SKIP() << sock.error().message();
  constexpr size_t kRequests = 20000;  // several batches at any buffer size
  const size_t refused[] = {0, 7321, kRequests - 1};
  std::vector<Bytes> reqs;
  for (size_t i = 0; i < kRequests; ++i) reqs.push_back(i == 5 ? get_lo() : noop());
  for (size_t i : refused) reqs[i] = unknown_type();  // asks for an ack: errors mode drops the flag
  auto replies = sock->transact(std::move(reqs), Acks::errors);
  ASSERT_TRUE(replies) << replies.error().message();
  ASSERT_EQ(replies->size(), kRequests);
  size_t failed = 0;
  for (size_t i = 0; i < kRequests; ++i) {
    const auto& r = (*replies)[i];
    const bool want_refused = std::find(std::begin(refused), std::end(refused), i) != std::end(refused);
    EXPECT_EQ(!r.status, want_refused) << "request " << i;
    if (!r.status) {
      ++failed;
      EXPECT_EQ(r.status.error().err, EOPNOTSUPP) << r.status.error().message();
    }
  }
  EXPECT_EQ(failed, std::size(refused));
  // A request that has a reply still gets it, without an ack.
  EXPECT_EQ((*replies)[5].messages.size(), 1u);

  // The socket stays in step: the next transact's answers are its own.
  std::vector<Bytes> again;
  again.push_back(unknown_type());
  again.push_back(get_lo());
  auto every = sock->transact(std::move(again));
  ASSERT_TRUE(every) << every.error().message();
  ASSERT_EQ(every->size(), 2u);
  EXPECT_FALSE((*every)[0].status);
  EXPECT_TRUE((*every)[1].status);
  EXPECT_EQ((*every)[1].messages.size(), 1u);
}

TEST(Socket, RefusesARequestWhoseLengthIsNotItsSize) {
  auto sock = Socket::open(NETLINK_ROUTE);
  if (!sock) GTEST_SKIP() << sock.error().message();
  Bytes m = get_lo();
  m.resize(m.size() + 4, 0);  // nlmsg_len no longer covers the bytes
  std::vector<Bytes> reqs;
  reqs.push_back(std::move(m));
  auto r = sock->transact(std::move(reqs));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().err, EINVAL);
}

TEST(SocketErrorsOnly, AnEmptyBatchAndASilentOneSucceed) {
  auto sock = Socket::open(NETLINK_ROUTE);
  if (!sock) GTEST_SKIP() << sock.error().message();
  EXPECT_GT(sock->send_buffer(), 0);
  EXPECT_GT(sock->receive_buffer(), 0);
  auto none = sock->transact({}, Acks::errors);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  std::vector<Bytes> one;
  one.push_back(noop());
  auto ok = sock->transact(std::move(one), Acks::errors);
  ASSERT_TRUE(ok) << ok.error().message();
  ASSERT_EQ(ok->size(), 1u);
  EXPECT_TRUE(ok->front().status);
  EXPECT_TRUE(ok->front().messages.empty());
}

TEST(Overrun, OnlyEnobufsCountsAsOverrun) {
  EXPECT_TRUE(is_overrun(Error{ENOBUFS, "netlink receive", {}, {}}));
  EXPECT_FALSE(is_overrun(Error{EAGAIN, "netlink receive", {}, {}}));
}

}  // namespace
}  // namespace sealnet::nl
