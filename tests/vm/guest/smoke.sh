#!/bin/bash
# vm.smoke: the guest can do what sealnet needs.
#  (i)   software ESP, rfc4106(gcm(aes)) in tunnel mode, between two namespaces over veth
#        carries ping and UDP; an observer on the wire sees only ESP.
#  (ii)  a netdevsim port reports esp-hw-offload on.
#  (iii) an SA added with that port as offload device attaches (read back over netlink,
#        XFRM_MSG_GETSA) and netdevsim's debugfs counts the packets it sent.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${SEALNET_VM_LIB:-$(dirname "$0")/lib.sh}"
need_tool SEALNET_SA_OFFLOAD
need_tool SEALNET_UDP_RECV
SA=$SEALNET_SA_OFFLOAD
ART=${SEALNET_VM_ARTIFACTS:-/tmp}
# Fixed test keys (rfc4106: 16-byte AES key + 4-byte salt).
K1=0x$(printf '11%.0s' {1..20}) K2=0x$(printf '22%.0s' {1..20})
AEAD="aead rfc4106(gcm(aes))"

section "modules"
check "modprobe -a esp4 esp4_offload xfrm_user veth netdevsim sch_ingress cls_bpf aesni_intel gcm" \
  run modprobe -a esp4 esp4_offload xfrm_user veth netdevsim sch_ingress cls_bpf aesni_intel gcm

# Namespaces: A and B are the two nodes; W is the wire (a bridge) where the observer
# captures. Capturing on B itself would also show the packets B decrypted.
NS="sm-a sm-b sm-w sm-n"
for ns in $NS; do
  ip netns add "$ns"; defer "ip netns del $ns"
  # No IPv6: its neighbour discovery would be (correctly) unencrypted noise on the wire.
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$ns" link set lo up
done

section "(i) software ESP tunnel A <-> B over veth, observed on the wire"
ip -n sm-w link add br0 type bridge
ip -n sm-a link add eth0 type veth peer name w-a netns sm-w
ip -n sm-b link add eth0 type veth peer name w-b netns sm-w
for p in w-a w-b; do ip -n sm-w link set "$p" master br0 up; done
ip -n sm-w link set br0 up
ip -n sm-a addr add 10.201.0.1/24 dev eth0; ip -n sm-a link set eth0 up
ip -n sm-b addr add 10.201.0.2/24 dev eth0; ip -n sm-b link set eth0 up
# Inner (pod-like) addresses ride inside the tunnel between the outer (node) addresses.
ip -n sm-a addr add 10.210.1.1/32 dev lo
ip -n sm-b addr add 10.210.2.1/32 dev lo
ip -n sm-a route add 10.210.2.1/32 via 10.201.0.2 src 10.210.1.1
ip -n sm-b route add 10.210.1.1/32 via 10.201.0.1 src 10.210.2.1
for ns in sm-a sm-b; do
  ip -n $ns xfrm state add src 10.201.0.1 dst 10.201.0.2 proto esp spi 0x5e01 reqid 1 mode tunnel $AEAD $K1 128
  ip -n $ns xfrm state add src 10.201.0.2 dst 10.201.0.1 proto esp spi 0x5e02 reqid 2 mode tunnel $AEAD $K2 128
done
tun_policy() {  # ns dir inner-src inner-dst outer-src outer-dst reqid
  ip -n "$1" xfrm policy add src "$3/32" dst "$4/32" dir "$2" \
    tmpl src "$5" dst "$6" proto esp reqid "$7" mode tunnel
}
tun_policy sm-a out 10.210.1.1 10.210.2.1 10.201.0.1 10.201.0.2 1
tun_policy sm-a in  10.210.2.1 10.210.1.1 10.201.0.2 10.201.0.1 2
tun_policy sm-b out 10.210.2.1 10.210.1.1 10.201.0.2 10.201.0.1 2
tun_policy sm-b in  10.210.1.1 10.210.2.1 10.201.0.1 10.201.0.2 1

PCAP=$ART/wire.pcap
ip netns exec sm-w tcpdump -nn -U -i w-a -w "$PCAP" 'ip or ip6' 2>"$ART/tcpdump.err" &
TD=$!; defer "kill $TD"
wait_for 20 grep -q 'listening on' "$ART/tcpdump.err" || fail "tcpdump did not start: $(cat "$ART/tcpdump.err")"

