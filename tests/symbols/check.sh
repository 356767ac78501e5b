#!/usr/bin/env bash
# check.sh HEADER SHARED_LIB STATIC_LIB...
# 1. The shared library exports exactly the functions and variables that
#    HEADER (tricolor.h) declares with TC_API, no more, no fewer.
# 2. Every global symbol the static libraries define is public (tc_...)
#    or carries the internal prefix (tci_...): nothing can collide with an
#    embedder's names (gc/namespace.h, scripts/gen-namespace.sh).
set -euo pipefail
header=$1 shared=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

# The identifier each TC_API declaration declares: the last word before
# its "(" (a function) or ";" (a variable).
grep '^TC_API ' "$header" |
    sed -E 's/\(.*//; s/;.*//; s/.*[ *]//' | sort -u > "$tmp/declared"
# Sanitizer builds add their own symbols (__odr_asan.NAME and the like).
sanitizer='^(__odr_asan|__asan|__tsan|__ubsan|__sancov|__msan)'
nm -D --defined-only "$shared" | awk '$2 ~ /[TDBRVW]/ { print $3 }' |
    sed 's/@.*//' | grep -v -E '^(_init|_fini|_edata|_end|__bss_start)$' |
    grep -v -E "$sanitizer" | sort -u > "$tmp/exported"
if ! diff -u "$tmp/declared" "$tmp/exported" > "$tmp/diff"; then
    echo "symbols: $shared exports other names than tricolor.h declares (- declared, + exported):"
    grep -E '^[-+][^-+]' "$tmp/diff"
    status=1
else
    echo "symbols: $shared exports exactly the $(wc -l < "$tmp/declared") names of tricolor.h"
fi

for lib in "$@"; do
    nm -g --defined-only "$lib" | awk '$2 ~ /[TDBRCVW]/ { print $3 }' |
        grep -v -E "$sanitizer" | grep -v -E '^(tc_|tci_)' > "$tmp/bad" || true
    if [[ -s $tmp/bad ]]; then
        echo "symbols: $lib defines names without the tc_ or tci_ prefix" \
             "(run scripts/gen-namespace.sh):"
        sed 's/^/  /' "$tmp/bad"
        status=1
    else
        echo "symbols: every global name in $(basename "$lib") is tc_ or tci_"
    fi
done
exit $status
