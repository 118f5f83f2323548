"""Scenarios 2 and 3: catch-up after a pause, dbmirror against native logical
replication (and COPY for the bulk load), with one and with two slaves."""

import os
import re
import subprocess
import time

import clusters
import figures
import logical
import processes
import pq
import replayer
import workloads as wl
from context import drop_databases


class Workload:
    def __init__(self, key, title, template, tables, changes, load):
        self.key = key
        self.title = title
        self.template = template
        self.tables = tables
        self.changes = changes    # row changes the slave must apply
        self.load = load          # master_db -> seconds


def workloads(s):
    return [
        Workload("a", f"(a) {s.catchup_transactions:,} pgbench transactions", "tpl_pgbench",
                 wl.PGBENCH_TABLES, s.catchup_transactions * 4,
                 lambda db: wl.pgbench_transactions(db, s.catchup_transactions)),
        Workload("b", f"(b) {s.bulk_rows:,}-row insert in {s.bulk_transactions} transactions", "tpl_rows",
                 [wl.ROWS_TABLE], s.bulk_rows,
                 lambda db: wl.bulk_insert(db, s.bulk_rows, s.bulk_transactions)),
        Workload("c", f"(c) {s.updates:,} UPDATEs by key, 10 per transaction", "tpl_rows_full",
                 [wl.ROWS_TABLE], s.updates,
                 lambda db: wl.key_updates(db, s.updates, s.table_rows)),
        Workload("d", f"(d) {s.table_rows:,}-row DELETE in one transaction", "tpl_rows_full",
                 [wl.ROWS_TABLE], s.table_rows,
                 lambda db: wl.delete_all(db)),
    ]


def verify(ctx, master_db, slave_dbs, tables):
    """Raises unless every slave holds exactly the master's rows."""
    want = wl.checksum(master_db, tables + [wl.MARKER_TABLE])
    for s in slave_dbs:
        got = wl.checksum(s, tables + [wl.MARKER_TABLE])
        if got != want:
            raise RuntimeError(f"slave {s} differs from the master after catch-up: {got} != {want}")


def master_queue_reads(master_db):
    """Tuples read from the queue tables since the statistics were reset."""
    time.sleep(1.0)  # the replayer's backends flush their statistics as they exit
    return pq.run(master_db,
                  "SELECT relname, coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0), "
                  "coalesce(seq_scan, 0) + coalesce(idx_scan, 0) "
                  "FROM pg_stat_user_tables WHERE relname IN ('Pending', 'PendingData') ORDER BY relname")


def master_changes_fetched(master_db):
    """Changes the replayer fetched from its batch cursors on the master, the cursors it
    opened, and the key and data rows its chunk queries read, since the statistics were
    reset (pg_stat_statements counts the rows of each statement)."""
    row = pq.run(master_db,
                 "SELECT coalesce(sum(rows) FILTER (WHERE query LIKE 'FETCH %dbmirror_batch%'), 0), "
                 "coalesce(sum(calls) FILTER (WHERE query LIKE 'DECLARE dbmirror_batch%'), 0), "
                 "coalesce(sum(rows) FILTER (WHERE query LIKE 'SELECT \"SeqId\", \"IsKey\", \"Data\" FROM \"PendingData\"%'), 0) "
                 "FROM pg_stat_statements")[0]
    return int(row[0]), int(row[1]), int(row[2])


