#!/bin/bash
# Runs sealnet's benchmark suites and keeps their results as JSON (bench/README.md).
#
#   sudo bench/run.sh [--build DIR] [--out DIR] [--min-time S] [--repetitions N] [--no-vm] [--no-build]
#
# Host suites (Google Benchmark, --benchmark_format=json): bench_bpf (BPF programs
# through BPF_PROG_TEST_RUN), bench_probe (sealnet probe over 64 veth), bench_crypto
# (AES-GCM per core: OpenSSL, intel-ipsec-mb, the wire harness's ESP verify). VM suites,
# in one qemu boot: vm.e2e (bench/vm_e2e_suite.sh: the wire harness on a kernel ESP
# wire, and software ESP / plaintext throughput) and the control-plane sweep
# (offload/vm_bench.sh: 100 .. 5,000 peers x 2 keys, batched netlink vs ip -batch), and
# the agent with 5,000 peers registered on etcd (bench/vm_agent_scale.sh: converge time,
# memory, one join; agent_scale.json).
# Writes, in bench/results/<date>-<host>/ (or --out):
#   machine.json   CPU, cores, memory, kernel, OS, date, git commit, toolchain, and
#                  what ran with which exit status
#   bpf.json probe.json crypto.json   each bench's own JSON
#   vm_e2e.json    the VM suite's result (its e2e.json)
#   control_plane.json  per size: objects, batched and ip -batch seconds, ratio,
#                  one node joining (seconds, objects touched)
#   summary.md     the table the run ends with (bench, shape, ours, baseline, ratio,
#                  target, holds?), also printed; summary.json the same rows
# Logs (stderr of each suite, the VM console) go to a temporary directory, printed at
# the end; the results directory holds small JSON only.
# A suite that cannot run here is skipped with its reason (not root: bpf, probe and
# crypto; --no-vm, or a host where the VM cannot boot: the VM suites; a bench not
# built with --no-build) and listed in the summary; it does not fail the run.
# bench_bpf runs --repetitions times (default 5) and the summary takes the medians.
# Exit: 0 every suite that ran passed; 1 a suite failed (its JSON is kept when it
# wrote one); 2 usage or set-up.
set -uo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${SEALNET_BUILD:-$SRC/build}
OUT=""
MIN_TIME=0.1     # seconds per benchmark: the whole host part takes a minute or two
REPS=5           # bench_bpf repetitions (its ratios are read as medians)
VM=1 DO_BUILD=1

usage() { sed -n '4p' "$0" | sed 's/^# *//' >&2; exit 2; }
while (($#)); do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --min-time) MIN_TIME=$2; shift 2 ;;
    --repetitions) REPS=$2; shift 2 ;;
    --no-vm) VM=0; shift ;;
    --no-build) DO_BUILD=0; shift ;;
    -h|--help) usage ;;
    *) echo "bench/run.sh: unknown argument $1" >&2; usage ;;
  esac
done
say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }

# The host benches attach BPF programs, make namespaces and XFRM trial states, start
# DPDK: without root they are skipped (said in the summary), the rest still runs.
ROOT=0; ((EUID == 0)) && ROOT=1
((ROOT)) || say "not root: bpf, probe and crypto will be skipped (they need BPF, network namespaces and DPDK's EAL)"
command -v jq >/dev/null || die "jq is not installed (setup.sh installs it)"
[[ -f $BUILD/CMakeCache.txt ]] || die "no configured build in $BUILD (cmake -S . -B $BUILD, or --build DIR)"
BUILD=$(cd "$BUILD" && pwd)

if ((DO_BUILD)) && ((ROOT || VM)); then
  say "building the benches in $BUILD"
  cmake --build "$BUILD" -j2 --target bench_bpf bench_probe bench_crypto sealnet-wire sealnet_xfrm_driver >&2 ||
    die "build failed"
fi

STAMP=$(date +%Y-%m-%d-%H%M)
HOST=$(hostname -s 2>/dev/null || hostname)
OUT=${OUT:-$SRC/bench/results/$STAMP-$HOST}
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
LOGS=$(mktemp -d /tmp/sealnet-bench.XXXXXX)
say "results: $OUT; logs: $LOGS"

