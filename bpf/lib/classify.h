/* Classify before encrypting: the decision from-pod and from-host make for
 * every packet, returned as the metric reason that names it. The entry points
 * count the reason once and derive the action from it (verdict_action). */
#pragma once

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "bpf/lib/fib.h"
#include "bpf/lib/maps.h"
#include "bpf/lib/parse.h"

enum origin {
  ORIGIN_POD,  /* ingress of a pod's host-side device */
  ORIGIN_HOST, /* ingress of the device host traffic to remote nodes is routed to */
};

static __always_inline int verdict_action(__u32 reason) {
  switch (reason) {
    case SEALNET_M_MARK_SOFTWARE:
    case SEALNET_M_MARK_CRYPTO:
    case SEALNET_M_MARK_PACKET:
    case SEALNET_M_LOCAL_PASS:
    case SEALNET_M_NON_CLUSTER_PASS:
    case SEALNET_M_NOT_IP:
    case SEALNET_M_NOT_CONFIGURED:
    case SEALNET_M_HOST_PASS:
      return TC_ACT_OK;
    default:
      return TC_ACT_SHOT;
  }
}

/* A verdict that lets the packet go unencrypted. The host's encryption device
 * only receives what the agent routed there to be encrypted; passing anything
 * back into the stack would route it to the same device again, so there it is
 * a drop (the agent's routes and the ipcache disagree). */
static __always_inline __u32 pass_unencrypted(enum origin origin, __u32 reason) {
  return origin == ORIGIN_HOST ? SEALNET_M_HOST_MISROUTED : reason;
}

static __always_inline __u32 classify(struct __sk_buff *skb, enum origin origin) {
  struct l3_summary l3 = {};
  int rc = parse_l3(skb, &l3);
  if (rc == PARSE_NOT_IP) return SEALNET_M_NOT_IP;
  if (rc != PARSE_OK) return SEALNET_M_MALFORMED;

  const struct sealnet_config *cfg = config_get();
  if (!cfg || cfg->local_node_id == 0) return SEALNET_M_NOT_CONFIGURED;

  const struct sealnet_ipcache_value dst = ipcache_lookup(l3.family, l3.daddr);
  if (dst.node_id == 0) return pass_unencrypted(origin, SEALNET_M_NON_CLUSTER_PASS);
  if (dst.node_id == cfg->local_node_id) return pass_unencrypted(origin, SEALNET_M_LOCAL_PASS);

  /* Node address to node address is host traffic; it is encrypted only when
   * host encryption is on (the wire audit applies the same rule). The source
   * is looked up only in this rare case, to keep pod-to-pod at one lookup. */
  if ((dst.flags & SEALNET_IPCACHE_NODE_ADDR) && !cfg->encrypt_host) {
    const struct sealnet_ipcache_value src = ipcache_lookup(l3.family, l3.saddr);
    if (src.node_id == cfg->local_node_id && (src.flags & SEALNET_IPCACHE_NODE_ADDR))
      return pass_unencrypted(origin, SEALNET_M_HOST_PASS);
  }

  __u32 node_id = dst.node_id;
  if (node_id > SEALNET_MAX_NODE_ID) return SEALNET_M_UNKNOWN_NODE; /* cannot be marked */
  const struct sealnet_node_value *node = node_get(node_id);
  if (!node) return SEALNET_M_UNKNOWN_NODE;
  if (!(node->flags & (SEALNET_NODE_HAS_IPV4 | SEALNET_NODE_HAS_IPV6))) return SEALNET_M_NODE_NO_ADDR;

  __u32 key = sealnet_key_select(cfg->key_id, node->peer_key_id);
  if (key == 0) return SEALNET_M_NO_KEY;

  __u32 egress = 0;
  fib_egress(skb, node, &egress); /* counts its return code itself */
  if (egress == 0) return SEALNET_M_FIB_FAILED;

  /* With 0/0 selectors the mark alone picks the SA: a guessed slot would send
   * ESP to the wrong peer, so a device without a slot is a drop. */
  const struct sealnet_device_value *dev = device_get(egress);
  if (!dev || dev->slot >= SEALNET_MAX_SLOTS || dev->mode >= SEALNET_MODE_COUNT)
    return SEALNET_M_UNKNOWN_DEVICE;

  skb->mark = sealnet_mark_encrypt(node_id, key, dev->slot);
  return SEALNET_M_MARK_SOFTWARE + dev->mode;
}
