/* sealnet's tc programs. Entry points stay thin; the logic lives in lib/. Each
 * entry counts exactly one metric reason per packet and derives its action from
 * that reason, so every drop is counted with why.
 *
 * Where they attach (the agent sets this up; see bpf/tc.h):
 *  - from_pod:  tc ingress of each pod's host-side device (veth).
 *  - from_host: tc ingress of a dedicated device that host-originated traffic
 *    to remote pods (and to remote nodes, with host encryption on) is routed
 *    to, e.g. one end of a veth pair whose other end carries those routes.
 *    Why not tc egress of the uplinks: for locally generated packets XFRM picks
 *    its policy in the route lookup at send time (ip_route_output_flow ->
 *    xfrm_lookup), long before tc egress runs, so a mark set there is too late.
 *    A cgroup hook cannot set a per-destination mark on an unconnected socket.
 *    At the dedicated device's ingress the packet is re-routed as forwarded
 *    traffic, exactly like pod traffic: the mark selects the policy in the
 *    forward path (xfrm4_route_forward), and the FIB lookup has an ingress
 *    device to simulate forwarding from (flags 0). The device needs forwarding
 *    on, rp_filter off and accept_local on (the source is a local address).
 *  - to_wire:   tc egress of each uplink.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bpf/lib/classify.h"
#include "bpf/lib/events.h"
#include "bpf/lib/maps.h"
#include "bpf/lib/wire.h"

SEC("tc")
int from_pod(struct __sk_buff *skb) {
  __u32 reason = classify(skb, ORIGIN_POD);
  metric_add(reason, skb->len);
  int action = verdict_action(reason);
  events_exit(skb, SEALNET_EV_FROM_POD, reason, action);
  return action;
}

SEC("tc")
int from_host(struct __sk_buff *skb) {
  __u32 reason = classify(skb, ORIGIN_HOST);
  metric_add(reason, skb->len);
  int action = verdict_action(reason);
  events_exit(skb, SEALNET_EV_FROM_HOST, reason, action);
  return action;
}

SEC("tc")
int to_wire(struct __sk_buff *skb) {
  __u32 reason = wire_audit(skb);
  metric_add(reason, skb->len);
  int action = wire_action(reason);
  events_exit(skb, SEALNET_EV_TO_WIRE, reason, action);
  return action;
}

char _license[] SEC("license") = "GPL";
