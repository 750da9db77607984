"""Secure k-mismatch search: where each read matches a reference with at most k mismatches, on either strand.

Roles: the *reference owner* inputs the reference (records; windows never span two of them), the
*querier* inputs the reads, the other parties only compute.  Only the querier learns the result: every
hit (read, strand, record, 0-based leftmost position on the forward record, mismatches), the answer
``bowtie -v k -a`` gives in the clear and :func:`securegenome.genomics.oracle.kmismatch_hits` (the
plaintext twin) computes.  Public: the number, names and lengths of the records, the number and lengths
of the reads, k, the strands searched.

Protocol, per batch of reads (docs/search.md has the full argument and its cost):

1. the reference (once) and the batch's reads, both strands, are secret-shared one-hot over GF(P),
   P = 2^22 - 3 (N is the zero vector, so it mismatches everything);
2. matches at window j = sum_t R[j+t] . Q[t]: one local matrix product per read length and record,
   exact in float64 BLAS on centered shares, giving degree-2t shares of d = m - matches;
   one degree reduction (a single message to each peer) for all windows of the batch;
3. for e = 0..k and rho independent repetitions, the querier is opened r * (d - e) with r a fresh
   secret uniform mask it cannot know: zero iff the window has exactly e mismatches (or r = 0), otherwise
   uniform.  So the querier learns d where d <= k and nothing else.  A window is reported when all rho
   repetitions are zero; a false hit needs rho masks to vanish: probability <= (k+1) P^-rho <= 2^-40.
   The masked products are opened straight from their degree-2t shares with a pseudorandom zero-sharing
   added, which costs no resharing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from .. import core
from ..core import memory, mpc
from ..errors import InputError
from ..core import smallfield as sf
from . import sharding
from .alphabet import N_CODE, encode, on_strand, one_hot
from .oracle import Hit
# the plan lives in .searchplan; these names stay importable from here
from .searchplan import (BATCH_COLUMNS, BATCH_VALUES, FALSE_HIT_BITS, GEMM_ROWS, SCAN_SECONDS_FIXED,  # noqa: F401
                         SCAN_SECONDS_PER_PAIR, SCAN_SECONDS_PER_TEST, WINDOW_CACHE_BYTES, Batch, Block, ScanPlan,
                         choose_engine, estimated_seconds, plan_search, repetitions, scan_memory_plan)

PROTOCOL = "securegenome.search/2"
ENGINES = ("scan", "fm", "auto")

LEAKAGE = {
    "search.window_tests": "to the querier only: for every read strand, record window, e = 0..k and each "
                           "of rho repetitions, r*(d-e) with r a fresh secret uniform mask: 0 where the "
                           "window has exactly e mismatches, uniformly random otherwise (0 with "
                           "probability 1/P per repetition, the false-hit bound)",
}


@dataclass
class SearchOutcome:
    """What a party learns: ``hits`` for the querier (None elsewhere) and the public sizes.

    ``stats`` has the plan (engine, shards, predicted peak), this party's measured ``peak_rss`` and, for a
    run that must be sharded (``shards`` > 1), no hits: :mod:`.searchrun` then runs the shards."""

    hits: list[Hit] | None
    records: list[tuple[str, int]]
    read_lengths: list[int]
    reads: list | None = None  # the querier's own read records, when it loaded them from a file
    stats: dict = field(default_factory=dict)
    overflow: list[int] | None = None  # fm engine, querier: reads with a read strand or seed over the cap


# ------------------------------------------------------------------------------------- local kernels

@numba.njit(cache=True)
def _distance(matches, m, out):
    """out = m - matches (mod P)."""
    for i in range(out.size):
        v = m - matches[i]
        out[i] = v + sf.P if v < 0 else v


class WindowMatrices:
    """Row blocks of the window matrices of the shared reference: row j of the matrix for read length m
    and a record starting at base s is the 4m centered share values from base s + j (a strided view of
    the flat one-hot shares).  BLAS needs them contiguous; a record's whole matrix is kept across batches
    while it fits in ``budget`` bytes (the lambda genome's for 100 bp reads: 155 MB), otherwise the rows
    a batch needs are copied in chunks."""

    def __init__(self, reference: np.ndarray, budget: int | None = None):
        self.reference, self.kept = reference, {}
        self.budget = WINDOW_CACHE_BYTES if budget is None else budget

    def _view(self, start: int, windows: int, m: int) -> np.ndarray:
        flat = self.reference[4 * start: 4 * (start + windows + m - 1)]
        return np.lib.stride_tricks.as_strided(flat, shape=(windows, 4 * m), strides=(32, 8))

    def chunks(self, start: int, record_length: int, m: int, first: int, count: int):
        """(row offset within the block, contiguous float64 rows) covering windows first..first+count-1."""
        key, total = (start, m), record_length - m + 1
        if key not in self.kept and total * 4 * m * 8 <= self.budget:
            self.budget -= total * 4 * m * 8
            self.kept[key] = np.ascontiguousarray(self._view(start, total, m))
        if key in self.kept:
            yield 0, self.kept[key][first:first + count]
            return
        view, rows = self._view(start + first, count, m), max(1, GEMM_ROWS // (4 * m))
        for j in range(0, count, rows):
            yield j, np.ascontiguousarray(view[j:j + rows])


def _block_distances(windows: WindowMatrices, start: int, record_length: int, block: Block,
                     query: np.ndarray) -> np.ndarray:
    """Degree-2t shares of the mismatch counts of one block (windows x columns), flattened row-major.

    ``query`` is the centered (4m x columns) matrix of the block's read strands; the products of
    centered shares are exact in float64 when at most GEMM_TERMS of them are summed, so longer reads are
    multiplied in column chunks reduced mod P in between."""
    m, width = block.length, 4 * block.length
    matches = np.empty((block.windows, len(block.columns)), dtype=np.int64)
    for j, rows in windows.chunks(start, record_length, m, block.first, block.windows):
        part = None
        for c in range(0, width, sf.GEMM_TERMS):
            exact = sf.reduce_exact(rows[:, c:c + sf.GEMM_TERMS] @ query[c:c + sf.GEMM_TERMS])
            part = exact if part is None else (part + exact) % sf.P
        matches[j:j + rows.shape[0]] = part
    out = np.empty(matches.size, dtype=np.int64)
    _distance(matches.reshape(-1), np.int64(m), out)
    return out


# ---------------------------------------------------------------------------------------- the protocol

async def secure_search(*, k: int, strand: str = "both", reference_party: int = 0, query_party: int = 1,
                        batch_size: int | None = None, engine: str = "auto", cap: int | None = None,
                        fm_step: int | None = None, fm_build: str = "owner", memory_bytes: int | None = None,
                        shards: int | None = None, workers: int = 1, checkpoint: bool = False, pieces=None,
                        reference=None, reads=None,
                        reference_path: str | None = None, reads_path: str | None = None) -> SearchOutcome:
    """The search protocol, run by every party (see :func:`securegenome.core.run`).

    The reference owner passes ``reference`` (sequences) or ``reference_path`` (FASTA), the querier
    ``reads`` or ``reads_path`` (FASTA/FASTQ, .gz); the other parties pass neither.  Every party returns a
    :class:`SearchOutcome`; only the querier's has hits.  ``engine``: ``"scan"`` (this module),
    ``"fm"`` (:mod:`.fmsearch`, with ``cap``, ``fm_step``, ``fm_build``) or ``"auto"``.

    Planning comes first, from public values only: sizes, then the memory budget (each party proposes
    ``memory_bytes``, default :func:`securegenome.core.memory.default_budget`; all take the smallest), then
    :func:`.searchplan.plan_search` picks the engine and the shard count (``shards``, or automatic) whose
    plan fits with the lowest predicted time -- or every party stops with the same one-line error before
    anything is shared.  A plan of more than one shard returns here without hits: the shards are separate
    sessions (:func:`.searchrun.run_search`), each called with its ``pieces`` (:mod:`.sharding`).
    ``checkpoint``: whether the run keeps checkpoints (:mod:`.checkpoint`); agreed like k, so that every
    party runs the resume session.
    """
    from . import fmsearch

    if engine not in ENGINES:
        raise InputError(f"--engine must be one of {', '.join(ENGINES)} (got {engine!r})")
    cap = fmsearch.DEFAULT_CAP if cap is None else cap
    m_parties = len(mpc.parties)
    if m_parties == 1:
        reference_party = query_party = 0
    for role, pid in (("reference party", reference_party), ("query party", query_party)):
        if not 0 <= pid < m_parties:
            raise InputError(f"the {role} must be one of 0..{m_parties - 1} (got {pid})")
    strands = _strands(strand)
    records, read_records = await _load_inputs(reference_party, query_party, reference, reads,
                                               reference_path, reads_path, pieces=pieces)
    record_meta = await core.share_public(
        [(name, int(codes.size)) for name, codes, _ in records] if records is not None else None,
        reference_party)
    read_lengths = await core.share_public(
        [int(codes.size) for _, codes, _ in read_records] if read_records is not None else None, query_party)
    budget = await memory.agree_budget(memory_bytes)
    await core.agree(protocol=PROTOCOL, prime=sf.P, k=k, strand=strand, reference_party=reference_party,
                     query_party=query_party, batch_size=batch_size, engine=engine, cap=cap, fm_step=fm_step,
                     fm_build=fm_build, shards=shards, workers=workers, checkpoint=checkpoint,
                     pieces=_pieces_public(pieces))
    plan = ScanPlan(tuple(n for _, n in record_meta), tuple(read_lengths), k, strands, batch_size)
    plan.validate(whole=pieces is None)
    if pieces is not None and plan.record_lengths != tuple(p.length for p in pieces):
        raise InputError("the reference's records differ from the sizes this sharded run planned with")
    chosen = plan_search(plan, engine, cap=cap, step=fm_step, build=fm_build, budget=budget,
                         shards=1 if pieces is not None else shards, workers=workers)
    loaded = read_records if mpc.pid == query_party and reads is None else None
    planned = {"engine_requested": engine, "plan": chosen.to_dict(), "budget": budget}
    if chosen.shards > 1:  # the caller runs the shards, each its own session
        return SearchOutcome(None, list(record_meta), list(read_lengths), loaded, planned)
    if chosen.engine == "fm":
        out = await _fm(records, read_records, record_meta, read_lengths, k=k, strands=strands, cap=cap,
                        step=fm_step, build=fm_build, batch_size=batch_size, reference_party=reference_party,
                        query_party=query_party, budget=budget)
        return SearchOutcome(out.hits, list(record_meta), list(read_lengths), loaded,
                             {**out.stats, **planned, "peak_rss": memory.peak_rss()}, out.overflow)
    plan, _ = scan_memory_plan(plan, budget)
    hits = await scan(plan, records, read_records, reference_party, query_party)
    stats = {"engine": "scan", **planned, "batches": len(plan.batches()), "window_tests": plan.window_tests(),
             "prime": sf.P, "repetitions": repetitions(k), "peak_rss": memory.peak_rss()}
    return SearchOutcome(hits, list(record_meta), list(read_lengths), loaded, stats)


def _pieces_public(pieces):
    """A shard's pieces as public JSON (lists of ints): :func:`securegenome.core.agree` sends JSON only."""
    if pieces is None:
        return None
    return [[int(p.record), int(p.start), int(p.stop), int(p.first), int(p.last)] for p in pieces]


async def _fm(*args, budget: int, **kwargs):
    """The fm engine, which runs the plan it makes for ``budget``."""
    from . import fmsearch

    return await fmsearch.fm_engine(*args, budget=budget, **kwargs)


async def scan(plan: ScanPlan, records, read_records, reference_party: int, query_party: int) -> list[Hit] | None:
    """The scan engine: share the reference once, then every batch of the plan; the querier's hits."""
    windows = WindowMatrices(await _share_reference(records, plan, reference_party), plan.window_cache)
    hits = [] if mpc.pid == query_party else None
    batches, query = plan.batches(), (None, None)
    for batch in core.progress(batches, total=len(batches), desc="search", unit="batch"):
        if query[0] != batch.reads:  # a new group of reads: share it once for all its batches
            query = (batch.reads, await share_reads(plan, batch.reads, read_records, query_party))
        opened = await scan_batch_opened(windows, plan, batch, query[1], query_party)
        if hits is not None:
            hits.extend(_hits_from_tests(opened, batch.blocks))
    if hits is not None:
        hits.sort(key=lambda h: (h.read, h.record, h.pos, h.strand))
    return hits


async def scan_batch_opened(windows: WindowMatrices, plan: ScanPlan, batch: Batch, query: dict, query_party):
    """One batch: distances, degree reduction, masked tests opened to the querier.

    Returns the opened tests, shape (rho, k+1, batch size), on the querier and None elsewhere."""
    d = np.empty(batch.size, dtype=np.int64)
    starts = plan.record_starts
    for block in batch.blocks:
        d[block.offset:block.offset + block.size] = _block_distances(
            windows, starts[block.record], plan.record_lengths[block.record], block, query[block.length])
    d = await sf.reduce_degree(d)  # degree 2t -> t: the only resharing of the batch
    tests = sf.masked_differences(d, list(range(plan.k + 1)) * repetitions(plan.k), query_party)
    opened = await core.open(sf.Shares(tests, 2 * mpc.threshold), to=query_party, what="search.window_tests",
                             why="zero exactly at windows with e <= k mismatches (the querier's hits); "
                                 "uniformly random elsewhere")
    return None if opened is None else opened.reshape(repetitions(plan.k), plan.k + 1, d.size)


def _hits_from_tests(opened: np.ndarray | None, blocks) -> list[Hit]:
    """Windows whose test for some e is zero in every repetition; e is then their mismatch count."""
    if opened is None:
        return []
    zero = (opened == 0).all(axis=0)  # (k+1, N)
    hit = zero.any(axis=0)
    mismatches = zero.argmax(axis=0)  # the smallest e (two would need a false zero: <= 2^-40)
    out = []
    for block in blocks:
        sl = slice(block.offset, block.offset + block.size)
        where = np.flatnonzero(hit[sl])
        if where.size == 0:
            continue
        pos, col = np.divmod(where, len(block.columns))
        for p, c, e in zip(pos.tolist(), col.tolist(), mismatches[sl][where].tolist()):
            read, strand = block.columns[c]
            out.append(Hit(read, strand, block.record, block.first + p, e))
    return out


# ---------------------------------------------------------------------------------------- inputs

def _strands(strand: str) -> tuple[str, ...]:
    if strand == "both":
        return ("+", "-")
    if strand == "forward":
        return ("+",)
    raise InputError(f"--strand must be 'both' or 'forward' (got {strand!r})")


def _as_records(seqs, what: str) -> list[tuple[str, np.ndarray, str | None]]:
    """(name, codes, quality) from SequenceRecords, code arrays or DNA strings."""
    out = []
    for i, s in enumerate(seqs):
        if hasattr(s, "codes"):
            out.append((s.name, np.asarray(s.codes, dtype=np.uint8), getattr(s, "quality", None)))
            continue
        if isinstance(s, str):
            try:
                codes = encode(s)
            except ValueError as exc:
                raise InputError(f"{what} {i + 1}: {exc}") from None
        else:
            codes = np.asarray(s)
            if codes.ndim != 1 or (codes.size and (codes.min() < 0 or codes.max() > N_CODE)):
                raise InputError(f"{what} {i + 1}: codes must be a 1-D array of values 0..{N_CODE}")
            codes = codes.astype(np.uint8)
        out.append((f"{what}{i + 1}", codes, None))
    return out


def _read_file(path: str, what: str, pieces=None):
    """The records of a file; with a shard's ``pieces``, only those pieces (read record by record, so that
    a shard's session holds its pieces and one record, not the whole reference)."""
    from .io import iter_sequences

    records = []
    wanted = None if pieces is None else {p.record for p in pieces}
    for i, record in enumerate(iter_sequences(path)):
        if what == "reference" and record.quality is not None:
            raise InputError(f"{path}: the reference must be FASTA, this is FASTQ (are REF and READS swapped?)")
        if wanted is not None and i not in wanted:
            record.codes = record.codes[:0]
        records.append(record)
    if not records:
        raise InputError(f"{path}: no FASTA or FASTQ records")
    records = _as_records(records, what)
    return records if pieces is None else _pieces_of(records, pieces)


def _pieces_of(records, pieces):
    try:
        return [(name, codes.copy(), q) for name, codes, q in sharding.piece_records(records, pieces)]
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _local_inputs(reference_party, query_party, reference, reads, reference_path, reads_path, pieces=None):
    """This party's own inputs, or the one-line error that should stop every party."""
    me = mpc.pid
    given = {"reference": reference is not None or reference_path is not None,
             "reads": reads is not None or reads_path is not None}
    owner = {"reference": reference_party, "reads": query_party}
    for what in ("reference", "reads"):
        if given[what] and me != owner[what]:
            raise InputError(f"party {me} was given {what} but party {owner[what]} inputs the {what}; "
                             f"party {me} must get no {what} file")
        if not given[what] and me == owner[what]:
            raise InputError(f"party {me} inputs the {what} but was given none")
    records = read_records = None
    if me == reference_party:
        records = (_read_file(reference_path, "reference", pieces) if reference is None
                   else _as_records(reference, "record"))
        if reference is not None and pieces is not None:
            records = _pieces_of(records, pieces)
    if me == query_party:
        read_records = _read_file(reads_path, "reads") if reads is None else _as_records(reads, "read")
    return records, read_records


async def _load_inputs(*args, pieces=None):
    """Load this party's inputs (the reference cut to ``pieces`` in a shard's session); if any party's are
    bad, every party stops (only the owner learns why)."""
    error = None
    records = read_records = None
    try:
        records, read_records = _local_inputs(*args, pieces=pieces)
    except InputError as exc:
        error = exc
    await core.raise_input_errors(error)  # the others learn only which party failed, not why
    return records, read_records


async def _share_reference(records, plan: ScanPlan, reference_party: int) -> np.ndarray:
    """Centered float64 shares of the one-hot reference, all records concatenated (4 values per base)."""
    size = 4 * sum(plan.record_lengths)
    values = None
    if mpc.pid == reference_party:
        values = one_hot(np.concatenate([codes for _, codes, _ in records])).reshape(-1)
    return sf.centered(await sf.share_input(values, reference_party, size))


def _query_offsets(plan: ScanPlan, batch: range) -> dict[int, tuple[int, int, int]]:
    """Where each length group's (4m x columns) matrix sits in the batch's shared query vector."""
    out, offset = {}, 0
    for m, columns in plan.groups(batch):
        out[m] = (offset, m, len(columns))
        offset += 4 * m * len(columns)
    return out


async def share_reads(plan, batch, read_records, query_party) -> dict[int, np.ndarray]:
    """The batch's read strands, one-hot and shared: per read length a centered (4m x columns) matrix."""
    groups = plan.groups(batch)
    size = sum(4 * m * len(columns) for m, columns in groups)
    values = None
    if mpc.pid == query_party:
        parts = []
        for m, columns in groups:
            for read, strand in columns:
                codes = read_records[read][1]
                parts.append(one_hot(on_strand(codes, strand)).reshape(-1))
        values = np.concatenate(parts)
    shares = sf.centered(await sf.share_input(values, query_party, size))
    out = {}
    for m, (offset, length, n_columns) in _query_offsets(plan, batch).items():
        out[m] = shares[offset:offset + 4 * length * n_columns].reshape(n_columns, 4 * length).T
    return out


# ------------------------------------------------------------------------------------------- the API

def search(reference, reads, k: int, *, strand: str = "both", parties: int = 1, reference_party: int = 0,
           query_party: int = 1, batch_size: int | None = None, engine: str = "auto", cap: int | None = None,
           fm_step: int | None = None, fm_build: str = "owner", memory: float | None = None,
           shards: int | None = None, workers: int = 1, checkpoint: str | None = None, resume: bool = False,
           **session) -> list[Hit]:
    """Every hit of ``reads`` in ``reference`` with at most ``k`` mismatches, computed securely.

    ``reference`` and ``reads`` are lists of SequenceRecords, code arrays (0..4) or DNA strings.  With
    ``parties=1`` everything runs in this process; with more, each party is a local process and the
    reference goes only to ``reference_party``, the reads only to ``query_party``.  Returns the querier's
    hits, sorted by (read, record, pos, strand), equal to ``oracle.kmismatch_hits``.

    ``memory``: GiB per party process, as ``--memory`` (default: a safe share of this host's available
    memory); ``shards``: cut the reference into this many overlapping pieces, each its own session
    (default: automatic, as few as the memory plan needs); ``workers``: shards searched at once.
    ``checkpoint``: a directory where each finished shard is kept; ``resume=True`` skips the shards an
    interrupted run with the same inputs and options finished (docs/search.md, "Checkpoints and resume").
    ``session`` is passed on to :func:`securegenome.core.run` (threshold, timeout, ...).
    """
    from .searchrun import run_search

    if parties == 1:
        reference_party = query_party = 0
    private: dict[int, dict] = {reference_party: {"reference": reference}}
    private.setdefault(query_party, {})["reads"] = reads
    kwargs = {"k": k, "strand": strand, "reference_party": reference_party, "query_party": query_party,
              "batch_size": batch_size, "engine": engine, "cap": cap, "fm_step": fm_step, "fm_build": fm_build}
    budget = None if memory is None else core.memory.parse_gib(memory)
    results = run_search(kwargs, private, memory_bytes=budget, shards=shards, workers=workers, parties=parties,
                         checkpoint=checkpoint, resume=resume, **session)
    return next(r.value.hits for r in results if r.pid == query_party)
