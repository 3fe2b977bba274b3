// The ipcache's update order (bpf/ipcache_lengths.h) against a recording fake
// of its maps: after every single map write, a lookup the way the programs do
// it (the live list's lengths the region mask allows in the hash, then the
// trie) still answers every prefix that was present before the call, the list
// is never torn and a region mask changes one bit per write.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "bpf/ipcache_lengths.h"

namespace sealnet::bpf {
namespace {

IpAddr mask(IpAddr a, uint8_t len) {
  for (size_t i = 0; i < a.bytes.size(); ++i) {
    const size_t bit = 8 * i;
    if (bit >= len) a.bytes[i] = 0;
    else if (bit + 8 > len) a.bytes[i] &= static_cast<uint8_t>(0xFF00u >> (len - bit));
  }
  return a;
}

using Table = std::map<IpPrefix, uint32_t>;  // prefix -> node id

// Longest-prefix match over a plain set: what a single trie would answer.
std::optional<uint32_t> reference(const Table& t, const IpAddr& a) {
  std::optional<uint32_t> best;
  int best_len = -1;
  for (const auto& [p, n] : t)
    if (p.contains(a) && p.len > best_len) best = n, best_len = p.len;
  return best;
}

class FakeStore final : public IpcacheStore {
 public:
  std::map<std::pair<IpcacheMap, IpPrefix>, sealnet_ipcache_value> maps;
  sealnet_plens plens{};
  std::map<std::pair<int, uint32_t>, uint64_t> regions;  // (family index, slot) -> mask
  int region_writes = 0;
  std::map<uint32_t, uint64_t> direct;  // sealnet_direct4 words
  int direct_writes = 0;
  std::function<void()> after_write;  // the check run after every write
  int publishes = 0;

  Result<bool> put(IpcacheMap m, const IpPrefix& p, const sealnet_ipcache_value& v) override {
    const bool fresh = maps.insert_or_assign({m, p}, v).second;
    if (after_write) after_write();
    return fresh;
  }
  Status erase(IpcacheMap m, const IpPrefix& p) override {
    if (maps.erase({m, p}) == 0) return fail(ENOENT, "delete");
    if (after_write) after_write();
    return {};
  }
  Result<std::vector<std::pair<IpPrefix, sealnet_ipcache_value>>> entries(IpcacheMap m, uint8_t family,
                                                                          uint8_t len) override {
    std::vector<std::pair<IpPrefix, sealnet_ipcache_value>> out;
    for (const auto& [k, v] : maps)
      if (k.first == m && k.second.addr.family == family && k.second.len == len) out.emplace_back(k.second, v);
    return out;
  }
  Status publish(const sealnet_plens& next) override {
    // One write changes either bytes of a copy no lookup reads, or one `live`
    // byte, never the copy lookups read.
    for (int fi = 0; fi < 2; ++fi) {
      const int live = plens.live[fi] & 1;
      if (next.live[fi] != plens.live[fi]) {
        EXPECT_EQ(std::memcmp(next.len, plens.len, sizeof next.len), 0) << "live flipped with a copy";
      } else {
        EXPECT_EQ(std::memcmp(next.len[fi][live], plens.len[fi][live], SEALNET_PLENS_MAX), 0)
            << "the live copy was rewritten";
      }
    }
    EXPECT_LE((next.live[0] != plens.live[0]) + (next.live[1] != plens.live[1]), 1);
    plens = next;
    ++publishes;
    if (after_write) after_write();
    return {};
  }

  Status set_region(int fi, uint32_t slot, uint64_t mask) override {
    EXPECT_LT(slot, uint32_t{SEALNET_REGION_SLOTS});
    const uint64_t old = regions[{fi, slot}];
    EXPECT_EQ(__builtin_popcountll(old ^ mask), 1) << "a region write changed " << (old ^ mask);
    regions[{fi, slot}] = mask;
    ++region_writes;
    if (after_write) after_write();
    return {};
  }

