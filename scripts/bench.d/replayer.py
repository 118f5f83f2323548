"""The system under test: the queue on the master and the `dbmirror` command."""

import os
import subprocess
import tempfile

import clusters
import pq
import processes

MIRROR_SETUP = os.path.join(clusters.REPO, "extension", "MirrorSetup.sql")


def install_queue(master_db, tables):
    """Installs MirrorSetup.sql in the master database and mirrors `tables`."""
    processes.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", master_db, "-f", MIRROR_SETUP],
                  what="psql -f extension/MirrorSetup.sql")
    with pq.Connection(master_db) as c:
        for t in tables:
            c.query(f"SELECT dbmirror_add_table('{t}')")


class Dbmirror:
    """One master database as the `dbmirror` command sees it."""

    def __init__(self, binary, master_db):
        self.binary = binary
        self.master = master_db

    def add_host(self, name, conninfo):
        processes.run([self.binary, "add-host", name, "--conninfo", conninfo, "--master", self.master],
                      what=f"dbmirror add-host {name}")

    def run_once(self, timeout, perf_data=None, log_path=None):
        """`dbmirror run --once`, timed; returns (seconds, peak RSS in MB, CPU seconds).
        With `perf_data`, runs under `perf record -g` writing there; with `log_path`,
        keeps the replayer's log there (to explain an outlier afterwards)."""
        perf = ["perf", "record", "-q", "-F", "999", "-g", "-o", perf_data, "--"] if perf_data else []
        with tempfile.NamedTemporaryFile(prefix="bench-rss-", mode="r") as usage:
            seconds, done = processes.run(
                perf + ["/usr/bin/time", "-f", "%M %U %S", "-o", usage.name,
                        self.binary, "run", "--once", "--master", self.master],
                timeout=timeout, what="dbmirror run --once")
            kilobytes, user, system = usage.read().strip().splitlines()[-1].split()
        if log_path:
            with open(log_path, "w") as log:
                log.write(done.stderr or "")
        return seconds, int(kilobytes) / 1024.0, float(user) + float(system)

    def start(self, log_path):
        """`dbmirror run` in the background (continuous); its stderr goes to `log_path`."""
        log = open(log_path, "w")
        p = processes.start([self.binary, "run", "--master", self.master], stderr=log)
        log.close()
        return p


def availability(binary):
    """None if the replayer and the capture can be benchmarked, else why not."""
    if not binary or not os.access(binary, os.X_OK):
        return f"no dbmirror executable ({binary or 'not built'})"
    libdir = subprocess.run(["pg_config", "--pkglibdir"], capture_output=True, text=True).stdout.strip()
    if not os.path.exists(os.path.join(libdir, "pending.so")):
        return f"the capture is not installed ({libdir}/pending.so missing: make -C extension install)"
    probe = subprocess.run([binary, "run", "--help"], capture_output=True, text=True)
    if probe.returncode != 0 or "--once" not in probe.stdout:
        return "dbmirror has no 'run --once' yet"
    return None
