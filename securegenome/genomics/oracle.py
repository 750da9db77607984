"""Plaintext oracles: the answers the secure protocols must reproduce, computed in the clear.

* :func:`suffix_array` — of ``T = codes + '$'`` with ``'$'`` smaller than every base (prefix doubling).
* :func:`bwt`, :func:`bwt_from_sa` — the Burrows-Wheeler transform of ``T`` as a string over ``ACGT$``.
* :class:`FMIndex`, :func:`backward_search`, :func:`exact_occurrences` — exact matching through C and Occ.
* :func:`kmismatch_hits` — every occurrence with at most k substitutions on both strands, N = mismatch
  (what ``bowtie -v k -a`` reports), by exhaustive scan or exact pigeonhole seeding.

Conventions (also in docs/genomics.md): the text of a sequence of n codes is ``T[0..n] = codes + '$'``;
``SA`` has n + 1 entries and ``SA[0] = n`` (the suffix ``'$'``); ``BWT[i] = T[SA[i] - 1]`` with
``T[-1] = '$'``, so ``BWT[i] = '$'`` exactly where ``SA[i] = 0``.  In BWT *code* arrays (``FMIndex.bwt``)
code 4 stands for ``'$'``: the BWT rejects N, so 4 cannot mean anything else there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
from numba import njit

from .alphabet import N_CODE, reverse_complement

BWT_LETTERS = "ACGT$"
DOLLAR = 4  # '$' in a BWT code array


# --- suffix array ------------------------------------------------------------------------------------

def suffix_array(codes) -> np.ndarray:
    """Suffix array (int64, length n + 1) of ``codes + '$'``; code 4 (N) sorts after T.

    Prefix doubling (Manber-Myers) with counting sorts, O(n) per round: rank the first 8 symbols of
    every suffix, then double the compared prefix until all ranks differ.  A random text needs two
    rounds; the number of rounds grows with log2 of the longest repeat (about 20 for 5 Mbp of one base).
    """
    codes = _as_codes(codes)
    symbols = np.zeros(len(codes) + 1, dtype=np.int64)
    symbols[:-1] = codes.astype(np.int64) + 1  # '$' = 0 < A = 1 < ... < T = 4 < N = 5
    return _prefix_doubling(symbols)


@njit(cache=True)
def _prefix_doubling(symbols):
    n1 = symbols.shape[0]
    width = min(8, n1)  # 6**8 buckets for the first counting sort
    key = np.zeros(n1, dtype=np.int64)
    for i in range(n1):
        v = 0
        for j in range(width):
            v = v * 6 + (symbols[i + j] if i + j < n1 else 0)
        key[i] = v
    sa = _counting_sort(np.arange(n1), key, 6 ** width)
    rank = np.empty(n1, dtype=np.int64)
    distinct = _rerank(sa, key, key, 0, rank)
    h = width
    by_second = np.empty(n1, dtype=np.int64)
    while distinct < n1:
        # suffixes in order of their second half (the suffix h further on); '$' lies within the first
        # half of the last h suffixes, so their (empty) second half never decides and they go first
        t = 0
        for i in range(n1 - h, n1):
            by_second[t] = i
            t += 1
        for j in range(n1):
            if sa[j] >= h:
                by_second[t] = sa[j] - h
                t += 1
        sa = _counting_sort(by_second, rank, distinct)  # stable: ties keep the second-half order
        old = rank.copy()
        distinct = _rerank(sa, old, old, h, rank)
        h *= 2
    return sa


@njit(cache=True)
def _counting_sort(items, key, buckets):
    """``items`` stably sorted by ``key[item]`` (keys in 0..buckets-1)."""
    count = np.zeros(buckets + 1, dtype=np.int64)
    for x in items:
        count[key[x] + 1] += 1
    for b in range(buckets):
        count[b + 1] += count[b]
    out = np.empty(items.shape[0], dtype=np.int64)
    for x in items:
        out[count[key[x]]] = x
        count[key[x]] += 1
    return out


@njit(cache=True)
def _rerank(sa, first, second, h, rank):
    """Dense ranks of (first[i], second[i + h]) along the sorted order ``sa``; returns how many differ."""
    n1 = sa.shape[0]
    r = 0
    rank[sa[0]] = 0
    for j in range(1, n1):
        a, b = sa[j - 1], sa[j]
        if first[a] != first[b] or (h > 0 and (a + h >= n1 or b + h >= n1 or second[a + h] != second[b + h])):
            r += 1
        rank[b] = r
    return r + 1


# --- BWT ---------------------------------------------------------------------------------------------

def bwt(codes) -> str:
    """BWT of ``codes + '$'`` as a string over ``ACGT$``; N (code 4) is rejected with its 0-based index."""
    codes = _dna_codes(codes)
    return bwt_from_sa(codes, suffix_array(codes))


def bwt_from_sa(codes, sa) -> str:
    """``BWT[i] = T[SA[i] - 1]`` (``'$'`` where ``SA[i] = 0``) for a suffix array from any source."""
    return np.frombuffer(BWT_LETTERS.encode(), np.uint8)[_bwt_codes(_dna_codes(codes), sa)].tobytes().decode()


def _bwt_codes(codes: np.ndarray, sa) -> np.ndarray:
    sa = np.asarray(sa, dtype=np.int64)
    if len(sa) != len(codes) + 1:
        raise ValueError(f"suffix array of length {len(sa)} for a text of {len(codes)} + 1 symbols")
    text = np.append(codes, np.uint8(DOLLAR))
    return text[sa - 1]  # SA[i] = 0 wraps to T[-1] = '$'


# --- FM-index ----------------------------------------------------------------------------------------

@dataclass
class FMIndex:
    """FM-index of ``codes + '$'``.

    ``bwt``: BWT codes (4 = ``'$'``); ``C[c]``: number of symbols of T smaller than base c (``'$'``
    included), ``C[4] = n + 1``; ``occ[i, c]``: occurrences of base c in ``bwt[:i]`` (n + 2 rows);
    ``sa``: the suffix array.
    """

    bwt: np.ndarray
    C: np.ndarray
    occ: np.ndarray
    sa: np.ndarray

    @classmethod
    def from_codes(cls, codes) -> "FMIndex":
        codes = _dna_codes(codes)
        sa = suffix_array(codes)
        last = _bwt_codes(codes, sa)
        counts = np.bincount(codes, minlength=4)[:4]
        C = np.concatenate([[1], 1 + np.cumsum(counts)]).astype(np.int64)
        dtype = np.int32 if len(last) < 2**31 else np.int64
        occ = np.zeros((len(last) + 1, 4), dtype=dtype)
        for c in range(4):
            np.cumsum(last == c, out=occ[1:, c])
        return cls(last, C, occ, sa)

    def __len__(self) -> int:
        """Length of the indexed text without ``'$'``."""
        return len(self.bwt) - 1


def backward_search(fm: FMIndex, pattern_codes) -> tuple[int, int]:
    """Half-open SA interval ``[lo, hi)`` of the suffixes that start with the pattern.

    A pattern with N (code 4) matches nothing (``lo == hi``); the empty pattern matches every suffix.
    """
    lo, hi = 0, len(fm.bwt)
    for c in np.asarray(pattern_codes)[::-1]:
        c = int(c)
        if c >= N_CODE:
            return 0, 0
        lo, hi = int(fm.C[c] + fm.occ[lo, c]), int(fm.C[c] + fm.occ[hi, c])
        if lo >= hi:
            return lo, lo
    return lo, hi


def exact_occurrences(codes, pattern, *, fm: FMIndex | None = None) -> np.ndarray:
    """Sorted 0-based start positions of ``pattern`` in ``codes`` (pass ``fm`` to reuse an index)."""
    fm = fm if fm is not None else FMIndex.from_codes(codes)
    lo, hi = backward_search(fm, pattern)
    return np.sort(fm.sa[lo:hi])


# --- k-mismatch search -------------------------------------------------------------------------------

class Hit(NamedTuple):
    """A read placed on a record: ``pos`` is the 0-based leftmost position on the forward record, also
    for ``strand == '-'`` (the read's reverse complement matches there)."""

    read: int
    strand: str
    record: int
    pos: int
    mismatches: int


STRANDS = {"both": ("+", "-"), "forward": ("+",), "reverse": ("-",)}
SEED_MIN = 10  # shortest seed worth an index: below it, candidates approach the number of windows
SEED_MAX = 15  # 4**15 k-mer values fit comfortably in int64 sort keys


def kmismatch_hits(reference: Sequence, reads: Sequence, k: int, strand: str = "both", *,
                   method: str = "auto") -> list[Hit]:
    """Every window of every reference record within Hamming distance k of a read or its reverse complement.

    ``reference``: one code array per record (windows never span records); ``reads``: code arrays.
    N (code 4) in a read or the reference mismatches everything, as in ``bowtie -v k -a``.  A read equal
    to its own reverse complement is reported on both strands.  Sorted by (read, record, pos, strand).

    ``method``: ``"scan"`` compares every window; ``"seed"`` only the windows where one of the read's
    k + 1 disjoint pieces starts with an exact seed (pigeonhole: a window with at most k mismatches has
    a piece without any); both are exact.  ``"auto"`` seeds when the seeds are at least
    :data:`SEED_MIN` bases long; both seeding modes scan when a read is shorter than k + 1.
    """
    if strand not in STRANDS:
        raise ValueError(f"strand must be one of {', '.join(STRANDS)}, not {strand!r}")
    if k < 0:
        raise ValueError("k must be >= 0")
    if method not in ("auto", "scan", "seed"):
        raise ValueError(f"method must be auto, scan or seed, not {method!r}")
    reads = [_as_codes(r) for r in reads]
    if any(len(r) == 0 for r in reads):
        raise ValueError(f"read {next(i for i, r in enumerate(reads) if len(r) == 0)} is empty")
    patterns, read_of, strand_of = [], [], []
    for i, r in enumerate(reads):
        for s in STRANDS[strand]:
            patterns.append(r if s == "+" else reverse_complement(r))
            read_of.append(i)
            strand_of.append(s)
    if not patterns:
        return []
    flat = np.concatenate(patterns)
    starts = np.concatenate([[0], np.cumsum([len(p) for p in patterns])]).astype(np.int64)
    seed = min(min(len(p) for p in patterns) // (k + 1), SEED_MAX)
    use_seeds = method == "seed" and seed >= 1 or method == "auto" and seed >= SEED_MIN
    found = []
    for rec, ref in enumerate(reference):
        ref = _as_codes(ref)
        if use_seeds:
            kmers, positions = _seed_index(ref, seed)
            pattern, pos, mm = _seeded_scan(ref, kmers, positions, seed, flat, starts, int(k))
        else:
            pattern, pos, mm = _scan(ref, flat, starts, int(k))
        found.extend(Hit(read_of[p], strand_of[p], rec, int(j), int(d)) for p, j, d in zip(pattern, pos, mm))
    found.sort(key=lambda h: (h.read, h.record, h.pos, h.strand))
    return found


@njit(cache=True)
def _scan(ref, flat, starts, k):
    """(pattern index, position, mismatches) of every window within distance k; early exit past k."""
    out = np.empty((1024, 3), dtype=np.int64)
    count = 0
    n = ref.shape[0]
    for p in range(starts.shape[0] - 1):
        pat = flat[starts[p]:starts[p + 1]]
        m = pat.shape[0]
        for j in range(n - m + 1):
            d = 0  # the mismatch count written out here (not a call): 3x faster in numba
            for t in range(m):
                a = ref[j + t]
                if a != pat[t] or a == 4:
                    d += 1
                    if d > k:
                        break
            if d <= k:
                out = _append(out, count, p, j, d)
                count += 1
    return out[:count, 0], out[:count, 1], out[:count, 2]


def _seed_index(ref: np.ndarray, seed: int):
    """Sorted values of the N-free ``seed``-mers of ``ref`` (base 4) and their start positions."""
    if len(ref) < seed:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(ref, seed)
    values = windows.astype(np.int64) @ (4 ** np.arange(seed - 1, -1, -1, dtype=np.int64))
    clean = np.flatnonzero(~(windows == N_CODE).any(axis=1))
    order = np.argsort(values[clean], kind="stable")
    return values[clean][order], clean[order].astype(np.int64)


@njit(cache=True)
def _seeded_scan(ref, kmers, positions, seed, flat, starts, k):
    """Like :func:`_scan`, but only the windows where a seed of one of the k + 1 pieces matches exactly."""
    out = np.empty((1024, 3), dtype=np.int64)
    count = 0
    n = ref.shape[0]
    for p in range(starts.shape[0] - 1):
        pat = flat[starts[p]:starts[p + 1]]
        m = pat.shape[0]
        piece = m // (k + 1)
        candidates = np.empty(16, dtype=np.int64)
        found = 0
        for j in range(k + 1):
            offset = j * piece
            value = 0
            for t in range(seed):
                c = pat[offset + t]
                if c == 4:  # this piece cannot be the exact one
                    value = -1
                    break
                value = value * 4 + c
            if value < 0:
                continue
            lo = np.searchsorted(kmers, value, side="left")
            hi = np.searchsorted(kmers, value, side="right")
            for i in range(lo, hi):
                start = positions[i] - offset
                if 0 <= start <= n - m:
                    if found == candidates.shape[0]:
                        bigger = np.empty(2 * found, dtype=np.int64)
                        bigger[:found] = candidates
                        candidates = bigger
                    candidates[found] = start
                    found += 1
        for j in np.unique(candidates[:found]):
            d = _distance(ref, j, pat, k)
            if d <= k:
                out = _append(out, count, p, j, d)
                count += 1
    return out[:count, 0], out[:count, 1], out[:count, 2]


@njit(cache=True)
def _distance(ref, j, pat, k):
    """Mismatches of ``pat`` against ``ref[j:]`` (N mismatches everything), counted up to k + 1."""
    d = 0
    for t in range(pat.shape[0]):
        a = ref[j + t]
        if a != pat[t] or a == 4:
            d += 1
            if d > k:
                break
    return d


@njit(cache=True)
def _append(out, count, p, j, d):
    """Store one hit, doubling the buffer when full."""
    if count == out.shape[0]:
        bigger = np.empty((2 * count, 3), dtype=np.int64)
        bigger[:count] = out
        out = bigger
    out[count, 0] = p
    out[count, 1] = j
    out[count, 2] = d
    return out


# --- helpers -----------------------------------------------------------------------------------------

def _as_codes(codes) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.ndim != 1:
        raise ValueError("codes must be a 1-D array")
    if codes.size and (codes.min() < 0 or codes.max() > N_CODE):  # checked before uint8 could wrap
        raise ValueError(f"codes must lie in 0..{N_CODE}")
    return np.ascontiguousarray(codes, dtype=np.uint8)


def _dna_codes(codes) -> np.ndarray:
    """Codes without N: the BWT and FM-index have no symbol for it."""
    codes = _as_codes(codes)
    bad = np.flatnonzero(codes == N_CODE)
    if bad.size:
        raise ValueError(f"N (code 4) at index {bad[0]} (0-based): the BWT takes A/C/G/T only; "
                         "drop or replace ambiguity codes first (iupac='drop' or 'replace')")
    return codes
