#!/usr/bin/env bash
# Extracts Debian's OpenSMTPD 6.8 into /opt/opensmtpd without installing the package (it
# conflicts with postfix), as ../shared/PEERS.md describes, so the benchmark can compare.
set -euo pipefail
PREFIX=/opt/opensmtpd
[ -x "$PREFIX/usr/sbin/smtpd" ] && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends libevent-2.1-7 libssl3 libdb5.3 libpam0g zlib1g libcrypt1 >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download opensmtpd >/dev/null 2>&1)
mkdir -p "$PREFIX"
dpkg -x "$work"/opensmtpd_*.deb "$PREFIX"
getent group opensmtpq >/dev/null || groupadd --system opensmtpq
getent passwd opensmtpd >/dev/null || useradd --system --no-create-home --home-dir /var/empty --shell /usr/sbin/nologin opensmtpd
getent passwd opensmtpq >/dev/null || useradd --system --no-create-home --home-dir /var/empty --shell /usr/sbin/nologin -g opensmtpq opensmtpq
# Its helper path (mail.maildir, mail.local...) is compiled in.
[ -e /usr/libexec/opensmtpd ] || ln -s "$PREFIX/usr/libexec/opensmtpd" /usr/libexec/opensmtpd
chgrp opensmtpq "$PREFIX/usr/sbin/smtpctl" && chmod g+s "$PREFIX/usr/sbin/smtpctl"
mkdir -p /var/empty /var/lib/opensmtpd/empty /var/spool/smtpd
echo "OpenSMTPD installed in $PREFIX"
