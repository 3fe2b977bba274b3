// datapath/discovery without etcd: the gateway's encodings, node records and
// their validation, and the peer set's grace period driven by a fake time.
#include <gtest/gtest.h>


#include "datapath/discovery/etcd.h"
#include "datapath/discovery/registry.h"

namespace sealnet::discovery {
namespace {

using namespace std::chrono_literals;
using Kind = PeerSet::Change::Kind;

IpAddr ip(const char* s) { return *IpAddr::parse(s); }
IpPrefix cidr(const char* s) { return *IpPrefix::parse(s); }

NodeRecord node(const std::string& name, uint16_t id, int n) {
  NodeRecord r;
  r.name = name;
  r.id = id;
  r.ipv4 = ip(("192.168.50." + std::to_string(n)).c_str());
  r.pod_cidrs = {cidr(("10." + std::to_string(n) + ".0.0/24").c_str())};
  return r;
}

TEST(Base64, RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    const std::string enc = base64_encode(bytes);
    EXPECT_EQ(enc.size() % 4, 0u);
    auto dec = base64_decode(enc);
    ASSERT_TRUE(dec.has_value()) << enc;
    EXPECT_EQ(*dec, bytes);
    bytes += static_cast<char>(i * 37 + 250);
  }
  EXPECT_EQ(base64_encode("a/1"), "YS8x");  // what etcd returned for the key a/1
  EXPECT_EQ(base64_encode("x"), "eA==");
}

TEST(Base64, RefusesGarbage) {
  EXPECT_FALSE(base64_decode("!!").has_value());
  EXPECT_FALSE(base64_decode("abc").has_value());
  EXPECT_FALSE(base64_decode("a=bc").has_value());
  EXPECT_FALSE(base64_decode("ab=c").has_value());
  // Padding only at the end, at most two, and nothing after it.
  EXPECT_FALSE(base64_decode("a===").has_value());
  EXPECT_FALSE(base64_decode("====").has_value());
  EXPECT_FALSE(base64_decode("eA==eA==").has_value());
  EXPECT_FALSE(base64_decode("e=A=").has_value());
  // White space, which OpenSSL's decoder would skip, and other alphabets.
  EXPECT_FALSE(base64_decode(" eA=").has_value());
  EXPECT_FALSE(base64_decode("eA==\n").has_value());
  EXPECT_FALSE(base64_decode("YS8x ").has_value());
  EXPECT_FALSE(base64_decode("YS-x").has_value());  // base64url
  EXPECT_FALSE(base64_decode(std::string("YS\0x", 4)).has_value());
}

TEST(Base64, PaddingAndEdges) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(*base64_decode(""), "");
  EXPECT_EQ(base64_encode("xy"), "eHk=");
  EXPECT_EQ(*base64_decode("eA=="), "x");
  EXPECT_EQ(*base64_decode("eHk="), "xy");
  EXPECT_EQ(*base64_decode("eHl6"), "xyz");
  // Bytes that decode to zeros and 0xff are data, not padding.
  EXPECT_EQ(*base64_decode("AAAA"), std::string(3, '\0'));
  EXPECT_EQ(*base64_decode("AA=="), std::string(1, '\0'));
  EXPECT_EQ(*base64_decode("////"), std::string(3, '\xff'));
  EXPECT_EQ(base64_encode(std::string(2, '\0')), "AAA=");
}

TEST(PrefixRangeEnd, IncrementsTheLastByte) {
  EXPECT_EQ(prefix_range_end("/sealnet/nodes/"), "/sealnet/nodes0");
  EXPECT_EQ(prefix_range_end(std::string("a\xff", 2)), "b");
  EXPECT_EQ(prefix_range_end(""), std::string(1, '\0'));
}

TEST(Backoff, GrowsWithJitterAndIsCapped) {
  Backoff b{100ms, 1000ms};
  for (int i = 0; i < 50; ++i) {
    EXPECT_GE(b.delay(0), 50ms);
    EXPECT_LE(b.delay(0), 100ms);
    EXPECT_GE(b.delay(2), 200ms);
    EXPECT_LE(b.delay(2), 400ms);
    EXPECT_GE(b.delay(30), 500ms);
    EXPECT_LE(b.delay(30), 1000ms);
  }
}

