#!/usr/bin/env bash
# Install the Debian packages tricolor needs, if any is missing.  Idempotent:
# does nothing when all are present.  As root it runs apt-get; otherwise it
# prints the exact command to run and exits 1.
#   scripts/deps.sh          build + tests + benchmarks
#   scripts/deps.sh --plots  also gnuplot (benchmark report plots)
#   scripts/deps.sh --fuzz   also clang, libFuzzer and llvm-symbolizer
#                            (scripts/fuzz.sh)
set -euo pipefail

packages=(build-essential cmake pkg-config libatomic-ops-dev libcmocka-dev libgc-dev)
for arg in "$@"; do
  case $arg in
  --plots) packages+=(gnuplot-nox) ;;
  --fuzz) packages+=(clang libclang-rt-14-dev llvm) ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    echo "deps.sh: installing ${missing[*]}" >&2
    sudo sh -c "DEBIAN_FRONTEND=noninteractive $cmd"
    exit 0
  fi
  echo "deps.sh: missing Debian packages: ${missing[*]}" >&2
  echo "deps.sh: run as root:  sudo sh -c '$cmd'" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
