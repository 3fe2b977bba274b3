#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "bpf/programs.h"
#include "sealnet_bpf.skel.h"

namespace sealnet::bpf {

namespace {

Status map_status(int rc, const char* op, const bpf_map* map) {
  if (rc == 0) return {};
  return fail(-rc, op, std::string("map ") + bpf_map__name(map));
}

bool is_bpffs(const std::string& dir) {
  struct statfs st {};
  return ::statfs(dir.c_str(), &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

// A lookup that tells "absent" (ENOENT) from a failure.
template <typename V>
Result<std::optional<V>> lookup(const bpf_map* m, const void* key, size_t key_size) {
  V v{};
  const int rc = bpf_map__lookup_elem(m, key, key_size, &v, sizeof v, 0);
  if (rc == -ENOENT) return std::nullopt;
  if (rc != 0) return std::unexpected(map_status(rc, "lookup", m).error());
  return v;
}

// The maps with one entry per metric reason (sealnet_metrics, sealnet_ev_rate)
// change size when a reason is added; libbpf refuses a pin of another size, so
// such a pin made by an older build is removed before the load and the map is
// made afresh: its counters restart at 0, and the programs still attached keep
// the old map until the agent replaces them. No packet is steered by these maps.
Status drop_resized_reason_pins(const std::string& dir) {
  for (const char* name : {"sealnet_metrics", "sealnet_ev_rate"}) {
    const std::string path = dir + "/" + name;
    const int fd = bpf_obj_get(path.c_str());
    if (fd < 0) continue;  // not pinned yet
    bpf_map_info info{};
    uint32_t len = sizeof info;
    const int rc = bpf_obj_get_info_by_fd(fd, &info, &len);
    ::close(fd);
    if (rc != 0) return fail(-rc, "read BPF map info", path);
    if (info.max_entries != SEALNET_M_COUNT && ::unlink(path.c_str()) != 0)
      return fail_errno("remove a pinned map of an older size", path);
  }
  return {};
}

}  // namespace

std::string_view program_name(Program p) {
  switch (p) {
    case Program::FromPod: return "from_pod";
    case Program::FromHost: return "from_host";
    case Program::ToWire: return "to_wire";
  }
  return "?";
}

Status ensure_bpffs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(ec.value(), "create directory", dir);
  if (is_bpffs(dir)) return {};
  if (::mount("bpf", dir.c_str(), "bpf", 0, "mode=0700") != 0)
    return fail_errno("mount bpffs", dir);
  return {};
}

namespace {
// The whole of sealnet_direct4, a whole number of pages (an array's mapping).
constexpr size_t kDirect4Bytes = sizeof(uint64_t) * SEALNET_DIRECT4_WORDS;
constexpr size_t kDirect6Bytes = sizeof(sealnet_direct6) * SEALNET_REGION_SLOTS;
static_assert(kDirect4Bytes % 4096 == 0 && kDirect6Bytes % 4096 == 0);

void* map_shared(bpf_map* m, size_t bytes) {
  return ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(m), 0);
}
}  // namespace

Result<Datapath> Datapath::load(const LoadOptions& opts) {
  LIBBPF_OPTS(bpf_object_open_opts, open_opts);
  if (!opts.pin_dir.empty()) {
    // Pinning anywhere else fails deep inside libbpf with a bare EINVAL.
    if (!is_bpffs(opts.pin_dir))
      return fail(ENOTDIR, "pin BPF maps", opts.pin_dir,
                  "not a bpffs mount; mount one there first (ensure_bpffs)");
    open_opts.pin_root_path = opts.pin_dir.c_str();
    if (auto s = drop_resized_reason_pins(opts.pin_dir); !s) return std::unexpected(s.error());
  }
  sealnet_bpf* skel = sealnet_bpf__open_opts(&open_opts);
  if (!skel) return fail_errno("open BPF object", "sealnet_bpf");
  Datapath dp(skel);
  if (opts.pin_dir.empty()) {
    bpf_map* map;
    bpf_object__for_each_map(map, skel->obj) bpf_map__set_pin_path(map, nullptr);
  }
  if (int rc = sealnet_bpf__load(skel); rc != 0)
    return fail(-rc, "load BPF programs", "sealnet_bpf", "the kernel verifier or map creation refused them, or a map pinned by an older build has another type (see bpf/lib/maps.h); run with LIBBPF_LOG=debug for the log");
  void* direct = map_shared(skel->maps.sealnet_direct4, kDirect4Bytes);
  if (direct == MAP_FAILED) return fail_errno("mmap BPF map", "sealnet_direct4");
  dp.direct4_ = static_cast<uint64_t*>(direct);
  direct = map_shared(skel->maps.sealnet_direct6, kDirect6Bytes);
  if (direct == MAP_FAILED) return fail_errno("mmap BPF map", "sealnet_direct6");
  dp.direct6_ = static_cast<sealnet_direct6*>(direct);
  if (auto s = dp.restore_ipcache(); !s) return std::unexpected(s.error());
  return dp;
}

Datapath::Datapath(Datapath&& o) noexcept
    : skel_(std::exchange(o.skel_, nullptr)),
      direct4_(std::exchange(o.direct4_, nullptr)),
      direct6_(std::exchange(o.direct6_, nullptr)),
      lengths_(std::move(o.lengths_)) {}
Datapath& Datapath::operator=(Datapath&& o) noexcept {
  if (this != &o) {
    release();
    skel_ = std::exchange(o.skel_, nullptr);
    direct4_ = std::exchange(o.direct4_, nullptr);
    direct6_ = std::exchange(o.direct6_, nullptr);
    lengths_ = std::move(o.lengths_);
  }
  return *this;
}
void Datapath::release() {
  if (direct4_) ::munmap(direct4_, kDirect4Bytes);
  if (direct6_) ::munmap(direct6_, kDirect6Bytes);
  direct4_ = nullptr;
  direct6_ = nullptr;
  if (skel_) sealnet_bpf__destroy(skel_);
  skel_ = nullptr;
}
Datapath::~Datapath() { release(); }

int Datapath::prog_fd(Program p) const {
  switch (p) {
    case Program::FromPod: return bpf_program__fd(skel_->progs.from_pod);
    case Program::FromHost: return bpf_program__fd(skel_->progs.from_host);
    case Program::ToWire: return bpf_program__fd(skel_->progs.to_wire);
  }
  return -1;
}

Status Datapath::set_config(const sealnet_config& cfg) {
  if (auto s = validate(cfg); !s) return s;
  const uint32_t zero = 0;
  auto* m = skel_->maps.sealnet_config;
  return map_status(bpf_map__update_elem(m, &zero, sizeof zero, &cfg, sizeof cfg, BPF_ANY),
                    "update", m);
}

sealnet_ipcache_key ipcache_key(const IpPrefix& prefix) {
  sealnet_ipcache_key k{};
  k.prefixlen = SEALNET_IPCACHE_FAMILY_BITS + prefix.len;
  k.family = prefix.addr.family;
  std::memcpy(k.addr, prefix.addr.bytes.data(), prefix.addr.size());
  return k;
}

Result<sealnet_config> Datapath::config() const {
  const uint32_t zero = 0;
  auto v = lookup<sealnet_config>(skel_->maps.sealnet_config, &zero, sizeof zero);
  if (!v) return std::unexpected(v.error());
  return v->value_or(sealnet_config{});
}

namespace {

// The ipcache's maps (bpf/shared.h) under IpcacheLengths: a prefix's key in
// the hash of its family or in the trie.
union IpcacheKey {
  sealnet_prefix4_key v4;
  sealnet_prefix6_key v6;
  sealnet_ipcache_key trie;
};

// The address with the bits past the prefix cleared.
IpAddr masked(const IpPrefix& p) {
  IpAddr a = p.addr;
  for (size_t i = 0; i < a.bytes.size(); ++i) {
    const size_t bit = 8 * i;
    if (bit >= p.len) a.bytes[i] = 0;
    else if (bit + 8 > p.len) a.bytes[i] &= static_cast<uint8_t>(0xFF00u >> (p.len - bit));
  }
  return a;
}

class LibbpfIpcache final : public IpcacheStore {
 public:
  LibbpfIpcache(const sealnet_bpf* skel, uint64_t* direct4, sealnet_direct6* direct6)
      : skel_(skel), direct4_(direct4), direct6_(direct6) {}