  Status set_direct(uint32_t index, uint64_t word) override {
    EXPECT_LT(index, uint32_t{SEALNET_DIRECT4_WORDS});
    if (word) direct[index] = word;
    else direct.erase(index);
    ++direct_writes;
    // A word is a copy of its hash entry: never valid without it.
    check_direct();
    if (after_write) after_write();
    return {};
  }
  std::map<uint32_t, std::pair<uint64_t, uint32_t>> direct6;  // slot -> (region, value)
  Status set_direct6(uint32_t slot, uint64_t region, uint32_t value) override {
    EXPECT_LT(slot, uint32_t{SEALNET_REGION_SLOTS});
    if (value) direct6[slot] = {region, value};
    else direct6.erase(slot);
    ++direct_writes;
    check_direct();
    if (after_write) after_write();
    return {};
  }
  void check_direct() const {
    for (const auto& [slot, rv] : direct6) {
      bool backed = false;
      for (const auto& [k, v] : maps)
        if (k.first == IpcacheMap::Hash && direct6_slot(k.second) == slot &&
            direct6_region(k.second.addr) == rv.first && direct6_value(k.second, v) == rv.second)
          backed = true;
      EXPECT_TRUE(backed) << "direct6 slot " << slot << " has no hash entry";
    }
    for (const auto& [idx, w] : direct) {
      bool backed = false;
      for (const auto& [k, v] : maps)
        if (k.first == IpcacheMap::Hash && direct_word(k.second, v) == w &&
            (direct_index(k.second) == idx || *direct_index(k.second) + 1 == idx))
          backed = true;
      EXPECT_TRUE(backed) << "direct word " << idx << " has no hash entry";
    }
  }
  uint64_t word_at(uint32_t idx) const {
    auto it = direct.find(idx);
    return it == direct.end() ? 0 : it->second;
  }

  // The word of (address masked to len, len), when one of its pair has it.
  std::optional<uint32_t> direct4(const IpAddr& a, uint8_t len) const {
    const IpPrefix p{mask(a, len), len};
    const uint64_t key = *direct_word(p, {0, 0});
    for (uint32_t way = 0; way < 2; ++way) {
      const uint64_t w = word_at(*direct_index(p) + way);
      if ((w & SEALNET_DIRECT4_KEY_MASK) == key) return static_cast<uint32_t>(w >> 32 & 0xFFFF);
    }
    return std::nullopt;
  }

