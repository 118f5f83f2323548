"""The data the scenarios start from (template databases, identical on the
master and the slaves) and the fixed workloads run on the master."""

import threading
import time

import processes
import pq

PGBENCH_TABLES = ["pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history"]
ROWS_TABLE = "rows5"
MARKER_TABLE = "bench_marker"

# Loads run with synchronous_commit=off, like the capture benchmark: the
# catch-up scenarios time the replay, not the load.
LOAD_ENV = {"PGOPTIONS": "-c synchronous_commit=off"}

_ROWS_DDL = f"""
CREATE TABLE {ROWS_TABLE} (
    id     bigint PRIMARY KEY,
    n      integer NOT NULL,
    label  text,
    at     timestamptz NOT NULL,
    amount numeric(12,2)
);
"""
_MARKER_DDL = f"CREATE TABLE {MARKER_TABLE} (id integer PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());"


def _rows_select(first, last):
    """SELECT of rows `first`..`last` of the 5-column table: the same values on every call."""
    return (f"SELECT g, (g % 1000)::int, 'row ' || g || ' ' || md5(g::text), "
            f"timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', (g % 100000) / 100.0 "
            f"FROM generate_series({first}, {last}) g")


def make_templates(cluster, table_rows, scale):
    """Creates the template databases on one server:
    tpl_pgbench (pgbench -i -s scale, a key on pgbench_history),
    tpl_rows (empty 5-column table), tpl_rows_full (the table with `table_rows` rows).
    Every template also has the marker table."""
    for name in ("tpl_pgbench", "tpl_rows", "tpl_rows_full"):
        pq.run(cluster.conninfo, f"CREATE DATABASE {name}")
    db = cluster.db("tpl_pgbench")
    processes.run(["pgbench", "-i", "-q", "-s", str(scale), db], what="pgbench -i")
    pq.run(db, "ALTER TABLE pgbench_history ADD COLUMN hid bigserial PRIMARY KEY;" + _MARKER_DDL)
    pq.run(db, "VACUUM ANALYZE")
    pq.run(cluster.db("tpl_rows"), _ROWS_DDL + _MARKER_DDL)
    full = cluster.db("tpl_rows_full")
    pq.run(full, _ROWS_DDL + _MARKER_DDL + f"INSERT INTO {ROWS_TABLE} {_rows_select(1, table_rows)};")
    pq.run(full, "VACUUM ANALYZE")
    pq.run(cluster.conninfo, "CHECKPOINT")


def pgbench_transactions(master_db, transactions):
    """Workload (a): `transactions` TPC-B-like transactions, 2 clients; 4 row changes each."""
    per_client = transactions // 2
    seconds, _ = processes.run(["pgbench", "-n", "-c", "2", "-j", "2", "-t", str(per_client), master_db],
                               env=LOAD_ENV, what="pgbench (catch-up load)")
    return seconds


def pgbench_timed(master_db, seconds):
    """The capture benchmark: TPC-B-like for `seconds`, 2 clients; returns TPS (without connection time)."""
    _, out = processes.run(["pgbench", "-n", "-c", "2", "-j", "2", "-T", str(seconds), master_db],
                           env=LOAD_ENV, what="pgbench (capture)")
    for line in out.stdout.splitlines():
        if line.startswith("tps =") and "without initial connection time" in line:
            return float(line.split()[2])
        if line.startswith("tps =") and "excluding connections" in line:
            return float(line.split()[2])
    raise RuntimeError(f"no TPS in pgbench's output:\n{out.stdout}")


def bulk_insert(master_db, rows, transactions):
    """Workload (b): `rows` rows inserted in `transactions` transactions; returns seconds."""
    per = rows // transactions
    script = "".join(f"INSERT INTO {ROWS_TABLE} {_rows_select(i * per + 1, (i + 1) * per)};\n"
                     for i in range(transactions))
    # Through stdin, so that each statement is its own transaction (psql -c would make one).
    seconds, _ = processes.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", master_db],
                               env=LOAD_ENV, what="bulk insert", stdin_text=script)
    return seconds


def key_updates(master_db, updates, table_rows):
    """Workload (c): `updates` single-row UPDATEs by key, in transactions of 10, each key
    at most once (a stride through the table coprime with its size)."""
    assert updates % 10 == 0 and updates <= table_rows
    sql = f"""DO $$
DECLARE k bigint;
BEGIN
    FOR t IN 0..{updates // 10 - 1} LOOP
        FOR j IN 0..9 LOOP
            k := ((t * 10 + j)::bigint * 7919) % {table_rows} + 1;
            UPDATE {ROWS_TABLE} SET n = n + 1, amount = amount + 1 WHERE id = k;
        END LOOP;
        COMMIT;
    END LOOP;
END
$$;"""
    seconds, _ = processes.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", master_db, "-c", sql],
                               env=LOAD_ENV, what="key updates")
    return seconds


def delete_all(master_db):
    """Workload (d): every row of the 5-column table deleted in one transaction."""
    seconds, _ = processes.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", master_db,
                                "-c", f"DELETE FROM {ROWS_TABLE}"],
                               env=LOAD_ENV, what="delete")
    return seconds


def put_marker(master_db, n=1):
    """Commits a marker row after the load: once a slave shows it, it has everything before it
    (both replication paths apply master transactions in commit order)."""
    pq.run(master_db, f"INSERT INTO {MARKER_TABLE} (id) VALUES ({n})")


def wait_marker(slave_db, n=1, timeout=1800, poll=0.01):
    """Polls the slave until marker `n` is visible; returns when it is (raises on timeout)."""
    deadline = time.monotonic() + timeout
    with pq.Connection(slave_db) as c:
        while time.monotonic() < deadline:
            if c.value(f"SELECT count(*) FROM {MARKER_TABLE} WHERE id = {n}") == "1":
                return
            time.sleep(poll)
    raise RuntimeError(f"the slave did not show marker {n} within {timeout} s")


class MarkerWatch:
    """Polls slaves for marker `n` on a thread of its own, from `start()` on; `seconds`
    is how long after `start()` the last of them showed it (None until then). Catch-up
    time is "until the slave has everything" for both replication paths: the replayer's
    own exit comes later (it records the batch on the master and cleans the queue)."""

    def __init__(self, slave_dbs, n=1, timeout=1800, poll=0.01):
        self.slave_dbs, self.n, self.timeout, self.poll = slave_dbs, n, timeout, poll
        self.seconds = None
        self.error = None
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self):
        self._t0 = time.monotonic()
        self._thread.start()

    def _watch(self):
        try:
            for db in self.slave_dbs:
                wait_marker(db, self.n, timeout=self.timeout, poll=self.poll)
            self.seconds = time.monotonic() - self._t0
        except Exception as error:  # noqa: BLE001 - reported by result()
            self.error = error

    def result(self, grace=10):
        """The seconds until every slave showed the marker (waits up to `grace` s more)."""
        self._thread.join(grace)
        if self.seconds is None:
            raise RuntimeError(f"the marker did not show on every slave: {self.error or 'timed out'}")
        return self.seconds


def checksum(db, tables):
    """Row count and an order-independent hash of every row of each table."""
    parts = " UNION ALL ".join(
        f"SELECT '{t}', count(*), coalesce(sum(hashtext(x::text)::bigint), 0) FROM {t} x" for t in tables)
    return pq.run(db, parts)
