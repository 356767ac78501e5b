#!/usr/bin/env bash
# Install tricolor from BUILD_DIR into a temporary prefix, then build and run
# a consumer through find_package(tricolor) and through pkg-config.
set -euo pipefail
build=$1; src=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$src" -B "$tmp/cbuild" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cbuild" >/dev/null
"$tmp/cbuild/consumer_cmake"
libdir=$(ls -d "$tmp/prefix"/lib*/pkgconfig | head -1)
# The .pc file names the install prefix plainly: no "/../", no "//".
pc=$libdir/tricolor.pc
if ! grep -qx "prefix=$tmp/prefix" "$pc" || grep -qE '/\.\./|//' "$pc"; then
  echo "tricolor.pc has unclean paths:" >&2
  cat "$pc" >&2
  exit 1
fi
flags=$(PKG_CONFIG_PATH="$libdir" pkg-config --cflags --libs --static tricolor)
case "$flags" in
  *"/../"* | *"//"*) echo "pkg-config gives unclean paths: $flags" >&2; exit 1 ;;
esac
# shellcheck disable=SC2086
cc -std=c11 -o "$tmp/consumer_pc" "$src/consumer.c" $flags
LD_LIBRARY_PATH="$(dirname "$libdir")" "$tmp/consumer_pc"
