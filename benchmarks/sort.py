"""Secure shuffle and radix sort versus MPyC's Batcher sort (`mpc.np_sort`), 3 parties, same run.

Cases (each one run of m parties on this machine; times measured inside the protocol, slowest party):
- shuffle: n rows of one SecInt(32) column by `core.shuffle` (resharing shuffle, 3 passes);
- sort: n random 32-bit keys (`core.key_sectype(32)`, room for the 72-bit masks; input by party 0) sorted by
  `core.sort(keys, keys, 32)`
  (key bits by masked opening, 31 radix rounds with shuffle-and-open, final scatter);
- baseline: `mpc.np_sort` of the same keys (SecInt(32)) in the same run, for the sizes in --baseline-sizes;
- key bits: the sort's bit decomposition (`core.sort.key_bits`, masked opening + int64 borrow circuit)
  versus `mpc.np_to_bits` of the same keys in the same run, for the sizes in --bits-sizes.
Every result is opened afterwards (outside the timing) and checked against numpy.

    python benchmarks/sort.py                          # the issue's cases (np_sort of 4,096 takes minutes)
    python benchmarks/sort.py --shuffle-sizes 1000 --sort-sizes 1024 --baseline-sizes 1024 --repeats 1
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


def _bytes_sent() -> int:
    return sum(p.protocol.nbytes_sent for p in mpc.parties if p.pid != mpc.pid and p.protocol is not None)


def _keys(n: int, seed: int, secint=None):
    """Party 0's n random 32-bit keys; by default in the type the sort needs (room for its 72-bit masks)."""
    secint = secint or core.key_sectype(32)
    keys = np.random.default_rng(seed).integers(0, 2**32, n) if mpc.pid == 0 else np.zeros(n, dtype=np.int64)
    return mpc.input(secint.array(keys.astype(object)), senders=0)


async def timed(kind: str, n: int, repeats: int, baseline: bool, seed: int = 1):
    """This party's [(seconds, bytes)] for ``repeats`` runs of ``kind`` on n elements, then np_sort once
    if ``baseline``; plus whether every result was correct (checked on party 0 after the timing)."""
    x = _keys(n, seed)
    x32 = _keys(n, seed, mpc.SecInt(32)) if baseline else None  # np_sort compares 32-bit keys
    await mpc.barrier("input")
    expected = np.sort(np.random.default_rng(seed).integers(0, 2**32, n))
    phases, correct = {"fast": [], "np_sort": []}, True
    for phase in ["fast"] * repeats + (["np_sort"] if baseline else []):
        b0, t0 = _bytes_sent(), time.perf_counter()
        if phase == "np_sort":
            y = mpc.np_sort(x32)
        elif kind == "shuffle":
            y = await core.shuffle(x)
        else:
            y = await core.sort(x, x, 32)
        await mpc.gather(y)
        await mpc.barrier(phase)
        phases[phase].append((time.perf_counter() - t0, _bytes_sent() - b0))
        out = await core.open(y, to=0, what="benchmark.check", why="benchmark: verify the result")
        if mpc.pid == 0:
            out = np.sort(out) if kind == "shuffle" and phase == "fast" else np.asarray(out)
            correct &= bool(np.array_equal(np.asarray(out, dtype=np.int64), expected))
    return {"phases": phases, "correct": correct}


async def bits_timed(n: int, repeats: int, seed: int = 1):
    """This party's [(seconds, bytes)] for ``repeats`` runs of key_bits and one of mpc.np_to_bits."""
    sort_module = importlib.import_module("securegenome.core.sort")  # core.sort is the function
    from securegenome.core.shuffle import KeyRing

    x, x32 = _keys(n, seed), _keys(n, seed, mpc.SecInt(32))  # np_to_bits of 32-bit keys in SecInt(32)
    await mpc.barrier("input")
    expected = (np.random.default_rng(seed).integers(0, 2**32, n)[:, None] >> np.arange(32)) & 1
    phases, correct = {"fast": [], "np_sort": []}, True
    for phase in ["fast"] * repeats + ["np_sort"]:
        b0, t0 = _bytes_sent(), time.perf_counter()
        if phase == "fast":
            bits = sort_module.secure_array(sort_module.SMALL, sort_module.FIELD,
                                            await sort_module.key_bits(x, 32, KeyRing()))
        else:
            bits = mpc.np_to_bits(x32, l=32)
        await mpc.gather(bits)
        phases[phase].append((time.perf_counter() - t0, _bytes_sent() - b0))
        out = await core.open(bits, to=0, what="benchmark.check", why="benchmark: verify the result")
        if mpc.pid == 0:
            out = np.asarray(getattr(out, "value", out), dtype=np.int64)
            correct &= bool(np.array_equal(out, expected))
    return {"phases": phases, "correct": correct}


