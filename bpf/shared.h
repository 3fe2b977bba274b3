/* The one contract between sealnet's BPF programs and its C++ agent: map key
 * and value layouts, the skb mark layout read by XFRM policies, and metric
 * reasons. Included by the BPF programs (bpf/sealnet.bpf.c) and by C++ (bpf/abi_check.cpp asserts every
 * size and offset there). Fixed-width types, explicit padding, no bitfields.
 */
#ifndef SEALNET_BPF_SHARED_H
#define SEALNET_BPF_SHARED_H

#include <linux/types.h>

#include "keys/ring.h" /* key ids 1..15 and which of two is newer */

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
 *
 * What the programs promise the XFRM side:
 *  - peer node id: the `nodes` key the ipcache named, 1..0xFFFE (the loader
 *    refuses larger ids: they do not fit the mark).
 *  - key id: sealnet_key_select(ours, peer's), never 0 (no common key = drop).
 *  - slot: `devices[egress ifindex].slot` where the egress ifindex is what
 *    bpf_fib_lookup returns for the peer's node address (the outer ESP
 *    destination). A device without an entry is never guessed: drop.
 *  - outer family: the peer's IPv4 address when it has one, else its IPv6
 *    address; the SA templates must use the same.
 * Every (peer, key, slot) the programs can produce needs a policy: a mark
 * with no policy forwards plaintext (which to-wire then drops).
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

#define SEALNET_MAX_SLOTS 16        /* device slots: 4 bits of the mark */
#define SEALNET_MAX_NODE_ID 0xFFFEu /* 0xFFFF is kept back (datapath/config.h) */

static inline __u32 sealnet_mark_encrypt(__u32 node_id, __u32 key_id, __u32 slot) {
  return (node_id << SEALNET_MARK_NODE_SHIFT) | (key_id << SEALNET_MARK_KEY_SHIFT) |
         SEALNET_MARK_MAGIC_ENCRYPT | (slot << SEALNET_MARK_SLOT_SHIFT);
}

static inline __u32 sealnet_mark_encrypted(__u32 slot) {
  return SEALNET_MARK_MAGIC_ENCRYPTED | (slot << SEALNET_MARK_SLOT_SHIFT);
}

