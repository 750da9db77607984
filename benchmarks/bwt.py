"""Secure suffix array + BWT (issues 4 and 14): wall time, CPU and peak memory per party, 3 parties.

Cases: random DNA of n = 10^3, 10^4, 10^5, the lambda phage genome (48,502 bp) and real bacterial
sequence: the first n bases of E. coli (NC_008253, from Debian's ``bowtie-examples`` package; case names
``ecoli:N``, e.g. ``ecoli:1000000``), each with the fixed number of rounds (default) and ``--early-exit``.
Baseline in the same run (``--baseline-cases``): the protocol as it was before issue 14
(``bwt_v1.py``, a frozen copy: ranks and zero tests in MPyC's secure-integer field) on the same text.

Timed: the construction on shares (after the text is shared, before anything is opened), slowest party;
also each party's CPU seconds and peak RSS (``core.memory.peak_rss``) next to the memory plan's prediction
(``genomics.bwt.plan``).  SA and BWT are then opened to party 0 and checked against pydivsufsort's
plaintext suffix array.  Results are written after every case, so a long run leaves its finished cases.

    python benchmarks/bwt.py --cases 10000,100000 --baseline-cases 100000
    python benchmarks/bwt.py --cases ecoli:1000000 --modes default,early-exit --memory 4   # ~25+ min
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import os
import time

import numpy as np

from common import party_stats, plot, write
from securegenome import core
from securegenome.core import mpc
from securegenome.core.memory import GIB, peak_rss

B = importlib.import_module("securegenome.genomics.bwt")  # (the package exports the oracle's ``bwt``)

LAMBDA = "data/lambda_phage.fa"
ECOLI = "/usr/share/doc/bowtie/examples/genomes/NC_008253.fna.gz"  # apt-get install -y bowtie-examples


def _bytes_sent() -> int:
    return sum(p.protocol.nbytes_sent for p in mpc.parties if p.pid != mpc.pid and p.protocol is not None)


async def construct(n: int, text=None, early_exit: bool = False, version: str = "v2", budget: int = 4 * GIB):
    """Party 0 shares ``text``; every party times the construction; SA/BWT are opened to party 0."""
    plan = B.plan(n, early_exit=early_exit, budget=budget)
    stype = B.bwt_sectype(n)
    codes = mpc.input(stype.array(np.asarray(text) if mpc.pid == 0 else np.zeros(n, dtype=int)), senders=0)
    await mpc.barrier("shared")
    b0, t0, c0 = _bytes_sent(), time.perf_counter(), time.process_time()
    if version == "v1":
        result = await importlib.import_module("bwt_v1").secure_suffix_array_bwt(codes, early_exit=early_exit)
    else:
        result = await B.secure_suffix_array_bwt(codes, early_exit=early_exit, chunk=plan.details["chunk"])
    await mpc.barrier("built")
    seconds, cpu, sent = time.perf_counter() - t0, time.process_time() - c0, _bytes_sent() - b0
    peak = peak_rss()
    sa = await core.open(result.sa, to=0, what="bwt.suffix_array", why="benchmark check")
    bwt = await core.open(result.bwt, to=0, what="bwt.bwt", why="benchmark check")
    ok = None
    if mpc.pid == 0:
        want_sa = divsufsort_sa(text)
        want_bwt = np.r_[text, B.SENTINEL][want_sa - 1]
        ok = bool(np.array_equal(B.as_ints(sa), want_sa) and np.array_equal(B.as_ints(bwt), want_bwt))
    return {"seconds": seconds, "cpu_seconds": cpu, "bytes": sent, "rounds": result.rounds, "correct": ok,
            "peak_rss": peak, "plan": plan.to_dict()}


def divsufsort_sa(codes) -> np.ndarray:
    """The plaintext oracle: SA of T$ from pydivsufsort (``$`` first)."""
    from pydivsufsort import divsufsort

    return np.r_[len(codes), divsufsort(np.asarray(codes, dtype=np.uint8))].astype(np.int64)


def ecoli(n: int) -> np.ndarray:
    """The first n bases of E. coli NC_008253 as codes 0..3 (it has no N)."""
    with gzip.open(ECOLI, "rt") as f:
        seq = "".join(line.strip() for line in f if not line.startswith(">"))
    if n > len(seq):
        raise SystemExit(f"E. coli has {len(seq)} bases, fewer than {n}")
    codes = np.frombuffer(seq[:n].upper().encode(), dtype=np.uint8)
    lut = np.full(256, -1, dtype=np.int64)
    lut[np.frombuffer(b"ACGT", dtype=np.uint8)] = np.arange(4)
    out = lut[codes]
    if (out < 0).any():
        raise SystemExit("E. coli slice has non-ACGT bases")
    return out


def text_of(name: str) -> np.ndarray:
    if name == "lambda":
        from securegenome.genomics.io import read_sequences
        [record] = read_sequences(LAMBDA, iupac="reject")
        return record.codes.astype(np.int64)
    if name.startswith("ecoli:"):
        return ecoli(int(name.split(":")[1]))
    return np.random.default_rng(4).integers(0, 4, int(name))


def run_case(protocol, name, text, mode, version, args) -> dict:
    runs = []
    for _ in range(args.repeats):
        load = os.getloadavg()[0]
        start = time.perf_counter()
        results = core.run(protocol, parties=args.parties, timeout=6 * 3600,
                           kwargs={"n": len(text), "early_exit": mode == "early-exit", "version": version,
                                   "budget": int(args.memory * GIB)}, private={0: {"text": text}})
        runs.append((time.perf_counter() - start, results, load, os.getloadavg()[0]))
    seconds = sorted(max(r.value["seconds"] for r in res) for _, res, _, _ in runs)
    last = runs[-1][1]
    v = last[0].value
    s = B.schedule(len(text))
    return {"case": name, "n": len(text), "mode": mode, "version": version, "parties": args.parties,
            "median_s": float(np.median(seconds)), "times_s": seconds,
            "cpu_s": {str(r.pid): round(r.value["cpu_seconds"], 1) for r in last},
            "peak_rss_gib": {str(r.pid): round(r.value["peak_rss"] / GIB, 3) for r in last},
            "plan": v["plan"] if version == "v2" else None,
            "load_1min_before_after": [[round(a, 1), round(b, 1)] for _, _, a, b in runs],
            "rounds": v["rounds"], "max_rounds": s.rounds, "kmer": s.kmer, "correct": v["correct"],
            "bytes_construction": {str(r.pid): r.value["bytes"] for r in last},
            "run_wall_s": [w for w, _, _, _ in runs], **party_stats(last)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="10000,1000,lambda,100000",
                    help="comma-separated, in this order: random n, 'lambda' or 'ecoli:N' (first N bases)")
    ap.add_argument("--modes", default="default,early-exit", help="default,early-exit ('' : baseline only)")
    ap.add_argument("--baseline-cases", default="100000",
                    help="cases also run with the pre-issue-14 protocol (bwt_v1.py), default mode ('' to skip)")
    ap.add_argument("--memory", type=float, default=4.0, help="memory budget per party, GiB (the plan fits it)")
    ap.add_argument("--parties", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=1, help="runs per case (median reported)")
    ap.add_argument("--name", default="bwt")
    args = ap.parse_args(argv)

    # party processes unpickle the protocol by module name: "bwt" (this file; benchmarks/ is on their path)
    protocol = importlib.import_module("bwt").construct
    baseline = [c for c in args.baseline_cases.split(",") if c]
    todo = []
    for name in args.cases.split(","):
        if name in baseline:
            todo.append((name, "default", "v1"))
        todo += [(name, mode, "v2") for mode in args.modes.split(",") if mode]
    cases = []
    note = ("construction time on shares, slowest party; machine shared with other jobs while measuring "
            "(1-minute load average before/after each run in load_1min_before_after)")
    for name, mode, version in todo:
        case = run_case(protocol, name, text_of(name), mode, version, args)
        cases.append(case)
        predicted = case["plan"] and case["plan"]["predicted_peak_gib"]
        print(f"{name:>14} {mode:10s} {version} n={case['n']:>8} rounds {case['rounds']:>2}/{case['max_rounds']:<2} "
              f"{case['median_s']:9.1f} s  CPU {max(case['cpu_s'].values()):8.1f} s  peak "
              f"{max(case['peak_rss_gib'].values()):.2f} GiB (plan {predicted})"
              f"  load {case['load_1min_before_after']}  correct={case['correct']}", flush=True)
        _ratios(cases)
        write(args.name, cases, repeats=args.repeats, note=note)
    series = {}
    for mode in ("default", "early-exit"):
        for version in ("v2", "v1"):
            points = sorted((c["n"], c["median_s"]) for c in cases if c["mode"] == mode and c["version"] == version)
            if points:
                series[f"{mode} ({'before issue 14' if version == 'v1' else 'now'})"] = \
                    ([x for x, _ in points], [y for _, y in points])
    print(plot(args.name, series, xlabel="text length n (bases)"))


def _ratios(cases):
    """Old / new wall and CPU ratios for the cases that ran both."""
    old = {c["case"]: c for c in cases if c["version"] == "v1"}
    for c in cases:
        if c["version"] == "v2" and c["mode"] == "default" and c["case"] in old:
            o = old[c["case"]]
            c["v1_over_v2_wall"] = round(o["median_s"] / c["median_s"], 2)
            c["v1_over_v2_cpu"] = round(max(o["cpu_s"].values()) / max(c["cpu_s"].values()), 2)
            c["v1_over_v2_peak_rss"] = round(max(o["peak_rss_gib"].values()) / max(c["peak_rss_gib"].values()), 2)


if __name__ == "__main__":
    main()
