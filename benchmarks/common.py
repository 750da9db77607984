"""Shared benchmark plumbing: machine facts, timing, JSON results and plots.

Every benchmark script in this folder runs one experiment with the parties on this machine, times each
case several times, takes the median, and writes ``benchmarks/results/<name>.json`` with the machine,
versions, parties, sizes, wall times and bytes sent per party, plus a PNG plot where one helps.  Baselines
run in the same process and the same run, because ratios hold on a noisy machine where absolute times do not.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from datetime import datetime, timezone

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def machine() -> dict:
    """What the figures were measured on."""
    from securegenome.commands.info import gmpy2_active, versions

    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {"host": platform.node(), "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "memory_gib": mem, "versions": versions(), "gmpy2_active": gmpy2_active(),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def measure(fn, repeats: int = 3) -> dict:
    """Call ``fn()`` ``repeats`` times; median and all wall times (s), and the last return value."""
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "times_s": times, "value": value}


def party_stats(results) -> dict:
    """Bytes sent and protocol time per party from a list of :class:`securegenome.core.PartyResult`."""
    return {"bytes_sent": {str(r.pid): r.bytes_sent for r in results},
            "protocol_seconds": {str(r.pid): round(r.seconds, 4) for r in results}}


def write(name: str, cases: list[dict], **extra) -> str:
    """Write ``results/<name>.json``; returns its path."""
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, f"{name}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"experiment": name, "machine": machine(), **extra, "cases": cases}, f, indent=1, default=str)
        f.write("\n")
    return path


def plot(name: str, series: dict[str, tuple[list, list]], xlabel: str, ylabel: str = "wall time (s)",
         logx: bool = True, logy: bool = True) -> str:
    """A line plot of several (x, y) series to ``results/<name>.png``; returns its path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title(name)
    fig.tight_layout()
    path = os.path.join(RESULTS, f"{name}.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