# ---- the machine ------------------------------------------------------------------
cpu_flags() {  # the flags that decide crypto speed
  local f; f=$(grep -m1 '^flags' /proc/cpuinfo)
  for x in aes vaes pclmulqdq vpclmulqdq avx2 avx512f sha_ni; do
    [[ " ${f#*:} " == *" $x "* ]] && printf '%s\n' "$x"
  done | jq -R . | jq -s .
}
machine_json() {
  local commit dirty
  commit=$(git -C "$SRC" rev-parse HEAD 2>/dev/null || echo unknown)
  dirty=$(git -C "$SRC" status --porcelain 2>/dev/null | grep -c . || true)
  jq -n \
    --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --arg host "$HOST" \
    --arg cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)" \
    --argjson cores "$(nproc)" \
    --argjson cores_online "$(grep -c '^processor' /proc/cpuinfo)" \
    --argjson flags "$(cpu_flags)" \
    --arg hypervisor "$(lscpu 2>/dev/null | sed -n 's/^Hypervisor vendor:[[:space:]]*//p')" \
    --argjson mem_kb "$(awk '/^MemTotal/ {print $2}' /proc/meminfo)" \
    --arg kernel "$(uname -r)" \
    --arg os "$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-}")" \
    --arg commit "$commit" --argjson dirty_files "${dirty:-0}" \
    --arg compiler "$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt" | xargs -r -I{} sh -c '{} --version | head -n1')" \
    --arg build_type "$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt")" \
    --arg dpdk "$(pkg-config --modversion libdpdk 2>/dev/null)" \
    --arg qemu "$(qemu-system-x86_64 --version 2>/dev/null | head -n1)" \
    --argjson min_time "$MIN_TIME" \
    '{date: $date, host: $host,
      cpu: {model: $cpu, cores: $cores, cores_online: $cores_online, crypto_flags: $flags,
            hypervisor: (if $hypervisor == "" then null else $hypervisor end)},
      memory_kb: $mem_kb, kernel: $kernel, os: $os,
      git: {commit: $commit, uncommitted_files: $dirty_files},
      build: {compiler: $compiler, type: $build_type, dpdk: $dpdk},
      qemu: $qemu, benchmark_min_time_s: $min_time}'
}
machine_json > "$OUT/machine.json" || die "cannot describe the machine"

# ---- the suites -------------------------------------------------------------------
declare -a RUNS=()   # JSON lines: {suite, file, exit, seconds[, skipped]}
record() { RUNS+=("$(jq -nc --arg s "$1" --arg f "$2" --argjson rc "$3" --argjson t "$4" \
  '{suite: $s, file: $f, exit: $rc, seconds: $t}')"); }
skip() {  # skip SUITE REASON: not run here, said so, not a failure
  say "$1: skipped: $2"
  RUNS+=("$(jq -nc --arg s "$1" --arg r "$2" '{suite: $s, file: "", exit: 77, seconds: 0, skipped: $r}')")
}

host_bench() {  # host_bench NAME BINARY [ARGS...]: OUT/NAME.json from the bench's JSON output
  local name=$1 bin=$2 t0=$SECONDS rc; shift 2
  ((ROOT)) || { skip "$name" "needs root"; return; }
  [[ -x $bin ]] || { skip "$name" "$bin is not built (ninja -C $BUILD ${bin##*/})"; return; }
  say "$name: $bin (min time ${MIN_TIME}s per benchmark) $*"
  "$bin" --benchmark_format=json --benchmark_min_time="$MIN_TIME" "$@" > "$LOGS/$name.json" 2> "$LOGS/$name.err"
  rc=$?
  # A bench can report an error per benchmark (error_occurred) and still exit 0.
  if jq -e '.benchmarks | length > 0' "$LOGS/$name.json" >/dev/null 2>&1; then
    cp "$LOGS/$name.json" "$OUT/$name.json"
    jq -e '[.benchmarks[] | select(.error_occurred)] | length == 0' "$OUT/$name.json" >/dev/null ||
      { say "$name: some benchmarks reported errors: $(jq -c '[.benchmarks[] | select(.error_occurred) | {name, error_message}]' "$OUT/$name.json")"; ((rc)) || rc=1; }
  else
    say "$name: no results (exit $rc); its stderr:"; tail -n 20 "$LOGS/$name.err" >&2; ((rc)) || rc=1
  fi
  record "$name" "$([[ -f $OUT/$name.json ]] && echo "$name.json")" "$rc" $((SECONDS - t0))
  say "$name: exit $rc after $((SECONDS - t0)) s"
}

host_bench bpf "$BUILD/bench/bench_bpf" --benchmark_repetitions="$REPS"
host_bench probe "$BUILD/bench/bench_probe"
host_bench crypto "$BUILD/bench/bench_crypto"

((VM)) || for s in vm_e2e control_plane agent_scale; do skip "$s" "needs the VM (--no-vm)"; done
if ((VM)); then
  t0=$SECONDS
  say "vm: one qemu boot (TCG), bench/vm_e2e_suite.sh, offload/vm_bench.sh, bench/vm_agent_scale.sh; ~15 minutes"
  SEALNET_BUILD=$BUILD VERBOSE=0 SEALNET_VM_SUITE_TIMEOUT=900 \
    "$SRC/tests/vm/vm.sh" run "$LOGS/vm" "$SRC/bench/vm_e2e_suite.sh" "$SRC/offload/vm_bench.sh" \
    "$SRC/bench/vm_agent_scale.sh" >"$LOGS/vm.out" 2>&1
  rc=$?
  suite_rc=$(cat "$LOGS/vm/vm_e2e_suite/rc" 2>/dev/null || echo "$rc")
  ((rc == 0)) && rc=$suite_rc
  if [[ -f $LOGS/vm/vm_e2e_suite/e2e.json ]]; then
    cp "$LOGS/vm/vm_e2e_suite/e2e.json" "$OUT/vm_e2e.json"
    jq -r '.sizes[] | "vm_e2e: \(.size) B datagrams: ESP/plaintext \(.ratio_pps * 1000 | round / 1000) (pkt/s and Mbit/s)"' \
      "$OUT/vm_e2e.json" >&2
  else
    say "vm_e2e: no result; the harness said:"; tail -n 30 "$LOGS/vm.out" >&2
  fi
  # 77: the VM cannot run on this host (reason in the log): every VM suite is skipped.
  if ((rc == 77)); then
    reason=$(grep -m1 -i 'skip' "$LOGS/vm.out" 2>/dev/null || echo "see $LOGS/vm.out")
    for s in vm_e2e control_plane agent_scale; do skip "$s" "the VM cannot run here: $reason"; done
    VM=0
  else
    record vm_e2e "$([[ -f $OUT/vm_e2e.json ]] && echo vm_e2e.json)" "$rc" $((SECONDS - t0))
    say "vm_e2e: exit $rc after $((SECONDS - t0)) s; suite log: $LOGS/vm/vm_e2e_suite/log"
  fi
