#!/usr/bin/env bash
# The layering rule of README.md ("Layout"), checked on every #include "folder/..."
# of the project's C and C++ sources: a folder may include only itself and the
# folders below it, and the folders' include graph has no cycle.
#   scripts/check-layers.sh [SOURCE_DIR]   exit 0 = clean, 1 = violations (listed)
# tests/ is exempt (tests may reach any layer they test); generated files
# (skeletons, embedded scripts) have no folder prefix and are not checked.
set -euo pipefail
root=${1:-$(dirname "$0")/..}
cd "$root"

# folder: the folders it may include, bottom up. "+name" = everything name may, and name.
declare -A allowed=(
  [core]=""
  [netlink]="core"
  [keys]="core"
  [probe]="core netlink"
  [bpf]="core netlink keys"
  [fallback]="core netlink probe"
  [offload]="core netlink keys probe bpf fallback"
  [datapath]="core netlink keys probe bpf fallback offload"
  [bench]="core netlink keys probe bpf fallback offload datapath"
  [cli]="core netlink keys probe bpf fallback offload datapath bench"
)

bad=0
edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
while IFS= read -r file; do
  from=${file%%/*}
  [ -n "${allowed[$from]+x}" ] || continue
  while IFS= read -r line; do
    to=${line#*\"}; to=${to%%/*}
    [ "$to" = "$from" ] && continue
    [ -n "${allowed[$to]+x}" ] || continue   # not a project folder (generated or system)
    echo "$from $to" >>"$edges"
    case " ${allowed[$from]} " in
      *" $to "*) ;;
      *) echo "layers: $file includes $to/ (${line#*\"}), which $from/ may not: $from/ may include ${allowed[$from]:-nothing}" >&2
         bad=1 ;;
    esac
  done < <(grep -hE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[a-z_]+/' "$file" | sed -E 's/^[^"]*"([^"]*)".*/"\1/')
done < <(find . -path ./build -prune -o -path './build-*' -prune -o -path ./tests -prune -o \
              -type f \( -name '*.h' -o -name '*.c' -o -name '*.cpp' \) -print | sed 's#^\./##' | sort)

# A cycle between folders is a violation even where the table above would allow it.
if ! sort -u "$edges" | tsort >/dev/null 2>"$edges.err"; then
  echo "layers: the folders' includes form a cycle:" >&2
  grep -v '^tsort: -: input contains a loop:$' "$edges.err" | sed 's/^tsort: /  /' >&2
  bad=1
fi
rm -f "$edges.err"

if [ "$bad" -eq 0 ]; then
  echo "layers: clean; folder dependencies (from -> to, as included):"
  sort -u "$edges" | awk '{d[$1]=d[$1] " " $2} END {for (f in d) print "  " f ":" d[f]}' | sort
fi
exit "$bad"
