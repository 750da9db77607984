"""Planning a search from the public sizes, before anything is shared.

Every party computes the same plan from the same public values -- record lengths, read lengths, k, the
strands, the engine options and the agreed memory budget (:func:`securegenome.core.memory.agree_budget`)
-- so plans shape messages without revealing anything.  This module holds:

- :class:`ScanPlan`: the scan engine's batches (which windows and read strands are tested together);
- the scan's memory plan (:func:`scan_memory_plan`): peak bytes per party from the sizes, with the batch
  size and the window-matrix cache chosen to fit the budget;
- the fm engine's memory plan (:func:`fm_memory_plan`, from :mod:`.fmsearch`);
- the cost models (predicted seconds) and :func:`plan_search`: which engine, and how many reference
  shards (:mod:`.sharding`), with the lowest predicted time among the plans that fit the budget -- or a
  one-line :class:`~securegenome.core.memory.MemoryPlanError` naming what the smallest plan needs.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np

from ..core import memory
from ..core import smallfield as sf
from ..core.ledger import TRANSCRIPT_LIMIT
from ..core.memory import GIB, MemoryPlan, MemoryPlanError
from ..errors import InputError
from . import sharding

FALSE_HIT_BITS = 40  # a non-hit window is reported with probability <= 2^-FALSE_HIT_BITS
BATCH_VALUES = 12_000_000  # opened values per batch, window tests x (k+1) x rho: bounds memory and messages
MIN_BATCH_VALUES = 120_000  # below this a batch's round trips dominate: the scan's smallest plan
BATCH_COLUMNS = 64  # read strands shared and scanned together by default (32 reads, both strands)
GEMM_ROWS = 1 << 22  # window-matrix entries copied for one BLAS call when not kept
WINDOW_CACHE_BYTES = 256 << 20  # window matrices kept across batches, per party, at most
MAX_READ_LENGTH = sf.P - 1  # d - e must be non-zero mod P unless d = e, for 0 <= d <= m

#: the scan's cost model, seconds at 3 parties (least-squares fit to benchmarks/search_engines.py on the
#: 2-core benchmark machine, docs/performance.md): fixed, per window x read strand pair, per opened test
SCAN_SECONDS_FIXED = 1.3
SCAN_SECONDS_PER_PAIR = 3.4e-9
SCAN_SECONDS_PER_TEST = 6.4e-8
#: a sharded run starts one session (party processes, connections) per shard
SESSION_SECONDS = 3.0
MAX_AUTO_SHARDS = 1 << 16  #: automatic sharding considers at most this many shards (--shards can give more)

#: the scan's memory model, bytes per party on top of core.memory.BASELINE_BYTES (measured peaks,
#: benchmarks/search_scale.py and tests/test_sharding.py): sharing the one-hot reference (the owner's
#: transient peak: codes, one-hot, polynomial coefficients, every party's shares, centered floats), one
#: opened value of a batch (distances, masks, tests, the querier's received shares), the BLAS row copies
SCAN_BYTES_PER_BASE = 128
SCAN_BYTES_PER_VALUE = 32
SCAN_BYTES_GEMM = 3 * 8 * GEMM_ROWS
TRANSCRIPT_BYTES_PER_VALUE = 36  # a Python int in a list


def repetitions(k: int) -> int:
    """Independent masks per test so that (k+1) P^-rho <= 2^-FALSE_HIT_BITS."""
    return math.ceil((FALSE_HIT_BITS + math.log2(k + 1)) / math.log2(sf.P))


# ------------------------------------------------------------------------------------------ scan plan

@dataclass(frozen=True)
class Block:
    """Windows first..first+windows-1 of one record against the read strands of one length (``columns``):
    a windows x columns matrix of tests, at ``offset`` in its batch's flat vector."""

    record: int
    length: int
    columns: tuple[tuple[int, str], ...]  # (read index, strand) per column
    first: int
    windows: int
    offset: int

    @property
    def size(self) -> int:
        return self.windows * len(self.columns)


@dataclass(frozen=True)
class Batch:
    """One round of the protocol: some windows of every record against the read strands of ``reads``."""

    reads: range
    blocks: tuple[Block, ...]

    @property
    def size(self) -> int:
        return sum(b.size for b in self.blocks)


