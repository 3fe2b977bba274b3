#!/usr/bin/env bash
# host.Package: the Debian package and the container image, as an operator gets them.
#   package_test.sh BUILD_DIR SOURCE_DIR
# 0. cmake --install honours DESTDIR and --prefix (the unit's paths follow).
# 1. cpack builds the .deb; its control data: Depends computed by dpkg-shlibdeps,
#    the version `sealnet --version` prints, the config a conffile.
# 2. A fresh Debian 12 root (mmdebstrap minbase, cached) installs it with apt:
#    `sealnet --version`, the binary's libraries all found, the unit enabled and
#    not started, `sealnet agent --check` on the packaged config with a generated
#    key (no key byte in its output); then purge + autoremove leave the root's
#    file list as it was.
# 3. deploy/image.sh makes the image's root file system from the same package;
#    its contents are checked (binary, libraries, version, no apt leftovers) and,
#    where podman runs, the image is imported and run with the DaemonSet's
#    capabilities only.
# Root only (chroot, mounts in a private mount namespace); skips (77) with the
# reason when a tool or the Debian mirror is missing.
set -euo pipefail
build=$(readlink -f "$1") src=$(readlink -f "$2")
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }
[ "$(id -u)" = 0 ] || skip "needs root (chroot, mounts)"
for t in cpack dpkg-deb dpkg-shlibdeps mmdebstrap unshare; do
  command -v "$t" >/dev/null || skip "$t is not installed (setup.sh installs it)"
done
sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || skip "no $sources to make a Debian root from"
[ -x "$build/cli/sealnet" ] || fail "no $build/cli/sealnet: build first"

