#!/bin/bash
# SPDX-License-Identifier: MIT
# Differential run: the same L1 TAP image on nestvmx-emu and on Bochs (the independent VMX
# oracle). Usage: compare.sh NESTVMX_EMU IMAGE [DEVIATIONS_FILE]
# Every TAP result (ok / not ok, by test number) must agree, and both runs must print the same
# plan. A deviation the project has judged from the SDM is listed in DEVIATIONS_FILE as
# "IMAGE-NAME TEST-NUMBER which-is-right: why" and is reported but not a failure.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 2 ]; then
    echo "usage: compare.sh NESTVMX_EMU IMAGE [DEVIATIONS_FILE]" >&2
    exit 2
fi
emu=$1 image=$2 deviations=${3:-$here/deviations.txt}
name=$(basename "$image" .elf)
emu_out=$("$emu" "$image" 2>&1)
bochs_out=$("$here/run-on-bochs.sh" "$image" 2>&1)
bochs_status=$?
partial=""
if [ "$bochs_status" -eq 3 ]; then
    # Bochs stopped at an instruction it does not implement: acceptable only where the
    # deviations file says so ("IMAGE panic why"); then the results before the stop count.
    partial=$(grep -E "^$name panic " "$deviations" 2>/dev/null | cut -d' ' -f3-)
    if [ -z "$partial" ]; then
        echo "compare.sh: Bochs stopped on $name: $(echo "$bochs_out" | grep 'Bochs panic')" >&2
        exit 1
    fi
elif [ "$bochs_status" -ne 0 ]; then
    echo "compare.sh: the Bochs run of $name did not finish:" >&2
    echo "$bochs_out" | tail -8 >&2
    exit 1
fi
results() { grep -E '^(not )?ok [0-9]+' | sed -E 's/^(not ok|ok) ([0-9]+).*/\2 \1/' | sort -n; }
plan() { grep -E '^1\.\.[0-9]+' | head -1; }
emu_results=$(echo "$emu_out" | results)
bochs_results=$(echo "$bochs_out" | results)
failed=0
if [ -z "$partial" ] && [ "$(echo "$emu_out" | plan)" != "$(echo "$bochs_out" | plan)" ]; then
    echo "$name: plans differ: nestvmx-emu '$(echo "$emu_out" | plan)', Bochs '$(echo "$bochs_out" | plan)'"
    failed=1
fi
count=0
while read -r number; do
    [ -n "$number" ] || continue
    count=$((count + 1))
    e=$(echo "$emu_results" | awk -v n="$number" '$1 == n { $1 = ""; print substr($0, 2) }')
    b=$(echo "$bochs_results" | awk -v n="$number" '$1 == n { $1 = ""; print substr($0, 2) }')
    [ "$e" = "$b" ] && continue
    if [ -n "$partial" ] && [ -z "$b" ]; then
        not_compared=$((${not_compared:-0} + 1))
        continue
    fi
    desc=$(echo "$emu_out" "$bochs_out" | grep -m1 -E "^(not )?ok $number " | sed -E 's/^(not ok|ok) [0-9]+ - //')
    known=$(grep -E "^$name $number " "$deviations" 2>/dev/null | cut -d' ' -f3-)
    if [ -n "$known" ]; then
        echo "$name $number: nestvmx-emu '${e:-missing}', Bochs '${b:-missing}' ($desc) — known: $known"
    else
        echo "$name $number: nestvmx-emu '${e:-missing}', Bochs '${b:-missing}' ($desc) — UNEXPLAINED"
        failed=1
    fi
done < <( (echo "$emu_results"; echo "$bochs_results") | awk '{print $1}' | sort -nu)
[ -n "$partial" ] && echo "$name: Bochs stopped early — $partial; ${not_compared:-0} results after it not compared"
echo "$name: $count results compared, $( [ $failed -eq 0 ] && echo agree || echo DIFFER)"
exit $failed
