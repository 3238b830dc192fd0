"""Our smtpd with rspamd in front of its queue, three ways, on one rspamd instance (issue 23):

  none     no filter (what the other two cost is measured against it)
  milter   filter "rspamd" milter "inet:127.0.0.1:P"              rspamd_proxy in milter mode
  filter   filter "rspamd" proc-exec "filter-rspamd -url URL"     Debian's opensmtpd-filter-rspamd,
                                                                  our filter protocol, HTTP to rspamd

Each run is bench.py's source-5x10k measurement (smtp-source -s 5 -d, our smtpd started as root,
fresh spool, delivered into one user's Maildir, PSS of our whole tree sampled every 0.2 s; the
filter-rspamd process is our smtpd's child, so it is in our tree), and besides: rspamd's own tree
sampled apart, its scanned counter and actions before and after (every message scanned, none
refused), and every delivered message checked for rspamd's Authentication-Results header
(absent without rspamd).
Rounds alternate the three ways, rotating their order.
"""
import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time

import bench
import proctree
import servers
from rspamd import Rspamd

MODES = ("none", "milter", "filter")
RSPAMD_HEADER = b"\nAuthentication-Results: "


class OursWithRspamd(servers.Ours):
    """Ours with one filter line and the listener using it (mode 'none': the plain server)."""

    def __init__(self, workdir, user, binary, smtpctl, mode, filter_line):
        super().__init__(workdir, user, binary, smtpctl)
        self.name, self.filter_line = mode, filter_line

    def smtpd_conf(self):
        conf = super().smtpd_conf()
        if not self.filter_line:
            return conf
        listen = f"listen on {servers.HOST} port {self.port}\n"
        return self.filter_line + "\n" + conf.replace(listen, listen[:-1] + ' filter "rspamd"\n')


def parse_args():
    a = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a.add_argument("--rounds", type=int, default=3)
    a.add_argument("--messages", type=int, default=2000, help="messages of 10 KiB per run")
    a.add_argument("--sessions", type=int, default=5)
    a.add_argument("--modes", default=",".join(MODES), help="from none, milter, filter")
    a.add_argument("--smtpd", required=True)
    a.add_argument("--smtpctl", required=True)
    a.add_argument("--filter-rspamd", default="/opt/opensmtpd-filters/usr/libexec/opensmtpd/filter-rspamd")
    a.add_argument("--user", default="smtpdbench")
    a.add_argument("--settle", type=float, default=2.0)
    a.add_argument("--keep", action="store_true", help="keep the work directory (each run's log and Maildir)")
    return a.parse_args()


def unscanned(new_dir):
    """How many delivered messages lack rspamd's header (ours adds no Authentication-Results)."""
    missing = 0
    for path, _ in bench.loads.delivered(new_dir):
        with open(path, "rb") as f:
            head = f.read(16384)
        if RSPAMD_HEADER not in head.split(b"\n\n", 1)[0].replace(b"\r\n", b"\n"):
            missing += 1
    return missing