def run_dbmirror(ctx, w, nslaves, first, slave_conninfo=None, profile=False):
    """One dbmirror catch-up: load with the replayer stopped, then `run --once`, timed until
    every slave shows the marker committed after the load (as the logical replication runs are).
    `slave_conninfo(cluster, db)` gives the conninfo the replayer uses (default: unix socket)."""
    db = ctx.name(f"cu{w.key}_dbm{nslaves}")
    slaves = ctx.slaves[:nslaves]
    for c in [ctx.master] + slaves:
        clusters.create_database(c, db, w.template)
    try:
        master_db = ctx.master.db(db)
        replayer.install_queue(master_db, w.tables + [wl.MARKER_TABLE])
        mirror = replayer.Dbmirror(ctx.dbmirror, master_db)
        for i, s in enumerate(slaves):
            mirror.add_host(f"slave{i + 1}", slave_conninfo(s, db) if slave_conninfo else s.db(db))
        load_seconds = w.load(master_db)
        wl.put_marker(master_db)
        clusters.checkpoint(ctx.master, *slaves)
        ctx.reset_statistics(ctx.master, db)
        for s in slaves:
            ctx.reset_statistics(s, db)
        if profile:
            ctx.record(f"catch-up {w.title}: EXPLAIN ANALYZE of the replayer's queue query on the master",
                       explain_queue_query(master_db))
        perf_data = os.path.join(ctx.out_dir, f"perf-{db}.data") if profile else None
        watch = wl.MarkerWatch([s.db(db) for s in slaves], timeout=ctx.sizes.replay_timeout)
        watch.start()
        process_seconds, rss, cpu = mirror.run_once(ctx.sizes.replay_timeout, perf_data,
                                                    log_path=os.path.join(ctx.out_dir, f"replayer-{db}.log"))
        seconds = watch.result()
        master_time = ctx.statement_seconds(master_db)
        cleanup = sum(t for q, t in master_time if "delete" in q.lower() or "truncate" in q.lower())
        split = dict(master_read=sum(t for _, t in master_time) - cleanup, master_cleanup=cleanup,
                     slave=sum(t for _, t in ctx.statement_seconds(slaves[0].db(db))), replayer_cpu=cpu)
        if profile:
            ctx.record(f"catch-up {w.title}: perf profile of the replayer ({seconds:.1f} s, CPU {cpu:.1f} s)",
                       perf_report(perf_data))
        verify(ctx, master_db, [s.db(db) for s in slaves], w.tables)
        reads = master_queue_reads(master_db)
        fetched = master_changes_fetched(master_db)
        if first:
            ctx.record(f"catch-up {w.title}, dbmirror, {nslaves} slave(s): master top statements",
                       ctx.top_statements(master_db))
            ctx.record(f"catch-up {w.title}, dbmirror, {nslaves} slave(s): queue tuples read on the master "
                       "(relname, tuples read, scans)", "\n".join(map(str, reads)))
            ctx.record(f"catch-up {w.title}, dbmirror, {nslaves} slave(s): slave1 top statements",
                       ctx.top_statements(slaves[0].db(db)))
        return dict(seconds=seconds, process_seconds=process_seconds, rss=rss, cpu=cpu,
                    load_seconds=load_seconds, split=split, fetched=fetched)
    finally:
        drop_databases(ctx, db, [ctx.master] + slaves)


QUEUE_READER = os.path.join(clusters.REPO, "Sources", "ReplayEngine", "Queue", "QueueReader.swift")


def explain_queue_query(master_db):
    """EXPLAIN (ANALYZE, BUFFERS) of the two queries the replayer reads a batch with, taken
    from its source so that they stay the same, for the first registered host's snapshot:
    the cursor over the batch's "Pending" rows, and the "PendingData" rows of its first
    5,000 changes (one full chunk)."""
    try:
        source = open(QUEUE_READER).read()
    except OSError as error:
        return f"not available: {error}"
    # The cursor's text is a template (`cursor(selecting:)`) filled with the
    # one-slave condition (`cursorQuery`).
    template = re.search(r"DECLARE dbmirror_batch NO SCROLL CURSOR FOR\s*(.*?)\"\"\"", source, re.S)
    condition = re.search(r"static let cursorQuery = cursor\(selecting: \"\"\"\s*(.*?)\"\"\"\)", source, re.S)
    rows_query = re.search(r"static let rowsQuery = \"\"\"\s*(.*?)\"\"\"", source, re.S)
    if not template or not condition or not rows_query:
        return f"not available: no cursor or rows query found in {QUEUE_READER}"
    snapshot = pq.value(master_db, 'SELECT "Snapshot"::text FROM "MirroredTransaction" ORDER BY 1 LIMIT 1')
    query = template.group(1).replace("\\(condition)", condition.group(1))
    query = query.replace("$1::pg_snapshot", f"'{snapshot}'::pg_snapshot")
    # The replayer's master session and batch settings (Administration.swift, QueueReader.planSettings).
    with pq.Connection(master_db) as c:
        c.query("SET jit = off; SET work_mem = '128MB'; SET enable_seqscan = off; SET max_parallel_workers_per_gather = 0")
        plans = ["-- the cursor", *(r[0] for r in c.query("EXPLAIN (ANALYZE, BUFFERS) " + query))]
        bounds = c.query(f'SELECT min("SeqId"), max("SeqId") FROM (SELECT "SeqId" FROM ({query}) AS b LIMIT 5000) AS f')[0]
        if bounds[0] is not None:
            chunk = rows_query.group(1).replace("$1", bounds[0]).replace("$2", bounds[1])
            plans += ["-- the first chunk's rows", *(r[0] for r in c.query("EXPLAIN (ANALYZE, BUFFERS) " + chunk))]
    return "\n".join(plans)


