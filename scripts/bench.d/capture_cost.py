"""Scenario 1: what capture costs the master. pgbench TPC-B-like with nothing,
with the C trigger on the four tables (no replayer running: the target's
figure), with the C trigger and `dbmirror run` replicating to slave 1, and
with a logical-replication publication and an active subscriber on slave 1,
alternated, fresh database per run.
The PL/pgSQL comparison and the C trigger's own figures come from
scripts/bench-capture (owned by the capture), run here and quoted."""

import os
import time

import clusters
import figures
import logical
import pq
import processes
import replayer
import workloads as wl
from context import drop_databases

BENCH_CAPTURE = os.path.join(clusters.REPO, "scripts", "bench-capture")


def run_pgbench(ctx, method, seconds=None):
    db = ctx.name(f"cap_{method}")
    on = [ctx.master] + ([ctx.slaves[0]] if method in ("logical", "c_replaying") else [])
    for c in on:
        clusters.create_database(c, db, "tpl_pgbench")
    sub = f"sub_{db}"
    running = None
    try:
        master_db = ctx.master.db(db)
        if method == "c":
            replayer.install_queue(master_db, wl.PGBENCH_TABLES)
        elif method == "c_replaying":
            replayer.install_queue(master_db, wl.PGBENCH_TABLES + [wl.MARKER_TABLE])
        if method == "c_replaying":
            mirror = replayer.Dbmirror(ctx.dbmirror, master_db)
            mirror.add_host("slave1", ctx.slaves[0].db(db))
            running = mirror.start(os.path.join(ctx.out_dir, f"{db}-replayer.log"))
            wait_listening(master_db, running)
        elif method == "logical":
            logical.publish(master_db, wl.PGBENCH_TABLES)
            logical.subscribe(ctx.slaves[0].db(db), sub, master_db)
        clusters.checkpoint(*on)
        tps = wl.pgbench_timed(master_db, seconds or ctx.sizes.capture_seconds)
        if method == "c_replaying":
            # It replicated while pgbench ran: the slave catches up to the same rows.
            wl.put_marker(master_db)
            wl.wait_marker(ctx.slaves[0].db(db), timeout=ctx.sizes.replay_timeout)
        return tps
    finally:
        if running is not None:
            processes.stop(running)
        if method == "logical":
            logical.drop(ctx.slaves[0].db(db), sub)
        drop_databases(ctx, db, on)


