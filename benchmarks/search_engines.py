"""Search engines (issue 6): fm (secure FM-index) versus scan, time vs number of reads, and the crossover.

Cases, all with 3 parties on this machine, the lambda genome (48,502 bp), 100 bp reads, both strands:
  k0   B = 100 / 1,000 / 10,000 exact reads (half reverse-complemented), k = 0
  k2   B = 100 / 1,000 / 10,000 reads with 0..2 substitutions, k = 2
Both engines run on the same reads in the same run (wall time of the whole ``core.run``, process start
included); both must return the plaintext oracle's hits (``ok``).  Per case: the ratio scan / fm, the
engine ``--engine auto`` would pick (``choose_engine`` on the public sizes) and whether it is the faster
one, the fm stats (index and search seconds, overflowing reads).  Per k: the crossover B where the two
lines cross (log-log interpolation between measured sizes).  Cost models: the fitted scan seconds per
opened window test (next to ``SCAN_SECONDS_PER_TEST``) and the measured fm times next to
``fmsearch.estimated_seconds``.  Target: fm at least 5x faster than scan for 10,000 exact reads.

    python benchmarks/search_engines.py                          # everything (B = 10,000 runs once)
    python benchmarks/search_engines.py --sizes 100 --repeats 1  # smoke test
    python benchmarks/search_engines.py --cases k0 --sizes 100,1000
"""

from __future__ import annotations

import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import measure, party_stats, plot, write  # noqa: E402
from search import LAMBDA, simulate  # noqa: E402

from securegenome import core  # noqa: E402
from securegenome.genomics import fmsearch, read_sequences  # noqa: E402
from securegenome.genomics.oracle import kmismatch_hits  # noqa: E402
from securegenome.genomics.search import (SCAN_SECONDS_FIXED, SCAN_SECONDS_PER_PAIR,  # noqa: E402
                                          SCAN_SECONDS_PER_TEST, ScanPlan, choose_engine, repetitions,
                                          secure_search)
from securegenome.genomics.search import estimated_seconds as scan_estimate  # noqa: E402

NAME = "search_engines"
CASES = {"k0": 0, "k2": 2}
ENGINES = ("scan", "fm")
READ_LENGTH = 100
STRANDS = ("+", "-")
TARGET_RATIO = 5.0  # issue 6: fm at least 5x faster than scan for B = 10,000 exact reads


async def noop():
    """A protocol doing nothing: the start-up cost of a 3-party run (processes, connections, imports)."""
    return None


def startup_seconds(repeats: int) -> dict:
    import search_engines as importable  # party processes unpickle the protocol by module name, never __main__
    return measure(lambda: core.run(importable.noop, parties=3), repeats)


def engine_run(genome, reads, k, engine, repeats):
    """Median wall time of one engine with 3 parties; its hits, overflow and stats."""
    holder = {}

    def once():
        holder["results"] = core.run(secure_search, parties=3, kwargs={"k": k, "engine": engine},
                                     private={0: {"reference": [genome]}, 1: {"reads": reads}})
    timing = measure(once, repeats)
    results = holder["results"]
    outcome = results[1].value
    return {"median_s": timing["median_s"], "times_s": timing["times_s"], "repeats": repeats,
            "hits": outcome.hits, "overflow": outcome.overflow, "stats": dict(outcome.stats),
            **party_stats(results)}


def fm_model(n, B, k):
    """``fmsearch.estimated_seconds`` with its split into index build and search, and the cost features."""
    lengths = [READ_LENGTH] * B
    features = fmsearch.cost_features(n, lengths, k, len(STRANDS))
    total = fmsearch.estimated_seconds(n, lengths, k, len(STRANDS))
    build = fmsearch.COST_SECONDS["build"] * features["build"]
    return {"model_s": total, "model_index_s": build, "model_search_s": total - build, "features": features,
            "step": fmsearch.default_step(lengths, k)}


def scan_features(n, B, k):
    """The scan model's terms: window x read strand pairs and opened window tests."""
    plan = ScanPlan((n,), (READ_LENGTH,) * B, k, STRANDS)
    pairs = sum(plan.windows(m) for m in plan.read_lengths) * len(STRANDS)
    return {"pairs": pairs, "tests": pairs * (k + 1) * repetitions(k)}


