"""Public layout of an fm search: patterns (read strands or seeds), their backward-search chunks, bit widths.

Everything here is a function of public sizes (read lengths, k, the step h, the reference length), so every
party computes the same layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...errors import InputError

DEFAULT_CAP = 8  #: candidate rows per pattern (read strand, or seed for k > 0)
REPETITIONS = 2  #: independent masks per test: a false zero needs all to vanish, p^-2 < 2^-61
BUILDS = ("owner", "secure")
BASES_PER_WORD = 10  #: bases packed per GF(2^31-1) element in the verification table: 3 bits each (code, N)
FIELD_BITS = 31  #: bits of a GF(2^31-1) element (its bit decomposition's width)
SORT_LIMIT = 2**31 - 1  #: the radix sort's bound: rows + queries of one merge must stay below it


@dataclass(frozen=True)
class Pattern:
    """One pattern of the search: the part [offset, offset + length) of a read strand."""

    read: int
    strand: str
    offset: int
    length: int
    read_length: int


def seed_layout(m: int, k: int) -> list[tuple[int, int]]:
    """(offset, length) of the k + 1 seeds of a read of m bases (k = 0: the whole read)."""
    pieces = k + 1
    base, extra = divmod(m, pieces)
    out, offset = [], 0
    for i in range(pieces):
        length = base + (1 if i < extra else 0)
        out.append((offset, length))
        offset += length
    return out


def patterns_of(read_lengths, k: int, strands) -> list[Pattern]:
    """Every pattern of a batch, grouped by read strand (a read strand's seeds are consecutive)."""
    return [Pattern(i, s, o, length, m) for i, m in enumerate(read_lengths) for s in strands
            for o, length in seed_layout(m, k)]


def pointer_bits(rows: int, step: int) -> int:
    """Bits of an interval bound (0..rows) and of the psi field (also n - x < step)."""
    return max(rows.bit_length(), (step - 1).bit_length(), 1)


def position_bits(n: int) -> int:
    """Bits of a text position 0..n."""
    return max(n.bit_length(), 1)


def steps_of(length: int, h: int) -> int:
    return max(1, math.ceil(length / h))


def chunk_of(length: int, h: int, step: int) -> tuple[int, int]:
    """[start, stop) within the pattern of the chunk handled in backward-search step ``step`` (0 = first)."""
    total = steps_of(length, h)
    stop = length - (0 if step == 0 else (length - (total - 1) * h) + (step - 1) * h)
    start = max(0, stop - (h if step else length - (total - 1) * h))
    return start, stop


def check_parameters(cap: int | None, step: int | None) -> None:
    """One-line errors for bad fm options (None: the default)."""
    if cap is not None and cap < 1:
        raise InputError(f"--cap must be at least 1 (got {cap})")
    if step is not None and step < 1:
        raise InputError(f"--fm-step must be at least 1 (got {step})")


def default_step(read_lengths, k: int) -> int:
    """One backward-search step per pattern: the longest pattern (read, or seed for k > 0)."""
    return max(length for m in read_lengths for _, length in seed_layout(m, k))


def words_per_window(m: int) -> int:
    """Packed words of a verification window of m bases."""
    return math.ceil(m / BASES_PER_WORD)


def verify_shift(read_lengths, k: int) -> int:
    """The largest seed offset: candidate starts are keyed as position + shift, never negative."""
    return max(offset for m in read_lengths for offset, _ in seed_layout(m, k))


def verify_key_bits(n: int, shift: int) -> int:
    """Bits of a verification key: positions -shift..n + shift + 1, shifted by ``shift``."""
    return max((n + 2 * shift + 1).bit_length(), 1)


def check_field_bounds(n: int, read_lengths, k: int, strands: int, cap: int, batch: int) -> None:
    """One-line errors for sizes the protocol's fields cannot hold (all public).

    The merges sort rows + queries with destinations in GF(2^31-1) (core's radix sort: fewer than
    2^31 - 1 elements); interval bounds, positions and candidate keys are field elements and their bits."""
    rows = n + 1
    batch_lengths = list(read_lengths[:batch])
    patterns = sum(strands * (k + 1) for _ in batch_lengths)
    merged = rows + 2 * patterns
    if merged >= SORT_LIMIT:
        raise InputError(f"the fm engine cannot sort {merged:,} index rows and queries in one merge (at most "
                         f"{SORT_LIMIT - 1:,}): use fewer reads per --batch-size or shard the reference")
    if k and rows + verify_shift(read_lengths, k) + cap * patterns >= SORT_LIMIT:
        raise InputError("the fm engine's verification merge exceeds the sort's bound of 2^31 - 1 rows: "
                         "use a smaller --batch-size or --cap")
    if k and verify_key_bits(n, verify_shift(read_lengths, k)) >= FIELD_BITS:
        raise InputError(f"a reference of {n:,} bases is too long for the fm engine's field (positions must "
                         f"stay below 2^30): shard the reference")
