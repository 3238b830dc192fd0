#!/usr/bin/env bash
# Fuzzes one target with AFL++ through SharpFuzz, for a number of minutes, then prints the figures.
#
#   fuzz/run.sh TARGET MINUTES      TARGET: smtp-command | config | envelope | bounce-mime
#
# Needs AFL++ (apt-get install afl++) and the local dotnet tools (dotnet tool restore).
# Builds Release, copies the output to fuzz/out/TARGET/bin and instruments that copy only, so
# the build output the tests use is never instrumented. Findings go to fuzz/out/TARGET/findings
# (an earlier run's are moved aside); set RESUME=1 to continue an earlier run instead.
# Runs at nice 19: several may run at once, but give other work the CPU.
set -euo pipefail

target=${1:-}
minutes=${2:-}
case "$target" in
    smtp-command|config|envelope|bounce-mime) ;;
    *) echo "usage: $0 {smtp-command|config|envelope|bounce-mime} MINUTES" >&2; exit 2 ;;
esac
[[ "$minutes" =~ ^[0-9]+$ ]] || { echo "usage: $0 $target MINUTES" >&2; exit 2; }
command -v afl-fuzz >/dev/null || { echo "afl-fuzz not found: apt-get install afl++" >&2; exit 1; }

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=fuzz/out/$target
bin=$out/bin

mkdir -p "$out"
# Runs started together take turns to build and copy.
exec 9>fuzz/out/.build.lock
flock 9
dotnet tool restore >/dev/null
nice -n 19 dotnet build -c Release -nologo -v quiet fuzz/Smtpd.Fuzz/Smtpd.Fuzz.csproj >/dev/null
rm -rf "$bin"
cp -r fuzz/Smtpd.Fuzz/bin/Release/net10.0 "$bin"
flock -u 9
# Coverage comes from the code whose branches matter: ours, and MimeKit's parser for bounces.
# A whole SMTP session also runs the log writer and the bus on other threads, whose branches
# would only be noise: that target instruments the SMTP and lookup components alone.
case "$target" in
    smtp-command) dotnet sharpfuzz "$bin/Smtpd.Core.dll" Smtpd.Smtp. Smtpd.Lookup. >/dev/null ;;
    # MimeKit's parsers and writers, not MimeUtils, whose random Message-Id and boundary would
    # make every run take other branches.
    bounce-mime)
        dotnet sharpfuzz "$bin/Smtpd.Core.dll" >/dev/null
        dotnet sharpfuzz "$bin/MimeKit.dll" MimeKit.MimeParser MimeKit.MimeReader MimeKit.MimeMessage MimeKit.MimeEntity \
            MimeKit.MimePart MimeKit.TextPart MimeKit.Multipart MimeKit.MessageDeliveryStatus MimeKit.Header \
            MimeKit.InternetAddress MimeKit.MailboxAddress MimeKit.GroupAddress MimeKit.ContentType MimeKit.ContentDisposition \
            MimeKit.Parameter MimeKit.Utils.ParseUtils MimeKit.Utils.Rfc2047 MimeKit.Utils.DateUtils MimeKit.Encodings. >/dev/null ;;
    *) dotnet sharpfuzz "$bin/Smtpd.Core.dll" >/dev/null ;;
esac

findings=$out/findings
input=fuzz/corpus/$target
if [[ ${RESUME:-0} == 1 && -d $findings/default ]]; then
    input=-
elif [[ -d $findings ]]; then
    mv "$findings" "$findings.$(date +%Y%m%d-%H%M%S)"
fi

dict=()
[[ -f fuzz/dict/$target.dict ]] && dict=(-x "fuzz/dict/$target.dict")

# AFL_SKIP_BIN_CHECK: dotnet is not an AFL-instrumented binary; SharpFuzz speaks the fork-server
# protocol. A 512 MiB GC heap limit turns unbounded memory use into OutOfMemoryException, a crash.
# -t 10000: an input that runs 10 s is a hang (the first runs include JIT compilation).
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 \
    AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_AUTORESUME=0 \
    DOTNET_GCHeapHardLimit=0x20000000 DOTNET_CLI_TELEMETRY_OPTOUT=1
nice -n 19 afl-fuzz -i "$input" -o "$findings" -t 10000 -m none -V $((minutes * 60)) "${dict[@]}" \
    -- dotnet "$bin/Smtpd.Fuzz.dll" "$target" > "$out/afl.log" 2>&1 || {
    echo "afl-fuzz failed; see $out/afl.log" >&2; tail -20 "$out/afl.log" >&2; exit 1; }

stats=$findings/default/fuzzer_stats
stat() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
echo "target:      $target"
echo "run time:    $(stat run_time) s"
echo "executions:  $(stat execs_done)"
echo "execs/s:     $(awk -v n="$(stat execs_done)" -v t="$(stat run_time)" 'BEGIN { printf "%.1f", (t > 0 ? n / t : 0) }')"
echo "corpus:      $(stat corpus_count) (from $(ls "fuzz/corpus/$target" | wc -l) seeds)"
echo "crashes:     $(stat saved_crashes)"
echo "hangs:       $(stat saved_hangs)"
echo "stability:   $(stat stability)"
echo "findings in: $findings/default/crashes and .../hangs"
