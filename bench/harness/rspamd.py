"""A private rspamd for the milter bench, configured as the tests' RspamdServer.cs configures it:
Debian's configuration with overrides in a temporary LOCAL_CONFDIR, every worker on a free loopback
port, one normal worker (scans for filter-rspamd over HTTP) and one rspamd_proxy in milter mode
that scans by itself (self_scan), so both faces use one scanning process. No fuzzy servers, no
redis; DNS goes to a private dnsmasq that answers every name NXDOMAIN at once (there is no
internet here, and an unanswered RBL query would time each scan out).
"""
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request

from servers import HOST, free_port, wait_until


class Rspamd:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="rspamd-bench.")
        self.normal, self.controller, self.proxy, self.dns = free_port(), free_port(), free_port(), free_port()
        self.proc = self.dnsmasq = None

    @property
    def url(self):
        """What filter-rspamd's -url takes: the normal worker."""
        return f"http://{HOST}:{self.normal}"

    @property
    def milter(self):
        """What `filter ... milter` takes: rspamd_proxy in milter mode."""
        return f"inet:{HOST}:{self.proxy}"

    def start(self, timeout=240):
        d = self.dir
        overrides, local = os.path.join(d, "override.d"), os.path.join(d, "local.d")
        for sub in (overrides, local, os.path.join(d, "db"), os.path.join(d, "run")):
            os.makedirs(sub, exist_ok=True)
        files = {
            (overrides, "worker-normal.inc"): f'bind_socket = "{HOST}:{self.normal}";\ncount = 1;\n',
            (overrides, "worker-controller.inc"): f'bind_socket = "{HOST}:{self.controller}";\n',
            (overrides, "worker-proxy.inc"):
                f'bind_socket = "{HOST}:{self.proxy}";\nmilter = yes;\ntimeout = 120s;\ncount = 1;\n'
                'upstream "local" {\n  default = yes;\n  self_scan = yes;\n}\n',
            (overrides, "logging.inc"): f'type = "file";\nfilename = "{d}/rspamd.log";\nlevel = "error";\n',
            (overrides, "options.inc"): f'dns {{\n  nameserver = ["{HOST}:{self.dns}"];\n  timeout = 1s;\n  retransmits = 1;\n}}\n',
            (overrides, "fuzzy_check.conf"): "enabled = false;\n",
            # A header on every message (ours come from 127.0.0.1): how the bench sees in the
            # delivered mail that rspamd scanned it. Authentication-Results, as filter-rspamd 0.1.7
            # passes on only that one of rspamd's headers (X-Spamd-Result, for one, it drops).
            (local, "milter_headers.conf"): 'use = ["authentication-results"];\nskip_local = false;\nskip_authenticated = false;\n',
        }
        for (folder, name), text in files.items():
            with open(os.path.join(folder, name), "w") as f:
                f.write(text)
        self.dnsmasq = subprocess.Popen(
            ["/usr/sbin/dnsmasq", "-k", "--pid-file=", f"--port={self.dns}", f"--listen-address={HOST}", "--bind-interfaces",
             "--no-resolv", "--no-hosts", "--local=/#/", "--user=root"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        argv = ["/usr/bin/rspamd", "-f", "-i", "-c", "/etc/rspamd/rspamd.conf", f"--var=LOCAL_CONFDIR={d}",
                f"--var=DBDIR={d}/db", f"--var=RUNDIR={d}/run", f"--var=LOGDIR={d}", "-p", f"{d}/run/rspamd.pid"]
        if os.geteuid() == 0:
            argv += ["-u", "root", "-g", "root"]
        with open(os.path.join(d, "stdout"), "w") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        # rspamd compiles its rules at start (20 s and more on two cores).
        if not wait_until(timeout, self._pong, 0.5):
            raise RuntimeError(f"rspamd did not answer /ping within {timeout} s: {self.log_tail()}")

    def _pong(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"rspamd exited with {self.proc.returncode}: {self.log_tail()}")
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as r:
                return r.read().startswith(b"pong")
        except OSError:
            return False

    def stat(self):
        """The controller's counters: scanned, and messages by action ('no action', 'reject'...)."""
        with urllib.request.urlopen(f"http://{HOST}:{self.controller}/stat", timeout=10) as r:
            s = json.load(r)
        return dict(scanned=s.get("scanned", 0), actions=s.get("actions", {}))

    def log_tail(self):
        for name in ("rspamd.log", "stdout"):
            try:
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    text = f.read()[-1500:]
                if text:
                    return text
            except OSError:
                pass
        return ""

    def stop(self):
        for p in (self.proc, self.dnsmasq):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
