#!/usr/bin/env bash
# Build tricolor and run the demo with one trace line per cycle on stderr.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh" build
TRICOLOR_TRACE=1 "$root/build/examples/demo"
