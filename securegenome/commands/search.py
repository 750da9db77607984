"""``securegenome search``: secure k-mismatch search of reads (FASTA/FASTQ) against a reference (FASTA)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from ..errors import InputError
from ._common import (PARTY_HELP, add_memory_option, add_party_options, local_pids, memory_budget, run_summary,
                      session_options, write_atomically, write_json, write_ledger, write_transcript)

ORDER = 10
# kept here (not imported) so that `securegenome --help` need not import the engines; tests check they agree
ENGINES = ("auto", "scan", "fm")  # genomics.search.ENGINES
FM_BUILDS = ("owner", "secure")  # genomics.fmsearch.BUILDS
DEFAULT_CAP = 8  # genomics.fmsearch.DEFAULT_CAP

DESCRIPTION = """\
Find every place where each read matches the reference with at most k mismatches, on both strands
(end-to-end, ungapped; N mismatches everything): the answer `bowtie -v k -a` gives in the clear, computed
with secure multi-party computation so that no party sees another's data.

roles:
  The reference owner (--reference-party, default 0) inputs REF, the querier (--query-party, default 1)
  inputs READS, any other party only computes.  In a local run each party process gets only its own
  file.  In a multi-host run every party gives both positions and writes '-' for the file it does not
  hold: the owner `REF.fa -`, the querier `- READS.fq`, a helper `- -`.

what is revealed, to whom:
  The querier alone learns the hits: read, strand, record, position, mismatches.  Everybody learns the
  public sizes: number, names and lengths of reference records, number and lengths of reads, k, and the
  engine options.  Nothing else with the scan engine: the querier's opened values are uniformly random
  except at hits (see docs/search.md and --ledger); a non-hit is reported with probability below 2^-40
  per window.  The fm engine reveals to the querier one bit more per read strand (k = 0) or seed
  (k > 0): whether its exact occurrences exceed --cap (for k = 0, at most --cap of them, also how many,
  counting windows with N or across records, which are no hits).  Reads over the cap are reported (on
  stderr, XO:i:1 in SAM, --json): their hits may be incomplete; rerun them with --engine scan or a
  larger --cap.

engines:
  scan  compares every read strand with every reference window: cost grows with reference x reads.
  fm    secret-shares an FM-index of the reference once per run and finds each read (k = 0) or each of
        its k + 1 seeds (k > 0) by batched oblivious backward search, then verifies at most --cap
        candidate windows per read strand or seed: cost grows with reference + reads (per batch of
        --batch-size reads) instead of reference x reads.
  auto  (default) among the engines whose memory plan fits --memory, the one the cost model fitted to
        benchmarks/search_engines.py expects to be fastest for these sizes; --json says which ran.

