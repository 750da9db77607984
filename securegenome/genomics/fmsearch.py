"""The ``fm`` search engine: batched oblivious backward search on a secret-shared FM-index, seed-and-verify.

Same roles, inputs and answer as the scan engine (:mod:`.search`): the reference owner inputs the
reference, the querier the reads, and only the querier learns the hits, plus (this engine's price, see
:data:`LEAKAGE`) one bit per read strand or seed: did its exact occurrences exceed the public ``cap``?

**The index** (built once, reused for every batch of a session: :class:`SecureFMIndex`).  The indexed text
T is the records concatenated, N read as A (windows with N or across records are filtered below); its
suffix array comes from the secure BWT construction (:func:`.bwt.secure_suffix_array_bwt`, ``build="secure"``)
or is computed by the reference owner and secret-shared (``build="owner"``, fast, no more revealed).  Every
suffix-array row j holds, in shares, the *h-step key* of suffix x = SA[j]:

    (T[x .. x+h) as 2-bit codes, full = [x + h <= n], psi = ISA[x + h] if full else n - x)

This is the FM-index of the n-step FM-index (Chacon et al. 2013) in sorted form: for a chunk w of h bases,
``C[w] + Occ(w, s)`` -- the LF step of backward search from an interval start s -- is the number of rows
whose key is below (w, 1, s).  With h = 1 it is the textbook ``C[c] + Occ(c, s)``.

**A backward-search step for a whole batch** merges the batch's 2 x patterns interval bounds (queries,
keys from the querier's chunk bits and the bounds' secret bits) with the n + 1 rows in ONE stable radix sort
of the core (:func:`securegenome.core.sort.radix_destinations`, shuffle-and-open, O((n + B) * key bits)).
The rows' key order is their suffix-array order, so each query lands just before the row its new bound
names; the core's scatter places the rows, a suffix sum of row differences copies to every query the
*lanes* of the next row (the row's index, its bits, its SA entry...), and the scatter's shuffle is undone.
Nothing is opened but shuffled destinations (uniformly random permutations).  Patterns longer than h take
ceil(len / h) steps, the first one covering the pattern's last bases (shorter chunks are padded and
compared with the ``full``/``psi`` fields so that suffixes near the end of T sort as with ``$``).

**k = 0.**  After the last step, a pattern's interval [s, e) lists its exact occurrences.  The querier is
opened r (c - j) for j = 0..cap (c = e - s, fresh secret masks r): it learns c if c <= cap, else only
c > cap.  It then secret-shares which of the first ``cap`` rows to open; for those it is opened the text
position plus r * (N bases + record crossings of the window): the position where that is 0 (a hit).

**k > 0, seed-and-verify.**  Each read strand is cut into k + 1 seeds (pigeonhole: a window with at most k
mismatches matches one seed exactly).  All seeds are searched in one batch; the querier is opened
r * prod_{j=0..cap} (c - j): zero iff the seed occurs at most cap times.  For the first ``cap`` rows of
every seed's interval (rows beyond it too: they only add candidates) the row's position bits are copied
out, a second merge of the candidates with the text positions copies the candidate windows (one-hot), and
the scan engine's secure Hamming test runs on each: the querier is opened r (d - e) for e = 0..k and
the window start plus r * prod_e (d - e), so it learns exactly the hits.  Seeds or reads with N: the
querier also inputs a "usable" bit per pattern that randomizes the tests of patterns that cannot match.

The plaintext twin is :func:`fm_search_plain`; it computes the very same answer, overflows included.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass, field

import numpy as np

from .. import core
from ..core import mpc
from ..core import PERMUTATION_LEAKAGE, KeyRing, SecretShuffle, bits_of, input_raw, multiply, multiply_sum
from ..core import SMALL, SMALL_FIELD as FIELD, open_shuffled, placed, radix_destinations, raw_shares, secure_array
from ..errors import InputError
from .alphabet import N_CODE, on_strand, one_hot
from .bwt import HIDING_LABELS as BWT_HIDING_LABELS
from .bwt import LEAKAGE as BWT_LEAKAGE
from .bwt import as_ints
from .oracle import Hit, suffix_array

P = FIELD.modulus
DEFAULT_CAP = 8  #: candidate rows per pattern (read strand, or seed for k > 0)
REPETITIONS = 2  #: independent masks per test: a false zero needs all to vanish, p^-2 < 2^-61
MERGE_VALUES = 1 << 25  #: candidate rows x lanes per verification merge: bounds memory (~270 MB per copy)
BUILDS = ("owner", "secure")

LEAKAGE: dict[str, str] = {
    **PERMUTATION_LEAKAGE,  # every merge and the index build open shuffled destinations only
    # fm_build="secure" only: the secure BWT construction's statistically/perfectly hiding openings
    **{label: text for label, text in BWT_LEAKAGE.items() if label in BWT_HIDING_LABELS},
    "fm.count_tests": "k = 0, to the querier only: for every read strand and j = 0..cap, r*(c-j) with c the "
                      "number of exact occurrences (uniform if the strand has N): reveals c when c <= cap, "
                      "else only that c > cap",
    "fm.locations": "k = 0, to the querier only: for each of the first min(c, cap) occurrences, its text "
                    "position plus r*(N bases or record crossings in the window), and r'*(the same): the "
                    "position of every hit; for an occurrence spoiled by N or a record boundary only that "
                    "fact; zeros for the rows it did not select",
    "fm.overflow_tests": "k > 0, to the querier only: for every seed, r*prod_{j=0..cap}(c-j) (uniform if the "
                         "seed has N): zero iff the seed occurs at most cap times: one bit per seed",
    "fm.verify_tests": "k > 0, to the querier only: for each candidate window and e = 0..k, r*(d-e): zero "
                       "where the window has exactly e mismatches, uniform otherwise",
    "fm.verify_positions": "k > 0, to the querier only: each candidate's window start plus "
                           "r*prod_{e=0..k}(d-e): the start of every hit, uniform otherwise",
}


# ------------------------------------------------------------------------------------------ public layout

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


# --------------------------------------------------------------------------------------- bits and helpers

def _chunk_layout(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The key columns of chunks of h bases from the (rows, h) low and high bits of their codes: 2h
    columns, the last base least significant, low before high.  Index rows and queries both use it, so
    their keys compare as the chunks do."""
    out = np.empty((low.shape[0], 2 * low.shape[1]), dtype=low.dtype)
    out[:, 0::2], out[:, 1::2] = low[:, ::-1], high[:, ::-1]
    return out


