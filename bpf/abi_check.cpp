// The C++ side's proof that it reads the BPF maps with the layouts the BPF
// programs write: every size and offset of bpf/shared.h, checked at compile time.
#include <cstddef>

#include "bpf/shared.h"

static_assert(sizeof(sealnet_ipcache_key) == 24);
static_assert(offsetof(sealnet_ipcache_key, prefixlen) == 0);
static_assert(offsetof(sealnet_ipcache_key, family) == 4);
static_assert(offsetof(sealnet_ipcache_key, addr) == 8);
static_assert(SEALNET_IPCACHE_FAMILY_BITS == 8 * (offsetof(sealnet_ipcache_key, addr) - 4));

static_assert(sizeof(sealnet_ipcache_value) == 8);
static_assert(offsetof(sealnet_ipcache_value, node_id) == 0);
static_assert(offsetof(sealnet_ipcache_value, flags) == 4);

static_assert(sizeof(sealnet_node_value) == 24);
static_assert(offsetof(sealnet_node_value, ipv4) == 0);
static_assert(offsetof(sealnet_node_value, ipv6) == 4);
static_assert(offsetof(sealnet_node_value, peer_key_id) == 20);
static_assert(offsetof(sealnet_node_value, flags) == 22);

static_assert(sizeof(sealnet_device_value) == 8);
static_assert(offsetof(sealnet_device_value, slot) == 0);
static_assert(offsetof(sealnet_device_value, mode) == 1);
static_assert(offsetof(sealnet_device_value, flags) == 2);

static_assert(sizeof(sealnet_config) == 8);
static_assert(offsetof(sealnet_config, local_node_id) == 0);
static_assert(offsetof(sealnet_config, key_id) == 4);
static_assert(offsetof(sealnet_config, fail_closed) == 5);
static_assert(offsetof(sealnet_config, encrypt_host) == 6);
static_assert(offsetof(sealnet_config, events) == 7);
static_assert(sizeof(sealnet_event) == 72);
static_assert(offsetof(sealnet_event, reason) == 12);
static_assert(offsetof(sealnet_event, ifindex) == 16);
static_assert(offsetof(sealnet_event, mark) == 20);
static_assert(offsetof(sealnet_event, peer_node_id) == 24);
static_assert(offsetof(sealnet_event, key_id) == 28);
static_assert(offsetof(sealnet_event, sport) == 32);
static_assert(offsetof(sealnet_event, len) == 36);
static_assert(offsetof(sealnet_event, saddr) == 40);
static_assert(offsetof(sealnet_event, daddr) == 56);
static_assert(sizeof(sealnet_flow_key) == 40);
static_assert(offsetof(sealnet_flow_key, saddr) == 8);
static_assert(sizeof(sealnet_flow_value) == 16);
static_assert(sizeof(sealnet_ev_rate) == 16);
static_assert(sizeof(sealnet_ev_stats) == 24);

static_assert(sizeof(sealnet_metric_value) == 16);

// The mark fields tile the policy mask without overlap.
static_assert((SEALNET_MARK_SLOT_MASK & SEALNET_MARK_MAGIC_MASK) == 0);
static_assert((SEALNET_MARK_MAGIC_MASK & SEALNET_MARK_KEY_MASK) == 0);
static_assert((SEALNET_MARK_KEY_MASK & SEALNET_MARK_NODE_MASK) == 0);
static_assert((SEALNET_MARK_SLOT_MASK | SEALNET_MARK_MAGIC_MASK | SEALNET_MARK_KEY_MASK |
               SEALNET_MARK_NODE_MASK) == SEALNET_MARK_POLICY_MASK);
static_assert(SEALNET_MAX_SLOTS == (SEALNET_MARK_SLOT_MASK >> SEALNET_MARK_SLOT_SHIFT) + 1);
static_assert(SEALNET_KEY_ID_MAX == SEALNET_MARK_KEY_MASK >> SEALNET_MARK_KEY_SHIFT);
// Every node id fits the mark's node field; its all-ones value is kept back.
static_assert(SEALNET_MAX_NODE_ID + 1 == SEALNET_MARK_NODE_MASK >> SEALNET_MARK_NODE_SHIFT);