  bpf_map* map(IpcacheMap m, uint8_t family) const {
    if (m == IpcacheMap::Trie) return skel_->maps.sealnet_ipcache;
    return family == AF_INET ? skel_->maps.sealnet_prefix4 : skel_->maps.sealnet_prefix6;
  }
  static size_t key(IpcacheMap m, const IpPrefix& p, IpcacheKey& k) {
    k = {};
    if (m == IpcacheMap::Trie) {
      k.trie = ipcache_key({masked(p), p.len});
      return sizeof k.trie;
    }
    const IpAddr a = masked(p);
    if (p.addr.family == AF_INET) {
      k.v4.prefixlen = p.len;
      std::memcpy(&k.v4.addr, a.bytes.data(), 4);  // stays network order
      return sizeof k.v4;
    }
    k.v6.prefixlen = p.len;
    std::memcpy(k.v6.addr, a.bytes.data(), 16);
    return sizeof k.v6;
  }

  Result<bool> put(IpcacheMap m, const IpPrefix& p, const sealnet_ipcache_value& v) override {
    IpcacheKey k;
    const size_t ks = key(m, p, k);
    bpf_map* bm = map(m, p.addr.family);
    int rc = bpf_map__update_elem(bm, &k, ks, &v, sizeof v, BPF_NOEXIST);
    if (rc == 0) return true;
    if (rc == -EEXIST) rc = bpf_map__update_elem(bm, &k, ks, &v, sizeof v, BPF_EXIST);
    if (rc == 0) return false;
    return std::unexpected(map_status(rc, "update", bm).error());
  }
  Status erase(IpcacheMap m, const IpPrefix& p) override {
    IpcacheKey k;
    const size_t ks = key(m, p, k);
    bpf_map* bm = map(m, p.addr.family);
    return map_status(bpf_map__delete_elem(bm, &k, ks, 0), "delete", bm);
  }
  Result<std::vector<std::pair<IpPrefix, sealnet_ipcache_value>>> entries(IpcacheMap m, uint8_t family,
                                                                          uint8_t len) override {
    return all_entries(m, family, len);
  }
  // len < 0: every length.
  Result<std::vector<std::pair<IpPrefix, sealnet_ipcache_value>>> all_entries(IpcacheMap m, uint8_t family,
                                                                              int len = -1) {
    std::vector<std::pair<IpPrefix, sealnet_ipcache_value>> out;
    bpf_map* bm = map(m, family);
    IpcacheKey cur{}, next{};
    const size_t ks = m == IpcacheMap::Trie ? sizeof cur.trie : family == AF_INET ? sizeof cur.v4 : sizeof cur.v6;
    bool first = true;
    while (bpf_map__get_next_key(bm, first ? nullptr : &cur, &next, ks) == 0) {
      first = false;
      cur = next;
      auto p = prefix_of(m, family, cur);
      if (!p || (len >= 0 && p->len != len)) continue;
      auto v = lookup<sealnet_ipcache_value>(bm, &cur, ks);
      if (!v) return std::unexpected(v.error());
      if (v->has_value()) out.emplace_back(*p, **v);
    }
    return out;
  }
  Status publish(const sealnet_plens& p) override {
    const uint32_t zero = 0;
    bpf_map* bm = skel_->maps.sealnet_plens;
    return map_status(bpf_map__update_elem(bm, &zero, sizeof zero, &p, sizeof p, BPF_ANY), "update", bm);
  }
  Status set_region(int family_index, uint32_t slot, uint64_t mask) override {
    const uint32_t idx = static_cast<uint32_t>(family_index) * SEALNET_REGION_SLOTS + slot;
    bpf_map* bm = skel_->maps.sealnet_regions;
    return map_status(bpf_map__update_elem(bm, &idx, sizeof idx, &mask, sizeof mask, BPF_ANY), "update", bm);
  }

