"""The cost of statistical masking sized for a whole run (issue 15.6), same run, 3 parties.

Before issue 15 the radix sort masked each key with k = 29 bits in the keys' own SecInt(32) field (64-bit
prime): a run opening ~2²⁵ masked keys (the BWT of 10⁶ bases) was only within ~2⁻⁵ of hiding them.  Now
k = 72 and at most 2³² masked keys per run (total ≤ 2⁻⁴⁰), so keys live in `core.key_sectype(l)` (a prime of
l + 79 bits).  Each case runs both settings in one 3-party run, alternating, and reports the slowest party's
median:

- sort: n random 32-bit keys, `core.sort(keys, keys, 32)`: SecInt(79) with k = 72 versus SecInt(32) with the
  old k = 29 (the same code with `sort.MASK_BITS` set to 29 for the baseline);
- bwt: the secure suffix array / BWT of n random bases, `bwt_sectype(n)` (now `key_sectype`) versus the old
  `SecInt(plan(n).bit_length)` with k = 29.

    python benchmarks/masking.py --sort-sizes 4096,16384 --bwt-sizes 1000,4000 --repeats 3
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import time

import numpy as np

from common import party_stats, plot, write
from securegenome import core
from securegenome.core import mpc

sort_module = importlib.import_module("securegenome.core.sort")  # core.sort is the function


def _input(values, secint):
    data = np.asarray(values, dtype=object) if mpc.pid == 0 else np.zeros(len(values), dtype=object)
    return mpc.input(secint.array(data), senders=0)


async def _timed(job, old: bool):
    saved = sort_module.MASK_BITS
    sort_module.MASK_BITS = 29 if old else saved
    try:
        await mpc.barrier("start")
        t0 = time.perf_counter()
        out = await job(old)
        await mpc.gather(out)
        await mpc.barrier("done")
        return time.perf_counter() - t0
    finally:
        sort_module.MASK_BITS = saved


async def masking_case(kind: str, n: int, repeats: int, seed: int = 1):
    """This party's seconds per setting ({"k72": [...], "k29": [...]}), alternating the settings."""
    from securegenome.genomics import bwt as B

    rng = np.random.default_rng(seed)
    if kind == "sort":
        keys = rng.integers(0, 2**32, n)

        async def job(old):
            x = _input(keys, mpc.SecInt(32) if old else core.key_sectype(32))
            return await core.sort(x, x, 32)
    else:
        text = rng.integers(0, 4, n)

        async def job(old):
            stype = mpc.SecInt(B.plan(n).bit_length) if old else B.bwt_sectype(n)
            return (await B.secure_suffix_array_bwt(_input(text, stype))).bwt
    times = {"k72": [], "k29": []}
    for _ in range(repeats):
        for old in (False, True):
            times["k29" if old else "k72"].append(await _timed(job, old))
    return times


def main(argv=None):
    ints = lambda s: [int(v) for v in s.split(",") if v]  # noqa: E731
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sort-sizes", type=ints, default=[4096, 16_384])
    ap.add_argument("--bwt-sizes", type=ints, default=[1000, 4000])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    protocol = importlib.import_module("masking").masking_case
    cases, series = [], {}
    for kind, sizes in (("sort", args.sort_sizes), ("bwt", args.bwt_sizes)):
        for n in sizes:
            load = os.getloadavg()[0]
            results = core.run(protocol, parties=3, timeout=7200, kwargs={"kind": kind, "n": n,
                                                                          "repeats": args.repeats})
            slowest = {s: [max(r.value[s][i] for r in results) for i in range(args.repeats)]
                       for s in ("k72", "k29")}
            case = {"kind": kind, "n": n, "parties": 3, "repeats": args.repeats,
                    "k72_median_s": statistics.median(slowest["k72"]),
                    "k29_median_s": statistics.median(slowest["k29"]),
                    "k72_times_s": slowest["k72"], "k29_times_s": slowest["k29"],
                    "load_average_1min": [load, os.getloadavg()[0]], **party_stats(results)}
            case["ratio"] = case["k72_median_s"] / case["k29_median_s"]
            cases.append(case)
            for s in ("k72", "k29"):
                xs, ys = series.setdefault(f"{kind}, k = {s[1:]}", ([], []))
                xs.append(n)
                ys.append(case[f"{s}_median_s"])
            print(f"{kind:4} n={n:>6}  k=72 {case['k72_median_s']:.2f} s  k=29 {case['k29_median_s']:.2f} s  "
                  f"ratio {case['ratio']:.2f}  load {load:.1f}", flush=True)
    print(write("masking", cases))
    print(plot("masking", series, xlabel="n (keys / bases)"))


if __name__ == "__main__":
    main()