out=$(ip netns exec sm-a ping -c 3 -i 0.2 -W 3 -I 10.210.1.1 10.210.2.1 2>&1); echo "$out"
check "ping A -> B through the tunnel (3 of 3 replies)" grep -q ' 3 received' <<< "$out"

MARK="sealnet-smoke-udp-$RANDOM$RANDOM"
READY=$ART/udp.ready; rm -f "$READY"
ip netns exec sm-b "$SEALNET_UDP_RECV" --bind 10.210.2.1 --port 5555 --timeout 20 \
  --expect "$MARK" --ready-file "$READY" > "$ART/udp.out" 2>&1 &
UR=$!
wait_for 20 test -f "$READY" || fail "udp_recv did not bind"
# bash's /dev/udp: a connected UDP socket; the route gives it source 10.210.1.1.
ip netns exec sm-a bash -c 'printf %s "$1" > /dev/udp/10.210.2.1/5555' _ "$MARK"
wait "$UR"; urc=$?; cat "$ART/udp.out"
check "UDP datagram A -> B arrived through the tunnel with its payload" test "$urc" = 0

out=$(ip netns exec sm-a "$SA" get --src 10.201.0.1 --dst 10.201.0.2 --spi 0x5e01); echo "$out"
pkts=$(sed -n 's/.* packets=\([0-9]*\).*/\1/p' <<< "$out")
check "A's outbound SA counted the 3 pings and the datagram (packets=${pkts:-?} >= 4)" test "${pkts:-0}" -ge 4

sleep 0.5; kill -INT "$TD"; wait "$TD" 2>/dev/null
wire=$(tcpdump -nn -r "$PCAP" 2>/dev/null); echo "--- wire (observer, w-a):"; echo "$wire"
n_all=$(grep -c . <<< "$wire"); n_esp=$(grep -c ' ESP(spi=0x00005e0[12],' <<< "$wire")
check "wire carried ESP both ways ($n_esp ESP of $n_all IP packets, >= 7 expected)" \
  test "$n_esp" -ge 7 -a "$(grep -c 'ESP(spi=0x00005e02' <<< "$wire")" -ge 3
check "wire carried no plaintext IP ($((n_all - n_esp)) non-ESP packets)" test "$n_all" -gt 0 -a "$n_all" -eq "$n_esp"
check "UDP payload text does not appear in the capture" bash -c 'test -s "$2" && ! grep -qa "$1" "$2"' _ "$MARK" "$PCAP"
echo "AEAD implementation in use: $(awk '/^name/ {n=$3} /^driver/ {d=$3} /^module/ {if (n == "rfc4106(gcm(aes))") print d " (" $3 ")"}' /proc/crypto | sort -u | tr '\n' ' ')"

section "(ii) netdevsim reports ESP offload"
NSIM_ID=7301
echo "$NSIM_ID 1" > /sys/bus/netdevsim/new_device
defer "echo $NSIM_ID > /sys/bus/netdevsim/del_device"   # runs before the netns deletions
nsim_net() { ls "/sys/bus/netdevsim/devices/netdevsim$NSIM_ID/net/" 2>/dev/null; }
wait_for 20 test -n "$(nsim_net)" || fail "netdevsim$NSIM_ID has no netdev"
NSIM=$(nsim_net); echo "netdevsim port: $NSIM"
ip link set "$NSIM" netns sm-n
out=$(ip netns exec sm-n ethtool -k "$NSIM" | grep esp); echo "$out"
check "$NSIM reports esp-hw-offload: on" grep -q '^esp-hw-offload: on' <<< "$out"

