/* Events from the datapath (docs/events.md): drop reports and flow records
 * through the ring buffer sealnet_events, read by `sealnet monitor`.
 *
 * The entry points call events_exit() once, after they counted the reason.
 * With sealnet_config.events == 0 (the default) that is one array lookup the
 * verifier inlines and one branch; everything else lives in the subprogram
 * events_report(), which re-reads the headers it needs (the classifier's
 * summary is not passed out, so the programs' lookup code stays as it is). */
#pragma once

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "bpf/lib/maps.h"
#include "bpf/lib/parse.h"

/* One reader at a time: a ring buffer has one consumer position. */
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, SEALNET_EV_RINGBUF_BYTES);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sealnet_events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, SEALNET_EV_FLOWS_MAX);
  __type(key, struct sealnet_flow_key);
  __type(value, struct sealnet_flow_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sealnet_ev_flows SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SEALNET_M_COUNT);
  __type(key, __u32);
  __type(value, struct sealnet_ev_rate);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sealnet_ev_rate SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct sealnet_ev_stats);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} sealnet_ev_stats SEC(".maps");

static __always_inline struct sealnet_ev_stats *ev_stats(void) {
  __u32 zero = 0;
  return bpf_map_lookup_elem(&sealnet_ev_stats, &zero);
}

/* Which record a verdict makes: 0 for none. */
static __always_inline __u8 ev_kind(__u8 program, __u32 reason, int action) {
  if (action == TC_ACT_SHOT) return SEALNET_EV_DROP;
  if (reason == SEALNET_M_WIRE_PLAINTEXT_PASSED) return SEALNET_EV_PLAINTEXT;
  if (program == SEALNET_EV_TO_WIRE) return 0; /* ESP and other traffic: counted only */
  switch (reason) {
    case SEALNET_M_MARK_SOFTWARE:
    case SEALNET_M_MARK_CRYPTO:
    case SEALNET_M_MARK_PACKET:
    case SEALNET_M_LOCAL_PASS:
    case SEALNET_M_NON_CLUSTER_PASS:
    case SEALNET_M_HOST_PASS:
      return SEALNET_EV_FLOW;
    default:
      return 0; /* not-ip, not-configured: no flow to speak of */
  }
}

/* Ports of TCP, UDP and SCTP (the first 4 bytes of each), host order. A
 * non-first IPv4 fragment and IPv6 extension headers give none. Direct packet
 * access: a helper call per field costs more than the bounds checks. */
static __always_inline void ev_ports(struct __sk_buff *skb, const struct l3_summary *l3, __u16 *sport,
                                     __u16 *dport) {
  if (l3->protocol != IPPROTO_TCP && l3->protocol != IPPROTO_UDP && l3->protocol != IPPROTO_SCTP) return;
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  __u16 *p;
  if (l3->family == AF_INET) {
    struct iphdr *ip = data + sizeof(struct ethhdr);
    if ((void *)(ip + 1) > end) return;
    if (ip->frag_off & bpf_htons(0x1FFF)) return;
    p = (void *)ip + ((__u32)ip->ihl & 0xF) * 4;
  } else {
    p = data + sizeof(struct ethhdr) + sizeof(struct ipv6hdr);
  }
  if ((void *)(p + 2) > end) return;
  *sport = bpf_ntohs(p[0]);
  *dport = bpf_ntohs(p[1]);
}

/* A drop report within its reason's budget for this second (per CPU). */
static __always_inline int ev_drop_admit(__u32 reason, __u64 now, struct sealnet_ev_stats *st) {
  struct sealnet_ev_rate *r = bpf_map_lookup_elem(&sealnet_ev_rate, &reason);
  if (!r) return 0;
  if (now - r->window_ns >= 1000000000ull) {
    r->window_ns = now;
    r->sent = 0;
  }
  if (r->sent >= SEALNET_EV_DROP_RATE) {
    st->rate_limited++;
    return 0;
  }
  r->sent++;
  return 1;
}

/* A flow report unless this flow was reported within the interval with the
 * same verdict and mark. */
static __always_inline int ev_flow_admit(const struct sealnet_flow_key *k, __u32 reason, __u32 mark, __u64 now) {
  struct sealnet_flow_value *v = bpf_map_lookup_elem(&sealnet_ev_flows, k);
  if (v && v->reason == reason && v->mark == mark && now - v->reported_ns < SEALNET_EV_FLOW_INTERVAL_NS)
    return 0;
  struct sealnet_flow_value nv = {.reported_ns = now, .reason = reason, .mark = mark};
  bpf_map_update_elem(&sealnet_ev_flows, k, &nv, BPF_ANY);
  return 1;
}

