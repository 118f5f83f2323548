"""Samples, medians and the result table with targets and PASS/MISS."""

import statistics


class Samples:
    """Repeated measurements of one figure; failures are kept with their reason."""

    def __init__(self, unit):
        self.unit = unit
        self.values = []
        self.failures = []

    def add(self, value):
        self.values.append(value)

    def fail(self, reason):
        self.failures.append(reason)

    @property
    def median(self):
        return statistics.median(self.values) if self.values else None

    def runs_text(self):
        parts = [fmt(v, self.unit) for v in self.values]
        parts += [f"failed: {r}" for r in self.failures]
        return "; ".join(parts) if parts else "not run"


def fmt(value, unit=""):
    """A figure with sensible precision and its unit."""
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".rstrip()


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def verdict(value, op, limit):
    """PASS/MISS of `value op limit` (op is '>=', '<=', '<'); n/a when not measured."""
    if value is None:
        return "n/a"
    ok = {">=": value >= limit, "<=": value <= limit, "<": value < limit, ">": value > limit}[op]
    return "PASS" if ok else "MISS"


class Table:
    """The report: one row per figure, markdown, plus notes and the raw runs."""

    HEADER = ("scenario", "figure", "dbmirror", "baseline", "ratio", "target", "result")

    def __init__(self):
        self.rows = []
        self.notes = []
        self.raw = []

    def row(self, scenario, figure, dbmirror="", baseline="", ratio_value=None, target="", result=""):
        r = fmt(ratio_value) + "×" if ratio_value is not None else ""
        self.rows.append((scenario, figure, dbmirror, baseline, r, target, result))

    def note(self, text):
        self.notes.append(text)

    def runs(self, label, samples):
        self.detail(label, samples.runs_text())

    def detail(self, label, text):
        self.raw.append(f"{label}: {text}")

    def markdown(self):
        lines = ["| " + " | ".join(self.HEADER) + " |", "|" + "---|" * len(self.HEADER)]
        for r in sorted(self.rows, key=lambda r: r[0].split()[0]):  # by scenario number, stable
            lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
        if self.notes:
            lines += ["", "Notes:"] + [f"- {n}" for n in self.notes]
        if self.raw:
            lines += ["", "Runs (each value is one run):"] + [f"- {r}" for r in self.raw]
        return "\n".join(lines)
