"""Secure logrank test and interval-aggregated Kaplan-Meier counts, N = 10,000 patients, 3 parties.

Cases: 365 and 3,650 distinct times (integer days).  Baseline in the same run: the approach of MPyC's
``demos/np_kmsurvival.py`` re-implemented minimally here — the four per-time tables as secure fixed-point
arrays, ``c = d·n1 / (n·n(n-1))`` with one vectorised fixed-point division, the two sums, ``Z²/V`` opened —
with the smallest fixed-point width (from 64 bits up) that reaches the same accuracy (relative error
≤ 1e-6 against lifelines); at 64 bits it overflows above ~1,300 patients.  For the curve the baseline
inputs the same tables as fixed-point arrays, aggregates them by stride and opens them, as the demo does.

    python benchmarks/survival.py [--repeats 3] [--large-repeats 1] [--times 365 3650] [--patients 10000]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from securegenome import core
from securegenome.core import mpc
from securegenome.survival import kaplan_meier as km
from securegenome.survival import logrank as lr
from securegenome.survival.tables import SurvivalTable, at_risk_table, pooled

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import measure, party_stats, plot, write  # noqa: E402

GROUPS = ("a", "b")
BASELINE_BITS = (64, 96, 128, 160, 192)
SPLIT = (0.5, 0.3, 0.2)  # uneven shares of the patients held by the 3 parties


def synthetic(n: int, n_times: int, seed: int = 1) -> list[SurvivalTable]:
    """Exponential survival with a group effect and uniform censoring on days 1..n_times, split over 3 parties."""
    rng = np.random.default_rng(seed)
    groups = np.where(rng.random(n) < 0.45, "a", "b").astype(object)
    hazard = np.where(groups == "a", 1.0, 1.25)
    event_time = rng.exponential(n_times / 2 / hazard)
    censor_time = rng.uniform(0, n_times * 1.5, n)
    times = np.clip(np.ceil(np.minimum(event_time, censor_time)), 1, n_times).astype(np.int64)
    times[:2] = [1, n_times]  # all n_times distinct times occur
    events = (event_time <= censor_time).astype(np.int64)
    cuts = np.cumsum([0, *(int(s * n) for s in SPLIT[:-1]), n - sum(int(s * n) for s in SPLIT[:-1])])
    return [SurvivalTable(times[a:b], events[a:b], groups[a:b]) for a, b in zip(cuts, cuts[1:])]


# ---------------------------------------------------------------------------------------------------------
# baseline: MPyC np_kmsurvival's approach (fixed point throughout, one vectorised division)

async def demo_logrank(table, grid: int, bits: int):
    secfxp = mpc.SecFxp(bits)
    local = secfxp.array(at_risk_table(table, GROUPS, grid).astype(float))
    shared = _sum(mpc.input(local)) if len(mpc.parties) > 1 else local
    d1, d2, n1, n2 = shared[0], shared[1], shared[2], shared[3]
    d, n = d1 + d2, n1 + n2
    b = n * (n - 1)
    c = d * n1 / (n * b)  # one fixed-point division per time point; n·b reaches N³
    z = np.sum(d1 - b * c)
    v = np.sum(n2 * (n - d) * c)
    chi2 = await core.open(z * z / v, what="baseline.statistic", why="benchmark baseline output")
    return float(chi2)


async def demo_aggregate(table, grid: int, stride: int, bits: int = 64):
    secfxp = mpc.SecFxp(bits)
    local = secfxp.array(at_risk_table(table, GROUPS, grid).astype(float))
    shared = _sum(mpc.input(local)) if len(mpc.parties) > 1 else local
    k = -(-(grid + 1) // stride)
    pad = k * stride - (grid + 1)
    d = np.concatenate((shared[:2], secfxp.array(np.zeros((2, pad)))), axis=1) if pad else shared[:2]
    agg_d = np.sum(d.reshape(2, k, stride), axis=2)
    agg_n = shared[2:, ::stride]
    opened = await core.open(np.concatenate((agg_d, agg_n), axis=0), what="baseline.aggregates",
                             why="benchmark baseline output")
    return np.asarray(opened).shape


def _sum(arrays):
    total = arrays[0]
    for a in arrays[1:]:
        total = total + a
    return total


# ---------------------------------------------------------------------------------------------------------

def run3(protocol, tables, **kwargs):
    # the baseline's big vectorised steps keep a party busy (not reading) for long on a loaded machine:
    # a generous peer timeout so that a busy peer is not taken for a lost one
    return core.run(protocol, parties=3, kwargs=kwargs, private={i: {"table": t} for i, t in enumerate(tables)},
                    timeout=7200, peer_timeout=3600)


def baseline_bits(tables, grid, reference) -> tuple[int, dict]:
    """Smallest demo width reaching rel. error ≤ 1e-6 (checked with 1 party; accuracy does not depend on m)."""
    errors = {}
    for bits in BASELINE_BITS:
        [r] = core.run(this.demo_logrank, kwargs={"table": pooled(tables), "grid": grid, "bits": bits})
        errors[bits] = abs(r.value / reference - 1)
        if errors[bits] <= 1e-6:
            return bits, errors
    raise RuntimeError(f"no baseline width reached 1e-6: {errors}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--times", type=int, nargs="+", default=[365, 3650])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--large-repeats", type=int, default=1, help="repeats for cases with > 1,000 times")
    parser.add_argument("--interval", type=int, default=30, help="curve interval / demo stride (days)")
    args = parser.parse_args(argv)

    cases = []
    for n_times in args.times:
        repeats = args.repeats if n_times <= 1000 else args.large_repeats
        tables = synthetic(args.patients, n_times)
        grid = n_times
        reference = lr.logrank_statistic(*at_risk_table(pooled(tables), GROUPS, grid))
        bits, sweep = baseline_bits(tables, grid, reference)
        print(f"N={args.patients} T={n_times}: chi2={reference:.6f}; baseline needs SecFxp({bits}) "
              f"(rel. errors {sweep})", flush=True)
        ours = measure(lambda: run3(lr.secure_logrank, tables, horizon=grid), repeats)
        base = measure(lambda: run3(this.demo_logrank, tables, grid=grid, bits=bits), repeats)
        ours_err = abs(ours["value"][0].value.test_statistic / reference - 1)
        base_err = abs(base["value"][0].value / reference - 1)
        curve = measure(lambda: run3(km.secure_km_counts, tables, width=args.interval, horizon=grid), repeats)
        curve_base = measure(lambda: run3(this.demo_aggregate, tables, grid=grid, stride=args.interval),
                             repeats)
        case = {"patients": args.patients, "times": n_times, "chi2": reference, "repeats": repeats,
                "logrank": {"median_s": ours["median_s"], "times_s": ours["times_s"], "rel_error": ours_err,
                            **party_stats(ours["value"])},
                "baseline_logrank": {"secfxp_bits": bits, "median_s": base["median_s"], "times_s": base["times_s"],
                                     "rel_error": base_err, "rel_error_by_bits": sweep,
                                     **party_stats(base["value"])},
                "speedup_logrank": base["median_s"] / ours["median_s"],
                "curve": {"interval": args.interval, "median_s": curve["median_s"], "times_s": curve["times_s"],
                          **party_stats(curve["value"])},
                "baseline_curve": {"median_s": curve_base["median_s"], "times_s": curve_base["times_s"],
                                   **party_stats(curve_base["value"])}}
        cases.append(case)
        print(f"  logrank ours {ours['median_s']:.2f} s (err {ours_err:.1e}), baseline {base['median_s']:.2f} s "
              f"(err {base_err:.1e}): {case['speedup_logrank']:.1f}x; curve ours {curve['median_s']:.2f} s, "
              f"baseline {curve_base['median_s']:.2f} s", flush=True)
    path = write("survival", cases, parties=3, split=SPLIT, repeats=args.repeats, large_repeats=args.large_repeats,
                 note="wall time of the whole 3-process run (process start, connection, input, protocol); "
                      "machine shared with other jobs while measuring")
    xs = [c["times"] for c in cases]
    plot("survival", {"secure logrank (ours)": (xs, [c["logrank"]["median_s"] for c in cases]),
                      "np_kmsurvival approach (baseline)": (xs, [c["baseline_logrank"]["median_s"] for c in cases]),
                      "aggregated curve (ours)": (xs, [c["curve"]["median_s"] for c in cases])},
         xlabel="distinct times (N = %d, 3 parties)" % args.patients)
    print(path)


if __name__ == "__main__":
    import survival as this  # the protocols must be importable by name in the party processes

    main()
