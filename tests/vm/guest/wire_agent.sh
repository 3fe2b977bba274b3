#!/bin/bash
# vm.wire: the DPDK wire harness proves sealnet's own wire (issue 18, item 7).
# `sealnet lab up --nodes 2` (two agents, per-pair key "1+", software SAs with ESN);
# on the switch, the bridge's port n1 towards lab-1, `sealnet-wire capture` gets only
# the lab's key file and lab-1's agent config (its node and static peer are the node
# table): no --spi, no ESN flag. It must resolve sealnet's SPIs, derive each
# direction's per-pair key and settle every SA on ESN by itself (--esn auto).
#  (i)   with each engine (aesni_gcm: intel-ipsec-mb; openssl: rte_ipsec), numbered
#        UDP datagrams pod lab-1/1 -> lab-2/1 all decrypted and checked byte for byte,
#        pings both ways decrypted; no decrypt failure, unknown SA or plaintext; SAs of
#        both directions, all ESN; no key byte in any output
#  (ii)  --esn off: the agent's software SAs do not open without ESN (exit 1)
# Guest runtime: lab up plus three short captures (200 datagrams at 400/s, 4 pings).
# shellcheck source-path=SCRIPTDIR source=lib.sh
# shellcheck disable=SC2016,SC2317  # jq's $variables are jq's; helpers are called indirectly
. "${SEALNET_VM_LIB:-$(dirname "$0")/lib.sh}"
SRC=${SEALNET_SRC:-$(cd "$(dirname "$0")/../../.." && pwd)}
: "${SEALNET_WIRE:=${SEALNET_BUILD:-}/bench/wire/sealnet-wire}"
need_tool SEALNET_WIRE
command -v jq >/dev/null || skip_suite "jq is not installed (setup.sh installs it)"
# shellcheck source=../../../datapath/lab/guest.sh
. "$SRC/datapath/lab/guest.sh"
lab_suite /tmp/sealnet-lab-wire
COUNT=${WIRE_AGENT_COUNT:-200}
POD2=10.241.2.2  # lab-2's pod 1 (datapath/lab/lab.sh: pod p of node n is 10.241.n.(p+1))

wire() { "$SEALNET_WIRE" "$@"; }
jqf() { local f=$1; shift; jq -e "$@" "$f" >/dev/null 2>&1; }

section "lab up: two agents"
check "sealnet lab up --nodes 2 (agents ready)" lab up --nodes 2
KEYS=$LAB/secret/keys CONF=$LAB/lab-1.yaml
check "the lab's key is per-pair (1+)" grep -q '^1+ ' "$KEYS"

# round TAG COUNT CAPTURE-ARGS...: capture on n1 (in sl-wire), recv in lab-2's pod 1,
# pings both ways and numbered UDP from lab-1's pod 1. Leaves TAG.{cap,recv,send}.json
# and .rc in $ART and prints them.
round() {
  local tag=$1 count=$2; shift 2
  rm -f "$ART/$tag".*
  wire --netns sl-wire capture --iface n1 --key-file "$KEYS" --config "$CONF" --protect 10.241.0.0/16 --timeout 60 \
    --linger 2 --ready-file "$ART/$tag.cap.ready" "$@" >"$ART/$tag.cap.json" 2>"$ART/$tag.cap.err" &
  local cap=$! rcv="" png
  if ((count > 0)); then
    wire --netns sl-n2-p1 recv --port 5001 --expect "$count" --timeout 60 \
      --ready-file "$ART/$tag.recv.ready" >"$ART/$tag.recv.json" 2>"$ART/$tag.recv.err" &
    rcv=$!
  else
    touch "$ART/$tag.recv.ready"
  fi
  wait_for 60 test -f "$ART/$tag.cap.ready" -a -f "$ART/$tag.recv.ready" ||
    { echo "capture or recv did not start:"; cat "$ART/$tag.cap.err" "$ART/$tag.recv.err" 2>/dev/null; }
  # Echo requests 1 -> 2 and replies 2 -> 1: both directions' SAs on the wire.
  ip netns exec sl-n1-p1 ping -c 4 -i 0.25 -q $POD2 >"$ART/$tag.ping" 2>&1 &
  png=$!
  if ((count > 0)); then
    wire --netns sl-n1-p1 send --dst $POD2 --port 5001 --flows 2 --count "$count" --rate 400 --size 200 \
      >"$ART/$tag.send.json" 2>"$ART/$tag.send.err"
    echo $? >"$ART/$tag.send.rc"
  fi
  wait "$png"; echo $? >"$ART/$tag.ping.rc"
  [[ -n $rcv ]] && { wait "$rcv"; echo $? >"$ART/$tag.recv.rc"; }
  wait "$cap"; echo $? >"$ART/$tag.cap.rc"
  rm -f "$ART/$tag".*.ready
  local f
  for f in send recv cap; do
    [[ -f $ART/$tag.$f.rc ]] || continue
    printf '%-5s exit %s: ' "$f" "$(cat "$ART/$tag.$f.rc")"; cat "$ART/$tag.$f.json"
    [[ -s $ART/$tag.$f.err && $f != cap ]] && sed 's/^/      stderr: /' "$ART/$tag.$f.err"
  done
  [[ $(cat "$ART/$tag.cap.rc") == 0 ]] || sed 's/^/      capture stderr: /' "$ART/$tag.cap.err" | tail -n 20
}

