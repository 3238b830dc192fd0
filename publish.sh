#!/usr/bin/env bash
# Builds what an administrator installs: smtpd and smtpctl as Native AOT executables (no .NET
# runtime needed to run them; every process starts in milliseconds), with the SQLite library
# they load, into DIR (default: ./publish). Needs the .NET 10 SDK, clang and zlib1g-dev.
#   ./publish.sh [--pie] [DIR]
# --pie: smtpd as a position-independent executable, its code at a random address (ASLR), at
# about 5 MB more memory in each of its processes (see src/smtpd/smtpd.csproj).
set -euo pipefail
cd "$(dirname "$0")"
extra=()
if [ "${1:-}" = "--pie" ]; then extra=(-p:PositionIndependentExecutable=true); shift; fi
out=$(realpath -m "${1:-publish}")
case "$(uname -m)" in
  x86_64) rid=linux-x64 ;;
  aarch64) rid=linux-arm64 ;;
  *) echo "publish.sh: no Native AOT build for $(uname -m); run the JIT build (dotnet run --project src/smtpd)" >&2; exit 1 ;;
esac
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# One after the other: both build Smtpd.Core for the same target, and the compiler uses every core.
for project in smtpd smtpctl; do
  dotnet publish "src/$project" -c Release -r "$rid" -o "$out" -v q -nologo "${extra[@]}"
done
echo "published: $out/smtpd $out/smtpctl $out/libe_sqlite3.so"
