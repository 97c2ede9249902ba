#!/usr/bin/env bash
# Checks that lib/ is freestanding and exports only its API.
# usage: check-symbols.sh OBJECT_LIST [STATIC_LIB [SHARED_LIB]]
#  - every object of lib/ may leave undefined only symbols another object of lib/ defines and
#    the allow-listed compiler builtins (memcpy, memset, memmove, memcmp) and the linker's
#    _GLOBAL_OFFSET_TABLE_; the decode unit (decode.c) may also use Zydis;
#  - the static library's global definitions are all nvmx_* (internal names are local);
#  - the shared library exports only nvmx_* and needs nothing outside the allow-list, Zydis
#    and the C runtime start-up symbols.
set -euo pipefail
NM=${NM:-nm}
builtins='^(memcpy|memset|memmove|memcmp)$'
# Defined by the linker for position-independent code (GOT-relative addressing), not a library.
linker='^_GLOBAL_OFFSET_TABLE_$'
zydis='^(Zydis|Zycore)'
status=0
fail() { echo "check-symbols: $*" >&2; status=1; }

# Symbols one object of lib/ defines may be used by the others: units call each other.
declare -A internal=()
while IFS= read -r obj; do
  [ -n "$obj" ] || continue
  for sym in $("$NM" -g --defined-only --format=posix "$obj" | awk 'NF>=2 {print $1}'); do
    internal[$sym]=1
  done
done < "$1"

while IFS= read -r obj; do
  [ -n "$obj" ] || continue
  allowed="$builtins|$linker"
  case "$obj" in */decode.c.o) allowed="$builtins|$linker|$zydis" ;; esac
  for sym in $("$NM" -u --format=posix "$obj" | awk 'NF>=2 {print $1}'); do
    [ -n "${internal[$sym]:-}" ] && continue
    [[ "$sym" =~ $allowed ]] || fail "$(basename "$obj") needs '$sym', which lib/ may not use (allowed: memcpy/memset/memmove/memcmp; Zydis only in decode.c)"
  done
done < "$1"

if [ $# -ge 2 ]; then
  for sym in $("$NM" -u --format=posix "$2" 2>/dev/null | awk 'NF>=2 {print $1}'); do
    [[ "$sym" =~ $builtins|$linker|$zydis ]] || fail "static library needs '$sym'"
  done
  for sym in $("$NM" -g --defined-only --format=posix "$2" 2>/dev/null | awk 'NF>=2 {print $1}'); do
    [[ "$sym" =~ ^nvmx_ ]] || fail "static library exports internal symbol '$sym'"
  done
fi
if [ $# -ge 3 ]; then
  for sym in $("$NM" -D --defined-only --format=posix "$3" | awk 'NF>=2 {print $1}'); do
    [[ "$sym" =~ ^nvmx_ ]] || fail "shared library exports internal symbol '$sym'"
  done
  for sym in $("$NM" -D -u --format=posix "$3" | awk 'NF>=2 {print $1}'); do
    sym=${sym%%@*}
    [[ "$sym" =~ $builtins|$zydis|^(__cxa_finalize|_ITM_.*|__gmon_start__)$ ]] || fail "shared library needs '$sym'"
  done
fi
[ $status -eq 0 ] && echo "check-symbols: lib/ is freestanding and exports only nvmx_* symbols"
exit $status
