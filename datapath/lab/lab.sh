#!/bin/bash
# sealnet lab: a small cluster of network namespaces on this machine, one sealnet
# agent per node, traffic between its pods, and what crossed the wire how.
#
#   sealnet lab up [--nodes N]   nodes sl-n1..N (default 3), two pods each; node links
#                                over veth to a switch (namespace sl-wire, bridge br0);
#                                node 1 also gets a netdevsim port where the kernel has
#                                netdevsim (a crypto-offload NIC: its SAs show in status)
#   sealnet lab traffic          every pod pings every other pod while the switch is
#                                captured: delivered?, encrypted on the wire?, why
#   sealnet lab up --etcd        the same with peers discovered on etcd (run in sl-wire at
#                                10.240.0.254:2379) instead of a static list
#   sealnet lab add-node         one more node joins at run time
#   sealnet lab remove-node N    node N leaves
#   sealnet lab etcd stop|start  the lab's etcd goes away / comes back
#   sealnet lab rotate [--finish] a new key joins (rolling rotation); --finish drops the old
#   sealnet lab status           `sealnet status` of every node's agent
#   sealnet lab down             agents stopped, namespaces and state removed
#   sealnet lab <cmd> --vm       the same inside the project's VM (tests/vm), for
#                                kernels without ESP (up, traffic, status and down in
#                                one boot); its logs are printed and its results
#                                directory removed, unless --vm-results DIR keeps them there
# `sealnet lab` runs this script (embedded in the binary) with SEALNET_BIN set to the
# binary and SEALNET_SRC to the source tree it was built from. State: $SEALNET_LAB_DIR
# (default /run/sealnet-lab): configs, the key file (0600, random, never printed),
# agent logs, the bpffs the agents pin their maps in.
#
# Addresses: node N is 10.240.0.N/24 on its uplink up0; its pods are 10.241.N.2 and
# 10.241.N.3 (pod CIDR 10.241.N.0/24), on veths pN-1/pN-2 with a /32 route each,
# which is how the agent finds its pod devices.
set -uo pipefail
BIN=${SEALNET_BIN:?SEALNET_BIN: the sealnet binary}
STATE=${SEALNET_LAB_DIR:-/run/sealnet-lab}
WIRE=sl-wire
KEY_ACTIVATION=${SEALNET_LAB_KEY_ACTIVATION:-3}
ETCD_ADDR=10.240.0.254  # on the switch (br0 in sl-wire), with --etcd

