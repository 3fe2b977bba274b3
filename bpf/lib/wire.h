/* to-wire: the audit on every uplink's egress. Node-to-node traffic must leave
 * as ESP; anything else between this node and a remote node is plaintext that
 * escaped encryption and, with fail-closed on, is dropped here and counted.
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
  const struct sealnet_ipcache_value src = ipcache_lookup(l3.family, l3.saddr);
  if (src.node_id != cfg->local_node_id) return SEALNET_M_WIRE_OTHER;
  /* Host-to-host traffic is ours to judge only when host encryption is on. */
  if ((src.flags & SEALNET_IPCACHE_NODE_ADDR) && (dst.flags & SEALNET_IPCACHE_NODE_ADDR) &&
      !cfg->encrypt_host && l3.protocol != IPPROTO_ESP)
    return SEALNET_M_WIRE_OTHER;
  if (l3.protocol == IPPROTO_ESP) {
    const struct sealnet_device_value *dev = device_get(skb->ifindex);
    __u32 mode = dev ? dev->mode : SEALNET_MODE_SOFTWARE;
    if (mode >= SEALNET_MODE_COUNT) mode = SEALNET_MODE_SOFTWARE;
    return SEALNET_M_WIRE_ESP_SOFTWARE + mode;
  }
  return cfg->fail_closed ? SEALNET_M_WIRE_PLAINTEXT_DROPPED : SEALNET_M_WIRE_PLAINTEXT_PASSED;
}
