"""The fm engine's plan: from the public sizes and a memory budget, the step h, the column chunk of every
shuffle, the batch of reads and the verification chunk -- with the peak memory per party and the time they
predict.  :func:`plan` is the contract with the search orchestration (``--engine auto``, ``--memory``).

Memory model (bytes per party, measured on the 3-party runs of ``benchmarks/fm_scale.py``):
the baseline process, the index kept for the whole run (uint32 key bits, SA, N flags, the opened shuffled
SA, the packed verification table), the ledger's transcript (4 bytes per opened value, every sort round's
shuffled destinations included, up to ``ledger.TRANSCRIPT_LIMIT`` values), plus the largest transient of the phase running: a radix round
(:data:`BYTES_SORT_ROW` per merged row), a shuffle of a column chunk (:data:`BYTES_SHUFFLED` per value in
flight), a bit decomposition (:data:`BYTES_DECOMPOSED` per element).  Time model: seconds per unit of
:func:`cost_features` (:data:`COST_SECONDS`, least squares on the same benchmark).
"""

from __future__ import annotations

import math

from ...core.ledger import TRANSCRIPT_LIMIT
from ...core.memory import BASELINE_BYTES, MemoryPlan
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from .layout import (DEFAULT_CAP, FIELD_BITS, REPETITIONS, default_step, pointer_bits, seed_layout, steps_of,
                     verify_key_bits, verify_shift, words_per_window)

FM_BATCH = 10_000  #: reads per backward-search batch by default (the index is reused across batches)
CHUNKS = (16, 8, 4, 2, 1)  #: columns moved per shuffle, widest first
BATCHES = (FM_BATCH, 5000, 2500, 1000)  #: reads per batch the planner tries (each batch merges the whole index)
MIN_STEP = 4  #: the smallest step h the planner tries
MIN_VERIFY_CHUNK = 1024  #: candidates decomposed at once, at least (each chunk costs ~130 rounds)
#: per merged row during a radix round (destinations, digits, one-hot of the digit), by digit width:
#: 533 and 341 bytes measured with 1 party at 10^6 rows, 3 parties add the re-sharing messages
BYTES_SORT_ROW = {3: 700, 2: 450}
DIGIT_SECONDS = {3: 1.0, 2: 1.15}  #: relative seconds per key bit of a radix sort by digit width (docs/core.md)
BYTES_SHUFFLED = 110  #: per value of a column chunk in a shuffle (copies, shares, messages in flight)
BYTES_DECOMPOSED = FIELD_BITS * 8 * 5  #: per field element being bit-decomposed (31 bit columns, ~5 copies)
TRANSCRIPT_BYTES = 4  #: per opened value kept in core's ledger transcript (uint32), up to ledger.TRANSCRIPT_LIMIT values

#: seconds per unit of each :func:`cost_features` term at 3 parties, refitted (``benchmarks/fm_scale.py --refit``)
#: to the unsharded fm runs of benchmarks/search_scale.py at 1 Mbp (issue 14, second pass)
COST_SECONDS = {"build": 1.18e-7, "row_bits": 8.51e-7, "row_lanes": 8.86e-7, "decomposed": 6.99e-8, "calls": 0.0233}


def _steps_to_try(read_lengths, k: int, step: int | None) -> list[int]:
    if step is not None:
        return [step]
    h = default_step(read_lengths, k)
    out = [h]
    while h // 2 >= MIN_STEP:
        h //= 2
        out.append(h)
    return out


@dataclass(frozen=True)
class _Batch:
    """What the plan needs to know of one batch of reads: counts by length, never the patterns themselves."""

    reads: int
    lengths: tuple[tuple[int, int], ...]  # (read length, reads of that length)

    def patterns(self, k: int, strands: int) -> int:
        return self.reads * strands * (k + 1)

    def pattern_lengths(self, k: int) -> set[int]:
        return {length for m, _ in self.lengths for _, length in seed_layout(m, k)}

    def steps(self, k: int, h: int) -> int:
        return max(steps_of(length, h) for length in self.pattern_lengths(k))

    @property
    def longest(self) -> int:
        return max(m for m, _ in self.lengths)


class _Reads(tuple):
    """Read lengths with their hash computed once (the plan looks their batches up hundreds of times)."""

    def __hash__(self):
        if "_hash" not in self.__dict__:
            self.__dict__["_hash"] = tuple.__hash__(self)
        return self.__dict__["_hash"]


