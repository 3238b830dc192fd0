"""The loads: Postfix's smtp-source (one command at a time, the reference load) and our SmtpLoad
(one command at a time or pipelined, and the only one that marks each message for latency)."""
import os
import re
import subprocess
import time

FROM = "bench@example.org"


def smtp_source(server, sessions, messages, size, rcpt, timeout):
    """smtp-source -s N -m M -l SIZE -d: N sessions, each sending messages until M are sent,
    keeping its connection (-d). SIZE is the payload after smtp-source's few header lines."""
    cmd = server.prefix + ["smtp-source", "-s", str(sessions), "-m", str(messages), "-l", str(size), "-d",
                           "-f", FROM, "-t", rcpt, "-M", "bench.example", f"127.0.0.1:{server.port}"]
    start = time.time_ns()     # smtp-source is C and connects within a millisecond of its start
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    end = time.time_ns()
    return dict(start_ns=start, load_end_ns=end, ok=result.returncode == 0,
                error=(result.stdout + result.stderr)[-500:], sent_ns=None)


def smtpload(server, dll, sessions, messages, size, rcpt, timeout, pipelining, workdir):
    log = os.path.join(workdir, "sent.txt")
    cmd = server.prefix + ["dotnet", dll, "--port", str(server.port), "--sessions", str(sessions),
                           "--messages", str(messages), "--size", str(size), "--rcpt", rcpt, "--from", FROM,
                           "--latency-log", log]
    if pipelining:
        cmd.append("--pipelining")
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    end = time.time_ns()
    first = re.search(r"^first_connect_unix_ns=(\d+)", result.stdout, re.M)
    sent = {}
    if os.path.exists(log):
        with open(log) as f:
            for line in f:
                n, ns = line.split()
                sent[int(n)] = int(ns)
    return dict(start_ns=int(first.group(1)) if first else end, load_end_ns=end, ok=result.returncode == 0,
                error=(result.stdout + result.stderr)[-500:], sent_ns=sent)


BENCH_ID = re.compile(rb"^X-Bench-Id: (\d+)\r?$", re.M)


def delivered(new_dir):
    """[(path, ctime_ns)] of the files in new/. A file's ctime is set by the rename (or link)
    that put it there, by the kernel, so it is when the message arrived in new/, without the
    delay of a watcher that would have to be scheduled to notice it."""
    files = []
    with os.scandir(new_dir) as it:
        for entry in it:
            try:
                files.append((entry.path, entry.stat().st_ctime_ns))
            except FileNotFoundError:
                pass
    return files


def latencies_ms(files, sent_ns):
    """MAIL FROM sent -> file in new/, per message matched by its X-Bench-Id header."""
    out = []
    for path, ctime in files:
        with open(path, "rb") as f:
            m = BENCH_ID.search(f.read(8192))
        if m and int(m.group(1)) in sent_ns:
            out.append((ctime - sent_ns[int(m.group(1))]) / 1e6)
    return sorted(out)


def percentile(sorted_values, p):
    """Nearest-rank percentile."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, -(-p * len(sorted_values) // 100) - 1))
    return sorted_values[int(k)]