/* ---- ipcache: destination prefix -> node ----------------------------------
 * One logical table, per family one hash probed once per prefix length in use
 * (longest first), a filter that skips the lengths with no entry near the
 * address, and an LPM trie for the lengths that do not fit the list:
 *  - sealnet_prefix4 / sealnet_prefix6: hashes keyed by (prefix length, the
 *    address masked to it), struct sealnet_prefix4_key / sealnet_prefix6_key.
 *  - sealnet_plens: array of one struct sealnet_plens, the lengths the hash
 *    of each family holds, longest first, at most SEALNET_PLENS_MAX.
 *  - sealnet_regions: array of SEALNET_REGION_SLOTS __u64 masks per family
 *    (index family index * SEALNET_REGION_SLOTS + slot). An address's region
 *    is its first SEALNET_REGION4_LEN (IPv4) or SEALNET_REGION6_LEN (IPv6)
 *    bits; sealnet_region_slot hashes the region to a slot, and bit
 *    sealnet_region_bit(len) of the slot's mask is set while the hash holds
 *    an entry of that length (at least the region length) inside a region of
 *    that slot. Several regions (and, for IPv6, the lengths 127 and 128) can
 *    share a slot or bit: the mask is a superset, which costs a probe, never
 *    an answer.
 *  - sealnet_ipcache: LPM trie, every entry whose length is not in the list,
 *    key = struct sealnet_ipcache_key.
 *  - sealnet_direct4: IPv4 answers without a hash probe, a cache of the hash
 *    (below): one word per entry, in a table of 2^18.
 *  - sealnet_direct6: the same for IPv6 /64 entries, three words per region
 *    slot (a /64 does not fit one word with its value).
 * A lookup reads its family's live list and its region's mask (two inlined
 * array reads), probes the hash at each listed length, longest first, that is
 * shorter than the region or whose mask bit is set, and returns the first hit;
 * with no hit it asks the trie. The loader keeps every listed length longer
 * than every length in the trie, so the first hit is the longest match and
 * the answer is the one a single trie over all entries would give. Cost, with
 * the direct words below: no hash probe for an IPv4 entry or an IPv6 /64
 * entry that holds its word, when its region has no longer entries that
 * miss (/32 pods, a pod CIDR per node among node addresses elsewhere);
 * otherwise one probe per listed length down to the match that the mask lets
 * through or that is shorter than a region and has no word for the address
 * (~12-25 ns each on the bench host). The loader (Datapath::upsert_ipcache / delete_ipcache / ipcache) routes each
 * prefix to its map and keeps the list and the masks; callers see one table.
 *
 * IPv4 asks sealnet_direct4 before each hash probe: a 2-way table of 64-bit words (sealnet_direct_word: masked address,
 * length, node id, flags, valid bit), slot pair sealnet_direct4_slot(masked
 * address, length). A word whose key (address and length) is the probe's is
 * the answer the probe would give. So every entry that has a word is
 * answered without a hash probe: /32 pods, a /24 pod CIDR per node among /32
 * node addresses, /26 pods. Entries whose pair is full, or whose node id or
 * flags do not fit the word, are answered by the hash alone. The words are
 * the hash's copy, never the other way round: a word is written after its
 * hash entry and cleared before it is deleted. The agent writes them through
 * a shared mapping of the map (BPF_F_MMAPABLE) with one aligned 64-bit store
 * and the programs read them with one 64-bit load, so a word is never seen
 * half written.
 * An IPv6 /64 entry takes three words of its region slot in sealnet_direct6
 * (struct sealnet_direct6): the region's two halves and the value, each with
 * the slot's 32-bit generation in its top half. The agent bumps the
 * generation at every write of the slot (it reads it back from the mapping,
 * so a restarted agent goes on counting) and a lookup takes the three words
 * only when their generations agree, so words of two different writes are
 * never combined, whatever order the loads see the stores in (a mix would
 * need 2^32 writes of one slot between two loads of one program run).
 *
 * A mask bit is set before the first entry of its (slot, length) goes into the
 * hash and cleared only after the last one is gone, one bit per write, so a
 * lookup never skips an entry that is there, and any mix of an old and a new
 * mask (one byte differs) is one of the two.
 *
 * The list is never seen torn: each family has two copies of it, `live` names
 * the one lookups read, and the loader rewrites only the other copy, then flips
 * `live` (one byte changes per write, and a copy is 8 aligned bytes the
 * programs read with one load: the copies are aligned(8), which the programs'
 * single 64-bit load relies on). An entry is inserted before its length is
 * published, and a length is retired (a list without it made live) only after
 * its last entry is gone from the hash. A list that is full when a longer
 * length arrives moves its shortest length to the trie: entries copied into
 * the trie first, then the list without it published, then the hash entries
 * deleted. A length shorter than the trie's longest stays in the trie.
 * The one window left: a lookup that read `live` and then loads its copy could
 * see that copy being rewritten if two whole list updates (two flips) happen
 * between those two loads of one program run (programs run with preemption
 * off; the loader writes a list per netlink round trip), not closed here.
 *
 * The trie key's prefixlen counts the bits after itself: 32 for family+pad,
 * then the address bits (so an IPv4 /24 has prefixlen 32 + 24).
 */
#define SEALNET_IPCACHE_FAMILY_BITS 32
struct sealnet_ipcache_key {
  __u32 prefixlen;
  __u8 family; /* AF_INET or AF_INET6 */
  __u8 pad[3];
  __u8 addr[16]; /* network order; IPv4 uses the first 4 bytes */
};

struct sealnet_prefix4_key {
  __u32 prefixlen; /* 0..32 */
  __u32 addr;      /* network order, host bits zero */
};

struct sealnet_prefix6_key {
  __u32 prefixlen; /* 0..128 */
  __u8 addr[16];   /* network order, host bits zero */
};

/* A list holds each length plus one, so that 0 ends it and the all-zero value
 * of a new map is two empty lists. */
#define SEALNET_PLENS_MAX 8 /* lengths probed from the hash, per family */
#define SEALNET_PLENS_V4 0  /* family index into sealnet_plens */
#define SEALNET_PLENS_V6 1

