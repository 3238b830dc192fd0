#!/usr/bin/env bash
# Memory and descriptors of smtpd as administrators run it: started as root, so the privileged
# helper and the delivery processes run too. Prints, per process and summed over the whole tree,
# PSS (from /proc/PID/smaps_rollup) and open descriptors: idle after start, peak while a small
# load is delivered into one user's Maildir, and once the load is done.
#   bench/footprint.sh [--messages N] [--sessions N] [--settle SECONDS] [--rest SECONDS] [-- COMMAND...]
# --rest: how long after the load to measure again ("rested"; idle delivery processes exit by then).
# COMMAND starts smtpd (default: the Native AOT build in publish/, made by ./publish.sh when
# missing; e.g. `-- dotnet src/smtpd/bin/Release/net10.0/smtpd.dll` for the JIT one); the script
# adds -d -f CONF. Runtime settings can be tried from the environment (DOTNET_GCgen0size=...):
# the daemon passes its environment on to the helper and the delivery processes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
messages=200 sessions=5 settle=5 rest=35
while [ $# -gt 0 ]; do
  case "$1" in
    --messages) messages=$2; shift ;;
    --sessions) sessions=$2; shift ;;
    --settle) settle=$2; shift ;;
    --rest) rest=$2; shift ;;
    --) shift; break ;;
    *) echo "usage: $0 [--messages N] [--sessions N] [--settle SECONDS] [--rest SECONDS] [-- COMMAND...]" >&2; exit 64 ;;
  esac
  shift
done
if [ $# -eq 0 ]; then
  [ -x "$repo/publish/smtpd" ] || "$repo/publish.sh" "$repo/publish" >/dev/null
  set -- "$repo/publish/smtpd"
fi
[ "$(id -u)" = 0 ] || { echo "$0: run as root (privilege separation is what is measured)" >&2; exit 1; }

user=smtpdbench
id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$user"
load_dll=$here/SmtpLoad/bin/Release/net10.0/smtpload.dll
[ -f "$load_dll" ] || dotnet build "$here/SmtpLoad" -c Release -v q -nologo >/dev/null

work=$(mktemp -d /tmp/smtpd-footprint.XXXXXX)
chmod 755 "$work"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$pid" ] && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/maildir" "$work/mail"; chown "$user" "$work/maildir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'smtp limit max-mails 100000\nlisten on 127.0.0.1 port %s\naction "local" maildir "%s"\nmatch from any for local action "local"\n' "$port" "$work/maildir" > "$work/smtpd.conf"

wait_for() {  # wait_for SECONDS COMMAND...: bounded polling
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@"; do [ "$(date +%s)" -ge "$deadline" ] && return 1; sleep 0.1; done
}
tree() {  # the daemon and all its descendants
  local todo=("$1") p
  while [ ${#todo[@]} -gt 0 ]; do
    p=${todo[0]}; todo=("${todo[@]:1}"); echo "$p"
    for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do todo+=("$c"); done
  done
}
role() {
  local cmd; cmd=$(tr '\0' ' ' < /proc/"$1"/cmdline 2>/dev/null) || return 0
  case "$cmd" in *--privileged-helper*) echo helper ;; *--delivery-worker*) echo worker ;; *) echo daemon ;; esac
}
# PSS divides a shared page among the processes mapping it, so what the framework's files cost a
# process moves when another .NET process (ours or anyone's) starts or exits; Pss_Anon does not.
pss() { awk '/^Pss:/ { p = $2 } /^Pss_Anon:/ { a = $2 } END { print p + 0, a + 0 }' /proc/"$1"/smaps_rollup 2>/dev/null || echo 0 0; }
fds() { ls /proc/"$1"/fd 2>/dev/null | wc -l; }
snapshot() {  # one line per process: role pss_kib anon_kib fds
  for p in $(tree "$pid"); do local r; r=$(role "$p"); [ -n "$r" ] && echo "$r $(pss "$p") $(fds "$p")"; done
}
report() {  # report LABEL: per role (count, PSS each, fds each) and the total
  local label=$1
  snapshot | awk -v label="$label" '
    { n[$1]++; k[$1] += $2; f[$1] += $4; tk += $2; ta += $3; tf += $4 }
    END {
      printf "%-10s total_pss_mb=%.1f anon_mb=%.1f total_fds=%d", label, tk / 1024, ta / 1024, tf
      split("daemon helper worker", order, " ")
      for (i = 1; i <= 3; i++) { r = order[i]; if (n[r]) printf "  %s=%dx(%.1f MB, %d fds)", r, n[r], k[r] / n[r] / 1024, f[r] / n[r] }
      printf "\n"
    }'
}

SMTPD_SPOOL=$work/spool SMTPD_SOCKET=$work/sock SMTPD_MAILSPOOL=$work/mail \
  "$@" -d -f "$work/smtpd.conf" 2>"$work/log" &
pid=$!
wait_for 60 grep -q "listening on" "$work/log" || { cat "$work/log" >&2; exit 1; }
sleep "$settle"
report idle

# Peak: sampled while the load is sent and delivered.
peak=$work/peak; : > "$peak"
( while kill -0 "$pid" 2>/dev/null; do
    snapshot | awk '{ k += $2; a += $3; f += $4; if ($1 == "worker") w++; line = line " " $1 ":" $2 } END { print k, a, f, w + 0, line }' >> "$peak"
    sleep 0.2
  done ) &
sampler=$!
start=$(date +%s.%N)
dotnet "$load_dll" --port "$port" --sessions "$sessions" --messages "$messages" --size 10240 --rcpt "$user@localhost" >/dev/null
wait_for 300 bash -c "[ \$(find '$work/maildir/new' -type f | wc -l) -ge $messages ]" || { echo "not all delivered" >&2; exit 1; }
end=$(date +%s.%N)
sleep 0.5
kill "$sampler"; wait "$sampler" 2>/dev/null || true
sort -n "$peak" | tail -1 | awk '{
  printf "peak       total_pss_mb=%.1f anon_mb=%.1f total_fds=%d workers=%d ", $1 / 1024, $2 / 1024, $3, $4
  for (i = 5; i <= NF; i++) { split($i, a, ":"); printf " %s:%.1f", a[1], a[2] / 1024 }; printf "\n" }'
python3 -c "print(f'delivered  {$messages} in {$end - $start:.1f} s')"
report after
sleep "$rest"
report rested
[ -z "${FOOTPRINT_HOLD:-}" ] || { echo "holding: daemon pid $pid" >&2; sleep "$FOOTPRINT_HOLD"; }
