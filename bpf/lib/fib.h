/* The egress device of the outer ESP packet: bpf_fib_lookup on the peer's node
 * address, the destination XFRM tunnel mode will write into the outer header. */
#pragma once

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#include "bpf/lib/maps.h"
#include "bpf/lib/parse.h"

/* Looks the peer's node address up as a packet forwarded from `in_ifindex`
 * would be (flags 0: an input-route lookup with iif = in_ifindex, which is how
 * the stack will route the marked packet). Returns the BPF_FIB_LKUP_RET_* code,
 * or SEALNET_FIB_RET_HELPER_ERROR for a negative return; sets *egress when the
 * code names the egress device.
 *
 * Why not BPF_FIB_LOOKUP_OUTPUT: with it, params->ifindex becomes the output
 * device the lookup is constrained to (flowi4_oif), and the helper still wants
 * an existing device with forwarding on, so it cannot express "any device".
 *
 * tot_len stays 0 on purpose: with a non-zero tot_len the helper checks the MTU
 * *before* it writes params->ifindex, so FRAG_NEEDED would come back with the
 * ingress ifindex still in place. With 0 it writes the egress ifindex first and
 * then compares the skb with that device's MTU. */
static __always_inline int fib_egress(struct __sk_buff *skb, const struct sealnet_node_value *node,
                                      __u32 *egress) {
  struct bpf_fib_lookup p = {};
  p.ifindex = skb->ingress_ifindex;
  p.l4_protocol = IPPROTO_ESP; /* the outer packet's protocol, for multipath and ip rules */
  if (node->flags & SEALNET_NODE_HAS_IPV4) {
    p.family = AF_INET;
    __builtin_memcpy(&p.ipv4_dst, node->ipv4, 4);
  } else {
    p.family = AF_INET6;
    __builtin_memcpy(p.ipv6_dst, node->ipv6, 16);
  }
  long rc = bpf_fib_lookup(skb, &p, sizeof(p), 0);
  if (rc < 0 || rc >= SEALNET_FIB_RET_HELPER_ERROR) rc = SEALNET_FIB_RET_HELPER_ERROR;
  switch (rc) {
    case BPF_FIB_LKUP_RET_SUCCESS:
    /* The route is resolved and names its device; only the neighbour entry of
     * the next hop is missing, which the stack resolves when it sends. */
    case BPF_FIB_LKUP_RET_NO_NEIGH:
    /* The inner packet is larger than the egress MTU: XFRM answers that with
     * PMTU (ICMP / EMSGSIZE) after we marked it; the device is known. */
    case BPF_FIB_LKUP_RET_FRAG_NEEDED:
      *egress = p.ifindex;
      break;
    default:
      break;
  }
  if (rc != BPF_FIB_LKUP_RET_SUCCESS) metric_add(SEALNET_M_FIB_RET_BASE + (__u32)rc, skb->len);
  return (int)rc;
}
