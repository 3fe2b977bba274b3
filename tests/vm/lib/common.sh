# Shared settings and helpers of the VM harness (sourced by vm.sh; host side only).
# Every knob is an environment variable so ctest, CI and developers drive it alike.

: "${SEALNET_VM_CACHE:=/var/cache/sealnet/vm}"   # debs, kernel, netdevsim, initramfs
: "${SEALNET_VM_QEMU:=qemu-system-x86_64}"
: "${SEALNET_VM_MEM:=1024}"        # MiB; the guest's / overlay lives in RAM (tmpfs)
: "${SEALNET_VM_SMP:=1}"
# SEALNET_VM_TIMEOUT: s for one boot; default 300 + the sum of the suites' timeouts
# (each suite has its own; this only catches a guest that hangs outside them).
: "${SEALNET_VM_SERIES:=6.12}"     # kernel series taken from bookworm(-security)

CACHE=$SEALNET_VM_CACHE

log()  { printf 'vm: %s\n' "$*"; }
warn() { printf 'vm: warning: %s\n' "$*" >&2; }
die()  { printf 'vm: error: %s\n' "$*" >&2; exit 1; }

# "Cannot run here" is not a failure: print the reason, leave it where ctest's suite
# tests will find it (SKIP_MARKER, set by ctest-boot), exit with the skip code 77.
skip() {
  printf 'vm: skipped: %s\n' "$*"
  if [[ -n ${SKIP_MARKER:-} ]]; then printf '%s\n' "$*" > "$SKIP_MARKER"; fi
  exit 77
}

now() { echo "${EPOCHREALTIME/./}"; }                      # microseconds
secs_since() { local d=$(( $(now) - $1 )); printf '%d.%01d' $((d / 1000000)) $((d % 1000000 / 100000)); }

cache_size() { if [[ -d $CACHE ]]; then du -sh "$CACHE" 2>/dev/null | cut -f1; else echo 0; fi; }

# Host prerequisites of a boot. Missing ones mean "skip", with the package to install.
check_boot_host() {
  [[ $EUID -eq 0 ]] || skip "not root (the harness needs root for apt-get, the cache and qemu's 9p export of /)"
  command -v "$SEALNET_VM_QEMU" >/dev/null || skip "no $SEALNET_VM_QEMU (apt-get install qemu-system-x86)"
  [[ -c /dev/null && -c /dev/urandom ]] || skip "no /dev/null or /dev/urandom"
  # The guest sees host paths unchanged; qemu's -append and -virtfs split on spaces and commas.
  local p
  for p in "$VM_DIR" "$CACHE"; do
    [[ $p != *[[:space:],]* ]] || skip "path '$p' contains a space or comma (unsupported by the kernel command line / -virtfs)"
  done
}

# Host tools needed to build the kernel cache (first run only).
check_prepare_host() {
  [[ $EUID -eq 0 ]] || skip "not root (needed for apt-get and $CACHE)"
  local t missing=()
  for t in apt-get:apt apt-cache:apt dpkg-deb:dpkg make:make gcc-12:gcc-12 xz:xz-utils \
           cpio:cpio gzip:gzip depmod:kmod modprobe:kmod strip:binutils flock:util-linux; do
    command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
  done
  [[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1 || missing+=(busybox-static)
  ((${#missing[@]} == 0)) || skip "missing host tools; apt-get install ${missing[*]}"
}
