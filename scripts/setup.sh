#!/usr/bin/env bash
# Install what the build and the tests need on Debian 12, and only what is missing.
# Runs apt-get as root, or through sudo; says what to install when it can do neither.
set -euo pipefail
packages=(
  cmake make gcc libc6-dev binutils pkg-config   # build
  libzydis-dev                                   # instruction decoder (lib/decode.c)
  uthash-dev                                     # hash tables (lib/vmcs/vmcs12_cache.c)
  libcriterion-dev                               # unit tests
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
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
