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
#include <optional>
#include <random>
#include <set>

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

// The ipcache's lookups after an agent restart: the reloaded Datapath rebuilds
// its lengths, region masks and direct words from the pinned maps, and the
// programs answer as before, and as the hash alone after an entry goes.
TEST(BpfPinning, IpcacheAnswersAfterReload) {
  char tmpl[] = "/tmp/sealnet-bpffs-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  ASSERT_EQ(::mount("bpf", dir.c_str(), "bpf", 0, "mode=0700"), 0) << std::strerror(errno);
  // to_wire drops plaintext from this node (1) to a remote one (2) with fail
  // closed and host encryption on, and passes what it does not know.
  auto audit = [](Datapath& dp, const char* src, const char* dst) {
    auto frame = PacketBuilder().ip(*IpAddr::parse(src), *IpAddr::parse(dst)).udp(1, 2).payload(8).build();
    auto r = test_run(dp.prog_fd(Program::ToWire), {.packet = frame, .ifindex = 1, .mark = 0, .repeat = 1});
    return r ? r->action : -1;
  };
  const char* entries[] = {"192.0.2.1/32", "fd00::1/128", "10.2.0.0/24", "10.2.1.7/32", "fd01:0:0:2::/64"};
  const uint32_t nodes[] = {1, 1, 2, 2, 2};
  {
    auto dp = Datapath::load({.pin_dir = dir});
    ASSERT_TRUE(dp) << dp.error().message();
    ASSERT_TRUE(dp->set_config({.local_node_id = 1, .key_id = 1, .fail_closed = 1, .encrypt_host = 1, .events = 0}));
    for (size_t i = 0; i < std::size(entries); ++i)
      ASSERT_TRUE(dp->upsert_ipcache(*IpPrefix::parse(entries[i]), {nodes[i], SEALNET_IPCACHE_POD_CIDR}));
    EXPECT_EQ(audit(*dp, "192.0.2.1", "10.2.0.9"), TC_ACT_SHOT);
    EXPECT_EQ(audit(*dp, "192.0.2.1", "10.2.1.7"), TC_ACT_SHOT);
    EXPECT_EQ(audit(*dp, "fd00::1", "fd01:0:0:2::9"), TC_ACT_SHOT);
  }
  {
    auto dp = Datapath::load({.pin_dir = dir});
    ASSERT_TRUE(dp) << dp.error().message();
    EXPECT_EQ(audit(*dp, "192.0.2.1", "10.2.0.9"), TC_ACT_SHOT);
    EXPECT_EQ(audit(*dp, "192.0.2.1", "10.2.1.7"), TC_ACT_SHOT);
    EXPECT_EQ(audit(*dp, "fd00::1", "fd01:0:0:2::9"), TC_ACT_SHOT);
    // The restored state is the one updates build on: deletes clear the words.
    ASSERT_TRUE(dp->delete_ipcache(*IpPrefix::parse("10.2.0.0/24")));
    ASSERT_TRUE(dp->delete_ipcache(*IpPrefix::parse("fd01:0:0:2::/64")));
    EXPECT_EQ(audit(*dp, "192.0.2.1", "10.2.0.9"), TC_ACT_OK);
    EXPECT_EQ(audit(*dp, "192.0.2.1", "10.2.1.7"), TC_ACT_SHOT);
    EXPECT_EQ(audit(*dp, "fd00::1", "fd01:0:0:2::9"), TC_ACT_OK);
    ASSERT_TRUE(dp->upsert_ipcache(*IpPrefix::parse("10.2.0.0/24"), {3, SEALNET_IPCACHE_POD_CIDR}));
    EXPECT_EQ(audit(*dp, "192.0.2.1", "10.2.0.9"), TC_ACT_SHOT);
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

namespace sealnet::bpf {
namespace {

// The classifier's ipcache answer, told apart by the reason from_pod counts:
// no entry or node 0 passes as non-cluster, node 1 (ours) as local, an odd
// node has no key in common (a node entry with peer key 0), an even one no
// node entry at all. Every entry carries flags 0 (no source lookup).
uint32_t expected_reason(std::optional<uint32_t> node) {
  if (!node || *node == 0) return SEALNET_M_NON_CLUSTER_PASS;
  if (*node == 1) return SEALNET_M_LOCAL_PASS;
  return *node % 2 ? SEALNET_M_NO_KEY : SEALNET_M_UNKNOWN_NODE;
}

class IpcacheOracle {
 public:
  IpcacheOracle() {
    auto dp = Datapath::load({});
    EXPECT_TRUE(dp) << dp.error().message();
    if (!dp) return;
    dp_.emplace(std::move(*dp));
    EXPECT_TRUE(dp_->set_config({.local_node_id = 1, .key_id = 3, .fail_closed = 1, .encrypt_host = 0, .events = 0}));
  }
  bool ok() const { return dp_.has_value(); }
  void upsert(const IpPrefix& p, uint32_t node) {
    if (node > 1 && node % 2 && !nodes_.contains(node)) {
      sealnet_node_value v{.ipv4 = {192, 0, 2, 1}, .ipv6 = {}, .peer_key_id = 0, .pad = 0,
                           .flags = SEALNET_NODE_HAS_IPV4};
      ASSERT_TRUE(dp_->upsert_node(node, v));
      nodes_.insert(node);
    }
    ASSERT_TRUE(dp_->upsert_ipcache(p, {node, 0})) << p.str();
    table_[p] = node;
  }
  void erase(const IpPrefix& p) {
    ASSERT_TRUE(dp_->delete_ipcache(p)) << p.str();
    table_.erase(p);
  }
  const std::map<IpPrefix, uint32_t>& table() const { return table_; }

  std::optional<uint32_t> reference(const IpAddr& a) const {
    std::optional<uint32_t> best;
    int best_len = -1;
    for (const auto& [p, n] : table_)
      if (p.contains(a) && p.len > best_len) best = n, best_len = p.len;
    return best;
  }
  // The reason from_pod counted for a packet to `dst`.
  uint32_t classify(const IpAddr& dst) const {
    const IpAddr src = dst.family == AF_INET ? *IpAddr::parse("10.255.255.1") : *IpAddr::parse("fd0f::1");
    const auto frame = PacketBuilder().ip(src, dst).udp(1, 2).payload(8).build();
    auto before = dp_->metrics();
    auto r = test_run(dp_->prog_fd(Program::FromPod), {.packet = frame, .ifindex = 1, .mark = 0, .repeat = 1});
    auto after = dp_->metrics();
    if (!before || !after || !r) return SEALNET_M_COUNT;
    for (uint32_t i = 0; i < SEALNET_M_COUNT; ++i)
      if ((*after)[i].packets != (*before)[i].packets) return i;
    return SEALNET_M_COUNT;
  }
  // Every entry's first and last address and one past its end answer as a
  // single longest-prefix match over the whole table.
  void check_all(const char* when) const {
    for (const auto& [p, n] : table_) {
      IpAddr last = p.addr;
      const size_t bits = p.addr.size() * 8;
      for (size_t b = p.len; b < bits; ++b) last.bytes[b / 8] |= static_cast<uint8_t>(0x80u >> (b % 8));
      IpAddr past = last;
      for (size_t i = past.size(); i-- > 0;)
        if (++past.bytes[i] != 0) break;
      for (const IpAddr& a : {p.addr, last, past})
        ASSERT_EQ(classify(a), expected_reason(reference(a))) << when << ": " << a.str() << " (entry " << p.str() << ")";
    }
  }

 private:
  std::optional<Datapath> dp_;
  std::set<uint32_t> nodes_;
  std::map<IpPrefix, uint32_t> table_;
};

IpPrefix v4(uint32_t addr, uint8_t len) {
  IpAddr a{};
  a.family = AF_INET;
  for (int i = 0; i < 4; ++i) a.bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(addr >> (24 - 8 * i));
  IpPrefix p{a, len};
  return *IpPrefix::parse(p.str());  // host bits cleared
}

// Shapes of bench_bpf, scaled down, plus more lengths than the list holds.
TEST(IpcacheShapes, AnswerAsOneLongestPrefixMatch) {
  std::mt19937 rng(17);
  // (a) /32 pods and /32 node addresses; (b) a /24 per node + its /32;
  // (c) mixed /24, /26, /32 + non-cluster CIDRs; (d) IPv6 /64 + /128;
  // (e) 14 lengths, nested, so the trie holds the short ones.
  for (int shape = 0; shape < 5; ++shape) {
    IpcacheOracle o;
    ASSERT_TRUE(o.ok());
    o.upsert(v4(0x0A3FFF00, 24), 1);
    for (uint32_t n = 2; n < 60; ++n) {
      o.upsert(v4(0x0AC80000 | n, 32), n);
      switch (shape) {
        case 0:
          for (uint32_t k = 0; k < 4; ++k) o.upsert(v4(0x0A000000 | (n << 8) | k, 32), n);
          break;
        case 1: o.upsert(v4(0x0A000000 | (n << 8), 24), n); break;
        case 2:
          if (n % 3 == 0) o.upsert(v4(0x0A000000 | (n << 8), 24), n);
          if (n % 3 == 1) o.upsert(v4(0x0A000000 | (n << 8) | 64, 26), n);
          if (n % 3 == 2) o.upsert(v4(0x0A000000 | (n << 8) | 5, 32), n);
          o.upsert(v4(0xAC100000 | (n << 12), static_cast<uint8_t>(n % 2 ? 20 : 28)), 0);
          break;
        case 3: {
          IpAddr a = *IpAddr::parse("fd01::");
          a.bytes[7] = static_cast<uint8_t>(n);
          o.upsert({a, 64}, n);
          IpAddr h = *IpAddr::parse("fd00:200::");
          h.bytes[15] = static_cast<uint8_t>(n);
          o.upsert(IpPrefix::host(h), n);
          IpAddr in = a;  // a host entry of another node inside the /64
          in.bytes[15] = 9;
          if (n % 5 == 0) o.upsert(IpPrefix::host(in), n + 1);
          break;
        }
        default: {
          static constexpr uint8_t kLens[] = {32, 31, 30, 29, 28, 27, 26, 25, 24, 22, 20, 16, 12, 8};
          const uint8_t len = kLens[rng() % std::size(kLens)];
          o.upsert(v4(0x0A000000 | (rng() & 0x00030F0F), len), 2 + rng() % 40);
          break;
        }
      }
      if (::testing::Test::HasFatalFailure()) return;
    }
    o.check_all(("shape " + std::to_string(shape)).c_str());
    if (::testing::Test::HasFatalFailure()) return;
    // An update sequence: deletes and re-adds at every length; after each call
    // every present entry still answers as the single match would.
    std::vector<IpPrefix> keys;
    for (const auto& [p, n] : o.table()) keys.push_back(p);
    for (size_t i = 0; i < keys.size(); i += 17) {
      o.erase(keys[i]);
      o.check_all("after a delete");
      if (::testing::Test::HasFatalFailure()) return;
      if (i % 2 == 0) {
        o.upsert(keys[i], 3);
        o.check_all("after a re-add");
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }
}

}  // namespace
}  // namespace sealnet::bpf
