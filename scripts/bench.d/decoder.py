"""Scenario 6: the PendingDecoder benchmark (Benchmarks/DecoderBenchmark, owned
by the decoder's author), built in release and run here; its figures quoted."""

import re

import clusters
import processes

SCRATCH = ".build-bench"


def run(ctx):
    command = ["swift", "run", "-c", "release", "--scratch-path", SCRATCH, "DecoderBenchmark"]
    if ctx.sizes.quick:
        command += ["--runs", "3"]
    ctx.log("decoder: " + " ".join(command))
    try:
        _, out = processes.run(command, timeout=3600, what="DecoderBenchmark", cwd=clusters.REPO)
    except Exception as error:  # noqa: BLE001 - reported in the table
        ctx.table.row("6 decoder", "DecoderBenchmark", f"failed: {str(error).splitlines()[0][:200]}",
                      "", None, "≥ 1 GB/s", "n/a")
        return None
    ctx.record("DecoderBenchmark output", out.stdout)
    lines = [ln.strip() for ln in out.stdout.splitlines() if re.search(r"[MG]B/s", ln)]
    if not lines:
        ctx.table.row("6 decoder", "DecoderBenchmark", "no MB/s figure in its output (see evidence.txt)",
                      "", None, "≥ 1 GB/s", "n/a")
        return None
    for ln in lines:
        # "CORPUS METHOD  1,234.5 MB/s  12,345,678 rows/s   (wall clock …)": rates per CPU-second
        corpus, method = (ln.split() + ["", ""])[:2]
        mbps = megabytes_per_second(ln)
        rows = re.search(r"([\d,.]+)\s*rows/s", ln)
        rows_text = f" {rows.group(1)} rows/s" if rows else ""
        wall = re.search(r"wall clock ([\d,.]+) MB/s", ln)
        # The target is for decoding rows (walk: validating them, decode: into
        # PendingRows as the replayer does); `single`, a row at a time, is information.
        judged = corpus in ("pgbench", "pgbench-whole", "mixed") and method in ("walk", "decode")
        ctx.table.row("6 decoder", f"DecoderBenchmark {corpus} corpus, {method} (per CPU-second; wall clock "
                      f"{wall.group(1) if wall else '?'} MB/s)",
                      f"{mbps:,.0f} MB/s{rows_text}" if mbps else "?", "", None,
                      "≥ 1,000 MB/s" if judged else "",
                      ("PASS" if mbps and mbps >= 1000 else "MISS") if judged else "info")
    return out.stdout


def megabytes_per_second(line):
    m = re.search(r"([\d,]+(?:\.\d+)?)\s*(MB|GB)/s", line)
    if not m:
        return None
    v = float(m.group(1).replace(",", ""))
    return v * 1000 if m.group(2) == "GB" else v

