#!/bin/bash
# Control-plane bench in the VM (not a ctest suite: a measurement, run by hand or by
# bench/run.sh): program 5,000 peers x 2 keys (states + policies, both directions)
# through the batched netlink transport and through `ip -batch` with the same
# objects, in the same guest, and print both times and their ratio. The guest is
# emulated (TCG): only the ratio means something.
#   tests/vm/vm.sh run /tmp/out offload/vm_bench.sh
# shellcheck source-path=SCRIPTDIR source=../tests/vm/guest/lib.sh
. "${SEALNET_VM_LIB:-$(dirname "$0")/../tests/vm/guest/lib.sh}"
: "${SEALNET_XFRM_NODE:=${SEALNET_BUILD:-}/offload/sealnet-xfrm-node}"
need_tool SEALNET_XFRM_NODE
NODE=$SEALNET_XFRM_NODE
ART=${SEALNET_VM_ARTIFACTS:-/tmp}
W=$(mktemp -d /tmp/offload-bench.XXXXXX); defer "rm -rf $W"
check "modprobe -a esp4 xfrm_user aesni_intel gcm" run modprobe -a esp4 xfrm_user aesni_intel gcm

section "(iv) bench: 5,000 peers x 2 keys, batched netlink vs ip -batch"
for ns in of-b1 of-b2; do ip netns add $ns; defer "ip netns del $ns"; done
out=$(ip netns exec of-b1 "$NODE" bench --peers 5000 --keys 2 --ip-netns of-b2 --batch-file $W/bench.batch); rc=$?
echo "$out"; echo "$out" > "$ART/bench.txt"
check "bench: both paths installed the same objects" test $rc = 0
ratio=$(sed -n 's/.*ratio=\([0-9.]*\).*/\1/p' <<< "$out")
echo "bench ratio (ip -batch time / batched netlink time): ${ratio:-?} (goal >= 5)"
ip -n of-b1 xfrm state flush; ip -n of-b1 xfrm policy flush   # these are test namespaces we made
ip -n of-b2 xfrm state flush; ip -n of-b2 xfrm policy flush

finish