  // The programs' lookup (bpf/lib/maps.h).
  std::optional<uint32_t> lookup(const IpAddr& a) const {
    const int fi = a.family == AF_INET ? SEALNET_PLENS_V4 : SEALNET_PLENS_V6;
    const uint8_t region_len = fi == SEALNET_PLENS_V4 ? SEALNET_REGION4_LEN : SEALNET_REGION6_LEN;
    for (uint8_t b : plens.len[fi][plens.live[fi] & 1]) {
      if (b == 0) break;
      const uint8_t len = static_cast<uint8_t>(b - 1);
      if (len >= region_len) {
        const auto r = region_bit(IpPrefix{mask(a, len), len});
        auto it = regions.find({fi, r->slot});
        if (it == regions.end() || !(it->second >> r->bit & 1)) continue;
      }
      if (fi == SEALNET_PLENS_V6 && len == 64) {
        const IpPrefix p64{mask(a, 64), 64};
        auto it = direct6.find(*direct6_slot(p64));
        if (it != direct6.end() && it->second.first == direct6_region(p64.addr))
          return it->second.second & 0xFFFF;
      }
      if (fi == SEALNET_PLENS_V4)
        if (auto d = direct4(a, len)) return d;
      auto it = maps.find({IpcacheMap::Hash, IpPrefix{mask(a, len), len}});
      if (it != maps.end()) return it->second.node_id;
    }
    std::optional<uint32_t> best;
    int best_len = -1;
    for (const auto& [k, v] : maps)
      if (k.first == IpcacheMap::Trie && k.second.contains(a) && k.second.len > best_len)
        best = v.node_id, best_len = k.second.len;
    return best;
  }
};

// Drives random upserts and deletes; checks every write of every call.
void run_sequence(uint8_t family, const std::vector<uint8_t>& lens, uint32_t steps, uint32_t seed) {
  std::mt19937 rng(seed);
  FakeStore store;
  IpcacheLengths lengths;
  Table present;
  Table before, after;
  uint32_t writes = 0;
  store.after_write = [&] {
    ++writes;
    // Every prefix present both before and after the call answers as one of
    // the two tables would (the prefix being changed may shadow it or not).
    for (const auto& [p, n] : before) {
      if (!after.contains(p)) continue;
      const auto got = store.lookup(p.addr);
      const auto b = reference(before, p.addr), a = reference(after, p.addr);
      ASSERT_TRUE(got == b || got == a) << p.str() << " answered " << (got ? std::to_string(*got) : "miss");
      ASSERT_TRUE(got.has_value()) << p.str() << " missed";
    }
  };
  auto random_prefix = [&] {
    IpAddr a{};
    a.family = family;
    const size_t n = family == AF_INET ? 4 : 16;
    a.bytes[0] = family == AF_INET ? 10 : 0xfd;
    for (size_t i = 1; i < n; ++i) a.bytes[i] = static_cast<uint8_t>(rng() % 4);  // dense: prefixes nest
    const uint8_t len = lens[rng() % lens.size()];
    return IpPrefix{mask(a, len), len};
  };
  uint32_t next_id = 1;
  for (uint32_t i = 0; i < steps; ++i) {
    before = present;
    if (!present.empty() && rng() % 3 == 0) {
      auto it = present.begin();
      std::advance(it, static_cast<long>(rng() % present.size()));
      const IpPrefix p = it->first;
      after = present;
      after.erase(p);
      ASSERT_TRUE(lengths.erase(store, p)) << p.str();
      present = after;
    } else {
      const IpPrefix p = random_prefix();
      after = present;
      after[p] = next_id;
      ASSERT_TRUE(lengths.upsert(store, p, {next_id, 0})) << p.str();
      ++next_id;
      present = after;
    }
    if (::testing::Test::HasFatalFailure()) return;
    // Between calls: exactly the single-trie answer, for every entry and for
    // addresses around them.
    for (const auto& [p, n] : present) {
      ASSERT_EQ(store.lookup(p.addr), reference(present, p.addr)) << p.str();
      IpAddr last = p.addr;
      last.bytes[family == AF_INET ? 3 : 15] |= 3;
      ASSERT_EQ(store.lookup(last), reference(present, last)) << last.str();
    }
    // The invariant that makes the first hash hit the longest match.
    const auto& listed = lengths.listed(family);
    ASSERT_LE(listed.size(), SEALNET_PLENS_MAX);
    for (const auto& [k, v] : store.maps) {
      if (k.first == IpcacheMap::Trie && k.second.addr.family == family && !listed.empty()) {
        ASSERT_LT(k.second.len, listed.back()) << k.second.str();
      }
    }
  }
  EXPECT_GT(writes, steps);
  EXPECT_GT(store.publishes, 0);
  EXPECT_GT(store.region_writes, 0);
  if (std::find(lens.begin(), lens.end(), family == AF_INET ? 32 : 64) != lens.end()) {
    EXPECT_GT(store.direct_writes, 0);
  }
  // Between calls the masks are exact: a bit is set iff a hash entry counts in it.
  std::map<std::pair<int, uint32_t>, uint64_t> want;
  for (const auto& [k, v] : store.maps)
    if (k.first == IpcacheMap::Hash)
      if (auto r = region_bit(k.second))
        want[{k.second.addr.family == AF_INET ? SEALNET_PLENS_V4 : SEALNET_PLENS_V6, r->slot}] |= uint64_t{1} << r->bit;
  for (const auto& [k, m] : store.regions) EXPECT_EQ(m, want[k]) << "slot " << k.second;
}

TEST(IpcacheLengths, Ipv4FewLengthsAllInTheHash) { run_sequence(AF_INET, {32, 26, 24}, 400, 1); }
TEST(IpcacheLengths, Ipv4MoreLengthsThanTheListSpillToTheTrie) {
  run_sequence(AF_INET, {32, 31, 30, 29, 28, 27, 26, 25, 24, 22, 20, 16, 8}, 1500, 2);
}
TEST(IpcacheLengths, Ipv4WithADefaultRoute) { run_sequence(AF_INET, {32, 24, 0}, 300, 3); }
TEST(IpcacheLengths, Ipv6) { run_sequence(AF_INET6, {128, 120, 112, 96, 80, 64, 56, 48, 40, 32}, 500, 4); }

// The order of one new length, spelled out: region bit first, then the entry,
// its direct word, the spare copy, then `live`; and a retired length leaves
// the list only after its entry, whose word goes before it and region bit
// after it.
TEST(IpcacheLengths, NewLengthIsPublishedAfterItsEntryAndRetiredAfterIt) {
  FakeStore store;
  IpcacheLengths lengths;
  std::vector<std::string> log;
  const IpPrefix p{mask(*IpAddr::parse("10.1.2.0"), 24), 24};
  const auto r = region_bit(p);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->bit, 0u);
  store.after_write = [&] {
    const bool in_hash = store.maps.contains({IpcacheMap::Hash, p});
    const int live = store.plens.live[0];
    const bool listed = store.plens.len[0][live][0] == 25;
    const bool bit = store.regions[{SEALNET_PLENS_V4, r->slot}] & 1;
    const bool word = store.word_at(*direct_index(p)) != 0;
    log.push_back(std::string(bit ? "bit+" : "") + (in_hash ? "entry" : "no-entry") + (word ? "+word" : "") +
                  (listed ? "+listed" : ""));
  };
  ASSERT_TRUE(lengths.upsert(store, p, {2, 0}));
  ASSERT_TRUE(lengths.erase(store, p));
  // region bit, put, direct word, spare copy, live flip; erase: direct word,
  // entry, region bit, spare copy (the live one still names the length), live
  // flip.
  const std::vector<std::string> want = {"bit+no-entry",
                                         "bit+entry",
                                         "bit+entry+word",
                                         "bit+entry+word",
                                         "bit+entry+word+listed",
                                         "bit+entry+listed",
                                         "bit+no-entry+listed",
                                         "no-entry+listed",
                                         "no-entry+listed",
                                         "no-entry"};
  EXPECT_EQ(log, want);
  EXPECT_TRUE(lengths.listed(AF_INET).empty());
  EXPECT_EQ(lengths.region_mask(SEALNET_PLENS_V4, r->slot), 0u);
}

// Prefixes shorter than a region count in no mask: they are always probed.
TEST(IpcacheLengths, PrefixesShorterThanARegionHaveNoBit) {
  EXPECT_FALSE(region_bit(*IpPrefix::parse("10.1.0.0/23")).has_value());
  EXPECT_FALSE(region_bit(*IpPrefix::parse("fd00::/63")).has_value());
  EXPECT_EQ(region_bit(*IpPrefix::parse("10.1.2.3/32"))->bit, 8u);
  EXPECT_EQ(region_bit(*IpPrefix::parse("fd00::1/128"))->bit, 63u);
  EXPECT_EQ(region_bit(*IpPrefix::parse("fd00::/127"))->bit, 63u);
  // One region, one slot: every length inside a /24 shares it.
  EXPECT_EQ(region_bit(*IpPrefix::parse("10.1.2.3/32"))->slot, region_bit(*IpPrefix::parse("10.1.2.0/24"))->slot);
}

// Three /32s in one slot pair: the first two have its words, the third is
// answered by the hash, and stays answered when the first goes. A value that
// does not fit a word (node id above 16 bits) gets none.
TEST(IpcacheLengths, DirectWordsAreACacheOfTheHash) {
  FakeStore store;
  IpcacheLengths lengths;
  const IpPrefix a = *IpPrefix::parse("10.0.0.1/32");
  std::vector<IpPrefix> same;  // two more in a's pair
  for (uint32_t i = 2; i < (1u << 22) && same.size() < 2; ++i) {
    IpAddr x = a.addr;
    x.bytes[1] = static_cast<uint8_t>(i >> 16);
    x.bytes[2] = static_cast<uint8_t>(i >> 8);
    x.bytes[3] = static_cast<uint8_t>(i);
    if (direct_index({x, 32}) == direct_index(a)) same.push_back(IpPrefix{x, 32});
  }
  ASSERT_EQ(same.size(), 2u);
  const IpPrefix b = same[1], c = same[0];
  ASSERT_TRUE(lengths.upsert(store, a, {2, SEALNET_IPCACHE_POD_CIDR}));
  ASSERT_TRUE(lengths.upsert(store, c, {6, 0}));
  ASSERT_TRUE(lengths.upsert(store, b, {3, SEALNET_IPCACHE_POD_CIDR}));
  EXPECT_EQ(store.word_at(*direct_index(a)), *direct_word(a, {2, SEALNET_IPCACHE_POD_CIDR}));
  EXPECT_EQ(store.word_at(*direct_index(a) + 1), *direct_word(c, {6, 0}));
  EXPECT_EQ(store.lookup(a.addr), 2u);
  EXPECT_EQ(store.lookup(b.addr), 3u);  // from the hash
  EXPECT_EQ(store.lookup(c.addr), 6u);
  ASSERT_TRUE(lengths.erase(store, a));
  EXPECT_EQ(store.word_at(*direct_index(a)), 0u);
  EXPECT_EQ(store.lookup(a.addr), std::nullopt);
  EXPECT_EQ(store.lookup(b.addr), 3u);
  EXPECT_EQ(store.lookup(c.addr), 6u);
  // An update rewrites the hash, and the word (here: takes the free one).
  ASSERT_TRUE(lengths.upsert(store, b, {4, 0}));
  EXPECT_EQ(store.lookup(b.addr), 4u);
  EXPECT_EQ(store.word_at(*direct_index(a)), *direct_word(b, {4, 0}));

  const IpPrefix wide = *IpPrefix::parse("10.9.9.0/24");
  ASSERT_TRUE(lengths.upsert(store, wide, {0x10000, 0}));
  EXPECT_EQ(store.word_at(*direct_index(wide)), 0u);
  EXPECT_EQ(store.lookup(*IpAddr::parse("10.9.9.7")), 0x10000u);
  // From a word to none: the new value does not fit, so the word goes.
  const IpPrefix v6 = *IpPrefix::parse("fd01:0:0:7::/64");
  ASSERT_TRUE(lengths.upsert(store, v6, {5, 0}));
  EXPECT_EQ(store.direct6.count(*direct6_slot(v6)), 1u);
  ASSERT_TRUE(lengths.upsert(store, v6, {0x10001, 0}));
  EXPECT_EQ(store.direct6.count(*direct6_slot(v6)), 0u);
  EXPECT_EQ(store.lookup(*IpAddr::parse("fd01:0:0:7::9")), 0x10001u);
}

}  // namespace
}  // namespace sealnet::bpf