tmp=$(mktemp -d /var/tmp/sealnet-package.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# ---- 0. cmake --install, with DESTDIR and with another prefix -------------------
DESTDIR=$tmp/d1 cmake --install "$build" >"$tmp/install1.log" 2>&1 || { cat "$tmp/install1.log"; fail "cmake --install"; }
DESTDIR=$tmp/d2 cmake --install "$build" --prefix /opt/sealnet >"$tmp/install2.log" 2>&1 ||
  { cat "$tmp/install2.log"; fail "cmake --install --prefix"; }
for f in d1/usr/sbin/sealnet d1/lib/systemd/system/sealnet-agent.service d1/etc/sealnet/agent.yaml \
         d1/usr/share/man/man8/sealnet.8 d1/usr/share/doc/sealnet/README.md \
         d2/opt/sealnet/sbin/sealnet d2/opt/sealnet/lib/systemd/system/sealnet-agent.service \
         d2/opt/sealnet/etc/sealnet/agent.yaml; do
  [ -e "$tmp/$f" ] || fail "cmake --install did not put ${f#*/} (DESTDIR $tmp/${f%%/*})"
done
grep -qx 'ExecStart=/opt/sealnet/sbin/sealnet agent --config /opt/sealnet/etc/sealnet/agent.yaml' \
  "$tmp/d2/opt/sealnet/lib/systemd/system/sealnet-agent.service" || fail "the unit does not follow --prefix"
[ "$(stat -c %a "$tmp/d1/etc/sealnet/agent.yaml")" = 600 ] || fail "the installed config is not 0600"
ok "cmake --install: FHS places under DESTDIR; --prefix /opt/sealnet moves the unit's paths with it"

# ---- 1. the package -----------------------------------------------------------
cpack --config "$build/CPackConfig.cmake" -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1 ||
  { cat "$tmp/cpack.log"; fail "cpack"; }
deb=$(ls "$tmp"/pkg/sealnet_*.deb)
version=$("$build/cli/sealnet" --version | sed 's/^sealnet //')
field() { dpkg-deb -f "$deb" "$1"; }
echo "package: $(basename "$deb"): Depends: $(field Depends)"
[ "$(field Version)" = "$version" ] || fail "package version $(field Version) != sealnet --version $version"
ok "the package's version is the binary's ($version)"
depends=$(field Depends)
for lib in libbpf1 libmnl0 libssl3 libstdc++6 libc6; do
  [[ ", $depends" == *", $lib "* ]] || fail "Depends lacks $lib: $(field Depends)"
done
ok "Depends computed from the binary's libraries"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles >"$tmp/conffiles"
grep -qx /etc/sealnet/agent.yaml "$tmp/conffiles" ||
  fail "/etc/sealnet/agent.yaml is not a conffile"
ok "/etc/sealnet/agent.yaml is a conffile"
dpkg-deb -c "$deb" >"$tmp/listing"
awk '{print $6}' "$tmp/listing" >"$tmp/contents"
for f in ./usr/sbin/sealnet ./lib/systemd/system/sealnet-agent.service ./etc/sealnet/agent.yaml \
         ./usr/share/man/man8/sealnet.8 ./usr/share/doc/sealnet/agent-config.md \
         ./usr/share/doc/sealnet/examples/kubernetes/daemonset.yaml; do
  grep -qx "$f" "$tmp/contents" || fail "package lacks $f"
done
grep -q '^-rw------- root/root .* ./etc/sealnet/agent.yaml$' "$tmp/listing" || fail "agent.yaml is not 0600 root"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./lib/systemd/system/sealnet-agent.service >"$tmp/unit"
grep -qx 'ExecStart=/usr/sbin/sealnet agent --config /etc/sealnet/agent.yaml' "$tmp/unit" || fail "the unit's ExecStart"
ok "binary, unit, config (0600), man page, docs and examples in their FHS places"

# ---- 2. install into a fresh root, run, purge ---------------------------------
cache=${SEALNET_ROOTFS_CACHE:-/var/cache/sealnet/rootfs}
mkdir -p "$cache"
base=$cache/bookworm-minbase.tar
if [ ! -s "$base" ]; then
  echo "making $base (mmdebstrap minbase, once)"
  mmdebstrap --quiet --variant=minbase --format=tar bookworm "$base.new" "$sources" >"$tmp/mmdebstrap.log" 2>&1 ||
    { cat "$tmp/mmdebstrap.log"; rm -f "$base.new"; skip "mmdebstrap could not reach the Debian mirror"; }
  mv "$base.new" "$base"
fi
root=$tmp/root
mkdir "$root" && tar -xf "$base" -C "$root"
cp "$deb" "$root/tmp/"
cp "$sources" "$root/etc/apt/sources.list.d/debian.sources"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
in_root() { unshare --mount --propagation private bash -c \
  'mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" && shift && chroot "$@"' _ "$root" "$root" "$@"; }
snapshot() {  # the root's files, but for what apt and the test itself touch
  (cd "$root" && find . -xdev \( -path ./proc -o -path ./dev -o -path ./tmp -o -path ./var/lib/apt/lists \
     -o -path ./var/cache -o -path ./var/log \) -prune -o -print | sort) >"$1"
}
in_root apt-get -q update >"$tmp/apt.log" 2>&1 || { tail -5 "$tmp/apt.log"; skip "apt-get update in the root failed (no mirror)"; }
snapshot "$tmp/before"
DEBIAN_FRONTEND=noninteractive in_root apt-get install -y -q --no-install-recommends "/tmp/$(basename "$deb")" \
  >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "apt-get install of the package"; }