say() { printf 'sealnet lab: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }
q() { "$@" >/dev/null 2>&1; }
# A node number from the command line, before it reaches kill, rm or sed.
node_number() { [[ $1 =~ ^[1-9][0-9]{0,2}$ ]] || die "not a node number: '$1' (1..999)"; }
node_ns() { echo "sl-n$1"; }
pod_ns() { echo "sl-n$1-p$2"; }
pod_ip() { echo "10.241.$1.$(($2 + 1))"; }
nodes() { cat "$STATE/nodes" 2>/dev/null || echo 0; }

need_root() { [ "$(id -u)" = 0 ] || die "needs root (network namespaces, XFRM, BPF): run it with sudo"; }

load_modules() {  # a modular kernel (the VM's); built-in kernels (this host's) need none
  q modprobe -a esp4 esp4_offload xfrm_user veth bridge sch_ingress cls_bpf aesni_intel gcm ghash_generic || true
}

can_encrypt() {
  local j
  j=$("$BIN" probe --no-trial --json 2>/dev/null) || return 1
  jq -e '.node.can_encrypt == true' <<<"$j" >/dev/null
}

write_config() {  # write_config N NODES: node N's agent config
  local n=$1 total=$2 m uplinks="[up0]"
  [ -e "$STATE/nsim-node$n" ] && uplinks="[up0, $(cat "$STATE/nsim-node$n")]"
  {
    echo "# sealnet lab node $n (written by sealnet lab up)"
    echo "node: {name: lab-$n, id: $n, addresses: [10.240.0.$n], pod_cidrs: [10.241.$n.0/24]}"
    if [ -e "$STATE/etcd-mode" ]; then
      # Peers come from etcd: each agent registers itself and watches the others.
      echo "discovery: {etcd: {endpoints: [\"http://$ETCD_ADDR:2379\"], lease_ttl: 4s, grace_period: 4s}}"
    else
      echo "peers:"
      for m in $(seq 1 "$total"); do
        [ "$m" = "$n" ] && continue
        echo "  - {name: lab-$m, id: $m, addresses: [10.240.0.$m], pod_cidrs: [10.241.$m.0/24]}"
      done
    fi
    echo "keys: {file: $STATE/secret/keys, grace_period: 10s}"
    echo "uplinks: $uplinks"
    echo "fail_closed: true"
    echo "monitor: {drops: true, flows: true}   # sealnet monitor (docs/events.md)"
    echo "metrics: {listen: 127.0.0.1:9962}"
    echo "bpffs_dir: $STATE/bpf/lab-$n"
    # Per node: a shared /var/lib/sealnet would hold one node's generations only.
    echo "state_dir: $STATE/state/lab-$n"
  } >"$STATE/lab-$n.yaml.tmp" && mv "$STATE/lab-$n.yaml.tmp" "$STATE/lab-$n.yaml"
}

add_node() {  # add_node N TOTAL: namespaces, links, addresses, routes of node N
  local n=$1 total=$2 ns p m
  ns=$(node_ns "$n")
  ip netns add "$ns" || return 1
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
    net.ipv4.conf.default.rp_filter=0 net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$ns" link add up0 type veth peer name "n$n" netns "$WIRE"
  ip -n "$WIRE" link set "n$n" master br0 up
  ip -n "$ns" addr add "10.240.0.$n/24" dev up0
  ip -n "$ns" link set up0 up
  for p in 1 2; do
    local pns; pns=$(pod_ns "$n" "$p")
    ip netns add "$pns"
    ip -n "$pns" link set lo up
    ip netns exec "$pns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link add "p$n-$p" type veth peer name eth0 netns "$pns"
    # ESP tunnel overhead (~57 bytes): the pods' MTU leaves room for it.
    ip -n "$pns" link set eth0 mtu 1400 up
    ip -n "$pns" addr add "$(pod_ip "$n" "$p")/32" dev eth0
    ip -n "$pns" route add 169.254.1.1 dev eth0
    ip -n "$pns" route add default via 169.254.1.1 dev eth0
    # The pods' gateway 169.254.1.1 is an address of every pod veth (node side).
    ip netns exec "$ns" sysctl -qw "net.ipv4.conf.p$n-$p.rp_filter=0"
    ip -n "$ns" addr add 169.254.1.1/32 dev "p$n-$p"
    ip -n "$ns" link set "p$n-$p" up
    ip -n "$ns" route add "$(pod_ip "$n" "$p")/32" dev "p$n-$p"
  done
  for m in $(seq 1 "$total"); do
    [ "$m" = "$n" ] || ip -n "$ns" route add "10.241.$m.0/24" via "10.240.0.$m" dev up0
  done
}

add_netdevsim() {  # node 1 gets a netdevsim port: a NIC with ESP crypto offload
  [ -d /sys/bus/netdevsim ] || q modprobe netdevsim || return 0
  [ -d /sys/bus/netdevsim ] || return 0
  local id=5400 dev="" i
  echo "$id 1" >/sys/bus/netdevsim/new_device 2>/dev/null || return 0
  echo "$id" >"$STATE/nsim-id"
  for i in $(seq 50); do
    dev=$(ls "/sys/bus/netdevsim/devices/netdevsim$id/net/" 2>/dev/null | head -1)
    [ -n "$dev" ] && break; sleep 0.1
  done
  [ -n "$dev" ] || return 0
  ip link set "$dev" netns "$(node_ns 1)" name nsim0 || return 0
  ip -n "$(node_ns 1)" addr add 10.250.0.1/24 dev nsim0
  ip -n "$(node_ns 1)" link set nsim0 up
  echo nsim0 >"$STATE/nsim-node1"
}

start_agent() {  # start_agent N
  local n=$1
  ip netns exec "$(node_ns "$n")" setsid "$BIN" agent --config "$STATE/lab-$n.yaml" \
    --key-activation "$KEY_ACTIVATION" </dev/null >>"$STATE/logs/lab-$n.log" 2>&1 &
  echo $! >"$STATE/run/lab-$n.pid"
}

agent_ready() {  # agent_ready N
  ip netns exec "$(node_ns "$1")" "$BIN" status --json 2>/dev/null | jq -e '.ready == true' >/dev/null
}

wait_ready() {  # wait_ready N SECONDS
  local n=$1 deadline=$((SECONDS + $2))
  until agent_ready "$n"; do
    if ! kill -0 "$(cat "$STATE/run/lab-$n.pid")" 2>/dev/null; then
      say "agent of lab-$n exited:"; tail -5 "$STATE/logs/lab-$n.log" >&2; return 1
    fi
    ((SECONDS < deadline)) || { say "agent of lab-$n not ready after $2 s"; tail -5 "$STATE/logs/lab-$n.log" >&2; return 1; }
    sleep 0.2
  done
}

random_key() { echo "rfc4106(gcm(aes)) 0x$(od -An -tx1 -N20 /dev/urandom | tr -d ' \n') 128"; }

write_keys() {  # write_keys LINE...: a new version of the Secret, swapped in atomically
  local v="..v$(date +%s%N)" d="$STATE/secret"
  (umask 077; mkdir "$d/$v" && printf '%s\n' "$@" >"$d/$v/keys") || return 1
  ln -sfn "$v" "$d/..data_tmp" && mv -T "$d/..data_tmp" "$d/..data" || return 1
  [ -L "$d/keys" ] || ln -s ..data/keys "$d/keys"
  local old; for old in "$d"/..v*; do [ "$old" = "$d/$v" ] || rm -rf "$old"; done
}

# rotate: the next key id joins the newest key (agents install it inbound at once,
# send with it once every peer has it); rotate --finish: only the newest key stays
# (the others' states go after the grace period).
cmd_rotate() {
  need_root
  [ -e "$STATE/secret/keys" ] || die "no lab is up"
  local ids newest next
  ids=$(awk '{print $1+0}' "$STATE/secret/keys")
  newest=$(tail -1 <<<"$ids")
  if [ "${1:-}" = --finish ]; then
    write_keys "$(tail -1 "$STATE/secret/keys")" && say "keys: $newest only"
    return
  fi
  next=$((newest % 15 + 1))
  write_keys "$(tail -1 "$STATE/secret/keys")" "$next+ $(random_key)" && say "keys: $newest, $next (new)"
}

cmd_up() {
  local total=3 etcd=0
  while (($#)); do
    case $1 in
      --nodes) total=$2; shift 2 ;;
      --etcd) etcd=1; shift ;;
      *) die "up: unknown argument $1" ;;
    esac
  done
  [[ $total =~ ^[0-9]+$ ]] && ((total >= 2 && total <= 200)) || die "--nodes: 2..200"
  need_root
  [ -e "$STATE/nodes" ] && die "a lab is up already ($STATE): sealnet lab down first"
  load_modules
  if ! can_encrypt; then
    say "this kernel cannot do ESP with AES-GCM (see \`sealnet probe\`): sealnet has nothing to run on here."
    say "run the same lab in the project's VM instead: sealnet lab up --vm"
    exit 2
  fi
  mkdir -p "$STATE"/{bpf,logs,run} && chmod 700 "$STATE"
  q mountpoint -q "$STATE/bpf" || mount -t bpf bpf "$STATE/bpf" || die "cannot mount bpffs on $STATE/bpf"
  # One per-pair ("+") key for the whole cluster, laid out as a Kubernetes Secret volume is
  # (keys -> ..data/keys, ..data -> ..<version>): rotations swap ..data atomically.
  mkdir -p "$STATE/secret"
  write_keys "1+ $(random_key)"  # per-pair: each node pair derives its own key
  echo "$total" >"$STATE/nodes"
  ip netns add "$WIRE" || die "cannot create namespace $WIRE (a lab left over? sealnet lab down)"
  ip -n "$WIRE" link set lo up
  ip -n "$WIRE" link add br0 type bridge
  ip -n "$WIRE" link set br0 up
  if ((etcd)); then
    command -v etcd >/dev/null || die "--etcd needs etcd (Debian: etcd-server)"
    touch "$STATE/etcd-mode"
    ip -n "$WIRE" addr add "$ETCD_ADDR/24" dev br0
    cmd_etcd start || die "etcd did not come up: $STATE/logs/etcd.log"
  fi
  local n
  for n in $(seq 1 "$total"); do add_node "$n" "$total" || die "cannot build node $n"; done
  add_netdevsim
  for n in $(seq 1 "$total"); do write_config "$n" "$total"; start_agent "$n"; done
  for n in $(seq 1 "$total"); do wait_ready "$n" 120 || die "lab is up but not ready; logs in $STATE/logs"; done
  say "$total nodes up, agents ready (logs: $STATE/logs). Next: sealnet lab traffic | status | down"
}