def _run(protocol, parties, **kwargs):
    results = core.run(protocol, parties=parties, timeout=7200, kwargs=kwargs)
    slowest = {phase: [max(r.value["phases"][phase][i][0] for r in results)
                       for i in range(len(results[0].value["phases"][phase]))]
               for phase in ("fast", "np_sort")}
    bytes0 = {phase: [b for _, b in results[0].value["phases"][phase]] for phase in ("fast", "np_sort")}
    return results, slowest, bytes0


def main(argv=None):
    ints = lambda s: [int(v) for v in s.split(",") if v]  # noqa: E731
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shuffle-sizes", type=ints, default=[1000, 10_000, 100_000])
    ap.add_argument("--sort-sizes", type=ints, default=[1024, 4096, 16_384, 100_000])
    ap.add_argument("--baseline-sizes", type=ints, default=[4096], help="sizes also sorted by mpc.np_sort")
    ap.add_argument("--bits-sizes", type=ints, default=[4096], help="sizes for key bits vs mpc.np_to_bits")
    ap.add_argument("--parties", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    # party processes unpickle the protocol by module name: "sort" (this file, benchmarks/ is on their path)
    protocol = importlib.import_module("sort").timed
    cases = []
    for n in args.bits_sizes:
        load_before = os.getloadavg()[0]
        results, slowest, bytes0 = _run(importlib.import_module("sort").bits_timed, args.parties, n=n,
                                        repeats=args.repeats)
        case = {"kind": "key_bits", "n": n, "parties": args.parties, "key_bits": 32,
                "median_s": statistics.median(slowest["fast"]), "times_s": slowest["fast"],
                "bytes_party0": bytes0["fast"], "np_to_bits_s": slowest["np_sort"][0],
                "np_to_bits_bytes_party0": bytes0["np_sort"][0], "correct": results[0].value["correct"],
                "load_average_1min": [load_before, os.getloadavg()[0]], **party_stats(results)}
        case["ratio"] = case["np_to_bits_s"] / case["median_s"]
        cases.append(case)
        print(f"key_bits n={n:>7}  median {case['median_s']:.3f} s  np_to_bits {case['np_to_bits_s']:.2f} s  "
              f"ratio {case['ratio']:.0f}x  correct {case['correct']}  load {load_before:.1f}", flush=True)
    for kind, sizes in (("shuffle", args.shuffle_sizes), ("sort", args.sort_sizes)):
        for n in sizes:
            baseline = kind == "sort" and n in args.baseline_sizes
            load_before = os.getloadavg()[0]
            results, slowest, bytes0 = _run(protocol, args.parties, kind=kind, n=n, repeats=args.repeats,
                                            baseline=baseline)
            case = {"kind": kind, "n": n, "parties": args.parties, "key_bits": 32,
                    "median_s": statistics.median(slowest["fast"]), "times_s": slowest["fast"],
                    "bytes_party0": bytes0["fast"], "correct": results[0].value["correct"],
                    "load_average_1min": [load_before, os.getloadavg()[0]], **party_stats(results)}
            runs = ", ".join(f"{t:.2f}" for t in slowest["fast"])
            line = f"{kind:7} n={n:>7}  median {case['median_s']:.3f} s  (runs {runs})"
            if baseline:
                case.update(np_sort_s=slowest["np_sort"][0], np_sort_bytes_party0=bytes0["np_sort"][0],
                            ratio=slowest["np_sort"][0] / case["median_s"])
                line += f"  np_sort {case['np_sort_s']:.1f} s  ratio {case['ratio']:.0f}x"
            cases.append(case)
            print(line + f"  correct {case['correct']}  load {load_before:.1f}", flush=True)

    print(write("sort", cases, repeats=args.repeats,
                note="times measured inside the protocol, slowest party; machine shared with other jobs"))
    series = {}
    for kind in ("shuffle", "sort"):
        points = [(c["n"], c["median_s"]) for c in cases if c["kind"] == kind]
        if points:
            series[f"core.{kind}" + (" (32-bit keys)" if kind == "sort" else " (1 column)")] = \
                ([n for n, _ in points], [t for _, t in points])
    base = [(c["n"], c["np_sort_s"]) for c in cases if "np_sort_s" in c]
    if base:
        series["mpc.np_sort (Batcher, baseline)"] = ([n for n, _ in base], [t for _, t in base])
    if series:
        print(plot("sort", series, xlabel="n (rows / keys)"))


if __name__ == "__main__":
    main()
