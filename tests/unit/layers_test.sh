#!/usr/bin/env bash
# scripts/check-layers.sh: the tree as committed is clean, and the check does
# catch what it is for (a layer including one above it, a cycle between folders).
#   layers_test.sh SOURCE_DIR clean|catches
set -euo pipefail
src=$1 mode=$2
check=$src/scripts/check-layers.sh
case $mode in
  clean) exec "$check" "$src" ;;
  catches)
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    for d in core netlink keys probe bpf fallback offload datapath bench cli scripts; do
      cp -r "$src/$d" "$tmp/$d"
    done
    "$check" "$tmp" >/dev/null || { echo "FAIL: a copy of the tree is not clean"; exit 1; }
    # A probe file including offload/ (the old cycle): refused, naming file and rule.
    echo '#include "offload/binding.h"' >>"$tmp/probe/probe.h"
    if out=$("$check" "$tmp" 2>&1); then echo "FAIL: probe -> offload passed"; exit 1; fi
    grep -q 'probe/probe.h includes offload/' <<<"$out" || { echo "FAIL: unnamed: $out"; exit 1; }
    # netlink including keys and keys including netlink: a cycle, reported as one.
    sed -i '$d' "$tmp/probe/probe.h"
    echo '#include "keys/keys.h"' >>"$tmp/netlink/transport.h"
    echo '#include "netlink/transport.h"' >>"$tmp/keys/keys.h"
    if out=$("$check" "$tmp" 2>&1); then echo "FAIL: netlink <-> keys passed"; exit 1; fi
    grep -q 'cycle' <<<"$out" || { echo "FAIL: no cycle reported: $out"; exit 1; }
    # Anything but cli/ including bench/.
    sed -i '$d' "$tmp/netlink/transport.h" "$tmp/keys/keys.h"
    echo '#include "bench/plan/plan.h"' >>"$tmp/datapath/agent.h"
    if out=$("$check" "$tmp" 2>&1); then echo "FAIL: datapath -> bench passed"; exit 1; fi
    grep -q 'datapath/agent.h includes bench/' <<<"$out" || { echo "FAIL: unnamed: $out"; exit 1; }
    echo "ok: violations and cycles are reported" ;;
  *) echo "usage: $0 SOURCE_DIR clean|catches" >&2; exit 2 ;;
esac
