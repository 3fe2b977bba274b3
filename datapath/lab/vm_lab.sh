#!/bin/bash
# Guest side of `sealnet lab ... --vm`: the lab in the project's VM (real ESP,
# netdevsim), up, traffic, status and down in one boot. Exit 0 when every pod
# reached every other and nothing crossed the switch in plaintext.
# shellcheck source-path=SCRIPTDIR source=../../tests/vm/guest/lib.sh
. "${SEALNET_VM_LIB:-$(dirname "$0")/../../tests/vm/guest/lib.sh}"
# shellcheck source=guest.sh
. "$(dirname "$0")/guest.sh"
echo "=== sealnet lab in the VM (Linux $(uname -r), emulated)"
lab_suite /tmp/sealnet-lab
check "sealnet lab up" lab up
check "sealnet lab traffic: all delivered, no plaintext on the wire" lab traffic
lab status
finish