def _chunk_columns(code_bits: np.ndarray, h: int, rows: int) -> np.ndarray:
    """For text position x < rows: the key columns of bases x..x+h-1 (code bits, zero past the end)."""
    padded = np.zeros((rows + h - 1, 2), dtype=code_bits.dtype)
    padded[:code_bits.shape[0]] = code_bits
    windows = np.lib.stride_tricks.sliding_window_view(padded, h, axis=0)  # (rows, 2, h)
    return _chunk_layout(windows[:, 0], windows[:, 1])


def _index_codes(codes: np.ndarray) -> np.ndarray:
    """Codes of the indexed text: N read as A (windows with N are filtered out separately)."""
    return np.where(codes >= N_CODE, 0, codes).astype(np.int64)


def _record_bad(starts, lengths, n: int, offset: int, m: int) -> np.ndarray:
    """Public 0/1 per text position x = 0..n: the window [x - offset, x - offset + m) is not inside one record."""
    x = np.arange(n + 1, dtype=np.int64) - offset
    ends = np.asarray(starts, dtype=np.int64) + np.asarray(lengths, dtype=np.int64)
    record = np.searchsorted(ends, x, side="right")  # record containing x (or len if x >= n)
    ok = (x >= 0) & (record < len(ends))
    ok &= x + m <= np.where(record < len(ends), ends[np.minimum(record, len(ends) - 1)], -1)
    return (~ok).astype(np.int64)


async def _open_to(values: np.ndarray, to: int, what: str, why: str) -> np.ndarray | None:
    """Open raw GF(2^31-1) shares to one party (through the ledger); None elsewhere."""
    shape = values.shape
    opened = await core.open(secure_array(SMALL, FIELD, values.reshape(-1)), to=to, what=what, why=why)
    return None if opened is None else as_ints(opened).reshape(shape)


async def _random(shape, keyring: KeyRing) -> np.ndarray:
    """Secret uniform field elements no t parties know: the sum of one draw from each of parties 0..t."""
    n = int(np.prod(shape))
    total = np.zeros(n, dtype=np.int64)
    for j in range(mpc.threshold + 1):
        mine = None
        if mpc.pid == j:
            words = np.frombuffer(secrets.token_bytes(8 * n), dtype=np.uint64)
            mine = (words % np.uint64(P)).astype(np.int64)  # bias below 2^-33: masks stay statistically uniform
        total = (total + await input_raw(mine, (n,), FIELD, j, keyring)) % P
    return total.reshape(shape)


async def _product_tree(factors: list[np.ndarray], keyring: KeyRing) -> np.ndarray:
    """Shares of the elementwise product of several shared arrays, log2 rounds."""
    while len(factors) > 1:
        pairs = len(factors) // 2
        left = np.stack(factors[:pairs])
        right = np.stack(factors[pairs:2 * pairs])
        products = list(await multiply(left, right, FIELD, keyring))
        factors = products + factors[2 * pairs:]
    return factors[0]