# no_key_bytes FILE...: none of the key file's hex keys appears (nothing printed).
no_key_bytes() {
  local k
  while read -r k; do
    k=${k#0x}
    [[ -n $k ]] && grep -qiF "$k" "$@" && return 1
  done < <(awk '!/^#/ && NF {print $3}' "$KEYS")
  return 0
}

for engine in aesni_gcm openssl; do
  section "(i) $engine: the agents' ESP decrypted from the key file and the config alone"
  round "$engine" "$COUNT" --crypto "$engine" --expect "$COUNT"
  C=$ART/$engine.cap.json
  check "send: $COUNT datagrams through the kernel (tc BPF, XFRM), none failed" \
    jqf "$ART/$engine.send.json" --argjson n "$COUNT" '.sent == $n and .send_failures == 0'
  check "recv in lab-2's pod: all $COUNT arrived" jqf "$ART/$engine.recv.json" --argjson n "$COUNT" '.received == $n'
  check "pings lab-1/1 <-> lab-2/1 answered" test "$(cat "$ART/$engine.ping.rc")" = 0
  check "capture exit 0 (crypto $engine)" test "$(cat "$ART/$engine.cap.rc")" = 0
  check "capture: every datagram decrypted and verified (received $COUNT, lost 0, no duplicates)" \
    jqf "$C" --argjson n "$COUNT" '.received == $n and .lost == 0 and .duplicates == 0 and .invalid_inner == 0'
  check "capture: all ESP frames decrypted; no failure, no unknown SA, no plaintext" \
    jqf "$C" '.esp_frames > 0 and .decrypted == .esp_frames and .decrypt_failures == 0 and .unknown_sa == 0 and .plaintext_frames == 0'
  check "capture: the pings' echo requests and replies decrypted too (>= 8 foreign inner packets)" \
    jqf "$C" '.foreign_inner >= 8'
  check "capture: SAs of both directions, sealnet SPIs of nodes 1 and 2 under key 1" \
    jqf "$C" '([.sas[] | select(.decrypted > 0) | .src] | unique) == ["10.240.0.1", "10.240.0.2"] and
              all(.sas[]; .origin | test("^spi 0x000[12]1[0-9a-f]{3} \\(node [12] key 1 slot [0-9]+ generation [0-9]+\\)$"))'
  check "capture: every SA settled on ESN (the agent's software SAs)" \
    jqf "$C" '(.sas | length) >= 2 and all(.sas[]; .esn == true) and .esn == "auto"'
  check "no key byte in the capture's output" no_key_bytes "$C" "$ART/$engine.cap.err"
done

section "(ii) --esn off: the agents' SAs do not open with AAD = SPI || seq"
round esn-off 0 --esn off --idle 2
check "capture exit 1" test "$(cat "$ART/esn-off.cap.rc")" = 1
check "capture: ESP seen, none decrypted, every one a decrypt failure" \
  jqf "$ART/esn-off.cap.json" '.esp_frames > 0 and .decrypted == 0 and .decrypt_failures == .esp_frames'

finish