/* cfg: sealnet_config.events | our key id << 8 (a BPF call takes 5 arguments). */
static __noinline int events_report(struct __sk_buff *skb, __u32 program, __u32 reason, __u32 action,
                                    __u32 cfg) {
  __u32 flags = cfg & 0xFF, our_key = (cfg >> 8) & 0xFF;
  __u8 kind = ev_kind((__u8)program, reason, (int)action);
  if (kind == 0) return 0;
  if (kind == SEALNET_EV_FLOW ? !(flags & SEALNET_EV_F_FLOWS) : !(flags & SEALNET_EV_F_DROPS)) return 0;
  struct sealnet_ev_stats *st = ev_stats();
  if (!st) return 0;

  struct l3_summary l3 = {};
  if (parse_l3(skb, &l3) != PARSE_OK) l3.family = 0;
  __u16 sport = 0, dport = 0;
  if (l3.family) ev_ports(skb, &l3, &sport, &dport);

  __u64 now = bpf_ktime_get_ns();
  __u32 mark = skb->mark;
  if (kind == SEALNET_EV_FLOW) {
    struct sealnet_flow_key k = {};
    k.family = l3.family;
    k.protocol = l3.protocol;
    k.program = (__u8)program;
    k.sport = sport;
    k.dport = dport;
    __builtin_memcpy(k.saddr, l3.saddr, 16);
    __builtin_memcpy(k.daddr, l3.daddr, 16);
    if (!ev_flow_admit(&k, reason, mark, now)) return 0;
  } else if (!ev_drop_admit(reason, now, st)) {
    return 0;
  }

  struct sealnet_event *e = bpf_ringbuf_reserve(&sealnet_events, sizeof(*e), 0);
  if (!e) {
    st->ringbuf_full++;
    return 0;
  }
  e->ts_ns = now;
  e->kind = kind;
  e->program = (__u8)program;
  e->family = l3.family;
  e->protocol = l3.protocol;
  e->reason = reason;
  e->ifindex = skb->ifindex;
  e->mark = mark;
  e->peer_node_id = 0;
  e->key_id = SEALNET_EV_NONE;
  e->slot = SEALNET_EV_NONE;
  e->mode = SEALNET_EV_NONE;
  e->pad = 0;
  e->sport = sport;
  e->dport = dport;
  e->len = skb->len;
  __builtin_memcpy(e->saddr, l3.saddr, 16);
  __builtin_memcpy(e->daddr, l3.daddr, 16);

  if (reason >= SEALNET_M_MARK_SOFTWARE && reason <= SEALNET_M_MARK_PACKET &&
      (mark & SEALNET_MARK_MAGIC_MASK) == SEALNET_MARK_MAGIC_ENCRYPT) {
    /* What the mark says is all BPF knows of the SA: the SPI's generation
     * lives in the agent (docs/events.md). */
    e->peer_node_id = mark >> SEALNET_MARK_NODE_SHIFT;
    e->key_id = (mark & SEALNET_MARK_KEY_MASK) >> SEALNET_MARK_KEY_SHIFT;
    e->slot = (mark & SEALNET_MARK_SLOT_MASK) >> SEALNET_MARK_SLOT_SHIFT;
    e->mode = (__u8)(reason - SEALNET_M_MARK_SOFTWARE);
  } else if (l3.family) {
    /* Which node the destination belongs to, looked up again for the report
     * only (rate-limited drops, first packets of flows). */
    const struct sealnet_ipcache_value dst = ipcache_lookup(l3.family, l3.daddr);
    e->peer_node_id = dst.node_id; /* 0 when not a cluster node, as before */
    if (program != SEALNET_EV_TO_WIRE && dst.node_id && dst.node_id <= SEALNET_MAX_NODE_ID) {
      const struct sealnet_node_value *node = node_get(dst.node_id);
      if (node) e->key_id = (__u8)sealnet_key_select(our_key, node->peer_key_id);
    }
    if (program == SEALNET_EV_TO_WIRE) {
      const struct sealnet_device_value *dev = device_get(skb->ifindex);
      if (dev) {
        e->slot = dev->slot;
        e->mode = dev->mode;
      }
    }
  }
  bpf_ringbuf_submit(e, 0);
  st->sent++;
  return 0;
}

/* The exit of every entry point: off costs this branch. */
static __always_inline void events_exit(struct __sk_buff *skb, __u32 program, __u32 reason, int action) {
  const struct sealnet_config *cfg = config_get();
  if (!cfg || !cfg->events) return;
  events_report(skb, program, reason, (__u32)action, cfg->events | ((__u32)cfg->key_id << 8));
}
