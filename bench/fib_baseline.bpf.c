/* The bench's yardstick: a tc program that does only what the classifier must
 * do at the least, the bpf_fib_lookup of the peer's node address from the
 * ingress device, with the same parameters (bpf/lib/fib.h). The address is a
 * read-only global set before load. */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 peer_ipv4 = 0; /* network order */

SEC("tc")
int fib_only(struct __sk_buff *skb) {
  struct bpf_fib_lookup p = {};
  p.family = 2; /* AF_INET */
  p.ifindex = skb->ingress_ifindex;
  p.l4_protocol = IPPROTO_ESP;
  p.ipv4_dst = peer_ipv4;
  long rc = bpf_fib_lookup(skb, &p, sizeof(p), 0);
  /* Use the answer as the classifier does, so it is not optimised away. */
  if (rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_NO_NEIGH) skb->mark = p.ifindex;
  return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
