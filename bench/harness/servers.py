"""The three servers under test, each started as an administrator starts it (as root, so that
privilege separation and per-user delivery are on), each delivering every message to the same
ordinary user's Maildir, each on a fresh spool per run.

- smtpd: our build, `smtpd -d -f smtpd.conf`, `action maildir PATH virtual { "@" = USER }`.
- opensmtpd: OpenSMTPD 6.8 (Debian's, extracted in /opt/opensmtpd), the same smtpd.conf, in its
  own mount namespace (spool, socket and mail paths are compiled in; bind mounts give each run its
  own) and network namespace (loopback only); loads join that namespace with nsenter.
- postfix: Postfix 3.7, a private instance (its own config_directory and queue_directory,
  `postfix -c DIR start`), delivering with virtual(8) as the same user (static uid/gid maps) into
  a Maildir (the table value ends in '/').
"""
import os
import pwd
import resource
import shutil
import signal
import socket
import subprocess
import time

from proctree import tree

HOST = "127.0.0.1"
RCPT_DOMAIN = "localhost"


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def banner_ok(prefix, port):
    """True when the server answers a connection with a 220 banner (inside its namespace if any)."""
    probe = ("import socket,sys\ns=socket.create_connection(('%s',%d),2)\ns.settimeout(5)\n"
             "sys.exit(0 if s.recv(512).startswith(b'220') else 1)") % (HOST, port)
    try:
        return subprocess.run(prefix + ["python3", "-c", probe], stderr=subprocess.DEVNULL, timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def wait_until(seconds, check, interval=0.1):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def kill_tree(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Server:
    name = "?"
    pipelining = True

    def __init__(self, workdir, user):
        self.dir, self.user = workdir, user
        self.port = free_port()
        self.maildir = os.path.join(workdir, "maildir")
        self.root = None          # the pid at the top of the server's process tree
        self.prefix = []          # what runs a command in the server's network namespace
        self.nofile = None        # a descriptor limit (ulimit -n) to start the server under
        pw = pwd.getpwnam(user)
        os.makedirs(os.path.join(self.maildir, "new"), exist_ok=True)
        for sub in ("", "new", "cur", "tmp"):
            path = os.path.join(self.maildir, sub)
            os.makedirs(path, exist_ok=True)
            os.chown(path, pw.pw_uid, pw.pw_gid)
            os.chmod(path, 0o700)

    def preexec(self):
        if self.nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    @property
    def new_dir(self):
        return os.path.join(self.maildir, "new")

    def smtpd_conf(self):
        # OpenSMTPD (and ours, alike) ends a session after 100 messages by default (452 4.5.3);
        # a load of 2000 messages over 5 kept connections needs more.
        return (f"smtp limit max-mails 100000\n"
                f"listen on {HOST} port {self.port}\n"
                f'action "local" maildir "{self.maildir}" virtual {{ "@" = {self.user} }}\n'
                f'match from any for any action "local"\n')

    def ready(self, seconds=60):
        return wait_until(seconds, lambda: self.root is not None and banner_ok(self.prefix, self.port), 0.25)

    def log_tail(self):
        try:
            with open(os.path.join(self.dir, "log"), errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""


class Ours(Server):
    name = "smtpd"

    def __init__(self, workdir, user, binary, smtpctl):
        super().__init__(workdir, user)
        self.binary, self.smtpctl = binary, smtpctl

    def sendmail(self):
        env = dict(os.environ, SMTPD_SOCKET=os.path.join(self.dir, "sock"), SMTPD_SPOOL=os.path.join(self.dir, "spool"))
        return [self.smtpctl, "sendmail", "-t"], env

    run_as = None     # None: root, as an administrator starts it

    def start(self):
        conf = os.path.join(self.dir, "smtpd.conf")
        with open(conf, "w") as f:
            f.write(self.smtpd_conf())
        env = dict(os.environ, SMTPD_SPOOL=os.path.join(self.dir, "spool"), SMTPD_SOCKET=os.path.join(self.dir, "sock"),
                   SMTPD_MAILSPOOL=os.path.join(self.dir, "mail"))
        os.makedirs(env["SMTPD_MAILSPOOL"], exist_ok=True)
        if self.run_as:
            for path in (env["SMTPD_MAILSPOOL"], self.dir):
                shutil.chown(path, self.run_as)
        with open(os.path.join(self.dir, "log"), "w") as log:
            self.proc = subprocess.Popen([self.binary, "-d", "-f", conf], stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env, cwd=self.dir,
                                         preexec_fn=self.preexec, user=self.run_as, group=self.run_as,
                                         extra_groups=[] if self.run_as else None)
        self.root = self.proc.pid

    def stop(self):
        pids = tree(self.root)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        kill_tree(pids)
        self.proc.wait()


class OursAsUser(Ours):
    """Ours started by the mail's owner instead of root: one process, no privilege separation.
    Not how an administrator runs it; it shows what the privileged delivery path costs."""
    name = "smtpd-user"

    def __init__(self, workdir, user, binary, smtpctl):
        super().__init__(workdir, user, binary, smtpctl)
        self.run_as = user


class OursBaseline(Ours):
    """Another build of ours (--baseline-smtpd), e.g. an older commit, measured in the same run
    and the same way, so that a change is compared with what it changed in one run."""
    name = "smtpd-base"


class OursWithMetrics(Ours):
    """Ours with `metrics listen on` (issue 21): the same load, the metrics counted as it runs and
    scraped once a second, to show what the endpoint costs on the mail path."""
    name = "smtpd-metrics"

    def __init__(self, workdir, user, binary, smtpctl):
        super().__init__(workdir, user, binary, smtpctl)
        self.metrics_port = free_port()
        self._scraping = None

    def smtpd_conf(self):
        return super().smtpd_conf() + f"metrics listen on {HOST} port {self.metrics_port}\n"

    def start(self):
        super().start()
        import threading
        import urllib.request
        stop = threading.Event()

        def scrape():
            while not stop.wait(1.0):
                try:
                    urllib.request.urlopen(f"http://{HOST}:{self.metrics_port}/metrics", timeout=5).read()
                except OSError:
                    pass
        self._scraping = (stop, threading.Thread(target=scrape, daemon=True))
        self._scraping[1].start()

    def stop(self):
        if self._scraping:
            self._scraping[0].set()
            self._scraping[1].join(10)
        super().stop()


class OpenSmtpd(Server):
    name = "opensmtpd"
    pipelining = False        # 6.8 has no PIPELINING: a pipelined client gets 500 and a close

    def __init__(self, workdir, user, binary):
        super().__init__(workdir, user)
        self.binary = binary

    def start(self):
        conf = os.path.join(self.dir, "smtpd.conf")
        with open(conf, "w") as f:
            f.write(self.smtpd_conf())
        for sub, mode in (("spool", 0o711), ("run", 0o755), ("mail", 0o755)):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
            os.chmod(os.path.join(self.dir, sub), mode)
        d = self.dir
        script = (f"ip link set lo up && mount --bind '{d}/spool' /var/spool/smtpd && mount --bind '{d}/run' /run && "
                  f"mount --bind '{d}/mail' /var/mail && exec '{self.binary}' -d -f '{conf}'")
        with open(os.path.join(self.dir, "log"), "w") as log:
            # unshare and bash exec into smtpd: the pid we get is OpenSMTPD's parent process.
            self.proc = subprocess.Popen(["unshare", "-m", "-n", "--propagation", "private", "bash", "-c", script],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         preexec_fn=self.preexec)
        self.root = self.proc.pid
        self.prefix = ["nsenter", "-t", str(self.root), "-n"]

    def sendmail(self):
        # Its socket is bind-mounted in its mount namespace; nsenter adds about a millisecond.
        return ["nsenter", "-t", str(self.root), "-m", os.path.join(os.path.dirname(self.binary), "sendmail"), "-t"], None

    def stop(self):
        pids = tree(self.root)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        kill_tree(pids)
        self.proc.wait()


class Postfix(Server):
    name = "postfix"

    def start(self):
        d = self.dir
        conf, queue, data = (os.path.join(d, n) for n in ("conf", "queue", "data"))
        for path in (conf, queue, data):
            os.makedirs(path, exist_ok=True)
        shutil.chown(data, "postfix")
        pw = pwd.getpwnam(self.user)
        with open(os.path.join(conf, "main.cf"), "w") as f:
            f.write(f"""compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = {HOST}
inet_protocols = ipv4
myhostname = bench.example
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
smtpd_recipient_restrictions = permit_mynetworks, reject
virtual_mailbox_domains = {RCPT_DOMAIN}
virtual_mailbox_base = {d}
virtual_mailbox_maps = inline:{{ @{RCPT_DOMAIN}=maildir/ }}
virtual_uid_maps = static:{pw.pw_uid}
virtual_gid_maps = static:{pw.pw_gid}
biff = no
""")
        with open(os.path.join(conf, "master.cf"), "w") as f:
            f.write(master_cf(self.port))
        result = subprocess.run(["postfix", "-c", conf, "start"], capture_output=True, text=True, timeout=60,
                                preexec_fn=self.preexec)
        with open(os.path.join(d, "log"), "w") as log:
            log.write(result.stdout + result.stderr)
        pidfile = os.path.join(queue, "pid", "master.pid")
        if wait_until(30, lambda: os.path.exists(pidfile) and open(pidfile).read().strip().isdigit()):
            self.root = int(open(pidfile).read().strip())
        self.conf = conf

    def sendmail(self):
        return ["sendmail", "-C", self.conf, "-t"], None

    def stop(self):
        pids = tree(self.root) if self.root else []
        subprocess.run(["postfix", "-c", self.conf, "stop"], capture_output=True, timeout=60)
        wait_until(20, lambda: not os.path.exists(f"/proc/{self.root}"))
        kill_tree(pids)


def master_cf(port):
    """Debian's master.cf services for local delivery, no chroot, smtpd on our port only."""
    services = [
        ("pickup", "unix", "n", "-", "60", "1", "pickup"),
        ("cleanup", "unix", "n", "-", "-", "0", "cleanup"),
        ("qmgr", "unix", "n", "-", "300", "1", "qmgr"),
        ("rewrite", "unix", "-", "-", "-", "-", "trivial-rewrite"),
        ("bounce", "unix", "-", "-", "-", "0", "bounce"),
        ("defer", "unix", "-", "-", "-", "0", "bounce"),
        ("trace", "unix", "-", "-", "-", "0", "bounce"),
        ("verify", "unix", "-", "-", "-", "1", "verify"),
        ("flush", "unix", "n", "-", "1000?", "0", "flush"),
        ("proxymap", "unix", "-", "-", "-", "-", "proxymap"),
        ("proxywrite", "unix", "-", "-", "-", "1", "proxymap"),
        ("smtp", "unix", "-", "-", "-", "-", "smtp"),
        ("relay", "unix", "-", "-", "-", "-", "smtp"),
        ("showq", "unix", "n", "-", "-", "-", "showq"),
        ("error", "unix", "-", "-", "-", "-", "error"),
        ("retry", "unix", "-", "-", "-", "-", "error"),
        ("discard", "unix", "-", "-", "-", "-", "discard"),
        ("local", "unix", "-", "n", "-", "-", "local"),
        ("virtual", "unix", "-", "n", "-", "-", "virtual"),
        ("anvil", "unix", "-", "-", "-", "1", "anvil"),
        ("scache", "unix", "-", "-", "-", "1", "scache"),
        ("postlog", "unix-dgram", "n", "-", "-", "1", "postlogd"),
        (f"{HOST}:{port}", "inet", "n", "-", "-", "-", "smtpd"),
    ]
    # Columns: service type private unpriv chroot wakeup maxproc command.
    return "".join(f"{s} {t} {p} {u} n {w} {m} {c}\n" for s, t, p, u, w, m, c in services)
