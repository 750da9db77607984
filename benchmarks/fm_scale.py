"""fm engine at bacterial-genome scale (issue 14): wall time, peak RSS per party, the plan's prediction,
and ``bowtie -v k -a`` on the same input in the same run.

Reference: a slice of E. coli 536 (NC_008253, 4.9 Mbp, from the Debian/Ubuntu package ``bowtie-examples``:
``/usr/share/doc/bowtie/examples/genomes/NC_008253.fna.gz``); reads: ``securegenome simulate-reads`` (100 bp,
0..2 substitutions for k = 2, exact for k = 0, seed 1, both strands).  Every case runs 3 local parties
through ``search.secure_search`` with ``--engine fm`` and a memory budget per party (``--memory``), one run
per case (they are minutes long); hits must equal bowtie's (``ok``).  Per case: the plan (step h, chunks,
predicted peak and seconds) next to the measured wall time and each party's peak RSS, and ``uptime``'s load.

    python benchmarks/fm_scale.py --sizes 200000 --reads 1000 --ks 0,2         # a few minutes
    python benchmarks/fm_scale.py --sizes 1000000 --reads 1000,10000 --ks 0,2 --memory 1.9
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import party_stats, plot, write  # noqa: E402

from securegenome import core  # noqa: E402
from securegenome.core.memory import GIB  # noqa: E402
from securegenome.genomics import fmsearch, read_sequences  # noqa: E402
from securegenome.genomics.search import secure_search  # noqa: E402

NAME = "fm_scale"
GENOME = "/usr/share/doc/bowtie/examples/genomes/NC_008253.fna.gz"
READ_LENGTH = 100


async def fm_with_budget(budget: int, **kwargs):
    """``secure_search`` with the fm engine planned for ``budget`` bytes per party (every party the same)."""
    from securegenome.core import memory

    memory.default_budget = lambda parties_here=1: budget  # what --memory GIB gives each party
    return await secure_search(**kwargs)


def slice_fasta(size: int, folder: str) -> str:
    with gzip.open(GENOME, "rt") as f:
        f.readline()
        sequence = "".join(line.strip() for line in f)[:size]
    path = os.path.join(folder, f"ecoli_{size}.fa")
    with open(path, "w") as out:
        out.write(f">NC_008253_1_{size}\n")
        for i in range(0, len(sequence), 70):
            out.write(sequence[i:i + 70] + "\n")
    return path


def simulate(reference: str, count: int, k: int, folder: str) -> str:
    path = os.path.join(folder, f"reads_{os.path.basename(reference)}_{count}_{k}.fq")
    subprocess.run([sys.executable, "-m", "securegenome", "simulate-reads", reference, "-n", str(count),
                    "--length", str(READ_LENGTH), "--mismatches", f"0..{k}", "--seed", "1", "-o", path], check=True)
    return path


def bowtie(reference: str, reads: str, k: int, folder: str) -> tuple[set, float]:
    """bowtie -v k -a hits as (read index, strand, 0-based position, mismatches) and its wall time (index
    build excluded)."""
    prefix = os.path.join(folder, os.path.basename(reference) + ".bt")
    if not os.path.exists(prefix + ".1.ebwt"):
        subprocess.run(["bowtie-build", "-q", reference, prefix], check=True, stdout=subprocess.DEVNULL)
    names = {r.name: i for i, r in enumerate(read_sequences(reads))}
    started = time.perf_counter()
    out = subprocess.run(["bowtie", "-v", str(k), "-a", "-q", prefix, reads], check=True, capture_output=True,
                         text=True).stdout
    seconds = time.perf_counter() - started
    hits = set()
    for line in out.splitlines():
        fields = line.split("\t")
        mismatches = len(fields[7].split(",")) if len(fields) > 7 and fields[7] else 0
        hits.add((names[fields[0]], fields[1], int(fields[3]), mismatches))
    return hits, seconds


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def case(reference: str, reads: str, n: int, count: int, k: int, budget: int, folder: str) -> dict:
    chosen = fmsearch.plan(n, [READ_LENGTH] * count, k, 2, budget=budget)
    before = load()
    started = time.perf_counter()
    import fm_scale as importable  # party processes import the protocol by module name, never __main__

    results = core.run(importable.fm_with_budget, parties=3, timeout=4 * 3600, peer_timeout=3600,
                       kwargs={"budget": budget, "k": k, "engine": "fm"},
                       private={0: {"reference_path": reference}, 1: {"reads_path": reads}})
    wall = time.perf_counter() - started
    outcome = results[1].value
    expected, bowtie_seconds = bowtie(reference, reads, k, folder)
    got = {(h.read, h.strand, h.pos, h.mismatches) for h in outcome.hits}
    return {"reference_bp": n, "reads": count, "k": k, "budget_gib": round(budget / GIB, 2),
            "plan": chosen.to_dict(), "wall_s": round(wall, 1),
            "peak_rss_gib": {str(r.pid): r.value.stats.get("peak_rss_gib") for r in results},
            "stats": {key: v for key, v in outcome.stats.items() if key != "memory_plan"},
            "hits": len(got), "bowtie_hits": len(expected), "overflow_reads": len(outcome.overflow or []),
            "ok": got == expected or (bool(outcome.overflow) and got <= expected),
            "bowtie_s": round(bowtie_seconds, 3), "load_before": before, "load_after": load(),
            **party_stats(results)}


def _fm_run(case: dict) -> tuple[dict | None, dict]:
    """(the fm plan's details, index and search seconds) of one unsharded fm case of this benchmark or of
    ``search_scale.py`` (whose ``--engine auto`` cases ran fm); (None, {}) for any other case."""
    if "stats" in case:  # fm_scale.py
        return case["plan"], case["stats"]
    if case.get("engine_ran") == "fm" and case.get("shards_ran") == 1 and case.get("search_seconds"):
        return case["memory_plan"], case
    return None, {}


def refit(paths: list[str]) -> dict:
    """COST_SECONDS rescaled to measured runs (this benchmark's, or search_scale.py's fm cases): one factor
    for the index build (index seconds against the ``build`` term) and one for the search (search seconds
    against the other terms), medians of the ratios -- few, long runs do not pin down every term separately."""
    import json
    import statistics

    build, search = [], []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for r in json.load(f)["cases"]:
                d, seconds = _fm_run(r)
                if d is None:
                    continue
                features = fmsearch.cost_features(r["reference_bp"], [READ_LENGTH] * r["reads"], r["k"], 2,
                                                  step=d["step"], chunk=d["chunk"], batch=d["batch"],
                                                  verify_chunk=d["verify_chunk"], digit_bits=d["digit_bits"])
                model = {name: fmsearch.COST_SECONDS[name] * value for name, value in features.items()}
                build.append(seconds["index_seconds"] / model["build"])
                search.append(seconds["search_seconds"] / (sum(model.values()) - model["build"]))
    b, s = statistics.median(build), statistics.median(search)
    return {name: float(f"{value * (b if name == 'build' else s):.3g}")
            for name, value in fmsearch.COST_SECONDS.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000", help="reference sizes in bp (comma-separated)")
    parser.add_argument("--reads", default="1000,10000", help="numbers of reads (comma-separated)")
    parser.add_argument("--ks", default="0,2", help="values of k (comma-separated)")
    parser.add_argument("--memory", type=float, default=1.9, help="budget per party in GiB (default 1.9)")
    parser.add_argument("--name", default=NAME, help="results/<name>.json")
    parser.add_argument("--refit", nargs="+", metavar="JSON", help="print COST_SECONDS refitted to these results")
    args = parser.parse_args()
    if args.refit:
        print(refit(args.refit))
        return
    if shutil.which("bowtie") is None:
        sys.exit("bowtie is not installed: apt-get install -y bowtie bowtie-examples")
    budget = int(args.memory * GIB)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size in map(int, args.sizes.split(",")):
            reference = slice_fasta(size, folder)
            for count in map(int, args.reads.split(",")):
                for k in map(int, args.ks.split(",")):
                    reads = simulate(reference, count, k, folder)
                    rows.append(case(reference, reads, size, count, k, budget, folder))
                    print(rows[-1], flush=True)
                    write(args.name, rows, memory_gib=args.memory)
    series = {}
    for r in rows:
        series.setdefault(f"fm k={r['k']} B={r['reads']}", ([], []))
        series[f"fm k={r['k']} B={r['reads']}"][0].append(r["reference_bp"])
        series[f"fm k={r['k']} B={r['reads']}"][1].append(r["wall_s"])
    if len({r["reference_bp"] for r in rows}) > 1:
        plot(args.name, series, "reference (bp)")


if __name__ == "__main__":
    main()