struct sealnet_plens {
  __u8 live[2]; /* [family index]: the copy of len[family] lookups read, 0 or 1 */
  __u8 pad[6];
  /* [family index][copy]: 1 + each length in the hash, longest first, then 0 */
  __u8 len[2][2][SEALNET_PLENS_MAX] __attribute__((aligned(8))); /* a copy is one 8-byte load */
};

#define SEALNET_REGION_SLOTS 65536 /* per family */
#define SEALNET_REGION4_LEN 24     /* an IPv4 region: a /24 */
#define SEALNET_REGION6_LEN 64     /* an IPv6 region: a /64 */

/* The slot of a region: `hi` and `lo` are its first two 32-bit words in host
 * order (IPv4: the address >> 8 and 0; IPv6: words 0 and 1). A multiplicative
 * hash, so that /24s or /64s that differ in their last bits spread. */
static inline __u32 sealnet_region_slot(__u32 hi, __u32 lo) {
  __u32 h = (hi * 0x9E3779B1u) ^ lo;
  return (h * 0x85EBCA6Bu) >> 16;
}

/* The mask bit of a prefix length at least the region's length. */
static inline __u32 sealnet_region_bit(__u32 len, __u32 region_len) {
  __u32 d = len - region_len;
  return d > 63 ? 63 : d;
}

#define SEALNET_DIRECT4_BITS 18
#define SEALNET_DIRECT4_WORDS (1u << SEALNET_DIRECT4_BITS) /* 2 MiB */
#define SEALNET_DIRECT_VALID (1ull << 63)

/* The slot pair of an IPv4 prefix: an even index; the prefix's word is there
 * or in the one after (two ways: 105,000 /32s lose 7% of their words to
 * collisions, not 18%). `masked` is the address masked to `len`, host order.
 * murmur3's finalizer, not a multiplication: pod addresses in steps that a
 * multiplicative hash folds together (16 per /24) spread as random keys do. */
static inline __u32 sealnet_direct4_slot(__u32 masked, __u32 len) {
  __u32 h = masked ^ (len * 0x9E3779B1u);
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  return (h >> (32 - SEALNET_DIRECT4_BITS)) & ~1u;
}

/* A direct word: bits 0..31 the masked address (host order), 32..47 the node
 * id, 48..55 the ipcache flags, 56..61 the prefix length, 63 valid. Only
 * values with node_id <= 0xFFFF and flags <= 0xFF are cached. */
#define SEALNET_DIRECT4_KEY_MASK (SEALNET_DIRECT_VALID | 0x3Full << 56 | 0xFFFFFFFFull)
static inline __u64 sealnet_direct4_key(__u32 masked, __u32 len) {
  return SEALNET_DIRECT_VALID | (__u64)(len & 0x3F) << 56 | masked;
}
static inline __u64 sealnet_direct_word(__u32 masked, __u32 len, __u32 node_id, __u32 flags) {
  return sealnet_direct4_key(masked, len) | (__u64)(flags & 0xFF) << 48 | (__u64)(node_id & 0xFFFF) << 32;
}

/* sealnet_direct6, per region slot: hi/lo = the /64's two words in host order
 * (low 32 bits), value = node id (bits 0..15), flags (16..23), valid (24);
 * the top 32 bits of each are the slot's generation. */
struct sealnet_direct6 {
  __u64 hi;
  __u64 lo;
  __u64 value;
};
#define SEALNET_DIRECT6_VALID (1u << 24)

enum sealnet_ipcache_flags {
  SEALNET_IPCACHE_NODE_ADDR = 1u << 0, /* the prefix is a node's own address */
  SEALNET_IPCACHE_POD_CIDR = 1u << 1,  /* the prefix is a node's pod CIDR */
};

struct sealnet_ipcache_value {
  __u32 node_id; /* 0 = not a cluster node (never used as an id) */
  __u32 flags;   /* enum sealnet_ipcache_flags */
};