# add-node N: one more node at run time (its agent, and every other node's config
# names it): what a peer joining looks like with a static peer list.
cmd_add_node() {
  need_root
  local total n
  total=$(nodes); n=$((total + 1))
  ((total > 0)) || die "no lab is up"
  echo "$n" >"$STATE/nodes"
  add_node "$n" "$n" || die "cannot build node $n"
  local m
  for m in $(seq 1 "$total"); do
    [ -e "$STATE/run/lab-$m.pid" ] || continue  # removed
    ip -n "$(node_ns "$m")" route add "10.241.$n.0/24" via "10.240.0.$n" dev up0
    [ -e "$STATE/etcd-mode" ] || write_config "$m" "$n"  # with etcd the others learn it there
  done
  write_config "$n" "$n"
  start_agent "$n"
  wait_ready "$n" 120 || exit 1
  say "node lab-$n joined"
}

# remove-node N: node N leaves: its agent stops (its etcd lease then lapses, or the
# others' configs drop it), its namespaces go.
cmd_remove_node() {
  local n=${1:?remove-node N} total m
  node_number "$n"
  need_root
  total=$(nodes)
  [ -e "$STATE/run/lab-$n.pid" ] || die "lab-$n is not running"
  kill "$(cat "$STATE/run/lab-$n.pid")" 2>/dev/null
  rm -f "$STATE/run/lab-$n.pid" "$STATE/lab-$n.yaml"
  ip netns del "$(pod_ns "$n" 1)"; ip netns del "$(pod_ns "$n" 2)"; ip netns del "$(node_ns "$n")"
  for m in $(seq 1 "$total"); do
    [ -e "$STATE/run/lab-$m.pid" ] || continue
    ip -n "$(node_ns "$m")" route del "10.241.$n.0/24" 2>/dev/null
    if [ ! -e "$STATE/etcd-mode" ]; then
      sed -i "/name: lab-$n,/d" "$STATE/lab-$m.yaml"
    fi
  done
  say "node lab-$n left"
}

