#!/bin/bash
# Guest side of `sealnet lab ... --vm`: the lab in the project's VM (real ESP,
# netdevsim), up, traffic, status and down in one boot. Exit 0 when every pod
# reached every other and nothing crossed the switch in plaintext.
# shellcheck source-path=SCRIPTDIR source=../../tests/vm/guest/lib.sh
. "${SEALNET_VM_LIB:-$(dirname "$0")/../../tests/vm/guest/lib.sh}"
BIN=${SEALNET_BUILD:?}/cli/sealnet
need_tool BIN
modprobe -a esp4 esp4_offload xfrm_user veth bridge netdevsim sch_ingress cls_bpf aesni_intel gcm 2>/dev/null
export SEALNET_LAB_DIR=/tmp/sealnet-lab
defer "$BIN lab down"
echo "=== sealnet lab in the VM (Linux $(uname -r), emulated)"
check "sealnet lab up" "$BIN" lab up
check "sealnet lab traffic: all delivered, no plaintext on the wire" "$BIN" lab traffic
"$BIN" lab status
finish
