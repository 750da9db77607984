"""Private exploration (issue 18): a 10-aggregate exploration over 10^5 rows split across 3 parties.

The exploration — a count, counts by sex, means of age and BMI, mean blood pressure by stage, the standard
deviation of age, a 20-bin histogram of age, the median age, a 2x4 crosstab sex x stage, and mean age by sex —
is computed in one secure run with DP noise (ε = 1 split over the 10 aggregates) and, in the same run of the
script, the same aggregates opened without noise (the test-only exact switch: the same plan, the same
MPC, no noise drawn) as the baseline.  Wall time is end to end from the caller (party processes started,
CSV-like tables handed over, local row work, MPC, result tables); party seconds and bytes come from the
parties.  Median of ``--repeats`` runs each.

Then the median's accuracy: the error of the DP median (the whole ε on one median) against the exact median
of the 10^5 values for ε = 0.1, 1, 10.  A few 3-party secure runs per ε, plus ``--draws`` draws of the same
mechanism from the plaintext twin (exact histogram + the same exact discrete Laplace sampler, one draw per
noise contributor + the same selection; the secure selection equals the twin's, tests/test_query.py) for
the distribution.

    python benchmarks/query.py                  # 10^5 rows, 3 parties
    python benchmarks/query.py --rows 10000 --repeats 1 --draws 200
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import pandas as pd

from common import RESULTS, machine, party_stats, write
from securegenome.core import dp
from securegenome.query import SecureFrame
from securegenome.query.frame import make_plan, run_plan
from securegenome.query.plan import local_vectors, select_quantile_bin

EPSILONS = (0.1, 1.0, 10.0)


def cohort(rows: int, seed: int = 0) -> pd.DataFrame:
    """A synthetic clinical table: age, sex, stage 1-4, BMI, systolic blood pressure."""
    rng = np.random.default_rng(seed)
    stage = rng.integers(1, 5, rows)
    return pd.DataFrame({"age": np.clip(rng.normal(62, 13, rows).round(), 18, 100), "sex": rng.integers(1, 3, rows),
                         "stage": stage, "bmi": rng.normal(27, 5, rows).round(1),
                         "sbp": rng.normal(125 + 5 * stage, 18, rows).round()})


def frame(parts) -> SecureFrame:
    return SecureFrame(parts, bounds={"age": (0, 120), "bmi": (10, 60), "sbp": (60, 250)},
                       domains={"sex": [1, 2], "stage": [1, 2, 3, 4]})


def exploration(sf: SecureFrame) -> list:
    """The 10 aggregates."""
    return [sf.count(), sf.groupby("sex").count(), sf.mean("age"), sf.mean("bmi"),
            sf.groupby("stage")["sbp"].mean(), sf.std("age"), sf.histogram("age", np.linspace(0, 120, 21)),
            sf.median("age"), sf.crosstab("sex", "stage"), sf.groupby("sex")["age"].mean()]


def time_runs(results, parties: int, repeats: int, exact: bool) -> dict:
    walls, stats = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        tables, party_results = run_plan(results, 1.0, exact_for_testing=exact, parties=parties, timeout=1800)
        walls.append(time.perf_counter() - start)
        stats = party_stats(party_results)
    return {"median_s": statistics.median(walls), "times_s": walls, **stats,
            "releases": len(party_results[0].ledger)}


def median_errors(parts, parties: int, secure_runs: int, draws: int) -> list[dict]:
    """Error of the DP median vs the exact median, per epsilon, on these parties' rows."""
    sf = frame(parts)
    rows = sum(len(p) for p in parts)
    exact = float(np.median(pd.concat(parts).age))
    query = sf.median("age")
    plan = make_plan([query], 1.0)
    (release,) = plan.releases
    agg = plan.queries[0].aggs[0]
    hist = sum(local_vectors(plan, p)[release.label] for p in parts)
    lo, hi = 0.0, 120.0
    width = (hi - lo) / agg.bins
    contributors = (parties - 1) // 2 + 1
    out = []
    for eps in EPSILONS:
        scale = release.sensitivity / eps  # the whole epsilon on the median
        noisy = hist[None, :] + sum(dp.sample_discrete_laplace(scale, draws * agg.bins).reshape(draws, agg.bins)
                                    for _ in range(contributors))
        simulated = lo + (select_quantile_bin(noisy, agg.q) + 0.5) * width - exact
        secure = [float(query.compute(epsilon=eps, parties=parties, timeout=1800)["median(age)"].iloc[0]) - exact
                  for _ in range(secure_runs)]
        abs_err = np.abs(simulated)
        out.append({"rows": rows, "epsilon": eps, "exact_median": exact, "bin_width": width, "draws": draws,
                    "error_quantiles": {q: float(np.quantile(simulated, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)},
                    "median_abs_error": float(np.median(abs_err)), "p95_abs_error": float(np.quantile(abs_err, 0.95)),
                    "secure_errors": secure, "simulated_errors": simulated.tolist()})
        print(f"median, {rows} rows, epsilon={eps:g}: |error| median {np.median(abs_err):.3g}, "
              f"95% {np.quantile(abs_err, .95):.3g} (bin width {width:.3g}); "
              f"secure runs {np.round(secure, 3).tolist()}", flush=True)
    return out


def plot_errors(cases: list[dict], timing: dict) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.8))
    ax1.bar(["no noise\n(baseline)", "DP noise"], [timing["exact"]["median_s"], timing["noisy"]["median_s"]],
            color=["grey", "tab:blue"])
    ax1.set_ylabel("wall time (s)")
    ax1.set_title(f"10 aggregates, {timing['rows']:,} rows, {timing['parties']} parties")
    ax2.boxplot([c["simulated_errors"] for c in cases], whis=(2.5, 97.5), showfliers=False)
    ax2.set_xticks(range(1, len(cases) + 1), [f"ε={c['epsilon']:g}\nn={c['rows']:,}" for c in cases],
                   fontsize=7)
    for k, c in enumerate(cases, start=1):
        ax2.plot([k] * len(c["secure_errors"]), c["secure_errors"], "r.", label="secure runs" if k == 1 else None)
    ax2.set_yscale("symlog", linthresh=1)
    ax2.set_ylabel("DP median − exact median (years)")
    ax2.set_title("DP median of age − exact (box 25-75%, whiskers 2.5-97.5%)", fontsize=9)
    ax2.legend()
    fig.tight_layout()
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, "query.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--parties", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--secure-median-runs", type=int, default=3)
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--median-rows", type=lambda s: [int(v) for v in s.split(",")], default=[100_000, 1000],
                    help="row counts (first rows of each party) for the median's error distribution")
    args = ap.parse_args(argv)
    os.environ.setdefault("SECUREGENOME_QUIET", "1")
    data = cohort(args.rows)
    parts = [data.iloc[i::args.parties].reset_index(drop=True) for i in range(args.parties)]
    results = exploration(frame(parts))
    load_before = os.getloadavg()
    timing = {"rows": args.rows, "parties": args.parties}
    for name, exact in (("exact", True), ("noisy", False)):  # the baseline first, then with DP noise
        timing[name] = time_runs(results, args.parties, args.repeats, exact)
        print(f"{name}: {timing[name]['median_s']:.2f} s (runs {np.round(timing[name]['times_s'], 2).tolist()}), "
              f"{timing[name]['releases']} releases, bytes per party {timing[name]['bytes_sent']}", flush=True)
    timing["noisy_over_exact"] = timing["noisy"]["median_s"] / timing["exact"]["median_s"]
    timing["load_average"] = {"before": load_before, "after": os.getloadavg()}
    print(f"noisy / no-noise baseline: {timing['noisy_over_exact']:.2f}x; load {load_before[0]:.1f} -> "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    cases = []
    for rows in args.median_rows:
        subset = [p.iloc[:-(-rows // args.parties)] for p in parts]
        cases += median_errors(subset, args.parties, args.secure_median_runs, args.draws)
    png = plot_errors(cases, timing)
    path = write("query", [{**c, "simulated_errors": c["simulated_errors"][:200]} for c in cases],
                 exploration=timing, aggregates=10, epsilon=1.0, plot=os.path.basename(png))
    print(f"wrote {path} and {png}; machine {machine()['host']}")


if __name__ == "__main__":
    main()
