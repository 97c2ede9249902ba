#!/usr/bin/env bash
# Install what the build and the tests need on Debian 12, and only what is missing.
# Runs apt-get as root, or through sudo; says what to install when it can do neither.
set -euo pipefail
packages=(
  cmake make gcc libc6-dev binutils pkg-config   # build
  libzydis-dev                                   # instruction decoder (lib/decode.c)
  uthash-dev                                     # hash tables (lib/vmcs/vmcs12_cache.c)
  libcriterion-dev                               # unit tests
  clang libclang-rt-14-dev                       # fuzz targets: clang 14 and libFuzzer
  python3 python3-venv                           # to fetch Unicorn >= 2.1 (below)
  bochs bochs-term bochsbios vgabios             # the independent VMX oracle (tests/bochs/)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing missing Debian packages: ${missing[*]}" >&2
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "setup: not root and no sudo: install these packages, then run again: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Unicorn >= 2.1 for nestvmx-emu (Debian 12 has 2.0.1, which does not model guest-physical
# memory, see docs/ARCHITECTURE.md). Unless the system has one, the PyPI wheel
# unicorn==2.1.4 (it ships unicorn/include/unicorn/*.h and unicorn/lib/libunicorn.so.2) goes
# into .deps/python through a project-local venv: the system Python is not touched (PEP 668).
# CMake finds it there (NESTVMX_UNICORN_ROOT). Skipped when already present.
unicorn_version=2.1.4
deps=$(cd "$(dirname "$0")/.." && pwd)/.deps
if pkg-config --atleast-version=2.1 unicorn 2>/dev/null; then
  exit 0
fi
[ -e "$deps/python/unicorn/lib/libunicorn.so.2" ] && [ -e "$deps/python/unicorn/include/unicorn/unicorn.h" ] && exit 0
echo "setup: installing Unicorn $unicorn_version (PyPI wheel) into $deps/python" >&2
rm -rf "$deps/venv" "$deps/python.tmp"
python3 -m venv "$deps/venv"
if ! "$deps/venv/bin/pip" install --quiet --disable-pip-version-check --no-deps \
  --target "$deps/python.tmp" "unicorn==$unicorn_version"; then
  rm -rf "$deps/python.tmp"
  echo "setup: could not install unicorn==$unicorn_version from PyPI (nestvmx-emu needs it)." >&2
  echo "setup: check that pip reaches PyPI here (proxy, PIP_INDEX_URL, PIP_CERT), then run again." >&2
  exit 1
fi
rm -rf "$deps/python"
mv "$deps/python.tmp" "$deps/python"
