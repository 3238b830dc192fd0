#!/usr/bin/env python3
"""Writes src/smtpd/hot-methods.zip (hot-methods.txt): the managed methods smtpd's processes really run in a day of
ordinary work, for the Native AOT compiler to lay out first and together (IlcOrderFile).

Why: every process maps the one executable, and the kernel maps file pages in 64 KiB windows
around each page a process touches ("fault-around"); with the compiler's default order, the few
methods a process runs are spread over the whole 10 MB of code, so most of the executable ends up
resident in every process (the idle daemon 6.7 of its 10.4 MB of code). With the methods that run
packed together, the windows fall on them.

How: with the block device's read-ahead off and the executable out of the page cache, a page is
read (and then mapped) only when some process touches it. The script starts the published smtpd
as root (daemon, privileged helper, delivery processes), drives ordinary traffic through it
(mail received into Maildir and mbox, relayed to an SMTP sink, refused recipients, a bounce,
smtpctl queries), then reads which pages of the executable each process has mapped
(/proc/PID/pagemap) and names the methods on them from the symbol file (smtpd.dbg).
Run as root on an otherwise idle machine:  bench/layout/train.py publish  (after ./publish.sh)
"""
import bisect, os, zipfile, shutil, signal, socket, struct, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "harness"))
from proctree import tree                             # noqa: E402  (the bench's own helpers)
from servers import banner_ok, free_port, wait_until  # noqa: E402

repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pub = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo, "publish"))
exe, dbg = os.path.join(pub, "smtpd"), os.path.join(pub, "smtpd.dbg")
out = os.path.join(repo, "src", "smtpd", "hot-methods.zip")
user = "smtpdbench"








