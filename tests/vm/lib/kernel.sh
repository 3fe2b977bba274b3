# Picks the guest kernel and builds the cache for it (sourced by vm.sh).
#
# Cache layout, one directory per kernel ABI name ($KVER):
#   $CACHE/$KVER/kernel/               vmlinuz, config, lib/modules/$KVER (trimmed, + extra/netdevsim.ko)
#   $CACHE/$KVER/initramfs.cpio.gz     busybox + the modules that mount the host's / over 9p
#   $CACHE/$KVER/{debs,kernel,initramfs}.stamp   what each finished stage made
#   ($CACHE/$KVER/debs/ exists only between the download and the kernel stage: image,
#   headers and kbuild debs plus the netdevsim sources; the linux-source deb is dropped.)
#   $CACHE/$KVER/lock                  a booting VM holds it shared; pruning takes it exclusive
# Each stage builds under a *.tmp.PID name and renames into place, then writes its stamp:
# an interrupted run leaves only tmp names, which the next run removes and redoes.

APT_UPDATED=

apt_update_once() {
  [[ -z $APT_UPDATED ]] || return 1
  APT_UPDATED=1
  log "refreshing apt lists (apt-get update)"
  apt-get update -qq >/dev/null 2>&1 || warn "apt-get update failed"
}

apt_candidate() {  # package -> candidate version, empty when apt has none
  apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -v '^(none)$' || true
}

# Newest kernel in the cache that finished preparing; used when apt cannot answer.
newest_ready_kernel() {
  local d
  d=$(find "$CACHE" -mindepth 2 -maxdepth 2 -name initramfs.stamp -printf '%h\n' 2>/dev/null | sort -V | tail -n 1)
  [[ -z $d ]] || basename "$d"
}

# Lists refreshed within a day: trusted before a download. (A cached kernel boots
# whatever their age, so a warm run never waits for apt-get update.)
apt_lists_fresh() { [[ -n $(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 -print -quit 2>/dev/null) ]]; }