def _batches(read_lengths, batch: int | None) -> list[_Batch]:
    reads = read_lengths if isinstance(read_lengths, _Reads) else _Reads(read_lengths)
    return list(_batches_cached(reads, batch or FM_BATCH))


@lru_cache(maxsize=32)
def _batches_cached(read_lengths: tuple, size: int) -> tuple[_Batch, ...]:
    out = []
    for i in range(0, len(read_lengths), size):
        part = read_lengths[i:i + size]
        out.append(_Batch(len(part), tuple(sorted(Counter(part).items()))))
    return tuple(out)


def cost_features(n: int, read_lengths, k: int, strands: int, *, cap: int | None = None, step: int | None = None,
                  chunk: int = 8, batch: int | None = None, verify_chunk: int | None = None,
                  digit_bits: int = 3) -> dict[str, float]:
    """What the fm engine's time grows with, from the public sizes: the index build (rows x columns
    gathered), the merges' rows x key bits (radix sorts) and rows x lanes (values scattered), the
    elements bit-decomposed (verification), and the shuffle calls (round trips)."""
    cap = DEFAULT_CAP if cap is None else cap
    h = step or default_step(read_lengths, k)
    rows = n + 1
    pb = pointer_bits(rows, h)
    key_bits = pb + 2 + 2 * h
    out = {"build": rows * (2 * pb + 1 + 2 * h), "row_bits": 0.0, "row_lanes": 0.0, "decomposed": 0.0,
           "calls": math.ceil((2 * pb + 1 + 2 * h) / chunk)}
    for b in _batches(read_lengths, batch):
        patterns = b.patterns(k, strands)
        distinct = len(b.pattern_lengths(k))
        merged = rows + 2 * patterns
        final = 1 + cap * (1 + distinct) if k == 0 else 1 + cap
        steps = b.steps(k, h)
        out["row_bits"] += steps * merged * key_bits * DIGIT_SECONDS[digit_bits]
        out["row_lanes"] += merged * (final + (steps - 1) * pb)
        out["calls"] += steps * (key_bits / digit_bits + 2 * math.ceil(max(final, pb) / chunk))
        candidates = cap * patterns
        if k == 0:
            out["row_lanes"] += 3 * candidates * (1 + REPETITIONS)  # the shuffle within read strands
            continue
        shift = verify_shift([m for m, _ in b.lengths], k)
        words = words_per_window(b.longest)
        verify_rows = rows + shift + candidates
        out["row_bits"] += verify_rows * (verify_key_bits(n, shift) + 1) * DIGIT_SECONDS[digit_bits]
        out["row_lanes"] += verify_rows * (words + len(b.lengths)) + 3 * candidates * (REPETITIONS * (k + 1) + 1)
        out["decomposed"] += candidates * (words + 1) * FIELD_BITS
        chunks = math.ceil(candidates / (verify_chunk or candidates))
        out["calls"] += chunks * 4 * FIELD_BITS + 2 * math.ceil((words + 1) / chunk)
    return out


def estimated_seconds(n: int, read_lengths, k: int, strands: int, *, cap: int | None = None,
                      step: int | None = None, **choices) -> float:
    """What the fm engine should take (index build included) with the given choices."""
    features = cost_features(n, read_lengths, k, strands, cap=cap, step=step, **choices)
    return sum(COST_SECONDS[name] * value for name, value in features.items())


