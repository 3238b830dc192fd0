#!/usr/bin/env bash
# Builds and runs every test; ends with one line "tests: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# As root, install (idempotently) the peers the tests talk to and create their users; as anyone
# else, tests whose peer is missing skip and say why.
if [ "$(id -u)" -eq 0 ]; then
  tests/install-peers.sh || { echo "tests/install-peers.sh failed"; echo "tests: 0 passed, 1 failed"; exit 1; }
fi
out=$(mktemp)
# The tests run the Native AOT smtpd and smtpctl, as administrators install them (TestBinaries):
# published once, before the JIT build the test assembly itself needs.
if ./publish.sh publish > "$out" 2>&1; then
  SMTPD_TEST_BIN=$PWD/publish dotnet test smtpd.sln -c Release --blame-hang-timeout 10m --logger "console;verbosity=normal" 2>&1 | tee -a "$out"
  status=${PIPESTATUS[0]}
else
  cat "$out"; echo "publish.sh failed"; status=1
fi
# Sum the counts of every test assembly's summary line ("Failed: 0, Passed: 42, ...").
passed=$(grep -Eo 'Passed: +[0-9]+' "$out" | awk '{ n += $2 } END { print n + 0 }')
failed=$(grep -Eo 'Failed: +[0-9]+' "$out" | awk '{ n += $2 } END { print n + 0 }')
passed=${passed:-0}
failed=${failed:-0}
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi   # build error or crashed run
# CI shows only the end of the output: repeat each failed test with the first lines of its error.
grep -E -A6 '^ +Failed Smtpd\.' "$out" | cut -c1-300 || true
rm -f "$out"
echo "tests: $passed passed, $failed failed"
exit "$status"
