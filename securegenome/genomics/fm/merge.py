"""The fm engine's one interactive pattern, the *merge*: for every query, the lanes of the first table row
whose key is not below the query's key; and the shuffle that opens each pattern's values in random order.

A merge is one stable radix sort of rows and queries together (core's radix rounds, digits built on demand
from the keys, so no copy of all key bits is ever held), one scatter (shuffle, open, place), a suffix sum of
lane differences (local) and the scatter's shuffle undone.  Nothing is opened but shuffled destinations
(uniformly random permutations).  The lanes are moved in column chunks of a planned width: one shuffle
serves every chunk (a :class:`~securegenome.core.SecretShuffle` applies the same permutation on every
use), so memory is rows x chunk width, not rows x lanes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ... import core
from ...core import DIGIT_BITS, KeyRing, SMALL_FIELD as FIELD, SecretShuffle, bits_of, open_shuffled, placed

P = FIELD.modulus


@dataclass(frozen=True)
class Columns:
    """A rows x width matrix of shares whose columns are made on demand: ``make(lo, hi)`` gives columns
    lo..hi-1 as int64 (public values are their own shares).  Index rows are stored compactly (uint32) or
    computed (row numbers, shifted SA entries), never all widened at once."""

    rows: int
    width: int
    make: Callable[[int, int], np.ndarray]

    @classmethod
    def of(cls, array: np.ndarray) -> Columns:
        return cls(array.shape[0], array.shape[1], lambda lo, hi: array[:, lo:hi].astype(np.int64))

    @classmethod
    def public_bits(cls, values: np.ndarray, width: int) -> Columns:
        """The bits of public integers, least significant first."""
        return cls(len(values), width, lambda lo, hi: (values[:, None] >> np.arange(lo, hi)) & 1)

    def __call__(self, lo: int, hi: int) -> np.ndarray:
        return self.make(lo, hi)

    def concat(self, other: Columns) -> Columns:
        """Side by side (same rows)."""
        def make(lo, hi):
            parts = []
            if lo < self.width:
                parts.append(self.make(lo, min(hi, self.width)))
            if hi > self.width:
                parts.append(other.make(max(lo, self.width) - self.width, hi - self.width))
            return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
        return Columns(self.rows, self.width + other.width, make)


async def destinations(keys: Columns, keyring: KeyRing, desc: str | None = None,
                       digit_bits: int = DIGIT_BITS) -> np.ndarray:
    """Raw shares of the stable sort destinations of the rows of a secret bit matrix (least significant
    bit first): the core's radix sort, each digit's columns made only when its round comes."""
    return await core.radix_destinations(keys, keyring, digit_bits, desc)


async def merge_lanes(table_keys: Columns, query_keys: np.ndarray, lanes: Columns, end: np.ndarray,
                      keyring: KeyRing, why: str, *, chunk: int, desc: str | None = None,
                      digit_bits: int = DIGIT_BITS) -> np.ndarray:
    """For every query: the lanes of the first table row whose key is not below the query's key.

    ``table_keys`` (rows x bits) and ``query_keys`` (queries x bits) are shares of bits, least significant
    first; the table rows must already be in key order.  Ties: the query comes first.  ``lanes`` (rows x c)
    are values per table row; a query after every row gets ``end``.  Lanes move ``chunk`` columns at a time;
    the sort's digits have ``digit_bits`` bits (2: less memory per row, a few more rounds).
    """
    rows, queries = table_keys.rows, query_keys.shape[0]

    def key_columns(lo, hi):  # column 0: the tie bit (rows 1, queries 0), then the keys
        out = np.empty((rows + queries, hi - lo), dtype=np.int64)
        first = 0
        if lo == 0:
            out[:rows, 0], out[rows:, 0] = 1, 0
            first = 1
        if hi > max(lo, 1):
            a, b = max(lo, 1) - 1, hi - 1
            out[:rows, first:], out[rows:, first:] = table_keys(a, b), query_keys[:, a:b]
        return out

    dest = await destinations(Columns(rows + queries, table_keys.width + 1, key_columns), keyring, desc,
                              digit_bits)
    pi = SecretShuffle(rows + queries, keyring)
    [dest_shuffled] = await pi.apply_raw([dest], [FIELD])
    q = await open_shuffled(dest_shuffled, why=why)
    del dest, dest_shuffled
    out = np.empty((queries, lanes.width), dtype=np.int64)
    for lo in range(0, lanes.width, chunk):
        hi = min(lo + chunk, lanes.width)
        values = lanes(lo, hi)
        payload = np.zeros((rows + queries, hi - lo), dtype=np.int64)
        payload[:rows - 1] = (values[:-1] - values[1:]) % P  # row differences telescope to the next row's
        payload[rows - 1] = (values[-1] - end[lo:hi]) % P
        del values
        [shuffled] = await pi.apply_raw([payload], [FIELD])
        del payload
        suffix = np.cumsum(placed(shuffled, q)[::-1], axis=0)[::-1] % P
        del shuffled
        [back] = await pi.apply_raw([suffix[q]], [FIELD], inverse=True)
        out[:, lo:hi] = (back[rows:] + end[lo:hi]) % P
    return out


async def shuffle_within_groups(values: np.ndarray, groups: np.ndarray, keyring: KeyRing) -> np.ndarray:
    """The rows of ``values`` (n x c shares) in a uniformly random order within each group, independently
    per group; ``groups`` (public, ascending) keeps its layout, so the receiver still knows each row's
    group but not which slot it came from.  A shuffle of everything, a stable radix sort by the (now
    secret) group ids, a scatter: nothing opened but uniformly random permutations."""
    n = len(groups)
    if n <= 1 or len(np.unique(groups)) == n:
        return values
    width = max(1, int(groups.max()).bit_length())
    pi = SecretShuffle(n, keyring)
    group_bits, shuffled = await pi.apply_raw([bits_of(groups, width), values], [FIELD, FIELD])
    dest = await destinations(Columns.of(group_bits), keyring)
    scatter = SecretShuffle(n, keyring)
    dest_shuffled, shuffled = await scatter.apply_raw([dest, shuffled], [FIELD, FIELD])
    q = await open_shuffled(dest_shuffled,
                            why="group destinations after two fresh secret uniform shuffles: a uniformly random "
                                "permutation; rows land in their groups in random order")
    return placed(shuffled, q)
