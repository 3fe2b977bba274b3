#!/bin/bash
# Control-plane bench in the VM (not a ctest suite: a measurement, run by hand or by
# bench/run.sh): a sweep over cluster sizes, each N peers x 2 keys (states + policies,
# both directions, as the agent makes them from a config of N peers:
# bench/driver/cp_bench.h) programmed through the product path (the reconciler over
# netlink/transport's batched transport) and through `ip -batch`, with the same objects,
# each into a fresh namespace, in rounds of rotating order; per size it prints per
# path and phase (states, policies) wall, user and system time, the medians, the
# ratio to ip -batch and what one more node joining the converged set costs.
# The guest is emulated (TCG): only ratios and the user/system split mean something.
#   tests/vm/vm.sh run /tmp/out offload/vm_bench.sh
# Sizes and rounds: SEALNET_BENCH_SWEEP="peers:rounds ..." (default below; can be
# set from `tests/vm/vm.sh shell`). Artifacts: bench.txt (everything
# the bench printed), summary.txt (its summary line per size, which bench/run.sh
# turns into control_plane.json).
# shellcheck source-path=SCRIPTDIR source=../tests/vm/guest/lib.sh
. "${SEALNET_VM_LIB:-$(dirname "$0")/../tests/vm/guest/lib.sh}"
: "${SEALNET_XFRM_DRIVER:=${SEALNET_BUILD:-}/bench/driver/sealnet-xfrm-driver}"
need_tool SEALNET_XFRM_DRIVER
NODE=$SEALNET_XFRM_DRIVER
ART=${SEALNET_VM_ARTIFACTS:-/tmp}
SWEEP=${SEALNET_BENCH_SWEEP:-100:3 500:3 1000:3 2000:3 5000:3}
W=$(mktemp -d /tmp/offload-bench.XXXXXX); defer "rm -rf $W"
check "modprobe -a esp4 xfrm_user aesni_intel gcm" run modprobe -a esp4 xfrm_user aesni_intel gcm
echo "guest: $(nproc) CPU, aes flag: $(grep -qw aes /proc/cpuinfo && echo yes || echo no), $(ip -V)"
: > "$ART/bench.txt"; : > "$ART/summary.txt"

for size in $SWEEP; do
  peers=${size%%:*} rounds=${size#*:}
  section "bench: $peers peers x 2 keys, $rounds rounds, batched netlink vs ip -batch"
  t0=$SECONDS
  out=$("$NODE" bench --peers "$peers" --keys 2 --rounds "$rounds" --dir "$W"); rc=$?
  echo "$out"; echo "$out" >> "$ART/bench.txt"
  grep '^bench: .*ratio=' <<< "$out" | tail -n 1 >> "$ART/summary.txt"
  check "bench $peers peers: every path installed every object in every round ($((SECONDS - t0)) s)" test $rc = 0
done

section "sweep (medians): peers, objects, batched ms, ip -batch ms, ratio, join ms, join objects"
sed 's/^bench: //' "$ART/summary.txt" | tr ' ' '\n' | awk -F= '
  /^peers=/ { if (line) print line; line = $2 } /^(objects|batched_ms|ip_batch_ms|ratio|join_ms|join_objects)=/ { line = line "  " $2 }
  END { if (line) print line }'
ratio=$(sed -n 's/^bench:.* ratio=\([0-9.]*\).*/\1/p' "$ART/summary.txt" | tail -n 1)
echo "bench ratio at the largest size (ip -batch time / batched netlink time, medians): ${ratio:-?} (goal >= 5)"
# Which implementation the kernel picked for the states' AEAD (its setup is part
# of every NEWSA's cost).
grep -A4 '^name *: rfc4106(gcm(aes))' /proc/crypto | grep -E '^(driver|priority)' | head -4
ip netns list | grep '^cpb' && echo "leftover bench namespaces" >&2

finish
