"""Search at bacterial-genome scale (issue 14): time, peak memory per party and bytes sent against reference size.

References: slices of a real genome, *E. coli* 536 (NC_008253, 4,938,920 bp) from Debian's
``bowtie-examples`` package: the first 10^5, 10^6 and 5*10^6 bp (the last is the whole genome, 4.94 Mbp).
Reads: 100 bp simulated by ``securegenome simulate-reads`` (0..2 substitutions, both strands), B = 1,000
and 10,000; k = 0 and 2; engines scan, fm and auto.  Each case runs the real command line
(``securegenome search ... --memory GIB --json``, 3 local parties) once -- these runs are minutes long, so
one run per case, said so in the results -- and in the same run ``bowtie -v k -a`` on the same files as
the plaintext floor; the secure hits must equal bowtie's (reference N's excluded, see tests/test_bowtie_oracle.py).
Cases whose predicted time (the planner's, from the public sizes) exceeds ``--max-predicted`` seconds are
listed as skipped, with the prediction.  A sharded case gives the per-shard cost behind the projection
to a 50 Mbp chromosome and the 3.1 Gbp human genome with W workers per organisation.

Set-up: installs bowtie and bowtie-examples with apt-get when missing (as root).  Writes
``results/search_scale.json`` and ``results/search_scale.png`` (time and peak memory vs reference size).

    python benchmarks/search_scale.py --sizes 100000 1000000 --reads 1000 --k 0 2 --memory 1.8
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import RESULTS, machine  # noqa: E402

GENOME = "/usr/share/doc/bowtie/examples/genomes/NC_008253.fna.gz"
HUMAN_CHROMOSOME, HUMAN_GENOME = 50_000_000, 3_100_000_000


def setup() -> None:
    """bowtie and its example genomes from the system's packages."""
    if shutil.which("bowtie") and os.path.exists(GENOME):
        return
    if os.geteuid() != 0:
        sys.exit("needs bowtie and bowtie-examples: apt-get install -y bowtie bowtie-examples (as root)")
    subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bowtie "
                   "bowtie-examples", shell=True, check=True, stdout=subprocess.DEVNULL)


def load() -> float:
    return os.getloadavg()[0]


def slice_reference(folder: str, size: int) -> tuple[str, int]:
    from securegenome.genomics import SequenceRecord, read_sequences, write_fasta

    path = os.path.join(folder, f"ecoli_{size}.fa")
    genome = read_sequences(GENOME)[0]
    codes = genome.codes[:size]
    if not os.path.exists(path):
        write_fasta(path, [SequenceRecord(genome.name.split()[0], codes, None, "")])
        subprocess.run(["bowtie-build", "-q", path, path + ".idx"], check=True, capture_output=True)
    return path, int(codes.size)


def simulate(folder: str, reference: str, size: int, reads: int) -> str:
    path = os.path.join(folder, f"reads_{size}_{reads}.fq")
    if not os.path.exists(path):
        subprocess.run([sys.executable, "-m", "securegenome", "simulate-reads", reference, "-n", str(reads),
                        "--length", "100", "--mismatches", "0..2", "--seed", "14", "-o", path], check=True)
    return path


def bowtie(reference: str, reads: str, k: int) -> tuple[set, float]:
    start = time.perf_counter()
    out = subprocess.run(["bowtie", "-v", str(k), "-a", "--quiet", "-p", "1", "-x", reference + ".idx", "-q", reads],
                         check=True, capture_output=True, text=True).stdout
    seconds = time.perf_counter() - start
    hits = set()
    for line in out.splitlines():
        name, strand, _, offset, *_, mismatches = line.split("\t")
        hits.add((name, strand, int(offset), len([m for m in mismatches.split(",") if m])))
    return hits, seconds


def tsv_hits(path: str) -> set:
    with open(path) as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    return {(r[0], r[1], int(r[3]), int(r[4])) for r in rows}


