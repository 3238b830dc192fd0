#!/usr/bin/env bash
# Throughput benchmark: 2000 messages of 10 KiB over 20 concurrent sessions to a maildir.
# Prints accepted msgs/s, delivered msgs/s and peak RSS for our smtpd and, with
# --with-opensmtpd (or when /opt/opensmtpd exists), for OpenSMTPD 6.8 in the same run.
#   bench/run.sh [--with-opensmtpd] [--messages N] [--sessions N] [--size BYTES]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=${SMTPD_REPO:-$(cd "$here/.." && pwd)}
messages=2000 sessions=20 size=10240 with_osd=0 osd_bin=/opt/opensmtpd/usr/sbin/smtpd
# OpenSMTPD installed as Debian's package, or extracted by install-opensmtpd.sh.
if dpkg-query -W -f='${Status}' opensmtpd 2>/dev/null | grep -q "ok installed"; then osd_bin=/usr/sbin/smtpd; with_osd=1; fi
[ -x /opt/opensmtpd/usr/sbin/smtpd ] && with_osd=1
while [ $# -gt 0 ]; do
  case "$1" in
    --with-opensmtpd) with_osd=1 ;;
    --messages) messages=$2; shift ;;
    --sessions) sessions=$2; shift ;;
    --size) size=$2; shift ;;
    *) echo "usage: $0 [--with-opensmtpd] [--messages N] [--sessions N] [--size BYTES]" >&2; exit 64 ;;
  esac
  shift
done

user=smtpdbench     # both servers deliver to this ordinary user's maildir
id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$user"

echo "building..." >&2
dotnet build "$repo/src/smtpd" -c Release -v q -nologo >/dev/null
dotnet build "$here/SmtpLoad" -c Release -v q -nologo >/dev/null
smtpd_dll=$repo/src/smtpd/bin/Release/net10.0/smtpd.dll
load_dll=$here/SmtpLoad/bin/Release/net10.0/smtpload.dll

work=$(mktemp -d /tmp/smtpd-bench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_for() {  # wait_for SECONDS COMMAND...: bounded polling
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@"; do [ "$(date +%s)" -ge "$deadline" ] && return 1; sleep 0.05; done
}

count_new() { find "$1/new" -type f 2>/dev/null | wc -l; }
has_all() { [ "$(count_new "$1")" -ge "$messages" ]; }

# hwm PID...: peak resident memory (VmHWM) summed over the given processes, in KiB
hwm() { local total=0 kb; for p in "$@"; do kb=$(awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0); total=$((total + ${kb:-0})); done; echo "$total"; }

# measure NAME DIR PID PIDS_FUNC PORT: runs the load, waits for delivery, prints figures
measure() {
  local name=$1 dir=$2 port=$3 pids_fn=$4
  local start end out accepted_rate delivered_rate rss
  start=$(date +%s.%N)
  if ! out=$($load_prefix dotnet "$load_dll" --port "$port" --sessions "$sessions" --messages "$messages" --size "$size" --rcpt "$user@localhost"); then
    echo "$name: the load client saw failures: $out" >&2; return 1
  fi
  accepted_rate=$(sed -n 's/^accepted_per_second=//p' <<<"$out")
  if ! wait_for 600 has_all "$dir/maildir"; then echo "$name: only $(count_new "$dir/maildir") of $messages delivered" >&2; return 1; fi
  end=$(date +%s.%N)
  delivered_rate=$(python3 -c "print(f'{$messages / ($end - $start):.1f}')")
  rss=$(( $(hwm $($pids_fn)) / 1024 ))
  echo "$name accepted_per_second=$accepted_rate delivered_per_second=$delivered_rate peak_rss_mib=$rss"
}

load_prefix=""

# --- our smtpd ---
ours=$work/ours; mkdir -p "$ours/maildir" "$ours/mail"; chown "$user" "$ours/maildir"
port=$(free_port)
cat > "$ours/smtpd.conf" <<CONF
listen on 127.0.0.1 port $port
action "local" maildir "$ours/maildir"
match from any for local action "local"
CONF
SMTPD_SPOOL=$ours/spool SMTPD_SOCKET=$ours/sock SMTPD_MAILSPOOL=$ours/mail \
  dotnet "$smtpd_dll" -d -f "$ours/smtpd.conf" 2>"$ours/log" &
ours_pid=$!; pids+=("$ours_pid")
wait_for 60 grep -q "listening on" "$ours/log" || { cat "$ours/log" >&2; exit 1; }
ours_pids() { echo "$ours_pid"; }
ours_line=$(measure smtpd "$ours" "$port" ours_pids) || exit 1
echo "$ours_line"
kill -TERM "$ours_pid"; wait "$ours_pid" || true

[ "$with_osd" = 1 ] || exit 0

# --- OpenSMTPD 6.8, in its own mount namespace (its paths are compiled in) ---
[ -x "$osd_bin" ] || "$here/install-opensmtpd.sh" >&2
osd=$work/osd; mkdir -p "$osd/maildir" "$osd/spool" "$osd/run" "$osd/mail"; chown "$user" "$osd/maildir"
chmod 711 "$osd/spool"
port=$(free_port)
cat > "$osd/smtpd.conf" <<CONF
listen on 127.0.0.1 port $port
action "local" maildir "$osd/maildir"
match from any for local action "local"
CONF
# Its own network namespace too: only loopback, so its resolver can reach nothing outside.
unshare -m -n --propagation private bash -c "
  ip link set lo up &&
  mount --bind '$osd/spool' /var/spool/smtpd && mount --bind '$osd/run' /run && mount --bind '$osd/mail' /var/mail &&
  exec '$osd_bin' -d -f '$osd/smtpd.conf'" 2>"$osd/log" &
osd_pid=$!; pids+=("$osd_pid")
load_prefix="nsenter -t $osd_pid -n"
wait_for 60 $load_prefix python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null || { cat "$osd/log" >&2; exit 1; }
# OpenSMTPD is several processes: count them all (the parent and every child it forked).
# (unshare and bash exec into smtpd, so $osd_pid is its parent process.)
osd_pids() { echo "$osd_pid" $(pgrep -P "$osd_pid" | tr '\n' ' '); }
osd_line=$(measure opensmtpd "$osd" "$port" osd_pids) || exit 1
echo "$osd_line (RSS summed over its processes)"
kill -TERM "$osd_pid" 2>/dev/null; wait "$osd_pid" 2>/dev/null || true

ratio() { python3 -c "a=float('$1'); b=float('$2'); print(f'{a/b:.2f}' if b else 'n/a')"; }
field() { sed -n "s/.*$2=\([0-9.]*\).*/\1/p" <<<"$1"; }
echo "ratio smtpd/opensmtpd: accepted=$(ratio "$(field "$ours_line" accepted_per_second)" "$(field "$osd_line" accepted_per_second)") delivered=$(ratio "$(field "$ours_line" delivered_per_second)" "$(field "$osd_line" delivered_per_second)") peak_rss=$(ratio "$(field "$ours_line" peak_rss_mib)" "$(field "$osd_line" peak_rss_mib)")"
