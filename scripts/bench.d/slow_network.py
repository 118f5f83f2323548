"""Scenario 5: the slave 20 ms of round trip away. Workload 2(a) replayed
through scripts/bench.d/delay_proxy.py (10 ms each way, on loopback) between
the replayer and the slave; the baseline's subscriber reaches the master
through the same kind of proxy."""

import os
import statistics
import subprocess
import sys
import time

import catch_up
import figures
import pq
import processes

PROXY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "delay_proxy.py")
DELAY_MS = 10


def start_proxy(upstream_port):
    """Starts a delay proxy to 127.0.0.1:upstream_port; returns (process, listening port)."""
    p = processes.start([sys.executable, PROXY, "--upstream", f"127.0.0.1:{upstream_port}",
                         "--delay-ms", str(DELAY_MS)], stdout=subprocess.PIPE)
    line = p.stdout.readline().strip()
    if not line.startswith("listening on "):
        processes.stop(p)
        raise RuntimeError(f"delay proxy did not start: {line or p.stderr.read()}")
    return p, int(line.rsplit(" ", 1)[1])


def round_trip_ms(conninfo, n=20):
    with pq.Connection(conninfo) as c:
        times = []
        for _ in range(n):
            t0 = time.monotonic()
            c.query("SELECT 1")
            times.append((time.monotonic() - t0) * 1000)
    return statistics.median(times)


def measure(ctx):
    t = ctx.table
    s = ctx.sizes
    w = next(x for x in catch_up.workloads(s) if x.key == "a")
    slave, master = ctx.slaves[0], ctx.master
    to_slave, slave_port = start_proxy(slave.port)
    to_master, master_port = start_proxy(master.port)
    try:
        rtt = round_trip_ms(slave.tcp("postgres", slave_port))
        direct = round_trip_ms(slave.tcp("postgres"))
        t.note(f"slow network: SELECT 1 round trip through the proxy {rtt:.1f} ms, direct over loopback {direct:.2f} ms.")
        dbm, lr = figures.Samples("rows/s"), figures.Samples("rows/s")
        methods = (["dbmirror"] if ctx.dbmirror else []) + ["logical"]
        for i in range(s.runs):
            order = methods[i % len(methods):] + methods[:i % len(methods)]
            for m in order:
                ctx.log(f"slow network {w.title}: run {i + 1}/{s.runs}, {m}")
                try:
                    if m == "dbmirror":
                        r = catch_up.run_dbmirror(ctx, w, 1, first=False,
                                                  slave_conninfo=lambda c, db: c.tcp(db, slave_port))
                        dbm.add(w.changes / r["seconds"])
                    else:
                        r = catch_up.run_logical(ctx, w, first=False,
                                                 master_conninfo=lambda db: master.tcp(db, master_port))
                        lr.add(w.changes / r["seconds"])
                except Exception as error:  # noqa: BLE001 - reported in the table
                    ctx.log(f"  failed: {error}")
                    (dbm if m == "dbmirror" else lr).fail(str(error).strip().splitlines()[0][:200])
    finally:
        processes.stop(to_slave)
        processes.stop(to_master)
    d = dbm.median
    dtext = figures.fmt(d, "rows/s") if d is not None else ("n/a" if ctx.dbmirror_missing else "failed")
    t.row("5 slow network", f"{w.title}, +{2 * DELAY_MS} ms RTT (proxy)", dtext,
          figures.fmt(lr.median, "rows/s") + " (subscriber via proxy)", figures.ratio(d, lr.median),
          "≥ 20,000 rows/s", figures.verdict(d, ">=", 20_000))
    t.runs("slow network dbmirror rows/s", dbm)
    t.runs("slow network logical replication rows/s", lr)
