"""The fm engine's protocol: batched backward search on the index, then exact locations (k = 0) or
seed-and-verify (k > 0); every opening to the querier in a data-independent order.

See :mod:`securegenome.genomics.fm` for the whole design, :data:`LEAKAGE` for what is opened.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ... import core
from ...core import mpc
from ...core import SMALL_FIELD as FIELD, bits_of, input_raw, multiply, multiply_sum
from ...core.memory import MemoryPlanError, peak_rss
from ..alphabet import N_CODE, on_strand, one_hot
from ..oracle import Hit
from .index import SecureFMIndex, chunk_layout, index_codes, record_bad
from .layout import (BASES_PER_WORD, REPETITIONS, Pattern, check_field_bounds, check_parameters, chunk_of,
                     patterns_of, steps_of, verify_key_bits, verify_shift, words_per_window)
from .merge import Columns, merge_lanes, shuffle_within_groups
from .plan import plan
from .shares import decompose, masked, open_to, product_tree, random_field, spoiled

P = FIELD.modulus


# ------------------------------------------------------------------------------------- backward search

async def _share_chunks(patterns, active, pattern_codes, step: int, h: int, query_party: int, keyring):
    """Shares of the key bits of each active pattern's chunk for this step, padded for the s bound (with A)
    and the e bound (with T): (2, active, 2h); the querier inputs them."""
    chunks = None
    if mpc.pid == query_party:
        codes = np.empty((2, len(active), h), dtype=np.int64)
        codes[0], codes[1] = 0, 3  # a chunk shorter than h: padded with A for s, with T for e
        for a, i in enumerate(active):
            start, stop = chunk_of(patterns[i].length, h, step)
            codes[:, a, :stop - start] = pattern_codes[i][start:stop]
        chunks = np.stack([chunk_layout(c & 1, c >> 1) for c in codes])
    return await input_raw(chunks, (2, len(active), 2 * h), FIELD, query_party, keyring)


def _first_step_fields(patterns, active, h: int, pb: int) -> tuple[np.ndarray, ...]:
    """(psi, full) of the first step's bounds, public.  s = (r, 0) for a chunk of r bases: after the rows
    of suffixes shorter than r that are a prefix of the chunk ('$' sorts first), before every row that
    starts with the chunk; e = (all ones, 1): after every row whose padded chunk is not above it."""
    lengths = [chunk_of(patterns[i].length, h, 0) for i in active]
    ones = np.ones((len(active), 1), dtype=np.int64)
    return (bits_of([stop - start for start, stop in lengths], pb), np.zeros_like(ones),
            np.ones((len(active), pb), dtype=np.int64), ones)


async def backward_search(index: SecureFMIndex, patterns: list[Pattern], pattern_codes, query_party: int,
                          final_lanes: Columns, final_end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched backward search of every pattern: the final lanes of its s and e bounds (patterns x lanes).

    ``pattern_codes`` (querier only): per pattern its codes (N read as A).  ``final_lanes``/``final_end``:
    what to copy out of the rows the final bounds name (see :func:`.merge.merge_lanes`).  Each step is one
    merge; for patterns that go on, the merge also copies the bits of the new bounds (the row numbers' bits).
    """
    h, pb, keyring = index.step, index.pointer_bits, index.keyring
    steps = [steps_of(p.length, h) for p in patterns]
    count = len(patterns)
    bounds = np.zeros((2 * count, pb), dtype=np.int64)  # shares of the bits of s (rows 0..count-1), then e
    final = np.zeros((2 * count, final_lanes.width), dtype=np.int64)
    row_bits, end_bits = Columns.public_bits(np.arange(index.rows), pb), bits_of([index.rows], pb)[0]
    table = Columns.of(index.keys)
    for step in core.progress(range(max(steps)), total=max(steps), desc="fm backward search", unit="step"):
        active = np.array([i for i in range(count) if steps[i] > step], dtype=np.int64)
        chunks = await _share_chunks(patterns, active, pattern_codes, step, h, query_party, keyring)
        if step == 0:
            s_psi, s_full, e_psi, e_full = _first_step_fields(patterns, active, h, pb)
        else:
            s_psi, e_psi = bounds[active], bounds[count + active]
            s_full = e_full = np.ones((len(active), 1), dtype=np.int64)
        queries = np.concatenate([np.concatenate([s_psi, s_full, chunks[0]], axis=1),
                                  np.concatenate([e_psi, e_full, chunks[1]], axis=1)])
        ending = np.array([steps[i] == step + 1 for i in active])
        lanes, ends = None, []
        if ending.any():
            lanes, ends = final_lanes, [final_end]
        if not ending.all():
            lanes = row_bits if lanes is None else lanes.concat(row_bits)
            ends.append(end_bits)
        out = await merge_lanes(table, queries, lanes, np.concatenate(ends), keyring, chunk=index.chunk,
                                digit_bits=index.digit_bits,
                                why="backward-search step: rows and interval bounds sorted together; the "
                                    "sort destinations after a fresh secret shuffle are a uniform permutation",
                                desc="fm merge")
        rows = np.concatenate([active, count + active])
        width = final_lanes.width if ending.any() else 0
        if ending.any():
            done = np.concatenate([ending, ending])
            final[rows[done]] = out[done, :width]
        if not ending.all():
            bounds[rows] = out[:, width:]
    return final[:count], final[count:]