section "(iii) SA offloaded to netdevsim: netlink read-back and debugfs tx count"
IPSEC=/sys/kernel/debug/netdevsim/netdevsim$NSIM_ID/ports/0/ipsec
nsim_tx() { sed -n '1s/.* tx=\([0-9]*\).*/\1/p' "$IPSEC"; }
ip -n sm-n addr add 10.202.0.1/24 dev "$NSIM"; ip -n sm-n link set "$NSIM" up
ip -n sm-n addr add 10.211.1.1/32 dev lo
ip -n sm-n route add 10.211.2.1/32 via 10.202.0.2 dev "$NSIM" src 10.211.1.1
# netdevsim has no peer here: a permanent neighbour lets packets reach its xmit.
ip -n sm-n neigh add 10.202.0.2 lladdr 02:00:00:00:00:02 dev "$NSIM" nud permanent
IFX=$(ip netns exec sm-n cat "/sys/class/net/$NSIM/ifindex")

check "NEWSA with crypto offload on $NSIM dir out accepted" run ip netns exec sm-n "$SA" add \
  --dev "$NSIM" --src 10.202.0.1 --dst 10.202.0.2 --spi 0x5e11 --offload crypto --dir out --mode tunnel --reqid 11
out=$(ip netns exec sm-n "$SA" get --src 10.202.0.1 --dst 10.202.0.2 --spi 0x5e11); rc=$?; echo "$out"
check "GETSA: offload attached to $NSIM (ifindex $IFX), crypto, out" \
  test "$rc" = 0 -a -n "$(grep -E "^offload: attached .* ifindex=$IFX .*type=crypto dir=out" <<< "$out")"

check "NEWSA with crypto offload on $NSIM dir in accepted" run ip netns exec sm-n "$SA" add \
  --dev "$NSIM" --src 10.202.0.2 --dst 10.202.0.1 --spi 0x5e12 --offload crypto --dir in --mode tunnel --reqid 12
out=$(ip netns exec sm-n "$SA" get --src 10.202.0.2 --dst 10.202.0.1 --spi 0x5e12); rc=$?; echo "$out"
check "GETSA: inbound offload attached to $NSIM" \
  test "$rc" = 0 -a -n "$(grep -E "^offload: attached .* ifindex=$IFX .*dir=in" <<< "$out")"

ip -n sm-n xfrm policy add src 10.211.1.1/32 dst 10.211.2.1/32 dir out \
  tmpl src 10.202.0.1 dst 10.202.0.2 proto esp reqid 11 mode tunnel
tx0=$(nsim_tx)
ip netns exec sm-n ping -c 3 -i 0.2 -W 1 -I 10.211.1.1 10.211.2.1 >/dev/null 2>&1   # no peer: no replies
tx1=$(nsim_tx)
echo "--- $IPSEC"; cat "$IPSEC"
check "netdevsim debugfs counted the 3 offloaded packets (tx ${tx0:-?} -> ${tx1:-?})" \
  test "${tx1:-0}" -ge "$(( ${tx0:-0} + 3 ))"
check "debugfs lists both offloaded SAs" grep -q '^SA count=2 ' "$IPSEC"

# The tool must show a refusal with the kernel's reason (netdevsim 6.12 refuses packet
# offload), or, on a kernel that accepts it, a read-back saying packet offload.
out=$(ip netns exec sm-n "$SA" add --dev "$NSIM" --src 10.202.0.1 --dst 10.202.0.3 --spi 0x5e13 \
      --offload packet --dir out --mode tunnel); rc=$?; echo "$out"
if [[ $rc == 1 ]]; then
  check "packet offload refused, errno and extack reported" grep -qE '^NEWSA: refused: errno [0-9]+ .*; extack: .+' <<< "$out"
else
  out=$(ip netns exec sm-n "$SA" get --src 10.202.0.1 --dst 10.202.0.3 --spi 0x5e13); echo "$out"
  check "packet offload accepted and read back as packet" grep -q 'type=packet' <<< "$out"
fi

# The read-back is what tells offload from silent software: veth takes the request as a
# plain software SA without an error.
check "NEWSA with crypto offload on veth accepted" run ip netns exec sm-a "$SA" add \
  --dev eth0 --src 10.201.0.1 --dst 10.201.0.9 --spi 0x5e21 --offload crypto --dir out
out=$(ip netns exec sm-a "$SA" get --src 10.201.0.1 --dst 10.201.0.9 --spi 0x5e21); rc=$?; echo "$out"
check "GETSA: veth SA has no offload attached (software)" test "$rc" = 3 -a -n "$(grep -x 'offload: none' <<< "$out")"

finish