  // One aligned 64-bit store into the shared mapping: the programs' one load
  // sees the old word or the new one.
  Status set_direct(uint32_t index, uint64_t word) override {
    if (index >= SEALNET_DIRECT4_WORDS) return fail(ERANGE, "update", "sealnet_direct4");
    std::atomic_ref<uint64_t>(direct4_[index]).store(word, std::memory_order_release);
    return {};
  }
  // The next generation of the slot is read back from the mapping itself, so
  // it keeps counting across agent restarts (bpf/shared.h).
  Status set_direct6(uint32_t slot, uint64_t region, uint32_t value) override {
    if (slot >= SEALNET_REGION_SLOTS) return fail(ERANGE, "update", "sealnet_direct6");
    sealnet_direct6& d = direct6_[slot];
    const uint64_t gen = ((std::atomic_ref<__u64>(d.value).load(std::memory_order_relaxed) >> 32) + 1) << 32;
    if (value != 0) {
      std::atomic_ref<__u64>(d.hi).store(gen | (region >> 32), std::memory_order_release);
      std::atomic_ref<__u64>(d.lo).store(gen | (region & 0xFFFFFFFFu), std::memory_order_release);
    }
    std::atomic_ref<__u64>(d.value).store(gen | value, std::memory_order_release);
    return {};
  }