fi

if ((VM)); then
  # The control-plane sweep (same boot): one summary line per size, "bench: k=v ...".
  summary=$LOGS/vm/vm_bench/summary.txt
  if [[ -s $summary ]]; then
    sed 's/^bench: //' "$summary" |
      jq -R 'split(" ") | map(select(contains("=")) | split("=") | {(.[0]): (.[1] | tonumber? // .)}) | add |
             {peers, keys, objects, rounds, batched_s: (.batched_ms / 1000), ip_s: (.ip_batch_ms / 1000),
              ratio, join_one_node_s: (.join_ms / 1000), join_objects_touched: .join_objects, ok: (.ok == 1)}' |
      jq -s '{bench: "sealnet-xfrm-driver bench (bench/driver/cp_bench.h), offload/vm_bench.sh",
              what: "N peers x 2 keys, as the agent makes them from a config of N peers: states and policies both directions into a fresh namespace; batched = the reconciler over netlink/transport (1 MiB per sendmsg, acks for refusals only), ip = ip -batch with the same objects; medians over rounds; join = one more node added to the converged set by the reconciler",
              note: "guest is emulated (TCG): compare the two times, not their absolute values",
              sizes: .}' > "$OUT/control_plane.json"
    jq -r '.sizes[] | "control_plane: \(.peers) peers: \(.objects) objects, batched \(.batched_s) s, ip -batch \(.ip_s) s, ratio \(.ratio), join \(.join_one_node_s) s / \(.join_objects_touched) objects"' \
      "$OUT/control_plane.json" >&2
  else
    say "control_plane: no result; log: $LOGS/vm/vm_bench/log"
  fi
  cp_rc=$(cat "$LOGS/vm/vm_bench/rc" 2>/dev/null || echo 1)
  [[ -f $OUT/control_plane.json ]] || ((cp_rc)) || cp_rc=1
  record control_plane "$([[ -f $OUT/control_plane.json ]] && echo control_plane.json)" "$cp_rc" 0
fi

if ((VM)); then
  # The agent with 5,000 peers on etcd (same boot): memory, converge, one join.
  scale=$LOGS/vm/vm_agent_scale/agent_scale.json
  if [[ -s $scale ]]; then
    cp "$scale" "$OUT/agent_scale.json"
    jq -r '"agent_scale: \(.peers) peers on etcd: converged in \(.converge_s) s, RSS \(.rss_kib / 1024 | floor) MiB (peak \(.peak_rss_kib / 1024 | floor)), one join \(.join_s) s / \(.join_objects_changed) objects"' "$scale" >&2
  else
    say "agent_scale: no result; log: $LOGS/vm/vm_agent_scale/log"
  fi
  record agent_scale "$([[ -f $OUT/agent_scale.json ]] && echo agent_scale.json)" \
    "$(cat "$LOGS/vm/vm_agent_scale/rc" 2>/dev/null || echo 1)" 0
fi

printf '%s\n' "${RUNS[@]}" | jq -s . > "$LOGS/runs.json"
jq --slurpfile runs "$LOGS/runs.json" '.suites = $runs[0]' "$OUT/machine.json" > "$LOGS/machine.json" &&
  cp "$LOGS/machine.json" "$OUT/machine.json"

# ---- the summary: one table for the closing note ------------------------------------
"$SRC/bench/summary.sh" "$OUT" "$LOGS/runs.json" > "$OUT/summary.md" 2>"$LOGS/summary.err" ||
  { say "summary: failed: $(tail -n 3 "$LOGS/summary.err")"; }
files=("$OUT"/*.json); say "done: $OUT (${files[*]##*/} summary.md)"
cat "$OUT/summary.md"
jq -e 'all(.[]; .exit == 0 or .exit == 77)' "$LOGS/runs.json" >/dev/null || { say "a suite did not pass: $(jq -c 'map(select(.exit != 0 and .exit != 77))' "$LOGS/runs.json")"; exit 1; }
