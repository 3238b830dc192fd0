#!/usr/bin/env bash
# smtpd for .NET against OpenSMTPD 6.8 and Postfix 3.7 in one run, as issue 19 measures them:
# every server started as root (privilege separation and per-user delivery on), delivering to one
# ordinary user's Maildir; delivered msgs/s, PSS of the whole process tree (peak and idle),
# idle descriptors, latency percentiles; medians and spread over alternating rounds, and ratios.
#   bench/run.sh [--rounds N] [--messages N] [--big-messages N] [--scenarios a,b] [--servers a,b]
#                [--settle S] [--gate FILE] [--keep] [--no-build]
# See bench/README.md. The harness itself is bench/harness/bench.py.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=${SMTPD_REPO:-$(cd "$here/.." && pwd)}
[ "$(id -u)" = 0 ] || { echo "run.sh: run as root (the servers must start as an administrator starts them)" >&2; exit 1; }

build=1 args=()
for a in "$@"; do [ "$a" = --no-build ] && build=0 || args+=("$a"); done

user=smtpdbench     # every server delivers to this ordinary user's Maildir
id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$user"
command -v smtp-source >/dev/null || { echo "run.sh: smtp-source missing (apt-get install postfix)" >&2; exit 1; }
command -v postfix >/dev/null || { echo "run.sh: postfix missing (apt-get install postfix)" >&2; exit 1; }
[ -x /opt/opensmtpd/usr/sbin/smtpd ] || "$here/install-opensmtpd.sh" >&2

# Ours as administrators install it: the Native AOT build (./publish.sh; --smtpd PATH and
# --smtpctl PATH measure another build, e.g. the JIT one in src/smtpd/bin/Release/net10.0/).
# --no-build still publishes it when it is missing.
published=$repo/publish
if [ "$build" = 1 ] || [ ! -x "$published/smtpd" ] || [ ! -x "$published/smtpctl" ]; then
  echo "building..." >&2
  "$repo/publish.sh" "$published" >/dev/null
fi
[ "$build" = 0 ] && [ -f "$here/SmtpLoad/bin/Release/net10.0/smtpload.dll" ] || dotnet build "$here/SmtpLoad" -c Release -v q -nologo >/dev/null
exec python3 -B "$here/harness/bench.py" --user "$user" \
  --smtpd "$published/smtpd" --smtpctl "$published/smtpctl" \
  --smtpload "$here/SmtpLoad/bin/Release/net10.0/smtpload.dll" "${args[@]}"
