"""``securegenome bwt``: suffix array and Burrows–Wheeler transform of a secret-shared sequence."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ..errors import InputError
from ._common import (PARTY_HELP, add_party_options, local_pids, run_summary, session_options, write_atomically,
                      write_json, write_ledger, write_transcript)

ORDER = 20

DESCRIPTION = """\
Build the suffix array (SA) and the Burrows-Wheeler transform (BWT) of a DNA sequence with secure
multi-party computation: the sequence is secret-shared by its owner (or assembled from segments that
several parties contribute, concatenated in party order), the whole construction runs on shares
(oblivious prefix doubling), and only the receivers (--reveal-to) see SA and BWT.

input:
  REF is the FASTA of party 0 (of this party, with --party-id).  Its records are concatenated in file
  order; the text ends with the sentinel '$'.  N and other IUPAC codes are rejected unless --iupac
  drop|replace says what to do with them.  With --segment I:FILE (repeatable) party I contributes FILE;
  the text is the concatenation of the segments in party order.

what is revealed, to whom:
  Everybody learns the segment lengths (hence n) and the number of rounds, which depends on n only.
  The receivers alone learn SA and BWT.  Nothing else about the sequence is opened: besides the
  outputs, the ledger (--ledger) lists only uniformly random permutations (shuffles), uniformly random
  bits and values under statistical masks (see docs/bwt.md).  --early-exit opens one bit per round to
  all parties ("are all suffixes distinct on their first h bases?"), which tells everybody the length
  of the longest repeated substring within a factor of two; it saves the remaining rounds.

output (written by a receiver):
  -o OUT.bwt: the BWT as one line over ACGT$; the SA next to it as OUT.sa (one position per line,
  0-based, first line n).  Without -o the BWT is printed on stdout.  --json: n, rounds, wall time,
  bytes sent per party, the memory plan (predicted peak and seconds) with each party's measured peak
  RSS, and BWT/SA if this machine received them.

memory:
  Before anything is shared, the parties plan the run from n and a memory budget per party
  (--memory GIB; default: 70% of this host's available memory divided by the parties running here;
  the parties use the smallest budget any of them gives).  The plan chunks the big steps to fit; if
  even the smallest plan does not fit, every party stops with one line naming the memory it needs.
  10^6 bases need about 1.5-2.5 GiB per party (docs/bwt.md, "Memory plan")."""

EXAMPLES = """\
examples:
  securegenome bwt data/lambda_phage.fa -o lambda.bwt --json lambda.json --ledger lambda.ledger.json
  securegenome bwt --segment 0:a.fa --segment 1:b.fa --reveal-to 0,1 -o ab.bwt
  # multi-host, on party 1's machine (it holds b.fa, party 0 holds a.fa):
  securegenome bwt --segment 1:b.fa --party-id 1 --hosts h0:11365,h1:11365,h2:11365 --reveal-to 0
