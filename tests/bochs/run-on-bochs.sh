#!/bin/bash
# SPDX-License-Identifier: MIT
# Run an L1 image (the nestvmx-emu ELF64 contract) on Bochs, the independent VMX oracle, and
# print what it wrote to COM1. Usage: run-on-bochs.sh IMAGE [--mem MIB] [--timeout SECONDS]
# Needs: bochs (Debian: bochs bochsbios vgabios), gcc and ld for the boot stub (tests/bochs/boot.S).
# Bochs has no exit port: the run ends when the image prints its TAP plan line ("1..N") after
# its last result (exit status 0), when Bochs stops on a panic — an instruction it does not
# implement — (status 3, the panic on standard error), or at the timeout (status 1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
image=""
mem_mib=64
timeout_s=60
while [ $# -gt 0 ]; do
    case "$1" in
    --mem) mem_mib=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    -*) echo "run-on-bochs.sh: unknown option '$1' (known: --mem MIB, --timeout SECONDS)" >&2; exit 2 ;;
    *) image=$1; shift ;;
    esac
done
if [ -z "$image" ] || [ ! -f "$image" ]; then
    echo "run-on-bochs.sh: no image file given (usage: run-on-bochs.sh IMAGE [--mem MIB])" >&2
    exit 2
fi
for tool in bochs gcc ld; do
    command -v "$tool" >/dev/null || { echo "run-on-bochs.sh: $tool is missing (apt-get install bochs bochsbios vgabios gcc binutils)" >&2; exit 2; }
done
bios=/usr/share/bochs/BIOS-bochs-latest
vga=/usr/share/vgabios/vgabios.bin
[ -f "$bios" ] && [ -f "$vga" ] || { echo "run-on-bochs.sh: Bochs BIOS images missing (apt-get install bochsbios vgabios)" >&2; exit 2; }

work=$(mktemp -d)
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
gcc -c "$here/boot.S" -o "$work/boot.o" -Wa,--defsym,MEM_SIZE=$((mem_mib << 20))
ld -m elf_x86_64 -Ttext 0x7C00 --oformat binary -e start "$work/boot.o" -o "$work/boot.bin"
image_bytes=$(stat -c %s "$image")
max_bytes=$(( (0x9F000 - 0x8600) ))
if [ "$image_bytes" -gt "$max_bytes" ]; then
    echo "run-on-bochs.sh: image is $image_bytes bytes; the boot stub loads at most $max_bytes" >&2
    exit 2
fi
cat "$work/boot.bin" "$image" > "$work/floppy.img"
sectors=$(( ($(stat -c %s "$work/floppy.img") + 511) / 512 - 1 ))
printf "$(printf '\\x%02x\\x%02x' $((sectors & 255)) $((sectors >> 8)))" |
    dd of="$work/floppy.img" bs=1 seek=508 conv=notrunc status=none
truncate -s 1474560 "$work/floppy.img"

cat > "$work/bochsrc" <<CFG
megs: $mem_mib
cpu: model=corei7_skylake_x, count=1, reset_on_triple_fault=0, ignore_bad_msrs=0
romimage: file=$bios
vgaromimage: file=$vga
floppya: 1_44=$work/floppy.img, status=inserted
boot: floppy
log: $work/bochs.log
panic: action=report
display_library: rfb, options="timeout=0"
com1: enabled=1, mode=file, dev=$work/com1.txt
port_e9_hack: enabled=1
CFG
printf 'c\nquit\n' > "$work/rc"
: > "$work/com1.txt"
bochs -q -f "$work/bochsrc" -rc "$work/rc" > "$work/bochs.out" 2>&1 &
pid=$!
ended=1
for ((t = 0; t < timeout_s * 10; t++)); do
    if grep -q '^1\.\.[0-9]' "$work/com1.txt" 2>/dev/null; then ended=0; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
cat "$work/com1.txt"
panic=$(grep -m1 '>>PANIC<<' "$work/bochs.log" 2>/dev/null | sed 's/.*>>PANIC<< //' || true)
if [ "$ended" -ne 0 ] && [ -n "$panic" ]; then
    echo "Bochs panic: $panic" >&2
    exit 3
fi
if [ "$ended" -ne 0 ]; then
    echo "run-on-bochs.sh: no TAP plan line within ${timeout_s}s; Bochs said:" >&2
    tail -5 "$work/bochs.out" >&2
    grep -E 'PANIC|ERROR|triple|shutdown' "$work/bochs.log" | tail -5 >&2 || true
fi
exit $ended
