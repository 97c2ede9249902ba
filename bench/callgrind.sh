#!/bin/sh
# SPDX-License-Identifier: MIT
# Instructions per operation of each nestvmx-bench benchmark, counted by callgrind: stable
# from run to run, unlike timings on a shared machine.
#
#   bench/callgrind.sh [--json FILE] [BENCH_BINARY [BENCHMARK...]]
#
# BENCH_BINARY defaults to build/bench/nestvmx-bench; no BENCHMARK means all of them. Each
# benchmark runs alone (--quick: 10 timed batches + 1 warm-up batch of 50 operations) with
# collection only inside its operation function (op_*), so set-up, the untimed prepare steps
# and the timing code are not counted; the total divided by 550 is per operation.
set -eu

json=""
if [ "${1:-}" = "--json" ]; then
    json=$2
    shift 2
fi
bench=${1:-build/bench/nestvmx-bench}
[ $# -gt 0 ] && shift
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 2; }
[ -x "$bench" ] || { echo "callgrind.sh: no benchmark program at '$bench'" >&2; exit 2; }

if [ $# -eq 0 ]; then
    # The names listed by --help after "benchmarks:".
    set -- $("$bench" --help | sed -n '/^benchmarks:/,$p' | sed -n 's/^  \([a-z0-9_]*\) .*/\1/p')
fi

OPS=550 # (10 batches + 1 warm-up) x 50 operations
out=$(mktemp)
trap 'rm -f "$out"' EXIT
[ -n "$json" ] && printf '{"benchmarks": [\n' >"$json"
printf '%-17s %14s\n' benchmark instructions/op
first=1
for name in "$@"; do
    valgrind --tool=callgrind --toggle-collect='op_*' --callgrind-out-file="$out" \
        "$bench" --quick --filter "$name" >/dev/null 2>&1 ||
        { echo "callgrind.sh: benchmark '$name' failed under valgrind" >&2; exit 1; }
    total=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$out")
    per_op=$((total / OPS))
    printf '%-17s %14s\n' "$name" "$per_op"
    if [ -n "$json" ]; then
        [ $first -eq 1 ] || printf ',\n' >>"$json"
        printf '    {"name": "%s", "instructions_per_op": %s}' "$name" "$per_op" >>"$json"
    fi
    first=0
done
[ -n "$json" ] && printf '\n]}\n' >>"$json"
exit 0
