#!/bin/bash
# `sealnet lab <cmd> --vm` leaves no results directory behind unless asked
# (--vm-results DIR), on success, on failure and when killed; with a fake
# tests/vm/vm.sh in a fake source tree, so no VM boots.
#   lab_vm_results_test.sh SOURCE_DIR
set -uo pipefail
src=${1:?source dir}
lab=$src/datapath/lab/lab.sh
tmp=$(mktemp -d /tmp/sealnet-labvm-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src/tests/vm"
cat > "$tmp/src/tests/vm/vm.sh" <<'FAKE'
#!/bin/bash
# fake vm.sh run OUTDIR SCRIPT: writes what the real one would, records OUTDIR
[ "$1" = run ] || exit 9
mkdir -p "$2/vm_lab" && printf '=== sealnet lab in the VM (fake)\nall delivered\n' > "$2/vm_lab/log"
echo "$2" > "$FAKE_MARK"
[ "${FAKE_SLEEP:-0}" = 0 ] || sleep "$FAKE_SLEEP"
exit "${FAKE_RC:-0}"
FAKE
chmod +x "$tmp/src/tests/vm/vm.sh"
fail=0
bad() { echo "FAIL: $*"; fail=1; }
run_lab() { SEALNET_BIN=/bin/true SEALNET_SRC=$tmp/src FAKE_MARK=$tmp/mark bash "$lab" "$@"; }

# Asked for nothing: the log is printed, the directory is gone.
out=$(run_lab up --vm 2>&1); rc=$?
[ $rc = 0 ] || bad "up --vm: exit $rc: $out"
grep -q '=== sealnet lab in the VM (fake)' <<<"$out" || bad "up --vm did not print the guest's log: $out"
d=$(cat "$tmp/mark")
[ ! -e "$d" ] || bad "up --vm left $d behind"

# A failing run: its exit status passes through, nothing is left either.
out=$(FAKE_RC=1 run_lab traffic --vm 2>&1); rc=$?
[ $rc = 1 ] || bad "failing --vm: exit $rc, not 1"
grep -q 'all delivered' <<<"$out" || bad "failing --vm did not print the log"
d=$(cat "$tmp/mark")
[ ! -e "$d" ] || bad "failing --vm left $d behind"

# Killed (TERM; a Ctrl-C, INT, reaches the whole foreground group the same way): nothing left.
FAKE_SLEEP=5 SEALNET_BIN=/bin/true SEALNET_SRC=$tmp/src FAKE_MARK=$tmp/mark bash "$lab" up --vm >/dev/null 2>&1 &
pid=$!
for _ in $(seq 50); do [ -s "$tmp/mark" ] && [ "$(cat "$tmp/mark")" != "$d" ] && break; sleep 0.1; done
kill -TERM $pid; wait $pid
d2=$(cat "$tmp/mark")
[ "$d2" != "$d" ] || bad "interrupted run never started"
for _ in $(seq 60); do [ -e "$d2" ] || break; sleep 0.1; done
[ ! -e "$d2" ] || bad "interrupted --vm left $d2 behind"

# Asked: --vm-results DIR keeps them there.
out=$(run_lab up --vm --vm-results "$tmp/keep" 2>&1); rc=$?
[ $rc = 0 ] || bad "--vm-results: exit $rc: $out"
[ "$(cat "$tmp/mark")" = "$tmp/keep" ] || bad "--vm-results did not run in $tmp/keep"
[ -f "$tmp/keep/vm_lab/log" ] || bad "--vm-results did not keep the log"
grep -q "results kept in $tmp/keep" <<<"$out" || bad "--vm-results does not say where: $out"

# --vm-results alone is a usage error.
out=$(run_lab up --vm-results "$tmp/x" 2>&1); rc=$?
[ $rc = 2 ] || bad "--vm-results without --vm: exit $rc, not 2"
grep -q -- '--vm-results goes with --vm' <<<"$out" || bad "no usage message: $out"
[ $fail = 0 ] && echo "lab --vm results: ok"
exit $fail