def perf_report(perf_data):
    """The replayer's hottest symbols (self time) from a perf recording, Swift names demangled."""
    out = subprocess.run(["perf", "report", "-i", perf_data, "--stdio", "--no-children", "-g", "none",
                          "--sort", "dso,symbol", "--percent-limit", "1"],
                         capture_output=True, text=True)
    lines = [re.sub(r"(\s+-)*\s*$", "", ln) for ln in out.stdout.splitlines()
             if ln.strip() and not ln.startswith("#")][:40]
    if not lines:
        return out.stderr.strip()
    text = "\n".join(lines)
    try:
        demangled = subprocess.run(["swift", "demangle", "--simplified", "--compact"], input=text,
                                   capture_output=True, text=True, timeout=60)
        if demangled.returncode == 0:
            text = demangled.stdout
    except (OSError, subprocess.TimeoutExpired):
        pass
    return "\n".join(ln[:180] for ln in text.splitlines())


def run_logical(ctx, w, first, copy_samples=None, master_conninfo=None):
    """One native logical replication catch-up: subscription disabled during the load,
    enabled to catch up; done when the marker committed after the load is on the slave.
    For the bulk load also times COPY of the same rows into a fresh slave database.
    `master_conninfo(db)` is what the subscription connects to (default: unix socket)."""
    db = ctx.name(f"cu{w.key}_lr")
    slave = ctx.slaves[0]
    for c in (ctx.master, slave):
        clusters.create_database(c, db, w.template)
    sub = f"sub_{db}"
    try:
        master_db, slave_db = ctx.master.db(db), slave.db(db)
        logical.publish(master_db, w.tables + [wl.MARKER_TABLE])
        # Created disabled: the slot keeps every change from here on, nothing is applied yet.
        logical.subscribe(slave_db, sub, master_conninfo(db) if master_conninfo else master_db, enabled=False)
        load_seconds = w.load(master_db)
        wl.put_marker(master_db)
        clusters.checkpoint(ctx.master, slave)
        ctx.reset_statistics(slave, db)
        t0 = time.monotonic()
        logical.enable(slave_db, sub)
        wl.wait_marker(slave_db, timeout=ctx.sizes.replay_timeout)
        seconds = time.monotonic() - t0
        verify(ctx, master_db, [slave_db], w.tables)
        if first:
            ctx.record(f"catch-up {w.title}, logical replication: slave top statements",
                       ctx.top_statements(slave_db))
        if copy_samples is not None:
            try:
                copy_samples.add(w.changes / copy_rows(ctx, master_db, slave))
            except Exception as error:  # noqa: BLE001 - reported in the table
                copy_samples.fail(str(error).splitlines()[0])
        return dict(seconds=seconds, load_seconds=load_seconds)
    finally:
        logical.drop(ctx.slaves[0].db(db), sub)
        drop_databases(ctx, db, [ctx.master, slave])