def read_ahead_file(path):
    """/sys/.../read_ahead_kb of the block device holding path."""
    dev = os.stat(path).st_dev
    sysdev = os.path.realpath(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    for d in (sysdev, os.path.dirname(sysdev)):
        f = os.path.join(d, "queue", "read_ahead_kb")
        if os.path.exists(f):
            return f
    sys.exit(f"no read_ahead_kb for the device of {path}")


def evict(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def sink(port, stop):
    """A minimal SMTP server: accepts everything except RCPT to reject@..., which gets 550."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port)); srv.listen(16); srv.settimeout(0.5)

    def session(c):
        f = c.makefile("rb")
        c.sendall(b"220 sink ESMTP\r\n")
        data = False
        for line in f:
            if data:
                if line == b".\r\n":
                    data = False; c.sendall(b"250 2.0.0 queued\r\n")
                continue
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                c.sendall(b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb == b"RCPT" and b"reject@" in line:
                c.sendall(b"550 5.1.1 no such user here\r\n")
            elif verb == b"DATA":
                data = True; c.sendall(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                c.sendall(b"221 2.0.0 bye\r\n"); break
            else:
                c.sendall(b"250 2.0.0 ok\r\n")
        c.close()

    while not stop.is_set():
        try:
            c, _ = srv.accept()
        except socket.timeout:
            continue
        threading.Thread(target=session, args=(c,), daemon=True).start()
    srv.close()




def resident_pages(pid):
    pages = set()
    try:
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pm:
            for line in maps:
                f = line.split()
                if len(f) < 6 or f[5] != exe or "x" not in f[1]:
                    continue
                lo, hi = (int(x, 16) for x in f[0].split("-"))
                pm.seek(lo // 4096 * 8)
                entries = pm.read((hi - lo) // 4096 * 8)
                for i in range(0, len(entries), 8):
                    if struct.unpack_from("<Q", entries, i)[0] >> 63:
                        pages.add(lo + i // 8 * 4096)
    except OSError:
        pass
    return pages


def smtp(port, sender, rcpts, body=b"Subject: t\r\n\r\nhello\r\n"):
    """One message; returns the RCPT replies' codes."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        f = s.makefile("rb")
        def cmd(line):
            if line is not None:
                s.sendall(line + b"\r\n")
            reply = f.readline()
            while reply[3:4] == b"-":
                reply = f.readline()
            return int(reply[:3])
        cmd(None); cmd(b"EHLO trainer.example")
        cmd(b"MAIL FROM:<" + sender + b">")
        codes = [cmd(b"RCPT TO:<" + r + b">") for r in rcpts]
        if any(c == 250 for c in codes):
            cmd(b"DATA"); s.sendall(body + b".\r\n"); f.readline()
        cmd(b"QUIT")
        return codes


def main():
    if os.geteuid() != 0:
        sys.exit("run as root: the privileged helper and the delivery processes are part of what is measured")
    for p in (exe, dbg):
        if not os.path.exists(p):
            sys.exit(f"{p} missing: run ./publish.sh first")
    if subprocess.run(["pgrep", "-f", exe], capture_output=True).returncode == 0:
        sys.exit(f"{exe} is running: stop it (its pages would be in the page cache)")
    subprocess.run(["id", user], capture_output=True).returncode == 0 or subprocess.run(["useradd", "-m", user], check=True)

    work = tempfile.mkdtemp(prefix="smtpd-train.")
    os.chmod(work, 0o755)
    maildir, mail = os.path.join(work, "maildir"), os.path.join(work, "mail")
    os.makedirs(maildir); os.makedirs(mail); shutil.chown(maildir, user)
    port, sink_port = free_port(), free_port()
    conf = os.path.join(work, "smtpd.conf")
    with open(conf, "w") as f:
        f.write(f"""smtp limit max-mails 100000
listen on 127.0.0.1 port {port}
action "maildir" maildir "{maildir}" virtual {{ "@" = {user} }}
action "mbox" mbox
action "relay" relay host smtp://127.0.0.1:{sink_port}
match from any for domain "maildir.test" action "maildir"
match from any for domain "relay.test" action "relay"
match from any for local action "mbox"
""")
    stop = threading.Event()
    threading.Thread(target=sink, args=(sink_port, stop), daemon=True).start()
    ra = read_ahead_file(exe)
    with open(ra) as f:
        saved = f.read().strip()
    env = dict(os.environ, SMTPD_SPOOL=os.path.join(work, "spool"), SMTPD_SOCKET=os.path.join(work, "sock"),
               SMTPD_MAILSPOOL=mail)
    daemon, seen = None, set()
    try:
        with open(ra, "w") as f:
            f.write("0")
        evict(exe)
        log = open(os.path.join(work, "log"), "w")
        daemon = subprocess.Popen([exe, "-d", "-f", conf], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
        if not wait_until(60, lambda: banner_ok([], port)):
            sys.exit("smtpd did not start: " + open(os.path.join(work, "log")).read()[-2000:])

        def sample():
            for p in tree(daemon.pid):
                seen.update(resident_pages(p))

        source = ["smtp-source", "-s", "5", "-m", "600", "-l", "10240", "-f", "bench@example.org",
                  "-t", f"{user}@maildir.test", f"127.0.0.1:{port}"]
        loader = subprocess.Popen(source)
        while loader.poll() is None:
            sample(); time.sleep(0.5)
        for i in range(20):
            smtp(port, b"alice@example.org", [f"{user}@localhost".encode()])
            smtp(port, b"alice@example.org", [b"bob@relay.test", b"carol@relay.test"])
        smtp(port, f"{user}@localhost".encode(), [b"reject@relay.test"])     # refused by the sink: a bounce
        for i in range(5):
            smtp(port, b"alice@example.org", [b"nosuchuser@localhost"])       # 550 at RCPT
        ctl = os.path.join(pub, "smtpctl")
        for verb in (["show", "queue"], ["show", "stats"], ["show", "routes"], ["show", "hosts"]):
            subprocess.run([ctl] + verb, env=env, capture_output=True, timeout=30)
        new = os.path.join(maildir, "new")
        wait_until(120, lambda: os.path.isdir(new) and len(os.listdir(new)) >= 600)
        wait_until(30, lambda: os.path.exists(os.path.join(mail, user)) and open(os.path.join(mail, user), "rb").read().count(b"\nFrom ") >= 19)
        time.sleep(2)
        sample()
    finally:
        if daemon:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(30)
            except subprocess.TimeoutExpired:
                daemon.kill()
        with open(ra, "w") as f:
            f.write(saved)
        stop.set()
        shutil.rmtree(work, ignore_errors=True)

    # Name the methods on the pages the processes touched, in the executable's order.
    # Only managed methods (the __managedcode section): the compiler orders those, nothing else.
    sections = subprocess.run(["readelf", "-SW", exe], capture_output=True, text=True, check=True).stdout
    row = next(l for l in sections.splitlines() if " __managedcode " in l).split()
    at = row.index("__managedcode")
    code_start, code_end = int(row[at + 2], 16), int(row[at + 2], 16) + int(row[at + 4], 16)
    symbols = []
    nm = subprocess.run(["nm", "-n", "--defined-only", dbg], capture_output=True, text=True, check=True).stdout
    for line in nm.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tT":
            symbols.append((int(parts[0], 16), parts[2]))
    starts = [a for a, _ in symbols]
    hot = set()
    for page in seen:
        i = bisect.bisect_right(starts, page) - 1
        while i + 1 < len(symbols) and symbols[i][0] < page + 4096:
            if i >= 0:
                hot.add(i)
            i += 1
    names = [symbols[i][1] for i in sorted(hot) if code_start <= symbols[i][0] < code_end]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("hot-methods.txt", "\n".join(names) + "\n")
    print(f"{len(seen) * 4} KiB of code touched; {len(names)} symbols written to {out}")


main()
