#!/usr/bin/env bash
# sealnet set-up, step 2 of 2: run every test tier (unit, host, vm). Tiers that
# cannot run here (no root, no qemu) are reported as skipped with their reason.
#   ./run-tests.sh            all tiers
#   ./run-tests.sh -L unit    one tier (any ctest arguments pass through)
set -euo pipefail
cd "$(dirname "$0")"
BUILD_DIR=${BUILD_DIR:-build}
exec ctest --test-dir "$BUILD_DIR" --output-on-failure "$@"
