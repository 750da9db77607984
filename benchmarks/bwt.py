"""Secure suffix array + BWT (issue 4): wall time vs n with 3 parties, default and --early-exit.

Cases: random DNA of n = 10^3, 10^4, 10^5 and the lambda phage genome (48,502 bp), each with the fixed
number of rounds (default) and with --early-exit.  Baseline, in the same run: the same prefix doubling
with the core's radix sort replaced by MPyC's Batcher sort (``mpc.np_sort``, keys made unique by the
row index for stability) at n = 1,000.  Timed: the construction on shares (after the text is shared,
before anything is opened), slowest party; SA and BWT are then opened to party 0 and checked against
the plaintext twin.  Results are written after every case, so a long run leaves its finished cases.

    python benchmarks/bwt.py                      # everything (long: 10^5 takes many minutes)
    python benchmarks/bwt.py --cases 1000,10000   # a subset; names: 1000, 10000, lambda, 100000
"""

from __future__ import annotations

import argparse
import importlib
import os
import time

import numpy as np

from common import party_stats, plot, write
from securegenome import core
from securegenome.core import mpc

B = importlib.import_module("securegenome.genomics.bwt")  # (the package exports the oracle's ``bwt``)

LAMBDA = "data/lambda_phage.fa"


def _bytes_sent() -> int:
    return sum(p.protocol.nbytes_sent for p in mpc.parties if p.pid != mpc.pid and p.protocol is not None)


async def batcher_destinations(keys, bit_length):
    """Baseline sort: Batcher's network (mpc.np_sort) on the unique keys key*n + row index, which gives
    the stable order sigma; the destinations are its inverse (one scatter)."""
    n = keys.shape[0]
    iota = keys.sectype.array(np.arange(n))
    table = mpc.np_column_stack((keys * n + np.arange(n), iota))
    order = mpc.np_sort(table, axis=0, key=lambda columns: columns[0])[:, 1]
    [destinations] = await B._scatter(order, iota)
    return destinations


async def construct(n: int, text=None, early_exit: bool = False, baseline: bool = False):
    """Party 0 shares ``text``; every party times the construction; SA/BWT are opened to party 0."""
    p = B.plan(n)
    # the baseline's unique sort keys need rank_bits more bits than the core's radix sort
    stype = core.key_sectype(p.bit_length + (p.rank_bits if baseline else 0))  # room for the masks (15.6)
    codes = mpc.input(stype.array(np.asarray(text) if mpc.pid == 0 else np.zeros(n, dtype=int)), senders=0)
    await mpc.barrier("shared")
    b0, t0, c0 = _bytes_sent(), time.perf_counter(), time.process_time()
    result = await B.secure_suffix_array_bwt(codes, early_exit=early_exit,
                                             sort_destinations=batcher_destinations if baseline else None)
    await mpc.barrier("built")
    seconds, cpu, sent = time.perf_counter() - t0, time.process_time() - c0, _bytes_sent() - b0
    sa = await core.open(result.sa, to=0, what="bwt.suffix_array", why="benchmark check")
    bwt = await core.open(result.bwt, to=0, what="bwt.bwt", why="benchmark check")
    ok = None
    if mpc.pid == 0:
        want = B.suffix_array_bwt(text, early_exit=early_exit)
        ok = bool(np.array_equal(B.as_ints(sa), want.sa) and np.array_equal(B.as_ints(bwt), want.bwt))
    return {"seconds": seconds, "cpu_seconds": cpu, "bytes": sent, "rounds": result.rounds, "correct": ok}


