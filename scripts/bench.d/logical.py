"""The baseline: PostgreSQL's native logical replication (publication on the
master, subscription on the slave), paused and resumed like the replayer."""

import time

import pq


def publish(master_db, tables):
    pq.run(master_db, f"CREATE PUBLICATION bench_pub FOR TABLE {', '.join(tables)}")


def subscribe(slave_db, name, master_conninfo, enabled=True):
    """Creates subscription `name` (no initial copy: both sides start equal) and
    waits until its apply worker runs (if enabled)."""
    pq.run(slave_db, f"CREATE SUBSCRIPTION {name} CONNECTION '{master_conninfo}' "
                     f"PUBLICATION bench_pub WITH (copy_data = false, enabled = {str(enabled).lower()})")
    if enabled:
        wait_worker(slave_db, name, running=True)


def wait_worker(slave_db, name, running, timeout=60):
    deadline = time.monotonic() + timeout
    with pq.Connection(slave_db) as c:
        while time.monotonic() < deadline:
            pid = c.value(f"SELECT pid FROM pg_stat_subscription WHERE subname = '{name}' AND relid IS NULL")
            if (pid is not None) == running:
                return
            time.sleep(0.05)
    state = "start" if running else "stop"
    raise RuntimeError(f"the apply worker of subscription {name} did not {state} within {timeout} s")


def enable(slave_db, name):
    pq.run(slave_db, f"ALTER SUBSCRIPTION {name} ENABLE")


def drop(slave_db, name):
    """Drops the subscription and its slot on the master."""
    pq.run(slave_db, f"DROP SUBSCRIPTION IF EXISTS {name}")