def predicted(size: int, reads: int, k: int, engine: str, memory_gib: float, shards, workers: int) -> dict:
    from securegenome.core.memory import GIB
    from securegenome.genomics.searchplan import ScanPlan, plan_search

    plan = ScanPlan((size,), (100,) * reads, k, ("+", "-"))
    chosen = plan_search(plan, engine, budget=int(memory_gib * GIB), shards=shards, workers=workers)
    return chosen.to_dict()


def run_case(folder, size, reads, k, engine, args) -> dict:
    reference, n = slice_reference(folder, size)
    fq = simulate(folder, reference, size, reads)
    case = {"reference_bp": n, "reads": reads, "read_length": 100, "k": k, "engine": engine,
            "memory_gib": args.memory, "shards": args.shards, "workers": args.workers, "runs": 1,
            "load_before": round(load(), 2)}
    try:
        case["prediction"] = predicted(n, reads, k, engine, args.memory, args.shards, args.workers)
    except Exception as exc:  # no plan fits: the secure run would stop with this line
        case["prediction"] = {"error": str(exc)}
    if case["prediction"].get("predicted_seconds", 0) > args.max_predicted:
        case["skipped"] = f"predicted {case['prediction']['predicted_seconds']:.0f} s > --max-predicted"
        return case
    out, js = os.path.join(folder, "hits.tsv"), os.path.join(folder, "run.json")
    command = [sys.executable, "-m", "securegenome", "search", reference, fq, "-k", str(k), "--engine", engine,
               "--memory", str(args.memory), "--workers", str(args.workers), "-o", out, "--json", js,
               "--timeout", str(args.timeout)]
    if args.shards:
        command += ["--shards", str(args.shards)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, SECUREGENOME_QUIET="1"))
    case["wall_s"] = round(time.perf_counter() - start, 1)
    case["load_after"] = round(load(), 2)
    if done.returncode != 0:
        case["error"] = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        return case
    with open(js) as f:
        summary = json.load(f)
    expected, bowtie_s = bowtie(reference, fq, k)
    got = tsv_hits(out)
    case.update(engine_ran=summary.get("engine"), plan=summary.get("plan"), shards_ran=summary.get("shards", 1),
                protocol_s=round(summary["wall_seconds"], 1), bytes_sent=summary["bytes_sent"],
                peak_rss_gib={p: round(v / 2**30, 3) for p, v in summary["peak_rss_bytes"].items()},
                shard_seconds=summary.get("shard_seconds"), index_seconds=summary.get("index_seconds"),
                search_seconds=summary.get("search_seconds"), memory_plan=summary.get("memory_plan"),
                hits=len(got), bowtie_hits=len(expected),
                equal_to_bowtie=got == expected, bowtie_s=round(bowtie_s, 3),
                reads_overflowed=summary.get("reads_overflowed"))
    return case


