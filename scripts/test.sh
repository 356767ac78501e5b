#!/usr/bin/env bash
# Build tricolor and run the whole test suite.
#   scripts/test.sh                  normal build in build/
#   scripts/test.sh asan             ASan+UBSan build in build-asan/
#   scripts/test.sh tsan             TSan build in build-tsan/
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kind=${1:-normal}
case "$kind" in
  normal) dir=build; args=() ;;
  asan)   dir=build-asan; args=(-DTRICOLOR_SANITIZE=address -DCMAKE_BUILD_TYPE=Debug -DTRICOLOR_BUILD_BENCH=OFF) ;;
  tsan)   dir=build-tsan; args=(-DTRICOLOR_SANITIZE=thread -DTRICOLOR_BUILD_BENCH=OFF) ;;
  *) echo "usage: scripts/test.sh [normal|asan|tsan]" >&2; exit 2 ;;
esac
"$root/scripts/build.sh" "$dir" "${args[@]}"
cd "$root/$dir"
ctest --output-on-failure -j"$(nproc)"