/* ---- nodes: array indexed by node id -> where and how to reach it -----------
 * An array (SEALNET_NODES_MAX = every id the mark can carry) rather than a
 * hash: the verifier inlines array lookups, a hash costs a jhash and a bucket
 * walk per packet. Every slot exists, so SEALNET_NODE_PRESENT tells a node from
 * an empty slot; the loader owns that bit (sets it on upsert, clears the slot
 * on delete, hides it from callers, refuses it from them).
 * An array update rewrites the slot in place where a hash swaps in a whole new
 * element, so a packet racing an update (or delete) can read some bytes old and
 * some new. No mix sends a packet to a peer it was not meant for or with a key
 * the peer lacks: the node id comes from the ipcache, peer_key_id is a single
 * byte (what a key rotation changes), and a mixed address only steers the FIB
 * lookup, i.e. the slot. A wrong slot either names another device's SA for the
 * same peer and key, or has no policy and leaves the packet unencrypted, which
 * to-wire drops (fail-closed). The devices array (slot and mode bytes) is no
 * different. */
enum sealnet_node_flags {
  SEALNET_NODE_HAS_IPV4 = 1u << 0,
  SEALNET_NODE_HAS_IPV6 = 1u << 1,
  SEALNET_NODE_PRESENT = 1u << 15, /* loader-owned: the slot holds a node */
};

struct sealnet_node_value {
  __u8 ipv4[4];     /* the node's IPv4 address: outer ESP destination */
  __u8 ipv6[16];    /* the node's IPv6 address */
  __u8 peer_key_id; /* newest key id the peer has installed (0 = none yet) */
  __u8 pad;
  __u16 flags; /* enum sealnet_node_flags */
};

/* ---- devices: egress ifindex -> slot and mode ------------------------------
 * One logical table in two maps: an ifindex below SEALNET_DEVICES_DIRECT
 * indexes the array sealnet_devices (the verifier inlines the lookup; uplinks
 * are created at boot and have small ifindexes), a larger one is a key of the
 * hash sealnet_devhash (e.g. a VLAN added after many pods came and went). As
 * for nodes, SEALNET_DEVICE_PRESENT marks array slots in use; the loader owns
 * it and routes each ifindex to its map (Datapath::upsert_device / ...). */
enum sealnet_device_mode {
  SEALNET_MODE_SOFTWARE = 0,
  SEALNET_MODE_CRYPTO = 1, /* XFRM crypto offload */
  SEALNET_MODE_PACKET = 2, /* XFRM packet (full) offload */
  SEALNET_MODE_COUNT = 3,
};

enum sealnet_device_flags {
  SEALNET_DEVICE_PRESENT = 1u << 15, /* loader-owned: the array slot holds a device */
};

struct sealnet_device_value {
  __u8 slot;   /* < SEALNET_MAX_SLOTS */
  __u8 mode;   /* enum sealnet_device_mode */
  __u16 flags; /* enum sealnet_device_flags */
  __u32 pad;
};

/* ---- config: array of one ------------------------------------------------- */
struct sealnet_config {
  __u32 local_node_id;
  __u8 key_id;       /* our newest key id (1..15) */
  __u8 fail_closed;  /* 1: drop plaintext to remote nodes at the wire */
  __u8 encrypt_host; /* 1: host-originated traffic to remote nodes is encrypted */
  __u8 events;       /* enum sealnet_event_flags: what goes to sealnet_events (0: nothing) */
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
  SEALNET_M_WIRE_OTHER,             /* for this node or outside the cluster: passed */
  /* from-pod / from-host, continued */
  SEALNET_M_NOT_CONFIGURED, /* config names no local node yet: passed */
  SEALNET_M_HOST_PASS,      /* node address to node address, host encryption off */
  SEALNET_M_NODE_NO_ADDR,   /* the peer has no address to tunnel to: dropped */
  SEALNET_M_HOST_MISROUTED, /* from-host got traffic it must not encrypt: dropped */
  /* to-wire, continued */
  SEALNET_M_WIRE_HOST_PASS, /* plaintext host traffic to a remote node address, host encryption off */
  /* bpf_fib_lookup return codes 0..15 (BPF_FIB_LKUP_RET_*), counted apart for
   * every lookup that did not return SUCCESS, whatever the verdict was (NO_NEIGH
   * and FRAG_NEEDED still name the egress device and the packet is marked). A
   * negative return (the helper's own error) counts at
   * SEALNET_FIB_RET_HELPER_ERROR. */
  SEALNET_M_FIB_RET_BASE,
  SEALNET_M_COUNT = SEALNET_M_FIB_RET_BASE + 16,
};
#define SEALNET_FIB_RET_HELPER_ERROR 15

