#!/usr/bin/env bash
# Run one libFuzzer target for a bounded time: first every seed of its committed corpus, then
# new inputs (kept in WORKDIR/corpus, never in the source tree). Exits non-zero on any finding
# (crash, sanitizer report, invariant violation, leak, an input running over 10 s); the input
# that caused it is in WORKDIR/artifacts/. Scripts up to 1 KiB from the start (-len_control=0):
# a short bounded run would otherwise stay with inputs of a few steps.
# usage: run-fuzzer.sh FUZZER SEED_DIR WORKDIR SECONDS
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 FUZZER SEED_DIR WORKDIR SECONDS" >&2; exit 2; }
fuzzer=$1 seeds=$2 work=$3 seconds=$4
mkdir -p "$work/corpus" "$work/artifacts"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=1024 \
  -len_control=0 -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds"