def copy_rows(ctx, master_db, slave):
    """The physical limit for the bulk load: COPY of the master's rows straight into a
    fresh slave table (COPY TO STDOUT | COPY FROM STDIN); returns seconds."""
    db = ctx.name("cub_copy")
    clusters.create_database(slave, db, "tpl_rows")
    try:
        clusters.checkpoint(slave)
        t0 = time.monotonic()
        out = processes.start(["psql", "-X", "-q", "-d", master_db, "-c", f"COPY {wl.ROWS_TABLE} TO STDOUT"],
                              stdout=subprocess.PIPE, text=False)
        into = processes.start(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", slave.db(db),
                                "-c", f"COPY {wl.ROWS_TABLE} FROM STDIN"], stdin=out.stdout, text=False)
        out.stdout.close()
        into_err = into.communicate(timeout=ctx.sizes.replay_timeout)[1]
        out_err = out.communicate()[1]
        seconds = time.monotonic() - t0
        processes.stop(out)
        processes.stop(into)
        if out.returncode != 0 or into.returncode != 0:
            raise RuntimeError(f"COPY pipe failed: {(out_err or b'').decode()} {(into_err or b'').decode()}")
        n = int(pq.value(slave.db(db), f"SELECT count(*) FROM {wl.ROWS_TABLE}"))
        want = int(pq.value(master_db, f"SELECT count(*) FROM {wl.ROWS_TABLE}"))
        if n != want:
            raise RuntimeError(f"COPY moved {n} rows, the master has {want}")
        return seconds
    finally:
        clusters.drop_database(slave, db)


def measure(ctx):
    """Runs every workload `runs` times, alternating the methods, and fills the table."""
    s = ctx.sizes
    t = ctx.table
    have_dbmirror = ctx.dbmirror is not None
    rss = figures.Samples("MB")
    results = {}
    for w in workloads(s):
        dbm1, dbm2, lr, copy = (figures.Samples("rows/s") for _ in range(4))
        dbm1_s, dbm2_s = figures.Samples("s"), figures.Samples("s")
        process_s = figures.Samples("s")
        cpu_share = figures.Samples("% of elapsed")
        splits = []
        insert_capture, insert_plain = figures.Samples("rows/s"), figures.Samples("rows/s")
        reads = {}
        methods = ["dbm1", "lr"] + (["dbm2"] if w.key == "a" else [])
        for i in range(s.runs):
            order = methods[i % len(methods):] + methods[:i % len(methods)]
            for m in order:
                ctx.log(f"catch-up {w.title}: run {i + 1}/{s.runs}, {m}")
                try:
                    if m == "lr":
                        r = run_logical(ctx, w, first=(i == 0), copy_samples=copy if w.key == "b" else None)
                        lr.add(w.changes / r["seconds"])
                        if w.key == "b":
                            insert_plain.add(w.changes / r["load_seconds"])
                    elif not have_dbmirror:
                        continue
                    else:
                        n = 1 if m == "dbm1" else 2
                        r = run_dbmirror(ctx, w, n, first=(i == 0))
                        (dbm1 if n == 1 else dbm2).add(w.changes / r["seconds"])
                        (dbm1_s if n == 1 else dbm2_s).add(r["seconds"])
                        rss.add(r["rss"])
                        if n == 1:
                            process_s.add(r["process_seconds"])
                            cpu_share.add(100.0 * r["cpu"] / r["process_seconds"])
                            splits.append((r["process_seconds"], r["split"]))
                        reads.setdefault(n, r["fetched"])
                        if w.key == "b" and n == 1:
                            insert_capture.add(w.changes / r["load_seconds"])
                except Exception as error:  # noqa: BLE001 - one failed run is reported, the rest go on
                    ctx.log(f"  failed: {error}")
                    target = {"lr": lr, "dbm1": dbm1, "dbm2": dbm2}[m]
                    target.fail(str(error).strip().splitlines()[0][:200])
        t.runs(f"{w.key} dbmirror run --once until it exited (after the slave had everything: it then records the batch and cleans the queue), 1 slave", process_s)
        t.runs(f"{w.key} replayer CPU (user+sys, share of the time until exit), 1 slave", cpu_share)
        for elapsed, sp in splits:
            t.detail(f"{w.key} where a 1-slave replay's {elapsed:.1f} s went (statement time, pg_stat_statements)",
                     f"master read {sp['master_read']:.1f} s, master queue cleanup (DELETE/TRUNCATE) {sp['master_cleanup']:.1f} s, "
                     f"slave statements {sp['slave']:.1f} s, replayer CPU {sp['replayer_cpu']:.1f} s")
        if have_dbmirror and ctx.profile:
            ctx.log(f"catch-up {w.title}: one more dbmirror run under perf (not counted)")
            try:
                run_dbmirror(ctx, w, 1, first=False, profile=True)
            except Exception as error:  # noqa: BLE001 - evidence only
                ctx.log(f"  profiling failed: {error}")
        results[w.key] = dict(dbm1=dbm1, dbm2=dbm2, lr=lr, copy=copy, dbm1_s=dbm1_s, dbm2_s=dbm2_s,
                              insert_capture=insert_capture, insert_plain=insert_plain, reads=reads, w=w)
        _rows(ctx, w, results[w.key])
    t.row("2 catch-up", "replayer peak RSS (max of all runs)", figures.fmt(max(rss.values) if rss.values else None, "MB"),
          "", None, "< 100 MB", figures.verdict(max(rss.values) if rss.values else None, "<", 100))
    t.runs("replayer peak RSS", rss)
    _two_slaves(ctx, results["a"])
    return results


