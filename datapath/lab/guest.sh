# Sourced by the guest suites that run `sealnet lab` (datapath/vm_suite.sh,
# datapath/vm_discovery_suite.sh, datapath/lab/vm_lab.sh), after tests/vm/guest/lib.sh:
# the binary, `lab`, `jqn N FILTER` (jq over node N's `sealnet status --json`), and
# lab_suite DIR: this suite's lab state directory, the lab's modules, and the lab
# taken down (its agent logs kept with the suite's artifacts) when the suite ends.
: "${SEALNET_BIN:=${SEALNET_BUILD:-}/cli/sealnet}"
need_tool SEALNET_BIN
BIN=$SEALNET_BIN
ART=${SEALNET_VM_ARTIFACTS:-/tmp}

lab() { "$BIN" lab "$@"; }
jqn() { local n=$1; shift; ip netns exec "sl-n$n" "$BIN" status --json | jq -r "$@"; }

lab_suite() {
  export SEALNET_LAB_DIR=$1
  LAB=$1
  # defer evals its command: every path goes in quoted.
  defer "cp -r $(printf %q "$LAB/logs") $(printf %q "$ART/lab-logs"); $(printf %q "$BIN") lab down"
  section "modules"
  check "modprobe" run modprobe -a esp4 esp4_offload xfrm_user veth bridge netdevsim sch_ingress cls_bpf aesni_intel gcm
}