def _following_rows(per_row: np.ndarray, beyond: np.ndarray, cap: int) -> tuple[Columns, np.ndarray]:
    """Lanes (and end value) of row j: j itself, then ``per_row`` of rows j, j + 1, ..., j + cap - 1
    (``beyond`` past the last row): a bound copies out its own row number and its first cap rows."""
    rows, width = per_row.shape

    def make(lo, hi):
        out = np.empty((rows, hi - lo), dtype=np.int64)
        for c in range(lo, hi):
            if c == 0:
                out[:, 0] = np.arange(rows)
                continue
            delta, f = divmod(c - 1, width)
            delta = min(delta, rows)
            out[:rows - delta, c - lo] = per_row[delta:, f]
            out[rows - delta:, c - lo] = beyond[f]
        return out

    return Columns(rows, 1 + cap * width, make), np.concatenate([[rows], np.tile(beyond, cap)])


# ----------------------------------------------------------------------------------- the search protocol

@dataclass
class FMResult:
    """What one batch gives the querier: hits and the reads whose candidates exceeded the cap."""

    hits: list[Hit] = field(default_factory=list)
    overflow: set[int] = field(default_factory=set)


def _pattern_codes(read_records, patterns: list[Pattern]) -> tuple[list[np.ndarray], np.ndarray]:
    """Querier: codes of each pattern (N read as A) and whether it can match at all (no N)."""
    strands = {}
    codes, usable = [], []
    for p in patterns:
        key = (p.read, p.strand)
        if key not in strands:
            strands[key] = on_strand(read_records[p.read][1], p.strand)
        piece = strands[key][p.offset:p.offset + p.length]
        codes.append(index_codes(piece))
        usable.append(int((piece < N_CODE).all()))
    return codes, np.array(usable, dtype=np.int64)


def _locate(index: SecureFMIndex, x: int) -> tuple[int, int]:
    starts = index.starts
    r = int(np.searchsorted(starts, x, side="right") - 1)
    return r, int(x - starts[r])


def _strand_groups(patterns: list[Pattern]) -> tuple[list[tuple[int, str]], np.ndarray]:
    """The read strands of a batch and, per pattern, the index of its read strand (ascending)."""
    strands = list(dict.fromkeys((p.read, p.strand) for p in patterns))
    column = {key: i for i, key in enumerate(strands)}
    return strands, np.array([column[(p.read, p.strand)] for p in patterns], dtype=np.int64)


