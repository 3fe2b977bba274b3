#!/bin/bash
# vm.probe: `sealnet probe` on a kernel with ESP, AES-GCM and netdevsim (the guest).
#  (i)   node facts: ESP and AES-GCM available, sealnet can encrypt here.
#  (ii)  netdevsim -> crypto-offload; its packet-offload trials refused with EINVAL and
#        netdevsim's extack; veth -> software ("kernel attached no offload" under
#        --trial=all); no XFRM state and no netdevsim SA left afterwards.
#  (iii) a trial SA left by a crashed run (reserved SPI range, the probe's reqid) is
#        removed by the next run; an SA of someone else in that range is not.
#  (iv)  a netdevsim device created while `sealnet probe --watch` runs is reported and
#        probed (crypto-offload).
#  (v)   bench_probe's numbers on this kernel (trials really add, read back, delete).
. "${SEALNET_VM_LIB:-$(dirname "$0")/../tests/vm/guest/lib.sh}"
BIN=${SEALNET_PROBE_BIN:-$SEALNET_BUILD/cli/sealnet}
BENCH=${SEALNET_PROBE_BENCH:-$SEALNET_BUILD/bench/bench_probe}
ART=${SEALNET_VM_ARTIFACTS:-/tmp}
[[ -x $BIN ]] || { fail "sealnet is not built: $BIN"; finish; }
command -v jq >/dev/null || skip_suite "jq is not installed"

NS=probe-a
ip netns add $NS; defer "ip netns del $NS"
ip -n $NS link set lo up
ip -n $NS link add va type veth peer name vb
ip -n $NS link set va up; ip -n $NS link set vb up

# A netdevsim port, made in the initial namespace (where sysfs shows it) and moved
# into ours: there it appears as a new device.
new_nsim() {  # new_nsim ID -> prints the port's name
  local id=$1 port
  echo "$id 1" > /sys/bus/netdevsim/new_device || return 1
  wait_for 20 test -n "$(ls "/sys/bus/netdevsim/devices/netdevsim$id/net/" 2>/dev/null)" || return 1
  port=$(ls "/sys/bus/netdevsim/devices/netdevsim$id/net/")
  # Every netdevsim port gets the same name; ours must differ in the namespace.
  ip link set "$port" name "nsim$id" || return 1
  ip link set "nsim$id" netns $NS || return 1
  echo "nsim$id"
}
NSIM_ID=7401
NSIM=$(new_nsim $NSIM_ID) || { fail "netdevsim$NSIM_ID has no port"; finish; }
defer "echo $NSIM_ID > /sys/bus/netdevsim/del_device"   # deferred last: runs before the netns goes
ip -n $NS link set "$NSIM" up
echo "netdevsim port: $NSIM"
ip -n $NS link show

# jqf FILE FILTER [ARGS...]: the filter holds (jq -e) on FILE.
jqf() { local f=$1; shift; jq -e "$@" "$f" >/dev/null; }
dev() { printf '.devices[] | select(.name == "%s")' "$1"; }

section "(i) node facts"
run "$BIN" probe --netns $NS | tee "$ART/table.txt"
check "sealnet probe exits 0" test "${PIPESTATUS[0]}" = 0
"$BIN" probe --netns $NS --json > "$ART/default.json"
"$BIN" probe --netns $NS --json --trial=all > "$ART/all.json"
check "ESP available" jqf "$ART/default.json" '.node.esp.available == true'
check "AES-GCM available" jqf "$ART/default.json" '.node.aes_gcm.available == true'
check "can encrypt" jqf "$ART/default.json" '.node.can_encrypt == true'
check "table does not say it cannot encrypt" bash -c '! grep -q "cannot encrypt" "$1"' _ "$ART/table.txt"

section "(ii) verdicts"
jq "$(dev "$NSIM") | {verdict, reason, features}" "$ART/default.json"
check "$NSIM: esp-hw-offload on" jqf "$ART/default.json" "$(dev "$NSIM") | .features[\"esp-hw-offload\"].active == true"
check "$NSIM: crypto-offload" jqf "$ART/default.json" "$(dev "$NSIM") | .verdict == \"crypto-offload\""
check "$NSIM: 8 trials (2 key sizes x packet/crypto x out/in)" \
  jqf "$ART/default.json" "$(dev "$NSIM") | .trials | length == 8"
check "$NSIM: crypto attached in and out, for both key sizes" \
  jqf "$ART/default.json" "[$(dev "$NSIM") | .trials[] | select(.mode == \"crypto\")] | length == 4 and all(.attached and .readback.mode == \"crypto\")"
check "$NSIM: packet refused, EINVAL, netdevsim's extack" \
  jqf "$ART/default.json" "[$(dev "$NSIM") | .trials[] | select(.mode == \"packet\")] | length == 4 and all(.added == false and .errno == 22 and .extack == \"netdevsim: Unsupported ipsec offload type\")"
