#!/bin/bash
# vm.offload: the reconciler's states and policies on a real kernel (Linux 6.12 guest).
#  (i)   two nodes in namespaces over veth: sealnet-xfrm-driver (the agent's XFRM and
#        slot-route reconcile from the agent's own YAML config and key file) installs
#        states and policies; a numbered UDP stream (SO_MARK = the classifier's mark) crosses;
#        an observer on the wire sees only ESP; a foreign SA stays untouched; a key
#        file with loose permissions is rejected and the running keys stay.
#  (ii)  key rotation 1 -> 2 during a continuous numbered stream: zero lost, zero
#        plaintext frames, both SPIs seen on the wire, key 1 removed after grace.
#  (iii) netdevsim: crypto-offloaded SAs (read back + debugfs + tx count), the 34th
#        offload request and on go software with reason sa-table-full, ESN with
#        offload is refused (recorded), link down/up re-installs under generation 1.
# The control-plane bench (5,000 peers x 2 keys, batched netlink vs `ip -batch`) is
# offload/vm_bench.sh (the same driver's `bench`): a measurement, not a test, so it is not part of this suite.
# shellcheck source-path=SCRIPTDIR source=../tests/vm/guest/lib.sh
. "${SEALNET_VM_LIB:-$(dirname "$0")/../tests/vm/guest/lib.sh}"
# ctest passes the tool paths; a developer run (vm.sh run) finds them in the build.
: "${SEALNET_XFRM_DRIVER:=${SEALNET_BUILD:-}/bench/driver/sealnet-xfrm-driver}"
: "${SEALNET_UDP_STREAM:=${SEALNET_BUILD:-}/offload/udp_stream}"
need_tool SEALNET_XFRM_DRIVER
need_tool SEALNET_UDP_STREAM
NODE=$SEALNET_XFRM_DRIVER
UDP=$SEALNET_UDP_STREAM
ART=${SEALNET_VM_ARTIFACTS:-/tmp}
W=$(mktemp -d /tmp/offload-vm.XXXXXX); defer "rm -rf $W"
umask 077

section "modules"
check "modprobe -a esp4 esp4_offload xfrm_user veth netdevsim aesni_intel gcm" \
  run modprobe -a esp4 esp4_offload xfrm_user veth netdevsim aesni_intel gcm

K1='1+ rfc4106(gcm(aes)) 0x'$(printf '11%.0s' {1..20})' 128'
K2='2+ rfc4106(gcm(aes)) 0x'$(printf '22%.0s' {1..20})' 128'

for ns in of-a of-b of-w; do
  ip netns add $ns; defer "ip netns del $ns"
  ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n $ns link set lo up
done
ip -n of-w link add br0 type bridge
ip -n of-a link add eth0 type veth peer name w-a netns of-w
ip -n of-b link add eth0 type veth peer name w-b netns of-w
for p in w-a w-b; do ip -n of-w link set $p master br0 up; done
ip -n of-w link set br0 up
ip -n of-a addr add 10.221.0.1/24 dev eth0; ip -n of-a link set eth0 up
ip -n of-b addr add 10.221.0.2/24 dev eth0; ip -n of-b link set eth0 up
ip -n of-a addr add 10.230.1.1/32 dev lo
ip -n of-b addr add 10.230.2.1/32 dev lo
ip -n of-a route add 10.230.2.0/24 via 10.221.0.2 src 10.230.1.1
ip -n of-b route add 10.230.1.0/24 via 10.221.0.1 src 10.230.2.1
# The encrypted packet leaves by the device of the slot whose SA encrypted it: the
# SA's output mark (0xD00 | slot << 4) selects the slot's routing table. sealnet
# installs the rule (priority 24224, fwmark 0xd00/0xff0 -> table 24224 + slot) and
# in the table what the main table routes through the slot's device (as the agent
# does); the suite adds none.