async def search_batch(index: SecureFMIndex, read_records, read_lengths, *, k: int, strands, cap: int,
                       query_party: int, verify_chunk: int | None = None) -> FMResult | None:
    """Search one batch of reads (lengths public) in the index; the querier gets an :class:`FMResult`.
    ``verify_chunk``: candidates compared at once (k > 0; default: all of them)."""
    patterns = patterns_of(read_lengths, k, strands)
    codes = usable = None
    if mpc.pid == query_party:
        codes, usable = _pattern_codes(read_records, patterns)
    shared_usable = await input_raw(usable, (len(patterns),), FIELD, query_party, index.keyring)
    if k == 0:
        return await _exact(index, patterns, codes, usable, shared_usable, cap, query_party)
    return await _seed_and_verify(index, patterns, codes, usable, shared_usable, cap, query_party, read_records, k,
                                  verify_chunk or cap * len(patterns))


# ------------------------------------------------------------------------------------------------ k = 0

async def _exact_lanes(index: SecureFMIndex, lengths: list[int], cap: int) -> tuple[Columns, np.ndarray]:
    """Lanes of row j for exact search: j; then for delta < cap, of row j + delta: SA and, per read length
    m, the N bases and record crossings of the window of m bases there (zero iff an occurrence is a hit)."""
    rows, n = index.rows, index.n
    nprefix = np.concatenate([[0], np.cumsum(index.nflag)]) % P
    x = np.arange(rows)
    bad = [(nprefix[np.minimum(x + m, n)] - nprefix[np.minimum(x, n)]
            + record_bad(index.starts, index.record_lengths, n, 0, m)) % P for m in lengths]
    per_row = np.concatenate([index.sa[:, None], await index.to_sa_order(np.stack(bad, axis=1))], axis=1)
    beyond = np.r_[0, np.ones(len(lengths), dtype=np.int64)]  # past the last row: position 0, not a hit
    return _following_rows(per_row, beyond, cap)


async def _occurrences(s_lanes, e_lanes, usable, shared_usable, cap: int, query_party: int, keyring):
    """Querier: per pattern min(c, cap + 1) for c = e - s its exact occurrences (0 if unusable)."""
    count = len(s_lanes)
    c = (e_lanes[:, 0] - s_lanes[:, 0]) % P
    diffs = (c[None, :] - np.arange(cap + 1)[:, None]) % P
    diffs = await spoiled(diffs, np.broadcast_to(shared_usable, (cap + 1, count)).copy(), keyring)
    opened = await open_to(await masked(diffs, keyring), query_party, "fm.count_tests",
                           "zero exactly at j = number of exact occurrences when it is <= cap")
    if opened is None:
        return None
    zero = (opened == 0).all(axis=0)  # (cap + 1, patterns)
    occurrences = np.where(zero.any(axis=0), zero.argmax(axis=0), cap + 1)
    occurrences[usable == 0] = 0
    return occurrences


