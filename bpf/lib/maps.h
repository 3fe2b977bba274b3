/* Map definitions shared by every program in sealnet.bpf.c. Pinned by name so
 * that the agent's state survives its restart (the loader chooses the pin
 * directory): sealnet_prefix4, sealnet_prefix6, sealnet_plens, sealnet_regions,
 * sealnet_direct4, sealnet_direct6, sealnet_ipcache,
 * sealnet_nodes, sealnet_devices, sealnet_devhash, sealnet_config,
 * sealnet_metrics; and the events maps of bpf/lib/events.h (sealnet_events,
 * sealnet_ev_flows, sealnet_ev_rate, sealnet_ev_stats).
 *
 * Layout history: sealnet_nodes and sealnet_devices were hashes before they
 * became arrays, and the /32 and /128 entries moved from sealnet_ipcache to
 * the exact maps. libbpf refuses to reuse a pinned map whose type differs, so
 * pins left by a build before that fail the load: remove them and let the
 * agent repopulate. The exact maps (sealnet_exact4, sealnet_exact6) then gave
 * way to the per-length hashes under new names: their old pins are no longer
 * used (remove them to free their memory). sealnet_regions, sealnet_direct4
 * and sealnet_direct6 came later: a load over older pins creates them, and
 * Datapath::load fills them from the hashes before it returns. The maps with
 * one entry per metric reason (sealnet_metrics, sealnet_ev_rate) grow with
 * every reason added (wire-host-pass was): Datapath::load removes such a pin
 * of another size first, so those counters restart at 0 across that upgrade. */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpf/shared.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* The ipcache (see bpf/shared.h). The hashes are not preallocated: a
 * preallocated hash of SEALNET_IPCACHE_MAX entries would hold tens of MB
 * whatever the cluster's size. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SEALNET_IPCACHE_MAX);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct sealnet_prefix4_key);
  __type(value, struct sealnet_ipcache_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sealnet_prefix4 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SEALNET_IPCACHE_MAX);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct sealnet_prefix6_key);
  __type(value, struct sealnet_ipcache_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sealnet_prefix6 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct sealnet_plens);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sealnet_plens SEC(".maps");

/* 2 x 65,536 x 8 bytes = 1 MiB, preallocated like every array: the filter
 * must answer for any address without a hash probe of its own. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 2 * SEALNET_REGION_SLOTS);
  __type(key, __u32);
  __type(value, __u64);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sealnet_regions SEC(".maps");

/* 327,680 x 8 bytes = 2.5 MiB. Mappable: the agent stores each word with one
 * 64-bit write (bpf/shared.h). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, SEALNET_DIRECT4_WORDS);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, __u64);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sealnet_direct4 SEC(".maps");

/* 65,536 x 24 bytes = 1.5 MiB, mappable like sealnet_direct4. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, SEALNET_REGION_SLOTS);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct sealnet_direct6);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sealnet_direct6 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, SEALNET_IPCACHE_MAX);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct sealnet_ipcache_key);
  __type(value, struct sealnet_ipcache_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sealnet_ipcache SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, SEALNET_NODES_MAX);
  __type(key, __u32);
  __type(value, struct sealnet_node_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sealnet_nodes SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, SEALNET_DEVICES_DIRECT);
  __type(key, __u32);
  __type(value, struct sealnet_device_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sealnet_devices SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SEALNET_DEVICES_MAX);
  __type(key, __u32);
  __type(value, struct sealnet_device_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sealnet_devhash SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct sealnet_config);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sealnet_config SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SEALNET_M_COUNT);
  __type(key, __u32);
  __type(value, struct sealnet_metric_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sealnet_metrics SEC(".maps");

static __always_inline void metric_add(__u32 reason, __u32 bytes) {
  struct sealnet_metric_value *v = bpf_map_lookup_elem(&sealnet_metrics, &reason);
  if (v) { /* per-CPU: no atomics needed */
    v->packets++;
    v->bytes += bytes;
  }
}

static __always_inline const struct sealnet_config *config_get(void) {
  __u32 zero = 0;
  return bpf_map_lookup_elem(&sealnet_config, &zero);
}

/* The node `node_id` names, or NULL when no node holds that id. */
static __always_inline const struct sealnet_node_value *node_get(__u32 node_id) {
  const struct sealnet_node_value *n = bpf_map_lookup_elem(&sealnet_nodes, &node_id);
  return n && (n->flags & SEALNET_NODE_PRESENT) ? n : NULL;
}

