"""smtpd for .NET against OpenSMTPD 6.8 and Postfix 3.7, as issue 19 measures them.

Per scenario (a load, a number of sessions, a message size) and round, each server in turn is
started fresh as root, left idle, loaded, then left idle again; the servers' order rotates from
round to round so that a drift of the machine does not favour one of them. See bench/README.md
for what each figure means. Output lines are key=value: `run` (one server in one round),
`summary` (median, min and max of one figure over the rounds), `ratio` (ours over each anchor,
medians), `profile` (where our tree's memory and descriptors are), then a table for people.
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import loads
import proctree
import servers

SCENARIOS = {
    # name: (load, sessions, size in bytes, which message count)
    "source-5x10k": ("smtp-source", 5, 10240, "messages"),
    "source-20x10k": ("smtp-source", 20, 10240, "messages"),
    "source-5x1m": ("smtp-source", 5, 1048576, "big_messages"),
    "source-20x1m": ("smtp-source", 20, 1048576, "big_messages"),
    "load-5x10k": ("smtpload", 5, 10240, "messages"),
    "pipe-20x10k": ("smtpload-pipelined", 20, 10240, "messages"),
    # idle sessions: (load, sessions opened, descriptor limit of the server or None, -)
    "idle-1000": ("idle", 1000, None, None),
    "fdlimit-256": ("idle", 300, 256, None),
    "idle-10000": ("idle", 10000, None, None),       # not by default: issue 19's 10,000 idle sessions <= 200 MB
    # sendmail: (load, submissions one after another, -, -)
    "sendmail-20": ("sendmail", 20, None, None),
}
DEFAULT_SCENARIOS = "source-5x10k,source-20x10k,source-5x1m,load-5x10k,pipe-20x10k,idle-1000,fdlimit-256,sendmail-20"
FIGURES = ["delivered_per_second", "accepted_per_second", "peak_pss_mib", "idle_pss_mib", "idle_after_pss_mib",
           "idle_fds", "p50_ms", "p90_ms", "p99_ms", "held_sessions", "sessions_pss_mib", "banner_p50_ms",
           "banner_max_ms", "submit_p50_ms", "submit_max_ms"]


def parse_args():
    a = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a.add_argument("--rounds", type=int, default=3)
    a.add_argument("--messages", type=int, default=2000, help="messages of 10 KiB per run")
    a.add_argument("--big-messages", type=int, default=200, help="messages of 1 MiB per run")
    a.add_argument("--scenarios", default=DEFAULT_SCENARIOS, help="comma-separated, from: " + ",".join(SCENARIOS))
    a.add_argument("--servers", default="smtpd,opensmtpd,postfix",
                   help="from smtpd, opensmtpd, postfix, smtpd-user (ours started by the mail's owner, unprivileged) "
                        "smtpd-base (--baseline-smtpd) and smtpd-metrics (ours with metrics listen on, scraped every second)")
    a.add_argument("--smtpd", required=True, help="our smtpd executable")
    a.add_argument("--smtpctl", required=True, help="our smtpctl executable (for sendmail)")
    a.add_argument("--smtpload", required=True, help="smtpload.dll")
    a.add_argument("--baseline-smtpd", help="another build of our smtpd, the server smtpd-base (e.g. before a change)")
    a.add_argument("--baseline-smtpctl", help="its smtpctl")
    a.add_argument("--opensmtpd", default="/opt/opensmtpd/usr/sbin/smtpd")
    a.add_argument("--user", default="smtpdbench", help="the ordinary user every server delivers to")
    a.add_argument("--warmup", type=int, default=0,
                   help="messages sent (smtp-source -s 5) and delivered after the idle figures, before the measured load")
    a.add_argument("--settle", type=float, default=3.0, help="seconds idle before and after a run")
    a.add_argument("--gate", help="a file that must exist before each round and scenario (the bench stops when it is gone)")
    a.add_argument("--keep", action="store_true", help="keep the work directory")
    return a.parse_args()


def mib(kib):
    return round(kib / 1024, 1)


def hold_sessions(server, sessions, fig):
    """Holds idle sessions open (idle_sessions.py) and records what the tree costs meanwhile."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "idle_sessions.py")
    client = subprocess.Popen(server.prefix + ["python3", "-B", script, str(server.port), str(sessions)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        for line in client.stdout:
            if line.strip() == "ready":
                break
            for pair in line.split():
                key, _, value = pair.partition("=")
                fig[{"held": "held_sessions"}.get(key, key)] = float(value) if "." in value else int(value)
        kib, procs, _ = proctree.idle(server.root)
        fig["sessions_pss_mib"] = mib(kib)
        fig["sessions_procs"] = len(procs)
        return procs
    finally:
        client.stdin.close()
        try:
            client.wait(timeout=30)
        except subprocess.TimeoutExpired:
            client.kill()
            client.wait()


def submit(server, count, rcpt, fig):
    """Times `sendmail -t` one message at a time, process start to exit, as a cron job runs it."""
    argv, env = server.sendmail()
    message = f"From: bench@example.org\nTo: {rcpt}\nSubject: sendmail\n\none line\n".encode()
    times = []
    for _ in range(count):
        t0 = time.monotonic()
        result = subprocess.run(argv, input=message, capture_output=True, env=env, timeout=60)
        times.append((time.monotonic() - t0) * 1000)
        if result.returncode != 0:
            return f"sendmail failed: {result.stderr.decode(errors='replace')[-300:]}"
    if not servers.wait_until(60, lambda: len(os.listdir(server.new_dir)) >= count):
        return f"only {len(os.listdir(server.new_dir))} of {count} submissions delivered"
    fig["submit_p50_ms"] = round(statistics.median(times), 1)
    fig["submit_max_ms"] = round(max(times), 1)
    return None


def measure(make_server, scenario, opts, workdir):
    load, sessions, size, count_key = SCENARIOS[scenario]
    server = make_server(workdir)
    fig = {}
    if load == "idle":
        server.nofile = size
    server.start()
    try:
        if not server.ready():
            return None, f"did not start: {server.log_tail()}"
        time.sleep(opts.settle)
        idle_kib, idle_procs, idle_fds = proctree.idle(server.root)
        fig["idle_pss_mib"] = mib(idle_kib)
        fig["idle_fds"] = sum(sum(k.values()) for k in idle_fds.values())
        fig["idle_procs"] = len(idle_procs)
        if load == "idle":
            held_procs = hold_sessions(server, sessions, fig)
            fig["_profile"] = dict(peak=held_procs, idle=idle_procs, fds=idle_fds, after=[])
            return fig, None
        rcpt = f"{opts.user}@{servers.RCPT_DOMAIN}"
        if load == "sendmail":
            error = submit(server, sessions, rcpt, fig)
            fig["_profile"] = dict(peak=[], idle=idle_procs, fds=idle_fds, after=[])
            return (None, error) if error else (fig, None)
        messages = getattr(opts, count_key)
        if opts.warmup:
            # Not measured: lets a server start its delivery processes before the clock runs.
            warm = loads.smtp_source(server, 5, opts.warmup, 10240, rcpt, 300)
            if not warm["ok"] or not servers.wait_until(300, lambda: len(os.listdir(server.new_dir)) >= opts.warmup):
                return None, f"warm-up failed: {warm['error']}"
            time.sleep(1)
        already = len(os.listdir(server.new_dir))
        sampler = proctree.PeakSampler(server.root)
        sampler.start()
        timeout = 120 + messages * (size // 10240) // 20
        try:
            if load == "smtp-source":
                res = loads.smtp_source(server, sessions, messages, size, rcpt, timeout)
            else:
                res = loads.smtpload(server, opts.smtpload, sessions, messages, size, rcpt, timeout,
                                     load == "smtpload-pipelined", workdir)
        except Exception as e:  # a hung load is a failed run, not the end of the bench
            sampler.finish()
            return None, f"load failed: {e}"
        if not res["ok"]:
            sampler.finish()
            return None, f"load failed: {res['error']}"
        complete = servers.wait_until(timeout, lambda: len(os.listdir(server.new_dir)) >= already + messages, 0.05)
        peak = sampler.finish()
        files = loads.delivered(server.new_dir)
        if not complete:
            return None, f"only {len(files) - already} of {messages} delivered"
        last = max(c for _, c in files)
        fig["delivered_per_second"] = round(messages / ((last - res["start_ns"]) / 1e9), 1)
        fig["accepted_per_second"] = round(messages / ((res["load_end_ns"] - res["start_ns"]) / 1e9), 1)
        fig["peak_pss_mib"] = mib(peak)
        fig["peak_procs"] = sampler.max_procs
        if res["sent_ns"]:
            lat = loads.latencies_ms(files, res["sent_ns"])
            for p in (50, 90, 99):
                fig[f"p{p}_ms"] = round(loads.percentile(lat, p), 1)
        time.sleep(opts.settle)
        after_kib, after_procs, _ = proctree.idle(server.root)
        fig["idle_after_pss_mib"] = mib(after_kib)
        fig["idle_after_procs"] = len(after_procs)
        fig["_profile"] = dict(peak=sampler.peak_procs, idle=idle_procs, fds=idle_fds, after=after_procs)
        return fig, None
    finally:
        server.stop()


def grouped(procs):
    """'smtpd 47.0, smtpd --delivery-worker 4x42.1' from [(pid, role, kib)]."""
    roles = {}
    for _, name, kib in procs:
        roles.setdefault(name, []).append(kib)
    parts = []
    for name, kibs in sorted(roles.items(), key=lambda kv: -sum(kv[1])):
        each = mib(statistics.mean(kibs))
        parts.append(f"{name} {each}" if len(kibs) == 1 else f"{name} {len(kibs)}x{each}")
    return ", ".join(parts)


def fds_by_process(fds):
    parts = []
    for (pid, name), kinds in sorted(fds.items(), key=lambda kv: -sum(kv[1].values())):
        detail = " ".join(f"{k}={v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))
        parts.append(f"{name}: {sum(kinds.values())} ({detail})")
    return "; ".join(parts)


def fmt(v):
    return "-" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))


def main():
    opts = parse_args()
    # Stopped with SIGTERM, unwind as for Ctrl-C, so that the running server is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if os.geteuid() != 0:
        sys.exit("run as root: the servers must start as an administrator starts them (privilege separation on)")
    makers = {
        "smtpd": lambda d: servers.Ours(d, opts.user, opts.smtpd, opts.smtpctl),
        "opensmtpd": lambda d: servers.OpenSmtpd(d, opts.user, opts.opensmtpd),
        "postfix": lambda d: servers.Postfix(d, opts.user),
        "smtpd-user": lambda d: servers.OursAsUser(d, opts.user, opts.smtpd, opts.smtpctl),
        "smtpd-metrics": lambda d: servers.OursWithMetrics(d, opts.user, opts.smtpd, opts.smtpctl),
        "smtpd-base": lambda d: servers.OursBaseline(d, opts.user, opts.baseline_smtpd, opts.baseline_smtpctl or opts.smtpctl),
    }
    names = [n for n in opts.servers.split(",") if n]
    if "smtpd-base" in names and not opts.baseline_smtpd:
        sys.exit("smtpd-base needs --baseline-smtpd")
    scenarios = [s for s in opts.scenarios.split(",") if s]
    for s in scenarios:
        if s not in SCENARIOS:
            sys.exit(f"unknown scenario {s}")
    work = tempfile.mkdtemp(prefix="smtpd-bench.")
    os.chmod(work, 0o755)
    results = {}     # (scenario, server) -> [figures per round]
    profiles = {}
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}; {opts.messages} x 10 KiB, {opts.big_messages} x 1 MiB", flush=True)
    try:
        for rnd in range(1, opts.rounds + 1):
            if opts.gate and not os.path.exists(opts.gate):
                print(f"# {opts.gate} is gone: stopping before round {rnd}", flush=True)
                break
            print(f"# round {rnd}, {time.strftime('%H:%M:%S UTC', time.gmtime())}", flush=True)
            for scenario in scenarios:
                if opts.gate and not os.path.exists(opts.gate):
                    break
                order = names[(rnd - 1) % len(names):] + names[:(rnd - 1) % len(names)]
                for name in order:
                    if SCENARIOS[scenario][0] == "smtpload-pipelined" and name == "opensmtpd":
                        continue     # no PIPELINING in OpenSMTPD 6.8
                    workdir = os.path.join(work, f"{scenario}-{name}-{rnd}")
                    os.makedirs(workdir)
                    os.chmod(workdir, 0o755)
                    loadavg = os.getloadavg()[0]
                    fig, error = measure(makers[name], scenario, opts, workdir)
                    if fig is None:
                        print(f"run round={rnd} scenario={scenario} server={name} failed: {error}", flush=True)
                        continue
                    profiles[(scenario, name)] = fig.pop("_profile")
                    results.setdefault((scenario, name), []).append(fig)
                    # The load average before the run shows a run disturbed by something else on the machine.
                    print(f"run round={rnd} scenario={scenario} server={name} "
                          + " ".join(f"{k}={fmt(v)}" for k, v in fig.items()) + f" loadavg_before={loadavg:.1f}", flush=True)
                    # Each run's files stay until the end: deleting thousands of them just before
                    # the next server's run taxed its every new file (ext4 without a journal, as
                    # here, scans past inodes freed in the last minutes to allocate one): the next
                    # run, whichever server's, used up to a third more CPU per message.
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
    report(results, profiles, scenarios, names)


def stats(results, scenario, server, figure):
    values = [r[figure] for r in results.get((scenario, server), []) if r.get(figure) is not None]
    if not values:
        return None
    return round(statistics.median(values), 1), min(values), max(values), len(values)


def report(results, profiles, scenarios, names):
    for scenario in scenarios:
        for server in names:
            for figure in FIGURES:
                s = stats(results, scenario, server, figure)
                if s:
                    print(f"summary scenario={scenario} server={server} figure={figure} median={s[0]:g} "
                          f"min={s[1]:g} max={s[2]:g} rounds={s[3]}")
        for figure in FIGURES:
            ours = stats(results, scenario, "smtpd", figure)
            if not ours:
                continue
            parts = []
            for anchor in ("opensmtpd", "postfix"):
                other = stats(results, scenario, anchor, figure)
                if other and other[0]:
                    parts.append(f"smtpd/{anchor}={ours[0] / other[0]:.2f}")
            if parts:
                print(f"ratio scenario={scenario} figure={figure} " + " ".join(parts))
    for (scenario, server), prof in sorted(profiles.items()):
        if SCENARIOS[scenario][0] == "sendmail":
            continue
        held = SCENARIOS[scenario][0] == "idle"
        print(f"profile scenario={scenario} server={server} {'sessions held' if held else 'peak'}: {grouped(prof['peak'])}")
        print(f"profile scenario={scenario} server={server} idle: {grouped(prof['idle'])}")
        if not held:
            print(f"profile scenario={scenario} server={server} idle after: {grouped(prof['after'])}")
        print(f"profile scenario={scenario} server={server} idle fds: {fds_by_process(prof['fds'])}")
    delivery = [s for s in scenarios if SCENARIOS[s][0] not in ("idle", "sendmail")]
    if delivery:
        print()
        print("| scenario | server | delivered msgs/s, median (min-max) | peak PSS MiB | idle PSS MiB before / after | idle fds | latency p50/p90/p99 ms |")
        print("|---|---|---|---|---|---|---|")
    for scenario in delivery:
        for server in names:
            d = stats(results, scenario, server, "delivered_per_second")
            if not d:
                continue
            get = lambda f: (stats(results, scenario, server, f) or (None,))[0]
            lat = "/".join(fmt(get(f"p{p}_ms")) for p in (50, 90, 99)) if get("p50_ms") is not None else "-"
            print(f"| {scenario} | {server} | {d[0]:g} ({d[1]:g}-{d[2]:g}) | {fmt(get('peak_pss_mib'))} | "
                  f"{fmt(get('idle_pss_mib'))} / {fmt(get('idle_after_pss_mib'))} | {fmt(get('idle_fds'))} | {lat} |")

    idle = [s for s in scenarios if SCENARIOS[s][0] == "idle"]
    if idle:
        print()
        print("| scenario | server | sessions held (of opened) | PSS MiB with them | fresh banner p50 / max ms |")
        print("|---|---|---|---|---|")
    for scenario in idle:
        for server in names:
            if not results.get((scenario, server)):
                continue
            get = lambda f: (stats(results, scenario, server, f) or (None,))[0]
            print(f"| {scenario} | {server} | {fmt(get('held_sessions'))} ({SCENARIOS[scenario][1]}) | "
                  f"{fmt(get('sessions_pss_mib'))} | {fmt(get('banner_p50_ms'))} / {fmt(get('banner_max_ms'))} |")

    for scenario in (s for s in scenarios if SCENARIOS[s][0] == "sendmail"):
        print()
        print("| scenario | server | sendmail -t, process start to exit: p50 / max ms |")
        print("|---|---|---|")
        for server in names:
            if results.get((scenario, server)):
                get = lambda f: (stats(results, scenario, server, f) or (None,))[0]
                print(f"| {scenario} | {server} | {fmt(get('submit_p50_ms'))} / {fmt(get('submit_max_ms'))} |")


if __name__ == "__main__":
    main()