printf '%s\n' "$K1" > $W/keys-a; printf '%s\n' "$K1" > $W/keys-b
# The agent's config (docs/agent-config.md); PEER_KEYS: the key ids the peer
# announces (what the agent learns from discovery).
conf() {  # conf NAME ID ADDR POD PEER PEER_ID PEER_ADDR PEER_POD PEER_KEYS
  cat > $W/$1.yaml.tmp <<EOC
node: {name: $1, id: $2, addresses: [$3], pod_cidrs: [$4]}
peers:
  - {name: $5, id: $6, addresses: [$7], pod_cidrs: [$8], keys: [$9]}
keys: {file: $W/keys-${1#of-}, grace_period: 2s}
uplinks: [eth0]
EOC
  mv $W/$1.yaml.tmp $W/$1.yaml
}
conf_a() { conf of-a 1 10.221.0.1 10.230.1.0/24 of-b 2 10.221.0.2 10.230.2.0/24 "$1"; }
conf_b() { conf of-b 2 10.221.0.2 10.230.2.0/24 of-a 1 10.221.0.1 10.230.1.0/24 "$1"; }
conf_a 1; conf_b 1
for ns in of-a of-b; do
  ip netns exec $ns "$NODE" run --config $W/$ns.yaml --status $W/$ns.status > "$ART/$ns-node.log" 2>&1 &
  defer "kill $!"
done
status_has() { grep -q "$2" "$W/$1.status" 2>/dev/null; }
state_count() { ip -n "$1" xfrm state | grep -c '^src'; }

section "(i) software ESP between two nodes, states and policies from the reconciler"
# Inbound: the peer's 4-generation window (docs/xfrm-design.md, "Generations").
check "both nodes installed 1 out + 4 in states" wait_for 30 \
  bash -c "[[ \$(ip -n of-a xfrm state | grep -c ^src) == 5 && \$(ip -n of-b xfrm state | grep -c ^src) == 5 ]]"
ip -n of-a xfrm state; ip -n of-a xfrm policy
ip -n of-a rule; ip -n of-a route show table 24224
check "sealnet installed the slot-0 rule and table on both nodes (fwmark 0xd00/0xff0 -> 24224, proto 94 via eth0)" \
  bash -c "for n in of-a of-b; do ip -n \$n rule | grep -q '^24224:.*fwmark 0xd00/0xff0 lookup 24224' && \
           ip -n \$n route show table 24224 | grep -q '10.221.0.0/24 dev eth0 proto 94' || exit 1; done"
check "the outer route lookup with the slot-0 output mark uses sealnet's table" \
  bash -c "ip -n of-a route get 10.221.0.2 mark 0xd00 | grep -q 'table 24224'"
check "A's out state: spi 0x00011000, mark 0x21e00/0xfffffff0, output-mark 0xd00/0xff0, esn" \
  bash -c "ip -n of-a xfrm state get src 10.221.0.1 dst 10.221.0.2 proto esp spi 0x00011000 mark 0x21e00 mask 0xfffffff0 \
           | tr '\n' ' ' | grep -E 'output-mark 0xd00/0xff0' | grep -q esn"
# docs/traffic-classes.md: out policies for B's pod CIDR and B's node address (both
# marked 0x21e00); strict in/fwd for B's pod CIDR; one optional fwd catch-all to A's pods.
check "A has its out policies for mark 0x21e00 (B's pods and node address), the in/fwd policies of B's pod CIDR and the fwd catch-all" \
  bash -c "[[ \$(ip -n of-a xfrm policy | grep -c 'mark 0x21e00/0xfffffff0') == 2 && \$(ip -n of-a xfrm policy | grep -c 'dir \(in\|fwd\)') == 3 && \$(ip -n of-a xfrm policy | grep -c 'level use') == 1 ]]"
ip -n of-a xfrm state add src 192.0.2.8 dst 192.0.2.9 proto esp spi 0x4242 reqid 42 mode tunnel \
  aead 'rfc4106(gcm(aes))' 0x$(printf '33%.0s' {1..20}) 128

PCAP=$ART/wire.pcap
ip netns exec of-w tcpdump -nn -U -i w-a -w "$PCAP" ip 2>"$W/td.err" & TD=$!; defer "kill $TD"
wait_for 20 grep -q 'listening on' "$W/td.err" || fail "tcpdump did not start"
echo 21e00 > $W/mark
ip netns exec of-b "$UDP" recv --bind 10.230.2.1 --port 7000 --count 200 --timeout 60 --ready-file $W/r1 > $W/recv1 2>&1 & R=$!
wait_for 20 test -f $W/r1
ip netns exec of-a "$UDP" send --src 10.230.1.1 --dst 10.230.2.1 --port 7000 --count 200 --pps 200 --mark-file $W/mark
wait $R; rc=$?; cat $W/recv1
check "200 numbered datagrams A -> B through the reconciler's SAs" test $rc = 0
check "the foreign SA (reqid 42) is still there after the reconciler ran" \
  bash -c "sleep 1; ip -n of-a xfrm state | grep -q 'spi 0x00004242'"

section "bad key file: rejected, running keys stay"
chmod 644 $W/keys-a; touch $W/keys-a
check "A rejects a key file readable by others, naming the file" \
  wait_for 20 grep -q "key file rejected.*keys-a" "$ART/of-a-node.log"
grep "key file rejected" "$ART/of-a-node.log" | tail -1
chmod 600 $W/keys-a
printf '%s\n' "1 rfc4106(gcm(aes)) 0x1111 128" > $W/keys-a.bad; chmod 600 $W/keys-a.bad; mv $W/keys-a.bad $W/keys-a
check "A rejects a short key naming line and field" wait_for 20 grep -q "keys-a:1: field 3" "$ART/of-a-node.log"
grep "keys-a:1" "$ART/of-a-node.log" | tail -1
check "A's out state is still installed" bash -c "ip -n of-a xfrm state | grep -q 'spi 0x00011000'"
check "no key material in the node logs" bash -c "! grep -qi '1111111111\|2222222222' $ART/of-a-node.log $ART/of-b-node.log"
printf '%s\n' "$K1" > $W/keys-a.new; mv $W/keys-a.new $W/keys-a

section "(ii) key rotation 1 -> 2 under a continuous numbered stream"
COUNT=6000   # 40 s at 150/s: the mark switches to key 2 mid-stream also on a loaded host (TCG)
ip netns exec of-b "$UDP" recv --bind 10.230.2.1 --port 7001 --count $COUNT --timeout 120 --ready-file $W/r2 > $W/recv2 2>&1 & R=$!
wait_for 20 test -f $W/r2
ip netns exec of-a "$UDP" send --src 10.230.1.1 --dst 10.230.2.1 --port 7001 --count $COUNT --pps 150 --mark-file $W/mark > $W/send2 2>&1 & S=$!
sleep 2
# 1. Both nodes get key 2: inbound states for it first.
printf '%s\n%s\n' "$K1" "$K2" > $W/keys-a.new; mv $W/keys-a.new $W/keys-a
printf '%s\n%s\n' "$K1" "$K2" > $W/keys-b.new; mv $W/keys-b.new $W/keys-b
check "B has inbound key-2 states for A (spi 0x00012000) before anyone sends with key 2" \
  wait_for 30 bash -c "ip -n of-b xfrm state | grep -q 'spi 0x00012000'"
check "A has no outbound key-2 state while B has not announced key 2" \
  bash -c "! ip -n of-a xfrm state list dst 10.221.0.2 | grep -q 'spi 0x00012000'"
# 2. Each node announces key 2 to the other (discovery does this for the agent).
conf_a 1,2; conf_b 1,2
check "A's status: tx key for peer 2 is 2 once its outbound key-2 objects exist" \
  wait_for 30 status_has of-a "peer 2 tx-key 2"
echo 22e00 > $W/mark.new; mv $W/mark.new $W/mark   # the classifier switches (sealnet_key_select); atomically, or the stream reads an empty file and sends unmarked
sleep 3
# 3. Key 1 leaves: removed after the grace period.
printf '%s\n' "$K2" > $W/keys-a.new; mv $W/keys-a.new $W/keys-a
printf '%s\n' "$K2" > $W/keys-b.new; mv $W/keys-b.new $W/keys-b
conf_a 2; conf_b 2
check "key-1 states are removed after the grace period" \
  wait_for 40 bash -c "! ip -n of-a xfrm state | grep -q 'spi 0x0001100[01]' && ! ip -n of-b xfrm state | grep -q 'spi 0x0001100[01]'"
wait $S; cat $W/send2
wait $R; rc=$?; cat $W/recv2
check "rotation: all $COUNT datagrams arrived (zero lost)" test $rc = 0
sleep 0.5; kill -INT $TD; wait $TD 2>/dev/null
wire=$(tcpdump -nn -r "$PCAP" 2>/dev/null)
n_all=$(grep -c . <<< "$wire"); n_esp=$(grep -c ' ESP(spi=' <<< "$wire")
echo "wire: $n_all IP packets, $n_esp ESP"; grep -v ' ESP(spi=' <<< "$wire" | head -5
check "wire carried no plaintext IP ($((n_all - n_esp)) non-ESP of $n_all)" test "$n_all" -gt 0 -a "$n_all" -eq "$n_esp"
printf '%s\n' "$wire" > $W/wire.txt   # too long for one argument (MAX_ARG_STRLEN)
echo "SPIs on the wire:"; grep -o 'ESP(spi=0x[0-9a-f]*' $W/wire.txt | sort | uniq -c
check "wire saw key 1 (spi 0x00011000) and key 2 (spi 0x00012000)" \
  bash -c "grep -q 'spi=0x00011000' $W/wire.txt && grep -q 'spi=0x00012000' $W/wire.txt"
check "no datagram payload text in the capture" bash -c "! grep -qa SEALNET-SEQ $PCAP"
echo "--- A's decisions/log:"; cat "$ART/of-a-node.log" | tail -15

section "(iii) netdevsim: crypto offload, table full (c), ESN, link down/up (d)"
ID=7402
echo "$ID 1" > /sys/bus/netdevsim/new_device; defer "echo $ID > /sys/bus/netdevsim/del_device"
wait_for 20 test -n "$(ls /sys/bus/netdevsim/devices/netdevsim$ID/net/ 2>/dev/null)" || fail "no netdevsim netdev"
NSIM=$(ls /sys/bus/netdevsim/devices/netdevsim$ID/net/)
ip netns add of-n; defer "ip netns del of-n"
ip link set "$NSIM" netns of-n
ip -n of-n link set lo up
IPSEC=/sys/kernel/debug/netdevsim/netdevsim$ID/ports/0/ipsec
nsim_setup() {
  ip -n of-n link set "$NSIM" up
  ip -n of-n addr replace 10.222.0.1/24 dev "$NSIM"
  ip -n of-n addr replace 10.231.1.1/32 dev lo
  ip -n of-n route replace 10.231.2.0/24 via 10.222.0.2 dev "$NSIM" src 10.231.1.1
  ip -n of-n neigh replace 10.222.0.2 lladdr 02:00:00:00:00:02 dev "$NSIM" nud permanent
}
nsim_setup
printf '%s\n' "$K1" > $W/keys-n
# 20 peers behind the netdevsim port: the main table routes each peer's address
# through it, so their inbound states are offloaded on it as well (the agent's
# arrival slot).
{
  echo "node: {name: of-n, id: 1, addresses: [10.222.0.1], pod_cidrs: [10.231.1.0/24]}"
  echo "peers:"
  for i in $(seq 2 21); do
    echo "  - {name: p$i, id: $i, addresses: [10.222.0.$i], pod_cidrs: [10.231.$i.0/24], keys: [1]}"
  done
  echo "keys: {file: $W/keys-n, grace_period: 2s}"
  echo "uplinks: [$NSIM]"
} > $W/of-n.yaml
ip netns exec of-n "$NODE" run --config $W/of-n.yaml --status $W/of-n.status > "$ART/of-n-node.log" 2>&1 &
defer "kill $!"
check "slot 0's initial mode is the probe's verdict on $NSIM (crypto-offload), the decision carries its reason" \
  wait_for 60 status_has of-n "probe-verdict: slot 0 ($NSIM) software -> crypto: probe: crypto-offload: "
grep -m1 "probe-verdict" "$W/of-n.status"
check "20 peers: 100 states installed (20 out + 80 in: 4 generations each)" wait_for 120 bash -c "[[ \$(ip -n of-n xfrm state | grep -c ^src) == 100 ]]"
head -1 "$IPSEC"
check "netdevsim holds 33 offloaded SAs (debugfs)" grep -q '^SA count=33 ' "$IPSEC"
check "67 decisions sa-table-full recorded in status (100 states, 33 slots)" wait_for 20 status_has of-n "count sa-table-full 67"
grep -m2 "sa-table-full" "$ART/of-n-node.log"
check "read-back: peer 2's out state is crypto-offloaded on $NSIM" \
  bash -c "ip -n of-n xfrm state get src 10.222.0.1 dst 10.222.0.2 proto esp spi 0x00011000 mark 0x21e00 mask 0xfffffff0 | grep -q 'crypto offload parameters: dev $NSIM dir out'"
check "offloaded states go without ESN, software ones with ESN" \
  bash -c "ip -n of-n xfrm state get src 10.222.0.21 dst 10.222.0.1 proto esp spi 0x00151001 | grep -q esn"
tx0=$(sed -n '1s/.* tx=\([0-9]*\).*/\1/p' "$IPSEC")
echo 21e00 > $W/mark-n
ip netns exec of-n "$UDP" send --src 10.231.1.1 --dst 10.231.2.1 --port 7002 --count 50 --pps 500 --mark-file $W/mark-n
tx1=$(sed -n '1s/.* tx=\([0-9]*\).*/\1/p' "$IPSEC")
check "netdevsim counted the offloaded packets (tx $tx0 -> $tx1, >= 50 more)" test "${tx1:-0}" -ge $(( ${tx0:-0} + 50 ))
out=$(ip -n of-n xfrm state add src 10.222.0.1 dst 10.222.0.99 proto esp spi 0x99 reqid 7 mode tunnel flag esn \
      replay-window 32 aead 'rfc4106(gcm(aes))' 0x$(printf '44%.0s' {1..20}) 128 offload dev "$NSIM" dir out 2>&1); rc=$?
echo "ESN + crypto offload on netdevsim: rc=$rc $out"
check "ESN with crypto offload on netdevsim is refused (why offloaded states use no ESN)" test $rc != 0

ip -n of-n link set "$NSIM" down
check "link down: decision recorded" wait_for 20 status_has of-n "count link-down 1"
# The kernel flushes every route through the device, main's too: the slot's table
# then copies none, and a slot without routes keeps no rule (plan_slot_routes).
check "link down: the kernel deleted sealnet's slot routes through $NSIM, sealnet its rule" \
  wait_for 10 bash -c "[[ -z \$(ip -n of-n route show table 24224) ]] && ! ip -n of-n rule | grep -q 'lookup 24224'"
check "link down: the kernel flushed the offloaded states, inbound came back as software" \
  wait_for 20 bash -c "[[ \$(ip -n of-n xfrm state | grep -c 'crypto offload') == 0 && \$(ip -n of-n xfrm state | grep -c ^src) -ge 40 ]]"
ip -n of-n link set "$NSIM" up; nsim_setup
check "link up: out states re-installed under generation 1 (spi 0x00011001), offloaded" \
  wait_for 30 bash -c "ip -n of-n xfrm state get src 10.222.0.1 dst 10.222.0.2 proto esp spi 0x00011001 mark 0x21e00 mask 0xfffffff0 2>/dev/null | grep -q 'crypto offload parameters: dev $NSIM dir out'"
check "link up: sealnet re-added the slot routes through $NSIM and the rule" \
  wait_for 20 bash -c "ip -n of-n route show table 24224 | grep -q '10.222.0.0/24 dev $NSIM proto 94' && ip -n of-n rule | grep -q 'lookup 24224'"
check "link up: the flushed generation-0 SPI never came back" \
  bash -c "! ip -n of-n xfrm state | grep -q 'spi 0x00011000'"
head -1 "$IPSEC"
tail -5 "$ART/of-n-node.log"

finish
