/* The one contract between sealnet's BPF programs and its C++ agent: map key
 * and value layouts, the skb mark layout read by XFRM policies, and metric
 * reasons. Included by the BPF programs (bpf/sealnet.bpf.c) and by C++ (bpf/abi_check.cpp asserts every
 * size and offset there). Fixed-width types, explicit padding, no bitfields.
 */
#ifndef SEALNET_BPF_SHARED_H
#define SEALNET_BPF_SHARED_H

#include <linux/types.h>

/* ---- skb->mark ------------------------------------------------------------
 *
 *  31            16 15    12 11     8 7      4 3      0
 * +----------------+--------+--------+--------+--------+
 * |  peer node id  | key id | magic  |  slot  |  0     |
 * +----------------+--------+--------+--------+--------+
 *
 * from-pod/from-host set magic ENCRYPT with the peer, the key and the egress
 * device slot. XFRM matches its output policies on the whole mark (mask
 * SEALNET_MARK_POLICY_MASK); the kernel then looks the state up with the
 * *policy's* mark (xfrm_state_find), so there is one policy per (peer, key,
 * slot) and the SA bound to that slot's device is the one used. After
 * encryption the SA's output mark (XFRMA_SET_MARK) is magic ENCRYPTED with the
 * slot, and a policy-routing rule per slot sends the ESP packet out of the
 * device whose SA encrypted it.
 */
#define SEALNET_MARK_SLOT_SHIFT 4
#define SEALNET_MARK_SLOT_MASK 0x000000F0u
#define SEALNET_MARK_MAGIC_MASK 0x00000F00u
#define SEALNET_MARK_MAGIC_ENCRYPT 0x00000E00u
#define SEALNET_MARK_MAGIC_ENCRYPTED 0x00000D00u
#define SEALNET_MARK_KEY_SHIFT 12
#define SEALNET_MARK_KEY_MASK 0x0000F000u
#define SEALNET_MARK_NODE_SHIFT 16
#define SEALNET_MARK_NODE_MASK 0xFFFF0000u
#define SEALNET_MARK_POLICY_MASK 0xFFFFFFF0u

#define SEALNET_MAX_SLOTS 16   /* device slots: 4 bits of the mark */
#define SEALNET_MAX_NODE_ID 0xFFFFu
#define SEALNET_KEY_ID_MIN 1   /* key ids run 1..15 and wrap to 1 */
#define SEALNET_KEY_ID_MAX 15

static inline __u32 sealnet_mark_encrypt(__u32 node_id, __u32 key_id, __u32 slot) {
  return (node_id << SEALNET_MARK_NODE_SHIFT) | (key_id << SEALNET_MARK_KEY_SHIFT) |
         SEALNET_MARK_MAGIC_ENCRYPT | (slot << SEALNET_MARK_SLOT_SHIFT);
}

static inline __u32 sealnet_mark_encrypted(__u32 slot) {
  return SEALNET_MARK_MAGIC_ENCRYPTED | (slot << SEALNET_MARK_SLOT_SHIFT);
}

/* ---- ipcache: LPM trie, destination prefix -> node -------------------------
 * prefixlen counts the bits after itself: 32 for family+pad, then the address
 * bits (so an IPv4 /24 has prefixlen 32 + 24).
 */
#define SEALNET_IPCACHE_FAMILY_BITS 32
struct sealnet_ipcache_key {
  __u32 prefixlen;
  __u8 family; /* AF_INET or AF_INET6 */
  __u8 pad[3];
  __u8 addr[16]; /* network order; IPv4 uses the first 4 bytes */
};

enum sealnet_ipcache_flags {
  SEALNET_IPCACHE_NODE_ADDR = 1u << 0, /* the prefix is a node's own address */
  SEALNET_IPCACHE_POD_CIDR = 1u << 1,  /* the prefix is a node's pod CIDR */
};

struct sealnet_ipcache_value {
  __u32 node_id; /* 0 = not a cluster node (never used as an id) */
  __u32 flags;   /* enum sealnet_ipcache_flags */
};