# --------------------------------------------------------------------------------------------- the merge

async def merge_lanes(table_keys: np.ndarray, query_keys: np.ndarray, lanes: np.ndarray, end: np.ndarray,
                      keyring: KeyRing, why: str, desc: str | None = None) -> np.ndarray:
    """For every query: the lanes of the first table row whose key is not below the query's key.

    ``table_keys`` (rows x bits) and ``query_keys`` (queries x bits) are raw shares of bits, least
    significant first; the table rows must already be in key order.  Ties: the query comes first.
    ``lanes`` (rows x c) are values per table row; a query after every row gets ``end``.  One stable
    radix sort of rows and queries together, one scatter (shuffle, open, place), a suffix sum of lane
    differences (local), and the scatter's shuffle undone: nothing opened but uniform permutations.
    ``desc``: a progress bar over the sort's digit rounds.
    """
    rows, queries = table_keys.shape[0], query_keys.shape[0]
    tie = np.concatenate([np.ones(rows, dtype=np.int64), np.zeros(queries, dtype=np.int64)])[:, None]
    keys = np.concatenate([tie, np.concatenate([table_keys, query_keys])], axis=1)
    dest = await radix_destinations(keys, keyring, desc=desc)
    following = np.concatenate([lanes[1:], end[None, :]])
    payload = np.concatenate([(lanes - following) % P, np.zeros((queries, lanes.shape[1]), dtype=np.int64)])
    pi = SecretShuffle(rows + queries, keyring)
    dest_shuffled, payload_shuffled = await pi.apply_raw([dest, payload], [FIELD, FIELD])
    q = await open_shuffled(secure_array(SMALL, FIELD, dest_shuffled), why=why)
    merged = placed(payload_shuffled, q)
    suffix = np.cumsum(merged[::-1], axis=0)[::-1] % P  # row differences telescope to the next row's lanes
    [back] = await pi.apply_raw([suffix[q]], [FIELD], inverse=True)
    return (back[rows:] + end) % P


# ----------------------------------------------------------------------------------------------- the index

@dataclass
class SecureFMIndex:
    """This party's shares of the FM-index of the reference, in suffix-array order (n + 1 rows).

    ``keys``: the h-step keys (psi bits, full, chunk bits: least significant first); ``sa``/``sa_bits``:
    SA[j] and its bits; ``onehot``/``nflag``: the text by position (one-hot, N = zero row; 1 at N).
    Public: ``records`` (names, lengths), ``step`` h.  Build with :meth:`build` inside a protocol.
    """

    records: list
    step: int
    keys: np.ndarray
    sa: np.ndarray
    sa_bits: np.ndarray
    onehot: np.ndarray
    nflag: np.ndarray
    keyring: KeyRing
    to_sa_order: object  # coroutine function: position-order columns -> SA order (reuses the build's shuffle)
    build_seconds: float = 0.0

    @property
    def n(self) -> int:
        return int(sum(length for _, length in self.records))

    @property
    def rows(self) -> int:
        return self.n + 1

    @property
    def pointer_bits(self) -> int:
        return pointer_bits(self.rows, self.step)

    @property
    def position_bits(self) -> int:
        return position_bits(self.n)

    @property
    def record_lengths(self) -> list[int]:
        return [length for _, length in self.records]

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.record_lengths)[:-1]]).astype(np.int64)

    @classmethod
    async def build(cls, records, record_meta, *, reference_party: int, step: int, build: str = "owner"):
        """Build the index from the owner's ``records`` ((name, codes, quality); None elsewhere).

        ``record_meta`` is the public (name, length) list.  ``build="secure"`` computes the suffix array
        with the secure BWT construction on the shared text; ``"owner"`` lets the owner compute it.
        """
        if build not in BUILDS:
            raise InputError(f"--fm-build must be one of {', '.join(BUILDS)} (got {build!r})")
        started = time.perf_counter()
        keyring = KeyRing()
        n = int(sum(length for _, length in record_meta))
        rows, owner = n + 1, mpc.pid == reference_party
        codes = np.concatenate([c for _, c, _ in records]).astype(np.int64) if owner else None
        text = _index_codes(codes) if owner else None
        onehot = await input_raw(one_hot(codes) if owner else None, (n, 4), FIELD, reference_party, keyring)
        code_bits = await input_raw(bits_of(text, 2) if owner else None, (n, 2), FIELD, reference_party, keyring)
        sa = await _shared_suffix_array(text, n, reference_party, build, keyring)
        pb = pointer_bits(rows, step)

        # one shuffle serves the scatter (ISA by position) and every later gather into SA order
        pi = SecretShuffle(rows, keyring)
        sa_shuffled, j_bits = await pi.apply_raw([sa, bits_of(np.arange(rows), pb)], [FIELD, FIELD])
        q = await open_shuffled(secure_array(SMALL, FIELD, sa_shuffled),
                                why="the suffix array after a fresh secret uniform shuffle is uniformly random: "
                                    "scatter ISA to text positions and gather the index rows into SA order")
        isa_bits = placed(j_bits, q)  # row x: bits of ISA[x]

        async def to_sa_order(columns: np.ndarray) -> np.ndarray:
            [out] = await pi.apply_raw([columns[q]], [FIELD], inverse=True)
            return out

        x = np.arange(rows, dtype=np.int64)
        full = (x + step <= n).astype(np.int64)
        psi = np.zeros((rows, pb), dtype=np.int64)
        psi[full == 1] = isa_bits[x[full == 1] + step]
        psi[full == 0] = bits_of(n - x[full == 0], pb)  # public: real bases left before '$'
        by_position = np.concatenate([psi, full[:, None], _chunk_columns(code_bits, step, rows),
                                      bits_of(x, position_bits(n))], axis=1)
        by_row = await to_sa_order(by_position)
        width = pb + 1 + 2 * step
        index = cls(list(record_meta), step, by_row[:, :width], sa, by_row[:, width:], onehot,
                    (1 - onehot.sum(axis=1)) % P, keyring, to_sa_order)
        index.build_seconds = time.perf_counter() - started
        return index


