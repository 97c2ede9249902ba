#!/bin/sh
# expect-run.sh STATUS PATTERN COMMAND...: run COMMAND, pass when it exits with STATUS and its
# output (stdout and stderr) matches the extended regular expression PATTERN (grep -E, per line).
status=$1 pattern=$2
shift 2
out=$("$@" 2>&1)
got=$?
printf '%s\n' "$out"
if [ "$got" -ne "$status" ]; then
  echo "expect-run: exit status $got, expected $status" >&2
  exit 1
fi
if ! printf '%s\n' "$out" | grep -Eq -- "$pattern"; then
  echo "expect-run: no line matches: $pattern" >&2
  exit 1
fi
