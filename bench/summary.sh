#!/bin/bash
# The one table a bench/run.sh run ends with, for a closing note to copy:
#
#   bench/summary.sh RESULTS_DIR [RUNS_JSON]
#
# Reads the suites' JSON in RESULTS_DIR (bpf.json, crypto.json, control_plane.json,
# vm_e2e.json, agent_scale.json; whichever exist) and, from RUNS_JSON (run.sh's list of
# {suite, exit, skipped}; default RESULTS_DIR/machine.json's .suites), the suites that
# were skipped or failed. Prints a Markdown table: bench, shape, ours, baseline, ratio,
# target, holds?; writes the same rows as RESULTS_DIR/summary.json.
# Google Benchmark results run with repetitions are read as their medians.
set -euo pipefail
DIR=${1:?usage: bench/summary.sh RESULTS_DIR [RUNS_JSON]}
RUNS=${2:-}
command -v jq >/dev/null || { echo "summary: jq is not installed" >&2; exit 2; }

json_or_null() { if [[ -s $1 ]]; then cat "$1"; else echo null; fi; }
if [[ -n $RUNS && -s $RUNS ]]; then runs=$(cat "$RUNS"); else runs=$(jq '.suites // []' "$DIR/machine.json" 2>/dev/null || echo '[]'); fi

jq -n \
  --argjson bpf "$(json_or_null "$DIR/bpf.json")" \
  --argjson crypto "$(json_or_null "$DIR/crypto.json")" \
  --argjson cp "$(json_or_null "$DIR/control_plane.json")" \
  --argjson e2e "$(json_or_null "$DIR/vm_e2e.json")" \
  --argjson scale "$(json_or_null "$DIR/agent_scale.json")" \
  --argjson runs "$runs" '
  # Google Benchmark: the median aggregate of each name, or its one run.
  def gb_rows($j):
    if $j == null then [] else
      [$j.benchmarks[] | select(.error_occurred | not)] as $all
      | ([$all[] | select(.run_type == "aggregate" and .aggregate_name == "median")]) as $med
      | (if ($med | length) > 0 then $med else [$all[] | select(.run_type != "aggregate")] end)
      | map(. + {base: (.run_name // .name | sub("/iterations:[0-9]+"; "") | sub("/real_time$"; ""))})
    end;
  def row($bench; $shape; $ours; $base; $ratio; $op; $target):
    {bench: $bench, shape: $shape, ours: $ours, baseline: $base, ratio: $ratio,
     target: (if $target == null then null else "\($op) \($target)" end),
     holds: (if $target == null or $ratio == null then null
             elif $op == "<=" then $ratio <= $target else $ratio >= $target end)};
  def bpf_shape: {
    "BM_IpcacheShapeA": "a: 100,000 /32 pods + 5,000 /32 node addresses",
    "BM_IpcacheShapeB": "b: 5,000 nodes, a /24 pod CIDR + a /32 address each",
    "BM_IpcacheShapeC": "c: mixed /24, /26, /32 + 1,000 non-cluster CIDRs",
    "BM_IpcacheShapeCTo26": "c, to a pod of a /26 node",
    "BM_IpcacheShapeCTo32": "c, to a /32 pod",
    "BM_IpcacheShapeD": "d: IPv6 /64 pod CIDRs + /128 node addresses",
    "BM_IpcacheShapeBLocalPass": "local pass (shape b)",
    "BM_IpcacheShapeBToWire": "to_wire, ESP node to node (shape b)",
    "BM_Classifier/100000": "100,000 /32 pods (BM_Classifier)"};
  def gb_errors($j; $suite):
    if $j == null then empty else
      [$j.benchmarks[] | select(.error_occurred) | {base: (.name | sub("/iterations:[0-9]+"; "")), msg: .error_message}]
      | unique_by(.base)[] | row($suite; "\(.base): error: \(.msg)"; null; null; null; null; null) + {holds: false}
    end;
  [ (gb_rows($bpf)[] | select(bpf_shape[.base] != null)
       | row("bpf"; bpf_shape[.base]; .ns_per_packet; .baseline_ns; .ratio; "<=";
             (if .base == "BM_Classifier/100000" then 1.5 else 1.3 end))),
    (gb_rows($crypto)[] | select(.base == "esp_ratio/harness-aesni_gcm/128/1400")
       | row("crypto"; "ESP verify / intel-ipsec-mb ops, 1400 B"; null; null; .ratio; "<="; 1.1)),
    (if $cp == null then empty else ($cp.sizes | max_by(.peers))
       | row("control_plane"; "\(.peers) peers x \(.keys) keys: batched s vs ip -batch s"; .batched_s; .ip_s;
             .ratio; ">="; 8) end),
    (if $e2e == null then empty else $e2e.sizes[]
       | row("vm_e2e"; "\(.size) B datagrams: ESP vs plaintext pkt/s"; .esp.pps; .plaintext.pps; .ratio_pps;
             null; null) end),
    (if $scale == null then empty else
       row("agent_scale"; "\($scale.peers) etcd peers: converge s"; $scale.converge_s; null; null; null; null),
       (row("agent_scale"; "\($scale.peers) etcd peers: RSS MiB (steady)"; ($scale.rss_kib / 1024); null;
            null; null; null) + {target: "<= 64 MiB", holds: (($scale.rss_kib / 1024) <= 64)}) end),
    gb_errors($bpf; "bpf"), gb_errors($crypto; "crypto"),
    ($runs[] | select(.exit != 0)
       | row(.suite; (if .exit == 77 then "skipped: \(.skipped // "cannot run here")" else "failed: exit \(.exit)" end);
             null; null; null; null; null))
  ]' > "$DIR/summary.json"

jq -r '
  def num: if . == null then "-" elif type == "number" then
      (if . >= 100 then (. * 10 | round / 10) elif . >= 10 then (. * 100 | round / 100) else (. * 1000 | round / 1000) end | tostring)
    else tostring end;
  "| bench | shape | ours | baseline | ratio | target | holds? |",
  "|---|---|---|---|---|---|---|",
  (.[] | "| \(.bench) | \(.shape) | \(.ours | num) | \(.baseline | num) | \(.ratio | num) | \(.target // "-") | \(if .holds == null then "-" elif .holds then "yes" else "**no**" end) |")
' "$DIR/summary.json"
