#!/usr/bin/env bash
# rspamd in front of our smtpd, as a milter (rspamd_proxy in milter mode) and as an OpenSMTPD
# filter (Debian's filter-rspamd over our filter protocol), against no filter at all, on one
# rspamd instance (issue 23): delivered msgs/s and peak PSS of our tree, rspamd's counted apart;
# every message must be delivered, scanned by rspamd (its header in the mail, its counter) and
# none refused. Rounds alternate the three ways.
#   bench/milter.sh [--rounds N] [--messages N] [--sessions N] [--modes none,milter,filter]
#                   [--smtpd PATH --smtpctl PATH] [--keep] [--no-build]
# Ours is the Native AOT build in publish/ (../publish.sh, built when missing or without
# --no-build) unless --smtpd/--smtpctl name another. See bench/README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=${SMTPD_REPO:-$(cd "$here/.." && pwd)}
[ "$(id -u)" = 0 ] || { echo "milter.sh: run as root (our smtpd must start as an administrator starts it)" >&2; exit 1; }

build=1 args=() own_build=1
for a in "$@"; do
  case "$a" in
    --no-build) build=0 ;;
    --smtpd) own_build=0; args+=("$a") ;;
    *) args+=("$a") ;;
  esac
done

user=smtpdbench     # every message is delivered to this ordinary user's Maildir
id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$user"
command -v smtp-source >/dev/null || { echo "milter.sh: smtp-source missing (apt-get install postfix)" >&2; exit 1; }
[ -x /usr/bin/rspamd ] || { echo "milter.sh: rspamd missing (apt-get install rspamd)" >&2; exit 1; }
[ -x /usr/sbin/dnsmasq ] || { echo "milter.sh: dnsmasq missing (apt-get install dnsmasq-base)" >&2; exit 1; }
"$here/install-opensmtpd-filters.sh" >&2     # Debian's filter-rspamd, in /opt/opensmtpd-filters

published=$repo/publish
if [ "$own_build" = 1 ]; then
  if [ "$build" = 1 ] || [ ! -x "$published/smtpd" ] || [ ! -x "$published/smtpctl" ]; then
    echo "building..." >&2
    "$repo/publish.sh" "$published" >/dev/null
  fi
  args=(--smtpd "$published/smtpd" --smtpctl "$published/smtpctl" "${args[@]}")
fi
exec python3 -B "$here/harness/milter.py" --user "$user" "${args[@]}"
