#!/bin/bash
# vm.agent: the sealnet agent end to end on a real kernel (Linux 6.12 guest), in the
# lab of `sealnet lab` (three nodes of network namespaces, two pods each, a switch
# namespace whose bridge is captured; node 1 also has a netdevsim port):
#  (i)   every pod reaches every other; between nodes the switch sees only ESP
#  (ii)  same-node traffic is not encrypted (BPF local-pass, no SA counts it, never
#        on the wire)
#  (ii-c) `sealnet monitor` shows an encrypted flow and a forced drop; `sealnet audit`
#        exits 0 on the clean lab and 1 after plaintext was stopped at the wire
#  (ii-b) strict receive: an intruder on the switch sends plaintext that claims a
#        remote pod's address (lab-2's 10.241.2.2) to a pod of lab-1: not
#        delivered, counted as XfrmInTmplMismatch; the real 10.241.2.2 still gets through
#  (iii) a node added at run time is reached, encrypted, within seconds
#  (iii-c) a misordered key file swapped in at run time: refused by every agent,
#        the running keys kept, and no substring of any key in any agent's log,
#        status (JSON and text), /healthz, /readyz or /metrics
#  (iv)  an agent killed with SIGKILL during a continuous numbered UDP stream and
#        restarted: zero datagrams lost, zero plaintext frames
#  (v)   a key rotation (a Secret-style ..data symlink swap) during a stream: zero
#        lost, zero plaintext, both keys' SPIs on the wire, the old key's states gone
#        after the grace period
#  (vi)  the netdevsim uplink goes down (its offloaded states are flushed) and up:
#        they are re-installed under the next generation, both decisions recorded
# shellcheck source-path=SCRIPTDIR source=../tests/vm/guest/lib.sh
. "${SEALNET_VM_LIB:-$(dirname "$0")/../tests/vm/guest/lib.sh}"
# shellcheck source=lab/guest.sh
. "$(dirname "$0")/lab/guest.sh"
: "${SEALNET_UDP_STREAM:=${SEALNET_BUILD:-}/offload/udp_stream}"
need_tool SEALNET_UDP_STREAM
UDP=$SEALNET_UDP_STREAM
lab_suite /tmp/sealnet-lab-e2e

capture_start() {  # capture_start NAME: the switch, into $ART/NAME.pcap
  ip netns exec sl-wire tcpdump -i br0 -nn -U -w "$ART/$1.pcap" ip 2>/dev/null &
  CAP_PID=$!; sleep 1
}
capture_stop() { sleep 0.5; kill "$CAP_PID" 2>/dev/null; wait "$CAP_PID" 2>/dev/null; }
plaintext_frames() { tcpdump -r "$ART/$1.pcap" -nn 2>/dev/null | grep -cE 'IP 10\.241\.[0-9.]+ > 10\.241\.'; }
esp_frames() { tcpdump -r "$ART/$1.pcap" -nn 2>/dev/null | grep -c ': ESP('; }
spis() { tcpdump -r "$ART/$1.pcap" -nn 2>/dev/null | grep -o 'ESP(spi=0x[0-9a-f]*' | sed 's/ESP(spi=//' | sort -u; }

# stream_start NAME SRC_NODE DST_NODE COUNT: numbered UDP from pod 1 of one node to
# pod 1 of another at 200/s; stream_wait NAME: the receiver's verdict.
stream_start() {
  local name=$1 s=$2 d=$3 count=$4
  ip netns exec "sl-n$d-p1" "$UDP" recv --bind "10.241.$d.2" --port 7000 --count "$count" --timeout $((count / 200 + 60)) \
    --ready-file "$ART/$name.ready" >"$ART/$name.recv" 2>&1 &
  RECV_PID=$!
  wait_for 20 test -e "$ART/$name.ready"
  ip netns exec "sl-n$s-p1" "$UDP" send --src "10.241.$s.2" --dst "10.241.$d.2" --port 7000 --count "$count" \
    --pps 200 >"$ART/$name.send" 2>&1 &
  SEND_PID=$!
}
stream_wait() {
  wait "$SEND_PID"; wait "$RECV_PID"; local rc=$?
  cat "$ART/$1.send" "$ART/$1.recv"
  return $rc
}