async def _exact(index, patterns, codes, usable, shared_usable, cap, query_party):
    """k = 0: exact occurrences of every read strand, located through the shared suffix array.

    The querier selects the first min(c, cap) rows of each interval; their (position + 1, masked spoil
    counts) are shuffled within the read strand's slots and opened: unselected slots open as zeros, a hit
    as (position + 1, 0, 0), a spoiled occurrence as uniform values -- in an order independent of the
    reference's lexicographic order."""
    keyring, count = index.keyring, len(patterns)
    lengths = sorted({p.length for p in patterns})
    lanes, end = await _exact_lanes(index, lengths, cap)
    s_lanes, e_lanes = await backward_search(index, patterns, codes, query_party, lanes, end)
    occurrences = await _occurrences(s_lanes, e_lanes, usable, shared_usable, cap, query_party, keyring)
    select = None
    if occurrences is not None:  # the querier asks for the rows of its occurrences, at most cap
        select = (np.arange(cap)[None, :] < np.minimum(occurrences, cap)[:, None]).astype(np.int64)
    shared_select = await input_raw(select, (count, cap), FIELD, query_party, keyring)

    per_lane = s_lanes[:, 1:].reshape(count, cap, 1 + len(lengths))
    position = per_lane[:, :, 0]  # (patterns, cap)
    bad = np.stack([per_lane[i, :, 1 + lengths.index(p.length)] for i, p in enumerate(patterns)])
    shape = (1 + REPETITIONS, count, cap)
    spoil = await multiply(await random_field(shape, keyring), np.broadcast_to(bad, shape).copy(), FIELD, keyring)
    values = np.concatenate([((position + 1 + spoil[0]) % P)[None], spoil[1:]])
    chosen = await multiply(values, np.broadcast_to(shared_select, values.shape).copy(), FIELD, keyring)
    slots = np.moveaxis(chosen, 0, -1).reshape(count * cap, 1 + REPETITIONS)
    slots = await shuffle_within_groups(slots, np.repeat(np.arange(count), cap), keyring)
    opened = await open_to(slots, query_party, "fm.locations",
                           "the querier's selected occurrences in random order: the position where the "
                           "window is a hit, zeros for rows it did not select")
    if opened is None:
        return None
    result = FMResult(overflow={p.read for i, p in enumerate(patterns) if occurrences[i] > cap})
    for slot in np.flatnonzero((opened[:, 0] != 0) & (opened[:, 1:] == 0).all(axis=1)):
        p = patterns[slot // cap]
        record, pos = _locate(index, int(opened[slot, 0]) - 1)
        result.hits.append(Hit(p.read, p.strand, record, pos, 0))
    return result


# ------------------------------------------------------------------------------------------------ k > 0

async def _seed_and_verify(index, patterns, codes, usable, shared_usable, cap, query_party, read_records, k,
                           verify_chunk: int):
    """k > 0: exact search of the k + 1 seeds of every read strand, then the Hamming test of the windows
    at the first ``cap`` rows from every seed's interval start."""
    keyring, n = index.keyring, index.n
    shift = verify_shift([p.read_length for p in patterns], k)
    beyond = n + 1 + shift  # past the last row: a candidate key after every verification row (no hit)
    lanes, end = _following_rows(index.sa[:, None], np.array([beyond]), cap)
    s_lanes, e_lanes = await backward_search(index, patterns, codes, query_party, lanes, end)

    c = (e_lanes[:, 0] - s_lanes[:, 0]) % P
    over_cap = await product_tree([(c - j) % P for j in range(cap + 1)], keyring)  # zero iff c <= cap
    opened = await open_to(await masked(await spoiled(over_cap, shared_usable, keyring), keyring),
                           query_party, "fm.overflow_tests", "zero iff the seed occurs at most cap times")

    # candidates, cap per pattern in pattern order: window start = SA entry - seed offset, keyed + shift
    offsets = np.repeat([p.offset for p in patterns], cap)
    starts = (s_lanes[:, 1:].reshape(-1) - offsets) % P
    strands, group = _strand_groups(patterns)
    found = await _verify(index, patterns, starts, shift, strands, np.repeat(group, cap), read_records, k,
                          query_party, verify_chunk)
    if opened is None:
        return None
    overflow = {p.read for i, p in enumerate(patterns) if usable[i] and (opened[:, i] != 0).any()}
    return FMResult(sorted(found), overflow)


async def _share_read_strands(read_records, strands, m: int, query_party: int, keyring) -> np.ndarray:
    """Shares of the one-hot read strands (N = zero row), padded to m bases: (strands, m, 4)."""
    values = None
    if mpc.pid == query_party:
        values = np.zeros((len(strands), m, 4), dtype=np.int64)
        for i, (read, strand) in enumerate(strands):
            codes = on_strand(read_records[read][1], strand)
            values[i, :len(codes)] = one_hot(codes)
    return await input_raw(values, (len(strands), m, 4), FIELD, query_party, keyring)


def _verify_lanes(index: SecureFMIndex, table: np.ndarray, lengths: list[int],
                  shift: int) -> tuple[Columns, np.ndarray]:
    """Lanes of verification row x = -shift..n: its packed window words, then per read length whether
    the window leaves its record (or the text)."""
    n, words = index.n, table.shape[1]
    bad = np.ones((n + 1 + shift, len(lengths)), dtype=np.int64)
    for i, m in enumerate(lengths):
        bad[shift:, i] = record_bad(index.starts, index.record_lengths, n, 0, m)
    lanes = Columns.of(table).concat(Columns.of(bad))
    return lanes, np.concatenate([np.zeros(words, dtype=np.int64), np.ones(len(lengths), dtype=np.int64)])


async def _matches(words: np.ndarray, query: np.ndarray, keyring) -> np.ndarray:
    """Shares of the matches of packed windows (candidates x words) with one-hot reads (candidates x m x 4).

    Each word is bit-decomposed; base i of a word is its bits 3i (code low), 3i+1 (code high), 3i+2 (N).
    The indicator of each letter needs the one product c0*c1 (N has code 00: A's indicator subtracts it);
    the matches are one inner product with the read's one-hot, re-shared once."""
    candidates, m = query.shape[0], query.shape[1]
    bits = await decompose(words.reshape(-1), keyring, why="bit decomposition of packed candidate windows: "
                                                           "the values plus uniform masks are uniform")
    bits = bits.reshape(candidates, words.shape[1], -1)[:, :, :3 * BASES_PER_WORD]
    bases = bits.reshape(candidates, -1, 3)[:, :m]
    c0, c1, nf = bases[..., 0], bases[..., 1], bases[..., 2]
    both = await multiply(c0, c1, FIELD, keyring)
    indicator = np.stack([1 - c0 - c1 + both - nf, c0 - both, c1 - both, both], axis=-1) % P
    return await multiply_sum(indicator.reshape(candidates, -1).T, query.reshape(candidates, -1).T, FIELD, keyring)


async def _verify(index, patterns, starts, shift: int, strands, group, read_records, k: int, query_party: int,
                  chunk: int):
    """Hamming test of the windows at the candidates' secret starts; the querier gets the hits.

    One merge of the candidates (keys: the bits of start + shift) with the verification table rows (public
    keys x + shift, lanes: packed windows and public record flags) copies every candidate's window; per
    chunk of candidates the words are decomposed and compared with the read; the tests and masked starts
    are shuffled within each read strand's candidates and opened.  Returns the querier's hits (a set)."""
    keyring, n, cap = index.keyring, index.n, len(starts) // len(patterns)
    lengths = sorted({p.read_length for p in patterns})
    m_max, kb = max(lengths), verify_key_bits(n, shift)
    table = await index.window_table(words_per_window(m_max), shift)
    words = table.shape[1]
    keys = np.empty((len(starts), kb), dtype=np.int64)
    for lo in range(0, len(starts), chunk):
        keys[lo:lo + chunk] = (await decompose((starts[lo:lo + chunk] + shift) % P, keyring,
                                               why="bit decomposition of candidate starts: the values plus "
                                                   "uniform masks are uniform"))[:, :kb]
    lanes, end = _verify_lanes(index, table, lengths, shift)
    window = await merge_lanes(Columns.public_bits(np.arange(n + 1 + shift), kb), keys, lanes, end, keyring,
                               chunk=index.chunk, digit_bits=index.digit_bits,
                               why="candidate windows: verification rows and candidates sorted together; the sort "
                                   "destinations after a fresh secret shuffle are a uniform permutation")
    del keys
    reads = await _share_read_strands(read_records, strands, m_max, query_party, keyring)
    owner = np.repeat(np.arange(len(patterns)), cap)
    m = np.array([patterns[i].read_length for i in owner], dtype=np.int64)
    bad = window[np.arange(len(starts)), words + np.searchsorted(lengths, m)]
    values = np.empty((len(starts), REPETITIONS * (k + 1) + 1), dtype=np.int64)
    for lo in range(0, len(starts), chunk):
        part = slice(lo, lo + chunk)
        matches = await _matches(window[part, :words], reads[group[part]], keyring)
        d = (m[part] - matches + (m[part] + 1) * bad[part]) % P
        differences = [(d - e) % P for e in range(k + 1)]
        tests = await masked(np.stack(differences), keyring)  # (rho, k + 1, chunk)
        gate = await product_tree(differences, keyring)
        hidden = await multiply(await random_field(gate.shape, keyring), gate, FIELD, keyring)
        values[part, :-1] = tests.reshape(-1, tests.shape[-1]).T
        values[part, -1] = (starts[part] + hidden) % P
    values = await shuffle_within_groups(values, group, keyring)
    tests = await open_to(values[:, :-1], query_party, "fm.verify_tests",
                          "zero where a candidate window has exactly e <= k mismatches: the querier's hits")
    positions = await open_to(values[:, -1], query_party, "fm.verify_positions",
                              "the window start where the candidate is a hit, uniformly random elsewhere")
    if tests is None:
        return set()
    zero = (tests.reshape(len(starts), REPETITIONS, k + 1) == 0).all(axis=1)  # (candidates, k + 1)
    found = set()
    for j in np.flatnonzero(zero.any(axis=1)):
        read, strand = strands[group[j]]
        found.add(Hit(read, strand, *_locate(index, int(positions[j])), int(zero[j].argmax())))
    return found


# ------------------------------------------------------------------------------------------ the engine

@dataclass
class FMOutcome:
    hits: list[Hit] | None
    overflow: list[int] | None
    stats: dict


async def fm_engine(records, read_records, record_meta, read_lengths, *, k: int, strands, cap: int,
                    step: int | None, build: str, batch_size: int | None, reference_party: int,
                    query_party: int, budget: int | None = None) -> FMOutcome:
    """Build the index once, search the reads batch by batch; the querier's hits and overflowing reads.

    Runs exactly the plan :func:`.plan.plan` gives for the public sizes and ``budget`` (bytes per party,
    the same on every party; None: the parties agree on the smallest of their hosts' safe shares, each
    divided by the number of parties as if all ran on one host); stops with
    :class:`~securegenome.core.memory.MemoryPlanError` before sharing anything if it does not fit."""
    check_parameters(cap, step)
    n = int(sum(length for _, length in record_meta))
    if budget is None:  # conservative until the caller passes the agreed --memory: all parties on one host
        from ...core.memory import agree_budget, default_budget

        budget = await agree_budget(default_budget(len(mpc.parties)))
    chosen = plan(n, list(read_lengths), k, len(strands), cap=cap, step=step, build=build, budget=budget,
                  batch=batch_size)
    if not chosen.fits(budget):
        raise MemoryPlanError(f"the fm engine needs at least {chosen.peak_bytes / 2**30:.2f} GiB per party, "
                              f"more than the budget of {budget / 2**30:.2f} GiB: raise --memory or shard")
    plan_details = chosen.details
    check_field_bounds(n, read_lengths, k, len(strands), cap, plan_details["batch"])
    index = await SecureFMIndex.build(records, record_meta, reference_party=reference_party,
                                      step=plan_details["step"], build=build, chunk=plan_details["chunk"],
                                      digit_bits=plan_details["digit_bits"])
    started = time.perf_counter()
    size = plan_details["batch"]
    hits, overflow = ([], set()) if mpc.pid == query_party else (None, None)
    batches = range(0, len(read_lengths), size)
    for first in core.progress(batches, total=len(batches), desc="fm search", unit="batch"):
        mine = read_records[first:first + size] if read_records is not None else None
        result = await search_batch(index, mine, read_lengths[first:first + size], k=k, strands=strands, cap=cap,
                                    query_party=query_party, verify_chunk=plan_details["verify_chunk"])
        if result is not None:
            hits.extend(h._replace(read=h.read + first) for h in result.hits)
            overflow.update(r + first for r in result.overflow)
    if hits is not None:
        hits = sorted(set(hits), key=lambda h: (h.read, h.record, h.pos, h.strand))
    stats = {"engine": "fm", "fm_step": plan_details["step"], "cap": cap, "fm_build": build,
             "batches": len(batches), "index_seconds": round(index.build_seconds, 3),
             "search_seconds": round(time.perf_counter() - started, 3), "memory_plan": chosen.to_dict(),
             "peak_rss_gib": round(peak_rss() / 2**30, 3)}
    return FMOutcome(hits, None if overflow is None else sorted(overflow), stats)
