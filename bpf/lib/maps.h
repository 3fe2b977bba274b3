/* Map definitions shared by every program in sealnet.bpf.c. Pinned by name so
 * that the agent's state survives its restart (the loader chooses the pin
 * directory): sealnet_exact4, sealnet_exact6, sealnet_ipcache, sealnet_nodes,
 * sealnet_devices, sealnet_devhash, sealnet_config, sealnet_metrics.
 *
 * Layout history: sealnet_nodes and sealnet_devices were hashes before they
 * became arrays, and the /32 and /128 entries moved from sealnet_ipcache to
 * the exact maps. libbpf refuses to reuse a pinned map whose type differs, so
 * pins left by a build before that fail the load: remove them and let the
 * agent repopulate. */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bpf/shared.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* The ipcache, split by prefix length (see bpf/shared.h). The exact maps are
 * not preallocated: a preallocated hash of SEALNET_IPCACHE_MAX entries would
 * hold tens of MB whatever the cluster's size. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SEALNET_IPCACHE_MAX);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, struct sealnet_ipcache_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sealnet_exact4 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SEALNET_IPCACHE_MAX);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct sealnet_exact6_key);
  __type(value, struct sealnet_ipcache_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sealnet_exact6 SEC(".maps");

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

/* Longest-prefix match of an address in the ipcache: the exact (host) entry if
 * there is one, else the trie. `addr` is in network order; IPv4 uses the first
 * 4 bytes. */
static __always_inline const struct sealnet_ipcache_value *ipcache_lookup4(__u32 addr) {
  const struct sealnet_ipcache_value *v = bpf_map_lookup_elem(&sealnet_exact4, &addr);
  if (v) return v;
  struct sealnet_ipcache_key key = {};
  key.prefixlen = SEALNET_IPCACHE_FAMILY_BITS + 32;
  key.family = AF_INET;
  __builtin_memcpy(key.addr, &addr, 4);
  return bpf_map_lookup_elem(&sealnet_ipcache, &key);
}

static __always_inline const struct sealnet_ipcache_value *ipcache_lookup6(const __u8 *addr) {
  const struct sealnet_ipcache_value *v = bpf_map_lookup_elem(&sealnet_exact6, addr);
  if (v) return v;
  struct sealnet_ipcache_key key = {};
  key.prefixlen = SEALNET_IPCACHE_FAMILY_BITS + 128;
  key.family = AF_INET6;
  __builtin_memcpy(key.addr, addr, 16);
  return bpf_map_lookup_elem(&sealnet_ipcache, &key);
}

static __always_inline const struct sealnet_ipcache_value *ipcache_lookup(__u8 family, const __u32 *addr) {
  return family == AF_INET ? ipcache_lookup4(addr[0]) : ipcache_lookup6((const __u8 *)addr);
}