struct sealnet_metric_value {
  __u64 packets;
  __u64 bytes;
};

/* ---- events: ring buffer sealnet_events (docs/events.md) -------------------
 * Off unless the agent sets sealnet_config.events: with 0 an exit point costs
 * one branch on that byte. Drops (and plaintext the wire audit let pass) are
 * reported at most SEALNET_EV_DROP_RATE a second per reason and CPU; a flow
 * (struct sealnet_flow_key) is reported at its first packet and again after
 * SEALNET_EV_FLOW_INTERVAL_NS, or at once when its verdict changes. */
enum sealnet_event_flags {
  SEALNET_EV_F_DROPS = 1u << 0,
  SEALNET_EV_F_FLOWS = 1u << 1,
};

enum sealnet_event_kind {
  SEALNET_EV_DROP = 1,      /* the packet was dropped; reason says why */
  SEALNET_EV_FLOW = 2,      /* a flow marked for encryption (mark-*) or passed by a rule (*-pass) */
  SEALNET_EV_PLAINTEXT = 3, /* plaintext to a remote node left (fail-closed off) */
};

enum sealnet_event_program {
  SEALNET_EV_FROM_POD = 0,
  SEALNET_EV_FROM_HOST = 1,
  SEALNET_EV_TO_WIRE = 2,
};

#define SEALNET_EV_NONE 0xFFu /* key_id / slot / mode not known at that exit */

struct sealnet_event {
  __u64 ts_ns;    /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
  __u8 kind;      /* enum sealnet_event_kind */
  __u8 program;   /* enum sealnet_event_program */
  __u8 family;    /* AF_INET, AF_INET6, 0 when not IP */
  __u8 protocol;  /* IPv4 protocol / IPv6 next header */
  __u32 reason;   /* enum sealnet_metric */
  __u32 ifindex;  /* skb->ifindex: the device the program ran on */
  __u32 mark;     /* skb->mark at the exit */
  __u32 peer_node_id; /* 0: not a cluster node, or not known */
  __u8 key_id;    /* SEALNET_EV_NONE when not known */
  __u8 slot;      /* egress device slot, SEALNET_EV_NONE when not known */
  __u8 mode;      /* enum sealnet_device_mode, SEALNET_EV_NONE when not known */
  __u8 pad;
  __u16 sport;    /* host order; 0 without TCP/UDP/SCTP */
  __u16 dport;
  __u32 len;      /* skb->len */
  __u32 saddr[4]; /* network order; IPv4 uses saddr[0] */
  __u32 daddr[4];
};

struct sealnet_flow_key {
  __u8 family;
  __u8 protocol;
  __u8 program; /* enum sealnet_event_program */
  __u8 pad;
  __u16 sport;
  __u16 dport;
  __u32 saddr[4];
  __u32 daddr[4];
};

struct sealnet_flow_value {
  __u64 reported_ns; /* when the flow was last reported */
  __u32 reason;      /* the verdict then */
  __u32 mark;        /* and the mark (peer, key, slot) */
};

/* Per CPU, per reason: the current one-second window of drop reports. */
struct sealnet_ev_rate {
  __u64 window_ns; /* start of the window */
  __u64 sent;      /* reports in it */
};

/* Per CPU, summed by the reader. */
struct sealnet_ev_stats {
  __u64 sent;         /* records written to the ring buffer */
  __u64 ringbuf_full; /* bpf_ringbuf_reserve failed: lost */
  __u64 rate_limited; /* drop reports cut by SEALNET_EV_DROP_RATE */
};

#define SEALNET_EV_RINGBUF_BYTES (256 * 1024)
#define SEALNET_EV_DROP_RATE 100 /* drop reports per second, per reason and CPU */
#define SEALNET_EV_FLOWS_MAX 16384
#define SEALNET_EV_FLOW_INTERVAL_NS (30ull * 1000000000ull)

#define SEALNET_IPCACHE_MAX 262144
#define SEALNET_NODES_MAX 65536
#define SEALNET_DEVICES_MAX 256     /* sealnet_devhash */
#define SEALNET_DEVICES_DIRECT 1024 /* sealnet_devices: ifindex 0..1023 */

#endif /* SEALNET_BPF_SHARED_H */