def case(genome, k, B, repeats, startup):
    reads = simulate(genome, B, READ_LENGTH, seed=10 * B + k, max_errors=0 if k == 0 else 2)
    n = int(genome.size)
    row = {"k": k, "reads": B, "read_length": READ_LENGTH, "reference_bp": n, "repeats": repeats}
    kmismatch_hits([genome[:200]], [reads[0][:50]], 1)  # compile the oracle's kernels before timing it
    oracle = measure(lambda: kmismatch_hits([genome], reads, k), 1)
    expected = oracle["value"]
    row["oracle_s"], row["oracle_hits"] = oracle["median_s"], len(expected)
    runs = {}
    for engine in ENGINES:
        runs[engine] = engine_run(genome, reads, k, engine, repeats)
        print(f"  k={k} B={B} {engine}: {runs[engine]['median_s']:.1f} s", flush=True)
    scan, fm = runs["scan"], runs["fm"]
    row["ok_scan"] = scan["hits"] == expected
    row["ok_fm"] = fm["hits"] == expected
    row["ok"] = row["ok_scan"] and row["ok_fm"] and scan["hits"] == fm["hits"]
    row["fm_hits_subset_of_oracle"] = set(fm["hits"]) <= set(expected)
    row["fm_overflow"] = len(fm["overflow"] or [])
    for engine, r in runs.items():
        row[engine] = {key: r[key] for key in ("median_s", "times_s", "repeats", "stats", "bytes_sent",
                                               "protocol_seconds")}
        row[engine]["hits"] = len(r["hits"])
    row["ratio_scan_over_fm"] = scan["median_s"] / fm["median_s"]
    row["faster"] = "fm" if fm["median_s"] < scan["median_s"] else "scan"
    stats = fm["stats"]  # the models' predictions and auto's pick are added by summary()
    model = {"measured_s": fm["median_s"], "measured_index_s": stats.get("index_seconds"),
             "measured_search_s": stats.get("search_seconds")}
    row["fm_model"] = model
    if not row["ok"]:
        print(f"  WARNING k={k} B={B}: hits differ (scan ok {row['ok_scan']}, fm ok {row['ok_fm']}, "
              f"fm overflow {row['fm_overflow']} reads)", flush=True)
    return row


def crossover(rows):
    """The B where scan and fm take the same time, by log-log interpolation between measured sizes."""
    rows = sorted(rows, key=lambda r: r["reads"])
    if not rows:
        return None
    d = [(math.log(r["reads"]), math.log(r["scan"]["median_s"]) - math.log(r["fm"]["median_s"])) for r in rows]
    if all(y > 0 for _, y in d):
        return f"below {rows[0]['reads']}"
    if all(y <= 0 for _, y in d):
        return f"above {rows[-1]['reads']}"
    for (x0, y0), (x1, y1) in zip(d, d[1:]):
        if (y0 <= 0) != (y1 <= 0):
            return round(math.exp(x0 + (x1 - x0) * (0 - y0) / (y1 - y0)))
    return None


def least_squares(features, targets):
    """Non-negative-ish relative least squares: coefficients c with features @ c ~ targets."""
    import numpy as np

    x, y = np.asarray(features, dtype=float), np.asarray(targets, dtype=float)
    weights = 1 / np.maximum(y, 1e-9)  # relative errors: small and large cases count alike
    coefficients, *_ = np.linalg.lstsq(x * weights[:, None], y * weights, rcond=None)
    return [float(c) for c in coefficients]


def fit_models(rows, startup):
    """The cost models' constants fitted to this run (what search.py and fmsearch.py should hold)."""
    if len(rows) < 3:
        return None
    scan = least_squares([[1, r["scan_model"]["pairs"], r["scan_model"]["tests"]] for r in rows],
                         [max(r["scan"]["median_s"] - startup, 0.0) for r in rows])
    features = [fmsearch.cost_features(r["reference_bp"], [READ_LENGTH] * r["reads"], r["k"], len(STRANDS))
                for r in rows]
    build = least_squares([[f["build"]] for f in features], [r["fm"]["stats"]["index_seconds"] for r in rows])
    search = least_squares([[f["row_bits"], f["row_lanes"]] for f in features],
                           [r["fm"]["stats"]["search_seconds"] for r in rows])
    return {"SCAN_SECONDS_FIXED": scan[0], "SCAN_SECONDS_PER_PAIR": scan[1], "SCAN_SECONDS_PER_TEST": scan[2],
            "fm COST_SECONDS": {"build": build[0], "row_bits": search[0], "row_lanes": search[1]}}


def summary(rows, startup):
    by_k = {}
    for r in rows:
        by_k.setdefault(r["k"], []).append(r)
        plan = ScanPlan((r["reference_bp"],), (READ_LENGTH,) * r["reads"], r["k"], STRANDS)
        r["auto_choice"] = choose_engine("auto", plan)  # with the model now in the code
        r["auto_right"] = r["auto_choice"] == r["faster"]
        features = scan_features(r["reference_bp"], r["reads"], r["k"])
        r["scan_model"] = {"window_tests": features["tests"], "model_s": scan_estimate(plan), **features}
        r["fm_model"].update(fm_model(r["reference_bp"], r["reads"], r["k"]))
        r["fm_model"]["measured_over_model"] = r["fm"]["median_s"] / r["fm_model"]["model_s"]
    crossovers = {f"k{k}": crossover(rs) for k, rs in by_k.items()}
    target = [r for r in rows if r["k"] == 0 and r["reads"] == 10_000]
    return {"crossover_reads": crossovers, "startup_s": startup, "fitted": fit_models(rows, startup),
            "in_code": {"SCAN_SECONDS_FIXED": SCAN_SECONDS_FIXED, "SCAN_SECONDS_PER_PAIR": SCAN_SECONDS_PER_PAIR,
                        "SCAN_SECONDS_PER_TEST": SCAN_SECONDS_PER_TEST, "fm COST_SECONDS": fmsearch.COST_SECONDS},
            "target": {"reads": 10_000, "k": 0, "ratio_required": TARGET_RATIO,
                       "ratio": target[0]["ratio_scan_over_fm"] if target else None,
                       "met": (target[0]["ratio_scan_over_fm"] >= TARGET_RATIO) if target else None},
            "all_ok": all(r["ok"] for r in rows), "auto_right": all(r["auto_right"] for r in rows)}


