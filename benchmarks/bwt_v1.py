"""BASELINE ONLY (benchmarks/bwt.py): the secure BWT as it was before issue 14, frozen for same-run comparisons.

Suffix array and Burrows–Wheeler transform of a secret-shared DNA sequence (oblivious prefix doubling).

The text is ``T$``: n base codes (A0 C1 G2 T3) followed by the sentinel ``$``, which sorts before every
base.  Its suffix array ``SA`` lists the n+1 suffix start positions in lexicographic order (``SA[0] = n``)
and ``BWT[i] = T$[SA[i] - 1]`` (cyclically).  In the BWT codes the sentinel is :data:`SENTINEL` ``= 4``,
so ``"ACGT$"[code]`` spells it.

Protocol (Manber–Myers prefix doubling made oblivious, as in Isayama et al., "Oblivious Suffix Sorting",
ACNS 2025; the code is ours).  Every step runs on secret shares.  Permutations are only ever *scattered*
(``y[σ[i]] = x[i]``: one shuffle-and-open of the core); gathering by SA is scattering by its inverse ISA,
which is kept alongside.  Ranks and keys live in the secure-integer field (radix sort and zero test
decompose them under statistical masks); positions in the core's small field GF(2³¹−1) (:data:`POSITIONS`),
where shuffles run on int64 arrays; both move in one shuffle.

1. **k-mers.**  Every suffix gets the key of its first k symbols, packed in base 5 (``$``/past-the-end 0,
   bases 1..4): a local linear combination of shifted codes.  k is the largest with 5^k ≤ 2^L, L the bit
   length of n, so the first sort costs no more than a round's.  One stable sort of the keys gives SA_k;
   a zero test of the gaps between sorted neighbours and a prefix sum (local) give the dense ranks in SA
   order; one scatter by SA puts them (and ISA) by text position.
2. **Doubling rounds** (h = k, 2k, 4k, ...).  Suffix i's new key is the pair (rank_h[i], rank_h[i+h]).
   The order by the second key needs no sort: it is the previous order shifted, σ₂ = (SA_h − h) mod (n+1),
   because rank_h[σ₂[j] + h] = rank_h[SA_h[j]] is the sorted rank sequence already held.  (Suffixes with
   i + h > n wrap around; their h-prefix contains ``$`` and is unique, so their second key never matters.)
   One scatter by ISA brings (rank_h[σ₂[j]], σ₂[j]) into σ₂ order — the public cyclic shift is applied to
   the vectors first — and ONE stable radix sort on the first key (L bits) yields SA_2h with the second
   keys in SA_2h order.  Neighbours are equal iff they were in the same bucket and their second keys are
   equal: gap = old_differs + (1 − old_differs)·Δsecond is in 0..n and zero iff equal; one zero test,
   prefix sums give the new ranks, and one scatter by SA_2h puts ranks and ISA by position.
3. After ⌈log₂(n/k)⌉ rounds h ≥ n, so SA_h is the suffix array; the last round skips the re-ranking and
   carries ``T$[x − 1]`` through its scatter and sort, which makes the BWT column for free.

The zero test: bits of the gaps by the core's masked bit decomposition (GF(2³¹−1)), a product tree of
the negated bits, and a random bit shared in both fields to bring the result back: only the result XOR
that random bit is opened (uniformly random).  So a default run opens only values that are uniformly
random or statistically masked (labels in :data:`HIDING_LABELS`) plus the outputs asked for; the number
of rounds depends on n only.  With ``early_exit`` the parties open one bit before every round — are all
ranks already distinct? — and stop when it is; that tells everyone the length of the longest repeated
substring within a factor of two (see :data:`LEAKAGE`).

:func:`suffix_array_bwt` is the plaintext twin: the same steps on numpy arrays, used by the tests.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

import numpy as np

from securegenome import core
from securegenome.core import mpc
from securegenome.core import PERMUTATION_LEAKAGE, SORT_LEAKAGE, KeyRing, input_raw, key_bits, multiply, open_shuffled, placed
from securegenome.core import SMALL, SMALL_FIELD as FIELD, secure_array, shuffle_together
from securegenome.core import sort_destinations as core_sort_destinations
from securegenome.errors import InputError
from securegenome.genomics.oracle import BWT_LETTERS, DOLLAR

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
class Plan:
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


def plan(n: int) -> Plan:
    """k, the number of rounds and the bit lengths for a text of n bases (n >= 1)."""
    if n < 1:
        raise ValueError("the text must have at least one base")
    rank_bits = n.bit_length()
    k = 1
    while (KMER_BASE ** (k + 1) - 1).bit_length() <= rank_bits:
        k += 1
    rounds = max(0, math.ceil(math.log2(n / k))) if n > k else 0
    return Plan(n, k, rounds, rank_bits, (KMER_BASE ** k - 1).bit_length())


def bwt_sectype(n: int):
    """The secure integer type to secret-share a text of n bases in (values fit with headroom)."""
    return core.key_sectype(plan(n).bit_length)


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
    p = plan(len(codes))
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

async def secure_suffix_array_bwt(codes, *, early_exit: bool = False,
                                  sort_destinations=None) -> SuffixArrayBWT:
    """Secret-shared suffix array and BWT of the secret-shared text ``codes`` (base codes 0..3).

    ``codes`` is a secure integer array (type from :func:`bwt_sectype` or wider), e.g. one owner's
    sequence or several parties' segments concatenated.  Returns secure arrays of length n+1: ``sa``
    (positions, in the core's small field GF(2^31-1), see :data:`POSITIONS`) and ``bwt`` (codes, type of
    ``codes``, ``$`` coded :data:`SENTINEL`).  Opened on the way: only uniformly random or statistically
    masked values (:data:`HIDING_LABELS`), plus with ``early_exit`` one bit per round (``bwt.all_distinct``).
    ``sort_destinations(keys, bit_length)`` replaces the core's radix sort (benchmark baselines only).
    """
    destinations = sort_destinations or core_sort_destinations
    stype = codes.sectype
    p = plan(len(codes))
    if stype.bit_length < p.bit_length:
        raise ValueError(f"a text of {p.n} bases needs secure integers of at least {p.bit_length} bits "
                         f"(use bwt_sectype(n)); got {stype.bit_length}")
    n1 = p.n + 1
    iota = POSITIONS.array(np.arange(n1))
    text = mpc.np_concatenate((codes, stype.array(np.array([SENTINEL]))))

    # Ranks and keys live in the big field (the radix sort and the zero test decompose them with
    # statistical masks); positions (SA, ISA) in the small field, where shuffles are cheap.
    keys = _kmer_keys(codes, p.kmer)
    sa, sorted_keys = await _scatter(await destinations(keys, p.key_bits), iota, keys)
    differs = await _left_differs(stype, mpc.np_subtract(sorted_keys[1:], sorted_keys[:-1]), p.key_bits)
    ranks_sorted = mpc.np_cumsum(differs)
    rank, isa = await _scatter(sa, ranks_sorted, iota)

    h, done, bwt = p.kmer, 0, None
    for r in core.progress(range(p.rounds), total=p.rounds, desc="bwt rounds", unit="round"):
        if early_exit and await _all_distinct(ranks_sorted, p):
            break
        last = r == p.rounds - 1
        # rows in σ₂ order: row j is suffix x = SA[j] - h, with first key rank[x]; the last round also
        # carries T$[x - 1], which the sort turns into the BWT
        first, shifted, *carried = await _scatter(isa, mpc.np_roll(rank, h),
                                                  POSITIONS.array(np.roll(np.arange(n1), h)),
                                                  *([mpc.np_roll(text, h + 1)] if last else []))
        second, sa, *tail = await _scatter(await destinations(first, p.rank_bits), ranks_sorted, shifted,
                                           *carried)
        done += 1
        if last:  # h >= n now: all ranks are distinct, no need to compute them
            bwt = tail[0]
            break
        # neighbours j-1, j are equal iff same old bucket and same second key; the gap is in 0..n
        old = differs[1:]
        gap = old + (1 - old) * mpc.np_subtract(second[1:], second[:-1])
        differs = await _left_differs(stype, gap, p.rank_bits)
        ranks_sorted = mpc.np_cumsum(differs)
        rank, isa = await _scatter(sa, ranks_sorted, iota)
        h *= 2

    if bwt is None:  # no round, or stopped early: BWT[j] = T$[SA[j] - 1]
        [bwt] = await _scatter(isa, mpc.np_roll(text, 1))
    return SuffixArrayBWT(sa, bwt, done)


async def _scatter(sigma, *arrays):
    """``y[sigma[i]] = x[i]`` for every array x (secure arrays of any types): ONE shuffle of all of them
    with sigma (the core's shuffle), one opening of the shuffled sigma (a uniformly random permutation),
    local placement — the core's scatter, for arrays of different fields at once."""
    if sigma.shape[0] <= 1:
        return list(arrays)
    shuffled = await shuffle_together([sigma, *arrays])
    q = await open_shuffled(shuffled[0], why="a secret permutation after a fresh secret uniform shuffle is "
                                             "uniformly random: scatter rows to their destinations")
    return [placed(x, q) for x in shuffled[1:]]


def _kmer_keys(codes, k):
    """Key of the first k symbols of every suffix of T$, base 5 ($ and past-the-end 0): local."""
    stype = codes.sectype
    padded = mpc.np_concatenate((codes + 1, stype.array(np.zeros(k, dtype=int))))
    n1 = len(codes) + 1
    keys = padded[0:n1] * KMER_BASE ** (k - 1)
    for t in range(1, k):
        keys = keys + padded[t:t + n1] * KMER_BASE ** (k - 1 - t)
    return keys


async def _left_differs(stype, gap, bits):
    """[0, gap[0] != 0, gap[1] != 0, ...]: 1 where a sorted element differs from its left neighbour.

    ``gap`` is non-negative and below 2^bits.  Its bits come from the core's masked bit decomposition
    (:func:`~securegenome.core.sort.key_bits`, in GF(2^31-1)); "some bit set" is a product tree over the
    negated bits; the result is brought back to the type of ``gap`` with a random bit shared in both
    fields (XOR of one random bit per party 0..t): the XOR of the result with it is opened (a uniformly
    random bit, label ``bwt.masked_differs``) and undone locally in the big field.
    """
    zero = stype.array(np.zeros(1, dtype=int))
    if gap.size == 0:
        return zero

    p = FIELD.modulus
    n = gap.shape[0]
    keyring = KeyRing()
    all_zero = (1 - await key_bits(gap, bits, keyring)) % p  # (n, bits): 1 where a bit is 0
    while all_zero.shape[1] > 1:
        half = all_zero.shape[1] // 2
        product = await multiply(all_zero[:, :half], all_zero[:, half:2 * half], FIELD, keyring)
        all_zero = np.concatenate([product, all_zero[:, 2 * half:]], axis=1)
    differs = (1 - all_zero[:, 0]) % p
    mask_small, mask_big = None, None
    for j in range(mpc.threshold + 1):
        mine = np.frombuffer(secrets.token_bytes(n), dtype=np.uint8) & 1 if mpc.pid == j else None
        small = await input_raw(mine, (n,), FIELD, j, keyring)
        big = mpc.input(stype.array(mine.astype(int) if mine is not None else np.zeros(n, dtype=int)), senders=j)
        if mask_small is None:
            mask_small, mask_big = small, big
        else:
            mask_small = (mask_small + small - 2 * await multiply(mask_small, small, FIELD, keyring)) % p
            mask_big = mask_big + big - 2 * mask_big * big
    masked = (differs + mask_small - 2 * await multiply(differs, mask_small, FIELD, keyring)) % p
    opened = await core.open(secure_array(SMALL, FIELD, masked), what="bwt.masked_differs",
                             why="neighbour-differs bits XOR fresh secret random bits: uniformly random")
    c = as_ints(opened)
    return mpc.np_concatenate((zero, c + (1 - 2 * c) * mask_big))


async def _all_distinct(ranks_sorted, p: Plan) -> bool:
    """Open one bit to all: are all n+1 ranks distinct (the last dense rank equals n)?"""
    last = ranks_sorted[-1:] - p.n  # in -n..0
    bit = await core.open(mpc.np_sgn(last, l=p.rank_bits + 1, EQ=True), what="bwt.all_distinct",
                          why="--early-exit: stop doubling once every suffix has a unique rank")
    return bool(int(bit[0]))


# ---------------------------------------------------------------------------------------- run protocol

async def bwt_protocol(*, segment=None, reveal_to=(0,), early_exit: bool = False) -> dict:
    """Every party's part of ``securegenome bwt``: share the segments, build SA and BWT, open to receivers.

    ``segment`` is this party's base codes (numpy, 0..3) or None.  Each party announces the length of its
    segment (public); the text is the concatenation of the segments in party order.  ``reveal_to`` lists
    the parties that receive SA and BWT (empty: nothing is opened, the shares are discarded).
    """
    m = len(mpc.parties)
    reveal_to = sorted(set(reveal_to))
    if segment is not None:
        segment = np.asarray(segment, dtype=np.int64)
        if segment.size and (segment.min() < 0 or segment.max() > 3):
            raise InputError(f"party {mpc.pid}: the sequence must contain only A, C, G, T codes (0..3)")
    sizes = [await core.share_public(0 if segment is None else len(segment), sender=pid) for pid in range(m)]
    await core.agree(protocol="bwt/1", early_exit=bool(early_exit), reveal_to=reveal_to, sizes=sizes)
    n = sum(sizes)
    if n == 0:
        raise InputError("no party contributed a sequence (the text is empty)")
    stype = bwt_sectype(n)
    parts = []
    for pid, size in enumerate(sizes):
        if size:
            mine = np.asarray(segment, dtype=int) if pid == mpc.pid else np.zeros(size, dtype=int)
            parts.append(mpc.input(stype.array(mine), senders=pid))
    codes = parts[0] if len(parts) == 1 else mpc.np_concatenate(parts)
    result = await secure_suffix_array_bwt(codes, early_exit=early_exit)
    out = {"n": n, "sizes": sizes, "rounds": result.rounds, "max_rounds": plan(n).rounds,
           "kmer": plan(n).kmer, "sa": None, "bwt": None}
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
