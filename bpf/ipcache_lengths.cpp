#include "bpf/ipcache_lengths.h"

#include <algorithm>
#include <cerrno>
#include <functional>

namespace sealnet::bpf {

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
  for (const auto& [p, v] : *moved) {
    if (auto st = s.erase(IpcacheMap::Hash, p); !st) return st;
    --f.hash[len];
  }
  return {};
}

Status IpcacheLengths::upsert(IpcacheStore& s, const IpPrefix& p, const sealnet_ipcache_value& v) {
  const int fi = index(p.addr.family);
  auto& f = fam_[static_cast<size_t>(fi)];
  const uint8_t len = p.len;
  auto put = [&](IpcacheMap m) -> Status {
    auto added = s.put(m, p, v);
    if (!added) return std::unexpected(added.error());
    if (*added) ++(m == IpcacheMap::Hash ? f.hash : f.trie)[len];
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
    if (s.erase(IpcacheMap::Hash, p)) --f.hash[len];
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
  if (auto st = s.erase(IpcacheMap::Hash, p); !st) return st;
  if (f.hash[len] > 0) --f.hash[len];
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

bool IpcacheLengths::restore_entry(IpcacheMap m, uint8_t family, uint8_t len) {
  auto& f = fam_[static_cast<size_t>(index(family))];
  if (m == IpcacheMap::Trie) {
    ++f.trie[len];
    return true;
  }
  if (std::find(f.listed.begin(), f.listed.end(), len) == f.listed.end()) return false;
  ++f.hash[len];
  return true;
}

}  // namespace sealnet::bpf
