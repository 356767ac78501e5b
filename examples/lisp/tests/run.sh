#!/usr/bin/env bash
# run.sh LISP MODE INPUT EXPECTED STATUS MIN_CYCLES
#
# Run the lisp interpreter and compare what it prints with EXPECTED.
#   MODE script      `lisp INPUT`; EXPECTED is its standard output, then,
#                    if it wrote anything else on standard error, a line
#                    "--- stderr ---" and those lines.  The run has
#                    TRICOLOR_TRACE=1, and at least MIN_CYCLES trace lines
#                    must appear on standard error (a test under
#                    TRICOLOR_DEBUG=checkmark=1 proves nothing if the
#                    collector never ran).
#   MODE transcript  `lisp < INPUT` (the REPL, stdin not a terminal);
#                    EXPECTED is standard output and standard error
#                    together, in order.  No trace: MIN_CYCLES must be 0.
# The exit status must be STATUS.
set -euo pipefail
lisp=$1 mode=$2 input=$3 expected=$4 status=$5 min_cycles=$6
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

set +e
case "$mode" in
  script)
    TRICOLOR_TRACE=1 "$lisp" "$input" >"$tmp/stdout" 2>"$tmp/stderr"
    rc=$?
    cp "$tmp/stdout" "$tmp/actual"
    cycles=$(grep -c '^tc [0-9]* @' "$tmp/stderr")
    if grep -v '^tc [0-9]* @' "$tmp/stderr" >"$tmp/errors"; then
      { echo "--- stderr ---"; cat "$tmp/errors"; } >>"$tmp/actual"
    fi ;;
  transcript)
    TRICOLOR_TRACE=0 "$lisp" <"$input" >"$tmp/actual" 2>&1
    rc=$?
    cycles=0 ;;
  *) echo "run.sh: unknown mode $mode" >&2; exit 2 ;;
esac
set -e

fail=0
if ! diff -u "$expected" "$tmp/actual"; then
  echo "FAIL: the output differs from $expected (diff above: - expected, + actual)"
  fail=1
fi
if [ "$rc" -ne "$status" ]; then
  echo "FAIL: exit status $rc, expected $status"
  fail=1
fi
if [ "$cycles" -lt "$min_cycles" ]; then
  echo "FAIL: $cycles collection cycles ran, expected at least $min_cycles"
  fail=1
fi
[ "$fail" -eq 0 ] && echo "ok: output as expected, status $rc, $cycles cycles"
exit "$fail"
