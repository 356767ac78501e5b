#!/usr/bin/env bash
# Soak test: tests/test_stress in soak mode for SECONDS (default 3600).
#   scripts/soak.sh [SECONDS]
#
# Builds build-soak/ (RelWithDebInfo with the library's assertions on,
# TRICOLOR_CHECKING) with scripts/build.sh, then runs test_stress with
# TC_STRESS_SOAK=1 and TRICOLOR_DEBUG=checkmark=1 (the test also turns on
# checkmark and poison in its tc_config): four mutators and a collecting
# thread for SECONDS, every object checked after each round.  A progress
# line every 60 s; at the end the cycles, the objects checked and the RSS
# drift (after the first 10% of the run against the end, and the maximum).
# The whole output is also in build-soak/soak.log.  The exit status is the
# test's.  TC_STRESS_SEED, TRICOLOR_MARK_WORKERS etc. pass through.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-3600}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" -lt 1 ]]; then
  echo "usage: scripts/soak.sh [SECONDS]   (default 3600)" >&2
  exit 2
fi

"$root/scripts/build.sh" build-soak -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTRICOLOR_CHECKING=ON -DTRICOLOR_BUILD_BENCH=OFF

log=$root/build-soak/soak.log
echo "soak.sh: test_stress for ${seconds} s (log: $log)"
set +e
TC_STRESS_SOAK=1 TC_STRESS_SECONDS="$seconds" TRICOLOR_DEBUG=checkmark=1 \
  "$root/build-soak/tests/test_stress" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
echo "== soak summary ($seconds s):"
grep -E '^(soak|stress): ' "$log" | grep -vE '^soak: [0-9]+ s, .*RSS [0-9.]+ MiB$' || true
if [[ $rc -eq 0 ]]; then
  echo "soak.sh: PASSED"
else
  echo "soak.sh: FAILED (exit status $rc)"
fi
exit "$rc"