memory and scale:
  Before anything is shared, every party computes from the public sizes the peak memory of each plan
  and chooses batch sizes that fit the budget (--memory GIB per party process; all parties use the
  smallest one given).  If no plan fits, every party stops with one line naming the memory needed.
  A long reference is cut into --shards pieces that overlap by (longest read - 1) bases, each searched
  as its own session; the output is the same as an unsharded run's.  By default the number of shards is
  automatic: one, unless the memory plan or --workers needs more.  --workers W searches W shards at once
  (W sets of party processes; in a multi-host run each organisation opens W consecutive ports from the
  one in --hosts: worker w of party i uses party i's port + w).

checkpoints and resume:
  With --checkpoint DIR every party run here keeps each finished shard in DIR/party-<i>/ (the querier
  its own hits of the shard, every other party only a marker that it finished).  After a failure, the
  same command with --resume skips the shards every party finished and writes the same output as an
  uninterrupted run.  A changed input or option refuses to resume, in one line, before anything is
  shared; without --resume an existing checkpoint is an error (remove DIR to start over).  In a
  multi-host run every organisation gives --checkpoint (its own directory) and --resume."""

EXAMPLES = """\
examples:
  securegenome search data/lambda_phage.fa data/reads.fq -k 2 -o hits.sam
  securegenome search ref.fa reads.fq.gz -k 1 --strand forward -o hits.tsv --json run.json
  securegenome search genome.fa reads.fq -k 2 --engine fm --cap 16 -o hits.sam
  securegenome search ecoli.fa reads.fq -k 2 --shards 8 --workers 2 --memory 2 -o hits.sam --json run.json
  securegenome search genome.fa reads.fq -k 2 --shards 64 --checkpoint ck/ -o hits.sam
  securegenome search genome.fa reads.fq -k 2 --shards 64 --checkpoint ck/ -o hits.sam --resume  # after a failure
  # multi-host, on the querier's machine (party 1):
  securegenome search - reads.fq -k 2 -o hits.sam --party-id 1 --hosts a:11365,b:11365,c:11365
"""


def register(sub):
    p = sub.add_parser("search", help="find reads in a reference with at most k mismatches, securely",
                       description=DESCRIPTION, epilog=EXAMPLES + "\n" + PARTY_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("reference", metavar="REF", help="reference FASTA (.gz ok; '-' on parties that do not own it)")
    p.add_argument("reads", metavar="READS", help="reads FASTA/FASTQ (.gz ok; '-' on parties that do not own them)")
    p.add_argument("-k", type=int, required=True, help="maximum number of mismatches (0 <= k < read length)")
    p.add_argument("--strand", choices=("both", "forward"), default="both",
                   help="search the reverse complement too (default both)")
    p.add_argument("--reference-party", type=int, default=0, metavar="I", help="party that owns REF (default 0)")
    p.add_argument("--query-party", type=int, default=1, metavar="I",
                   help="party that owns READS and alone learns the hits (default 1)")
    p.add_argument("-o", "--output", default="-", metavar="PATH",
                   help="where the querier writes the hits (default stdout): SAM, or TSV if PATH ends in .tsv")
    p.add_argument("--format", choices=("sam", "tsv"), default=None, help="override the format chosen from -o")
    p.add_argument("--json", default=None, metavar="PATH", help="write counts, timings and bytes sent as JSON")
    p.add_argument("--batch-size", type=int, default=None, metavar="B",
                   help="scan: reads shared and scanned together (default 32); their windows are then cut "
                        "into batches of 12 million opened values (2 million window tests at k = 2), so "
                        "memory stays bounded.  fm: reads per backward-search batch (default 10,000); the "
                        "index is built once and reused for every batch")
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="scan, fm, or auto (default): among the engines whose memory plan fits --memory, "
                        "the one the cost model fitted to benchmarks/search_engines.py expects to be fastest")
    p.add_argument("--cap", type=int, default=None, metavar="C",
                   help=f"fm: candidate rows per read strand (k = 0) or seed (k > 0), default {DEFAULT_CAP}.  "
                        "The querier learns, per read strand or seed, whether its exact occurrences exceed C; "
                        "reads that exceed it are reported as such and their hits may be incomplete: rerun "
                        "them with --engine scan or a larger --cap")
    p.add_argument("--fm-step", type=int, default=None, metavar="H",
                   help="fm: bases per backward-search step (default: the longest read for k = 0, the "
                        "longest seed for k > 0: one step)")
    p.add_argument("--fm-build", choices=FM_BUILDS, default="owner",
                   help="fm: owner (default): the reference owner computes the suffix array locally and "
                        "secret-shares the index; fast, reveals nothing more.  secure: the suffix array is "
                        "built by the secure BWT construction on the shared reference, as `securegenome bwt` "
                        "does")
    scale = p.add_argument_group("memory and scale")
    add_memory_option(scale)
    scale.add_argument("--shards", type=int, default=None, metavar="S",
                       help="cut the reference into S pieces overlapping by (longest read - 1) bases, each "
                            "searched as its own session (default: automatic from the memory plan and --workers)")
    scale.add_argument("--workers", type=int, default=1, metavar="W",
                       help="shards searched at once, each by its own party processes (default 1); multi-host: "
                            "every organisation gives the same W and opens ports P..P+W-1")
    resume = p.add_argument_group("checkpoints and resume")
    resume.add_argument("--checkpoint", default=None, metavar="DIR",
                        help="keep each finished shard in DIR/party-<i>/ (created if needed; must hold no "
                             "checkpoint of another run unless --resume): the querier its own hits, the other "
                             "parties a marker")
    resume.add_argument("--resume", action="store_true",
                        help="with --checkpoint: skip the shards every party finished in an interrupted run of "
                             "this same command; refuses if an input or option changed")
    add_party_options(p)
    p.set_defaults(func=main)


def _own_file(path: str) -> str | None:
    return None if path == "-" else os.path.abspath(path)


def _inputs(args, options) -> dict[int, dict]:
    """Private inputs per party run here: each file only to the party that owns it."""
    parties = options["parties"]
    reference_party, query_party = args.reference_party, args.query_party
    if parties == 1:
        reference_party = query_party = 0
    reference, reads = _own_file(args.reference), _own_file(args.reads)
    if options["hosts"]:  # multi-host: this party passes what it holds; the protocol checks the roles
        return {options["party_id"]: {k: v for k, v in (("reference_path", reference), ("reads_path", reads))
                                      if v is not None}}
    if reference is None or reads is None:
        raise InputError("a local run needs both REF and READS ('-' is only for multi-host runs)")
    for role, pid in (("--reference-party", reference_party), ("--query-party", query_party)):
        if not 0 <= pid < parties:
            raise InputError(f"{role} {pid} is not a party (parties are 0..{parties - 1})")
    private = {reference_party: {"reference_path": reference}}
    private.setdefault(query_party, {})["reads_path"] = reads
    return private


def _format(args) -> str:
    if args.format:
        return args.format
    return "tsv" if args.output.lower().endswith((".tsv", ".tsv.txt")) else "sam"


def _check_options(args) -> None:
    """Bad engine options fail here, in one line, before any party starts."""
    from ..genomics.fmsearch import check_parameters

    check_parameters(args.cap, args.fm_step)
    if args.batch_size is not None and args.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1 (got {args.batch_size})")
    if args.shards is not None and args.shards < 1:
        raise InputError(f"--shards must be at least 1 (got {args.shards})")
    if args.workers < 1:
        raise InputError(f"--workers must be at least 1 (got {args.workers})")
    if args.resume and args.checkpoint is None:
        raise InputError("--resume needs --checkpoint DIR (the directory the interrupted run wrote)")


def _command_line(argv) -> str:
    """The command for SAM's @PG line, without the checkpoint options: they do not change the output, so a
    resumed run's SAM is byte-identical to an uninterrupted one's."""
    kept, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--checkpoint":
            skip = True
        elif a != "--resume" and not a.startswith("--checkpoint="):
            kept.append(a)
    return "securegenome " + " ".join(shlex.quote(a) for a in kept)


def _read_name(name: str) -> str:
    return name.split()[0] if name.split() else "*"


def main(args) -> int:
    from .. import __version__
    from ..genomics.sam import sam_text, tsv_text
    from ..genomics.searchrun import run_search

    _check_options(args)
    budget = memory_budget(args)
    options = session_options(args)
    private = _inputs(args, options)
    query_party = 0 if options["parties"] == 1 else args.query_party
    kwargs = {"k": args.k, "strand": args.strand, "reference_party": args.reference_party,
              "query_party": args.query_party, "batch_size": args.batch_size, "engine": args.engine,
              "cap": args.cap, "fm_step": args.fm_step, "fm_build": args.fm_build}
    results = run_search(kwargs, private, memory_bytes=budget, shards=args.shards, workers=args.workers,
                         checkpoint=args.checkpoint, resume=args.resume, **options)
    querier = next((r for r in results if r.pid == query_party), None)
    stats = results[0].value.stats
    engine = stats.get("engine", "scan")
    summary = None
    if querier is not None:
        outcome = querier.value
        overflow = list(outcome.overflow or ())
        if _format(args) == "tsv":
            text = tsv_text(outcome.records, outcome.reads, outcome.hits)
        else:
            command = _command_line(sys.argv[1:])
            text = sam_text(outcome.records, outcome.reads, outcome.hits, version=__version__, command=command,
                            overflow=overflow, cap=stats.get("cap"))
        if args.output == "-":
            sys.stdout.write(text)
        else:
            write_atomically(args.output, text)
        mapped = len({h.read for h in outcome.hits})
        summary = {"reads": len(outcome.read_lengths), "reads_mapped": mapped, "hits": len(outcome.hits)}
        if outcome.overflow is not None:
            summary["reads_overflowed"] = len(overflow)
            summary["overflow_reads"] = [_read_name(outcome.reads[i][0]) for i in overflow]
        if args.output != "-":
            print(f"securegenome search ({engine} engine): {summary['hits']} hits, {mapped} of "
                  f"{summary['reads']} reads mapped -> {args.output}", file=sys.stderr)
        if overflow:
            print(f"securegenome search: {len(overflow)} of {summary['reads']} reads had a read strand or seed "
                  f"with more exact occurrences than --cap {stats.get('cap')}; their hits may be incomplete "
                  "(XO:i:1 in SAM, overflow_reads in --json): rerun them with --engine scan or a larger --cap",
                  file=sys.stderr)
    if args.json:
        write_json(args.json, run_summary(results, command="search", k=args.k, strand=args.strand,
                                          records=len(results[0].value.records), **(summary or {}), **stats,
                                          peak_rss_bytes={str(r.pid): r.value.stats.get("peak_rss") for r in results},
                                          local_parties=local_pids(options)))
    if args.ledger:
        write_ledger(args.ledger, results)
    write_transcript(args, results, result_party=query_party)  # --transcript: the querier's view at PATH
    return 0