"""


def register(sub):
    p = sub.add_parser("bwt", help="suffix array and BWT of a sequence, built on secret shares",
                       description=DESCRIPTION, epilog=EXAMPLES + "\n" + PARTY_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("reference", metavar="REF", nargs="?", default=None,
                   help="FASTA (.gz ok) of party 0 (of this party with --party-id)")
    p.add_argument("--segment", action="append", default=[], metavar="I:FILE",
                   help="party I contributes the sequence in FILE (repeatable; text = segments in party order)")
    p.add_argument("--reveal-to", default="0", metavar="I[,J...]|none",
                   help="parties that receive SA and BWT (default 0; 'none' opens nothing)")
    p.add_argument("-o", "--output", default=None, metavar="OUT",
                   help="write the BWT to OUT and the SA to OUT.sa (OUT's .bwt suffix replaced)")
    p.add_argument("--json", default=None, metavar="PATH", help="write n, rounds, timings, bytes sent (and "
                   "BWT/SA if received here) as JSON")
    p.add_argument("--early-exit", action="store_true",
                   help="stop once all suffixes are distinct; opens one bit per round to all (see above)")
    p.add_argument("--memory", default=None, metavar="GIB",
                   help="memory budget per party in GiB (default: a safe share of this host's available memory)")
    p.add_argument("--iupac", choices=("reject", "drop", "replace"), default="reject",
                   help="N and other ambiguity codes: reject (default), drop them, or replace each by a base")
    add_party_options(p)
    p.set_defaults(func=main)


def main(args):
    from .. import core
    from ..core.memory import default_budget, parse_gib
    from ..genomics.bwt import bwt_protocol

    options = session_options(args)
    mine = local_pids(options)
    receivers = _receivers(args.reveal_to, options["parties"])
    segments = _segment_paths(args, options)
    for pid in segments:
        if pid not in mine:
            raise InputError(f"party {pid}'s sequence is read on party {pid}'s own host; this machine runs "
                             f"party {options['party_id']} (give only its --segment)")
    local_receivers = [pid for pid in mine if pid in receivers]
    if args.output and not local_receivers:
        raise InputError("-o needs a receiver on this machine (--reveal-to)")
    memory = parse_gib(args.memory) if args.memory is not None else default_budget(len(mine))
    private = {pid: {"segment": _read_segment(path, args.iupac)} for pid, path in segments.items()}
    results = core.run(bwt_protocol, **options, private=private,
                       kwargs={"reveal_to": receivers, "early_exit": args.early_exit, "memory": memory})
    value = results[0].value
    received = next((r.value for r in results if r.pid in local_receivers), None)
    if received is not None:
        if args.output:
            write_atomically(args.output, received["bwt"] + "\n")
            write_atomically(sa_path(args.output), "".join(f"{i}\n" for i in received["sa"]))
        elif not args.json:
            print(received["bwt"])
    if args.json:
        summary = run_summary(results, n=value["n"], segment_lengths=value["sizes"], rounds=value["rounds"],
                              max_rounds=value["max_rounds"], kmer=value["kmer"], early_exit=args.early_exit,
                              reveal_to=receivers, budget_gib=value["budget_gib"], memory_plan=value["plan"],
                              peak_rss_gib={str(r.pid): round(r.value["peak_rss"] / 2**30, 3) for r in results})
        if received is not None:
            summary.update(bwt=received["bwt"], sa=received["sa"])
        write_json(args.json, summary)
    if args.ledger:
        write_ledger(args.ledger, results)
    write_transcript(args, results, result_party=receivers[0] if receivers else None)  # --transcript
    print(f"securegenome bwt: n = {value['n']}, {value['rounds']} rounds, "
          f"{max(r.seconds for r in results):.1f} s", file=sys.stderr)
    return 0


def sa_path(output: str) -> str:
    """Where the SA goes next to the BWT file ``output``: ``x.bwt`` -> ``x.sa``, else ``output + ".sa"``."""
    return (output[:-4] if output.endswith(".bwt") else output) + ".sa"


def _receivers(text: str, parties: int) -> list[int]:
    if text.strip().lower() == "none":
        return []
    try:
        pids = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise InputError(f"--reveal-to: expected party numbers like 0 or 0,2 or 'none', got {text!r}") from None
    bad = [pid for pid in pids if not 0 <= pid < parties]
    if bad or not pids:
        raise InputError(f"--reveal-to: parties are 0..{parties - 1}, got {text!r}")
    return pids


def _segment_paths(args, options) -> dict[int, str]:
    segments = {}
    if args.reference is not None:
        segments[options["party_id"] if options["hosts"] else 0] = args.reference
    for spec in args.segment:
        pid, sep, path = spec.partition(":")
        if not sep or not path or not pid.strip().isdigit():
            raise InputError(f"--segment: expected I:FILE (party number, colon, FASTA path), got {spec!r}")
        pid = int(pid)
        if not 0 <= pid < options["parties"]:
            raise InputError(f"--segment {spec}: parties are 0..{options['parties'] - 1}")
        if pid in segments:
            raise InputError(f"party {pid} is given two sequences (REF and --segment, or two --segment)")
        segments[pid] = path
    if not segments and not options["hosts"]:
        raise InputError("no sequence given: pass REF or --segment I:FILE")
    return segments


def _read_segment(path: str, iupac: str) -> np.ndarray:
    from ..genomics.io import read_sequences

    records = read_sequences(path, fmt="fasta", iupac=iupac)
    codes = np.concatenate([r.codes for r in records]).astype(np.int64)
    if codes.size == 0:
        raise InputError(f"{path}: the sequence is empty" + (" after dropping ambiguity codes"
                                                             if iupac == "drop" else ""))
    return codes
