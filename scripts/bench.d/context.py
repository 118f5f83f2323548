"""What every scenario needs: the servers, the replayer, the sizes, the report."""

import itertools
import os

import clusters
import figures
import pq


class Sizes:
    """Workload sizes and repetitions; --quick shrinks them and says so."""

    def __init__(self, quick):
        self.quick = quick
        self.runs = 1 if quick else 3
        self.pgbench_scale = 10
        self.capture_seconds = 5 if quick else 20
        self.catchup_transactions = 10_000 if quick else 40_000
        self.bulk_rows = 200_000 if quick else 1_000_000
        self.bulk_transactions = 20 if quick else 100
        self.updates = 50_000 if quick else 200_000
        self.table_rows = 250_000 if quick else 1_000_000
        self.latency_seconds = 15 if quick else 60
        self.replay_timeout = 1800


class Context:
    def __init__(self, master, slaves, dbmirror, dbmirror_missing, sizes, out_dir, profile=False):
        self.master = master
        self.slaves = slaves
        self.dbmirror = dbmirror            # path, or None
        self.dbmirror_missing = dbmirror_missing  # why not, or None
        self.sizes = sizes
        self.profile = profile              # one extra perf-recorded replay per catch-up workload
        self.out_dir = out_dir
        self.table = figures.Table()
        self.evidence = open(os.path.join(out_dir, "evidence.txt"), "w")
        self._ids = itertools.count(1)

    def name(self, prefix):
        """A database/subscription name not used before in this invocation."""
        return f"{prefix}_{next(self._ids)}"

    def log(self, text):
        print(f"bench: {text}", flush=True)

    def record(self, title, text):
        """Keeps evidence (statement statistics, plans) for docs/BENCHMARKS.md."""
        self.evidence.write(f"## {title}\n{text.rstrip()}\n\n")
        self.evidence.flush()

    def all_clusters(self):
        return [self.master] + self.slaves

    def reset_statistics(self, cluster, db):
        pq.run(cluster.db(db), "SELECT pg_stat_statements_reset(); SELECT pg_stat_reset();")

    def statement_seconds(self, conninfo):
        """[(query, seconds)] of every statement run in this database since the reset."""
        rows = pq.run(conninfo,
                      "SELECT query, total_exec_time / 1000 FROM pg_stat_statements "
                      "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())")
        return [(q, float(t)) for q, t in rows]

    def top_statements(self, conninfo, limit=8):
        rows = pq.run(conninfo,
                      "SELECT calls, rows, round(total_exec_time::numeric, 1), "
                      "left(regexp_replace(query, '\\s+', ' ', 'g'), 160) "
                      "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                      f"ORDER BY total_exec_time DESC LIMIT {limit}")
        return "\n".join(f"calls={r[0]:>8} rows={r[1]:>9} ms={r[2]:>10}  {r[3]}" for r in rows)


def drop_databases(ctx, name, on):
    for c in on:
        clusters.drop_database(c, name)