def texts(names):
    rng = np.random.default_rng(4)
    for name in names:
        if name == "lambda":
            from securegenome.genomics.io import read_sequences
            [record] = read_sequences(LAMBDA, iupac="reject")
            yield name, record.codes.astype(np.int64)
        else:
            yield name, rng.integers(0, 4, int(name))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="10000,1000,lambda,100000",
                    help="comma-separated, run in this order: 10000,1000,lambda,100000 (random n or 'lambda')")
    ap.add_argument("--modes", default="default,early-exit", help="default,early-exit")
    ap.add_argument("--baseline-n", type=int, default=1000, help="n of the mpc.np_sort baseline (0: skip)")
    ap.add_argument("--parties", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=1, help="runs per case (median reported)")
    ap.add_argument("--name", default="bwt")
    args = ap.parse_args(argv)

    # party processes unpickle the protocol by module name: "bwt" (this file; benchmarks/ is on their path)
    protocol = importlib.import_module("bwt").construct
    plan_cases = []  # in the order given; the baseline right after the cases of its n
    for name in args.cases.split(","):
        plan_cases += [(name, mode) for mode in args.modes.split(",")]
        if name == str(args.baseline_n):
            plan_cases.append((name, "baseline np_sort"))
    if args.baseline_n and str(args.baseline_n) not in args.cases.split(","):
        plan_cases.append((str(args.baseline_n), "baseline np_sort"))
    by_name = dict(texts({name for name, _ in plan_cases}))
    cases = []
    for name, mode in plan_cases:
        text = by_name[name]
        runs = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            results = core.run(protocol, parties=args.parties, timeout=4 * 3600,
                               kwargs={"n": len(text), "early_exit": mode == "early-exit",
                                       "baseline": mode.startswith("baseline")}, private={0: {"text": text}})
            runs.append((time.perf_counter() - start, results))
        seconds = sorted(max(r.value["seconds"] for r in res) for _, res in runs)
        last = runs[-1][1]
        cpu = {str(r.pid): round(r.value["cpu_seconds"], 2) for r in last}
        case = {"case": name, "n": len(text), "mode": mode, "parties": args.parties,
                "median_s": float(np.median(seconds)), "times_s": seconds, "cpu_s": cpu,
                # the parties compute in turn: on an idle machine with C cores the run needs at least
                # the slowest party's CPU time and the total CPU time over C cores
                "idle_estimate_s": max(max(cpu.values()), sum(cpu.values()) / (os.cpu_count() or 1)),
                "rounds": last[0].value["rounds"], "max_rounds": B.plan(len(text)).rounds,
                "kmer": B.plan(len(text)).kmer, "correct": last[0].value["correct"],
                "bytes_construction": {str(r.pid): r.value["bytes"] for r in last},
                "run_wall_s": [w for w, _ in runs], **party_stats(last)}
        cases.append(case)
        print(f"{name:>7} {mode:17s} n={len(text):>6} rounds {case['rounds']:>2}/{case['max_rounds']:<2} "
              f"{case['median_s']:9.2f} s (CPU-bound estimate {case['idle_estimate_s']:7.2f} s)  party0 sent {case['bytes_construction']['0'] / 1e6:8.1f} MB  "
              f"correct={case['correct']}", flush=True)
        write(args.name, cases, repeats=args.repeats, note="construction time on shares, slowest party; "
              "machine shared with other jobs while measuring")
    _ratios(cases)
    write(args.name, cases, repeats=args.repeats, note="construction time on shares, slowest party; "
          "machine shared with other jobs while measuring")
    series = {}
    for mode in ("default", "early-exit", "baseline np_sort"):
        for what, key in (("wall", "median_s"), ("CPU-bound estimate", "idle_estimate_s")):
            points = sorted((c["n"], c[key]) for c in cases if c["mode"] == mode)
            if points:
                series[f"{mode} ({what})"] = ([x for x, _ in points], [y for _, y in points])
    print(plot(args.name, series, xlabel="text length n (bases)"))


def _ratios(cases):
    """Baseline / core ratio at the baseline's n, when both ran."""
    base = {c["n"]: c["median_s"] for c in cases if c["mode"].startswith("baseline")}
    for c in cases:
        if c["mode"] == "default" and c["n"] in base:
            c["baseline_ratio"] = base[c["n"]] / c["median_s"]
            print(f"n={c['n']}: np_sort baseline / core radix sort = {c['baseline_ratio']:.2f} (wall)")


if __name__ == "__main__":
    main()
