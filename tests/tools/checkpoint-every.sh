#!/bin/sh
# checkpoint-every.sh EMU IMAGE STEP: run IMAGE once uninterrupted, then for N = 1, 1+STEP, ...
# up to the run's last event (and the last event itself) run `--save-at N FILE` and
# `--restore FILE`. Passes when, for every N, the first run exits 0 with "checkpoint written",
# and the standard output of both runs together equals the uninterrupted run's, and the
# restored run's exit status is the uninterrupted run's.
emu=$1 image=$2 step=$3
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
"$emu" "$image" --save-at 999999999 "$dir/none" >"$dir/full" 2>"$dir/err"
want=$?
total=$(sed -n 's/.*the run ended after \([0-9]*\) events.*/\1/p' "$dir/err")
if [ -z "$total" ] || [ "$total" -lt 2 ]; then
  echo "checkpoint-every: no event count from the uninterrupted run" >&2
  cat "$dir/err" >&2
  exit 1
fi
fail=0 tried=0 in_l2=0
n=1
while [ "$n" -le "$total" ]; do
  "$emu" "$image" --save-at "$n" "$dir/ck" >"$dir/before" 2>"$dir/err1"
  got=$?
  if [ "$got" -ne 0 ] || ! grep -q "checkpoint written after event $n " "$dir/err1"; then
    echo "checkpoint-every: --save-at $n: status $got" >&2
    cat "$dir/err1" >&2
    fail=1
  else
    grep -q "(L2 runs)" "$dir/err1" && in_l2=$((in_l2 + 1))
    "$emu" --restore "$dir/ck" >"$dir/after" 2>"$dir/err2"
    got=$?
    cat "$dir/before" "$dir/after" >"$dir/both"
    if [ "$got" -ne "$want" ] || ! cmp -s "$dir/both" "$dir/full"; then
      echo "checkpoint-every: event $n: restored run status $got (want $want) or output differs" >&2
      diff "$dir/full" "$dir/both" | head -5 >&2
      cat "$dir/err2" >&2
      fail=1
    fi
  fi
  tried=$((tried + 1))
  if [ "$n" -lt "$total" ] && [ $((n + step)) -gt "$total" ]; then
    n=$total
  else
    n=$((n + step))
  fi
done
echo "checkpoint-every: $tried checkpoints of $total events ($in_l2 while L2 runs), status $want"
if [ "$in_l2" -eq 0 ]; then
  echo "checkpoint-every: no checkpoint was taken while L2 runs" >&2
  fail=1
fi
exit $fail
