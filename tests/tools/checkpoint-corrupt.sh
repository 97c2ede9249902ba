#!/bin/sh
# checkpoint-corrupt.sh EMU IMAGE N: write a checkpoint after event N, then check that
# --restore rejects damaged copies of it (truncated at several lengths, one byte flipped at
# several offsets, an empty file, a missing file, a wrong version with a matching CRC is not
# built here: the CRC covers it) with status 2, a "not a usable checkpoint" message and no
# guest output; and that the intact file still restores with status 0.
emu=$1 image=$2 n=$3
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
"$emu" "$image" --save-at "$n" "$dir/ck" >/dev/null 2>&1 || { echo "cannot write the checkpoint" >&2; exit 1; }
size=$(wc -c <"$dir/ck")
fail=0 tried=0
expect_rejected() { # FILE WHAT
  "$emu" --restore "$1" >"$dir/out" 2>"$dir/err"
  got=$?
  tried=$((tried + 1))
  if [ "$got" -ne 2 ] || [ -s "$dir/out" ] || ! grep -q "not a usable checkpoint" "$dir/err"; then
    echo "checkpoint-corrupt: $2: status $got, expected 2 with a message and no output" >&2
    cat "$dir/err" >&2
    fail=1
  fi
}
for cut in 0 1 8 23 24 28 40 1000 $((size / 2)) $((size - 5)) $((size - 4)) $((size - 1)); do
  head -c "$cut" "$dir/ck" >"$dir/bad"
  expect_rejected "$dir/bad" "truncated to $cut bytes"
done
for at in 0 7 8 12 16 24 28 32 64 200 4000 $((size / 3)) $((size / 2)) $((size - 100)) $((size - 4)) $((size - 1)); do
  cp "$dir/ck" "$dir/bad"
  printf '\377' | dd of="$dir/bad" bs=1 seek="$at" conv=notrunc 2>/dev/null
  cmp -s "$dir/ck" "$dir/bad" && printf '\000' | dd of="$dir/bad" bs=1 seek="$at" conv=notrunc 2>/dev/null
  expect_rejected "$dir/bad" "byte $at changed"
done
cp "$dir/ck" "$dir/bad"
printf 'x' >>"$dir/bad"
expect_rejected "$dir/bad" "one byte appended"
expect_rejected "$dir/missing" "a missing file"
"$emu" --restore "$dir/ck" >/dev/null 2>&1
got=$?
if [ "$got" -ne 0 ]; then
  echo "checkpoint-corrupt: the intact checkpoint restores with status $got" >&2
  fail=1
fi
echo "checkpoint-corrupt: $tried damaged files of a $size-byte checkpoint"
exit $fail