check "$NSIM: reason names the packet refusal" \
  jqf "$ART/default.json" "$(dev "$NSIM") | .reason | contains(\"driver refused packet offload: Invalid argument (netdevsim: Unsupported ipsec offload type)\")"
check "$NSIM: kind netdevsim, driver netdevsim" \
  jqf "$ART/default.json" "$(dev "$NSIM") | .kind == \"netdevsim\" and .driver == \"netdevsim\""
jq "$(dev va) | {verdict, reason}" "$ART/default.json" "$ART/all.json"
check "veth (default): software, flag off, not trialled" \
  jqf "$ART/default.json" "$(dev va) | .verdict == \"software\" and .trialled == false and (.reason | contains(\"esp-hw-offload is off\"))"
check "veth (--trial=all): software, the kernel attached no offload" \
  jqf "$ART/all.json" "$(dev va) | .verdict == \"software\" and (.reason | contains(\"attached no crypto offload\"))"
check "veth (--trial=all): crypto requests became software SAs (added, no read-back offload)" \
  jqf "$ART/all.json" "[$(dev va) | .trials[] | select(.mode == \"crypto\")] | all(.added and .readback == null)"
check "veth (--trial=all): packet requests refused" \
  jqf "$ART/all.json" "[$(dev va) | .trials[] | select(.mode == \"packet\")] | all(.added == false and .errno == 22)"
check "every trial SA removed" jqf "$ART/all.json" '[.devices[].trials[].removed] | all'
check "no XFRM state left in $NS" test -z "$(ip -n $NS xfrm state)"
IPSEC=/sys/kernel/debug/netdevsim/netdevsim$NSIM_ID/ports/0/ipsec
[[ -r $IPSEC ]] && { echo "--- $IPSEC"; cat "$IPSEC"; }
check "netdevsim holds no SA" bash -c '[[ ! -r $1 ]] || grep -q "^SA count=0 " "$1"' _ "$IPSEC"

section "(iii) leftovers of a crashed run"
KEY=0x$(printf 'a5%.0s' {1..20})
ip -n $NS xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0xffffff42 reqid 0x5ea10be0 \
  mode tunnel aead 'rfc4106(gcm(aes))' "$KEY" 128
ip -n $NS xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0xffffff43 reqid 7 \
  mode tunnel aead 'rfc4106(gcm(aes))' "$KEY" 128
defer "ip -n $NS xfrm state flush"
"$BIN" probe --netns $NS --json --no-trial > "$ART/leftovers.json"
check "one leftover removed" jqf "$ART/leftovers.json" '.node.leftovers_removed == 1'
check "the leftover is gone" bash -c "! ip -n $NS xfrm state get src 192.0.2.1 dst 192.0.2.2 proto esp spi 0xffffff42 >/dev/null 2>&1"
check "another's SA in the range stays (not our reqid)" \
  ip -n $NS xfrm state get src 192.0.2.1 dst 192.0.2.2 proto esp spi 0xffffff43
ip -n $NS xfrm state flush

section "(iv) a device added while watching is reported and probed"
"$BIN" probe --netns $NS --json --watch 120 > "$ART/watch.jsonl" 2>&1 &
WATCH=$!
defer "kill $WATCH"
check "watch printed its first report" wait_for 60 test -s "$ART/watch.jsonl"
NSIM2_ID=7402
NSIM2=$(new_nsim $NSIM2_ID) || fail "netdevsim$NSIM2_ID has no port"
defer "echo $NSIM2_ID > /sys/bus/netdevsim/del_device"
echo "second netdevsim port: $NSIM2"
added() { jq -e -s --arg d "$NSIM2" '[.[] | select(.event? == "added" and .name == $d)] | length > 0' "$ART/watch.jsonl" >/dev/null 2>&1; }
check "added event for $NSIM2" wait_for 90 added
jq -c -s --arg d "$NSIM2" '.[] | select(.event? and .name == $d) | {event, verdict: .device.verdict, reason: .device.reason}' "$ART/watch.jsonl"
check "$NSIM2 re-probed on its own: crypto-offload" \
  jq -e -s --arg d "$NSIM2" '[.[] | select(.event? == "added" and .name == $d)][0].device.verdict == "crypto-offload"' "$ART/watch.jsonl"
kill $WATCH 2>/dev/null; wait $WATCH 2>/dev/null
check "no XFRM state left after watching" test -z "$(ip -n $NS xfrm state)"

section "(v) bench_probe on this kernel (numbers only, not a check)"
if [[ -x $BENCH ]]; then
  "$BENCH" --benchmark_min_time=0.5 2>&1 | tee "$ART/bench_probe.txt"
else
  echo "bench_probe not built: $BENCH"
fi

finish
