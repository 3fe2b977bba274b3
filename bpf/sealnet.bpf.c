/* sealnet's tc programs. Entry points stay thin; the logic lives in lib/. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bpf/lib/maps.h"
#include "bpf/lib/wire.h"

SEC("tc")
int to_wire(struct __sk_buff *skb) {
  return wire_audit(skb);
}

char _license[] SEC("license") = "GPL";
