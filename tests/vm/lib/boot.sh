# Boots the prepared kernel under qemu (sourced by vm.sh).

# boot_vm run|shell OUTDIR: the host's / goes in read-only (9p tag 'host'), OUTDIR
# read-write (tag 'out'). Run mode: console into OUTDIR/console.log (and the terminal
# when VERBOSE=1); returns qemu's exit status (124 = SEALNET_VM_TIMEOUT hit).
boot_vm() {
  local mode=$1 outdir=$2 t0 rc
  kernel_paths
  local append="console=ttyS0 quiet panic=-1 sealnet_mode=$mode"
  append+=" sealnet_runner=$VM_DIR/guest/runner.sh sealnet_modules=$MODROOT"
  # TCG only: KVM fails on these (PVM) hosts. '-cpu max' gives the guest AES-NI and PCLMUL.
  # shellcheck disable=SC2054  # the commas are qemu's option syntax
  local args=(-accel tcg -cpu max -smp "$SEALNET_VM_SMP" -m "$SEALNET_VM_MEM" -no-reboot
    -kernel "$VMLINUZ" -initrd "$INITRD" -append "$append" -nic none -device virtio-rng-pci
    -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap
    -virtfs "local,path=$outdir,mount_tag=out,security_model=none")
  [[ -n ${KLOCK:-} ]] || die "boot_vm before prepare_kernel (the kernel is not locked)"
  if [[ $mode == shell ]]; then
    rc=0; "$SEALNET_VM_QEMU" "${args[@]}" -nographic || rc=$?
  else
    t0=$(now)
    # Inside { } || true a failing qemu does not trip set -e, and PIPESTATUS survives.
    { timeout -k 10 "$SEALNET_VM_TIMEOUT" "$SEALNET_VM_QEMU" "${args[@]}" \
        -display none -monitor none -serial stdio </dev/null 2>&1 |
        stamp_lines "$t0" | console_sink "$outdir/console.log"
      rc=${PIPESTATUS[0]}; } || true
    log "qemu exit $rc after $(secs_since "$t0") s"
  fi
  return "$rc"
}

console_sink() { if [[ ${VERBOSE:-} == 1 ]]; then tee "$1"; else cat > "$1"; fi; }

stamp_lines() {  # prefix each console line with seconds since boot_vm started
  local t0=$1 line d
  while IFS= read -r line; do
    d=$(( $(now) - t0 ))
    printf '[%4d.%02d] %s\n' $((d / 1000000)) $((d % 1000000 / 10000)) "${line%$'\r'}"
  done
}
