/* Ethernet + IPv4/IPv6 header parsing into a small summary. */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>

#include "bpf/shared.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

enum parse_result {
  PARSE_OK = 0,
  PARSE_NOT_IP = 1,
  PARSE_MALFORMED = -1,
};

/* What the programs read of an IP header. The addresses are 32-bit words, so
 * an IPv4 address (word 0) is one load and one store, not four byte moves. */
struct l3_summary {
  __u8 family;   /* AF_INET or AF_INET6 */
  __u8 protocol; /* IPv4 protocol or the IPv6 next header */
  __u8 pad[2];
  __u32 saddr[4]; /* network order; IPv4 uses saddr[0] */
  __u32 daddr[4];
};

static __always_inline int parse_l3(struct __sk_buff *skb, struct l3_summary *s) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  if ((void *)(eth + 1) > end) return PARSE_MALFORMED;
  if (eth->h_proto == bpf_htons(ETH_P_IP)) {
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end || ip->ihl < 5) return PARSE_MALFORMED;
    s->family = AF_INET;
    s->protocol = ip->protocol;
    s->saddr[0] = ip->saddr;
    s->daddr[0] = ip->daddr;
    return PARSE_OK;
  }
  if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr *ip6 = (void *)(eth + 1);
    if ((void *)(ip6 + 1) > end) return PARSE_MALFORMED;
    s->family = AF_INET6;
    /* Extension headers are not walked: ESP as the first next header is what
     * XFRM tunnel mode emits. */
    s->protocol = ip6->nexthdr;
    __builtin_memcpy(s->saddr, &ip6->saddr, 16);
    __builtin_memcpy(s->daddr, &ip6->daddr, 16);
    return PARSE_OK;
  }
  return PARSE_NOT_IP;
}
