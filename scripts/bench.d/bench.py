#!/usr/bin/env python3
"""dbmirror's benchmark: scenarios 1-6 of docs/BENCHMARKS.md, each against a
baseline run in the same invocation, on a fresh master and two slaves.
Run it through scripts/bench, which builds what is needed first."""

import argparse
import datetime
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time

import capture_cost
import catch_up
import clusters
import context
import decoder
import latency
import pq
import processes
import replayer
import slow_network
import workloads

SCENARIOS = {
    "capture": capture_cost.measure,
    "catchup": catch_up.measure,
    "latency": latency.measure,
    "slownet": slow_network.measure,
    "decoder": decoder.run,
}


def machine(master):
    mem_kb = next(int(ln.split()[1]) for ln in open("/proc/meminfo") if ln.startswith("MemTotal:"))
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    load = open("/proc/loadavg").read().split()[:3]
    return (f"{os.cpu_count()} CPUs ({cpu}), {mem_kb / 1024 / 1024:.1f} GiB RAM, "
            f"{platform.system()} {platform.release()}, PostgreSQL {clusters.server_version(master)}, "
            f"load average at start {' '.join(load)}")


def source_state():
    """The commit measured, and whether the work tree had uncommitted changes to what is measured."""
    def git(*a):
        return subprocess.run(["git", "-C", clusters.REPO, *a], capture_output=True, text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "Sources", "extension", "Benchmarks")
    n = len(dirty.splitlines())
    return head + (f" plus uncommitted changes in {n} file(s) under Sources/, extension/, Benchmarks/" if n else "")


def parse():
    p = argparse.ArgumentParser(prog="scripts/bench", description=(
        "Benchmarks dbmirror against native logical replication, COPY and no capture, on throwaway "
        "clusters (a master and two slaves) started fresh for this run, and prints one table."))
    p.add_argument("--quick", action="store_true", help="smaller sizes, one run per figure (says so in the table)")
    p.add_argument("--root", required=True, help="directory for the throwaway clusters (deleted at the end)")
    p.add_argument("--out", help="directory for the table, evidence and logs (default: a new temp dir)")
    p.add_argument("--dbmirror", help="the dbmirror executable (default: none, dbmirror rows show n/a)")
    p.add_argument("--profile", action="store_true",
                   help="after the timed catch-up runs, one more replay per workload under perf record (evidence only)")
    p.add_argument("--only", help="comma-separated scenarios to run: " + ",".join(SCENARIOS))
    args = p.parse_args()
    if args.only:
        unknown = set(args.only.split(",")) - set(SCENARIOS)
        if unknown:
            p.error(f"--only: unknown scenario(s) {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}")
    return args


def main():
    args = parse()
    out_dir = args.out or tempfile.mkdtemp(prefix="dbmirror-bench-")
    os.makedirs(out_dir, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = context.Sizes(args.quick)
    selected = args.only.split(",") if args.only else list(SCENARIOS)
    started = time.monotonic()
    clusters.stop_all(args.root)
    try:
        print("bench: starting a master and two slaves", flush=True)
        master = clusters.start(args.root, "master", master=True)
        slaves = [clusters.start(args.root, f"slave{i}") for i in (1, 2)]
        missing = replayer.availability(args.dbmirror)
        ctx = context.Context(master, slaves, None if missing else args.dbmirror, missing, sizes, out_dir, args.profile)
        host = machine(master)
        source = source_state()
        if missing:
            ctx.log(f"dbmirror figures will be missing: {missing}")
        if {"capture", "catchup", "slownet"} & set(selected):
            ctx.log("making the template databases on each server")
            for c in [master] + slaves:
                workloads.make_templates(c, sizes.table_rows, sizes.pgbench_scale)
        for name in selected:
            SCENARIOS[name](ctx)
        report(ctx, args, host, source, started)
    except KeyboardInterrupt:
        print("bench: interrupted; stopping everything", file=sys.stderr)
        return 130
    except (RuntimeError, pq.SQLError) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    finally:
        processes.stop_all()
        clusters.keep_logs(args.root, out_dir)
        clusters.stop_all(args.root)
    return 0


def report(ctx, args, host, source, started):
    s = ctx.sizes
    header = [
        f"Command: scripts/bench{' --quick' if s.quick else ''}"
        + (f" --only {args.only}" if args.only else ""),
        f"Date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"Machine: {host}",
        f"Source measured: {source}",
        f"Load average at the end: {' '.join(open('/proc/loadavg').read().split()[:3])}; "
        f"took {(time.monotonic() - started) / 60:.1f} min",
        f"Runs per figure: {s.runs} (medians)"
        + (" — QUICK: smaller sizes and one run per figure, not the full benchmark" if s.quick else ""),
        f"dbmirror: {ctx.dbmirror or 'not benchmarked: ' + str(ctx.dbmirror_missing)}",
    ]
    text = "\n".join(header) + "\n\n" + ctx.table.markdown() + "\n"
    with open(os.path.join(ctx.out_dir, "table.md"), "w") as f:
        f.write(text)
    print("\n" + text)
    print(f"bench: table in {ctx.out_dir}/table.md, evidence (top statements, tool output) in {ctx.out_dir}/evidence.txt")


if __name__ == "__main__":
    sys.exit(main())
