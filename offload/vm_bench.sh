#!/bin/bash
# Control-plane bench in the VM (not a ctest suite: a measurement, run by hand or by
# bench/run.sh): program 5,000 peers x 2 keys (states + policies, both directions)
# through the batched netlink transport (the reconciler), a streaming variant of it
# (tools/cp_bench_stream.h) and `ip -batch`, with the same objects, each into a
# fresh namespace, in 3 rounds of rotating order; print per path and phase (states,
# policies) wall, user and system time, the medians and the ratios to ip -batch.
# The guest is emulated (TCG): only ratios and the user/system split mean something.
#   tests/vm/vm.sh run /tmp/out offload/vm_bench.sh
# shellcheck source-path=SCRIPTDIR source=../tests/vm/guest/lib.sh
. "${SEALNET_VM_LIB:-$(dirname "$0")/../tests/vm/guest/lib.sh}"
: "${SEALNET_XFRM_NODE:=${SEALNET_BUILD:-}/offload/sealnet-xfrm-node}"
need_tool SEALNET_XFRM_NODE
NODE=$SEALNET_XFRM_NODE
ART=${SEALNET_VM_ARTIFACTS:-/tmp}
W=$(mktemp -d /tmp/offload-bench.XXXXXX); defer "rm -rf $W"
check "modprobe -a esp4 xfrm_user aesni_intel gcm" run modprobe -a esp4 xfrm_user aesni_intel gcm
echo "guest: $(nproc) CPU, aes flag: $(grep -qw aes /proc/cpuinfo && echo yes || echo no), $(ip -V)"

section "(iv) bench: ${SEALNET_BENCH_PEERS:=5000} peers x 2 keys, batched netlink vs streaming vs ip -batch"
out=$("$NODE" bench --peers "$SEALNET_BENCH_PEERS" --keys 2 --rounds "${SEALNET_BENCH_ROUNDS:-3}" --selectors "${SEALNET_BENCH_SELECTORS:-cluster}" --dir "$W"); rc=$?
echo "$out"; echo "$out" > "$ART/bench.txt"
check "bench: every path installed every object in every round" test $rc = 0
ratio=$(sed -n 's/^bench:.* ratio=\([0-9.]*\).*/\1/p' <<< "$out")
echo "bench ratio (ip -batch time / batched netlink time, medians): ${ratio:-?} (goal >= 5)"
# Which implementation the kernel picked for the states' AEAD (its setup is part
# of every NEWSA's cost).
grep -A4 '^name *: rfc4106(gcm(aes))' /proc/crypto | grep -E '^(driver|priority)' | head -4
ip netns list | grep '^cpb' && echo "leftover bench namespaces" >&2

finish
