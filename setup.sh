#!/usr/bin/env bash
# sealnet set-up, step 1 of 2: install every Debian package the project needs
# (build, tests, VM harness, DPDK, benchmarks), build, warm the VM cache, and run
# the main job once. Needs root for apt (uses sudo when not root).
#   ./setup.sh            BUILD_DIR=build, BUILD_TYPE=Release, SEALNET_VM_CACHE=/var/cache/sealnet/vm
set -euo pipefail
cd "$(dirname "$0")"
BUILD_DIR=${BUILD_DIR:-build}
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo

PACKAGES=(
  # build
  cmake make g++ clang llvm pkg-config libbpf-dev bpftool libmnl-dev libcli11-dev
  libssl-dev nlohmann-json3-dev libyaml-cpp-dev libcpp-httplib-dev libelf-dev zlib1g-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev iproute2 ethtool tcpdump iputils-ping jq openssl
  # the etcd discovery tests (datapath/discovery)
  etcd-server etcd-client
  # promtool and a real Prometheus scraping the status endpoint (unit.StatusPromtool, host.PrometheusScrape)
  prometheus
  # the VM harness (tests/vm)
  qemu-system-x86 busybox-static xz-utils zstd cpio bc kmod gcc-12
  # the wire harness and crypto baselines
  dpdk-dev libdpdk-dev libipsec-mb-dev
  # the Debian package and its test in a fresh root (host.Package), the image's root file system
  dpkg-dev mmdebstrap podman
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# apt lists are needed for the install and by the VM harness, which asks apt which
# kernel to boot: refresh them when older than a day.
lists=/var/lib/apt/lists
if [ ${#missing[@]} -gt 0 ] || [ -z "$(find "$lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
  $SUDO apt-get update -q
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Release (-O3), warnings as errors: the build CI tests is the one operators run.
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" -DSEALNET_WERROR=ON
cmake --build "$BUILD_DIR" -j"$(nproc)"

# Fetch and build the VM kernel and netdevsim now (cached), so the test run only boots.
$SUDO tests/vm/vm.sh prepare

# The main job on its embedded default: what ESP offload every device here really has.
$SUDO "$BUILD_DIR/cli/sealnet" probe
# Then sealnet at work: the 3-node lab, here if this kernel can do ESP, else in the VM.
if $SUDO "$BUILD_DIR/cli/sealnet" probe --no-trial --json | jq -e '.node.can_encrypt' >/dev/null; then
  $SUDO "$BUILD_DIR/cli/sealnet" lab up && $SUDO "$BUILD_DIR/cli/sealnet" lab traffic
  $SUDO "$BUILD_DIR/cli/sealnet" lab status; $SUDO "$BUILD_DIR/cli/sealnet" lab down
else
  echo "setup: this kernel cannot do ESP; running the sealnet lab in the project's VM"
  $SUDO "$BUILD_DIR/cli/sealnet" lab up --vm ||
    echo "setup: the lab in the VM did not complete (above); ./run-tests.sh -L vm says more"
fi