def projection(cases: list[dict], workers: list[int]) -> list[dict]:
    """From every sharded case, and every unsharded fm case taken as one shard of its size (a shard is a
    session of its own: the same protocol on a piece that also holds read length - 1 bases of overlap):
    seconds per shard, scaled to 50 Mbp and 3.1 Gbp with W workers per organisation (shards of the measured
    size, W at a time; same reads)."""
    out = []
    for c in cases:
        if c.get("shards_ran", 1) >= 2 and c.get("shard_seconds"):
            per_shard = sorted(c["shard_seconds"])[len(c["shard_seconds"]) // 2]
        elif c.get("shards_ran") == 1 and c.get("engine_ran") == "fm" and c.get("protocol_s"):
            per_shard = c["protocol_s"]
        else:
            continue
        shard_bp = c["reference_bp"] / c["shards_ran"]
        for target in (HUMAN_CHROMOSOME, HUMAN_GENOME):
            shards = -(-target // int(shard_bp))
            for w in workers:
                out.append({"from": f"{c['reference_bp']} bp, {c['reads']} reads, k = {c['k']}, {c['engine_ran']}",
                            "target_bp": target, "workers": w, "shard_bp": int(shard_bp),
                            "median_shard_s": per_shard, "shards": shards,
                            "hours": round(-(-shards // w) * per_shard / 3600, 1)})
    return out


def plot(cases: list[dict]) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    series: dict[str, list] = {}
    for c in cases:
        if "wall_s" in c and "error" not in c:
            label = f"{c['engine']} (ran {c.get('engine_ran')}), B={c['reads']}, k={c['k']}"
            series.setdefault(label, []).append(c)
    for label, items in series.items():
        items.sort(key=lambda c: c["reference_bp"])
        xs = [c["reference_bp"] for c in items]
        left.plot(xs, [c["wall_s"] for c in items], marker="o", label=label)
        right.plot(xs, [max(c["peak_rss_gib"].values()) for c in items], marker="o", label=label)
    bowtie = sorted({(c["reference_bp"], c["bowtie_s"]) for c in cases if "bowtie_s" in c})
    if bowtie:
        left.plot([b[0] for b in bowtie], [b[1] for b in bowtie], "k--", marker="x", label="bowtie -v k -a")
    for ax, ylabel in ((left, "wall time (s)"), (right, "peak RSS of the largest party (GiB)")):
        ax.set_xscale("log")
        ax.set_xlabel("reference (bp, E. coli 536 slices)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    left.set_yscale("log")
    right.legend(fontsize=7)
    fig.suptitle("search at scale: 3 parties, 100 bp reads")
    fig.tight_layout()
    path = os.path.join(RESULTS, "search_scale.png")
    fig.savefig(path, dpi=120)
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    p.add_argument("--reads", type=int, nargs="+", default=[1_000, 10_000])
    p.add_argument("--k", type=int, nargs="+", default=[0, 2])
    p.add_argument("--engines", nargs="+", default=["scan", "fm", "auto"])
    p.add_argument("--memory", type=float, default=1.8, help="GiB per party (default 1.8: 3 parties in 6 GiB)")
    p.add_argument("--shards", type=int, default=None)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--project-workers", type=int, nargs="+", default=[1, 8, 64])
    p.add_argument("--max-predicted", type=float, default=1800.0, metavar="S")
    p.add_argument("--timeout", type=float, default=3600.0)
    p.add_argument("--output", default=os.path.join(RESULTS, "search_scale.json"))
    args = p.parse_args()
    setup()
    folder = os.path.join(tempfile.gettempdir(), "securegenome-search-scale")
    os.makedirs(folder, exist_ok=True)
    os.makedirs(RESULTS, exist_ok=True)
    previous = []
    if os.path.exists(args.output):  # cases of earlier invocations (other sizes) are kept
        with open(args.output) as f:
            previous = json.load(f).get("cases", [])
    cases = []
    for size in args.sizes:
        for reads in args.reads:
            for k in args.k:
                for engine in args.engines:
                    case = run_case(folder, size, reads, k, engine, args)
                    print(json.dumps(case), flush=True)
                    cases.append(case)
                    everything = write(args, previous, cases)  # after every case: a long run keeps its results
    print(args.output, plot(everything))
    return 0


def write(args, previous: list[dict], cases: list[dict]) -> list[dict]:
    """Write this invocation's cases with the earlier invocations' other cases; returns them all."""
    key = ("reference_bp", "reads", "k", "engine", "shards", "workers")
    kept = [c for c in previous if not any(all(c.get(x) == d.get(x) for x in key) for d in cases)]
    everything = kept + cases
    with open(args.output, "w") as f:
        json.dump({"experiment": "search_scale", "machine": machine(), "parties": 3,
                   "genome": "E. coli 536, NC_008253 (bowtie-examples)", "cases": everything,
                   "projection": projection(everything, args.project_workers)}, f, indent=1)
        f.write("\n")
    return everything


if __name__ == "__main__":
    sys.exit(main())