def main():
    opts = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if os.geteuid() != 0:
        sys.exit("run as root: our smtpd must start as an administrator starts it")
    modes = [m for m in opts.modes.split(",") if m]
    if any(m not in MODES for m in modes):
        sys.exit(f"unknown mode in {opts.modes}")
    # bench.measure's options: the 5-session scenario of opts.messages, no warm-up.
    scenario = f"source-{opts.sessions}x10k"
    bench.SCENARIOS[scenario] = ("smtp-source", opts.sessions, 10240, "messages")
    mopts = argparse.Namespace(messages=opts.messages, big_messages=0, settle=opts.settle, warmup=0,
                               user=opts.user, smtpload=None)
    work = tempfile.mkdtemp(prefix="smtpd-milterbench.")
    os.chmod(work, 0o755)
    rspamd = Rspamd()
    results = {m: [] for m in modes}
    failures = 0
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}; {opts.messages} x 10 KiB over {opts.sessions} sessions, {opts.rounds} rounds", flush=True)
    try:
        t0 = time.monotonic()
        rspamd.start()
        print(f"# rspamd ready in {time.monotonic() - t0:.0f} s (normal worker {rspamd.url}, milter {rspamd.milter})", flush=True)
        lines = {
            "none": None,
            "milter": f'filter "rspamd" milter "{rspamd.milter}"',
            "filter": f'filter "rspamd" proc-exec "{opts.filter_rspamd} -url {rspamd.url}"',
        }
        for rnd in range(1, opts.rounds + 1):
            order = modes[(rnd - 1) % len(modes):] + modes[:(rnd - 1) % len(modes)]
            for mode in order:
                workdir = os.path.join(work, f"{mode}-{rnd}")
                os.makedirs(workdir)
                os.chmod(workdir, 0o755)
                before = rspamd.stat()
                sampler = proctree.PeakSampler(rspamd.proc.pid)
                sampler.start()
                loadavg = os.getloadavg()[0]
                fig, error = bench.measure(
                    lambda d: OursWithRspamd(d, opts.user, opts.smtpd, opts.smtpctl, mode, lines[mode]),
                    scenario, mopts, workdir)
                rspamd_peak = sampler.finish()
                after = rspamd.stat()
                if fig is None:
                    failures += 1
                    print(f"run round={rnd} mode={mode} failed: {error}", flush=True)
                    continue
                profile = fig.pop("_profile")
                fig["rspamd_peak_pss_mib"] = bench.mib(rspamd_peak)
                fig["rspamd_scanned"] = after["scanned"] - before["scanned"]
                actions = {k: v - before["actions"].get(k, 0) for k, v in after["actions"].items()
                           if v - before["actions"].get(k, 0)}
                fig["unscanned"] = unscanned(os.path.join(workdir, "maildir", "new"))
                problems = []
                if mode == "none" and fig["unscanned"] != opts.messages:
                    problems.append(f"{opts.messages - fig['unscanned']} got rspamd's header without rspamd")
                if mode != "none":
                    if fig["rspamd_scanned"] < opts.messages:
                        problems.append(f"rspamd scanned {fig['rspamd_scanned']} of {opts.messages}")
                    if fig["unscanned"]:
                        problems.append(f"{fig['unscanned']} delivered without rspamd's Authentication-Results")
                    refused = {k: v for k, v in actions.items() if k not in ("no action", "add header", "rewrite subject")}
                    if refused:
                        problems.append(f"rspamd refused some: {refused}")
                results[mode].append(fig)
                shown = "/".join(k.replace(" ", "_") + ":" + str(v) for k, v in actions.items()) or "-"
                print(f"run round={rnd} mode={mode} " + " ".join(f"{k}={bench.fmt(v)}" for k, v in fig.items())
                      + f" rspamd_actions={shown} loadavg_before={loadavg:.1f}", flush=True)
                print(f"profile round={rnd} mode={mode} peak: {bench.grouped(profile['peak'])}", flush=True)
                if problems:
                    failures += 1
                    print(f"check round={rnd} mode={mode} FAILED: " + "; ".join(problems), flush=True)
                if not opts.keep:
                    shutil.rmtree(workdir, ignore_errors=True)
    finally:
        rspamd.stop()
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"# kept {work}")
    report(results, modes)
    sys.exit(1 if failures else 0)


def report(results, modes):
    def med(mode, key):
        values = [f[key] for f in results[mode] if f.get(key) is not None]
        return (round(statistics.median(values), 1), min(values), max(values)) if values else None

    print()
    print("| smtpd with rspamd | delivered msgs/s, median (min-max) | peak PSS MiB, our tree | rspamd's peak PSS MiB | idle PSS MiB | rounds |")
    print("|---|---|---|---|---|---|")
    base = med("none", "delivered_per_second") if "none" in modes else None
    for mode in modes:
        d = med(mode, "delivered_per_second")
        if not d:
            continue
        p, r, i = med(mode, "peak_pss_mib"), med(mode, "rspamd_peak_pss_mib"), med(mode, "idle_pss_mib")
        print(f"| {mode} | {d[0]:g} ({d[1]:g}-{d[2]:g}) | {p[0]:g} ({p[1]:g}-{p[2]:g}) | {r[0]:g} | {i[0]:g} | {len(results[mode])} |")
    if base:
        for mode in modes:
            d = med(mode, "delivered_per_second")
            if mode != "none" and d:
                print(f"ratio mode={mode} delivered/none={d[0] / base[0]:.2f}")


if __name__ == "__main__":
    main()
