#include "bpf/ipcache_lengths.h"

#include <algorithm>
#include <cerrno>
#include <functional>

namespace sealnet::bpf {

namespace {
uint32_t word(const IpAddr& a, size_t i) {
  return static_cast<uint32_t>(a.bytes[4 * i]) << 24 | static_cast<uint32_t>(a.bytes[4 * i + 1]) << 16 |
         static_cast<uint32_t>(a.bytes[4 * i + 2]) << 8 | a.bytes[4 * i + 3];
}
uint32_t region_key(const RegionBit& r) { return r.slot << 6 | r.bit; }
}  // namespace

std::optional<RegionBit> region_bit(const IpPrefix& p) {
  if (p.addr.family == AF_INET) {
    if (p.len < SEALNET_REGION4_LEN) return std::nullopt;
    return RegionBit{sealnet_region_slot(word(p.addr, 0) >> 8, 0), sealnet_region_bit(p.len, SEALNET_REGION4_LEN)};
  }
  if (p.len < SEALNET_REGION6_LEN) return std::nullopt;
  return RegionBit{sealnet_region_slot(word(p.addr, 0), word(p.addr, 1)),
                   sealnet_region_bit(p.len, SEALNET_REGION6_LEN)};
}

namespace {
uint32_t masked4(const IpPrefix& p) {
  return p.len == 0 ? 0 : word(p.addr, 0) & static_cast<uint32_t>(0xFFFFFFFF00000000ull >> p.len);
}
}  // namespace

std::optional<uint32_t> direct_index(const IpPrefix& p) {
  if (p.addr.family != AF_INET || p.len > 32) return std::nullopt;
  return sealnet_direct4_slot(masked4(p), p.len);
}

std::optional<uint64_t> direct_word(const IpPrefix& p, const sealnet_ipcache_value& v) {
  if (!direct_index(p) || v.node_id > 0xFFFF || v.flags > 0xFF) return std::nullopt;
  return sealnet_direct_word(masked4(p), p.len, v.node_id, v.flags);
}

std::optional<uint32_t> direct6_slot(const IpPrefix& p) {
  if (p.addr.family != AF_INET6 || p.len != SEALNET_REGION6_LEN) return std::nullopt;
  return sealnet_region_slot(word(p.addr, 0), word(p.addr, 1));
}

std::optional<uint32_t> direct6_value(const IpPrefix& p, const sealnet_ipcache_value& v) {
  if (!direct6_slot(p) || v.node_id > 0xFFFF || v.flags > 0xFF) return std::nullopt;
  return v.node_id | v.flags << 16 | SEALNET_DIRECT6_VALID;
}

uint64_t direct6_region(const IpAddr& a) { return uint64_t{word(a, 0)} << 32 | word(a, 1); }

// The direct word `p` has, or the free one it may take (a /32 has two to
// choose from); nullopt when both are another entry's.
std::optional<uint32_t> IpcacheLengths::direct_key(const IpPrefix& p) const {
  const auto idx4 = direct_index(p);
  const auto slot6 = direct6_slot(p);
  if (!idx4 && !slot6) return std::nullopt;
  const uint32_t first = idx4 ? *idx4 : kDirect6 | *slot6;
  const uint32_t ways = idx4 ? 2 : 1;
  std::optional<uint32_t> free;
  for (uint32_t k = first; k < first + ways; ++k) {
    auto it = direct_.find(k);
    if (it != direct_.end() && it->second == p) return k;
    if (it == direct_.end() && !free) free = k;
  }
  return free;
}

// After the hash holds `v` for `p`: its word, unless other entries have them.
Status IpcacheLengths::direct_fill(IpcacheStore& s, const IpPrefix& p, const sealnet_ipcache_value& v) {
  const auto idx4 = direct_index(p);
  const auto slot6 = direct6_slot(p);
  const auto found = direct_key(p);
  if (!found) return {};
  const uint32_t key = *found;
  if (idx4) {
    const auto w = direct_word(p, v);
    if (!w) return direct_drop(s, p);  // a new value that does not fit: the hash alone answers
    if (auto st = s.set_direct(key, *w); !st) return st;
  } else {
    const auto w = direct6_value(p, v);
    if (!w) return direct_drop(s, p);
    if (auto st = s.set_direct6(*slot6, direct6_region(p.addr), *w); !st) return st;
  }
  direct_.insert_or_assign(key, p);
  return {};
}

// Before `p` leaves the hash: its word, when it has it.
Status IpcacheLengths::direct_drop(IpcacheStore& s, const IpPrefix& p) {
  const auto idx4 = direct_index(p);
  const auto slot6 = direct6_slot(p);
  const auto key = direct_key(p);
  if (!key) return {};
  auto it = direct_.find(*key);
  if (it == direct_.end() || it->second != p) return {};
  if (auto st = idx4 ? s.set_direct(*key, 0) : s.set_direct6(*slot6, 0, 0); !st) return st;
  direct_.erase(it);
  return {};
}

uint64_t IpcacheLengths::region_mask(int family_index, uint32_t slot) const {
  const auto& m = fam_[static_cast<size_t>(family_index)].region_masks;
  auto it = m.find(slot);
  return it == m.end() ? 0 : it->second;
}

Status IpcacheLengths::region_before_put(IpcacheStore& s, const IpPrefix& p) {
  const auto r = region_bit(p);
  if (!r) return {};
  const int fi = index(p.addr.family);
  auto& f = fam_[static_cast<size_t>(fi)];
  const uint64_t mask = region_mask(fi, r->slot), bit = uint64_t{1} << r->bit;
  if (mask & bit) return {};
  if (auto st = s.set_region(fi, r->slot, mask | bit); !st) return st;
  f.region_masks[r->slot] = mask | bit;
  return {};
}

void IpcacheLengths::region_put_done(const IpPrefix& p, bool added) {
  const auto r = region_bit(p);
  if (r && added) ++fam_[static_cast<size_t>(index(p.addr.family))].region_entries[region_key(*r)];
}

Status IpcacheLengths::region_after_erase(IpcacheStore& s, const IpPrefix& p) {
  const auto r = region_bit(p);
  if (!r) return {};
  const int fi = index(p.addr.family);
  auto& f = fam_[static_cast<size_t>(fi)];
  auto it = f.region_entries.find(region_key(*r));
  if (it != f.region_entries.end() && --it->second > 0) return {};
  if (it != f.region_entries.end()) f.region_entries.erase(it);
  const uint64_t mask = region_mask(fi, r->slot), bit = uint64_t{1} << r->bit;
  if (!(mask & bit)) return {};
  if (auto st = s.set_region(fi, r->slot, mask & ~bit); !st) return st;
  if ((mask & ~bit) == 0) f.region_masks.erase(r->slot);
  else f.region_masks[r->slot] = mask & ~bit;
  return {};
}

Status IpcacheLengths::put_hash(IpcacheStore& s, const IpPrefix& p, const sealnet_ipcache_value& v) {
  if (auto st = region_before_put(s, p); !st) return st;
  auto added = s.put(IpcacheMap::Hash, p, v);
  if (!added) {
    // The bit was set for nothing when no entry shares it: clear it again.
    (void)region_after_erase(s, p);
    return std::unexpected(added.error());
  }
  if (*added) ++fam_[static_cast<size_t>(index(p.addr.family))].hash[p.len];
  region_put_done(p, *added);
  return direct_fill(s, p, v);
}

Status IpcacheLengths::erase_hash(IpcacheStore& s, const IpPrefix& p) {
  if (auto st = direct_drop(s, p); !st) return st;
  if (auto st = s.erase(IpcacheMap::Hash, p); !st) return st;
  auto& f = fam_[static_cast<size_t>(index(p.addr.family))];
  if (f.hash[p.len] > 0) --f.hash[p.len];
  return region_after_erase(s, p);
}

int IpcacheLengths::longest_in_trie(const Family& f) const {
  for (int l = static_cast<int>(f.trie.size()) - 1; l >= 0; --l)
    if (f.trie[static_cast<size_t>(l)] > 0) return l;
  return -1;
}

IpcacheMap IpcacheLengths::where(const IpPrefix& p) const {
  const auto& l = fam_[index(p.addr.family)].listed;
  return std::find(l.begin(), l.end(), p.len) != l.end() ? IpcacheMap::Hash : IpcacheMap::Trie;
}

// Two writes: the copy lookups do not read, then the `live` byte that makes
// it the one they read. Each changes bytes no lookup is reading or one byte.
Status IpcacheLengths::publish(IpcacheStore& s, int fi, std::vector<uint8_t> lens) {
  std::sort(lens.begin(), lens.end(), std::greater<>());
  sealnet_plens next = plens_;
  const int spare = next.live[fi] ^ 1;
  auto& copy = next.len[fi][spare];
  std::fill(std::begin(copy), std::end(copy), uint8_t{0});
  for (size_t i = 0; i < lens.size(); ++i) copy[i] = static_cast<uint8_t>(lens[i] + 1);
  if (auto st = s.publish(next); !st) return st;
  plens_ = next;
  next.live[fi] = static_cast<uint8_t>(spare);
  if (auto st = s.publish(next); !st) return st;
  plens_ = next;
  fam_[static_cast<size_t>(fi)].listed = std::move(lens);
  return {};
}

// The list is full and a longer length arrives: its shortest length moves to
// the trie. Copies first (the hash still answers them), then the list without
// it, then the hash entries go.
Status IpcacheLengths::demote(IpcacheStore& s, uint8_t family, uint8_t len) {
  const int fi = index(family);
  auto& f = fam_[static_cast<size_t>(fi)];
  auto moved = s.entries(IpcacheMap::Hash, family, len);
  if (!moved) return std::unexpected(moved.error());
  for (const auto& [p, v] : *moved) {
    auto added = s.put(IpcacheMap::Trie, p, v);
    if (!added) return std::unexpected(added.error());
    if (*added) ++f.trie[len];
  }
  auto rest = f.listed;
  std::erase(rest, len);
  if (auto st = publish(s, fi, rest); !st) return st;
  for (const auto& [p, v] : *moved)
    if (auto st = erase_hash(s, p); !st) return st;
  return {};
}

Status IpcacheLengths::upsert(IpcacheStore& s, const IpPrefix& p, const sealnet_ipcache_value& v) {
  const int fi = index(p.addr.family);
  auto& f = fam_[static_cast<size_t>(fi)];
  const uint8_t len = p.len;
  auto put = [&](IpcacheMap m) -> Status {
    if (m == IpcacheMap::Hash) return put_hash(s, p, v);
    auto added = s.put(m, p, v);
    if (!added) return std::unexpected(added.error());
    if (*added) ++f.trie[len];
    return {};
  };
  if (where(p) == IpcacheMap::Hash) return put(IpcacheMap::Hash);
  // A length the trie holds stays there, and so does one no longer than the
  // trie's longest: listing it would let a shorter hash hit shadow the trie.
  if (f.trie[len] > 0 || static_cast<int>(len) <= longest_in_trie(f)) return put(IpcacheMap::Trie);
  if (f.listed.size() == SEALNET_PLENS_MAX) {
    if (len < f.listed.back()) return put(IpcacheMap::Trie);
    if (auto st = demote(s, p.addr.family, f.listed.back()); !st) return st;
  }
  // A new length: its first entry is in the hash before the list names it.
  if (auto st = put(IpcacheMap::Hash); !st) return st;
  auto lens = f.listed;
  lens.push_back(len);
  if (auto st = publish(s, fi, lens); !st) {
    (void)erase_hash(s, p);
    return st;
  }
  return {};
}

Status IpcacheLengths::erase(IpcacheStore& s, const IpPrefix& p) {
  const int fi = index(p.addr.family);
  auto& f = fam_[static_cast<size_t>(fi)];
  const uint8_t len = p.len;
  if (where(p) == IpcacheMap::Trie) {
    if (auto st = s.erase(IpcacheMap::Trie, p); !st) return st;
    if (f.trie[len] > 0) --f.trie[len];
    return {};
  }
  if (auto st = erase_hash(s, p); !st) return st;
  // The last entry of a length is gone: the list stops naming it.
  if (f.hash[len] == 0) {
    auto rest = f.listed;
    std::erase(rest, len);
    return publish(s, fi, rest);
  }
  return {};
}

void IpcacheLengths::restore_plens(const sealnet_plens& p) {
  plens_ = p;
  for (int fi = 0; fi < 2; ++fi) {
    auto& f = fam_[static_cast<size_t>(fi)];
    f = Family{};
    const uint8_t max_len = fi == SEALNET_PLENS_V4 ? 32 : 128;
    for (uint8_t b : p.len[fi][p.live[fi] & 1])
      if (b != 0 && b - 1 <= max_len) f.listed.push_back(static_cast<uint8_t>(b - 1));
  }
}

bool IpcacheLengths::restore_entry(IpcacheMap m, const IpPrefix& p, const sealnet_ipcache_value& v) {
  auto& f = fam_[static_cast<size_t>(index(p.addr.family))];
  if (m == IpcacheMap::Trie) {
    ++f.trie[p.len];
    return true;
  }
  if (std::find(f.listed.begin(), f.listed.end(), p.len) == f.listed.end()) return false;
  ++f.hash[p.len];
  region_put_done(p, true);
  restored_.emplace_back(p, v);
  return true;
}

// Every slot an entry counts in gets its whole mask at once: the entries are
// all in the hash already, so a lookup that sees a mix of the old and the new
// value still sees every bit the two share, and the bits only one of them has
// are either stale (no entry) or of entries it could not see before. Slots
// with no entry keep whatever an earlier process left (extra probes only).
Status IpcacheLengths::restore_regions(IpcacheStore& s) {
  for (int fi = 0; fi < 2; ++fi) {
    auto& f = fam_[static_cast<size_t>(fi)];
    f.region_masks.clear();
    for (const auto& [key, n] : f.region_entries) f.region_masks[key >> 6] |= uint64_t{1} << (key & 63);
    for (const auto& [slot, mask] : f.region_masks)
      if (auto st = s.set_region(fi, slot, mask); !st) return st;
  }
  // A word an earlier process left may be older than its entry (it stopped
  // between the two writes): every word goes, then the entries fill them. In
  // between the hash answers alone.
  direct_.clear();
  for (uint32_t i = 0; i < SEALNET_DIRECT4_WORDS; ++i)
    if (auto st = s.set_direct(i, 0); !st) return st;
  for (uint32_t i = 0; i < SEALNET_REGION_SLOTS; ++i)
    if (auto st = s.set_direct6(i, 0, 0); !st) return st;
  auto restored = std::move(restored_);
  restored_.clear();
  for (const auto& [p, v] : restored)
    if (auto st = direct_fill(s, p, v); !st) return st;
  return {};
}

}  // namespace sealnet::bpf
