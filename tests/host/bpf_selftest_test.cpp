// The BPF object loads on the host kernel, its maps can be pinned and reused,
// and the wire audit behaves on real frames through BPF_PROG_TEST_RUN.
#include <gtest/gtest.h>
#include <linux/pkt_cls.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <map>

#include "bpf/packet.h"
#include "bpf/programs.h"
#include "tests/host/netns_fixture.h"

namespace sealnet::bpf {
namespace {

TEST(BpfSelfTest, EveryCasePasses) {
  auto cases = self_test();
  ASSERT_TRUE(cases) << cases.error().message();
  ASSERT_FALSE(cases->empty());
  for (const auto& c : *cases) {
    EXPECT_EQ(c.action, c.expected_action) << c.name;
    EXPECT_TRUE(c.counted) << c.name;
  }
}

// Pinned maps keep their contents across a reload: the state an agent restart
// must find again.
TEST(BpfPinning, MapsSurviveReload) {
  // A bpffs of the test's own, so the host's /sys/fs/bpf is not touched.
  char tmpl[] = "/tmp/sealnet-bpffs-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  ASSERT_EQ(::mount("bpf", dir.c_str(), "bpf", 0, "mode=0700"), 0) << std::strerror(errno);
  {
    auto dp = Datapath::load({.pin_dir = dir});
    ASSERT_TRUE(dp) << dp.error().message();
    ASSERT_TRUE(dp->upsert_node(7, {.ipv4 = {192, 0, 2, 7}, .ipv6 = {}, .peer_key_id = 3,
                                    .pad = 0, .flags = SEALNET_NODE_HAS_IPV4}));
    EXPECT_TRUE(std::filesystem::exists(dir + "/sealnet_nodes"));
  }
  {
    auto dp = Datapath::load({.pin_dir = dir});
    ASSERT_TRUE(dp) << dp.error().message();
    // Deleting succeeds only if the node is still there.
    EXPECT_TRUE(dp->delete_node(7));
    EXPECT_FALSE(dp->delete_node(7));
  }
  ::umount2(dir.c_str(), MNT_DETACH);
  ::rmdir(dir.c_str());
}

// The ipcache is one table to callers although host prefixes live in exact
// hashes and shorter ones in the trie (bpf/shared.h): each prefix reads back,
// deletes and reports ENOENT where it was written, and neither family nor
// length leaks into the other maps.
TEST(BpfMaps, IpcacheRoutesEachPrefixToItsMap) {
  auto dp = Datapath::load({});
  ASSERT_TRUE(dp) << dp.error().message();
  const char* prefixes[] = {"10.1.2.0/24", "10.1.2.7/32", "fd01:2::/64", "fd01:2::7/128", "0.0.0.0/0"};
  for (uint32_t i = 0; i < std::size(prefixes); ++i) {
    auto p = IpPrefix::parse(prefixes[i]);
    ASSERT_TRUE(p) << prefixes[i];
    ASSERT_TRUE(dp->upsert_ipcache(*p, {i + 1, SEALNET_IPCACHE_POD_CIDR})) << prefixes[i];
  }
  for (uint32_t i = 0; i < std::size(prefixes); ++i) {
    auto v = dp->ipcache(*IpPrefix::parse(prefixes[i]));
    ASSERT_TRUE(v) << v.error().message();
    ASSERT_TRUE(v->has_value()) << prefixes[i];
    EXPECT_EQ((*v)->node_id, i + 1) << prefixes[i];
  }
  // Exact reads: a /32 inside a /24, or a /25, is not the /24.
  EXPECT_FALSE(dp->ipcache(*IpPrefix::parse("10.1.2.8/32"))->has_value());
  EXPECT_FALSE(dp->ipcache(*IpPrefix::parse("10.1.2.0/25"))->has_value());
  EXPECT_FALSE(dp->ipcache(*IpPrefix::parse("fd01:2::8/128"))->has_value());
  // Deleting the host entry leaves its CIDR, and the other way round.
  EXPECT_TRUE(dp->delete_ipcache(*IpPrefix::parse("10.1.2.7/32")));
  EXPECT_FALSE(dp->delete_ipcache(*IpPrefix::parse("10.1.2.7/32")));
  EXPECT_TRUE(dp->ipcache(*IpPrefix::parse("10.1.2.0/24"))->has_value());
  EXPECT_TRUE(dp->delete_ipcache(*IpPrefix::parse("fd01:2::/64")));
  EXPECT_TRUE(dp->ipcache(*IpPrefix::parse("fd01:2::7/128"))->has_value());
  EXPECT_FALSE(dp->ipcache(*IpPrefix::parse("fd01:2::/64"))->has_value());
}

// Iteration (the agent's sweep of a previous agent's entries at start): every
// entry of the three ipcache maps as one table, the nodes with their presence
// bit only, and what was deleted is gone from both.
TEST(BpfMaps, IterationListsEveryEntry) {
  auto dp = Datapath::load({});
  ASSERT_TRUE(dp) << dp.error().message();
  auto empty = dp->ipcache_entries();
  ASSERT_TRUE(empty) << empty.error().message();
  EXPECT_TRUE(empty->empty());
  const char* prefixes[] = {"10.1.2.0/24", "10.1.2.7/32", "fd01:2::/64", "fd01:2::7/128", "0.0.0.0/0"};
  std::map<IpPrefix, uint32_t> want;
  for (uint32_t i = 0; i < std::size(prefixes); ++i) {
    auto p = IpPrefix::parse(prefixes[i]);
    ASSERT_TRUE(p) << prefixes[i];
    ASSERT_TRUE(dp->upsert_ipcache(*p, {i + 1, SEALNET_IPCACHE_POD_CIDR}));
    want[*p] = i + 1;
  }
  ASSERT_TRUE(dp->delete_ipcache(*IpPrefix::parse("10.1.2.7/32")));
  want.erase(*IpPrefix::parse("10.1.2.7/32"));
  auto all = dp->ipcache_entries();
  ASSERT_TRUE(all) << all.error().message();
  std::map<IpPrefix, uint32_t> got;
  for (const auto& [p, v] : *all) {
    got[p] = v.node_id;
    EXPECT_EQ(v.flags, SEALNET_IPCACHE_POD_CIDR) << p.str();
  }
  EXPECT_EQ(got, want);

  auto none = dp->nodes();
  ASSERT_TRUE(none) << none.error().message();
  EXPECT_TRUE(none->empty());
  const sealnet_node_value v{.ipv4 = {192, 0, 2, 9}, .ipv6 = {}, .peer_key_id = 4, .pad = 0,
                             .flags = SEALNET_NODE_HAS_IPV4};
  for (uint32_t id : {2u, 9u, 0xFFFEu}) ASSERT_TRUE(dp->upsert_node(id, v));
  ASSERT_TRUE(dp->delete_node(9));
  auto nodes = dp->nodes();
  ASSERT_TRUE(nodes) << nodes.error().message();
  ASSERT_EQ(nodes->size(), 2u);
  EXPECT_TRUE(nodes->contains(2) && nodes->contains(0xFFFE));
  EXPECT_EQ(nodes->at(2).flags, SEALNET_NODE_HAS_IPV4);  // the presence bit stays inside
  EXPECT_EQ(nodes->at(2).peer_key_id, 4);
}

// `nodes` is an array: an id nobody wrote reads as absent, the loader's
// presence bit never reaches the caller, and delete behaves as on a hash.
TEST(BpfMaps, NodesReadLikeAHash) {
  auto dp = Datapath::load({});
  ASSERT_TRUE(dp) << dp.error().message();
  const sealnet_node_value v{.ipv4 = {192, 0, 2, 9}, .ipv6 = {}, .peer_key_id = 4, .pad = 0,
                             .flags = SEALNET_NODE_HAS_IPV4};
  EXPECT_FALSE(dp->node(9)->has_value());
  EXPECT_FALSE(dp->node(0x10000)->has_value());
  ASSERT_TRUE(dp->upsert_node(9, v));
  auto got = dp->node(9);
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ(std::memcmp(&**got, &v, sizeof v), 0) << "flags read back 0x" << std::hex << (*got)->flags;
  EXPECT_TRUE(dp->delete_node(9));
  EXPECT_FALSE(dp->node(9)->has_value());
  auto again = dp->delete_node(9);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().err, ENOENT);
  EXPECT_FALSE(dp->delete_node(0x10000));
}

// Devices below SEALNET_DEVICES_DIRECT sit in the array, the others in the
// hash; to callers both read, overwrite and delete alike.
TEST(BpfMaps, DevicesReadAlikeOnBothSidesOfTheArray) {
  auto dp = Datapath::load({});
  ASSERT_TRUE(dp) << dp.error().message();
  const uint32_t ifindexes[] = {2, SEALNET_DEVICES_DIRECT - 1, SEALNET_DEVICES_DIRECT, 70000};
  for (uint32_t ifindex : ifindexes) {
    SCOPED_TRACE(ifindex);
    EXPECT_FALSE(dp->device(ifindex)->has_value());
    ASSERT_TRUE(dp->upsert_device(ifindex, {.slot = 3, .mode = SEALNET_MODE_CRYPTO, .flags = 0, .pad = 0}));
    ASSERT_TRUE(dp->upsert_device(ifindex, {.slot = 4, .mode = SEALNET_MODE_PACKET, .flags = 0, .pad = 0}));
    auto got = dp->device(ifindex);
    ASSERT_TRUE(got && got->has_value());
    EXPECT_EQ((*got)->slot, 4);
    EXPECT_EQ((*got)->mode, SEALNET_MODE_PACKET);
    EXPECT_EQ((*got)->flags, 0);
    EXPECT_TRUE(dp->delete_device(ifindex));
    EXPECT_FALSE(dp->device(ifindex)->has_value());
    auto again = dp->delete_device(ifindex);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().err, ENOENT);
  }
}

}  // namespace
}  // namespace sealnet::bpf
