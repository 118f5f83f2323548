"""The benchmark's throwaway servers: a master and two slaves, started fresh
for each invocation through scripts/pg-cluster, with durable settings."""

import os
import shutil
import subprocess

import pq

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PG_CLUSTER = os.path.join(REPO, "scripts", "pg-cluster")

# Durable, like a real server (pg-cluster defaults to fsync=off for tests),
# with room for logical replication and pg_stat_statements for the evidence.
# max_wal_size keeps checkpoints out of the middle of the bulk loads.
COMMON_SETTINGS = [
    "fsync=on",
    "full_page_writes=on",
    "max_wal_senders=10",
    "max_replication_slots=10",
    "shared_preload_libraries='pg_stat_statements,auto_explain'",
    "auto_explain.log_min_duration='1s'",  # plans of slow statements in server.log, kept as evidence
    "pg_stat_statements.max=1000",
    "shared_buffers=256MB",
    "max_wal_size=4GB",
    "checkpoint_timeout=30min",
    # The logical replication launcher starts a subscription's apply worker at
    # most once per wal_retrieve_retry_interval (5 s by default): without this
    # the baseline's catch-up would include up to 5 s of waiting for its worker.
    "wal_retrieve_retry_interval='100ms'",
]
MASTER_SETTINGS = ["wal_level=logical"]


class Cluster:
    """One running server: its name, directory and conninfo (unix socket)."""

    def __init__(self, name, conninfo):
        self.name = name
        self.conninfo = conninfo
        fields = dict(part.split("=", 1) for part in conninfo.split())
        self.socket_dir = fields["host"]
        self.port = int(fields["port"])

    def db(self, database):
        """Conninfo for `database` on this server, over its unix socket."""
        return f"host={self.socket_dir} port={self.port} user=postgres dbname={database}"

    def tcp(self, database, port=None, host="127.0.0.1"):
        """Conninfo for `database` over loopback TCP (optionally via another port: a proxy)."""
        return f"host={host} port={port or self.port} user=postgres dbname={database}"


def start(root, name, master=False):
    settings = COMMON_SETTINGS + (MASTER_SETTINGS if master else [])
    command = [PG_CLUSTER, "start", "--root", root, "--name", name]
    for kv in settings:
        command += ["--set", kv]
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"pg-cluster start {name} failed:\n{out.stderr.strip()}")
    cluster = Cluster(name, out.stdout.strip().splitlines()[-1])
    for db in ("template1", "postgres"):  # every database made later has it too
        pq.run(cluster.db(db), "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    return cluster


def keep_logs(root, out_dir):
    """Copies each server's log next to the report before the clusters are deleted."""
    if not os.path.isdir(root):
        return
    for name in sorted(os.listdir(root)):
        log = os.path.join(root, name, "server.log")
        if os.path.exists(log):
            shutil.copy(log, os.path.join(out_dir, f"{name}-server.log"))


def stop_all(root):
    subprocess.run([PG_CLUSTER, "stop-all", root], capture_output=True, text=True)


def server_version(cluster):
    return pq.value(cluster.conninfo, "SHOW server_version")


def create_database(cluster, name, template=None):
    tpl = f" TEMPLATE {template}" if template else ""
    pq.run(cluster.conninfo, f"CREATE DATABASE {name}{tpl}")


def drop_database(cluster, name):
    pq.run(cluster.conninfo, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def checkpoint(*clusters):
    """Flushes dirty buffers so a checkpoint does not land inside the next timed step."""
    for c in clusters:
        pq.run(c.conninfo, "CHECKPOINT")