  // The prefix a key of `m` names, when it is of `family`.
  static std::optional<IpPrefix> prefix_of(IpcacheMap m, uint8_t family, const IpcacheKey& k) {
    IpPrefix p{};
    p.addr.family = family;
    if (m == IpcacheMap::Trie) {
      if (k.trie.family != family) return std::nullopt;
      p.len = static_cast<uint8_t>(k.trie.prefixlen - SEALNET_IPCACHE_FAMILY_BITS);
      std::memcpy(p.addr.bytes.data(), k.trie.addr, family == AF_INET ? 4 : 16);
    } else if (family == AF_INET) {
      p.len = static_cast<uint8_t>(k.v4.prefixlen);
      std::memcpy(p.addr.bytes.data(), &k.v4.addr, 4);
    } else {
      p.len = static_cast<uint8_t>(k.v6.prefixlen);
      std::memcpy(p.addr.bytes.data(), k.v6.addr, 16);
    }
    return p;
  }

 private:
  const sealnet_bpf* skel_;
  uint64_t* direct4_;
  sealnet_direct6* direct6_;
};

}  // namespace

// Maps pinned by an earlier process carry entries and a live list: the counts
// per length are read back, and hash entries at a length the list does not
// name (an upsert cut short before it published) are deleted; they were never
// visible and the agent writes its desired state again.
Status Datapath::restore_ipcache() {
  const uint32_t zero = 0;
  auto pl = lookup<sealnet_plens>(skel_->maps.sealnet_plens, &zero, sizeof zero);
  if (!pl) return std::unexpected(pl.error());
  lengths_ = IpcacheLengths{};
  lengths_.restore_plens(pl->value_or(sealnet_plens{}));
  LibbpfIpcache store(skel_, direct4_, direct6_);
  for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
    for (IpcacheMap m : {IpcacheMap::Hash, IpcacheMap::Trie}) {
      auto e = store.all_entries(m, family);
      if (!e) return std::unexpected(e.error());
      for (const auto& [p, v] : *e)
        if (!lengths_.restore_entry(m, p, v))
          if (auto s = store.erase(m, p); !s) return s;
    }
  }
  return lengths_.restore_regions(store);
}

Status Datapath::upsert_ipcache(const IpPrefix& prefix, const sealnet_ipcache_value& v) {
  if (auto s = validate(v); !s) return s;
  LibbpfIpcache store(skel_, direct4_, direct6_);
  return lengths_.upsert(store, prefix, v);
}

Status Datapath::delete_ipcache(const IpPrefix& prefix) {
  LibbpfIpcache store(skel_, direct4_, direct6_);
  return lengths_.erase(store, prefix);
}

// `nodes` is an array: every id has a slot, SEALNET_NODE_PRESENT marks the
// ones holding a node (bpf/shared.h). Callers never see or set that bit.
Status Datapath::upsert_node(uint32_t node_id, const sealnet_node_value& v) {
  if (auto s = validate(node_id, v); !s) return s;
  auto stored = v;
  stored.flags |= SEALNET_NODE_PRESENT;
  auto* m = skel_->maps.sealnet_nodes;
  return map_status(bpf_map__update_elem(m, &node_id, sizeof node_id, &stored, sizeof stored, BPF_ANY),
                    "update", m);
}

Status Datapath::delete_node(uint32_t node_id) {
  auto present = node(node_id);
  if (!present) return std::unexpected(present.error());
  auto* m = skel_->maps.sealnet_nodes;
  // Like a hash delete: removing what is not there is ENOENT.
  if (!present->has_value()) return map_status(-ENOENT, "delete", m);
  const sealnet_node_value empty{};
  return map_status(bpf_map__update_elem(m, &node_id, sizeof node_id, &empty, sizeof empty, BPF_EXIST),
                    "delete", m);
}

