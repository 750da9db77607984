"""``securegenome simulate-reads``: reads with known origin, for tests, examples and benchmarks."""

from __future__ import annotations

import argparse

ORDER = 80

DESCRIPTION = """\
Simulate sequencing reads from a reference FASTA/FASTQ and record where each one comes from in its name.

Each read: a window drawn uniformly among all windows of --length bases on all records (no window spans
records or contains an N), a strand (+ or -, equally likely; - reads are reverse complements), a number
of substitutions drawn uniformly from --mismatches, and optionally N's (--n-rate per base).  The same
arguments and --seed always give the same file, byte for byte.

Read names are r<read>_<record>_<pos>_<strand>_mm<k>: 0-based read index, reference record, 1-based
leftmost position on the forward strand (like SAM POS), strand, and the Hamming distance to the reference
window with N counted as a mismatch (what `securegenome search -k` must report).

This is a local, single-party tool: nothing is secret-shared and nothing is revealed to anyone."""

EXAMPLES = """\
examples:
  securegenome simulate-reads data/lambda_phage.fa -n 100 --length 100 --mismatches 0..2 --seed 7 -o reads.fq
  securegenome simulate-reads ref.fa.gz -n 1000000 --length 150 --n-rate 0.001 -o reads.fa   # FASTA out"""


def register(sub):
    p = sub.add_parser("simulate-reads", help="simulate reads whose names record where they come from",
                       description=DESCRIPTION, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("reference", metavar="REF.fa", help="reference FASTA/FASTQ (plain or .gz)")
    p.add_argument("-n", "--reads", type=int, default=1000, metavar="N", help="number of reads (default 1000)")
    p.add_argument("--length", type=int, default=100, metavar="L", help="read length in bases (default 100)")
    p.add_argument("--mismatches", default="0", metavar="A..B",
                   help="substitutions per read, uniform in A..B (default 0; e.g. 0..2 or 1)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--n-rate", type=float, default=0.0, metavar="F",
                   help="probability that a base becomes N (default 0; N's count as mismatches)")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output file: FASTA if it ends in .fa/.fasta/.fna (optionally .gz), else FASTQ")
    p.set_defaults(func=main)


def main(args) -> int:
    from ..genomics.io import read_sequences, write_sequences
    from ..genomics.simulate import parse_range, simulate_reads

    mismatches = parse_range(args.mismatches)
    reference = read_sequences(args.reference)
    reads = simulate_reads(reference, args.reads, args.length, mismatches=mismatches, seed=args.seed,
                           n_rate=args.n_rate, source=args.output)
    write_sequences(args.output, reads)
    return 0
