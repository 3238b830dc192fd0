"""Holds N idle SMTP sessions open on a server, then times fresh clients' banners.

    python3 idle_sessions.py PORT N

Connects N clients (a few hundred at a time in flight, for at most 60 s plus 10 s per thousand),
counts those greeted with 220 within 10 s each, prints `held=K`, then opens 20 fresh clients one
after another while the others stay open (stopping after 3 that get no banner within 5 s),
prints the median and largest time from connect() to the banner's arrival (`banner_p50_ms=`,
`banner_max_ms=`), then `ready`, and keeps every session open until its standard input closes.
Runs inside the server's network namespace when there is one.
"""
import resource
import selectors
import socket
import statistics
import sys
import time

port, wanted = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, wanted + 200)), hard))

sel = selectors.DefaultSelector()
held, pending, started = [], {}, 0
deadline = time.monotonic() + 60 + wanted / 100  # 10,000 connects on a busy 2-core machine take more than a minute
while (started < wanted or pending) and time.monotonic() < deadline:
    while started < wanted and len(pending) < 200:
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        sel.register(s, selectors.EVENT_READ)
        pending[s] = time.monotonic() + 10      # a server at its limit may never greet: give up on it
        started += 1
    for key, _ in sel.select(timeout=0.2):
        s = key.fileobj
        sel.unregister(s)
        del pending[s]
        try:
            if s.recv(512).startswith(b"220"):
                held.append(s)
                continue
        except OSError:
            pass
        s.close()
    now = time.monotonic()
    for s in [s for s, t in pending.items() if t < now]:
        sel.unregister(s)
        del pending[s]
        s.close()
print(f"held={len(held)}", flush=True)

times, failures = [], 0
for _ in range(20):
    if failures >= 3:
        break           # the server greets no one more: no need to wait out every try
    t0 = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), 5) as c:
            c.settimeout(5)
            if c.recv(512).startswith(b"220"):
                times.append((time.monotonic() - t0) * 1000)
                continue
    except OSError:
        pass
    failures += 1
if times:
    print(f"banner_p50_ms={statistics.median(times):.1f} banner_max_ms={max(times):.1f}", flush=True)
print("ready", flush=True)
sys.stdin.read()
