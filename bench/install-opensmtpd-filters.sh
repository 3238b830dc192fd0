#!/usr/bin/env bash
# Extracts Debian's OpenSMTPD filters (filter-dkimsign, filter-rspamd, filter-senderscore) into /opt/opensmtpd-filters
# without installing the packages: installed, they would land in /usr/libexec/opensmtpd, which
# install-opensmtpd.sh makes a symlink into /opt/opensmtpd (and dpkg -r would remove that link).
# Their libraries are installed normally. The filter tests run them from here.
set -euo pipefail
PREFIX=/opt/opensmtpd-filters
have() { [ -x "$PREFIX/usr/libexec/opensmtpd/filter-$1" ]; }
have dkimsign && have rspamd && have senderscore && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends libopensmtpd0 libevent-2.1-7 libssl3 >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download opensmtpd-filter-dkimsign opensmtpd-filter-rspamd opensmtpd-filter-senderscore >/dev/null 2>&1)
mkdir -p "$PREFIX"
for deb in "$work"/opensmtpd-filter-*.deb; do dpkg -x "$deb" "$PREFIX"; done
echo "OpenSMTPD filters installed in $PREFIX"