section "(i) lab up; every pod reaches every other, only ESP between nodes"
check "sealnet lab up (3 nodes, agents ready)" lab up
capture_start traffic
out=$(lab traffic); rc=$?; echo "$out"
capture_stop
check "lab traffic: every pair delivered, none in plaintext" test "$rc" = 0
check "the switch saw ESP ($(esp_frames traffic) frames)" test "$(esp_frames traffic)" -gt 0
check "the switch saw no pod address in the clear" test "$(plaintext_frames traffic)" = 0
check "lab-1 reports nsim0 as crypto-offload with offloaded states" \
  test "$(jqn 1 '[.devices[] | select(.name == "nsim0" and .mode == "crypto" and .offloaded_states > 0)] | length')" = 1

metrics=$(ip netns exec sl-n1 curl -sf http://127.0.0.1:9962/metrics)
check "Prometheus metrics: BPF counters by reason and per-SA packets" \
  grep -qE '^sealnet_bpf_packets_total\{reason="mark-software"\} [1-9]' <<<"$metrics"
check "Prometheus metrics: no key material" bash -c "! grep -qi 'rfc4106.*0x\|aead_key' <<<\"\$1\"" _ "$metrics"
check "Prometheus metrics: encrypted bytes per device and mode, no SPI label" bash -c \
  'grep -qE "^sealnet_encrypted_bytes_total\{device=\"[^\"]+\",mode=\"(software|crypto|packet)\"\} [1-9]" <<<"$1" &&
   ! grep -q "spi=" <<<"$1"' _ "$metrics"
if command -v promtool >/dev/null; then
  check "promtool check metrics passes on lab-1's exposition" bash -c 'promtool check metrics <<<"$1"' _ "$metrics"
fi
# A real Prometheus (Debian package prometheus, from the host's /) in lab-1's
# namespace scrapes its agent every second; its HTTP API answers for the
# encrypted bytes.
if command -v prometheus >/dev/null; then
  pdir=$ART/prometheus
  mkdir -p "$pdir"
  printf 'global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n  - job_name: sealnet\n    static_configs: [{targets: ["127.0.0.1:9962"]}]\n' \
    >"$pdir/prometheus.yml"
  # Its TSDB mmaps files: on the guest's own /tmp, not the artifacts share (9p, no mmap).
  pdata=$(mktemp -d /tmp/sealnet-prom.XXXXXX)
  defer "rm -rf $(printf %q "$pdata")"
  ip netns exec sl-n1 prometheus --config.file="$pdir/prometheus.yml" --storage.tsdb.path="$pdata" \
    --web.listen-address=127.0.0.1:9090 --log.level=warn >"$pdir/log" 2>&1 &
  PROM_PID=$!
  prom_encrypted() {
    ip netns exec sl-n1 curl -sf http://127.0.0.1:9090/api/v1/query \
      --data-urlencode 'query=sum(sealnet_encrypted_bytes_total{job="sealnet"})' | jq -r '.data.result[0].value[1] // "0"'
  }
  prom_has_bytes() { awk -v v="$(prom_encrypted)" 'BEGIN { exit !(v + 0 > 0) }'; }
  check "a real Prometheus scraped lab-1's agent: sealnet_encrypted_bytes_total > 0" wait_for 60 prom_has_bytes
  echo "prometheus: sum(sealnet_encrypted_bytes_total) = $(prom_encrypted)"
  kill "$PROM_PID" 2>/dev/null; wait "$PROM_PID" 2>/dev/null
  tail -n 5 "$pdir/log"
fi

section "(ii) same-node traffic is not encrypted"
before_local=$(jqn 1 '.bpf_packets["local-pass"] // 0')
before_out=$(jqn 1 '[.peers[].out_total.packets] | add')
capture_start local
run ip netns exec sl-n1-p1 ping -c 5 -i 0.2 -q 10.241.1.3; rc=$?
capture_stop
# The snapshot refreshes every second; its SA counters are the reconciler's view,
# read at each reconcile (at least every 2 s): wait for one past the ping.
sleep 3
after_local=$(jqn 1 '.bpf_packets["local-pass"] // 0')
after_out=$(jqn 1 '[.peers[].out_total.packets] | add')
echo "local-pass $before_local -> $after_local, SA out packets $before_out -> $after_out"
check "pod1 -> pod2 on lab-1 delivered" test "$rc" = 0
check "classified local-pass (>= 5 more)" test $((after_local - before_local)) -ge 5
check "no outbound SA counted it" test "$after_out" = "$before_out"
check "nothing of it on the wire" test "$(tcpdump -r "$ART/local.pcap" -nn 2>/dev/null | grep -c '10.241.1.')" = 0

# ---- issue 18 (events18): sealnet monitor and sealnet audit (docs/events.md). Written
# without a VM run by its author: the lead runs it. The lab's configs have
# `monitor: {drops: true, flows: true}`.
section "(ii-c) sealnet monitor shows an encrypted flow and a forced drop; sealnet audit judges the window"
audit1() { ip netns exec sl-n1 "$BIN" audit --since 10m "$@"; }
audit1; rc=$?
check "sealnet audit on the clean lab: exit 0" test "$rc" = 0
ip netns exec sl-n1 "$BIN" monitor --json --bpffs "$LAB/bpf/lab-1" >"$ART/monitor.json" 2>"$ART/monitor.err" &
MON_PID=$!
sleep 2
run ip netns exec sl-n1-p1 ping -c 3 -i 0.2 -q 10.241.2.2
# The node itself to a remote pod: unmarked (host encryption is off), so it reaches
# up0 in plaintext and the wire audit drops it (plaintext-to-remote).
run ip netns exec sl-n1 ping -c 3 -i 0.2 -W 1 -q 10.241.2.2
sleep 1
kill -INT "$MON_PID"; wait "$MON_PID"; rc=$?
head -5 "$ART/monitor.json"; cat "$ART/monitor.err"
check "sealnet monitor stopped cleanly" test "$rc" = 0
check "monitor: an encrypted flow from pod 10.241.1.2 to lab-2" \
  grep -q '"verdict":"ENCRYPTED".*"src":"10.241.1.2".*"peer":"lab-2"' "$ART/monitor.json"
check "monitor: the forced drop at the wire" grep -q '"verdict":"DROP","program":"to_wire","reason":"plaintext-to-remote"' "$ART/monitor.json"
sleep 2   # the status snapshot refreshes every second
audit1 --json >"$ART/audit.json"; rc=$?
cat "$ART/audit.json"
check "sealnet audit after plaintext was stopped at the wire: exit 1" test "$rc" = 1
check "audit names plaintext-to-remote" grep -q 'plaintext-to-remote' "$ART/audit.json"
# ---- end of issue 18's section

section "(ii-b) strict receive: plaintext claiming a remote pod's address is dropped"
# The intruder: its own namespace on the switch, lab-2's pod address on its
# loopback, a route to lab-1's pods via lab-1's uplink. An ordinary UDP socket
# bound to the spoofed address puts on the wire exactly the frame a raw socket
# would: 10.241.2.2 -> 10.241.1.2, plaintext, from the switch.
run ip netns add sl-spoof
defer "ip netns del sl-spoof"
run ip -n sl-wire link add spoof0 type veth peer name eth0 netns sl-spoof
run ip -n sl-wire link set spoof0 master br0 up
run ip -n sl-spoof link set lo up
run ip -n sl-spoof link set eth0 up
run ip -n sl-spoof addr add 10.240.0.200/24 dev eth0
run ip -n sl-spoof addr add 10.241.2.2/32 dev lo
run ip -n sl-spoof route add 10.241.1.0/24 via 10.240.0.1 dev eth0
mismatch() { ip netns exec sl-n1 awk '$1 == "XfrmInTmplMismatch" {print $2}' /proc/net/xfrm_stat; }
before_mm=$(mismatch)
capture_start spoof
ip netns exec sl-n1-p1 "$UDP" recv --bind 10.241.1.2 --port 7100 --count 50 --timeout 8 >"$ART/spoof.recv" 2>&1 &
SPOOF_RECV=$!
sleep 1
run ip netns exec sl-spoof "$UDP" send --src 10.241.2.2 --dst 10.241.1.2 --port 7100 --count 50 --pps 100
wait "$SPOOF_RECV"
capture_stop
cat "$ART/spoof.recv"
after_mm=$(mismatch)
spoofed_on_wire=$(tcpdump -r "$ART/spoof.pcap" -nn 2>/dev/null | grep -c 'IP 10\.241\.2\.2\.[0-9]* > 10\.241\.1\.2\.7100: UDP')
echo "spoofed frames on the switch: $spoofed_on_wire; lab-1 XfrmInTmplMismatch $before_mm -> $after_mm"
check "the spoofed plaintext crossed the switch (the intruder really sent it)" test "$spoofed_on_wire" -ge 50
check "lab-1's pod received none of it" grep -q '^received 0 of 50' "$ART/spoof.recv"
check "lab-1 counted it: XfrmInTmplMismatch +$((after_mm - before_mm)) (>= 50)" test $((after_mm - before_mm)) -ge 50
sleep 2   # the status snapshot refreshes every second
check "sealnet status shows the counter" test "$(jqn 1 '.xfrm_stat.XfrmInTmplMismatch // 0')" -ge 50
run ip netns del sl-spoof
check "the real 10.241.2.2 still reaches 10.241.1.2, encrypted" \
  run ip netns exec sl-n2-p1 ping -c 3 -i 0.2 -q 10.241.1.2

section "(iii) a node added at run time"
capture_start join
t0=$SECONDS
check "sealnet lab add-node (lab-4 joins; the others' configs reload)" lab add-node
joined=""
for _ in $(seq 120); do
  if ip netns exec sl-n1-p1 ping -c 1 -W 1 -q 10.241.4.2 >/dev/null 2>&1; then joined=$((SECONDS - t0)); break; fi
done
run ip netns exec sl-n4-p1 ping -c 3 -i 0.2 -q 10.241.2.2
capture_stop
echo "lab-1 pod -> lab-4 pod delivered ${joined:-never} s after add-node started (agent start + probe + reconcile, TCG)"
check "lab-4 reached from lab-1" test -n "$joined"
check "lab-4 traffic on the wire is ESP" test "$(tcpdump -r "$ART/join.pcap" -nn 2>/dev/null | grep -c '10.240.0.4 > 10.240.0.[0-9]*: ESP')" -gt 0
check "no plaintext while lab-4 joined" test "$(plaintext_frames join)" = 0

section "(iii-b) a broken config at run time changes nothing"
cp "$LAB/lab-2.yaml" "$ART/lab-2.yaml.good"
sed 's/^node: {name: lab-2, id: 2,/node: {name: lab-2, id: 70000,/' "$ART/lab-2.yaml.good" >"$LAB/lab-2.yaml.tmp"
mv "$LAB/lab-2.yaml.tmp" "$LAB/lab-2.yaml"
rejected() { grep -q "config rejected, the running config stays in force: parse agent config $LAB/lab-2.yaml:2: node.id" "$LAB/logs/lab-2.log"; }
check "lab-2's agent rejects it, naming file, line and field" wait_for 30 rejected
grep "config rejected" "$LAB/logs/lab-2.log" | tail -1
check "lab-2 still reaches lab-1 and lab-4, encrypted" \
  run ip netns exec sl-n2-p1 sh -c 'ping -c 2 -i 0.2 -q 10.241.1.2 && ping -c 2 -i 0.2 -q 10.241.4.2'
check "lab-2 still ready with 3 peers" test "$(jqn 2 '"\(.ready) \(.peers | length)"')" = "true 3"
# The refusal stays in last_error across clean reconciles, until a good config.
refusal_shown() { [[ $(jqn 2 .last_error) == *"config rejected"* ]]; }
r0=$(jqn 2 .reconciles)
two_more() { (($(jqn 2 .reconciles) >= r0 + 2)); }
wait_for 60 two_more  # two periodic reconciles, clean
echo "lab-2: reconciles $r0 -> $(jqn 2 .reconciles); last_error: $(jqn 2 .last_error)"
check "lab-2's last_error still shows the refused config after clean reconciles" refusal_shown
mv "$ART/lab-2.yaml.good" "$LAB/lab-2.yaml"
refusal_gone() { ! refusal_shown; }
check "the good config back: lab-2's last_error clears" wait_for 30 refusal_gone

section "(iii-c) a misordered key file at run time: refused, no key byte in any output"
S=$LAB/secret
good=$(readlink "$S/..data")
bad_hex=$(od -An -tx1 -N20 /dev/urandom | tr -d ' \n')
v="..bad$$"
(umask 077; mkdir "$S/$v" && printf '3+ 0x%s rfc4106(gcm(aes)) 128\n' "$bad_hex" >"$S/$v/keys")
ln -sfn "$v" "$S/..data_tmp" && mv -T "$S/..data_tmp" "$S/..data"
refused_all() { local n; for n in 1 2 3 4; do grep -q "key file rejected" "$LAB/logs/lab-$n.log" || return 1; done; }
check "every agent refuses it, the running keys stay" wait_for 30 refused_all
grep "key file rejected" "$LAB/logs/lab-1.log" | tail -1
sleep 2   # a status refresh after the refusal
: >"$ART/outputs.txt"
for n in 1 2 3 4; do
  cat "$LAB/logs/lab-$n.log" >>"$ART/outputs.txt"
  for path in status healthz readyz metrics; do
    ip netns exec "sl-n$n" curl -s "http://127.0.0.1:9962/$path" >>"$ART/outputs.txt"
  done
  ip netns exec "sl-n$n" "$BIN" status >>"$ART/outputs.txt" 2>&1
done
# Every 12-hex-digit (6-byte) window of the running keys and of the refused one.
{
  for hex in "$bad_hex" $(awk '{sub(/^0x/, "", $3); print $3}' "$S/$good/keys"); do
    for ((i = 0; i + 12 <= ${#hex}; i++)); do echo "${hex:i:12}"; done
  done
} >"$ART/key-windows.txt"
echo "searched $(wc -c <"$ART/outputs.txt") bytes of output for $(wc -l <"$ART/key-windows.txt") key windows"
check "no substring of any key in logs, status, /healthz, /readyz, /metrics" \
  bash -c '! grep -qiF -f "$1" "$2"' _ "$ART/key-windows.txt" "$ART/outputs.txt"
check "lab-2 still reaches lab-1 on the running keys" run ip netns exec sl-n2-p1 ping -c 2 -i 0.2 -q 10.241.1.2
key_refusal_shown() { [[ $(jqn "$1" .last_error) == *"key file rejected"* ]]; }
check "lab-1's last_error shows the refused key file" key_refusal_shown 1
ln -sfn "$good" "$S/..data_tmp" && mv -T "$S/..data_tmp" "$S/..data" && rm -rf "${S:?}/$v"
key_refusals_gone() { local n; for n in 1 2 3 4; do ! key_refusal_shown "$n" || return 1; done; }
check "the good key file back: every agent's last_error clears" wait_for 30 key_refusals_gone

section "(iv) SIGKILL and restart of an agent during a stream"
capture_start kill
stream_start kill 1 2 3000
sleep 3
pid=$(cat "$LAB/run/lab-1.pid"); run kill -9 "$pid"
sleep 2
check "lab-1's agent restarts" lab start-agent 1
stream_wait kill; rc=$?
capture_stop
check "3000 of 3000 datagrams arrived across the kill and restart" test "$rc" = 0
check "no plaintext frame on the wire" test "$(plaintext_frames kill)" = 0
check "the restarted agent adopted the running state" grep -q "adopting node lab-1" "$LAB/logs/lab-1.log"

section "(v) key rotation during a stream"
capture_start rotate
# 30 s at 200/s: long enough that key 2 takes over mid-stream also on a loaded host (TCG)
stream_start rotate 2 1 6000
sleep 2
check "lab rotate (key 2 joins key 1)" lab rotate
on_key2() {
  local n
  for n in 1 2 3 4; do
    [ "$(jqn "$n" '[.peers[] | select(.tx_key != 2)] | length')" = 0 ] || return 1
  done
}
check "every agent sends with key 2 to every peer" wait_for 60 on_key2
check "lab rotate --finish (key 1 leaves)" lab rotate --finish
stream_wait rotate; rc=$?
capture_stop
spi_list=$(spis rotate | tr '\n' ' '); echo "SPIs on the wire: $spi_list"
check "6000 of 6000 datagrams arrived across the rotation" test "$rc" = 0
check "no plaintext frame on the wire" test "$(plaintext_frames rotate)" = 0
# SPI 0xNNNNKSGG: sender node, key, slot, generation (docs/xfrm-design.md).
spi_keys=$(spis rotate | cut -c7 | sort -u | tr -d '\n')
check "SPIs of key 1 and key 2 both on the wire (keys seen: $spi_keys)" test "$spi_keys" = 12
key1_gone() { [ "$(ip netns exec sl-n1 ip xfrm state | grep -cE 'spi 0x[0-9a-f]{4}1[0-9a-f]{3} ')" = 0 ]; }
check "key 1's states removed after the grace period (10 s)" wait_for 60 key1_gone

section "(vi) the netdevsim uplink flaps: its offloaded states come back under a new generation"
dev_json() { jqn 1 ".devices[] | select(.name == \"nsim0\") | $1"; }
gen_before=$(dev_json .generation)
run ip -n sl-n1 link set nsim0 down
flushed() { [ "$(ip -n sl-n1 xfrm state | grep -c 'crypto offload parameters')" = 0 ]; }
check "link down flushed nsim0's offloaded states" wait_for 30 flushed
run ip -n sl-n1 link set nsim0 up
reinstalled() {
  [ "$(dev_json .generation)" = $((gen_before + 1)) ] && [ "$(dev_json .offloaded_states)" -gt 0 ] &&
    [ "$(ip -n sl-n1 xfrm state | grep -c 'crypto offload parameters')" -gt 0 ]
}
check "link up: offloaded again under generation $((gen_before + 1))" wait_for 60 reinstalled
check "decisions link-down and link-up recorded" \
  test "$(jqn 1 '"\(.fallback_counts["link-down"]) \(.fallback_counts["link-up"])"')" = "1 1"
jqn 1 '.decisions[-2:][]'

section "the lab after all that"
out=$(lab traffic); rc=$?; echo "$out"
check "4 nodes: every pod reaches every other, none in plaintext" test "$rc" = 0
lab status
for n in 1 2 3 4; do
  echo "lab-$n xfrm_stat: $(jqn "$n" '.xfrm_stat | to_entries | map(select(.value > 0)) | map("\(.key)=\(.value)") | join(" ")')"
done
finish