// `devices` is an array for small ifindexes and a hash for the rest
// (bpf/shared.h); array slots in use carry SEALNET_DEVICE_PRESENT.
Status Datapath::upsert_device(uint32_t ifindex, const sealnet_device_value& v) {
  if (auto s = validate(v); !s) return s;
  if (ifindex >= SEALNET_DEVICES_DIRECT) {
    auto* m = skel_->maps.sealnet_devhash;
    return map_status(bpf_map__update_elem(m, &ifindex, sizeof ifindex, &v, sizeof v, BPF_ANY),
                      "update", m);
  }
  auto stored = v;
  stored.flags |= SEALNET_DEVICE_PRESENT;
  auto* m = skel_->maps.sealnet_devices;
  return map_status(bpf_map__update_elem(m, &ifindex, sizeof ifindex, &stored, sizeof stored, BPF_ANY),
                    "update", m);
}

Status Datapath::delete_device(uint32_t ifindex) {
  if (ifindex >= SEALNET_DEVICES_DIRECT) {
    auto* m = skel_->maps.sealnet_devhash;
    return map_status(bpf_map__delete_elem(m, &ifindex, sizeof ifindex, 0), "delete", m);
  }
  auto present = device(ifindex);
  if (!present) return std::unexpected(present.error());
  auto* m = skel_->maps.sealnet_devices;
  if (!present->has_value()) return map_status(-ENOENT, "delete", m);
  const sealnet_device_value empty{};
  return map_status(bpf_map__update_elem(m, &ifindex, sizeof ifindex, &empty, sizeof empty, BPF_EXIST),
                    "delete", m);
}

Result<std::optional<sealnet_ipcache_value>> Datapath::ipcache(const IpPrefix& prefix) const {
  const IpcacheMap m = lengths_.where(prefix);
  IpcacheKey k;
  const size_t ks = LibbpfIpcache::key(m, prefix, k);
  LibbpfIpcache store(skel_, direct4_, direct6_);
  bpf_map* bm = store.map(m, prefix.addr.family);
  auto v = lookup<sealnet_ipcache_value>(bm, &k, ks);
  if (m == IpcacheMap::Hash || !v || !v->has_value()) return v;
  // A trie lookup is a longest-prefix match even from user space: what it
  // found may be a shorter covering prefix. Only a walk of the keys tells
  // whether this very prefix is one (a read for diagnostics and tests; the
  // trie holds only lengths the hashes have no room for).
  sealnet_ipcache_key key{}, next{};
  const void* cur = nullptr;
  while (bpf_map__get_next_key(bm, cur, &next, sizeof next) == 0) {
    if (std::memcmp(&next, &k.trie, sizeof next) == 0) return v;
    key = next;
    cur = &key;
  }
  return std::nullopt;
}

namespace {

// Walks a map's keys (get_next_key) and reads each value; an entry deleted
// between the two calls is skipped.
template <typename K, typename V, typename F>
Status for_each(const bpf_map* m, F&& f) {
  K key{}, next{};
  const void* cur = nullptr;
  for (;;) {
    const int rc = bpf_map__get_next_key(m, cur, &next, sizeof next);
    if (rc == -ENOENT) return {};
    if (rc != 0) return map_status(rc, "iterate", m);
    auto v = lookup<V>(m, &next, sizeof next);
    if (!v) return std::unexpected(v.error());
    if (*v) f(next, **v);
    key = next;
    cur = &key;
  }
}

}  // namespace

Result<std::map<uint32_t, sealnet_node_value>> Datapath::nodes() const {
  std::map<uint32_t, sealnet_node_value> out;
  auto s = for_each<uint32_t, sealnet_node_value>(skel_->maps.sealnet_nodes, [&](uint32_t id, sealnet_node_value v) {
    if (!(v.flags & SEALNET_NODE_PRESENT)) return;
    v.flags &= static_cast<uint16_t>(~SEALNET_NODE_PRESENT);
    out[id] = v;
  });
  if (!s) return std::unexpected(s.error());
  return out;
}