/* The device entry of `ifindex`, or NULL (bpf/shared.h: devices). */
static __always_inline const struct sealnet_device_value *device_get(__u32 ifindex) {
  if (ifindex >= SEALNET_DEVICES_DIRECT) return bpf_map_lookup_elem(&sealnet_devhash, &ifindex);
  const struct sealnet_device_value *d = bpf_map_lookup_elem(&sealnet_devices, &ifindex);
  return d && (d->flags & SEALNET_DEVICE_PRESENT) ? d : NULL;
}

/* The live list of prefix lengths of one family (bpf/shared.h): 1 + each
 * length, longest first, in the bytes of a __u64 from the lowest; 0 ends it.
 * The copy is read with one load, so a concurrent rewrite of the other copy
 * cannot tear it. */
static __always_inline __u64 plens_live(__u32 fam) {
  __u32 zero = 0;
  const struct sealnet_plens *pl = bpf_map_lookup_elem(&sealnet_plens, &zero);
  if (!pl) return 0;
  __u32 copy = *(volatile const __u8 *)&pl->live[fam] & 1;
  return *(volatile const __u64 *)pl->len[fam][copy]; /* aligned(8): one load */
}

/* The mask of the region slot `slot` of a family (bpf/shared.h), read with one
 * load: the loader changes one bit per write. */
static __always_inline __u64 region_mask(__u32 fam, __u32 slot) {
  __u32 idx = fam * SEALNET_REGION_SLOTS + (slot & (SEALNET_REGION_SLOTS - 1));
  const __u64 *m = bpf_map_lookup_elem(&sealnet_regions, &idx);
  return m ? *(volatile const __u64 *)m : ~0ull; /* no map value: probe every length */
}

/* The top `len` bits (0..32) of a 32-bit word, host order: a shift of a 64-bit
 * value, since a 32-bit shift by 32 is undefined. */
static __always_inline __u32 prefix_mask32(__u32 len) {
  return (__u32)(0xFFFFFFFF00000000ull >> len);
}

/* The direct word at `idx` of sealnet_direct4 (bpf/shared.h), one load. */
static __always_inline __u64 direct4_word(__u32 idx) {
  const __u64 *w = bpf_map_lookup_elem(&sealnet_direct4, &idx);
  return w ? *(volatile const __u64 *)w : 0;
}

static __always_inline struct sealnet_ipcache_value direct_value(__u64 w) {
  struct sealnet_ipcache_value v = {(__u32)(w >> 32) & 0xFFFF, (__u32)(w >> 48) & 0xFF};
  return v;
}

/* The entry (masked, len) when sealnet_direct4 has its word (bpf/shared.h). */
static __always_inline int direct4_get(__u32 masked, __u32 len, struct sealnet_ipcache_value *out) {
  const __u32 slot = sealnet_direct4_slot(masked, len);
  const __u64 key = sealnet_direct4_key(masked, len);
  __u64 w = direct4_word(slot);
  if ((w & SEALNET_DIRECT4_KEY_MASK) != key) {
    w = direct4_word(slot + 1);
    if ((w & SEALNET_DIRECT4_KEY_MASK) != key) return 0;
  }
  *out = direct_value(w);
  return 1;
}

/* The /64 entry sealnet_direct6 holds for region slot `slot`, when it is the
 * region (hi, lo) and its three words are of one write (bpf/shared.h). */
static __always_inline int direct6_get(__u32 slot, __u32 hi, __u32 lo, struct sealnet_ipcache_value *out) {
  const struct sealnet_direct6 *d = bpf_map_lookup_elem(&sealnet_direct6, &slot);
  if (!d) return 0;
  __u64 v = *(volatile const __u64 *)&d->value;
  if (!(v & SEALNET_DIRECT6_VALID)) return 0;
  __u64 h = *(volatile const __u64 *)&d->hi;
  __u64 l = *(volatile const __u64 *)&d->lo;
  if ((h >> 32) != (v >> 32) || (l >> 32) != (v >> 32)) return 0;
  if ((__u32)h != hi || (__u32)l != lo) return 0;
  out->node_id = (__u32)v & 0xFFFF;
  out->flags = ((__u32)v >> 16) & 0xFF;
  return 1;
}