# etcd start|stop: the lab's etcd (with --etcd), data kept across a stop.
cmd_etcd() {
  case ${1:-} in
    start)
      ip netns exec "$WIRE" setsid etcd --name lab --data-dir "$STATE/etcd" \
        --listen-client-urls "http://$ETCD_ADDR:2379" --advertise-client-urls "http://$ETCD_ADDR:2379" \
        --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
        --initial-cluster lab=http://127.0.0.1:2380 </dev/null >>"$STATE/logs/etcd.log" 2>&1 &
      echo $! >"$STATE/etcd.pid"
      local i
      for i in $(seq 150); do
        ip netns exec "$WIRE" curl -sf "http://$ETCD_ADDR:2379/health" >/dev/null 2>&1 && return 0
        sleep 0.2
      done
      return 1 ;;
    stop)
      [ -e "$STATE/etcd.pid" ] && kill "$(cat "$STATE/etcd.pid")" 2>/dev/null
      rm -f "$STATE/etcd.pid"; sleep 0.5 ;;
    *) die "etcd start|stop" ;;
  esac
}

cmd_traffic() {
  need_root
  local total; total=$(nodes)
  ((total > 0)) || die "no lab is up: sealnet lab up"
  local pcap="$STATE/wire.pcap" tcpdump_pid
  ip netns exec "$WIRE" tcpdump -i br0 -nn -U -w "$pcap" ip 2>/dev/null &
  tcpdump_pid=$!
  sleep 1
  local rows=() bad=0 sn sp dn dp live=()
  for sn in $(seq 1 "$total"); do [ -e "$STATE/run/lab-$sn.pid" ] && live+=("$sn"); done
  for sn in "${live[@]}"; do for sp in 1 2; do
    for dn in "${live[@]}"; do for dp in 1 2; do
      [ "$sn.$sp" = "$dn.$dp" ] && continue
      local ok=no
      ip netns exec "$(pod_ns "$sn" "$sp")" ping -c 1 -W 2 -q "$(pod_ip "$dn" "$dp")" >/dev/null 2>&1 && ok=yes
      [ $ok = yes ] || bad=1
      rows+=("lab-$sn/pod$sp $(pod_ip "$sn" "$sp") lab-$dn/pod$dp $(pod_ip "$dn" "$dp") $ok")
    done; done
  done; done
  sleep 0.5
  kill "$tcpdump_pid" 2>/dev/null; wait "$tcpdump_pid" 2>/dev/null
  local dump; dump=$(tcpdump -r "$pcap" -nn 2>/dev/null)
  local esp plain total_frames
  total_frames=$(grep -c . <<<"$dump")
  esp=$(grep -c ': ESP(' <<<"$dump")
  plain=$(grep -cE 'IP 10\.241\.[0-9]+\.[0-9]+ > 10\.241\.' <<<"$dump")
  printf '%-12s %-12s %-12s %-12s %-9s %s\n' FROM ADDRESS TO ADDRESS DELIVERED "ON THE WIRE"
  local r
  for r in "${rows[@]}"; do
    read -r from fa to ta ok <<<"$r"
    local fnode=${from%%/*} tnode=${to%%/*} how
    if [ "$fnode" = "$tnode" ]; then
      how="never on the wire: same node, not encrypted (by design)"
    else
      local fi_=${fnode#lab-} ti=${tnode#lab-} n_plain n_esp
      n_plain=$(grep -c "IP $fa > $ta" <<<"$dump")
      n_esp=$(grep -c "IP 10.240.0.$fi_ > 10.240.0.$ti: ESP(" <<<"$dump")
      if ((n_plain > 0)); then how="PLAINTEXT on the wire ($n_plain frames)"; bad=1
      elif ((n_esp > 0)); then
        how="ESP $(grep -o "IP 10.240.0.$fi_ > 10.240.0.$ti: ESP(spi=0x[0-9a-f]*" <<<"$dump" | sed 's/.*spi=//' | sort -u | tr '\n' ' ')"
      else how="nothing seen"; fi
    fi
    printf '%-12s %-12s %-12s %-12s %-9s %s\n' "$from" "$fa" "$to" "$ta" "$ok" "$how"
  done
  echo
  echo "the switch saw $total_frames IPv4 frames: $esp ESP, $plain with pod addresses in the clear (must be 0)"
  echo "(ESP between node addresses 10.240.0.x; the SPI encodes sender node << 16 | key << 12 | slot << 8 | generation)"
  return $bad
}

cmd_status() {
  local total n; total=$(nodes)
  ((total > 0)) || die "no lab is up: sealnet lab up"
  for n in $(seq 1 "$total"); do
    [ -e "$STATE/run/lab-$n.pid" ] || continue
    echo "=== lab-$n"
    ip netns exec "$(node_ns "$n")" "$BIN" status "$@"
    echo
  done
}

cmd_down() {
  need_root
  local n pid
  for pid in "$STATE"/run/*.pid; do
    [ -e "$pid" ] || continue
    kill "$(cat "$pid")" 2>/dev/null
  done
  sleep 0.3
  for pid in "$STATE"/run/*.pid; do [ -e "$pid" ] && kill -9 "$(cat "$pid")" 2>/dev/null; rm -f "$pid"; done
  [ -e "$STATE/etcd.pid" ] && kill "$(cat "$STATE/etcd.pid")" 2>/dev/null
  [ -e "$STATE/nsim-id" ] && echo "$(cat "$STATE/nsim-id")" >/sys/bus/netdevsim/del_device 2>/dev/null
  for n in $(ip netns list | awk '{print $1}' | grep -E '^sl-(n[0-9]+(-p[0-9]+)?|wire)$'); do ip netns del "$n"; done
  q umount "$STATE/bpf"
  rm -rf "$STATE"
  say "lab removed"
}

VM_TMP=""  # cmd_vm's temporary results directory, removed on exit
cmd_vm() {  # run the lab in the project's VM: up, traffic, status, down in one boot
  local keep=$1 src=${SEALNET_SRC:-} out
  [ -n "$src" ] && [ -x "$src/tests/vm/vm.sh" ] || die "--vm needs the source tree sealnet was built from (SEALNET_SRC)"
  if [ -n "$keep" ]; then
    mkdir -p "$keep" || die "--vm-results $keep: cannot create it"
    out=$(cd "$keep" && pwd)
    say "booting the project's VM (qemu, emulated: a minute or two); results kept in $out"
  else
    # Asked for nothing: the logs are printed below and the directory goes,
    # whatever happens (failure, Ctrl-C).
    out=$(mktemp -d /tmp/sealnet-lab-vm.XXXXXX) || die "mktemp failed"
    VM_TMP=$out
    trap '[ -n "$VM_TMP" ] && rm -rf "$VM_TMP"' EXIT
    trap 'exit 130' INT TERM
    say "booting the project's VM (qemu, emulated: a minute or two); --vm-results DIR keeps its results"
  fi
  # The guest finds the binary through the build tree it came from (<build>/cli/sealnet).
  SEALNET_BUILD=$(cd "$(dirname "$BIN")/.." && pwd) VERBOSE=0 "$src/tests/vm/vm.sh" run "$out" "$src/datapath/lab/vm_lab.sh"
  local rc=$?
  cat "$out"/*/log 2>/dev/null | sed -n '/^=== sealnet lab in the VM/,$p'
  return $rc
}

cmd=${1:-}; shift || true
vm=0 vm_results="" rest=()
while (($#)); do
  case $1 in
    --vm) vm=1 ;;
    --vm-results) [ $# -ge 2 ] || die "--vm-results needs a directory"; vm_results=$2; shift ;;
    --vm-results=*) vm_results=${1#--vm-results=} ;;
    *) rest+=("$1") ;;
  esac
  shift
done
[ -n "$vm_results" ] && [ "$vm" = 0 ] && die "--vm-results goes with --vm"
[ "$vm" = 1 ] && { cmd_vm "$vm_results"; exit $?; }
set -- ${rest[@]+"${rest[@]}"}
case $cmd in
  up) cmd_up "$@" ;;
  add-node) cmd_add_node ;;
  remove-node) cmd_remove_node "$@" ;;
  etcd) need_root; cmd_etcd "$@" ;;
  traffic) cmd_traffic ;;
  rotate) cmd_rotate "$@" ;;
  start-agent) node_number "${1:?start-agent N}"; need_root; start_agent "$1"; wait_ready "$1" 120 ;;
  status) cmd_status "$@" ;;
  down) cmd_down ;;
  *) die "usage: sealnet lab up [--nodes N] [--etcd] | add-node | remove-node N | traffic | rotate [--finish] | etcd start|stop | status [--json] | down, each also with --vm [--vm-results DIR]" ;;
esac
