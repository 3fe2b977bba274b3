/* Test-only tc program: counts the skb marks of the IP packets it sees and
 * lets the next filter decide (TC_ACT_UNSPEC), so a host test can check the
 * marks real packets carry when they reach an uplink. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 256);
  __type(key, __u32);
  __type(value, __u64);
} seen_marks SEC(".maps");

SEC("tc")
int observe_mark(struct __sk_buff *skb) {
  if (skb->protocol != bpf_htons(ETH_P_IP) && skb->protocol != bpf_htons(ETH_P_IPV6)) return TC_ACT_UNSPEC;
  __u32 mark = skb->mark;
  __u64 one = 1;
  __u64 *n = bpf_map_lookup_elem(&seen_marks, &mark);
  if (n)
    __sync_fetch_and_add(n, 1);
  else
    bpf_map_update_elem(&seen_marks, &mark, &one, BPF_NOEXIST);
  return TC_ACT_UNSPEC;
}

char _license[] SEC("license") = "GPL";