def wait_listening(master_db, running, timeout=60):
    """Waits until `dbmirror run` holds its listener lock on the master (docs/FORMAT.md,
    "Wake-up"): from then on the capture notifies it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.poll() is not None:
            raise RuntimeError(f"dbmirror run exited with {running.returncode} before it listened")
        held = pq.value(master_db, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                                   "AND classid = 1684172137 AND objid = 1920102258 AND objsubid = 1")
        if int(held) > 0:
            return
        time.sleep(0.05)
    raise RuntimeError("dbmirror run did not take its listener lock within a minute")


def bench_capture(ctx):
    """Runs scripts/bench-capture; returns its output, or None with a note why not."""
    if not os.access(BENCH_CAPTURE, os.X_OK):
        ctx.table.note("scripts/bench-capture is not there: the PL/pgSQL trigger row is missing.")
        return None
    ctx.log("capture: scripts/bench-capture" + (" --quick" if ctx.sizes.quick else ""))
    try:
        _, out = processes.run([BENCH_CAPTURE] + (["--quick"] if ctx.sizes.quick else []),
                               timeout=3600, what="scripts/bench-capture")
    except Exception as error:  # noqa: BLE001 - reported
        ctx.table.note(f"scripts/bench-capture failed: {str(error).splitlines()[0]}")
        return None
    ctx.record("scripts/bench-capture output", out.stdout)
    return out.stdout


def parse_bench_capture(text):
    """Figures from bench-capture's tables: {'tps': {mode: median tps}, 'bulk': {mode: rows/s}}.
    Its TPS table has a header with "median" and rows "MODE run... MEDIAN RATIO"; its bulk
    table a header with "rows/s" and rows "MODE ROWS/S RATIO". Modes: none, c, plpgsql."""
    found = {"tps": {}, "bulk": {}}
    section = None
    for line in text.splitlines():
        tokens = line.split()
        if "median" in tokens:
            section = "tps"
            continue
        if "rows/s" in tokens:
            section = "bulk"
            continue
        if section is None or not tokens or tokens[0].lower() not in ("none", "c", "plpgsql"):
            continue
        try:
            value = float(tokens[-2]) if section == "tps" else float(tokens[1])
        except (ValueError, IndexError):
            continue
        found[section][tokens[0].lower()] = value
    return found


def measure(ctx):
    t = ctx.table
    s = ctx.sizes
    own_c = ctx.dbmirror is not None
    methods = ["none", "logical"] + (["c", "c_replaying"] if own_c else [])
    samples = {m: figures.Samples("tps") for m in methods}
    ctx.log("capture: warm-up pgbench run (not counted)")
    run_pgbench(ctx, "none", seconds=min(5, s.capture_seconds))
    for i in range(s.runs):
        order = methods[i % len(methods):] + methods[:i % len(methods)]
        for m in order:
            ctx.log(f"capture: pgbench {s.capture_seconds} s, run {i + 1}/{s.runs}, {m}")
            try:
                samples[m].add(run_pgbench(ctx, m))
            except Exception as error:  # noqa: BLE001 - reported in the table
                ctx.log(f"  failed: {error}")
                samples[m].fail(str(error).strip().splitlines()[0][:200])
    none = samples["none"].median
    title = f"pgbench TPC-B-like scale {s.pgbench_scale}, -c 2 -j 2, {s.capture_seconds} s, TPS"
    t.row("1 capture", f"{title}: no capture", "", figures.fmt(none, "tps"), None, "", "baseline")
    if own_c:
        c = samples["c"].median
        q = figures.ratio(c, none)
        t.row("1 capture", f"{title}: C trigger, 4 tables mirrored", figures.fmt(c, "tps"), figures.fmt(none, "tps"),
              q, "≥ 0.85×", figures.verdict(q, ">=", 0.85))
        r = samples["c_replaying"].median
        t.row("1 capture", f"{title}: C trigger, `dbmirror run` replicating to slave 1 on the same machine",
              figures.fmt(r, "tps"), figures.fmt(none, "tps"), figures.ratio(r, none), "",
              "info (ratio to no capture)")
    else:
        t.row("1 capture", f"{title}: C trigger", "n/a", "", None, "≥ 0.85×", "n/a")
    lr = samples["logical"].median
    t.row("1 capture", f"{title}: logical replication (publication + active subscriber)", "",
          figures.fmt(lr, "tps"), figures.ratio(lr, none), "", "info (ratio to no capture)")
    for m in methods:
        t.runs(f"capture TPS, {m}", samples[m])

    text = bench_capture(ctx)
    if text is not None:
        parsed = parse_bench_capture(text)
        tps, bulk = parsed["tps"], parsed["bulk"]
        pnone = tps.get("none")
        for key, label in (("c", "C trigger"), ("plpgsql", "PL/pgSQL trigger")):
            v = tps.get(key)
            q = figures.ratio(v, pnone)
            t.row("1 capture", f"scripts/bench-capture TPS (median): {label} vs its no-capture runs",
                  figures.fmt(v, "tps"), figures.fmt(pnone, "tps"), q,
                  "≥ 0.85×" if key == "c" else "", figures.verdict(q, ">=", 0.85) if key == "c" else "info")
        c = bulk.get("c")
        t.row("1 capture", "scripts/bench-capture bulk INSERT … SELECT with the C trigger",
              figures.fmt(c, "rows/s"), figures.fmt(bulk.get("none"), "rows/s") + " (no capture); Slony-I 95,900 rows/s (reference)",
              figures.ratio(c, 95_900), "≥ 143,850 rows/s", figures.verdict(c, ">=", 143_850))
        if not tps or not bulk:
            t.note("scripts/bench-capture ran but its tables could not be read in full; its output is in evidence.txt.")
    return samples
