#!/bin/bash
# sealnet's VM harness: real IPsec (ESP, AES-GCM, netdevsim offload) needs a kernel the
# host does not have, so boot a Debian kernel under qemu (TCG) with the host's / shared
# read-only; host-built binaries run inside unchanged. See tests/vm/README.md.
#
#   vm.sh prepare                   fetch + build the kernel cache only (no boot)
#   vm.sh run OUTDIR SCRIPT...      one boot, runs each guest suite; results in OUTDIR
#   vm.sh shell                     interactive guest shell (Ctrl-A X quits qemu)
#   vm.sh info                      chosen kernel, cache state and size
#   vm.sh ctest-boot MANIFEST DIR   ctest's vm.boot: one boot for all registered suites
#   vm.sh ctest-result DIR NAME     ctest's vm.NAME: report one suite of the last boot
# Exit: 0 ok, 1 failure, 77 cannot run here (the reason is printed).
set -euo pipefail
VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$VM_DIR/lib/common.sh"
. "$VM_DIR/lib/kernel.sh"
. "$VM_DIR/lib/boot.sh"

usage() { sed -n '6,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# Boots once and runs the suites listed in OUT/manifest. Returns 0 when the guest ran
# them all (whatever their results), 1 when the VM did not get through.
boot_and_run() {
  local out=$1 t0 qrc=0 name rc
  t0=$(now)
  check_boot_host
  pick_kernel
  prepare_kernel
  log "kernel $KVER ($DEBVER); cache $CACHE: $(cache_size)"
  rm -f "$out/done"
  : "${SEALNET_VM_TIMEOUT:=$(awk '$1 == "suite" { t += $3 } END { print 300 + t }' "$out/manifest")}"
  boot_vm run "$out" || qrc=$?
  while read -r name _; do
    rc=$(cat "$out/$name/rc" 2>/dev/null || echo none)
    case $rc in
      0) log "suite $name: PASS" ;;
      77) log "suite $name: SKIP ($(grep -m1 -i 'skip' "$out/$name/log" || true))" ;;
      none) log "suite $name: NO RESULT" ;;
      *) log "suite $name: FAIL (exit $rc), log: $out/$name/log" ;;
    esac
  done < <(sed -n 's/^suite //p' "$out/manifest")
  log "wall $(secs_since "$t0") s; cache $CACHE: $(cache_size)"
  if [[ ! -f $out/done ]]; then
    log "the VM did not finish (qemu exit $qrc); console: $out/console.log; its tail:"
    tail -n 40 "$out/console.log" | sed 's/^/  | /'
    return 1
  fi
}

cmd_prepare() {
  local t0; t0=$(now)
  check_prepare_host
  pick_kernel
  prepare_kernel
  log "ready: kernel $KVER ($DEBVER) in $CACHE/$KVER; cache size $(cache_size); $(secs_since "$t0") s"
}

cmd_info() {
  pick_kernel
  kernel_paths
  log "kernel $KVER ($DEBVER): $(kernel_ready && echo prepared || echo 'not prepared (vm.sh prepare)')"
  log "cache $CACHE: $(cache_size)"
}

# The suite environment (tool paths) of developer runs comes from the build tree's
# manifest ($SEALNET_BUILD, default <source>/build).
suite_env_lines() {
  local src; src=$(cd "$VM_DIR/../.." && pwd)
  local build=${SEALNET_BUILD:-$src/build}
  local built=$build/tests/vm/vm-suites.manifest
  if [[ -f $built ]]; then
    grep '^env ' "$built"
  else
    warn "no $built (configure the build, or set SEALNET_BUILD): suites get no tool paths"
    echo "env SEALNET_SRC=$src"
    echo "env SEALNET_BUILD=$build"
    echo "env SEALNET_VM_LIB=$VM_DIR/guest/lib.sh"
  fi
}

# Developer entry: suites named after their file.
cmd_run() {
  (($# >= 2)) || usage
  local out=$1 s name; shift
  mkdir -p "$out"; out=$(cd "$out" && pwd)
  {
    suite_env_lines
    for s in "$@"; do
      [[ -f $s ]] || die "no such suite script: $s"
      name=$(basename "$s" .sh)
      rm -rf "${out:?}/$name"
      echo "suite $name ${SEALNET_VM_SUITE_TIMEOUT:-900} $(cd "$(dirname "$s")" && pwd)/$(basename "$s")"
    done
  } > "$out/manifest"
  VERBOSE=${VERBOSE:-1} boot_and_run "$out"
  local failed=0
  while read -r name _; do
    case $(cat "$out/$name/rc" 2>/dev/null) in 0|77) ;; *) failed=1 ;; esac
  done < <(sed -n 's/^suite //p' "$out/manifest")
  return "$failed"
}

cmd_shell() {
  check_boot_host
  pick_kernel
  prepare_kernel
  local out; out=$(mktemp -d /tmp/sealnet-vm-shell.XXXXXX)
  suite_env_lines > "$out/manifest"
  log "kernel $KVER; guest shell follows (exit ends it; Ctrl-A X kills qemu)"
  boot_vm shell "$out" || true
  rm -rf "$out"
}

# vm.boot: a fresh run directory per boot, 'latest' pointing at it before anything can
# fail, so a suite test never reads an older run's results.
cmd_ctest_boot() {
  (($# == 2)) || usage
  local manifest=$1 root=$2 run
  mkdir -p "$root"
  run=$root/run-$(date +%Y%m%d-%H%M%S)-$$
  mkdir "$run"
  ln -sfn "$(basename "$run")" "$root/latest.tmp" && mv -T "$root/latest.tmp" "$root/latest"
  # Keep the last five runs' logs; older ones go.
  find "$root" -mindepth 1 -maxdepth 1 -name 'run-*' | sort | head -n -5 | xargs -r rm -rf
  SKIP_MARKER=$run/SKIPPED
  [[ -f $manifest ]] || die "no manifest $manifest (re-run cmake)"
  cp "$manifest" "$run/manifest"
  log "results: $run"
  boot_and_run "$run"
}

# vm.NAME: prints the suite's log and passes its verdict on to ctest.
cmd_ctest_result() {
  (($# == 2)) || usage
  local run=$1/latest name=$2 rc
  if [[ -f $run/SKIPPED ]]; then echo "skipped: $(cat "$run/SKIPPED")"; exit 77; fi
  if [[ ! -f $run/$name/rc ]]; then
    echo "no result for suite $name: vm.boot did not run it; console: $(readlink -f "$run")/console.log"
    exit 1
  fi
  cat "$run/$name/log"
  rc=$(cat "$run/$name/rc")
  case $rc in
    0) exit 0 ;;
    77) echo "suite $name skipped itself (reason above)"; exit 77 ;;
    *) echo "suite $name FAILED (exit $rc); log kept: $(readlink -f "$run")/$name/log;" \
            "console: $(readlink -f "$run")/console.log"
       exit 1 ;;
  esac
}

case ${1:-} in
  prepare) shift; cmd_prepare "$@" ;;
  run) shift; cmd_run "$@" ;;
  shell) shift; cmd_shell "$@" ;;
  info) shift; cmd_info "$@" ;;
  ctest-boot) shift; cmd_ctest_boot "$@" ;;
  ctest-result) shift; cmd_ctest_result "$@" ;;
  *) usage ;;
esac