TEST(NodeRecord, JsonRoundTrip) {
  NodeRecord r = node("node-a", 0x30, 1);
  r.ipv6 = ip("fd50::1");
  r.pod_cidrs.push_back(cidr("fd10:1::/64"));
  r.keys = {3, 4};
  r.uplinks = 2;
  r.device_modes = {{"eth0", "packet"}, {"eth1", "software"}};
  r.generations = {0, 7};
  const std::string text = record_to_json(r);
  auto back = record_from_json(text);
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(*back, r);
  // Defaults of the optional fields; unknown fields are ignored (newer writers).
  auto min = record_from_json(R"({"name":"b","id":2,"addresses":["fd50::2"],"future":{"x":1}})");
  ASSERT_TRUE(min.has_value()) << min.error().message();
  EXPECT_EQ(min->uplinks, 1);
  EXPECT_FALSE(min->ipv4.has_value());
  EXPECT_TRUE(min->pod_cidrs.empty());
}

TEST(NodeRecord, ConvertsToAConfigPeer) {
  NodeRecord r = node("node-b", 2, 2);
  r.keys = {5};
  r.uplinks = 3;
  const config::Peer p = peer_of(r);
  EXPECT_EQ(p.name, "node-b");
  EXPECT_EQ(p.id, 2);
  EXPECT_EQ(p.ipv4, r.ipv4);
  EXPECT_EQ(p.pod_cidrs, r.pod_cidrs);
  EXPECT_EQ(p.uplinks, 3);
  ASSERT_TRUE(p.keys.has_value());
  EXPECT_EQ(*p.keys, std::vector<uint8_t>{5});

  config::LocalNode self{"node-a", 1, ip("192.168.50.1"), std::nullopt, {cidr("10.1.0.0/24")}};
  const NodeRecord mine = record_of(self, 2);
  EXPECT_EQ(mine.name, "node-a");
  EXPECT_EQ(mine.uplinks, 2);
  EXPECT_TRUE(validate_record(mine).has_value());
}

struct Malformed {
  const char* json;
  const char* field;  // the field the error names
  const char* label;  // the test's name suffix
};

void PrintTo(const Malformed& m, std::ostream* os) { *os << m.label; }

class MalformedRecord : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedRecord, IsRefusedNamingTheField) {
  auto r = record_from_json(GetParam().json);
  ASSERT_FALSE(r.has_value()) << GetParam().json;
  EXPECT_EQ(r.error().err, EINVAL);
  EXPECT_NE(r.error().message().find(GetParam().field), std::string::npos) << r.error().message();
}

INSTANTIATE_TEST_SUITE_P(
    Records, MalformedRecord,
    ::testing::Values(
        Malformed{"not json", "not JSON", "not_JSON_1"}, Malformed{"[1,2]", "object", "object_2"},
        Malformed{R"({"id":2,"addresses":["10.0.0.1"]})", "name", "name_3"},
        Malformed{R"({"name":"","id":2,"addresses":["10.0.0.1"]})", "name", "name_4"},
        Malformed{R"({"name":"a/b","id":2,"addresses":["10.0.0.1"]})", "name", "name_5"},
        Malformed{R"({"name":"b","id":"2","addresses":["10.0.0.1"]})", "id", "id_6"},
        Malformed{R"({"name":"b","id":0,"addresses":["10.0.0.1"]})", "id", "id_7"},
        Malformed{R"({"name":"b","id":65535,"addresses":["10.0.0.1"]})", "id", "id_8"},
        Malformed{R"({"name":"b","id":-1,"addresses":["10.0.0.1"]})", "id", "id_9"},
        Malformed{R"({"name":"b","id":2.5,"addresses":["10.0.0.1"]})", "id", "id_10"},
        Malformed{R"({"name":"b","id":2})", "addresses", "addresses_11"},
        Malformed{R"({"name":"b","id":2,"addresses":[]})", "addresses", "addresses_12"},
        Malformed{R"({"name":"b","id":2,"addresses":["10.0.0.1","10.0.0.2"]})", "addresses[1]", "addresses_1_13"},
        Malformed{R"({"name":"b","id":2,"addresses":["10.0.0.300"]})", "addresses[0]", "addresses_0_14"},
        Malformed{R"({"name":"b","id":2,"addresses":"10.0.0.1"})", "addresses", "addresses_15"},
        Malformed{R"({"name":"b","id":2,"addresses":["10.0.0.1"],"pod_cidrs":["10.1.0.1/24"]})", "pod_cidrs[0]", "pod_cidrs_0_16"},
        Malformed{R"({"name":"b","id":2,"addresses":["10.0.0.1"],"pod_cidrs":["10.1.0.0"]})", "pod_cidrs[0]", "pod_cidrs_0_17"},
        Malformed{R"({"name":"b","id":2,"addresses":["10.0.0.1"],"pod_cidrs":["10.1.0.0/16","10.1.2.0/24"]})",
                  "pod_cidrs[1]", "pod_cidrs_1_18"},
        Malformed{R"({"name":"b","id":2,"addresses":["10.1.0.5"],"pod_cidrs":["10.1.0.0/24"]})", "addresses", "addresses_19"},
        Malformed{R"({"name":"b","id":2,"addresses":["10.0.0.1"],"keys":[16]})", "keys[0]", "keys_0_20"},
        Malformed{R"({"name":"b","id":2,"addresses":["10.0.0.1"],"keys":[3,3]})", "keys", "keys_21"},
        Malformed{R"({"name":"b","id":2,"addresses":["10.0.0.1"],"uplinks":0})", "uplinks", "uplinks_22"},
        Malformed{R"({"name":"b","id":2,"addresses":["10.0.0.1"],"uplinks":17})", "uplinks", "uplinks_23"},
        Malformed{R"({"name":"b","id":2,"addresses":["10.0.0.1"],"device_modes":{"eth0":"fast"}})",
                  "device_modes.eth0", "device_modes_eth0_24"},
        Malformed{R"({"name":"b","id":2,"addresses":["10.0.0.1"],"device_modes":{"a/b":"packet"}})",
                  "device_modes", "device_modes_25"},
        Malformed{R"({"name":"b","id":2,"addresses":["10.0.0.1"],"generations":[256]})", "generations[0]", "generations_0_26"}));