# Sets KVER (ABI name, e.g. 6.12.117+deb12-amd64) and DEBVER (e.g. 6.12.117-1~deb12u1).
# Default: the highest plain-amd64 6.12 backport apt offers now whose linux-source of the
# same version is also offered (netdevsim is built from it). SEALNET_VM_KVER pins one.
pick_kernel() {
  KVER=${SEALNET_VM_KVER:-} DEBVER=${SEALNET_VM_DEBVER:-}
  if [[ -n $KVER && -f $CACHE/$KVER/initramfs.stamp ]]; then
    DEBVER=$(sed -n 's/^debver=//p' "$CACHE/$KVER/initramfs.stamp"); return
  fi
  if ! command -v apt-cache >/dev/null; then
    KVER=${KVER:-$(newest_ready_kernel)}
    [[ -n $KVER && -f $CACHE/$KVER/initramfs.stamp ]] || skip "no apt-cache and no prepared kernel in $CACHE"
    DEBVER=$(sed -n 's/^debver=//p' "$CACHE/$KVER/initramfs.stamp"); return
  fi
  local series=${SEALNET_VM_SERIES//./\\.} cands k v found _
  for _ in 1 2; do
    if [[ -n ${SEALNET_VM_KVER:-} ]]; then
      cands=$SEALNET_VM_KVER
    else
      cands=$(apt-cache pkgnames "linux-image-$SEALNET_VM_SERIES." 2>/dev/null |
              sed -n "s/^linux-image-\($series\.[0-9]*+deb[0-9]*-amd64\)-unsigned\$/\1/p" | sort -V -r)
    fi
    found=
    for k in $cands; do
      v=${SEALNET_VM_DEBVER:-$(apt_candidate "linux-image-$k-unsigned")}
      [[ -n $v ]] || continue
      # No "| grep -q" under pipefail: grep's early exit SIGPIPEs apt-cache (a false "no").
      if [[ $(apt-cache madison "linux-source-$SEALNET_VM_SERIES" 2>/dev/null) == *"| $v |"* ]]; then
        found=1; break
      fi
    done
    if [[ -n $found ]]; then
      KVER=$k DEBVER=$v
      [[ -f $CACHE/$k/initramfs.stamp ]] || apt_lists_fresh || { apt_update_once && continue; }
      return
    fi
    apt_update_once || break      # lists missing or stale: refresh once and look again
  done
  # apt offers nothing usable (offline, no lists): a prepared kernel still boots.
  k=$(newest_ready_kernel)
  if [[ -z ${SEALNET_VM_KVER:-} && -n $k ]]; then
    warn "apt offers no usable linux-image-$SEALNET_VM_SERIES.*-amd64-unsigned; using cached $k"
    KVER=$k DEBVER=$(sed -n 's/^debver=//p' "$CACHE/$k/initramfs.stamp"); return
  fi
  skip "apt offers no linux-image-${SEALNET_VM_KVER:-$SEALNET_VM_SERIES.*+deb12-amd64}-unsigned with a matching linux-source-$SEALNET_VM_SERIES"
}

# Ready = every stage done and the initramfs made from the current guest/init.
init_hash() { sha256sum "$VM_DIR/guest/init" | cut -c1-16; }
kernel_ready() { grep -qx "init=$(init_hash)" "$CACHE/$KVER/initramfs.stamp" 2>/dev/null; }

# Paths of the prepared kernel, valid after prepare_kernel.
kernel_paths() {
  KDIR=$CACHE/$KVER
  VMLINUZ=$KDIR/kernel/vmlinuz
  MODROOT=$KDIR/kernel/lib/modules     # bind-mounted over the guest's /lib/modules
  INITRD=$KDIR/initramfs.cpio.gz
}

# Holds a shared lock on $KDIR/lock from here to the end of the process (the boot):
# pruning by a concurrent run takes that lock exclusively, so it never removes a
# kernel between our readiness check and our boot.
lock_kernel() {
  while :; do
    mkdir -p "$KDIR"
    exec {KLOCK}>"$KDIR/lock"
    flock -s "$KLOCK"
    [[ /proc/self/fd/$KLOCK -ef $KDIR/lock ]] && return   # not pruned while we waited
    exec {KLOCK}>&-
  done
}

prepare_kernel() {
  kernel_paths
  lock_kernel
  if kernel_ready; then prune_older_kernels; return 0; fi
  check_prepare_host
  local lockfd
  exec {lockfd}>"$CACHE/.prepare.lock"
  flock "$lockfd"                      # one preparer at a time; the others wait, then find it done
  if ! kernel_ready; then
    local t0; t0=$(now)
    log "preparing kernel $KVER ($DEBVER) in $KDIR"
    rm -rf "$KDIR"/*.tmp.*            # what an interrupted run was making
    [[ ! -f $KDIR/kernel.stamp ]] || rm -rf "$KDIR/debs" "$KDIR/debs.stamp"
    [[ -f $KDIR/kernel.stamp ]] || { [[ -f $KDIR/debs.stamp ]] || fetch_debs; build_kernel_tree; }
    build_initramfs
    log "kernel $KVER prepared in $(secs_since "$t0") s"
    prune_older_kernels
  fi
  flock -u "$lockfd"; exec {lockfd}>&-
}

# apt-get download, never install: the headers package would pull the kernel onto the host.
fetch_debs() {
  local tmp=$KDIR/debs.tmp.$$ pkgs deps d out
  deps=$(apt-cache show "linux-headers-$KVER=$DEBVER" 2>/dev/null | sed -n 's/^Depends: //p' | sed -n 1p |
         tr ',' '\n' | sed -n 's/^ *\(linux-\(headers-[^ ]*-common\|kbuild-[^ ]*\)\).*/\1/p')
  pkgs="linux-image-$KVER-unsigned=$DEBVER linux-headers-$KVER=$DEBVER linux-source-$SEALNET_VM_SERIES=$DEBVER"
  for d in $deps; do pkgs+=" $d=$DEBVER"; done
  mkdir -p "$tmp"
  log "apt-get download $pkgs"
  if ! out=$(cd "$tmp" && apt-get download $pkgs 2>&1); then
    # The mirror may have moved on since the lists were read: refresh once, retry.
    if apt_update_once && out=$(cd "$tmp" && apt-get download $pkgs 2>&1); then :; else
      rm -rf "$tmp"; printf '%s\n' "$out" | grep -v unsandboxed >&2
      skip "cannot download kernel $KVER ($DEBVER) with apt-get"
    fi
  fi
  log "downloaded $(du -sh "$tmp" | cut -f1); extracting drivers/net/netdevsim from linux-source"
  # Only netdevsim is needed from the ~150 MB source package: keep that, drop the deb.
  local src="linux-source-$SEALNET_VM_SERIES"
  mkdir -p "$tmp/netdevsim"
  dpkg-deb --fsys-tarfile "$tmp/${src}_${DEBVER}_all.deb" | tar -xO "./usr/src/$src.tar.xz" |
    tar -xJ -C "$tmp/netdevsim" --strip-components=4 "$src/drivers/net/netdevsim" ||
    die "cannot extract drivers/net/netdevsim from ${src}_${DEBVER}_all.deb"
  rm -f "$tmp/${src}_"*.deb
  rm -rf "$KDIR/debs"; mv "$tmp" "$KDIR/debs"
  printf 'kver=%s\ndebver=%s\ndate=%s\n' "$KVER" "$DEBVER" "$(date -Is)" > "$KDIR/debs.stamp"
}

# Unpacks image + headers (dpkg-deb -x), builds netdevsim out of tree, keeps only the
# kernel, its config and a trimmed module tree; the debs and headers are deleted after.
# Runs from the debs stage's output only, so an interrupted build simply starts over.
build_kernel_tree() {
  local work=$KDIR/work.tmp.$$ out=$KDIR/kernel.tmp.$$ f
  local root=$work/root hdrs=$work/root/usr/src/linux-headers-$KVER nsim=$work/netdevsim
  mkdir -p "$root"
  for f in "$KDIR"/debs/*.deb; do dpkg-deb -x "$f" "$root"; done
  cp -a "$KDIR/debs/netdevsim" "$nsim"
  # The headers' Makefile includes the -common tree by absolute /usr/src path: point it at ours.
  sed -i "s#^include /usr/src/#include $root/usr/src/#" "$hdrs/Makefile"
  log "building netdevsim.ko"
  # CONFIG_DEBUG_INFO_BTF_MODULES= : no BTF for the module, else pahole (dwarves) is required.
  make -s -C "$hdrs" M="$nsim" CONFIG_NETDEVSIM=m CONFIG_DEBUG_INFO_BTF_MODULES= \
       -j"$(nproc)" modules > "$work/netdevsim-build.log" 2>&1 ||
    { cat "$work/netdevsim-build.log" >&2; die "netdevsim build failed (log above)"; }
  strip --strip-debug "$nsim/netdevsim.ko"
  mkdir -p "$out/lib/modules" "$root/lib/modules/$KVER/extra"
  cp "$nsim/netdevsim.ko" "$root/lib/modules/$KVER/extra/"
  trim_modules "$root" "$KVER"
  mv "$root/lib/modules/$KVER" "$out/lib/modules/"
  cp "$root/boot/vmlinuz-$KVER" "$out/vmlinuz"
  cp "$root/boot/config-$KVER" "$out/config"
  rm -rf "$KDIR/kernel"; mv "$out" "$KDIR/kernel"
  printf 'kver=%s\ndebver=%s\ndate=%s\nnetdevsim=%s\n' "$KVER" "$DEBVER" "$(date -Is)" \
    "$(modinfo -b "$KDIR/kernel" -k "$KVER" -F vermagic netdevsim 2>/dev/null)" > "$KDIR/kernel.stamp"
  rm -rf "$work" "$KDIR/debs" "$KDIR/debs.stamp"
  log "kernel tree $(du -sh "$KDIR/kernel" | cut -f1)"
}

# The VM needs networking, crypto, filesystems and virtio, not sound, GPUs or Wi-Fi:
# keep those subtrees plus every dependency of what is kept (modules.dep is transitive).
MODULE_KEEP='^(extra|kernel/(arch|crypto|lib|block|fs|net|drivers/(net|virtio|char|block|ptp|pps|dca)))/'
MODULE_DROP='^kernel/(net/(wireless|mac80211|bluetooth|nfc|ieee802154|mac802154)|drivers/net/(wireless|ethernet|usb|can|wwan|ieee802154|hamradio|arcnet|fddi|wan))/'

trim_modules() {
  local root=$1 kver=$2 m=$1/lib/modules/$2 before
  depmod -b "$root" "$kver"
  before=$(du -sh "$m" | cut -f1)
  awk -v keep="$MODULE_KEEP" -v drop="$MODULE_DROP" '
    { sub(":$", "", $1) }
    $1 ~ keep && $1 !~ drop { for (i = 1; i <= NF; i++) print $i }' "$m/modules.dep" | sort -u > "$m/.keep"
  (cd "$m" && find kernel -name '*.ko*' | sort | comm -23 - .keep | xargs -r rm -f)
  find "$m/kernel" -depth -type d -empty -delete
  rm -f "$m/.keep"
  depmod -b "$root" "$kver"
  log "module tree trimmed from $before to $(du -sh "$m" | cut -f1)"
}

# Only what PID 1 needs to reach the host's /: everything else loads from there via 9p.
build_initramfs() {
  local st=$KDIR/initramfs.tmp.$$ f b
  mkdir -p "$st/bin" "$st/mods"
  cp /bin/busybox "$st/bin/busybox"
  install -m755 "$VM_DIR/guest/init" "$st/init"
  : > "$st/modules.list"
  for b in virtio_pci 9pnet_virtio 9p overlay; do
    modprobe -d "$KDIR/kernel" -S "$KVER" --show-depends "$b"
  done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' | while read -r f; do
    b=$(basename "$f"); b=${b%.xz}; b=${b%.zst}
    case $f in
      *.xz)  xz -dc "$f" > "$st/mods/$b" ;;
      *.zst) zstd -dcq "$f" > "$st/mods/$b" ;;
      *)     cp "$f" "$st/mods/$b" ;;
    esac
    echo "$b" >> "$st/modules.list"
  done
  (cd "$st" && find . | cpio -o -H newc --quiet | gzip -1) > "$KDIR/initramfs.cpio.gz.tmp.$$"
  mv "$KDIR/initramfs.cpio.gz.tmp.$$" "$KDIR/initramfs.cpio.gz"
  rm -rf "$st"
  printf 'kver=%s\ndebver=%s\ndate=%s\ninit=%s\n' "$KVER" "$DEBVER" "$(date -Is)" \
    "$(init_hash)" > "$KDIR/initramfs.stamp"
}

# A newer kernel makes older ones dead weight. Only older ones go (a run pinned to an
# old SEALNET_VM_KVER must not make the default's cache go away), and only when no
# run holds them (lock_kernel).
prune_older_kernels() {
  local d k fd
  for d in "$CACHE"/*/; do
    d=${d%/}; k=$(basename "$d")
    [[ $k =~ ^[0-9]+\.[0-9]+\. && $k != "$KVER" ]] || continue
    [[ $(printf '%s\n' "$k" "$KVER" | sort -V | tail -1) == "$KVER" ]] || continue
    exec {fd}>"$d/lock"
    if flock -n -x "$fd"; then log "pruning older kernel $k"; rm -rf "$d"; fi
    exec {fd}>&-
  done
}