def _peak(n: int, read_lengths, k: int, strands: int, cap: int, h: int, chunk: int, batch: int | None,
          verify_chunk: int | None, digit_bits: int = 3) -> tuple[int, int]:
    """(peak bytes per party, bytes of one verification candidate in flight) of one choice."""
    rows = n + 1
    pb = pointer_bits(rows, h)
    kept = BASELINE_BYTES + rows * (4 * (pb + 1 + 2 * h) + 8 + 8 + 8 + 1)  # keys, SA, N flags, opened SA, text
    build = rows * (2 * 8 + 6 * 8 + chunk * BYTES_SHUFFLED)  # code bits, the owner's suffix sorting, a chunk
    phases = [build]
    per_candidate = 0
    opened = rows  # values opened to every party (the shuffled SA, every sort round): its transcript keeps the first
    for b in _batches(read_lengths, batch):
        patterns = b.patterns(k, strands)
        distinct = len(b.pattern_lengths(k))
        queries = 2 * patterns
        merged = rows + queries
        opened += b.steps(k, h) * merged * (math.ceil((pb + 3 + 2 * h) / digit_bits) + 1)
        final = 1 + cap * (1 + distinct) if k == 0 else 1 + cap
        lanes = final + pb
        during = queries * (pb + 2 + 2 * h + lanes) * 8 + (rows * (1 + distinct) * 8 if k == 0 else 0)
        phases.append(during + max(merged * BYTES_SORT_ROW[digit_bits], merged * (8 + chunk * BYTES_SHUFFLED)))
        if k == 0:
            continue
        candidates = cap * patterns
        shift = verify_shift([m for m, _ in b.lengths], k)
        words, m = words_per_window(b.longest), b.longest
        table = (rows + shift) * words * 4
        held = table + candidates * (verify_key_bits(n, shift) + words + len(b.lengths)
                                     + 2 * (REPETITIONS * (k + 1) + 1)) * 8
        held += b.reads * strands * m * 4 * 8  # the shared one-hot read strands
        merged = rows + shift + candidates
        opened += merged * (math.ceil((verify_key_bits(n, shift) + 1) / digit_bits) + 1)
        phases.append(during + held + max(merged * BYTES_SORT_ROW[digit_bits], merged * (8 + chunk * BYTES_SHUFFLED)))
        # + one-hot, indicators: 16.5 kB per 100 bp candidate with 1 party, ~23 kB with 3 (fm_scale, 200 kbp)
        per_candidate = max(per_candidate, words * BYTES_DECOMPOSED + m * 4 * 8 * 6)
        phases.append(during + held + (candidates if verify_chunk is None else verify_chunk) * per_candidate)
    return kept + TRANSCRIPT_BYTES * min(opened, TRANSCRIPT_LIMIT) + max(phases), per_candidate


def _option(n, read_lengths, k, strands, cap, h, batch, chunk, digit_bits, build, budget) -> MemoryPlan:
    """One candidate plan: its verification chunk sized to the memory left, its peak and seconds."""
    shape = (n, read_lengths, k, strands, cap, h, chunk, batch)
    peak, per_candidate = _peak(*shape, None, digit_bits)
    verify_chunk = None
    if per_candidate:
        largest = cap * _batches(read_lengths, batch)[0].patterns(k, strands)
        fixed, _ = _peak(*shape, 0, digit_bits)
        verify_chunk = int(min(largest, max(MIN_VERIFY_CHUNK, (budget - fixed) // per_candidate)))
        peak, _ = _peak(*shape, verify_chunk, digit_bits)
    seconds = estimated_seconds(n, read_lengths, k, strands, cap=cap, step=h, chunk=chunk, batch=batch,
                                verify_chunk=verify_chunk, digit_bits=digit_bits)
    details = {"step": h, "chunk": chunk, "batch": batch, "verify_chunk": verify_chunk, "digit_bits": digit_bits,
               "build": build}
    return MemoryPlan(f"fm h={h} chunk={chunk} batch={batch} digits={digit_bits}", int(peak), seconds, details)


def plan(n: int, read_lengths: list[int], k: int, strands: int, *, cap=None, step=None, build="owner",
         budget: int, batch: int | None = None) -> MemoryPlan:
    """The plan the fm engine runs for these public sizes within ``budget`` bytes per party.

    Tries steps h (the longest pattern, then halving, unless ``step`` is given), batches of reads (unless
    ``batch`` is given), column chunks and radix digit widths (3 or 2 bits), sizes
    the verification chunk to the memory left, and returns the fastest plan that fits; if none does, the
    one with the smallest peak (``peak_bytes > budget``: the caller stops before sharing anything).
    ``details``: ``step``, ``chunk``, ``batch`` (reads per backward-search batch), ``digit_bits``, ``verify_chunk``
    (candidates compared at once) -- what :func:`~.protocol.fm_engine` runs."""
    cap = DEFAULT_CAP if cap is None else cap
    read_lengths = _Reads(read_lengths)
    options = []
    batches = [batch] if batch else [size for size in BATCHES if size == FM_BATCH or size < len(read_lengths)]
    batches = [min(size, len(read_lengths)) for size in batches]
    for h in _steps_to_try(read_lengths, k, step):
        for size in batches:
            for chunk in CHUNKS:
                for digit_bits in BYTES_SORT_ROW:
                    options.append(_option(n, read_lengths, k, strands, cap, h, size, chunk, digit_bits, build,
                                           budget))
    fitting = [p for p in options if p.fits(budget)]
    if fitting:
        return min(fitting, key=lambda p: (p.seconds, p.peak_bytes))
    return min(options, key=lambda p: (p.peak_bytes, p.seconds))