Result<std::map<IpPrefix, sealnet_ipcache_value>> Datapath::ipcache_entries() const {
  std::map<IpPrefix, sealnet_ipcache_value> out;
  auto prefix = [](int family, const uint8_t* bytes, int len) {
    IpPrefix p;
    p.addr.family = static_cast<uint8_t>(family);
    std::memcpy(p.addr.bytes.data(), bytes, family == AF_INET ? 4 : 16);
    p.len = static_cast<uint8_t>(len);
    return p;
  };
  auto s = for_each<sealnet_prefix4_key, sealnet_ipcache_value>(
      skel_->maps.sealnet_prefix4, [&](const sealnet_prefix4_key& k, const sealnet_ipcache_value& v) {
        if (k.prefixlen > 32) return;
        out[prefix(AF_INET, reinterpret_cast<const uint8_t*>(&k.addr), static_cast<int>(k.prefixlen))] = v;
      });
  if (!s) return std::unexpected(s.error());
  s = for_each<sealnet_prefix6_key, sealnet_ipcache_value>(
      skel_->maps.sealnet_prefix6, [&](const sealnet_prefix6_key& k, const sealnet_ipcache_value& v) {
        if (k.prefixlen > 128) return;
        out[prefix(AF_INET6, k.addr, static_cast<int>(k.prefixlen))] = v;
      });
  if (!s) return std::unexpected(s.error());
  s = for_each<sealnet_ipcache_key, sealnet_ipcache_value>(
      skel_->maps.sealnet_ipcache, [&](const sealnet_ipcache_key& k, const sealnet_ipcache_value& v) {
        if ((k.family != AF_INET && k.family != AF_INET6) || k.prefixlen < SEALNET_IPCACHE_FAMILY_BITS) return;
        out[prefix(k.family, k.addr, static_cast<int>(k.prefixlen - SEALNET_IPCACHE_FAMILY_BITS))] = v;
      });
  if (!s) return std::unexpected(s.error());
  return out;
}

Result<std::optional<sealnet_node_value>> Datapath::node(uint32_t node_id) const {
  auto v = lookup<sealnet_node_value>(skel_->maps.sealnet_nodes, &node_id, sizeof node_id);
  if (!v || !v->has_value()) return v;  // an id beyond the array: absent too
  if (!((*v)->flags & SEALNET_NODE_PRESENT)) return std::nullopt;
  (*v)->flags &= static_cast<uint16_t>(~SEALNET_NODE_PRESENT);
  return v;
}

Result<std::optional<sealnet_device_value>> Datapath::device(uint32_t ifindex) const {
  if (ifindex >= SEALNET_DEVICES_DIRECT)
    return lookup<sealnet_device_value>(skel_->maps.sealnet_devhash, &ifindex, sizeof ifindex);
  auto v = lookup<sealnet_device_value>(skel_->maps.sealnet_devices, &ifindex, sizeof ifindex);
  if (!v || !v->has_value()) return v;
  if (!((*v)->flags & SEALNET_DEVICE_PRESENT)) return std::nullopt;
  (*v)->flags &= static_cast<uint16_t>(~SEALNET_DEVICE_PRESENT);
  return v;
}

Result<Metrics> Datapath::metrics() const {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return fail(-ncpu, "count possible CPUs");
  std::vector<sealnet_metric_value> per_cpu(static_cast<size_t>(ncpu));
  Metrics out{};
  auto* m = skel_->maps.sealnet_metrics;
  for (uint32_t i = 0; i < SEALNET_M_COUNT; ++i) {
    const int rc = bpf_map__lookup_elem(m, &i, sizeof i, per_cpu.data(),
                                        per_cpu.size() * sizeof(sealnet_metric_value), 0);
    if (rc != 0) return std::unexpected(map_status(rc, "lookup", m).error());
    for (const auto& v : per_cpu) {
      out[i].packets += v.packets;
      out[i].bytes += v.bytes;
    }
  }
  return out;
}

int Datapath::events_fd() const { return bpf_map__fd(skel_->maps.sealnet_events); }
int Datapath::event_stats_fd() const { return bpf_map__fd(skel_->maps.sealnet_ev_stats); }

Result<TestRun> test_run(int prog_fd, const TestRunInput& in) {
  __sk_buff ctx{};
  ctx.ifindex = in.ifindex;
  ctx.ingress_ifindex = in.ifindex;
  ctx.mark = in.mark;
  std::vector<uint8_t> out(in.packet.size() + 256);
  LIBBPF_OPTS(bpf_test_run_opts, opts);
  opts.data_in = in.packet.data();
  opts.data_size_in = static_cast<uint32_t>(in.packet.size());
  opts.data_out = out.data();
  opts.data_size_out = static_cast<uint32_t>(out.size());
  opts.ctx_in = &ctx;
  opts.ctx_size_in = sizeof ctx;
  opts.ctx_out = &ctx;
  opts.ctx_size_out = sizeof ctx;
  opts.repeat = in.repeat;
  if (int rc = bpf_prog_test_run_opts(prog_fd, &opts); rc != 0)
    return fail(-rc, "BPF_PROG_TEST_RUN", "prog fd " + std::to_string(prog_fd));
  return TestRun{static_cast<int>(opts.retval), ctx.mark, opts.duration};
}

}  // namespace sealnet::bpf
