#!/bin/bash
# vm.discovery: agents that find each other on etcd (a real etcd-server in the lab's
# switch namespace), on a real kernel (Linux 6.12 guest), in `sealnet lab up --etcd`:
#  (i)   three agents register, discover each other and encrypt (only ESP on the wire)
#  (ii)  a fourth node joins: reached, encrypted, within seconds; the states of the
#        other peers are untouched (a join changes only that peer's kernel state)
#  (iii) it leaves: its states go from the others after lease + grace periods, the
#        rest untouched
#  (iv)  etcd goes away: agents say so (status), keep their peers, traffic flows; etcd
#        comes back: they reconnect
# shellcheck source-path=SCRIPTDIR source=../tests/vm/guest/lib.sh
. "${SEALNET_VM_LIB:-$(dirname "$0")/../tests/vm/guest/lib.sh}"
command -v etcd >/dev/null || skip_suite "no etcd binary (Debian etcd-server; setup.sh installs it)"
# shellcheck source=lab/guest.sh
. "$(dirname "$0")/lab/guest.sh"
lab_suite /tmp/sealnet-lab-etcd
peers_are() { [ "$(jqn "$1" '[.peers[] | select(.tx_key > 0)] | length')" = "$2" ]; }
# The states of lab-1 that do not involve node X: "src dst spi" lines.
states_without() { ip -n sl-n1 xfrm state | awk '/^src/ {h = $2 " " $4; getline; print h, $4}' | grep -v "10.240.0.$1 " | sort; }
states_with() { ip -n sl-n1 xfrm state | grep -c "10.240.0.$1 "; }

section "(i) three agents discover each other on etcd"
check "sealnet lab up --etcd" lab up --etcd
for n in 1 2 3; do check "lab-$n sends to 2 discovered peers" wait_for 60 peers_are "$n" 2; done
check "lab-1's discovery is etcd, connected" test "$(jqn 1 '"\(.discovery.backend) \(.discovery.connected)"')" = "etcd true"
check "peer keys come from discovery" test "$(jqn 1 '[.peers[].keys_source] | unique | join(",")')" = discovery
out=$(lab traffic); rc=$?; echo "$out"
check "every pod reaches every other, only ESP between nodes" test "$rc" = 0

section "(ii) a fourth node joins"
before=$(states_without 4)
t0=$SECONDS
check "lab add-node (lab-4 registers on etcd)" lab add-node
joined=""
for _ in $(seq 120); do
  if ip netns exec sl-n1-p1 ping -c 1 -W 1 -q 10.241.4.2 >/dev/null 2>&1; then joined=$((SECONDS - t0)); break; fi
done
echo "lab-1 pod -> lab-4 pod delivered ${joined:-never} s after add-node started (agent start + probe + discovery + reconcile, TCG)"
check "lab-4 reached from lab-1" test -n "$joined"
check "lab-4 pod reaches lab-2's and lab-3's pods" \
  run ip netns exec sl-n4-p1 sh -c 'ping -c 2 -i 0.2 -q 10.241.2.3 && ping -c 2 -i 0.2 -q 10.241.3.3'
check "lab-1's states of lab-2 and lab-3 untouched by the join" test "$(states_without 4)" = "$before"
check "lab-1 holds states for lab-4" test "$(states_with 4)" -gt 0

section "(iii) it leaves"
check "lab remove-node 4" lab remove-node 4
t0=$SECONDS
check "lab-1 drops lab-4 as a peer (lease 4 s + grace 4 s)" wait_for 60 peers_are 1 2
gone() { [ "$(states_with 4)" = 0 ]; }
check "lab-1's states for lab-4 go (+ key grace 10 s)" wait_for 90 gone
echo "lab-4's states left lab-1 $((SECONDS - t0)) s after it stopped"
check "lab-1's states of lab-2 and lab-3 still untouched" test "$(states_without 4)" = "$before"

section "(iv) etcd goes away and comes back"
check "lab etcd stop" lab etcd stop
disconnected() { [ "$(jqn 1 .discovery.connected)" = false ]; }
check "lab-1 reports etcd unreachable" wait_for 60 disconnected
jqn 1 '.discovery'
check "lab-1 keeps its 2 peers" peers_are 1 2
out=$(lab traffic); rc=$?; echo "$out"
check "traffic flows, encrypted, without etcd" test "$rc" = 0
check "lab etcd start" lab etcd start
connected() { [ "$(jqn 1 .discovery.connected)" = true ]; }
check "lab-1 reconnects" wait_for 90 connected
check "and still has its 2 peers" peers_are 1 2
lab status
finish