def table(rows, summ):
    print()
    print(f"{'k':>2} {'B':>6} {'scan s':>8} {'fm s':>8} {'scan/fm':>8} {'fm idx s':>8} {'fm srch s':>9} "
          f"{'fm model':>8} {'auto':>5} {'ok':>5} {'ovfl':>4}")
    for r in sorted(rows, key=lambda r: (r["k"], r["reads"])):
        st = r["fm"]["stats"]
        print(f"{r['k']:>2} {r['reads']:>6} {r['scan']['median_s']:>8.1f} {r['fm']['median_s']:>8.1f} "
              f"{r['ratio_scan_over_fm']:>8.2f} {st.get('index_seconds', float('nan')):>8.1f} "
              f"{st.get('search_seconds', float('nan')):>9.1f} {r['fm_model']['model_s']:>8.1f} "
              f"{r['auto_choice'] + ('' if r['auto_right'] else '!'):>5} {str(r['ok']):>5} {r['fm_overflow']:>4}")
    print("crossover B:", ", ".join(f"{k}: {v}" for k, v in summ["crossover_reads"].items()))
    if summ["fitted"] is not None:
        print("cost model constants fitted to this run:", summ["fitted"])
        print("                        in the code now:", summ["in_code"])
    t = summ["target"]
    if t["ratio"] is not None:
        print(f"target B=10,000 k=0: scan/fm = {t['ratio']:.2f} (need >= {TARGET_RATIO}): "
              f"{'met' if t['met'] else 'NOT met'}")
    print("all hits ok:", summ["all_ok"], " auto picks the faster engine everywhere:", summ["auto_right"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="k0,k2", help="comma-separated subset of: k0, k2")
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated numbers of reads B")
    parser.add_argument("--repeats", type=int, default=3, help="repeats (median) for B <= 1,000")
    parser.add_argument("--large-repeats", type=int, default=1, help="repeats for B > 1,000")
    parser.add_argument("--startup", type=float, default=None,
                        help="start-up seconds subtracted before the scan fit (default: measured, no-op run)")
    parser.add_argument("--name", default=NAME, help="results file name (results/<name>.json and .png)")
    parser.add_argument("--summarize", action="store_true",
                        help="run nothing: recompute the summary of results/<name>.json (crossovers, model fits, "
                             "what --engine auto picks with the constants now in the code) and rewrite it")
    args = parser.parse_args()
    if args.summarize:
        return resummarize(args.name)
    chosen = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in CASES]
    if unknown:
        parser.error(f"unknown cases {unknown}; choose from {', '.join(CASES)}")
    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    os.environ.setdefault("SECUREGENOME_QUIET", "1")
    genome = read_sequences(LAMBDA)[0].codes

    startup_run = None
    if args.startup is None:
        startup_run = startup_seconds(3)
        startup = startup_run["median_s"]
    else:
        startup = args.startup
    print(f"start-up (3 parties, no-op protocol): {startup:.2f} s", flush=True)
    rows = []

    def save():  # after every case, so that a long run that fails later keeps what it measured
        summ = summary(rows, startup)
        path = write(args.name, rows, parties=3, engines=list(ENGINES), sizes=sizes, cases_run=chosen,
                     startup_times_s=startup_run["times_s"] if startup_run else None, summary=summ)
        return path, summ

    for name in chosen:
        k = CASES[name]
        for B in sizes:
            print(f"case k={k} B={B}", flush=True)
            rows.append(case(genome, k, B, args.repeats if B <= 1000 else args.large_repeats, startup))
            save()
    path, summ = save()
    series = {}
    for name in chosen:
        k = CASES[name]
        rs = sorted((r for r in rows if r["k"] == k), key=lambda r: r["reads"])
        for engine in ENGINES:
            series[f"{engine} k={k}"] = ([r["reads"] for r in rs], [r[engine]["median_s"] for r in rs])
    png = plot(args.name, series, xlabel="reads B (100 bp, lambda, both strands; 3 parties)")
    table(rows, summ)
    print(path)
    print(png)


def resummarize(name):
    import json

    from common import RESULTS

    path = os.path.join(RESULTS, f"{name}.json")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    rows = data["cases"]
    data["summary"] = summary(rows, data["summary"]["startup_s"])
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, default=str)
        f.write("\n")
    table(rows, data["summary"])
    print(path)


if __name__ == "__main__":
    main()