@dataclass(frozen=True)
class ScanPlan:
    """Everything public about a search: sizes, batches, the layout of every batch.  Same on every party.

    Reads are taken in groups of ``batch_size`` reads (default: BATCH_COLUMNS read strands), shared once
    per group; each group's windows are then cut into batches of at most :meth:`tests_per_batch` window
    tests (``batch_values`` opened values: 2 million tests at k = 2 by default), so memory and message
    sizes stay bounded for long references and large k, and every window matrix row is built once per
    read group.  ``window_cache``: bytes of window matrices each party keeps across batches."""

    record_lengths: tuple[int, ...]
    read_lengths: tuple[int, ...]
    k: int
    strands: tuple[str, ...]
    batch_size: int | None = None
    batch_values: int = BATCH_VALUES
    window_cache: int = WINDOW_CACHE_BYTES

    def validate(self, whole: bool = True) -> None:
        """One-line errors for sizes no engine can search.  ``whole=False`` for a shard of a reference
        (validated whole before it was cut), whose pieces may all be shorter than some read."""
        if not self.record_lengths or sum(self.record_lengths) == 0:
            raise InputError("the reference is empty")
        if not self.read_lengths:
            raise InputError("there are no reads")
        if self.k < 0:
            raise InputError(f"k must be >= 0 (got {self.k})")
        longest = max(self.record_lengths)
        for i, m in enumerate(self.read_lengths):
            if m == 0:
                raise InputError(f"read {i + 1} is empty")
            if self.k >= m:
                raise InputError(f"k = {self.k} is not below the length of read {i + 1} ({m} bp): "
                                 "every window would be a hit")
            if whole and m > longest:
                raise InputError(f"read {i + 1} ({m} bp) is longer than every reference record "
                                 f"(longest {longest} bp)")
        if self.batch_size is not None and self.batch_size < 1:
            raise InputError("--batch-size must be at least 1")

    def check_field(self) -> None:
        """The scan's own bound: a window's mismatch count d <= m must differ from every e <= k modulo P
        unless d = e, or a window with P + e mismatches would test as a hit.  One line if a read is too long."""
        for i, m in enumerate(self.read_lengths):
            if m > MAX_READ_LENGTH:
                raise InputError(f"read {i + 1} ({m:,} bp) is too long for the scan engine: its field "
                                 f"GF(2^22 - 3) needs reads of at most {MAX_READ_LENGTH:,} bp (use --engine fm)")

    def windows(self, m: int) -> int:
        return sum(max(0, n - m + 1) for n in self.record_lengths)

    def window_tests(self) -> int:
        counts = Counter(self.read_lengths)
        return sum(self.windows(m) * c for m, c in counts.items()) * len(self.strands)

    def tests_per_batch(self) -> int:
        return max(1, self.batch_values // ((self.k + 1) * repetitions(self.k)))

    def read_groups(self) -> list[range]:
        size = self.batch_size or max(1, BATCH_COLUMNS // len(self.strands))
        return [range(i, min(i + size, len(self.read_lengths))) for i in range(0, len(self.read_lengths), size)]

    def groups(self, reads: range) -> list[tuple[int, tuple[tuple[int, str], ...]]]:
        """The read strands of ``reads`` grouped by read length: (length, columns)."""
        by_length: dict[int, list] = {}
        for i in reads:
            by_length.setdefault(self.read_lengths[i], []).extend((i, s) for s in self.strands)
        return [(m, tuple(cols)) for m, cols in by_length.items()]

    def batches(self) -> list[Batch]:
        out, limit = [], self.tests_per_batch()
        for reads in self.read_groups():
            pieces = []
            for m, columns in self.groups(reads):
                rows = max(1, limit // len(columns))
                for r, n in enumerate(self.record_lengths):
                    for first in range(0, max(0, n - m + 1), rows):
                        pieces.append((r, m, columns, first, min(rows, n - m + 1 - first)))
            blocks, offset = [], 0
            for r, m, columns, first, count in pieces:
                if blocks and offset + count * len(columns) > limit:
                    out.append(Batch(reads, tuple(blocks)))
                    blocks, offset = [], 0
                blocks.append(Block(r, m, columns, first, count, offset))
                offset += count * len(columns)
            out.append(Batch(reads, tuple(blocks)))
        return out

    @property
    def record_starts(self) -> list[int]:
        return [0, *np.cumsum(self.record_lengths)[:-1].tolist()]


# ------------------------------------------------------------------------------------- cost models

def estimated_seconds(plan: ScanPlan) -> float:
    """What the scan engine should take, from the public sizes (the cost model of ``--engine auto``)."""
    pairs = plan.window_tests()
    tests = pairs * (plan.k + 1) * repetitions(plan.k)
    return SCAN_SECONDS_FIXED + SCAN_SECONDS_PER_PAIR * pairs + SCAN_SECONDS_PER_TEST * tests


def kept_window_bytes(plan: ScanPlan) -> int:
    """Bytes of the window matrices the scan keeps: a record's whole matrix for a read length (float64, 4m
    values per window) while it fits in what ``window_cache`` has left, in the order the batches need them."""
    left = plan.window_cache
    for m in dict.fromkeys(plan.read_lengths):
        for n in plan.record_lengths:
            size = max(0, n - m + 1) * 4 * m * 8
            if 0 < size <= left:
                left -= size
    return plan.window_cache - left


def _fixed_bytes(plan: ScanPlan) -> int:
    """What a scan party holds whatever the batch size: the process, the shared reference, BLAS row copies,
    and the querier's transcript of what it was opened (at most ledger.TRANSCRIPT_LIMIT values)."""
    opened = plan.window_tests() * (plan.k + 1) * repetitions(plan.k)
    return (memory.BASELINE_BYTES + SCAN_BYTES_PER_BASE * sum(plan.record_lengths) + SCAN_BYTES_GEMM
            + TRANSCRIPT_BYTES_PER_VALUE * min(opened, TRANSCRIPT_LIMIT))


def scan_peak_bytes(plan: ScanPlan) -> int:
    """Predicted peak memory of one party running ``plan`` (the largest of the parties')."""
    opened = min(plan.batch_values, plan.window_tests() * (plan.k + 1) * repetitions(plan.k))
    return (_fixed_bytes(plan) + SCAN_BYTES_PER_VALUE * opened
            + kept_window_bytes(plan))


def scan_memory_plan(plan: ScanPlan, budget: int) -> tuple[ScanPlan, MemoryPlan]:
    """The scan with batch size and window cache chosen to fit ``budget``: up to BATCH_VALUES opened values
    per batch (no fewer than MIN_BATCH_VALUES), then what remains, up to WINDOW_CACHE_BYTES, for kept window
    matrices.  If even the smallest batches do not fit, the returned plan (smallest) does not fit either."""
    room = max(0, budget - _fixed_bytes(plan))
    values = int(min(BATCH_VALUES, max(MIN_BATCH_VALUES, room // (2 * SCAN_BYTES_PER_VALUE))))
    cache = int(min(WINDOW_CACHE_BYTES, max(0, room - values * SCAN_BYTES_PER_VALUE)))
    fitted = replace(plan, batch_values=values, window_cache=cache)
    per_batch, windows = fitted.tests_per_batch(), {m: fitted.windows(m) for m in set(fitted.read_lengths)}
    batches = sum(-(-sum(windows[m] * len(columns) for m, columns in fitted.groups(reads)) // per_batch)
                  for reads in fitted.read_groups())  # about: blocks of a group are packed into its batches
    return fitted, MemoryPlan("scan", scan_peak_bytes(fitted), estimated_seconds(fitted),
                              {"batches": batches, "batch_values": values, "window_cache_bytes": cache})


def fm_memory_plan(plan: ScanPlan, *, cap, step, build: str, budget: int) -> MemoryPlan:
    """The fm engine's own plan (:func:`.fmsearch.plan`), after its options are checked."""
    from . import fmsearch

    fmsearch.check_parameters(cap, step)
    return fmsearch.plan(sum(plan.record_lengths), list(plan.read_lengths), plan.k, len(plan.strands), cap=cap,
                         step=step, build=build, budget=budget)


def engine_plan(name: str, plan: ScanPlan, *, cap, step, build: str, budget: int) -> MemoryPlan:
    if name == "scan":
        return scan_memory_plan(plan, budget)[1]
    return fm_memory_plan(plan, cap=cap, step=step, build=build, budget=budget)


# ------------------------------------------------------------------------ engine and shard choice

@dataclass(frozen=True)
class SearchPlan:
    """The chosen plan: engine, number of reference shards, the memory plan of the largest shard and the
    predicted seconds of the whole run (shards run ``workers`` at a time)."""

    engine: str
    shards: int
    memory: MemoryPlan
    seconds: float
    budget: int
    considered: tuple = field(default=(), compare=False)

    def to_dict(self) -> dict:
        per_shard = self.memory.to_dict()
        per_shard["shard_predicted_seconds"] = per_shard.pop("predicted_seconds")
        return {"engine": self.engine, "shards": self.shards, "budget_gib": round(self.budget / GIB, 3),
                **per_shard, "predicted_seconds": round(self.seconds, 1)}


def _candidate_shards(plan: ScanPlan, workers: int) -> list[int]:
    """Shard counts worth considering: 1, then W, 2W, 4W, ... while a shard keeps a useful size."""
    most = sharding.max_shards(plan.record_lengths, plan.read_lengths)
    smallest = max(10 * max(plan.read_lengths), 10_000)
    out, s = [1], max(2, workers)
    while s <= min(most, MAX_AUTO_SHARDS) and sum(plan.record_lengths) / s >= smallest:
        out.append(s)
        s *= 2
    return out


def _engines(engine: str, plan: ScanPlan) -> list[str]:
    if engine != "auto":
        if engine == "scan":
            plan.check_field()
        return [engine]
    try:
        plan.check_field()
    except InputError:
        return ["fm"]
    return ["scan", "fm"]


def plan_search(plan: ScanPlan, engine: str, *, cap=None, step=None, build: str = "owner",
                budget: int | None = None, shards: int | None = None, workers: int = 1) -> SearchPlan:
    """The engine and shard count with the lowest predicted time among the plans that fit ``budget`` bytes
    per party (no limit if None).  ``shards``: a fixed count, else automatic (1 if that fits and is
    fastest).  Raises :class:`MemoryPlanError` (one line, the same on every party) if nothing fits."""
    budget = int(budget) if budget is not None else 1 << 62
    counts = [min(int(shards), sharding.max_shards(plan.record_lengths, plan.read_lengths))] if shards \
        else _candidate_shards(plan, workers)
    options = []
    for count in counts:
        pieces = sharding.cut(plan.record_lengths, plan.read_lengths, count)
        biggest = max(pieces, key=lambda s: s.bases)
        part = replace(plan, record_lengths=biggest.record_lengths)
        for name in _engines(engine, plan):
            mp = engine_plan(name, part, cap=cap, step=step, build=build, budget=budget)
            rounds = math.ceil(len(pieces) / max(1, workers))
            seconds = mp.seconds if len(pieces) == 1 else rounds * (mp.seconds + SESSION_SECONDS)
            options.append(SearchPlan(name, len(pieces), mp, seconds, budget))
    fitting = [o for o in options if o.memory.fits(budget)]
    if not fitting:
        low = min(options, key=lambda o: o.memory.peak_bytes)
        where = f"{low.engine} engine, {low.shards} shard{'s' if low.shards > 1 else ''}"
        more = "" if shards else f" (tried up to {max(counts)} shards)"
        raise MemoryPlanError(f"the search needs at least {low.memory.peak_bytes / GIB:.2f} GiB per party "
                              f"({where}){more}, more than the budget of {budget / GIB:.2f} GiB: raise --memory"
                              + (" or use more --shards" if shards else ""))
    best = min(fitting, key=lambda o: (o.seconds, o.shards))
    return replace(best, considered=tuple((o.engine, o.shards, o.memory.peak_bytes, round(o.seconds, 1))
                                          for o in options))


def choose_engine(engine: str, plan: ScanPlan, *, cap: int | None = None, step: int | None = None,
                  build: str = "owner", budget: int | None = None) -> str:
    """``engine`` itself, or for ``"auto"`` the engine whose unsharded plan fits ``budget`` (no limit if
    None) and is predicted fastest."""
    return plan_search(plan, engine, cap=cap, step=step, build=build, budget=budget, shards=1).engine