// ---------------------------------------------------------------- peer set

constexpr const char* kPrefix = "/sealnet/nodes/";

KeyValue kv_of(const NodeRecord& r, int64_t rev = 1) {
  return KeyValue{kPrefix + r.name, record_to_json(r), rev, rev, 1, 0};
}
WatchEvent put_event(const NodeRecord& r, int64_t rev) { return {WatchEvent::Type::Put, kv_of(r, rev)}; }
WatchEvent del_event(const std::string& name, int64_t rev) {
  return {WatchEvent::Type::Delete, KeyValue{kPrefix + name, {}, 0, rev, 0, 0}};
}

struct PeerSetTest : ::testing::Test {
  std::vector<std::string> logs;
  PeerSet set{kPrefix, node("self", 1, 1), 5s, [this](const std::string& m) { logs.push_back(m); }};
  PeerSet::Clock::time_point t0{};
};

TEST_F(PeerSetTest, SnapshotAddsPeersAndSkipsSelf) {
  auto c = set.snapshot({kv_of(node("self", 1, 1)), kv_of(node("b", 2, 2)), kv_of(node("c", 3, 3))}, t0);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].kind, Kind::Upsert);
  EXPECT_EQ(c[0].name, "b");
  EXPECT_EQ(c[1].record, node("c", 3, 3));
  EXPECT_EQ(set.peers().size(), 2u);
  // The same again changes nothing.
  EXPECT_TRUE(set.snapshot({kv_of(node("b", 2, 2)), kv_of(node("c", 3, 3))}, t0).empty());
}

TEST_F(PeerSetTest, RemovalWaitsForTheGracePeriodAndAReturnCancelsIt) {
  set.snapshot({kv_of(node("b", 2, 2)), kv_of(node("c", 3, 3))}, t0);
  EXPECT_TRUE(set.apply({del_event("b", 5)}, t0).empty());
  EXPECT_EQ(set.peers().size(), 2u);  // still in force
  ASSERT_TRUE(set.next_deadline().has_value());
  EXPECT_EQ(*set.next_deadline(), t0 + 5s);
  EXPECT_TRUE(set.expire(t0 + 4999ms).empty());
  auto gone = set.expire(t0 + 5s);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].kind, Kind::Remove);
  EXPECT_EQ(gone[0].name, "b");
  EXPECT_EQ(set.peers().size(), 1u);

  // c leaves and comes back (same record) within the grace: nothing happens.
  set.apply({del_event("c", 6)}, t0 + 6s);
  EXPECT_TRUE(set.apply({put_event(node("c", 3, 3), 7)}, t0 + 7s).empty());
  EXPECT_FALSE(set.next_deadline().has_value());
  EXPECT_TRUE(set.expire(t0 + 60s).empty());
  EXPECT_EQ(set.peers().size(), 1u);
}

TEST_F(PeerSetTest, AKeyMissingFromASnapshotStartsItsGrace) {
  set.snapshot({kv_of(node("b", 2, 2)), kv_of(node("c", 3, 3))}, t0);
  EXPECT_TRUE(set.snapshot({kv_of(node("c", 3, 3))}, t0 + 1s).empty());
  EXPECT_EQ(set.peers().size(), 2u);
  auto gone = set.expire(t0 + 6s);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].name, "b");
}

