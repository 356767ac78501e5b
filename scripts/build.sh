#!/usr/bin/env bash
# Configure and build tricolor into a build directory.
#   scripts/build.sh [BUILD_DIR] [extra cmake arguments...]
# Default BUILD_DIR: build.  Installs missing Debian packages first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh"
dir=${1:-build}
shift || true
cmake -S "$root" -B "$root/$dir" "$@" >/dev/null
cmake --build "$root/$dir" -j"$(nproc)"
