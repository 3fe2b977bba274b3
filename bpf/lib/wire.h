/* to-wire: the audit on every uplink's egress. Node-to-node traffic must leave
 * as ESP; anything else between this node and a remote node is plaintext that
 * escaped encryption and, with fail-closed on, is dropped here and counted. */
#pragma once

#include <linux/pkt_cls.h>

#include "bpf/lib/maps.h"
#include "bpf/lib/parse.h"

static __always_inline int wire_audit(struct __sk_buff *skb) {
  struct l3_summary l3 = {};
  int rc = parse_l3(skb, &l3);
  if (rc == PARSE_NOT_IP) return TC_ACT_OK;
  if (rc != PARSE_OK) {
    metric_add(SEALNET_M_MALFORMED, skb->len);
    return TC_ACT_SHOT;
  }
  const struct sealnet_config *cfg = config_get();
  if (!cfg || cfg->local_node_id == 0) return TC_ACT_OK; /* not configured yet */

  struct sealnet_ipcache_value *dst = ipcache_lookup(l3.family, l3.daddr);
  struct sealnet_ipcache_value *src = ipcache_lookup(l3.family, l3.saddr);
  if (!dst || !src || dst->node_id == 0 || dst->node_id == cfg->local_node_id ||
      src->node_id != cfg->local_node_id) {
    metric_add(SEALNET_M_WIRE_OTHER, skb->len);
    return TC_ACT_OK;
  }
  /* Host-to-host traffic is ours to judge only when host encryption is on. */
  if ((src->flags & SEALNET_IPCACHE_NODE_ADDR) && (dst->flags & SEALNET_IPCACHE_NODE_ADDR) &&
      !cfg->encrypt_host && l3.protocol != IPPROTO_ESP) {
    metric_add(SEALNET_M_WIRE_OTHER, skb->len);
    return TC_ACT_OK;
  }
  if (l3.protocol == IPPROTO_ESP) {
    __u32 ifindex = skb->ifindex;
    struct sealnet_device_value *dev = bpf_map_lookup_elem(&sealnet_devices, &ifindex);
    __u32 mode = dev ? dev->mode : SEALNET_MODE_SOFTWARE;
    if (mode >= SEALNET_MODE_COUNT) mode = SEALNET_MODE_SOFTWARE;
    metric_add(SEALNET_M_WIRE_ESP_SOFTWARE + mode, skb->len);
    return TC_ACT_OK;
  }
  if (cfg->fail_closed) {
    metric_add(SEALNET_M_WIRE_PLAINTEXT_DROPPED, skb->len);
    return TC_ACT_SHOT;
  }
  metric_add(SEALNET_M_WIRE_PLAINTEXT_PASSED, skb->len);
  return TC_ACT_OK;
}
