#!/bin/bash
# unit.Hygiene (issue 15 item 6): the scripts and tools take no predictable
# temporary path, eval no path and validate what the command line gives them.
#   hygiene_test.sh SRC_DIR
# 1. No '/tmp/<name>' in tracked C/C++ and shell outside a mkstemp/mkdtemp/mktemp
#    template (XXXXXX) or a ${VAR:-/tmp} default; the files listed below are
#    exempt, each for the reason given.
# 2. No eval in shell, but the guest suites' one cleanup runner (its callers
#    quote with printf %q, checked in 4).
# 3. The lab refuses a node number that is not one, before any kill, rm or sed,
#    and without root (nothing is run with it).
# 4. guest.sh's deferred cleanup runs a path with spaces, quotes and $(...)
#    as one word: the command it defers cannot be injected through the path.
set -uo pipefail
SRC=${1:?source dir}
cd "$SRC" || exit 1
FAILED=0
fail() { echo "FAIL: $*"; FAILED=$((FAILED + 1)); }
pass() { echo "PASS: $*"; }

# Exempt, and why:
#  - the guest suites run as root in the project's throwaway VM, alone, and
#    their artifacts dir is /tmp there by protocol (tests/vm/guest/runner.sh);
#  - deploy/image.sh and tests/host/package_test.sh name /tmp inside the image
#    root they build (a fresh chroot), and deploy_test.cpp asserts that command;
#  - offload/vm_bench.sh names /tmp/out in its usage comment.
exempt='^(tests/vm/guest/|datapath/lab/vm_lab\.sh|datapath/vm_suite\.sh|datapath/vm_discovery_suite\.sh|deploy/image\.sh|tests/host/package_test\.sh|tests/unit/deploy_test\.cpp|offload/vm_bench\.sh|tests/unit/hygiene_test\.sh)'
files=$(git ls-files 2>/dev/null | grep -E '\.(c|cc|cpp|h|sh)$' | grep -Ev "$exempt")
[ -n "$files" ] || files=$(find . -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.c' -o -name '*.sh' \) \
  -not -path './build*' | sed 's|^\./||' | grep -Ev "$exempt")
hits=$(grep -nE '/tmp/[A-Za-z0-9_.-]' $files 2>/dev/null | grep -v 'XXXXXX' | grep -vE ':-/tmp\}|:=/tmp\}' || true)
if [ -z "$hits" ]; then pass "no predictable /tmp path in $(wc -w <<<"$files") files"; else fail "predictable /tmp paths:"; echo "$hits"; fi

evals=$(grep -nwE '^[^#]*\beval\b' $(grep -E '\.sh$' <<<"$files") tests/vm/guest/*.sh 2>/dev/null |
  grep -v '^tests/vm/guest/lib.sh:.*_run_cleanups()' || true)
if [ -z "$evals" ]; then pass "no eval but the guest cleanup runner"; else fail "eval in shell:"; echo "$evals"; fi

# 3. The lab's node numbers. SEALNET_BIN is required; nothing may run it.
T=$(mktemp -d /tmp/sealnet-hygiene.XXXXXX)
trap 'rm -rf "$T"' EXIT
for bad in '1;touch '"$T"'/pwned' '../../etc' '0' '1000' '-9' '1 2' '$(touch '"$T"'/pwned)'; do
  out=$(SEALNET_BIN=/bin/false SEALNET_LAB_DIR="$T/lab" bash datapath/lab/lab.sh remove-node "$bad" 2>&1); rc=$?
  if [ "$rc" = 2 ] && grep -q "not a node number" <<<"$out"; then pass "lab remove-node refuses '$bad'"
  else fail "lab remove-node '$bad': rc $rc, $out"; fi
  out=$(SEALNET_BIN=/bin/false SEALNET_LAB_DIR="$T/lab" bash datapath/lab/lab.sh start-agent "$bad" 2>&1); rc=$?
  if [ "$rc" = 2 ] && grep -q "not a node number" <<<"$out"; then pass "lab start-agent refuses '$bad'"
  else fail "lab start-agent '$bad': rc $rc, $out"; fi
done
out=$(SEALNET_BIN=/bin/false SEALNET_LAB_DIR="$T/lab" bash datapath/lab/lab.sh up --nodes '3;touch '"$T"'/pwned' 2>&1); rc=$?
if [ "$rc" = 2 ] && grep -q -- "--nodes: 2..200" <<<"$out"; then pass "lab up refuses a --nodes that is not a number"
else fail "lab up --nodes: rc $rc, $out"; fi
[ ! -e "$T/pwned" ] && [ ! -e "$T/lab" ] && pass "nothing ran, nothing was made" || fail "the lab acted on bad input"

# 4. guest.sh: a binary and a lab directory whose path would break an unquoted eval.
evil="$T/a b;touch $T/pwned;'x\$(touch $T/pwned)"
mkdir -p "$evil"
printf '#!/bin/sh\necho "$@" >> "%s/args"\n' "$T" >"$evil/sealnet"
chmod +x "$evil/sealnet"
(
  export SEALNET_BIN="$evil/sealnet" SEALNET_VM_ARTIFACTS="$T/art"
  . tests/vm/guest/lib.sh
  . datapath/lab/guest.sh
  check() { :; }  # lab_suite's modprobe check: not on this host
  lab_suite "$evil/lab"
  _run_cleanups
  trap - EXIT
) >/dev/null 2>&1
[ ! -e "$T/pwned" ] && pass "guest.sh's deferred cleanup: nothing injected through the path" ||
  fail "guest.sh's deferred cleanup ran a command from the path"
grep -qx "lab down" "$T/args" 2>/dev/null && pass "guest.sh's deferred cleanup ran '<binary> lab down'" ||
  fail "guest.sh's deferred cleanup did not run the binary (args: $(cat "$T/args" 2>/dev/null))"

echo "hygiene: $FAILED failed"
((FAILED == 0))
