# Helpers for guest suites; a suite sources "$SEALNET_VM_LIB".
# Suite protocol: a bash script run as root inside the VM; it prints its log and exits
# 0 pass, 77 skip (reason printed), anything else fail. The environment has SEALNET_SRC,
# SEALNET_BUILD, SEALNET_VM_ARTIFACTS (kept with the log) and the tool paths of
# tests/vm/CMakeLists.txt (SEALNET_SA_OFFLOAD, SEALNET_UDP_RECV).
set -uo pipefail   # no -e: a failed check is counted and the suite goes on to the next

CHECKS=0 FAILED=0

section() { printf '\n== %s\n' "$*"; }
run()     { echo "+ $*"; "$@"; }
pass()    { CHECKS=$((CHECKS + 1)); echo "PASS: $*"; }
fail()    { CHECKS=$((CHECKS + 1)); FAILED=$((FAILED + 1)); echo "FAIL: $*"; }
check()   { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
skip_suite() { echo "SKIP: $*"; exit 77; }

# wait_for SECONDS CMD...: polls CMD until it succeeds; 1 on timeout.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do ((SECONDS < deadline)) || return 1; sleep 0.1; done
}

# defer CMD: run at exit, last deferred first; failures ignored (best-effort cleanup).
CLEANUPS=()
defer() { CLEANUPS=("$*" "${CLEANUPS[@]}"); }
_run_cleanups() { local c; for c in "${CLEANUPS[@]}"; do eval "$c" >/dev/null 2>&1 || true; done; }
trap _run_cleanups EXIT

# finish: the summary line and the exit code of the protocol.
finish() {
  echo
  echo "${SEALNET_VM_SUITE:-suite}: $CHECKS checks, $FAILED failed"
  ((FAILED == 0 && CHECKS > 0)) || exit 1
  exit 0
}

need_tool() {  # need_tool VAR: the executable named by $VAR exists, else the suite fails
  local path=${!1:-}
  [[ -n $path && -x $path ]] && return 0
  fail "tool $1='$path' is not built (cmake --build first)"; finish
}