def _rows(ctx, w, r):
    t = ctx.table
    missing = ctx.dbmirror_missing
    d = r["dbm1"].median
    lr = r["lr"].median
    q = figures.ratio(d, lr)
    dtext = figures.fmt(d, "rows/s") if d is not None else ("n/a" if missing else "failed")
    if w.key in ("a", "c", "d"):
        t.row("2 catch-up", f"{w.title} vs logical replication", dtext, figures.fmt(lr, "rows/s"), q,
              "≥ 1.5×", figures.verdict(q, ">=", 1.5))
    else:
        t.row("2 catch-up", f"{w.title} vs logical replication", dtext, figures.fmt(lr, "rows/s"), q, "", "info")
        c = r["copy"].median
        qc = figures.ratio(d, c)
        t.row("2 catch-up", f"{w.title} vs COPY into the slave", dtext, figures.fmt(c, "rows/s") + " (COPY)", qc,
              "≥ 0.5×", figures.verdict(qc, ">=", 0.5))
        ic = r["insert_capture"].median
        t.row("1 capture", f"master bulk insert with capture ({w.title})", figures.fmt(ic, "rows/s"),
              figures.fmt(r["insert_plain"].median, "rows/s") + " (no capture, same run); Slony-I 95,900 rows/s (reference)",
              figures.ratio(ic, 95_900), "≥ 1.5 × 95,900 = 143,850 rows/s", figures.verdict(ic, ">=", 143_850))
        t.runs(f"{w.key} master insert rows/s with capture", r["insert_capture"])
        t.runs(f"{w.key} master insert rows/s without capture", r["insert_plain"])
        t.runs(f"{w.key} COPY rows/s", r["copy"])
    t.runs(f"{w.key} dbmirror rows/s", r["dbm1"])
    t.runs(f"{w.key} logical replication rows/s", r["lr"])


def _two_slaves(ctx, r):
    t = ctx.table
    one, two = r["dbm1_s"].median, r["dbm2_s"].median
    q = figures.ratio(two, one)
    t.row("3 two slaves", f"{r['w'].title}: catch-up time, 2 slaves vs 1",
          figures.fmt(two, "s") + " (2 slaves)", figures.fmt(one, "s") + " (1 slave)", q, "≤ 1.2×",
          figures.verdict(q, "<=", 1.2))
    t.runs("a dbmirror seconds, 1 slave", r["dbm1_s"])
    t.runs("a dbmirror seconds, 2 slaves", r["dbm2_s"])
    # Changes fetched from the batch cursors on the master during the replay
    # (pg_stat_statements' rows of the FETCHes): a replayer that read the
    # queue per slave would fetch every change once more for the second.
    reads = r["reads"]
    changes = r["w"].changes + 1  # and the marker
    if 1 in reads and 2 in reads:
        (fetched1, cursors1, rows1), (fetched2, cursors2, rows2) = reads[1], reads[2]
        k = (fetched2 - fetched1) / changes
        how = "once per slave" if k > 0.8 else ("once for all slaves" if k < 0.2 else "partly shared")
        t.row("3 two slaves", f"master queue reads: changes fetched from batch cursors (and key/data rows read for them), 2 slaves vs 1 ({changes:,} changes)",
              f"{fetched2:,} in {cursors2:,} cursor(s), {rows2:,} rows (2 slaves)",
              f"{fetched1:,} in {cursors1:,} cursor(s), {rows1:,} rows (1 slave)", None,
              "", f"{k:.2f} extra fetches per change: master read {how}")