ok "installed with apt into a fresh Debian 12 root"
[ "$(in_root /usr/sbin/sealnet --version)" = "sealnet $version" ] || fail "sealnet --version in the root"
ok "sealnet --version there: sealnet $version"
if in_root /usr/bin/ldd /usr/sbin/sealnet | grep -q 'not found'; then fail "libraries missing: $(in_root /usr/bin/ldd /usr/sbin/sealnet)"; fi
ok "every library of the binary is there (ldd)"
[ -L "$root/etc/systemd/system/multi-user.target.wants/sealnet-agent.service" ] || fail "the unit is not enabled"
ok "the unit is enabled (not started: postinst starts nothing)"
key=$(od -An -tx1 -N20 /dev/urandom | tr -d ' \n')
(umask 077; printf '3+ rfc4106(gcm(aes)) %s 128\n' "$key" >"$root/etc/sealnet/keys")
out=$(in_root /usr/sbin/sealnet agent --check --config /etc/sealnet/agent.yaml 2>&1) ||
  { echo "$out"; fail "sealnet agent --check on the packaged config"; }
echo "$out" | sed 's/^/  check: /'
for n in 8 12 16; do  # no run of key bytes, at any alignment, in the output
  for ((i = 0; i + n <= ${#key}; i += 2)); do
    [[ $out != *"${key:i:n}"* ]] || fail "the check's output holds key bytes"
  done
done
ok "sealnet agent --check passes on the packaged config, and prints no key byte"
rm -f "$root/etc/sealnet/keys"  # the operator's file, not the package's
DEBIAN_FRONTEND=noninteractive in_root apt-get purge -y -q --autoremove sealnet >"$tmp/purge.log" 2>&1 ||
  { cat "$tmp/purge.log"; fail "apt-get purge"; }
snapshot "$tmp/after"
diff "$tmp/before" "$tmp/after" >"$tmp/left" || { cat "$tmp/left"; fail "purge left files behind (above)"; }
ok "purge + autoremove leave the root as it was"

# ---- 3. the image ------------------------------------------------------------
"$src/deploy/image.sh" "$deb" "$tmp/image.tar" "$sources" >"$tmp/image.log" 2>&1 ||
  { cat "$tmp/image.log"; fail "deploy/image.sh"; }
cat "$tmp/image.log"
img=$tmp/img
mkdir "$img" && tar -xf "$tmp/image.tar" -C "$img"
[ "$(chroot "$img" /usr/sbin/sealnet --version)" = "sealnet $version" ] || fail "the image's sealnet --version"
if chroot "$img" /lib64/ld-linux-x86-64.so.2 --list /usr/sbin/sealnet | grep -q 'not found'; then fail "image lacks libraries"; fi
[ -z "$(find "$img/var/lib/apt/lists" "$img/var/cache/apt" -type f ! -name lock)" ] || fail "the image keeps apt lists or caches"
ok "image: sealnet $version, its libraries resolved by the loader alone (no shell), no apt lists"
if command -v podman >/dev/null && podman info >/dev/null 2>&1; then
  tag=localhost/sealnet-test:$$
  podman import --change 'ENTRYPOINT ["/usr/sbin/sealnet"]' \
    --change "LABEL org.opencontainers.image.version=$version" "$tmp/image.tar" "$tag" >/dev/null
  label=$(podman image inspect --format '{{ index .Labels "org.opencontainers.image.version" }}' "$tag")
  [ "$label" = "$version" ] || { podman rmi -f "$tag" >/dev/null; fail "the image's version label is $label"; }
  ok "podman imported the image as $tag, labelled with version $label"
  rc=0; got=$(podman run --rm --network host --cap-drop all --cap-add NET_ADMIN,BPF,PERFMON "$tag" --version 2>&1) || rc=$?
  podman rmi -f "$tag" >/dev/null
  if [ "$rc" = 0 ]; then
    [ "$got" = "sealnet $version" ] || fail "podman run printed $got"
    ok "podman ran it with NET_ADMIN, BPF and PERFMON only: $got"
  elif [[ $got == *"OCI permission denied"* ]]; then
    echo "note: this machine's sandbox refuses the container runtime ($got): the image's contents were checked instead"
  else
    fail "podman run: $got"
  fi
else
  echo "note: podman is $(command -v podman >/dev/null && echo 'installed but cannot run here' || echo 'not installed'): the image's contents were checked instead"
fi
echo "PASS"
