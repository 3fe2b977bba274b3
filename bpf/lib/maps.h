/* Map definitions shared by every program in sealnet.bpf.c. Pinned by name so
 * that the agent's state survives its restart (the loader chooses the pin
 * directory). */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bpf/shared.h"

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, SEALNET_IPCACHE_MAX);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct sealnet_ipcache_key);
  __type(value, struct sealnet_ipcache_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sealnet_ipcache SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SEALNET_NODES_MAX);
  __type(key, __u32);
  __type(value, struct sealnet_node_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sealnet_nodes SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SEALNET_DEVICES_MAX);
  __type(key, __u32);
  __type(value, struct sealnet_device_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sealnet_devices SEC(".maps");

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
