#!/bin/bash
# Runs inside the guest (chroot onto the host's /, as root), started by guest/init.
#   runner.sh run OUT    run every suite listed in OUT/manifest, results into OUT/<name>/
#   runner.sh shell      interactive shell with the base modules loaded
# OUT is the host directory shared as 9p tag 'out'. Manifest lines (written by vm.sh):
#   env NAME=VALUE                 exported to every suite
#   senv NAME=VALUE                exported to the next suite only
#   suite NAME TIMEOUT_S PATH      one guest suite (bash script, run as root)
# Per suite: OUT/NAME/log (its output), OUT/NAME/rc (exit code; 124 = timed out);
# OUT/done marks a complete run, so the host can tell it from a crash.
# shellcheck disable=SC2086  # BASE_MODULES is a word list on purpose
set -uo pipefail
mode=${1:-shell} out=${2:-/run/sealnet-out}

# What every suite may take for granted. Without udev nothing loads aesni_intel by
# itself and the guest would silently use generic AES.
BASE_MODULES="esp4 esp4_offload xfrm_user xfrm_algo veth netdevsim sch_ingress cls_bpf
              bridge aesni_intel gcm ghash_generic seqiv"

echo "runner: $(uname -r), $(nproc) vCPU, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
# -a: without it the extra names would become module parameters of the first.
modprobe -a $BASE_MODULES || echo "runner: warning: modprobe -a" $BASE_MODULES "failed"

if [[ $mode == shell ]]; then
  # The suites' environment, so that "bash <suite>" runs one by hand.
  if [[ -f $out/manifest ]]; then
    while read -r kind rest; do [[ $kind != env ]] || export "${rest?}"; done < "$out/manifest"
  fi
  export SEALNET_VM_ARTIFACTS=/tmp
  echo "runner: shell with the suites' environment (env | grep SEALNET); run one: bash <suite>; leave: exit"
  exec bash -i
fi

# Leave the guest as the next suite expects it, and say what a suite left behind.
reset_guest() {
  local name=$1 left=() d
  while read -r d _; do left+=("netns:$d"); ip netns del "$d"; done < <(ip netns list)
  for d in /sys/bus/netdevsim/devices/netdevsim*; do
    [[ -e $d ]] || continue
    left+=("$(basename "$d")"); echo "${d##*netdevsim}" > /sys/bus/netdevsim/del_device
  done
  [[ -z $(ip xfrm state) ]] || { left+=(xfrm-state); ip xfrm state flush; }
  [[ -z $(ip xfrm policy) ]] || { left+=(xfrm-policy); ip xfrm policy flush; }
  ((${#left[@]} == 0)) || echo "runner: warning: suite $name left behind: ${left[*]} (removed)"
}

declare -a envs=() senvs=()
while read -r kind rest; do
  case $kind in
    env) envs+=("$rest") ;;
    senv) senvs+=("$rest") ;;
    suite)
      read -r name timeout script <<< "$rest"
      mkdir -p "$out/$name"
      echo "runner: ===== suite $name ($script, timeout ${timeout}s) ====="
      t0=${EPOCHREALTIME/./}
      (cd / && exec env -i PATH="$PATH" HOME=/root LANG=C.UTF-8 TERM=dumb "${envs[@]}" "${senvs[@]}" \
         SEALNET_VM_ARTIFACTS="$out/$name" SEALNET_VM_SUITE="$name" \
         timeout -k 10 "$timeout" bash "$script") </dev/null 2>&1 | tee "$out/$name/log"
      rc=${PIPESTATUS[0]}
      ((rc == 124)) && echo "runner: suite $name timed out after ${timeout}s" | tee -a "$out/$name/log"
      reset_guest "$name" 2>&1 | tee -a "$out/$name/log"
      dt=$(( ${EPOCHREALTIME/./} - t0 ))
      echo "runner: suite $name exit $rc after $((dt / 1000000)).$((dt % 1000000 / 100000)) s"
      echo "$rc" > "$out/$name/rc"
      senvs=()
      ;;
  esac
done < "$out/manifest"
echo complete > "$out/done"
