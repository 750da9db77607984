"""Secure k-mismatch search (issue 5): time vs number of reads, vs k, vs reference length, with baselines.

Cases, all with 3 parties on this machine, 100 bp reads, both strands:
  reads      lambda genome x 10 / 100 / 1,000 simulated reads, k = 2   (plot: time vs reads)
  k          lambda x 100 reads, k = 0..3
  reference  random references of 10^4 / 10^5 / 10^6 bases x 10 reads, k = 2   (plot: time vs length)
Baselines in the same run:
  naive      MPyC-only scan (secure integer arrays, mpc.np_matmul, mpc.np_less per window, open to the
             querier) for 5 reads on a 2,000 bp lambda prefix, compared with our protocol on the same
             input, and extrapolated linearly to the whole genome (vs ours measured on it): the speed-up
  oracle     the plaintext scan on every case: the cost of privacy as a ratio

    python benchmarks/search.py                 # everything (the 1,000-read case runs once)
    python benchmarks/search.py --quick         # skips 1,000 reads and 10^6 bases
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import measure, party_stats, plot, write  # noqa: E402

from securegenome import core  # noqa: E402
from securegenome.core import mpc  # noqa: E402
from securegenome.genomics import read_sequences, reverse_complement  # noqa: E402
from securegenome.genomics.oracle import kmismatch_hits  # noqa: E402
from securegenome.genomics.search import secure_search  # noqa: E402

LAMBDA = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "data", "lambda_phage.fa")


def simulate(reference, n, length, seed, max_errors=2):
    rng = np.random.default_rng(seed)
    reads = []
    for _ in range(n):
        start = int(rng.integers(0, reference.size - length + 1))
        read = reference[start:start + length].copy()
        for i in rng.choice(length, int(rng.integers(0, max_errors + 1)), replace=False):
            read[i] = (read[i] + 1 + rng.integers(3)) % 4
        reads.append(reverse_complement(read) if rng.random() < 0.5 else read)
    return reads


def secure_case(reference, reads, k, repeats):
    """Median wall time of the secure search with 3 parties; checks the hits against the oracle."""
    holder = {}

    def once():
        holder["results"] = core.run(secure_search, parties=3, kwargs={"k": k},
                                     private={0: {"reference": [reference]}, 1: {"reads": reads}})
    timing = measure(once, repeats)
    results = holder["results"]
    kmismatch_hits([reference[:200]], [reads[0][:50]], 1)  # compile the oracle's kernels before timing it
    oracle = measure(lambda: kmismatch_hits([reference], reads, k), 3)
    expected, oracle_s = oracle["value"], oracle["median_s"]
    hits = results[1].value.hits
    assert hits == expected, "secure search and oracle disagree"
    return {"reads": len(reads), "reference_bp": int(reference.size), "k": k, "repeats": repeats,
            "median_s": timing["median_s"], "times_s": timing["times_s"], "per_read_s": timing["median_s"] / len(reads),
            "hits": len(hits), "oracle_s": oracle_s, "privacy_cost_ratio": timing["median_s"] / oracle_s,
            **results[1].value.stats, **party_stats(results)}


async def naive_scan(k, reference=None, reads=None, n_reads=0, length=0, reference_length=0):
    """The MPyC-only baseline: one-hot secure integers, a secure matrix product, np_less per window."""
    secint = mpc.SecInt(16)
    windows = reference_length - length + 1
    eye = np.eye(5, 4, dtype=np.int64)
    if reference is not None:
        r = eye[reference]
        w = np.lib.stride_tricks.sliding_window_view(r, (length, 4))[:, 0].reshape(windows, 4 * length)
    else:
        w = np.zeros((windows, 4 * length), dtype=np.int64)
    if reads is not None:
        q = np.stack([eye[s].reshape(-1) for read in reads for s in (read, reverse_complement(read))]).T
    else:
        q = np.zeros((4 * length, 2 * n_reads), dtype=np.int64)
    w = mpc.input(secint.array(w), senders=0)
    q = mpc.input(secint.array(q), senders=1)
    matches = mpc.np_matmul(w, q)
    hit = mpc.np_less(length - matches, k + 1)  # one secure comparison per window and read strand
    opened = await core.open(hit, to=1, what="naive.hit_bits", why="baseline: hit bits for the querier")
    return None if opened is None else int(np.asarray(opened).sum())


def naive_case(genome, prefix_bp, n_reads, k):
    """Naive vs ours on a genome prefix (same input), and extrapolated to the whole genome (the naive scan
    is linear in the number of windows; ours is measured on the whole genome with the same reads)."""
    reference = genome[:prefix_bp]
    reads = simulate(reference, n_reads, 100, seed=n_reads)
    n, m = len(reads), reads[0].size
    kwargs = {"k": k, "n_reads": n, "length": m, "reference_length": int(reference.size)}
    import search as importable  # party processes unpickle the protocol by module name, never __main__
    timing = measure(lambda: core.run(importable.naive_scan, parties=3, kwargs=kwargs,
                                      private={0: {"reference": reference}, 1: {"reads": reads}}), 1)
    ours = secure_case(reference, reads, k, 3)
    found = timing["value"][1].value
    assert found == ours["hits"], (found, ours["hits"])
    whole = secure_case(genome, reads, k, 1)
    naive_whole = timing["median_s"] * (genome.size - m + 1) / (reference.size - m + 1)
    return {"reads": n, "reference_bp": int(reference.size), "k": k, "windows": int(reference.size) - m + 1,
            "naive_s": timing["median_s"], "ours_s": ours["median_s"], "speedup": timing["median_s"] / ours["median_s"],
            "naive_bytes_sent": party_stats(timing["value"])["bytes_sent"],
            "genome_bp": int(genome.size), "naive_genome_extrapolated_s": naive_whole,
            "ours_genome_s": whole["median_s"], "speedup_genome": naive_whole / whole["median_s"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="skip the 1,000-read and 10^6-base cases")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the small cases (median)")
    parser.add_argument("--cases", default="reads,k,reference,naive", help="comma-separated subset to run")
    args = parser.parse_args()
    chosen = set(args.cases.split(","))
    os.environ.setdefault("SECUREGENOME_QUIET", "1")
    genome = read_sequences(LAMBDA)[0].codes
    cases = {"reads": [], "k": [], "reference": [], "naive": []}

    def save():  # after every case, so that a long run that fails later keeps what it measured
        return write("search", [dict(case=name, **c) for name, rows in cases.items() for c in rows], parties=3)

    for n in ([10, 100] + ([] if args.quick else [1000])) if "reads" in chosen else []:
        reads = simulate(genome, n, 100, seed=n)
        cases["reads"].append(secure_case(genome, reads, 2, args.repeats if n <= 10 else 1))
        print("reads", cases["reads"][-1]["reads"], round(cases["reads"][-1]["median_s"], 1), "s", flush=True)
        save()
    reads100 = simulate(genome, 100, 100, seed=100)
    for k in range(4) if "k" in chosen else []:
        cases["k"].append(secure_case(genome, reads100, k, 1))
        print("k", k, round(cases["k"][-1]["median_s"], 1), "s", flush=True)
        save()
    rng = np.random.default_rng(0)
    for length in ([10**4, 10**5] + ([] if args.quick else [10**6])) if "reference" in chosen else []:
        reference = rng.integers(0, 4, length).astype(np.uint8)
        reads = simulate(reference, 10, 100, seed=length)
        cases["reference"].append(secure_case(reference, reads, 2, args.repeats if length <= 10**5 else 1))
        print("reference", length, round(cases["reference"][-1]["median_s"], 1), "s", flush=True)
        save()
    if "naive" in chosen:
        cases["naive"].append(naive_case(genome, 2000, 5, 2))
        print("naive", cases["naive"][-1], flush=True)
    path = save()
    plot("search_reads", {"secure (3 parties)": ([c["reads"] for c in cases["reads"]],
                                                 [c["median_s"] for c in cases["reads"]]),
                          "plaintext oracle": ([c["reads"] for c in cases["reads"]],
                                               [c["oracle_s"] for c in cases["reads"]])},
         xlabel="reads (100 bp, lambda, k = 2, both strands)")
    plot("search_reference", {"secure (3 parties)": ([c["reference_bp"] for c in cases["reference"]],
                                                     [c["median_s"] for c in cases["reference"]]),
                              "plaintext oracle": ([c["reference_bp"] for c in cases["reference"]],
                                                   [c["oracle_s"] for c in cases["reference"]])},
         xlabel="reference length (bp; 10 reads, k = 2, both strands)")
    print(path)


if __name__ == "__main__":
    main()