async def _shared_suffix_array(text, n: int, reference_party: int, build: str, keyring: KeyRing) -> np.ndarray:
    """Raw GF(2^31-1) shares of the suffix array of the indexed text (n + 1 entries)."""
    if build == "owner":
        return await input_raw(suffix_array(text) if text is not None else None, (n + 1,), FIELD,
                               reference_party, keyring)
    from .bwt import bwt_sectype, secure_suffix_array_bwt

    stype = bwt_sectype(n)
    shared = mpc.input(stype.array(text if text is not None else np.zeros(n, dtype=np.int64)),
                       senders=reference_party)
    result = await secure_suffix_array_bwt(shared)
    return raw_shares(await mpc.gather(result.sa))


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
        chunks = np.stack([_chunk_layout(c & 1, c >> 1) for c in codes])
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
                          final_lanes, final_end) -> tuple[np.ndarray, np.ndarray]:
    """Batched backward search of every pattern: the final lanes of its s and e bounds (patterns x lanes).

    ``pattern_codes`` (querier only): per pattern its codes (N read as A).  ``final_lanes``/``final_end``:
    what to copy out of the rows the final bounds name (see :func:`merge_lanes`).  Each step is one merge;
    for patterns that go on, the merge also copies the bits of the new bounds (the row numbers' bits).
    """
    h, pb, keyring = index.step, index.pointer_bits, index.keyring
    steps = [steps_of(p.length, h) for p in patterns]
    count = len(patterns)
    bounds = np.zeros((2 * count, pb), dtype=np.int64)  # shares of the bits of s (rows 0..count-1), then e
    final = np.zeros((2 * count, final_lanes.shape[1]), dtype=np.int64)
    row_bits, end_bits = bits_of(np.arange(index.rows), pb), bits_of([index.rows], pb)[0]
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
        lanes, ends = [], []
        if ending.any():
            lanes.append(final_lanes)
            ends.append(final_end)
        if not ending.all():
            lanes.append(row_bits)
            ends.append(end_bits)
        out = await merge_lanes(index.keys, queries, np.concatenate(lanes, axis=1), np.concatenate(ends), keyring,
                                why="backward-search step: rows and interval bounds sorted together; the "
                                    "sort destinations after a fresh secret shuffle are a uniform permutation",
                                desc="fm merge")
        rows = np.concatenate([active, count + active])
        width = final_lanes.shape[1] if ending.any() else 0
        if ending.any():
            done = np.concatenate([ending, ending])
            final[rows[done]] = out[done, :width]
        if not ending.all():
            bounds[rows] = out[:, width:]
    return final[:count], final[count:]


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
        codes.append(_index_codes(piece))
        usable.append(int((piece < N_CODE).all()))
    return codes, np.array(usable, dtype=np.int64)


def _locate(index: SecureFMIndex, x: int) -> tuple[int, int]:
    starts = index.starts
    r = int(np.searchsorted(starts, x, side="right") - 1)
    return r, int(x - starts[r])


