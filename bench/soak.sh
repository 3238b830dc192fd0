#!/usr/bin/env bash
# Reliability soak: runs the reliability tests (chaos, crash cycles, descriptor limit, disk
# full, hostile clients) over and over with bigger loads until the time is up, then sums what
# they measured. Every run asserts no loss, no 5xx under chaos and no unexplained duplicate;
# the summary says how many runs failed.
#   bench/soak.sh [--minutes N] [--scale X]     (default: 60 minutes, 3x the CI loads)
# Needs what .ci/run installs (dnsmasq, the smtpdtest user...). Figures: bench/soak-figures.txt.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
minutes=60 scale=3
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift ;;
    --scale) scale=$2; shift ;;
    *) echo "usage: $0 [--minutes N] [--scale X]" >&2; exit 64 ;;
  esac
  shift
done

figures="$here/soak-figures.txt"
: > "$figures"
export SMTPD_RELIABILITY_FIGURES="$figures" SMTPD_RELIABILITY_SCALE="$scale"
dotnet build "$repo/tests/Smtpd.Tests" -c Release -v q >/dev/null || exit 1

end=$(( $(date +%s) + minutes * 60 ))
runs=0 failures=0
while [ "$(date +%s)" -lt "$end" ]; do
  runs=$((runs + 1))
  echo "soak run $runs ($(date -u +%H:%M:%S))" >&2
  if ! dotnet test "$repo/tests/Smtpd.Tests" -c Release --no-build \
        --filter "FullyQualifiedName~Smtpd.Tests.Reliability" --logger "console;verbosity=minimal" >"$here/soak-last.log" 2>&1; then
    failures=$((failures + 1))
    cp "$here/soak-last.log" "$here/soak-failure-$runs.log"
    echo "  run $runs failed: bench/soak-failure-$runs.log" >&2
  fi
done

# Sum the key=value figures per test over every run.
echo "soak: $runs runs in $minutes min at scale $scale, $failures failed"
awk '{
  test = $2; sub(":", "", test); n[test]++
  for (i = 3; i <= NF; i++) if (split($i, kv, "=") == 2 && kv[2] ~ /^[0-9]+$/) sum[test, kv[1]] += kv[2]
} END {
  for (t in n) {
    line = t " (" n[t] " runs):"
    for (k in sum) { split(k, tk, SUBSEP); if (tk[1] == t) line = line " " tk[2] "=" sum[k] }
    print line
  }
}' "$figures"
[ "$failures" -eq 0 ]
