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

struct l3_summary {
  __u8 family;
  __u8 protocol; /* IPv4 protocol or the IPv6 next header */
  __u16 tot_len; /* L3 length, host order */
  __u8 tos;
  __u8 saddr[16];
  __u8 daddr[16];
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
    s->tot_len = bpf_ntohs(ip->tot_len);
    s->tos = ip->tos;
    __builtin_memcpy(s->saddr, &ip->saddr, 4);
    __builtin_memcpy(s->daddr, &ip->daddr, 4);
    return PARSE_OK;
  }
  if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr *ip6 = (void *)(eth + 1);
    if ((void *)(ip6 + 1) > end) return PARSE_MALFORMED;
    s->family = AF_INET6;
    /* Extension headers are not walked: ESP as the first next header is what
     * XFRM tunnel mode emits. */
    s->protocol = ip6->nexthdr;
    s->tot_len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
    s->tos = 0;
    __builtin_memcpy(s->saddr, &ip6->saddr, 16);
    __builtin_memcpy(s->daddr, &ip6->daddr, 16);
    return PARSE_OK;
  }
  return PARSE_NOT_IP;
}

/* Longest-prefix match of an address in the ipcache. */
static __always_inline struct sealnet_ipcache_value *ipcache_lookup(__u8 family, const __u8 *addr) {
  struct sealnet_ipcache_key key = {};
  key.family = family;
  if (family == AF_INET) {
    key.prefixlen = SEALNET_IPCACHE_FAMILY_BITS + 32;
    __builtin_memcpy(key.addr, addr, 4);
  } else {
    key.prefixlen = SEALNET_IPCACHE_FAMILY_BITS + 128;
    __builtin_memcpy(key.addr, addr, 16);
  }
  return bpf_map_lookup_elem(&sealnet_ipcache, &key);
}