async def search_batch(index: SecureFMIndex, read_records, read_lengths, *, k: int, strands, cap: int,
                       query_party: int) -> FMResult | None:
    """Search one batch of reads (lengths public) in the index; the querier gets an :class:`FMResult`."""
    patterns = patterns_of(read_lengths, k, strands)
    codes = usable = None
    if mpc.pid == query_party:
        codes, usable = _pattern_codes(read_records, patterns)
    shared_usable = await input_raw(usable, (len(patterns),), FIELD, query_party, index.keyring)
    if k == 0:
        return await _exact(index, patterns, codes, usable, shared_usable, cap, query_party)
    return await _seed_and_verify(index, patterns, codes, usable, shared_usable, cap, query_party, read_records, k)


async def _spoiled(values: np.ndarray, usable: np.ndarray, keyring: KeyRing) -> np.ndarray:
    """values + u * (1 - usable) with u secret uniform: unchanged for usable patterns, uniform otherwise."""
    u = await multiply(await _random(usable.shape, keyring), (1 - usable) % P, FIELD, keyring)
    return (values + u) % P


async def _masked(values: np.ndarray, keyring: KeyRing) -> np.ndarray:
    """r * values for fresh secret uniform r, REPETITIONS times (leading axis)."""
    shape = (REPETITIONS, *values.shape)
    return await multiply(await _random(shape, keyring), np.broadcast_to(values, shape).copy(), FIELD, keyring)