// The classifier counts MARK_SOFTWARE + mode and the wire audit
// WIRE_ESP_SOFTWARE + mode: both rows follow enum sealnet_device_mode.
static_assert(SEALNET_M_MARK_CRYPTO == +SEALNET_M_MARK_SOFTWARE + +SEALNET_MODE_CRYPTO);
static_assert(SEALNET_M_MARK_PACKET == +SEALNET_M_MARK_SOFTWARE + +SEALNET_MODE_PACKET);
static_assert(SEALNET_M_WIRE_ESP_CRYPTO == +SEALNET_M_WIRE_ESP_SOFTWARE + +SEALNET_MODE_CRYPTO);
static_assert(SEALNET_M_WIRE_ESP_PACKET == +SEALNET_M_WIRE_ESP_SOFTWARE + +SEALNET_MODE_PACKET);
static_assert(SEALNET_FIB_RET_HELPER_ERROR < SEALNET_M_COUNT - SEALNET_M_FIB_RET_BASE);
// The key ring fills the mark's key field exactly, and half of it is the
// largest distance that still means "newer".
static_assert(SEALNET_KEY_RING == SEALNET_KEY_ID_MAX - SEALNET_KEY_ID_MIN + 1);
static_assert(SEALNET_KEY_HALF_RING == (SEALNET_KEY_RING - 1) / 2);

// The ipcache's hashes: (prefix length, masked address); the trie keeps the
// family-prefixed key above.
static_assert(sizeof(sealnet_prefix4_key) == 8);
static_assert(offsetof(sealnet_prefix4_key, prefixlen) == 0);
static_assert(offsetof(sealnet_prefix4_key, addr) == 4);
static_assert(sizeof(sealnet_prefix6_key) == 20);
static_assert(offsetof(sealnet_prefix6_key, prefixlen) == 0);
static_assert(offsetof(sealnet_prefix6_key, addr) == 4);
// The lists of prefix lengths: each copy is 8 aligned bytes the programs read
// with one load, a length + 1 fits a byte, and the copy `live` names is 0 or 1.
static_assert(sizeof(sealnet_plens) == 40);
static_assert(offsetof(sealnet_plens, live) == 0);
static_assert(offsetof(sealnet_plens, len) == 8);
static_assert(SEALNET_PLENS_MAX == 8);  // one __u64 per copy
static_assert(offsetof(sealnet_plens, len[1][0]) == 8 + 2 * SEALNET_PLENS_MAX);
static_assert(offsetof(sealnet_plens, len[0][1]) % 8 == 0);
static_assert(128 + 1 <= 0xFF);
static_assert(SEALNET_PLENS_V4 == 0 && SEALNET_PLENS_V6 == 1);
// `nodes` is an array with a slot for every id the mark can carry, and the
// loader's presence bit is none of the node flags callers set.
static_assert(SEALNET_NODES_MAX == (SEALNET_MARK_NODE_MASK >> SEALNET_MARK_NODE_SHIFT) + 1);
static_assert((SEALNET_NODE_PRESENT & (SEALNET_NODE_HAS_IPV4 | SEALNET_NODE_HAS_IPV6)) == 0);
static_assert(SEALNET_NODE_PRESENT <= 0xFFFF);  // fits sealnet_node_value.flags
// The device array covers ifindexes below SEALNET_DEVICES_DIRECT; its presence
// bit fits sealnet_device_value.flags.
static_assert(SEALNET_DEVICE_PRESENT <= 0xFFFF);
static_assert(SEALNET_DEVICES_DIRECT > 0);

// The ipcache's direct words and region filter (bpf/shared.h).
static_assert(sizeof(sealnet_direct6) == 24);
static_assert(offsetof(sealnet_direct6, hi) == 0);
static_assert(offsetof(sealnet_direct6, lo) == 8);
static_assert(offsetof(sealnet_direct6, value) == 16);
static_assert(alignof(sealnet_plens) == 8);  // each copy of a list is one aligned 8-byte load
static_assert((SEALNET_DIRECT4_KEY_MASK & 0x00FFFFFF00000000ull) == 0);  // node id and flags outside the key
static_assert(SEALNET_REGION4_LEN <= 32 && 32 - SEALNET_REGION4_LEN < 64);
