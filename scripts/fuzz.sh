#!/usr/bin/env bash
# Build the libFuzzer targets (tests/fuzz) with clang in build-fuzz/ and run
# each for SECONDS (default 60) on a temporary copy of its seed corpus
# (tests/fuzz/corpus/<name>/, which is never modified).
#   scripts/fuzz.sh [SECONDS]
#
# Exits non-zero if any target reports a crash, a failed property, a leak,
# a timeout, running out of memory or a sanitizer error; the reproducer is
# kept under build-fuzz/fuzz-artifacts/<target>/ and the command that
# replays it is printed.  Logs: build-fuzz/fuzz-logs/<target>.log.
#
# Needs clang and the libFuzzer runtime (Debian: clang libclang-rt-14-dev;
# llvm for llvm-symbolizer, symbolized stack traces).  Installs nothing
# itself: `scripts/deps.sh --fuzz` is run first, as every build script runs
# scripts/deps.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" -lt 1 ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS]   (each target runs SECONDS, default 60)" >&2
  exit 2
fi

"$root/scripts/deps.sh" --fuzz

# ---------------------------------------------------------------- checks
cc=${FUZZ_CC:-clang}
if ! command -v "$cc" >/dev/null; then
  echo "fuzz.sh: $cc not found: install the Debian packages clang libclang-rt-14-dev" >&2
  exit 1
fi
probe=$(mktemp -d)
work=""
trap 'rm -rf "$probe" ${work:+"$work"}' EXIT
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
  'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
  'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
  >"$probe/probe.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe" 2>"$probe/err"; then
  cat "$probe/err" >&2
  echo "fuzz.sh: $cc cannot link a libFuzzer target: install libclang-rt-14-dev" \
       "(the runtime matching $("$cc" --version | head -1))" >&2
  exit 1
fi
if ! grep -q 'add_subdirectory(tests/fuzz)' "$root/CMakeLists.txt"; then
  echo "fuzz.sh: the top-level CMakeLists.txt does not add tests/fuzz (TRICOLOR_FUZZ);" \
       "see tests/fuzz/README.md" >&2
  exit 1
fi

# ----------------------------------------------------------------- build
# -Werror off: a warning only clang gives must not stop a fuzzing run.
# TRICOLOR_CHECKING on: the library's assertions are part of what we test.
build=$root/build-fuzz
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTRICOLOR_FUZZ=ON -DTRICOLOR_WERROR=OFF -DTRICOLOR_CHECKING=ON \
  -DTRICOLOR_BUILD_TESTS=OFF -DTRICOLOR_BUILD_BENCH=OFF -DTRICOLOR_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz_options fuzz_lisp_reader

# ------------------------------------------------------------------- run
# target:corpus:max_len.  fuzz_options ignores inputs over 4 KiB; the
# reader's limit is 16 KiB, room for its 10,001-deep regression inputs.
targets=(fuzz_options:options:1024 fuzz_lisp_reader:lisp_reader:16384)
mkdir -p "$build/fuzz-logs"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
failed=0
for t in "${targets[@]}"; do
  IFS=: read -r name corpus max_len <<<"$t"
  exe=$build/tests/fuzz/$name
  work=$(mktemp -d)
  cp -r "$root/tests/fuzz/corpus/$corpus/." "$work/"
  artifacts=$build/fuzz-artifacts/$name
  rm -rf "$artifacts"
  mkdir -p "$artifacts"
  log=$build/fuzz-logs/$name.log
  dict=()
  [[ -f "$root/tests/fuzz/$corpus.dict" ]] && dict=(-dict="$root/tests/fuzz/$corpus.dict")
  echo "== $name: ${seconds} s, -max_len=$max_len, corpus tests/fuzz/corpus/$corpus ($(ls "$work" | wc -l) files, copied)"
  set +e
  "$exe" "${dict[@]}" -max_total_time="$seconds" -max_len="$max_len" -timeout=30 \
    -rss_limit_mb=2048 -detect_leaks=1 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$work" >"$log" 2>&1
  rc=$?
  set -e
  rm -rf "$work"
  # A sanitizer report that did not end the run still fails it.
  if [[ $rc -eq 0 ]] && grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|property failed' "$log"; then
    rc=1
  fi
  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|^Done [0-9]+ runs' "$log" | sed 's/^/   /' || true
  if [[ $rc -ne 0 ]]; then
    failed=1
    echo "!! $name FAILED (exit status $rc); log: $log"
    grep -E 'ERROR:|SUMMARY:|property failed|runtime error:' "$log" | head -5 | sed 's/^/   /' || true
    found=0
    for f in "$artifacts"/*; do
      [[ -e "$f" ]] || continue
      found=1
      echo "   reproducer: $f"
      echo "   replay:     $exe $f"
    done
    [[ $found -eq 1 ]] || echo "   (no reproducer written: see the log)"
  else
    echo "   ok"
    rmdir "$artifacts" 2>/dev/null || true
  fi
done
exit $failed
