/* to-wire: the audit on every uplink's egress, judged by the destination. A
 * packet for a remote node (one of its pod CIDRs or node addresses, as the
 * ipcache says) must leave as ESP whatever its source: the node address, a
 * secondary address, the link-local pod gateway, another device's address, or
 * anything a raw or packet socket wrote (the source says nothing about whether
 * encryption was applied). Anything else for a remote node is plaintext that
 * escaped encryption and, with fail-closed on, is dropped here and counted;
 * its drop record (events) carries the source. One named rule lets plaintext
 * for a remote node pass: host traffic (a source that is no pod's) to a remote
 * node's own address while host encryption is off. Destinations on this node
 * or outside the cluster are not the audit's to judge. The classes, their
 * rules and counters: docs/traffic-classes.md.
 * Returns the metric reason; the entry point counts it once and derives the
 * action with wire_action(). */
#pragma once

#include <linux/in.h>
#include <linux/pkt_cls.h>

#include "bpf/lib/maps.h"
#include "bpf/lib/parse.h"

static __always_inline int wire_action(__u32 reason) {
  return reason == SEALNET_M_WIRE_PLAINTEXT_DROPPED || reason == SEALNET_M_MALFORMED ? TC_ACT_SHOT
                                                                                      : TC_ACT_OK;
}

static __always_inline __u32 wire_audit(struct __sk_buff *skb) {
  struct l3_summary l3 = {};
  int rc = parse_l3(skb, &l3);
  if (rc == PARSE_NOT_IP) return SEALNET_M_NOT_IP;
  if (rc != PARSE_OK) return SEALNET_M_MALFORMED;
  const struct sealnet_config *cfg = config_get();
  if (!cfg || cfg->local_node_id == 0) return SEALNET_M_NOT_CONFIGURED;

  const struct sealnet_ipcache_value dst = ipcache_lookup(l3.family, l3.daddr);
  if (dst.node_id == 0 || dst.node_id == cfg->local_node_id) return SEALNET_M_WIRE_OTHER;
  if (l3.protocol == IPPROTO_ESP) {
    const struct sealnet_device_value *dev = device_get(skb->ifindex);
    __u32 mode = dev ? dev->mode : SEALNET_MODE_SOFTWARE;
    if (mode >= SEALNET_MODE_COUNT) mode = SEALNET_MODE_SOFTWARE;
    return SEALNET_M_WIRE_ESP_SOFTWARE + mode;
  }
  /* Host traffic is ours to judge only when host encryption is on. The source
   * is looked up only in this case, to keep the common verdicts at one lookup;
   * a pod's source (ours, or any node's) is pod traffic, which is encrypted
   * whatever encrypt_host says. */
  if ((dst.flags & SEALNET_IPCACHE_NODE_ADDR) && !cfg->encrypt_host) {
    const struct sealnet_ipcache_value src = ipcache_lookup(l3.family, l3.saddr);
    if (!(src.flags & SEALNET_IPCACHE_POD_CIDR)) return SEALNET_M_WIRE_HOST_PASS;
  }
  return cfg->fail_closed ? SEALNET_M_WIRE_PLAINTEXT_DROPPED : SEALNET_M_WIRE_PLAINTEXT_PASSED;
}
