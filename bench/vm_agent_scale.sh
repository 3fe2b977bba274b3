#!/bin/bash
# The agent at scale, in the VM (a measurement, not a test): N synthetic nodes
# registered on a real etcd, one real agent discovering them all.
#   converge: agent start -> every peer has its states and a send key (the agent's log)
#   memory:   the agent's RSS and peak RSS (VmRSS, VmHWM) once converged
#   join:     one more node registered -> its states exist and the agent sends to it;
#             the kernel objects that changed
# Writes agent_scale.json into $SEALNET_VM_ARTIFACTS. The VM is emulated (TCG): its
# absolute times are 10-20x those of a real machine; compare, do not quote.
#   tests/vm/vm.sh run OUT bench/vm_agent_scale.sh        (SEALNET_SCALE_PEERS, default 5000)
# shellcheck source-path=SCRIPTDIR source=../tests/vm/guest/lib.sh
. "${SEALNET_VM_LIB:-$(dirname "$0")/../tests/vm/guest/lib.sh}"
: "${SEALNET_BIN:=${SEALNET_BUILD:-}/cli/sealnet}"
: "${SEALNET_ETCD_LOAD:=${SEALNET_BUILD:-}/bench/sealnet-etcd-load}"
need_tool SEALNET_BIN
need_tool SEALNET_ETCD_LOAD
N=${SEALNET_SCALE_PEERS:-5000}
ART=${SEALNET_VM_ARTIFACTS:-/tmp}
W=$(mktemp -d /tmp/agent-scale.XXXXXX)
command -v etcd >/dev/null || skip_suite "no etcd"
modprobe -a esp4 xfrm_user veth sch_ingress cls_bpf aesni_intel gcm 2>/dev/null

ip netns add sc-n; defer "ip netns del sc-n"
ip netns add sc-w; defer "ip netns del sc-w"
ip -n sc-n link set lo up
ip netns exec sc-n sysctl -qw net.ipv4.ip_forward=1
ip -n sc-n link add up0 type veth peer name w0 netns sc-w
ip -n sc-n addr add 10.200.255.254/16 dev up0
ip -n sc-n link set up0 up; ip -n sc-w link set w0 up
mkdir -p "$W/bpf" "$W/etcd"; mount -t bpf bpf "$W/bpf"; defer "umount $W/bpf; rm -rf $W"
(umask 077; echo "1+ rfc4106(gcm(aes)) 0x$(od -An -tx1 -N20 /dev/urandom | tr -d ' \n') 128" >"$W/keys")
cat >"$W/agent.yaml" <<EOC
node: {name: bench-1, id: 1, addresses: [10.200.255.254], pod_cidrs: [10.63.0.0/24]}
keys: {file: $W/keys}
uplinks: [up0]
metrics: {listen: 127.0.0.1:9962}
bpffs_dir: $W/bpf/agent
discovery: {etcd: {endpoints: ["http://127.0.0.1:23790"], lease_ttl: 30s, grace_period: 30s}}
EOC
ip netns exec sc-n etcd --name scale --data-dir "$W/etcd" --listen-client-urls http://127.0.0.1:23790 \
  --advertise-client-urls http://127.0.0.1:23790 --listen-peer-urls http://127.0.0.1:23800 \
  --initial-advertise-peer-urls http://127.0.0.1:23800 --initial-cluster scale=http://127.0.0.1:23800 \
  --quota-backend-bytes 1073741824 >"$ART/etcd.log" 2>&1 &
ETCD=$!; defer "kill $ETCD"
check "etcd up" wait_for 60 ip netns exec sc-n curl -sf http://127.0.0.1:23790/health
t=$SECONDS
check "$N nodes registered" run ip netns exec sc-n "$SEALNET_ETCD_LOAD" --endpoint http://127.0.0.1:23790 --count "$N"
echo "registering $N records took $((SECONDS - t)) s"

# The agent logs "peer N: sending with key K" once a peer's states exist and the BPF
# program may send to it: read that, not the status endpoint (a 5,000-peer JSON per
# poll would slow down what it measures). The status is checked once at the end.
sending() { [ "$(grep -c ': sending with key [1-9]' "$ART/agent.log")" -ge "$1" ]; }
status_sending() { [ "$(ip netns exec sc-n "$SEALNET_BIN" status --json 2>/dev/null | jq '[.peers[] | select(.tx_key > 0)] | length')" = "$1" ]; }
t0=$(date +%s.%N)
ip netns exec sc-n "$SEALNET_BIN" agent --config "$W/agent.yaml" --key-activation 0 >"$ART/agent.log" 2>&1 &
AGENT=$!; defer "kill $AGENT"
check "the agent sends to all $N peers" wait_for 1800 sending "$N"
t1=$(date +%s.%N)
rss=$(awk '/VmRSS/ {print $2}' /proc/$AGENT/status); hwm=$(awk '/VmHWM/ {print $2}' /proc/$AGENT/status)
states=$(ip -n sc-n xfrm state | grep -c '^src'); policies=$(ip -n sc-n xfrm policy | grep -c '^src')
ip -n sc-n xfrm state | awk '/^src/ {h = $2 " " $4; getline; print h, $4}' | sort >"$W/states.before"
ip -n sc-n xfrm policy | grep '^src' | sort >"$W/policies.before"

t2=$(date +%s.%N)
run ip netns exec sc-n "$SEALNET_ETCD_LOAD" --endpoint http://127.0.0.1:23790 --count 1 --first-id $((N + 2))
check "the agent sends to the node that joined" wait_for 600 sending $((N + 1))
t3=$(date +%s.%N)
check "sealnet status agrees: $((N + 1)) peers with a send key" wait_for 300 status_sending $((N + 1))
ip -n sc-n xfrm state | awk '/^src/ {h = $2 " " $4; getline; print h, $4}' | sort >"$W/states.after"
ip -n sc-n xfrm policy | grep '^src' | sort >"$W/policies.after"
touched=$(( $(comm -3 "$W/states.before" "$W/states.after" | wc -l) + $(comm -3 "$W/policies.before" "$W/policies.after" | wc -l) ))

converge=$(echo "$t1 - $t0" | bc); join=$(echo "$t3 - $t2" | bc)
cat >"$ART/agent_scale.json" <<EOJ
{"peers": $N, "converge_s": $converge, "rss_kib": $rss, "peak_rss_kib": $hwm,
 "xfrm_states": $states, "xfrm_policies": $policies, "join_s": $join, "join_objects_changed": $touched,
 "note": "TCG-emulated guest: absolute times are 10-20x a real machine's. converge: agent start until the agent logged a send key for every peer (its states exist); join: the record put until the same for the new peer"}
EOJ
cat "$ART/agent_scale.json"
grep -E "xfrm:|discovery" "$ART/agent.log" | tail -5
check "one join changed only the new peer's objects ($touched)" test "$touched" -le 8
finish
