"""A server's process tree, read from /proc: who belongs to it, what each process holds.

Memory is PSS (proportional set size, /proc/PID/smaps_rollup): shared pages are divided among
the processes sharing them, so the sum over a tree is what the tree costs the machine, unlike
RSS, which counts a shared library or runtime once per process.
"""
import os
import statistics
import threading
import time


def children_map():
    """parent pid -> child pids, for every process now on the machine."""
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: the ppid follows the last ')'.
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def tree(root):
    """root and all its descendants (children of children included), root first."""
    kids = children_map()
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.append(pid)
        todo.extend(kids.get(pid, []))
    return [p for p in found if os.path.exists(f"/proc/{p}")]


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def role(pid):
    """What a process is, short: 'smtpd --delivery-worker', 'qmgr', 'smtpd: queue'."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return "?"
    if not argv:
        return "?"
    name = os.path.basename(argv[0]) if argv[0].startswith("/") else argv[0]
    if len(argv) > 1 and argv[1].startswith("--"):
        name += " " + argv[1]          # our helper and delivery workers: smtpd --ROLE FD ...
    return name.strip()


def fd_kinds(pid):
    """Open descriptors of one process, counted by kind (assembly, library, socket, pipe...)."""
    kinds = {}
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return kinds
    for fd in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            kind = "socket"
        elif target.startswith("pipe:"):
            kind = "pipe"
        elif target.startswith("anon_inode:"):
            kind = "anon:" + target[len("anon_inode:"):].strip("[]")
        elif target.endswith(".dll"):
            kind = "assembly"
        elif ".so" in os.path.basename(target):
            kind = "library"
        elif target.startswith("/dev/"):
            kind = "dev"
        else:
            kind = "file"
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def snapshot(root):
    """[(pid, role, pss_kib)] for every process of the tree now."""
    return [(p, role(p), pss_kib(p)) for p in tree(root)]


def idle(root, samples=3, interval=0.5):
    """The idle tree: median summed PSS over a few samples, the last sample's processes, its fds."""
    totals, procs = [], []
    for i in range(samples):
        if i:
            time.sleep(interval)
        procs = snapshot(root)
        totals.append(sum(p[2] for p in procs))
    fds = {}
    for pid, name, _ in procs:
        fds[(pid, name)] = fd_kinds(pid)
    return statistics.median(totals), procs, fds


class PeakSampler(threading.Thread):
    """Samples the tree's summed PSS every interval while a run lasts; keeps the peak sample."""

    def __init__(self, root, interval=0.2):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.peak_kib, self.peak_procs, self.max_procs, self.samples = 0, [], 0, 0
        self._done = threading.Event()

    def run(self):
        while not self._done.is_set():
            self.sample()
            self._done.wait(self.interval)

    def sample(self):
        procs = snapshot(self.root)
        total = sum(p[2] for p in procs)
        self.samples += 1
        self.max_procs = max(self.max_procs, len(procs))
        if total > self.peak_kib:
            self.peak_kib, self.peak_procs = total, procs

    def finish(self):
        self._done.set()
        self.join(timeout=10)
        self.sample()      # one more at the end, so that a very short run has a figure
        return self.peak_kib
