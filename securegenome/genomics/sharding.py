"""Reference sharding: cut a reference into overlapping pieces, search each as its own session, merge.

A search is embarrassingly parallel over the reference: a window of a read of length m lies inside any
stretch of the reference that contains its m bases.  :func:`cut` splits the *window starts* of the
reference into ``S`` shards of (almost) equal size; a shard's piece of a record is the bases its windows
need -- its own starts plus the longest read minus one -- so consecutive shards overlap by
(longest read - 1) bases and every window lies whole in the shard that owns its start.  A window in an
overlap is found by two shards; only the owner of its start keeps it (:func:`shard_hits`), so the merged
hits are exactly the unsharded ones, in the same order (:func:`merge_hits`).

What a shard reveals: the cut is a function of the public sizes only (record lengths, read lengths, the
shard count), so every party computes the same pieces without learning anything; each shard session then
makes public the lengths of its pieces -- again a function of the same public sizes -- and opens to the
querier exactly what the unsharded search would open for those windows.  Nothing here looks at a base.

This module is plaintext bookkeeping on public sizes; the sessions are run by :mod:`.searchrun`.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from .oracle import Hit


@dataclass(frozen=True)
class Piece:
    """Bases ``start..stop-1`` of record ``record``; the shard owns the windows starting at
    ``first..last-1`` (record coordinates)."""

    record: int
    start: int
    stop: int
    first: int
    last: int

    @property
    def length(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Shard:
    """One search session's part of the reference: its pieces, each a record of that session."""

    index: int
    pieces: tuple[Piece, ...]

    @property
    def bases(self) -> int:
        return sum(p.length for p in self.pieces)

    @property
    def record_lengths(self) -> tuple[int, ...]:
        return tuple(p.length for p in self.pieces)


def window_starts(record_lengths, shortest: int) -> list[int]:
    """Per record, how many windows a read of the shortest length has there."""
    return [max(0, n - shortest + 1) for n in record_lengths]


def max_shards(record_lengths, read_lengths) -> int:
    """The most shards the reference can be cut into: one window start each."""
    return max(1, sum(window_starts(record_lengths, min(read_lengths))))


def cut(record_lengths, read_lengths, shards: int) -> list[Shard]:
    """The reference cut into ``shards`` (at most :func:`max_shards`) shards of nearly equal window counts.

    Shard i owns the window starts floor(i T / S) .. floor((i+1) T / S) - 1 of the T starts of the
    shortest read, counted over the records in order; its piece of a record runs from its first owned
    start (moved left where the record ends, so that the piece holds at least one window of the longest
    read when the record does) to its last owned start + the longest read - 1."""
    shortest, longest = min(read_lengths), max(read_lengths)
    starts = window_starts(record_lengths, shortest)
    total = sum(starts)
    shards = max(1, min(int(shards), total))
    bounds = [i * total // shards for i in range(shards + 1)]
    offsets = np.cumsum([0, *starts]).tolist()  # global index of each record's first window start
    out = []
    for i in range(shards):
        lo, hi = bounds[i], bounds[i + 1]
        pieces = []
        for r in range(bisect.bisect_right(offsets, lo) - 1, bisect.bisect_left(offsets, hi)):
            n = record_lengths[r]
            first, last = max(lo, offsets[r]) - offsets[r], min(hi, offsets[r + 1]) - offsets[r]
            if first >= last:
                continue
            start = max(0, min(first, n - longest))
            stop = min(n, last - 1 + longest)
            pieces.append(Piece(r, start, stop, first, last))
        out.append(Shard(i, tuple(pieces)))
    return out


def piece_records(records, pieces) -> list[tuple[str, np.ndarray, str | None]]:
    """The reference owner's records cut to a shard's pieces, (name, codes, quality) like the records."""
    out = []
    for p in pieces:
        if p.record >= len(records) or records[p.record][1].size < p.stop:
            raise ValueError(f"record {p.record + 1} is shorter than the run planned: did the reference change?")
        name, codes, _ = records[p.record]
        out.append((name, codes[p.start:p.stop], None))
    return out


def shard_hits(shard: Shard, hits) -> list[Hit]:
    """A shard session's hits in whole-reference coordinates, only the windows the shard owns."""
    out = []
    for h in hits:
        piece = shard.pieces[h.record]
        pos = piece.start + h.pos
        if piece.first <= pos < piece.last:
            out.append(Hit(h.read, h.strand, piece.record, pos, h.mismatches))
    return out


def merge_hits(parts) -> list[Hit]:
    """The shards' hits as one list, each window once, in the unsharded search's order."""
    return sorted({h for part in parts for h in part}, key=lambda h: (h.read, h.record, h.pos, h.strand))
