"""Cost of differential privacy in shares: dp_open versus a plain open of the same values, same run.

For each size n, one run of m parties (default 3) secret-shares n integers from party 0 and then, in the
same run, (a) opens them without noise (`core.open`, the baseline), (b) opens them with noise drawn in
shares (`core.dp_open`: local exact sampling on parties 0..t, secret-sharing of the noise, addition,
opening) and (c) only draws such noise (`core.dp.discrete_laplace_noise`).  Each phase is timed inside the
protocol on every party (the slowest party counts) with the bytes it sent; the run is repeated and medians
are reported with the ratios (b)/(a) and (c)/(a).

    python benchmarks/dp.py                     # n = 10^3 and 10^5, 3 parties
    python benchmarks/dp.py --sizes 1000 --mechanism discrete_gaussian
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import time

import numpy as np

from common import measure, party_stats, plot, write
from securegenome import core
from securegenome.core import dp, mpc

PHASES = ("open", "dp_open", "noise")  # dp_open before noise: it pays the first-call set-up, as in use


def _bytes_sent() -> int:
    return sum(p.protocol.nbytes_sent for p in mpc.parties if p.pid != mpc.pid and p.protocol is not None)


async def open_vs_dp_open(n: int, epsilon: float, mechanism: str):
    """Returns per-phase (seconds, bytes sent) of this party: plain open, then dp_open, of the same n values."""
    secint = mpc.SecInt(32)
    values = np.arange(n, dtype=np.int64) % 1000 if mpc.pid == 0 else np.zeros(n, dtype=np.int64)
    x = mpc.input(secint.array(values), senders=0)
    await mpc.barrier("shared")
    phases = {}
    for phase in PHASES:
        b0, t0 = _bytes_sent(), time.perf_counter()
        if phase == "open":
            await core.open(x, what="values", why="benchmark baseline: no noise")
        elif phase == "noise":
            noise = await (dp.discrete_laplace_noise(secint, n, 1 / epsilon) if mechanism == "discrete_laplace"
                           else dp.discrete_gaussian_noise(secint, n, dp.gaussian_sigma(1, epsilon, 1e-6)))
            await mpc.gather(noise)
        else:
            await core.dp_open(x, sensitivity=1, epsilon=epsilon, delta=1e-6 if mechanism.endswith("gaussian")
                               else 0.0, mechanism=mechanism, what="noisy values", why="benchmark")
        await mpc.barrier(phase)
        phases[phase] = (time.perf_counter() - t0, _bytes_sent() - b0)
    return phases


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=lambda s: [int(v) for v in s.split(",")], default=[1000, 100_000])
    ap.add_argument("--parties", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--epsilon", type=float, default=1.0)
    ap.add_argument("--mechanism", default="discrete_laplace", choices=["discrete_laplace", "discrete_gaussian"])
    args = ap.parse_args(argv)

    # party processes unpickle the protocol by module name: "dp" (this file, benchmarks/ is on their path)
    protocol = importlib.import_module("dp").open_vs_dp_open
    cases = []
    for n in args.sizes:
        runs = []

        def once():
            results = core.run(protocol, parties=args.parties, timeout=1800,
                               kwargs={"n": n, "epsilon": args.epsilon, "mechanism": args.mechanism})
            runs.append(results)
            return results

        load_before = os.getloadavg()[0]
        wall = measure(once, repeats=args.repeats)
        per_run = {phase: [max(r.value[phase][0] for r in results) for results in runs] for phase in PHASES}
        med = {phase: statistics.median(ts) for phase, ts in per_run.items()}
        last = runs[-1]
        case = {"n": n, "parties": args.parties, "mechanism": args.mechanism, "epsilon": args.epsilon,
                "open_median_s": med["open"], "dp_open_median_s": med["dp_open"],
                "ratio": med["dp_open"] / med["open"], "noise_median_s": med["noise"],
                "noise_ratio": med["noise"] / med["open"], "open_times_s": per_run["open"],
                "noise_times_s": per_run["noise"], "dp_open_times_s": per_run["dp_open"],
                "bytes_open": {str(r.pid): r.value["open"][1] for r in last},
                "bytes_dp_open": {str(r.pid): r.value["dp_open"][1] for r in last},
                "run_wall_median_s": wall["median_s"], "load_average_1min": [load_before, os.getloadavg()[0]],
                **party_stats(last)}
        cases.append(case)
        print(f"n={n:>7}  open {med['open']:.4f} s  noise {med['noise']:.4f} s  dp_open {med['dp_open']:.4f} s  "
              f"ratio {case['ratio']:.2f} (noise alone {case['noise_ratio']:.2f})  "
              f"bytes party0 open {case['bytes_open']['0']} "
              f"dp_open {case['bytes_dp_open']['0']}  load {load_before:.1f}", flush=True)

    name = "dp" if args.mechanism == "discrete_laplace" else f"dp_{args.mechanism}"
    print(write(name, cases, repeats=args.repeats, note="times measured inside the protocol; slowest party"))
    if len(cases) > 1:
        sizes = [c["n"] for c in cases]
        print(plot(name, {"open (no noise)": (sizes, [c["open_median_s"] for c in cases]),
                          f"dp_open ({args.mechanism})": (sizes, [c["dp_open_median_s"] for c in cases])},
                   xlabel="values opened"))


if __name__ == "__main__":
    main()
