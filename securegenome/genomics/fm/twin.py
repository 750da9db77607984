"""The fm engine's plaintext twin: exactly what the querier gets (hits and overflowing reads)."""

from __future__ import annotations

import numpy as np

from ..alphabet import N_CODE, on_strand
from ..oracle import Hit, suffix_array
from .index import index_codes, record_bad
from .layout import DEFAULT_CAP, patterns_of


def _suffix_bounds(text: np.ndarray, sa: np.ndarray, pattern: np.ndarray) -> tuple[int, int]:
    """[s, e): the suffix-array rows of the suffixes that start with ``pattern``; s is where the pattern
    would be inserted (also when no suffix starts with it), as the secure search computes it."""
    m, target = len(pattern), tuple(pattern.tolist())

    def key(j):  # the first m symbols of suffix SA[j], '$' (and what follows) as -1
        piece = text[int(sa[j]):int(sa[j]) + m].tolist()
        return tuple(piece) + ((-1,) if len(piece) < m else ())

    def first(above_or_at):
        lo, hi = 0, len(sa)
        while lo < hi:
            mid = (lo + hi) // 2
            if above_or_at(key(mid)):
                hi = mid
            else:
                lo = mid + 1
        return lo

    return first(lambda kk: kk >= target), first(lambda kk: kk > target)


def fm_search_plain(reference, reads, k: int, *, strand: str = "both", cap: int = DEFAULT_CAP):
    """Plaintext twin of the fm engine: (hits, overflowing reads), exactly what the querier gets.

    ``reference``: record code arrays; ``reads``: read code arrays (codes 0..4).  k = 0: the first
    min(c, cap) rows of each read strand's interval; k > 0: the first ``cap`` rows from each seed's interval
    start (rows past the interval too, none past the last row), verified with the Hamming distance."""
    records = [np.asarray(r, dtype=np.int64) for r in reference]
    reads = [np.asarray(r, dtype=np.int64) for r in reads]
    real = np.concatenate(records)
    text = index_codes(real)
    sa = suffix_array(text)
    lengths = [len(r) for r in records]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    n = len(text)
    strands = ("+", "-") if strand == "both" else ("+",)
    hits, overflow = set(), set()
    bad = {m: record_bad(starts, lengths, n, 0, m) for m in {len(r) for r in reads}}
    for p in patterns_of([len(r) for r in reads], k, strands):
        read = on_strand(reads[p.read], p.strand)
        piece = read[p.offset:p.offset + p.length]
        usable = bool((piece < N_CODE).all())
        s, e = _suffix_bounds(text, sa, index_codes(piece))
        c = e - s
        if usable and c > cap:
            overflow.add(p.read)
        if k == 0:
            rows = range(s, s + min(c, cap)) if usable else range(0)
        else:
            rows = range(s, min(s + cap, n + 1))
        for j in rows:
            start = int(sa[j]) - p.offset
            if not 0 <= start <= n or bad[p.read_length][start]:
                continue
            d = int((real[start:start + p.read_length] != read).sum()) + \
                int(((real[start:start + p.read_length] == N_CODE) & (read == N_CODE)).sum())
            if d <= k:
                r = int(np.searchsorted(starts, start, side="right") - 1)
                hits.add(Hit(p.read, p.strand, r, int(start - starts[r]), d))
    return sorted(hits, key=lambda h: (h.read, h.record, h.pos, h.strand)), sorted(overflow)
