"""A read simulator that writes the truth into every read name.

Each read is drawn independently with a seeded ``numpy.random.Generator``: a window chosen uniformly
among all windows of the requested length on all records (so longer records get proportionally more
reads; windows never span records and never contain an N of the reference), a strand (``+``/``-``, equally
likely; ``-`` reads are the reverse complement), a number of substitutions uniform in the requested range
at distinct positions, each to one of the three other bases, and optionally N's (each remaining position
independently with probability ``n_rate``).

Read names: ``r{read}_{record}_{pos}_{strand}_mm{mismatches}``, e.g. ``r17_NC_001416.1_12346_-_mm2``:
``read`` is the 0-based index of the read in the file, ``record`` the reference record name, ``pos`` the
1-based leftmost position of the window on the forward strand of the record (like SAM POS), and
``mismatches`` the Hamming distance between the read and that window (reverse-complemented for ``-``)
with N counted as a mismatch — exactly what :func:`.oracle.kmismatch_hits` reports.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from ..errors import InputError
from .alphabet import N_CODE, reverse_complement
from .io import SequenceRecord

QUALITY = "I"  # Phred 40 for every simulated base


class ReadTruth(NamedTuple):
    """Where a simulated read comes from; ``pos`` is 1-based (``pos - 1`` is the oracle's Hit.pos)."""

    read: int
    record: str
    pos: int
    strand: str
    mismatches: int

    @property
    def name(self) -> str:
        return f"r{self.read}_{self.record}_{self.pos}_{self.strand}_mm{self.mismatches}"


def parse_read_name(name: str) -> ReadTruth:
    """The truth recorded in a simulated read's name (record names may themselves contain ``_``)."""
    try:
        head, pos, strand, mm = name.rsplit("_", 3)
        read, record = head.split("_", 1)
        if not (read.startswith("r") and mm.startswith("mm") and strand in "+-" and len(strand) == 1):
            raise ValueError
        return ReadTruth(int(read[1:]), record, int(pos), strand, int(mm[2:]))
    except ValueError:
        raise InputError(f"read name {name!r} is not r<read>_<record>_<pos>_<strand>_mm<k>") from None


def parse_range(text: str) -> tuple[int, int]:
    """``"0..2"`` -> (0, 2); ``"1"`` -> (1, 1)."""
    lo, sep, hi = text.partition("..")
    try:
        lo, hi = int(lo), int(hi if sep else lo)
    except ValueError:
        raise InputError(f"--mismatches {text!r}: expected A..B or A with whole numbers, e.g. 0..2") from None
    if not 0 <= lo <= hi:
        raise InputError(f"--mismatches {text!r}: need 0 <= A <= B")
    return lo, hi


def simulate_reads(reference: Sequence[SequenceRecord], n: int, length: int, *,
                   mismatches: tuple[int, int] = (0, 0), seed: int = 0, n_rate: float = 0.0,
                   source: str = "") -> list[SequenceRecord]:
    """``n`` reads of ``length`` bases from ``reference``; the same arguments give the same reads."""
    lo, hi = mismatches
    if n < 0 or length < 1:
        raise InputError(f"need a read count >= 0 and a read length >= 1 (got {n} and {length})")
    if not 0 <= lo <= hi <= length:
        raise InputError(f"mismatches {lo}..{hi} do not fit reads of {length} bases")
    if not 0.0 <= n_rate < 1.0:
        raise InputError(f"--n-rate {n_rate} must lie in [0, 1)")
    for i, rec in enumerate(reference):
        if not rec.name:
            raise InputError(f"{rec.source}, record #{i + 1} has no name to record in the read names")
    starts = [_clean_window_starts(rec.codes, length) for rec in reference]
    counts = np.array([len(s) for s in starts], dtype=np.int64)
    if counts.sum() == 0:
        where = reference[0].source if reference else "the reference"
        longest = max((len(r) for r in reference), default=0)
        if length > longest:
            raise InputError(f"{where}: read length {length} is longer than every record "
                             f"(longest: {longest} bp)")
        raise InputError(f"{where}: every window of {length} bases contains an N; use a smaller read length")
    cumulative = np.cumsum(counts)
    rng = np.random.default_rng(seed)
    reads = []
    for read in range(n):
        window = int(rng.integers(cumulative[-1]))
        rec = int(np.searchsorted(cumulative, window, side="right"))
        pos = int(starts[rec][window - (cumulative[rec - 1] if rec else 0)])
        strand = "+-"[int(rng.integers(2))]
        codes = reference[rec].codes[pos:pos + length].copy()
        substituted = rng.choice(length, size=int(rng.integers(lo, hi + 1)), replace=False)
        codes[substituted] = (codes[substituted] + rng.integers(1, 4, size=len(substituted))) % 4
        if n_rate:
            unknown = rng.random(length) < n_rate
            unknown[substituted] = False  # an N on a substituted base would not add a mismatch
            codes[unknown] = N_CODE
        mm = len(substituted) + (int(unknown.sum()) if n_rate else 0)
        if strand == "-":
            codes = reverse_complement(codes)
        truth = ReadTruth(read, reference[rec].name, pos + 1, strand, mm)
        reads.append(SequenceRecord(truth.name, codes, QUALITY * length, source))
    return reads


def _clean_window_starts(codes: np.ndarray, length: int) -> np.ndarray:
    """0-based starts of the windows of ``length`` bases that contain no N."""
    if len(codes) < length:
        return np.zeros(0, dtype=np.int64)
    n_before = np.concatenate([[0], np.cumsum(codes == N_CODE)])
    return np.flatnonzero(n_before[length:] == n_before[:-length])
