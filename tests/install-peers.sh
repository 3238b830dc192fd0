#!/usr/bin/env bash
# Installs, idempotently, what the tests need on Debian 12 and creates their users. test.sh runs
# it when started as root; as another user the tests whose peer is missing skip and say why.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

# swaks: a real SMTP client; util-linux: runuser, unshare, nsenter; iproute2: ip (network
# namespaces); passwd: useradd; openssl and python3: real TLS clients; dnsmasq-base: a real DNS
# server (only the binary); postfix: smtp-sink and smtp-source ("No configuration": no daemon);
# slapd + ldap-utils + libldap: a real LDAP server; dovecot-core + dovecot-lmtpd: a real LMTP
# server; postgresql: a real database; rspamd: a real spam filter; python3-dkim: a DKIM verifier;
# prometheus: promtool, which checks the /metrics exposition; chromium + chromium-driver: a real
# browser (headless) that the admin page's test drives with Selenium.
# opendkim, opendmarc, clamav-milter + clamav-daemon: real milters the milter tests talk to
# (started by each test in the foreground, never as system services).
# nsd, unbound and ldnsutils: a DNSSEC-signed zone (ldns-signzone), served by NSD, validated by
# Unbound, for the DANE tests; nginx-light: the web server of MTA-STS policies;
# postfix-mta-sts-resolver: its mta-sts-query is the anchor our MTA-STS answers are compared with.
# clang and zlib1g-dev: what `dotnet publish` needs to link the Native AOT smtpd and smtpctl the
# tests run (./publish.sh; clang brings binutils' objcopy, which strips the symbols).
packages=(swaks util-linux iproute2 passwd openssl python3 ca-certificates dnsmasq-base postfix
    dovecot-core dovecot-lmtpd postgresql slapd ldap-utils libldap-2.5-0 rspamd python3-dkim
    clang zlib1g-dev prometheus chromium chromium-driver opendkim opendmarc clamav-milter clamav-daemon
    nsd unbound ldnsutils nginx-light postfix-mta-sts-resolver)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Packages may start system services; the tests start their own instances.
    for s in dovecot postfix postgresql slapd rspamd prometheus opendkim opendmarc clamav-milter clamav-daemon clamav-freshclam \
        nsd unbound nginx postfix-mta-sts-resolver; do service "$s" stop >/dev/null 2>&1 || true; done
fi

# Debian's OpenSMTPD 6.8 and its filters, extracted (not installed: it conflicts with postfix).
bench/install-opensmtpd.sh
bench/install-opensmtpd-filters.sh

# An ordinary user for the "started as a normal user" tests and as the recipient of local mail
# in tests run as root (smtpd never delivers as root); the user smtpd becomes once its ports are bound.
id smtpdtest >/dev/null 2>&1 || useradd --create-home --shell /bin/sh smtpdtest
id _smtpd >/dev/null 2>&1 || useradd --system --home-dir /var/empty --shell /usr/sbin/nologin _smtpd
exit 0
