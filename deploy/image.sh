#!/usr/bin/env bash
# The agent's container image without a registry: its root file system made from
# Debian packages (mmdebstrap, Debian 12 minbase + the sealnet .deb, whose
# Depends bring exactly its run-time libraries), written as a tarball that
# `podman import` (or `docker import`) turns into an image. deploy/Containerfile
# is the same image for those who have a registry.
#   deploy/image.sh PACKAGE.deb OUT.tar [SOURCES]
#     SOURCES: apt sources for mmdebstrap (default: this host's debian.sources)
#   podman import --change 'ENTRYPOINT ["/usr/sbin/sealnet"]' --change 'LABEL org.opencontainers.image.version=VERSION' \
#     --change 'CMD ["agent","--config","/etc/sealnet/config/agent.yaml"]' OUT.tar sealnet/agent:VERSION
set -euo pipefail
usage="usage: $0 PACKAGE.deb OUT.tar [SOURCES]"
deb=$(readlink -f "${1:?$usage}")
out=${2:?$usage}
sources=${3:-/etc/apt/sources.list.d/debian.sources}
[ -f "$deb" ] || { echo "image: no package at $deb" >&2; exit 1; }
[ -f "$sources" ] || { echo "image: no apt sources at $sources" >&2; exit 1; }
command -v mmdebstrap >/dev/null || { echo "image: mmdebstrap is not installed (setup.sh installs it)" >&2; exit 1; }
name=$(basename "$deb")
# minbase, then the package through apt (so its Depends resolve), then none of
# apt's caches or lists: the image holds the agent and its libraries.
mmdebstrap --quiet --variant=minbase --format=tar \
  --customize-hook="copy-in $deb /tmp" \
  --customize-hook="chroot \"\$1\" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends /tmp/$name" \
  --customize-hook='rm -rf "$1"/tmp/*.deb "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
  --customize-hook='mkdir -p "$1"/etc/sealnet/config "$1"/etc/sealnet/keys-dir' \
  bookworm "$out" "$sources"
echo "image: $out ($(du -h "$out" | cut -f1)) from $name"
