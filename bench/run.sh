#!/usr/bin/env bash
# Throughput benchmark: 2000 messages of 10 KiB over 20 concurrent sessions to a maildir.
# Prints accepted msgs/s, delivered msgs/s and peak RSS for our smtpd and, with
# --with-opensmtpd (or when /opt/opensmtpd exists), for OpenSMTPD 6.8 in the same run.
# With --rounds N the servers take turns N times and the medians are compared (this machine's
# figures vary by ±20 % and more from run to run).
#   bench/run.sh [--with-opensmtpd] [--rounds N] [--messages N] [--sessions N] [--size BYTES]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=${SMTPD_REPO:-$(cd "$here/.." && pwd)}
messages=2000 sessions=20 size=10240 rounds=1 with_osd=0 osd_bin=/opt/opensmtpd/usr/sbin/smtpd
# OpenSMTPD installed as Debian's package, or extracted by install-opensmtpd.sh.
if dpkg-query -W -f='${Status}' opensmtpd 2>/dev/null | grep -q "ok installed"; then osd_bin=/usr/sbin/smtpd; with_osd=1; fi
[ -x /opt/opensmtpd/usr/sbin/smtpd ] && with_osd=1
while [ $# -gt 0 ]; do
  case "$1" in
    --with-opensmtpd) with_osd=1 ;;
    --messages) messages=$2; shift ;;
    --sessions) sessions=$2; shift ;;
    --size) size=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    *) echo "usage: $0 [--with-opensmtpd] [--rounds N] [--messages N] [--sessions N] [--size BYTES]" >&2; exit 64 ;;
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

# run_ours ROUND: our smtpd, fresh spool and maildir
run_ours() {
  local dir=$work/ours-$1 port pid
  mkdir -p "$dir/maildir" "$dir/mail"; chown "$user" "$dir/maildir"
  port=$(free_port)
  printf 'listen on 127.0.0.1 port %s\naction "local" maildir "%s"\nmatch from any for local action "local"\n' "$port" "$dir/maildir" > "$dir/smtpd.conf"
  SMTPD_SPOOL=$dir/spool SMTPD_SOCKET=$dir/sock SMTPD_MAILSPOOL=$dir/mail \
    dotnet "$smtpd_dll" -d -f "$dir/smtpd.conf" 2>"$dir/log" &
  pid=$!; pids+=("$pid")
  wait_for 60 grep -q "listening on" "$dir/log" || { cat "$dir/log" >&2; return 1; }
  load_prefix=""
  ours_pids() { echo "$pid"; }
  measure smtpd "$dir" "$port" ours_pids || return 1
  kill -TERM "$pid"; wait "$pid" || true
}

# run_osd ROUND: OpenSMTPD 6.8 in its own mount namespace (its paths are compiled in) and its
# own network namespace (only loopback, so its resolver can reach nothing outside)
run_osd() {
  local dir=$work/osd-$1 port pid
  mkdir -p "$dir/maildir" "$dir/spool" "$dir/run" "$dir/mail"; chown "$user" "$dir/maildir"; chmod 711 "$dir/spool"
  port=$(free_port)
  printf 'listen on 127.0.0.1 port %s\naction "local" maildir "%s"\nmatch from any for local action "local"\n' "$port" "$dir/maildir" > "$dir/smtpd.conf"
  unshare -m -n --propagation private bash -c "
    ip link set lo up &&
    mount --bind '$dir/spool' /var/spool/smtpd && mount --bind '$dir/run' /run && mount --bind '$dir/mail' /var/mail &&
    exec '$osd_bin' -d -f '$dir/smtpd.conf'" 2>"$dir/log" &
  pid=$!; pids+=("$pid")
  load_prefix="nsenter -t $pid -n"
  wait_for 60 $load_prefix python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null || { cat "$dir/log" >&2; return 1; }
  # Several processes: unshare and bash exec into smtpd, so $pid is the parent of all the others.
  osd_pids() { echo "$pid" $(pgrep -P "$pid" | tr '\n' ' '); }
  measure opensmtpd "$dir" "$port" osd_pids || return 1
  kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
}

if [ "$with_osd" = 1 ] && [ ! -x "$osd_bin" ]; then "$here/install-opensmtpd.sh" >&2; fi
results=()
for round in $(seq 1 "$rounds"); do
  line=$(run_ours "$round") || exit 1; echo "$line"; results+=("$line")
  if [ "$with_osd" = 1 ]; then
    line=$(run_osd "$round") || exit 1; echo "$line (RSS summed over its processes)"; results+=("$line")
  fi
done

# median NAME FIELD: the median of FIELD over NAME's rounds
median() {
  printf '%s\n' "${results[@]}" \
    | awk -v n="$1" -v f="$2" '$1 == n { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' \
    | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

if [ "$rounds" -gt 1 ]; then
  for name in smtpd opensmtpd; do
    [ "$name" = opensmtpd ] && [ "$with_osd" != 1 ] && continue
    echo "median $name accepted_per_second=$(median $name accepted_per_second) delivered_per_second=$(median $name delivered_per_second) peak_rss_mib=$(median $name peak_rss_mib)"
  done
fi
if [ "$with_osd" = 1 ]; then
  echo "ratio smtpd/opensmtpd: accepted=$(ratio "$(median smtpd accepted_per_second)" "$(median opensmtpd accepted_per_second)") delivered=$(ratio "$(median smtpd delivered_per_second)" "$(median opensmtpd delivered_per_second)") peak_rss=$(ratio "$(median smtpd peak_rss_mib)" "$(median opensmtpd peak_rss_mib)")"
fi
