"""Suffix array and Burrows–Wheeler transform of a secret-shared DNA sequence (oblivious prefix doubling).

The text is ``T$``: n base codes (A0 C1 G2 T3) followed by the sentinel ``$``, which sorts before every
base.  Its suffix array ``SA`` lists the n+1 suffix start positions in lexicographic order (``SA[0] = n``)
and ``BWT[i] = T$[SA[i] - 1]`` (cyclically).  In the BWT codes the sentinel is :data:`SENTINEL` ``= 4``,
so ``"ACGT$"[code]`` spells it.

Protocol (Manber–Myers prefix doubling made oblivious, as in Isayama et al., "Oblivious Suffix Sorting",
ACNS 2025; the code is ours).  Every step runs on this party's raw shares as numpy arrays (the core's
raw-share layer): int64 shares of the small field GF(2³¹−1) (:data:`POSITIONS`) for positions, ranks,
bits and the text, and Python-int shares of the secure integers' field ("big") only for the one column
per round whose bits the radix sort needs (the core's masked bit decomposition needs ~80 bits of room
above the value, which GF(2³¹−1) lacks).  Permutations are only ever *scattered* (``y[σ[i]] = x[i]``:
one secret shuffle of σ with every column to move, one opening of the shuffled σ, local placement).

1. **k-mers.**  Every suffix gets the key of its first k symbols, packed in base 5 (``$``/past-the-end 0,
   bases 1..4): a local linear combination of shifted codes.  k is the largest with 5^k ≤ 2^L, L the bit
   length of n, so the first sort costs no more than a round's.  Its bits (masked bit decomposition)
   drive one stable radix sort → SA_k, and give the keys in the small field; zero tests of the gaps
   between sorted neighbours and prefix sums (local) give the dense ranks in SA order; a scatter by SA
   gives ISA.
2. **Doubling rounds** (h = k, 2k, 4k, ...).  Suffix i's new key is (rank_h[i], rank_h[i+h]).  The order
   by the second key needs no sort: it is the previous order shifted, σ₂[j] = SA_h[j] − h (mod n+1),
   and the second keys in that order are the sorted ranks already held.  (Suffixes with i + h > n wrap
   around; their h-prefix contains ``$`` and is unique, so their second key never matters.)  The first
   key of row j is ranks[π(j)] with π(j) = ISA[σ₂[j]]: one scatter by ISA (small field) gives π⁻¹ and σ₂,
   one scatter of the big-field ranks by π⁻¹ gives the first keys; ONE stable radix sort on them (L bits)
   yields SA_2h with the second keys in SA_2h order.  Within a bucket the second keys ascend, so
   gap = (n+1)·old_differs + Δsecond is zero iff neighbours are equal; one zero test, prefix sums give
   the new ranks, one scatter by SA_2h gives ISA.
3. After ⌈log₂(n/k)⌉ rounds h ≥ n, so SA_h is the suffix array; the last round skips the re-ranking and
   carries ``T$[x − 1]`` through its scatters and sort, which makes the BWT column for free.

The zero test is Fermat's: gap^(p−1) (p = 2³¹−1) is 1 iff gap ≠ 0, 36 multiplications along an addition
chain, nothing opened.  Its bits reach the big field (for the next round's sort key) through a random bit
shared in both fields: only the bits XOR that random bit are opened (uniformly random).  So a default run
opens only values that are uniformly random or statistically masked (labels in :data:`HIDING_LABELS`)
plus the outputs asked for; the number of rounds depends on n only.  With ``early_exit`` the parties
open one bit before every round — are all ranks already distinct? — and stop when they are; that tells
everyone the length of the longest repeated substring within a factor of two (see :data:`LEAKAGE`).

Memory: :func:`plan` predicts the peak per party from n and chunks the masked bit decompositions (their
(rows × bits) matrices are the largest temporaries) to fit a budget, or stops before anything is shared.
Cost per round: ~10 shuffles of n rows (4 scatters, 2·⌈L/3⌉ in the radix sort), one bit decomposition
of L bits, 36 + 3 small-field multiplications; O(n·L) traffic, O(L) communication rounds.

:func:`suffix_array_bwt` is the plaintext twin: the same steps on numpy arrays, used by the tests.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

import numpy as np

from .. import core
from ..core import mpc
from ..core import PERMUTATION_LEAKAGE, SORT_LEAKAGE, KeyRing, SecretShuffle, input_raw, key_bits, multiply
from ..core import SMALL, SMALL_FIELD as FIELD, RawShares, open_shuffled, placed, radix_destinations, raw_shares, secure_array
from ..core.ledger import TRANSCRIPT_LIMIT
from ..core.memory import BASELINE_BYTES, GIB, MemoryPlan, agree_budget, choose, peak_rss
from ..errors import InputError
from .oracle import BWT_LETTERS, DOLLAR

SENTINEL = DOLLAR  #: code of ``$`` in the BWT output (4, as in the oracle's BWT code arrays)
POSITIONS = SMALL  #: secure type of positions (SA): the core's small field GF(2^31-1), cheap to shuffle
KMER_BASE = 5  #: k-mer keys pack ``$``=0 and bases 1..4 in base 5

LEAKAGE: dict[str, str] = {
    **PERMUTATION_LEAKAGE,  # shuffle.permutation: uniformly random permutations
    **SORT_LEAKAGE,  # sort.masked_keys: sort keys and neighbour gaps under statistical masks
    "bwt.masked_differs": "to all parties: the neighbour-differs bits of every round XOR fresh secret random "
                          "bits, i.e. uniformly random bits independent of the text",
    "bwt.all_distinct": "--early-exit only, to all parties, one bit per round: whether all suffixes already "
                        "differ in their first h bases (reveals the longest repeat length within a factor 2)",
    "bwt.suffix_array": "to the chosen receivers only: the suffix array (n+1 integers)",
    "bwt.bwt": "to the chosen receivers only: the BWT (n+1 symbols over ACGT$)",
}
#: labels a default run may open besides the requested outputs: random-looking values only
HIDING_LABELS = ("shuffle.permutation", "sort.masked_keys", "bwt.masked_differs")


@dataclass(frozen=True)
class Schedule:
    """The public parameters of a run, all functions of n."""

    n: int
    kmer: int  # k: bases packed into the first key
    rounds: int  # doubling rounds needed in the worst case: k * 2^rounds >= n
    rank_bits: int  # bit length of a rank (0..n)
    key_bits: int  # bit length of a k-mer key (< 5^k)

    @property
    def bit_length(self) -> int:
        """Bit length the secure integer type must offer (values and zero tests, with headroom)."""
        return max(self.key_bits, self.rank_bits) + 2


def schedule(n: int) -> Schedule:
    """k, the number of rounds and the bit lengths for a text of n bases (n >= 1)."""
    if n < 1:
        raise ValueError("the text must have at least one base")
    rank_bits = n.bit_length()
    k = 1
    while (KMER_BASE ** (k + 1) - 1).bit_length() <= rank_bits:
        k += 1
    rounds = max(0, math.ceil(math.log2(n / k))) if n > k else 0
    return Schedule(n, k, rounds, rank_bits, (KMER_BASE ** k - 1).bit_length())


# Memory and time model of one party (fitted to measured runs: docs/bwt.md, "Memory plan").  Per row of
# T$ the run holds a few int64 columns and one column of big-field ints, plus the sort's bit matrix and
# the shuffles' and radix rounds' temporaries; per row of a bit-decomposition chunk, the core's masked
# bit decomposition holds about six (rows x bits) int64 matrices and a few big-field columns.
ROW_BYTES = 1_000  #: per row of T$, whatever the chunking
CHUNK_ROW_BYTES_PER_BIT = 60  #: per row of a bit-decomposition chunk and bit
VALUE_BYTES = 40  #: one opened value in the ledger's transcript (a Python int in a list)
OPENED_PER_ROW_ROUND = 12  #: values opened per row and round (shuffled permutations, masked keys and bits)
SECONDS_PER_ROW_ROUND_BIT = 3.8e-6  #: seconds per row, round and bit: CPU-bound estimate, 3 parties, 2 idle cores
SECONDS_PER_CHUNK_ROUND = 0.6  #: latency of one more chunk's bit decomposition per round
CHUNKS = tuple(1 << e for e in range(24, 11, -1))  #: candidate chunk sizes (rows), largest first


def plan(n: int, *, early_exit: bool = False, budget: int) -> MemoryPlan:
    """The fastest chunking of the bit decompositions whose predicted peak per party fits ``budget`` bytes,
    from the public n only; :class:`~securegenome.core.memory.MemoryPlanError` (one line) if none does.

    ``early_exit`` does not change the peak; the predicted seconds assume all rounds (the worst case).
    """
    s = schedule(n)
    n1 = n + 1
    bits = max(s.rank_bits, s.key_bits)
    transcript = VALUE_BYTES * min(TRANSCRIPT_LIMIT, OPENED_PER_ROW_ROUND * n1 * (s.rounds + 1))
    plans = []
    for chunk in sorted({min(c, n1) for c in CHUNKS}, reverse=True):
        peak = BASELINE_BYTES + transcript + ROW_BYTES * n1 + CHUNK_ROW_BYTES_PER_BIT * bits * chunk
        chunks = -(-n1 // chunk)
        seconds = (s.rounds + 1) * (SECONDS_PER_ROW_ROUND_BIT * n1 * bits + SECONDS_PER_CHUNK_ROUND * (chunks - 1))
        plans.append(MemoryPlan(f"bwt, bit decompositions in {chunks} chunk{'s' if chunks > 1 else ''}",
                                int(peak), seconds,
                                {"chunk": chunk, "chunks": chunks, "kmer": s.kmer, "rounds": s.rounds,
                                 "early_exit": early_exit}))
    return choose(plans, budget, f"the secure BWT of {n} bases")


def bwt_sectype(n: int):
    """The secure integer type to secret-share a text of n bases in (values fit with headroom)."""
    return core.key_sectype(schedule(n).bit_length)  # room for the sort's statistical masks (issue 15.6)


@dataclass
class SuffixArrayBWT:
    """Result of a suffix array / BWT construction (secure arrays, or numpy arrays for the twin)."""

    sa: object  # n+1 suffix start positions, SA[0] = n
    bwt: object  # n+1 codes over ACGT$ (``$`` = SENTINEL)
    rounds: int  # doubling rounds actually run


# ---------------------------------------------------------------------------------------- plaintext twin

def suffix_array_bwt(codes, *, early_exit: bool = False) -> SuffixArrayBWT:
    """Plaintext twin of :func:`secure_suffix_array_bwt`: the same steps on numpy arrays."""
    codes = np.asarray(codes, dtype=np.int64)
    _check_codes(codes)
    p = schedule(len(codes))
    n1 = p.n + 1
    iota = np.arange(n1)
    keys = _kmer_keys_plain(codes, p.kmer)
    sa = np.argsort(keys, kind="stable")
    differs = np.r_[0, (np.diff(keys[sa]) != 0).astype(np.int64)]
    ranks_sorted = np.cumsum(differs)
    rank = _by_position_plain(sa, ranks_sorted)
    h, done = p.kmer, 0
    for r in range(p.rounds):
        if early_exit and ranks_sorted[-1] == p.n:
            break
        first, shifted = np.roll(rank, h)[sa], np.roll(iota, h)[sa]  # in σ₂ order
        order = np.argsort(first, kind="stable")
        second, sa = ranks_sorted[order], shifted[order]
        done += 1
        if r == p.rounds - 1:  # h >= n: all ranks distinct
            break
        same_bucket = 1 - differs[1:]
        gap = differs[1:] + same_bucket * np.diff(second)  # 0 iff equal to the left neighbour
        differs = np.r_[0, (gap != 0).astype(np.int64)]
        ranks_sorted = np.cumsum(differs)
        rank = _by_position_plain(sa, ranks_sorted)
        h *= 2
    bwt = np.roll(np.r_[codes, SENTINEL], 1)[sa]  # the secure run carries this column in its last round
    return SuffixArrayBWT(sa, bwt, done)


def _kmer_keys_plain(codes, k):
    padded = np.r_[codes + 1, np.zeros(k, dtype=np.int64)]
    n1 = len(codes) + 1
    return sum(KMER_BASE ** (k - 1 - t) * padded[t:t + n1] for t in range(k))


def _by_position_plain(sa, values):
    out = np.empty_like(values)
    out[sa] = values
    return out


def _check_codes(codes):
    if codes.ndim != 1 or codes.size == 0:
        raise ValueError("the text must be a non-empty 1-D array of base codes")
    if codes.min() < 0 or codes.max() > 3:
        raise ValueError("base codes must lie in 0..3 (A, C, G, T); resolve N/IUPAC codes first")


# ---------------------------------------------------------------------------------------- secure protocol

async def secure_suffix_array_bwt(codes, *, early_exit: bool = False, chunk: int | None = None) -> SuffixArrayBWT:
    """Secret-shared suffix array and BWT of the secret-shared text ``codes`` (base codes 0..3).

    ``codes`` is a secure integer array (type from :func:`bwt_sectype` or wider), e.g. one owner's
    sequence or several parties' segments concatenated.  Returns secure arrays of length n+1 over the
    core's small field GF(2^31-1) (:data:`POSITIONS`): ``sa`` (positions) and ``bwt`` (codes, ``$`` coded
    :data:`SENTINEL`).  Opened on the way: only uniformly random or statistically masked values
    (:data:`HIDING_LABELS`), plus with ``early_exit`` one bit per round (``bwt.all_distinct``).
    ``chunk`` (rows per masked bit decomposition; default all) bounds the memory: see :func:`plan`.
    """
    stype = codes.sectype
    s = schedule(len(codes))
    if stype.bit_length < s.bit_length:
        raise ValueError(f"a text of {s.n} bases needs secure integers of at least {s.bit_length} bits "
                         f"(use bwt_sectype(n)); got {stype.bit_length}")
    run = _Run(stype, s.n + 1, chunk or s.n + 1)
    codes = raw_shares(await mpc.gather(codes))
    text = np.concatenate([await run.small(codes, 2), [SENTINEL]])  # T$ in the small field
    iota = np.arange(run.n1, dtype=np.int64)

    keys = _kmer_keys(codes, s.kmer, run.big.modulus)
    bits = await run.bits(keys, s.key_bits)
    sa, sorted_keys = await run.scatter(await radix_destinations(bits, run.keyring), iota, _value(bits))
    del keys, bits
    differs = await run.left_differs(_sub(sorted_keys[1:], sorted_keys[:-1]))
    ranks_small, ranks_big = await run.ranks(differs)
    [isa] = await run.scatter(sa, iota)

    h, done, bwt = s.kmer, 0, None
    for r in core.progress(range(s.rounds), total=s.rounds, desc="bwt rounds", unit="round"):
        if early_exit and await run.all_distinct(ranks_small[-1:] - s.n):
            break
        last = r == s.rounds - 1
        # Row j of the new sort is suffix x = SA[j] - h (σ₂ order), first key rank[x] = ranks[π(j)] with
        # π(j) = ISA[SA[j] - h].  Scattering by ISA gives, in SA order, π⁻¹(j) = ISA[SA[j] + h] and x (and
        # in the last round T$[x - 1], which the sort turns into the BWT); scattering the ranks (the only
        # big-field column) by π⁻¹ then puts the first keys in σ₂ order.
        back, shifted, *carried = await run.scatter(isa, np.roll(isa, -h), np.roll(iota, h),
                                                    *([np.roll(text, h + 1)] if last else []))
        [first] = await run.scatter(back, ranks_big)
        del back, ranks_big
        bits = await run.bits(first, s.rank_bits)
        del first
        second, sa, *tail = await run.scatter(await radix_destinations(bits, run.keyring), ranks_small, shifted,
                                              *carried)
        del bits, shifted, carried
        done += 1
        if last:  # h >= n now: all ranks are distinct, no need to compute them
            bwt = tail[0]
            break
        # neighbours j-1, j are equal iff same old bucket and same second key.  Within a bucket the second
        # keys ascend (the stable sort kept σ₂ order), so (n+1)·old + Δsecond is zero iff they are equal
        gap = (_sub(second[1:], second[:-1]) + (s.n + 1) * differs[1:]) % FIELD.modulus
        differs = await run.left_differs(gap)
        ranks_small, ranks_big = await run.ranks(differs)
        [isa] = await run.scatter(sa, iota)
        h *= 2

    if bwt is None:  # no round, or stopped early: BWT[j] = T$[SA[j] - 1]
        [bwt] = await run.scatter(isa, np.roll(text, 1))
    return SuffixArrayBWT(secure_array(POSITIONS, FIELD, sa), secure_array(POSITIONS, FIELD, bwt), done)


def _sub(a, b):
    return (a - b) % FIELD.modulus


def _value(bits):
    """The integers under secret bit columns (raw small-field shares, least significant first): local."""
    return (bits << np.arange(bits.shape[1])).sum(axis=1) % FIELD.modulus


def _kmer_keys(codes, k, modulus):
    """Raw shares of the key of the first k symbols of every suffix of T$, base 5 ($ and past-the-end 0)."""
    padded = np.concatenate([(codes + 1) % modulus, np.zeros(k, dtype=object)])
    n1 = len(codes) + 1
    keys = padded[0:n1] * KMER_BASE ** (k - 1)
    for t in range(1, k):
        keys = keys + padded[t:t + n1] * KMER_BASE ** (k - 1 - t)
    return keys % modulus


class _Run:
    """The raw-share steps of one construction: columns are this party's shares as numpy arrays, int64 in
    the small field GF(2^31-1) (positions, ranks, bits) and Python ints in the secure integers' field
    ("big": only the ranks that are decomposed into bits, which needs room for statistical masks)."""

    def __init__(self, stype, n1: int, chunk: int):
        self.stype, self.big, self.n1, self.chunk = stype, stype.field, n1, max(1, chunk)
        self.keyring = KeyRing()

    def field_of(self, column):
        return self.big if column.dtype == object else FIELD

    async def scatter(self, sigma, *columns):
        """``y[sigma[i]] = x[i]`` for every column: ONE secret shuffle of sigma and all columns, one opening
        of the shuffled sigma (a uniformly random permutation), local placement."""
        if self.n1 <= 1:
            return list(columns)
        shuffled = await SecretShuffle(self.n1, self.keyring).apply_raw(
            [sigma, *columns], [FIELD, *(self.field_of(c) for c in columns)])
        q = await open_shuffled(shuffled[0],
                                why="a secret permutation after a fresh secret uniform shuffle is uniformly "
                                    "random: scatter rows to their destinations")
        return [placed(x, q) for x in shuffled[1:]]

    async def bits(self, values, nbits: int):
        """(n1, nbits) raw small-field shares of the bits of big-field ``values`` < 2^nbits: the core's
        masked bit decomposition, ``chunk`` rows at a time (its bit matrices are the memory peak)."""
        out = np.empty((len(values), nbits), dtype=np.int64)
        for start in range(0, len(values), self.chunk):
            part = values[start:start + self.chunk]
            out[start:start + len(part)] = await key_bits(secure_array(self.stype, self.big, part), nbits,
                                                          self.keyring)
        return out

    async def small(self, values, nbits: int):
        """Big-field ``values`` < 2^nbits as small-field shares (their bits, recombined locally)."""
        return _value(await self.bits(values, nbits))

    async def left_differs(self, gap):
        """[0, gap[0] != 0, ...] in the small field: 1 where a sorted element differs from its left
        neighbour.  Fermat's zero test: x^(p-1) is 1 for x != 0 and 0 for x = 0 (36 multiplications along
        an addition chain for p - 1 = 2(2^30 - 1); nothing is opened)."""
        return np.concatenate([[0], await self.power_p_minus_1(gap)])

    async def power_p_minus_1(self, x):
        async def times(a, b):
            return await multiply(a, b, FIELD, self.keyring)

        async def square(a, times_count):
            for _ in range(times_count):
                a = await times(a, a)
            return a

        # x^(2^k - 1) for k = 1, 2, 3, 6, 12, 24, 30: x^(2^(a+b)-1) = (x^(2^a-1))^(2^b) · x^(2^b-1)
        e1 = x
        e2 = await times(await square(e1, 1), e1)
        e3 = await times(await square(e2, 1), e1)
        e6 = await times(await square(e3, 3), e3)
        e12 = await times(await square(e6, 6), e6)
        e24 = await times(await square(e12, 12), e12)
        e30 = await times(await square(e24, 6), e6)
        return await square(e30, 1)  # x^(2^31 - 2) = x^(p - 1)

    async def ranks(self, differs):
        """Dense ranks (prefix sums of the differs bits) in both fields.  The bits go to the big field with
        a random bit r shared in both (XOR of one random bit from each of parties 0..t): ``differs XOR r``
        is opened (uniformly random, label ``bwt.masked_differs``) and r is undone locally there."""
        n, p, q = len(differs), FIELD.modulus, self.big.modulus
        mask_small = mask_big = None
        for j in range(mpc.threshold + 1):
            mine = np.frombuffer(secrets.token_bytes(n), dtype=np.uint8) & 1 if mpc.pid == j else None
            small = await input_raw(mine, (n,), FIELD, j, self.keyring)
            big = await input_raw(mine, (n,), self.big, j, self.keyring)
            if mask_small is None:
                mask_small, mask_big = small, big
            else:
                mask_small = (mask_small + small - 2 * await multiply(mask_small, small, FIELD, self.keyring)) % p
                mask_big = (mask_big + big - 2 * await multiply(mask_big, big, self.big, self.keyring)) % q
        masked = (differs + mask_small - 2 * await multiply(differs, mask_small, FIELD, self.keyring)) % p
        opened = await core.open(RawShares(masked), what="bwt.masked_differs",
                                 why="neighbour-differs bits XOR fresh secret random bits: uniformly random")
        c = as_ints(opened).astype(object)
        differs_big = (c + (1 - 2 * c) * mask_big) % q
        return np.cumsum(differs) % p, np.cumsum(differs_big) % q

    async def all_distinct(self, last) -> bool:
        """Open one bit to all: are all n+1 ranks distinct (``last`` = last dense rank - n is zero)?"""
        bit = await core.open(RawShares(await self.power_p_minus_1(last % FIELD.modulus)),
                              what="bwt.all_distinct",
                              why="--early-exit: stop doubling once every suffix has a unique rank")
        return int(as_ints(bit)[0]) == 0


# ---------------------------------------------------------------------------------------- run protocol

async def bwt_protocol(*, segment=None, reveal_to=(0,), early_exit: bool = False, memory: int | None = None) -> dict:
    """Every party's part of ``securegenome bwt``: plan, share the segments, build SA and BWT, open to receivers.

    ``segment`` is this party's base codes (numpy, 0..3) or None.  Each party announces the length of its
    segment (public); the text is the concatenation of the segments in party order.  ``memory``: this
    party's budget in bytes (None: :func:`~securegenome.core.memory.default_budget` of one process); the
    parties plan with the smallest (:func:`~securegenome.core.memory.agree_budget`) and stop with
    :class:`~securegenome.core.memory.MemoryPlanError` before sharing anything if no plan fits.
    ``reveal_to`` lists the parties that receive SA and BWT (empty: nothing is opened, the shares are
    discarded).  The result reports the plan and this party's measured peak RSS.
    """
    m = len(mpc.parties)
    reveal_to = sorted(set(reveal_to))
    if segment is not None:
        segment = np.asarray(segment, dtype=np.int64)
        if segment.size and (segment.min() < 0 or segment.max() > 3):
            raise InputError(f"party {mpc.pid}: the sequence must contain only A, C, G, T codes (0..3)")
    sizes = [await core.share_public(0 if segment is None else len(segment), sender=pid) for pid in range(m)]
    budget = await agree_budget(memory)
    await core.agree(protocol="bwt/2", early_exit=bool(early_exit), reveal_to=reveal_to, sizes=sizes,
                     budget=budget)
    n = sum(sizes)
    if n == 0:
        raise InputError("no party contributed a sequence (the text is empty)")
    memory_plan = plan(n, early_exit=early_exit, budget=budget)  # MemoryPlanError here: nothing shared yet
    stype = bwt_sectype(n)
    parts = []
    for pid, size in enumerate(sizes):
        if size:
            mine = np.asarray(segment, dtype=int) if pid == mpc.pid else np.zeros(size, dtype=int)
            parts.append(mpc.input(stype.array(mine), senders=pid))
    codes = parts[0] if len(parts) == 1 else mpc.np_concatenate(parts)
    del parts
    result = await secure_suffix_array_bwt(codes, early_exit=early_exit, chunk=memory_plan.details["chunk"])
    s = schedule(n)
    out = {"n": n, "sizes": sizes, "rounds": result.rounds, "max_rounds": s.rounds, "kmer": s.kmer,
           "budget_gib": round(budget / GIB, 3), "plan": memory_plan.to_dict(), "peak_rss": peak_rss(),
           "sa": None, "bwt": None}
    if reveal_to:
        why = "requested output (--reveal-to)"
        sa = await core.open(result.sa, to=reveal_to, what="bwt.suffix_array", why=why)
        bwt = await core.open(result.bwt, to=reveal_to, what="bwt.bwt", why=why)
        if sa is not None:
            out["sa"] = as_ints(sa)
            out["bwt"] = "".join(BWT_LETTERS[c] for c in as_ints(bwt))
    return out


def as_ints(opened) -> np.ndarray:
    """An opened SA or BWT as int64 (positions open as a field array of the small field)."""
    return np.asarray(getattr(opened, "value", opened), dtype=np.int64)
