#!/usr/bin/env bash
# Builds and runs every test; ends with one line "tests: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")"
out=$(mktemp)
dotnet test smtpd.sln -c Release --blame-hang-timeout 10m --logger "console;verbosity=normal" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
passed=$(grep -Eo 'Passed: +[0-9]+' "$out" | grep -Eo '[0-9]+' | paste -sd+ | bc)
failed=$(grep -Eo 'Failed: +[0-9]+' "$out" | grep -Eo '[0-9]+' | paste -sd+ | bc)
passed=${passed:-0}
failed=${failed:-0}
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi   # build error or crashed run
rm -f "$out"
echo "tests: $passed passed, $failed failed"
exit "$status"