def _following_rows(per_row: np.ndarray, beyond: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Lanes (and end value) of row j: j itself, then ``per_row`` of rows j, j + 1, ..., j + cap - 1
    (``beyond`` past the last row): a bound copies out its own row number and its first cap rows."""
    rows = per_row.shape[0]
    padded = np.concatenate([per_row, np.tile(beyond, (cap, 1))])
    lanes = np.concatenate([np.arange(rows)[:, None]] + [padded[d:d + rows] for d in range(cap)], axis=1)
    return lanes, np.concatenate([[rows], np.tile(beyond, cap)])


async def _exact_lanes(index: SecureFMIndex, lengths: list[int], cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Lanes of row j for exact search: j; then for delta < cap, of row j + delta: SA and, per read length
    m, the N bases and record crossings of the window of m bases there (zero iff an occurrence is a hit)."""
    rows, n = index.rows, index.n
    nprefix = np.concatenate([[0], np.cumsum(index.nflag)]) % P
    x = np.arange(rows)
    bad = [(nprefix[np.minimum(x + m, n)] - nprefix[np.minimum(x, n)]
            + _record_bad(index.starts, index.record_lengths, n, 0, m)) % P for m in lengths]
    per_row = np.concatenate([index.sa[:, None], await index.to_sa_order(np.stack(bad, axis=1))], axis=1)
    beyond = np.r_[0, np.ones(len(lengths), dtype=np.int64)]  # past the last row: position 0, not a hit
    return _following_rows(per_row, beyond, cap)


async def _occurrences(s_lanes, e_lanes, usable, shared_usable, cap: int, query_party: int, keyring):
    """Querier: per pattern min(c, cap + 1) for c = e - s its exact occurrences (0 if unusable)."""
    count = len(s_lanes)
    c = (e_lanes[:, 0] - s_lanes[:, 0]) % P
    diffs = (c[None, :] - np.arange(cap + 1)[:, None]) % P
    diffs = await _spoiled(diffs, np.broadcast_to(shared_usable, (cap + 1, count)).copy(), keyring)
    opened = await _open_to(await _masked(diffs, keyring), query_party, "fm.count_tests",
                            "zero exactly at j = number of exact occurrences when it is <= cap")
    if opened is None:
        return None
    zero = (opened == 0).all(axis=0)  # (cap + 1, patterns)
    occurrences = np.where(zero.any(axis=0), zero.argmax(axis=0), cap + 1)
    occurrences[usable == 0] = 0
    return occurrences


async def _exact(index, patterns, codes, usable, shared_usable, cap, query_party):
    """k = 0: exact occurrences of every read strand, located through the shared suffix array."""
    keyring, count = index.keyring, len(patterns)
    lengths = sorted({p.length for p in patterns})
    lanes, end = await _exact_lanes(index, lengths, cap)
    s_lanes, e_lanes = await backward_search(index, patterns, codes, query_party, lanes, end)
    occurrences = await _occurrences(s_lanes, e_lanes, usable, shared_usable, cap, query_party, keyring)
    select = None
    if occurrences is not None:  # the querier asks for the rows of its occurrences, at most cap
        select = (np.arange(cap)[:, None] < np.minimum(occurrences, cap)[None, :]).astype(np.int64)
    shared_select = await input_raw(select, (cap, count), FIELD, query_party, keyring)

    per_lane = s_lanes[:, 1:].reshape(count, cap, 1 + len(lengths))
    position = per_lane[:, :, 0].T  # (cap, patterns)
    bad = np.stack([per_lane[i, :, 1 + lengths.index(p.length)] for i, p in enumerate(patterns)], axis=1)
    shape = (1 + REPETITIONS, cap, count)
    masked = await multiply(await _random(shape, keyring), np.broadcast_to(bad, shape).copy(), FIELD, keyring)
    values = np.concatenate([((position + masked[0]) % P)[None], masked[1:]])
    chosen = await multiply(values, np.broadcast_to(shared_select, values.shape).copy(), FIELD, keyring)
    opened = await _open_to(chosen, query_party, "fm.locations",
                            "the querier's selected occurrences: the position where the window is a hit")
    if opened is None:
        return None
    result = FMResult(overflow={p.read for i, p in enumerate(patterns) if occurrences[i] > cap})
    for d, i in zip(*np.nonzero(select)):
        if (opened[1:, d, i] != 0).any():
            continue  # N bases or a record boundary in the window
        record, pos = _locate(index, int(opened[0, d, i]))
        result.hits.append(Hit(patterns[i].read, patterns[i].strand, record, pos, 0))
    return result


async def _seed_and_verify(index, patterns, codes, usable, shared_usable, cap, query_party, read_records, k):
    """k > 0: exact search of the k + 1 seeds of every read strand, then the Hamming test of the windows
    at the first ``cap`` rows from every seed's interval start."""
    keyring, lx, count = index.keyring, index.position_bits, len(patterns)
    lanes, end = _following_rows(index.sa_bits, np.zeros(lx, dtype=np.int64), cap)
    s_lanes, e_lanes = await backward_search(index, patterns, codes, query_party, lanes, end)

    c = (e_lanes[:, 0] - s_lanes[:, 0]) % P
    over_cap = await _product_tree([(c - j) % P for j in range(cap + 1)], keyring)  # zero iff c <= cap
    opened = await _open_to(await _masked(await _spoiled(over_cap, shared_usable, keyring), keyring),
                            query_party, "fm.overflow_tests", "zero iff the seed occurs at most cap times")

    # candidates: the first cap rows from each seed's interval start; window start = SA entry - seed offset
    candidate_bits = s_lanes[:, 1:].reshape(count, cap, lx)
    found = set()
    for m in sorted({p.read_length for p in patterns}):
        strands = list(dict.fromkeys((p.read, p.strand) for p in patterns if p.read_length == m))
        column = {key: i for i, key in enumerate(strands)}
        query = await _share_read_strands(read_records, strands, m, query_party, keyring)
        members = [i for i, p in enumerate(patterns) if p.read_length == m]
        owner = np.repeat(np.array(members, dtype=np.int64), cap)  # the pattern of every candidate
        reads = np.array([column[(patterns[i].read, patterns[i].strand)] for i in owner], dtype=np.int64)
        seed_bits = np.concatenate([candidate_bits[members].reshape(-1, lx),
                                    np.zeros((len(owner), 1), dtype=np.int64)], axis=1)
        offsets = np.array([patterns[i].offset for i in owner], dtype=np.int64)
        start_bits = await _minus_public(seed_bits, offsets, keyring)
        for j, start, e in await _verify(index, m, start_bits, query[reads], k, query_party) or ():
            p = patterns[owner[j]]
            found.add(Hit(p.read, p.strand, *_locate(index, start), e))
    if opened is None:
        return None
    overflow = {p.read for i, p in enumerate(patterns) if usable[i] and (opened[:, i] != 0).any()}
    return FMResult(sorted(found), overflow)


async def _share_read_strands(read_records, strand_list, m: int, query_party: int, keyring) -> np.ndarray:
    """Shares of the one-hot read strands (N = zero row): (strands, 4m)."""
    values = None
    if mpc.pid == query_party:
        values = np.empty((len(strand_list), 4 * m), dtype=np.int64)
        for i, (read, strand) in enumerate(strand_list):
            values[i] = one_hot(on_strand(read_records[read][1], strand)).reshape(-1)
    return await input_raw(values, (len(strand_list), 4 * m), FIELD, query_party, keyring)


async def _minus_public(bits: np.ndarray, constants: np.ndarray, keyring: KeyRing) -> np.ndarray:
    """Shares of the bits of (x - c) mod 2^w from shares of the bits of x ((n, w), least significant first)
    and a public c per row: a borrow chain, one multiplication per bit for all rows together."""
    n, width = bits.shape
    c = bits_of(constants, width)
    out = np.empty_like(bits)
    borrow = np.zeros(n, dtype=np.int64)
    for i in range(width):
        x = bits[:, i]
        both = await multiply(x, borrow, FIELD, keyring) if i else np.zeros(n, dtype=np.int64)
        differ = (x + borrow - 2 * both) % P  # x xor borrow
        out[:, i] = np.where(c[:, i] == 1, 1 - differ, differ) % P
        # borrow out of x - c - borrow: c = 0: not x and borrow; c = 1: not x or borrow
        borrow = np.where(c[:, i] == 1, 1 - x + both, borrow - both) % P
    return out


def _chunk_rows(candidates: int, m: int) -> int:
    """Candidates per verification merge: as few merges as memory allows (each one moves the whole text
    table again), of equal size."""
    merges = math.ceil(candidates / max(1, MERGE_VALUES // (4 * m + 1)))
    return max(1, math.ceil(candidates / max(1, merges)))


async def _verify(index, m: int, start_bits, query, k: int, query_party: int):
    """Hamming test of the windows of m bases at secret text positions (the candidates' window starts).

    ``start_bits``: shares of the starts' bits (position bits + 1: a start before the text wraps past
    every row and is no hit); ``query``: the candidates' read strands (one-hot).  Returns, on the querier,
    (candidate, window start, mismatches) of every hit."""
    keyring, rows, n = index.keyring, index.rows, index.n
    width = start_bits.shape[1]
    padded = np.zeros((n + m + 1, 4), dtype=np.int64)
    padded[:n] = index.onehot
    windows = np.lib.stride_tricks.sliding_window_view(padded, (m, 4))[:rows, 0].reshape(rows, 4 * m)
    bad = _record_bad(index.starts, index.record_lengths, n, 0, m)
    table_lanes = np.concatenate([windows, bad[:, None]], axis=1)
    end = np.concatenate([np.zeros(4 * m, dtype=np.int64), [1]])
    table_keys = bits_of(np.arange(rows), width)
    chunk = _chunk_rows(len(start_bits), m)
    out = [] if mpc.pid == query_party else None
    for first in range(0, len(start_bits), chunk):
        part = slice(first, first + chunk)
        lanes = await merge_lanes(table_keys, start_bits[part], table_lanes, end, keyring,
                                  why="candidate windows: text positions and candidates sorted together; the "
                                      "sort destinations after a fresh secret shuffle are a uniform permutation")
        window, window_bad = lanes[:, :4 * m], lanes[:, 4 * m]
        matches = await multiply_sum(window.T, query[part].T, FIELD, keyring)  # one resharing
        d = (m - matches + (m + 1) * window_bad) % P
        differences = [(d - e) % P for e in range(k + 1)]
        tests = await _masked(np.stack(differences), keyring)
        gate = await _product_tree(differences, keyring)
        positions = (start_bits[part] @ (1 << np.arange(width, dtype=np.int64))) % P
        masked = await multiply(await _random(gate.shape, keyring), gate, FIELD, keyring)
        tests = await _open_to(tests, query_party, "fm.verify_tests",
                               "zero where a candidate window has exactly e <= k mismatches: the querier's hits")
        starts = await _open_to((positions + masked) % P, query_party, "fm.verify_positions",
                                "the window start where the candidate is a hit, uniformly random elsewhere")
        if tests is None:
            continue
        zero = (tests == 0).all(axis=0)
        for j in np.flatnonzero(zero.any(axis=0)):
            out.append((first + j, int(starts[j]), int(zero[:, j].argmax())))
    return out


# ------------------------------------------------------------------------------------------ the engine

FM_BATCH = 10_000  #: reads per backward-search batch by default (the index is reused across batches)


@dataclass
class FMOutcome:
    hits: list[Hit] | None
    overflow: list[int] | None
    stats: dict


async def fm_engine(records, read_records, record_meta, read_lengths, *, k: int, strands, cap: int,
                    step: int | None, build: str, batch_size: int | None, reference_party: int,
                    query_party: int) -> FMOutcome:
    """Build the index once, search the reads batch by batch; the querier's hits and overflowing reads."""
    check_parameters(cap, step)
    step = step or default_step(read_lengths, k)
    index = await SecureFMIndex.build(records, record_meta, reference_party=reference_party, step=step,
                                      build=build)
    started = time.perf_counter()
    size = batch_size or FM_BATCH
    hits, overflow = ([], set()) if mpc.pid == query_party else (None, None)
    batches = range(0, len(read_lengths), size)
    for first in core.progress(batches, total=len(batches), desc="fm search", unit="batch"):
        mine = read_records[first:first + size] if read_records is not None else None
        result = await search_batch(index, mine, read_lengths[first:first + size], k=k, strands=strands, cap=cap,
                                    query_party=query_party)
        if result is not None:
            hits.extend(h._replace(read=h.read + first) for h in result.hits)
            overflow.update(r + first for r in result.overflow)
    if hits is not None:
        hits = sorted(set(hits), key=lambda h: (h.read, h.record, h.pos, h.strand))
    stats = {"engine": "fm", "fm_step": step, "cap": cap, "fm_build": build, "batches": len(batches),
             "index_seconds": round(index.build_seconds, 3), "search_seconds": round(time.perf_counter() - started, 3)}
    return FMOutcome(hits, None if overflow is None else sorted(overflow), stats)


# ------------------------------------------------------------------------------------------ cost model

#: the cost model: seconds per unit of each :func:`cost_features` term, at 3 parties, least-squares fit to
#: benchmarks/search_engines.py on the 2-core benchmark machine (docs/performance.md)
COST_SECONDS = {"build": 3.1e-7, "row_bits": 7.3e-7, "row_lanes": 7.6e-7}


def cost_features(n: int, read_lengths, k: int, strands: int, *, cap: int | None = None,
                  step: int | None = None) -> dict[str, float]:
    """What the fm engine's time grows with, from the public sizes: the index build (rows x columns), the
    merges' rows x key bits (their radix sorts) and rows x lanes (values moved by the scatters, the
    one-hot windows of the verification included)."""
    cap = DEFAULT_CAP if cap is None else cap
    h = step or default_step(read_lengths, k)
    rows = n + 1
    pb, lx = pointer_bits(rows, h), position_bits(n)
    key_bits = pb + 2 + 2 * h
    lanes = 1 + cap * (2 if k == 0 else lx)
    out = {"build": rows * (2 * h + pb + lx + 4), "row_bits": 0.0, "row_lanes": 0.0}
    for first in range(0, len(read_lengths), FM_BATCH):
        batch = read_lengths[first:first + FM_BATCH]
        patterns = patterns_of(batch, k, ["+"] * strands)
        merged = rows + 2 * len(patterns)
        steps = max(steps_of(p.length, h) for p in patterns)
        out["row_bits"] += steps * merged * key_bits
        out["row_lanes"] += steps * merged * (lanes + pb)
        if k:  # one verification merge per read length, moving one-hot windows
            for m in set(batch):
                candidates = cap * sum(1 for p in patterns if p.read_length == m)
                chunks = math.ceil(candidates / _chunk_rows(candidates, m))
                out["row_bits"] += (chunks * rows + candidates) * (lx + 2)
                out["row_lanes"] += (chunks * rows + candidates) * (4 * m + 1)
    return out


def estimated_seconds(n: int, read_lengths, k: int, strands: int, *, cap: int | None = None,
                      step: int | None = None) -> float:
    """What the fm engine should take (index build included), from the public sizes: for ``--engine auto``."""
    features = cost_features(n, read_lengths, k, strands, cap=cap, step=step)
    return sum(COST_SECONDS[name] * value for name, value in features.items())


# ---------------------------------------------------------------------------------------- plaintext twin

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

    ``reference``: record code arrays; ``reads``: read code arrays (codes 0..4)."""
    records = [np.asarray(r, dtype=np.int64) for r in reference]
    reads = [np.asarray(r, dtype=np.int64) for r in reads]
    real = np.concatenate(records)
    text = _index_codes(real)
    sa = suffix_array(text)
    lengths = [len(r) for r in records]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    n = len(text)
    strands = ("+", "-") if strand == "both" else ("+",)
    hits, overflow = set(), set()
    bad = {m: _record_bad(starts, lengths, n, 0, m) for m in {len(r) for r in reads}}
    for p in patterns_of([len(r) for r in reads], k, strands):
        read = on_strand(reads[p.read], p.strand)
        piece = read[p.offset:p.offset + p.length]
        usable = bool((piece < N_CODE).all())
        s, e = _suffix_bounds(text, sa, _index_codes(piece))
        c = e - s
        if usable and c > cap:
            overflow.add(p.read)
        if k == 0:
            rows = range(s, s + min(c, cap)) if usable else range(0)
        else:
            rows = range(s, min(s + cap, n + 2))  # rows past the end all give position 0
        for j in rows:
            x = int(sa[j]) if j <= n else 0
            start = x - p.offset
            if not 0 <= start <= n or bad[p.read_length][start]:
                continue
            d = int((real[start:start + p.read_length] != read).sum()) + \
                int(((real[start:start + p.read_length] == N_CODE) & (read == N_CODE)).sum())
            if d <= k:
                r = int(np.searchsorted(starts, start, side="right") - 1)
                hits.add(Hit(p.read, p.strand, r, int(start - starts[r]), d))
    return sorted(hits, key=lambda h: (h.read, h.record, h.pos, h.strand)), sorted(overflow)
