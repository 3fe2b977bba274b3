// The ipcache's prefix lengths (bpf/shared.h): which lengths the per-family
// hash holds and the programs probe, which live in the trie, and the order of
// map writes that keeps every present prefix answering while that changes.
#pragma once

#include <array>
#include <optional>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sys/socket.h>

#include "bpf/shared.h"
#include "core/error.h"
#include "core/ip.h"

namespace sealnet::bpf {

enum class IpcacheMap { Hash, Trie };

// The maps as the ordering sees them: the loader's is libbpf, tests record.
class IpcacheStore {
 public:
  virtual ~IpcacheStore() = default;
  // Inserts or replaces; true when the prefix was not in `m` before.
  virtual Result<bool> put(IpcacheMap m, const IpPrefix& p, const sealnet_ipcache_value& v) = 0;
  virtual Status erase(IpcacheMap m, const IpPrefix& p) = 0;  // ENOENT when absent
  // Every entry of `m` of this family and length.
  virtual Result<std::vector<std::pair<IpPrefix, sealnet_ipcache_value>>> entries(IpcacheMap m, uint8_t family,
                                                                                  uint8_t len) = 0;
  // Writes the whole sealnet_plens value (IpcacheLengths changes one copy or
  // one `live` byte per call, never both).
  virtual Status publish(const sealnet_plens& p) = 0;
  // Writes the mask of one region slot (family index SEALNET_PLENS_V4/V6, slot
  // < SEALNET_REGION_SLOTS); IpcacheLengths changes one bit per call.
  virtual Status set_region(int family_index, uint32_t slot, uint64_t mask) = 0;
  // Stores one word of sealnet_direct4 (index < SEALNET_DIRECT4_WORDS) whole.
  virtual Status set_direct(uint32_t index, uint64_t word) = 0;
  // Writes the /64 entry of one sealnet_direct6 slot under the slot's next
  // generation: `region` = the /64's two words (host order, high first),
  // `value` = node id | flags << 16 | SEALNET_DIRECT6_VALID; 0 clears the slot.
  virtual Status set_direct6(uint32_t slot, uint64_t region, uint32_t value) = 0;
};

// The sealnet_direct4 slot pair (its first word) an IPv4 hash entry may be
// cached in,
// and the word for its value; nullopt when it has none or the value does not
// fit a word. IPv6 /64 entries: direct6_slot and direct6_value.
std::optional<uint32_t> direct_index(const IpPrefix& p);
std::optional<uint64_t> direct_word(const IpPrefix& p, const sealnet_ipcache_value& v);
std::optional<uint32_t> direct6_slot(const IpPrefix& p);
std::optional<uint32_t> direct6_value(const IpPrefix& p, const sealnet_ipcache_value& v);
uint64_t direct6_region(const IpAddr& a);

// Where a hash entry counts in sealnet_regions (bpf/shared.h): its family's
// slot and bit, or nothing when the prefix is shorter than a region.
struct RegionBit {
  uint32_t slot;
  uint32_t bit;
};
std::optional<RegionBit> region_bit(const IpPrefix& p);

class IpcacheLengths {
 public:
  // Upsert and erase keep, after every single map write: a region bit is set
  // while the hash holds an entry it covers; an entry's length is
  // listed only once the entry is in the hash; a length leaves the list before
  // its entries leave the hash; every listed length is longer than every
  // length in the trie. A lookup (hash at each live length, then the trie)
  // thus answers every prefix that was present before the call and still is.
  Status upsert(IpcacheStore& s, const IpPrefix& p, const sealnet_ipcache_value& v);
  Status erase(IpcacheStore& s, const IpPrefix& p);

  // Where `p` is, or would be now: the hash when its length is listed.
  IpcacheMap where(const IpPrefix& p) const;
  // The listed lengths of a family (AF_INET / AF_INET6), longest first.
  const std::vector<uint8_t>& listed(uint8_t family) const { return fam_[index(family)].listed; }
  const sealnet_plens& plens() const { return plens_; }

  // Rebuilding from maps a previous process filled: the live lists, then one
  // call per entry found. An entry in the hash at a length the list lacks was
  // never visible; restore_entry says so (false) and the caller deletes it.
  // restore_regions then writes the mask of every slot an entry counts in,
  // clears every direct word and caches the restored entries again.
  void restore_plens(const sealnet_plens& p);
  bool restore_entry(IpcacheMap m, const IpPrefix& p, const sealnet_ipcache_value& v);
  Status restore_regions(IpcacheStore& s);

  // The mask IpcacheLengths last wrote for a slot (0 when none).
  uint64_t region_mask(int family_index, uint32_t slot) const;

 private:
  struct Family {
    std::array<uint32_t, 129> hash{};  // entries per length
    std::array<uint32_t, 129> trie{};
    std::vector<uint8_t> listed;  // longest first, = the live copy
    // Hash entries per (slot << 6 | bit), and each slot's mask as written; only
    // slots in use (an agent's memory grows with the entries, not the slots).
    std::unordered_map<uint32_t, uint32_t> region_entries;
    std::unordered_map<uint32_t, uint64_t> region_masks;
  };
  // Which hash entry each direct word in use caches: sealnet_direct4 by
  // index, sealnet_direct6 by kDirect6 | slot.
  static constexpr uint32_t kDirect6 = 0x80000000u;
  std::unordered_map<uint32_t, IpPrefix> direct_;
  std::vector<std::pair<IpPrefix, sealnet_ipcache_value>> restored_;  // between restore_* calls
  static int index(uint8_t family) { return family == AF_INET ? SEALNET_PLENS_V4 : SEALNET_PLENS_V6; }
  int longest_in_trie(const Family& f) const;
  Status publish(IpcacheStore& s, int fi, std::vector<uint8_t> lens);
  Status demote(IpcacheStore& s, uint8_t family, uint8_t len);
  // Around every hash write: before a put (the bit is set first), after an
  // erase (the bit is cleared last), and undoing a put that failed.
  Status region_before_put(IpcacheStore& s, const IpPrefix& p);
  void region_put_done(const IpPrefix& p, bool added);
  Status region_after_erase(IpcacheStore& s, const IpPrefix& p);
  std::optional<uint32_t> direct_key(const IpPrefix& p) const;
  Status direct_fill(IpcacheStore& s, const IpPrefix& p, const sealnet_ipcache_value& v);
  Status direct_drop(IpcacheStore& s, const IpPrefix& p);
  Status put_hash(IpcacheStore& s, const IpPrefix& p, const sealnet_ipcache_value& v);
  Status erase_hash(IpcacheStore& s, const IpPrefix& p);

  std::array<Family, 2> fam_{};
  sealnet_plens plens_{};
};

}  // namespace sealnet::bpf
