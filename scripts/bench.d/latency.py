"""Scenario 4: commit-to-visible latency. One small transaction every 50 ms on
the master; a poller on the slave (one connection, about every millisecond)
notes when each row shows up. dbmirror runs continuously (`dbmirror run`);
the baseline is native logical replication with an active subscription.
Commit time is when the master's COMMIT returned (synchronous_commit on)."""

import math
import os
import threading
import time

import clusters
import figures
import logical
import pq
import processes
import replayer
from context import drop_databases

INTERVAL = 0.05
POLL = 0.001
DDL = "CREATE TABLE lat (id integer PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), pad text)"


def wait_visible(slave_db, n, timeout):
    deadline = time.monotonic() + timeout
    with pq.Connection(slave_db) as c:
        while time.monotonic() < deadline:
            if c.value(f"SELECT count(*) FROM lat WHERE id = {n}") == "1":
                return
            time.sleep(0.01)
    raise RuntimeError(f"row {n} did not reach the slave within {timeout} s")


def probe(master_db, slave_db, seconds):
    """Writes one row every INTERVAL for `seconds`; returns (latencies in ms, rows never seen)."""
    count = int(seconds / INTERVAL)
    committed, seen = {}, {}
    done = threading.Event()
    errors = []

    def write():
        try:
            with pq.Connection(master_db) as c:
                c.query("SET synchronous_commit = on")
                start = time.monotonic()
                for i in range(1, count + 1):
                    wait = start + i * INTERVAL - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    c.query(f"INSERT INTO lat (id, pad) VALUES ({i}, 'probe {i}')")
                    committed[i] = time.monotonic()
        except Exception as error:  # noqa: BLE001 - re-raised below
            errors.append(error)
        finally:
            done.set()

    def poll():
        try:
            last = 0
            with pq.Connection(slave_db) as c:
                give_up = None
                while last < count:
                    v = int(c.value("SELECT coalesce(max(id), 0) FROM lat"))
                    now = time.monotonic()
                    for j in range(last + 1, v + 1):
                        seen[j] = now
                    last = max(last, v)
                    if done.is_set():
                        give_up = give_up or now + 10
                        if now > give_up:
                            return
                    time.sleep(POLL)
        except Exception as error:  # noqa: BLE001 - re-raised below
            errors.append(error)

    threads = [threading.Thread(target=write, daemon=True), threading.Thread(target=poll, daemon=True)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]
    latencies = [(seen[i] - committed[i]) * 1000 for i in committed if i in seen]
    return latencies, count - len(latencies)


def percentile(values, q):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else None


def run_method(ctx, method):
    db = ctx.name(f"lat_{method}")
    slave = ctx.slaves[0]
    for c in (ctx.master, slave):
        clusters.create_database(c, db)
        pq.run(c.db(db), DDL)
    master_db, slave_db = ctx.master.db(db), slave.db(db)
    sub = f"sub_{db}"
    running = None
    try:
        if method == "dbmirror":
            replayer.install_queue(master_db, ["lat"])
            mirror = replayer.Dbmirror(ctx.dbmirror, master_db)
            mirror.add_host("slave1", slave_db)
            running = mirror.start(os.path.join(ctx.out_dir, f"{db}-replayer.log"))
        else:
            logical.publish(master_db, ["lat"])
            logical.subscribe(slave_db, sub, master_db)
        pq.run(master_db, "INSERT INTO lat (id, pad) VALUES (0, 'warm-up')")
        wait_visible(slave_db, 0, 60)
        pq.run(master_db, "DELETE FROM lat")
        time.sleep(1)
        return probe(master_db, slave_db, ctx.sizes.latency_seconds)
    finally:
        if running is not None:
            processes.stop(running)
        if method == "logical":
            logical.drop(slave_db, sub)
        drop_databases(ctx, db, [ctx.master, slave])


def measure(ctx):
    t = ctx.table
    s = ctx.sizes
    results = {}
    methods = (["dbmirror"] if ctx.dbmirror else []) + ["logical"]
    for m in methods:
        ctx.log(f"latency: one transaction every 50 ms for {s.latency_seconds} s, {m}")
        try:
            lat, lost = run_method(ctx, m)
            results[m] = dict(p50=percentile(lat, 0.5), p99=percentile(lat, 0.99), max=max(lat) if lat else None,
                              n=len(lat), lost=lost)
        except Exception as error:  # noqa: BLE001 - reported in the table
            ctx.log(f"  failed: {error}")
            results[m] = dict(error=str(error).strip().splitlines()[0][:200])
    d, lr = results.get("dbmirror", {}), results.get("logical", {})

    def cell(r, k):
        if "error" in r:
            return f"failed: {r['error']}"
        if not r:
            return "n/a"
        return figures.fmt(r.get(k), "ms")

    title = f"commit-to-visible, 1 tx / 50 ms for {s.latency_seconds} s"
    t.row("4 latency", f"{title}: p50", cell(d, "p50"), cell(lr, "p50"), figures.ratio(d.get("p50"), lr.get("p50")),
          "< 5 ms", figures.verdict(d.get("p50"), "<", 5))
    t.row("4 latency", f"{title}: p99", cell(d, "p99"), cell(lr, "p99"), figures.ratio(d.get("p99"), lr.get("p99")),
          "< 20 ms", figures.verdict(d.get("p99"), "<", 20))
    t.row("4 latency", f"{title}: max", cell(d, "max"), cell(lr, "max"), None, "", "info")
    for m, r in results.items():
        if "n" in r:
            t.detail(f"latency {m}", f"{r['n']} samples, p50 {figures.fmt(r['p50'], 'ms')}, "
                     f"p99 {figures.fmt(r['p99'], 'ms')}, max {figures.fmt(r['max'], 'ms')}")
            if r["lost"]:
                t.note(f"latency, {m}: {r['lost']} of {r['n'] + r['lost']} rows never showed up on the slave.")
    t.note(f"Latency is measured by a poller on the slave about every {POLL * 1000:.0f} ms (plus one query): "
           "figures include up to ~1.5 ms of polling granularity.")
    return results