TEST_F(PeerSetTest, AChangedRecordIsAnUpsert) {
  set.snapshot({kv_of(node("b", 2, 2))}, t0);
  NodeRecord b2 = node("b", 2, 2);
  b2.keys = {4};
  auto c = set.apply({put_event(b2, 9)}, t0);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].record.keys, std::vector<uint8_t>{4});
}

TEST_F(PeerSetTest, MalformedOrClashingRecordsAreIgnoredWithAReason) {
  set.snapshot({kv_of(node("b", 2, 2))}, t0);
  const size_t logs_before = logs.size();
  std::vector<WatchEvent> bad = {
      {WatchEvent::Type::Put, KeyValue{std::string(kPrefix) + "x", "{garbage", 3, 3, 1, 0}},
      put_event(node("y", 1, 9), 4),   // our id
      put_event(node("z", 2, 9), 5),   // b's id
      put_event(node("w", 9, 2), 6),   // b's address and pod CIDR
      {WatchEvent::Type::Put, kv_of(node("v", 9, 9), 7)},
  };
  bad.back().kv.key = std::string(kPrefix) + "not-v";  // key and record disagree
  EXPECT_TRUE(set.apply(bad, t0).empty());
  EXPECT_EQ(set.peers().size(), 1u);
  ASSERT_EQ(logs.size() - logs_before, 5u);
  EXPECT_NE(logs[logs_before + 1].find("id 1 is also this node"), std::string::npos) << logs[logs_before + 1];
  EXPECT_NE(logs[logs_before + 2].find("peer b"), std::string::npos) << logs[logs_before + 2];

  // A bad update of a known peer leaves its last good record in force.
  KeyValue broken = kv_of(node("b", 2, 2), 8);
  broken.value = R"({"name":"b","id":70000,"addresses":["192.168.50.2"]})";
  EXPECT_TRUE(set.apply({{WatchEvent::Type::Put, broken}}, t0).empty());
  EXPECT_EQ(set.peers().at("b").record, node("b", 2, 2));
  // ...and a snapshot holding that broken key does not start b's grace.
  set.snapshot({broken}, t0);
  EXPECT_FALSE(set.next_deadline().has_value());
}

// Clashes are found through the index among many peers, in every shape, and a
// peer that left frees what it held.
TEST_F(PeerSetTest, ClashesAmongManyPeersAndWhatALeaverFrees) {
  std::vector<KeyValue> kvs;
  for (int i = 2; i < 202; ++i) kvs.push_back(kv_of(node("p" + std::to_string(i), static_cast<uint16_t>(i), i)));
  EXPECT_EQ(set.snapshot(kvs, t0).size(), 200u);
  auto refused = [&](NodeRecord r, const std::string& why) {
    const size_t before = logs.size();
    EXPECT_TRUE(set.apply({put_event(r, 1000)}, t0).empty()) << r.name;
    ASSERT_EQ(logs.size(), before + 1) << r.name;
    EXPECT_NE(logs.back().find(why), std::string::npos) << logs.back();
  };
  NodeRecord r = node("new", 500, 250);
  r.id = 150;
  refused(r, "id 150 is also peer p150's");
  r = node("new", 500, 250);
  r.ipv4 = ip("192.168.50.99");
  refused(r, "address 192.168.50.99 is also peer p99's");
  r = node("new", 500, 250);
  r.pod_cidrs = {cidr("10.120.0.0/16")};  // holds p120's 10.120.0.0/24
  refused(r, "pod CIDR 10.120.0.0/16 overlaps peer p120's 10.120.0.0/24");
  r.pod_cidrs = {cidr("10.121.0.128/25")};  // inside p121's /24
  refused(r, "pod CIDR 10.121.0.128/25 overlaps peer p121's 10.121.0.0/24");
  r.ipv4 = ip("172.16.0.1");
  r.pod_cidrs = {cidr("192.168.50.64/26")};  // p64..p127 addresses
  refused(r, "pod CIDR 192.168.50.64/26 holds peer p64's address 192.168.50.64");
  r = node("new", 500, 250);
  r.ipv4 = ip("10.130.0.7");
  refused(r, "address 10.130.0.7 is inside peer p130's pod CIDR 10.130.0.0/24");
  // A peer may change its own record; after p150 left, its id and CIDR are free.
  NodeRecord p150 = node("p150", 150, 150);
  p150.keys = {1};
  EXPECT_EQ(set.apply({put_event(p150, 1001)}, t0).size(), 1u);
  set.apply({del_event("p150", 1002)}, t0);
  EXPECT_EQ(set.expire(t0 + 6s).size(), 1u);
  NodeRecord taker = node("taker", 150, 150);
  EXPECT_EQ(set.apply({put_event(taker, 1003)}, t0).size(), 1u);
}

}  // namespace
}  // namespace sealnet::discovery