/* ---- nodes: hash, node id -> where and how to reach it ---------------------- */
enum sealnet_node_flags {
  SEALNET_NODE_HAS_IPV4 = 1u << 0,
  SEALNET_NODE_HAS_IPV6 = 1u << 1,
};

struct sealnet_node_value {
  __u8 ipv4[4];  /* the node's IPv4 address: outer ESP destination */
  __u8 ipv6[16]; /* the node's IPv6 address */
  __u8 peer_key_id; /* newest key id the peer has installed (0 = none yet) */
  __u8 pad;
  __u16 flags;   /* enum sealnet_node_flags */
};

/* ---- devices: hash, egress ifindex -> slot and mode ------------------------- */
enum sealnet_device_mode {
  SEALNET_MODE_SOFTWARE = 0,
  SEALNET_MODE_CRYPTO = 1, /* XFRM crypto offload */
  SEALNET_MODE_PACKET = 2, /* XFRM packet (full) offload */
  SEALNET_MODE_COUNT = 3,
};

struct sealnet_device_value {
  __u8 slot; /* < SEALNET_MAX_SLOTS */
  __u8 mode; /* enum sealnet_device_mode */
  __u16 flags;
  __u32 pad;
};

/* ---- config: array of one ------------------------------------------------- */
struct sealnet_config {
  __u32 local_node_id;
  __u8 key_id;      /* our newest key id (1..15) */
  __u8 fail_closed; /* 1: drop plaintext to remote nodes at the wire */
  __u8 encrypt_host; /* 1: host-originated traffic to remote nodes is encrypted */
  __u8 pad;
};

/* ---- metrics: per-CPU array indexed by reason ------------------------------ */
enum sealnet_metric {
  /* from-pod / from-host: what the classifier decided */
  SEALNET_M_MARK_SOFTWARE = 0, /* marked for a software SA */
  SEALNET_M_MARK_CRYPTO,       /* marked for a crypto-offloaded SA */
  SEALNET_M_MARK_PACKET,       /* marked for a packet-offloaded SA */
  SEALNET_M_LOCAL_PASS,        /* destination on this node: not encrypted */
  SEALNET_M_NON_CLUSTER_PASS,  /* destination outside the cluster */
  SEALNET_M_NOT_IP,            /* not IPv4/IPv6: passed */
  SEALNET_M_MALFORMED,         /* truncated header: dropped */
  SEALNET_M_UNKNOWN_NODE,      /* ipcache names a node not in `nodes`: dropped */
  SEALNET_M_NO_KEY,            /* no key in common with the peer yet: dropped */
  SEALNET_M_UNKNOWN_DEVICE,    /* FIB egress device has no slot: dropped */
  SEALNET_M_FIB_FAILED,        /* FIB lookup failed (see SEALNET_M_FIB_RET_*) */
  /* to-wire: the audit of what leaves through an uplink */
  SEALNET_M_WIRE_ESP_SOFTWARE,
  SEALNET_M_WIRE_ESP_CRYPTO,
  SEALNET_M_WIRE_ESP_PACKET,
  SEALNET_M_WIRE_PLAINTEXT_DROPPED, /* plaintext to a remote node: dropped */
  SEALNET_M_WIRE_PLAINTEXT_PASSED,  /* the same with fail-closed off */
  SEALNET_M_WIRE_OTHER,             /* not node-to-node traffic: passed */
  /* bpf_fib_lookup return codes 0..15 (BPF_FIB_LKUP_RET_*), counted apart */
  SEALNET_M_FIB_RET_BASE,
  SEALNET_M_COUNT = SEALNET_M_FIB_RET_BASE + 16,
};

struct sealnet_metric_value {
  __u64 packets;
  __u64 bytes;
};

#define SEALNET_IPCACHE_MAX 262144
#define SEALNET_NODES_MAX 65536
#define SEALNET_DEVICES_MAX 256

#endif /* SEALNET_BPF_SHARED_H */