/* Longest-prefix match of an address in the ipcache: at each listed length,
 * longest first, that the region's mask does not rule out, the direct word and
 * then the hash; then the trie. `addr` is in network
 * order; IPv4 uses the first 4 bytes. A miss is node id 0, which every caller
 * treats as "not a cluster node". The loop is unrolled (SEALNET_PLENS_MAX
 * probes at most). */
static __always_inline struct sealnet_ipcache_value ipcache_lookup4(__u32 addr) {
  const __u32 host = bpf_ntohl(addr);
  struct sealnet_ipcache_value d;
  __u64 lens = plens_live(SEALNET_PLENS_V4);
  __u64 region = region_mask(SEALNET_PLENS_V4, sealnet_region_slot(host >> 8, 0));
  const struct sealnet_ipcache_value *v;
  struct sealnet_prefix4_key k = {};
#pragma unroll
  for (int i = 0; i < SEALNET_PLENS_MAX; i++) {
    __u32 l = (__u32)(lens >> (8 * i)) & 0xFF;
    if (l == 0 || l > 33) break; /* end of the list (or a value no loader writes) */
    if (l - 1 >= SEALNET_REGION4_LEN && !((region >> (l - 1 - SEALNET_REGION4_LEN)) & 1)) continue;
    const __u32 masked = host & prefix_mask32(l - 1);
    if (direct4_get(masked, l - 1, &d)) return d;
    k.prefixlen = l - 1;
    k.addr = bpf_htonl(masked);
    v = bpf_map_lookup_elem(&sealnet_prefix4, &k);
    if (v) return *v;
  }
  struct sealnet_ipcache_key key = {};
  key.prefixlen = SEALNET_IPCACHE_FAMILY_BITS + 32;
  key.family = AF_INET;
  __builtin_memcpy(key.addr, &addr, 4);
  v = bpf_map_lookup_elem(&sealnet_ipcache, &key);
  if (v) return *v;
  struct sealnet_ipcache_value none = {};
  return none;
}

static __always_inline struct sealnet_ipcache_value ipcache_lookup6(const __u8 *addr) {
  __u32 a[4];
  __builtin_memcpy(a, addr, 16);
  __u64 lens = plens_live(SEALNET_PLENS_V6);
  const __u32 hi = bpf_ntohl(a[0]), lo = bpf_ntohl(a[1]);
  const __u32 rslot = sealnet_region_slot(hi, lo);
  __u64 region = region_mask(SEALNET_PLENS_V6, rslot);
  const struct sealnet_ipcache_value *v;
  struct sealnet_prefix6_key k = {};
#pragma unroll
  for (int i = 0; i < SEALNET_PLENS_MAX; i++) {
    __u32 l = (__u32)(lens >> (8 * i)) & 0xFF;
    if (l == 0 || l > 129) break;
    l -= 1;
    if (l >= SEALNET_REGION6_LEN && !((region >> sealnet_region_bit(l, SEALNET_REGION6_LEN)) & 1)) continue;
    if (l == SEALNET_REGION6_LEN) {
      struct sealnet_ipcache_value d;
      if (direct6_get(rslot, hi, lo, &d)) return d;
    }
    k.prefixlen = l;
#pragma unroll
    for (int w = 0; w < 4; w++) {
      __s32 bits = (__s32)l - 32 * w;
      bits = bits < 0 ? 0 : bits > 32 ? 32 : bits;
      __u32 m = bpf_htonl(prefix_mask32((__u32)bits)) & a[w];
      __builtin_memcpy(&k.addr[4 * w], &m, 4);
    }
    v = bpf_map_lookup_elem(&sealnet_prefix6, &k);
    if (v) return *v;
  }
  struct sealnet_ipcache_key key = {};
  key.prefixlen = SEALNET_IPCACHE_FAMILY_BITS + 128;
  key.family = AF_INET6;
  __builtin_memcpy(key.addr, addr, 16);
  v = bpf_map_lookup_elem(&sealnet_ipcache, &key);
  if (v) return *v;
  struct sealnet_ipcache_value none = {};
  return none;
}

static __always_inline struct sealnet_ipcache_value ipcache_lookup(__u8 family, const __u32 *addr) {
  return family == AF_INET ? ipcache_lookup4(addr[0]) : ipcache_lookup6((const __u8 *)addr);
}
