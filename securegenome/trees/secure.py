"""Secure Gini tree learning, layer by layer, for all nodes of a layer (and all trees of a forest) at once.

Protocol (every party runs :func:`tree_protocol` on its own rows; sizes and the schema are public):

0. *Arithmetic.*  Counts, Gini scores and their products (≈ 5·log₂ n bits) live in a residue ring of
   primes below 2³¹ (``core.Residues``: int64 shares, one re-sharing pass per product batch), sized for the
   widest comparison operand plus its 72-bit masks.
1. *Input and plan.*  After the public sizes and schema, the parties agree a memory budget and plan the
   run from them (:func:`memory_plans`: the batch size of layout positions), then each party secret-shares
   its rows' codes, one-hot classes and one-hot categories in the ring.
2. *Sort once.*  Per numeric feature one oblivious radix sort of its codes (core sort, one feature at a
   time) gives its secret order σ_j, sorted codes and the bits 'next value differs' (dense value ranks).
3. *Per layer*, with the rows' secret one-hot node membership B (n × K, all trees) and public row weights
   (1, or bootstrap counts): numeric features in group-wise layouts (:mod:`.groups`, Hamada et al.,
   PoPETs 2023): per tree and feature the rows grouped by node and sorted within; counts by prefix sums,
   the winner of every group by one pass up a reduction tree (:meth:`Arithmetic.group_first_max`), work
   independent of K.  Categorical features: the contingency tables of all of them in one secure matrix
   product.  Scores are the exact fractions ``(n_R·Σl² + n_L·Σr²) / (n_L·n_R)``; invalid candidates (value
   does not change, a side below min_samples_leaf rows, a feature the node may not use) never win.
4. *Per node* a first-maximum tournament over its features' winners in feature order (ties: the first
   feature and the smallest threshold, as the plaintext twin :mod:`.twin`), with the node tests (pure,
   large enough) and the leaf label's class pairs in the layer's first comparison batch.
5. *Open the layer of the model.*  Per node one bit: split or leaf (``trees.structure``); for split nodes
   the feature and threshold code (``trees.split``), for leaves the class (``trees.leaf``).  Rows are
   routed in shares (numeric: one comparison per row and tree against the public threshold; categorical:
   a sum of one-hot categories), the next membership is one multiplication, the layouts regroup.

Comparisons ``[x ≥ 0]`` (:meth:`Arithmetic.nonneg`): x + 2^l plus one random integer from each of t+1
parties is opened (``trees.masked_values``, statistically hiding); the parties also share those integers'
low bits in GF(2³¹−1), where bit l of the difference comes from carry-save adders and a log-depth carry
tree in int64 arithmetic; the bit moves into the ring by XOR with a random bit shared in both
(``trees.masked_bits``: uniformly random).  ⌈log₂ l⌉ + 6 rounds; about 4·l products in GF(2³¹−1) and a
constant number of ring operations per comparison.

What it reveals: the model (structure, split features and thresholds, leaf classes) and values that are
uniformly random or statistically masked (docs/trees.md); a forest also opens the training rows' majority
class (vote ties go to it).  Node sizes, class counts, scores and group boundaries stay secret.

Cost per layer: per numeric layout O(n) ring products, one validity comparison per position and n − 1
score comparisons (⌈log₂ n⌉ steps), three secret permutations; per categorical layer one matrix product
and one tournament; measured figures in docs/performance.md.
"""

from __future__ import annotations

import asyncio
import secrets

import numpy as np

from .. import core
from ..core import fieldops, memory, mpc
from ..errors import InputError
from .data import Schema, encoded, local_schema_part, merge_schema, read_table
from .groups import Layouts
from .model import Tree

LEAKAGE = {
    "trees.structure": "one bit per node of a layer above max_depth, to all: whether the node "
                       "splits (the shape of the opened tree)",
    "trees.split": "feature index and threshold code of every split node, to all (the model)",
    "trees.leaf": "class index of every leaf, to all (the model)",
    "trees.majority": "forests only: the most frequent class of all parties' training rows (ties to the smallest "
                      "class), to all: the forest's vote ties go to it",
    "trees.masked_values": "comparison operands plus random masks of bits+1+72 bits from t+1 parties, to all: "
                           "statistically hidden (distance below 2^-72 per value, noted in the ledger; a run's "
                           "2^32 at most together below 2^-40)",
    "trees.masked_bits": "comparison bits XOR fresh secret random bits from t+1 parties, to all: uniformly "
                         "random; moves a comparison result from GF(2^31-1) into the counting field",
    **core.SORT_LEAKAGE,
}

MASK_BITS = 72  # k: statistical masking of comparison operands, as the core sort's keys (docs/core.md)
MAX_MASKED_PER_RUN = 1 << 32  # masked operands and sort keys of one run: their union bound stays below 2^-40
COMPARE_CHUNK = 50_000  # values per comparison batch: bounds its (values × bits) int64 arrays
LAYOUT_BATCHES = (1 << 20, 1 << 18, 1 << 16)  # positions per batch of layouts the memory plan chooses from
SORT_ROW_BYTES = 3_000  # peak bytes per row while one numeric feature is sorted (measured, docs/trees.md)
ROW_ORDER_FACTOR = 4  # copies of the row-order membership and counts alive at a layer's peak (measured)
POSITION_FACTOR = 6  # bytes per position and ring value of a batch of layouts at its peak, / 8 (measured)
ALL_PAIRS_MIN = 20_000  # all-pairs comparisons a tournament may always spend to finish in one step
ALL_PAIRS_FACTOR = 4  # ... or this many times the comparisons of the neighbour rounds it replaces


class Arithmetic:
    """Products, comparisons and first-maximum tournaments on shared integers of a residue ring
    (:class:`core.Residues`: int64 shares modulo several primes below 2³¹; the comparisons' bit work in
    GF(2³¹−1))."""

    def __init__(self, ring: core.Residues):
        self.ring = ring
        self.keyring = core.KeyRing()

    def secure(self, x) -> core.Shared:
        return self.ring.shared(x)

    async def mul(self, *pairs) -> list:
        """Elementwise products x*y (numpy broadcasting), all in one re-sharing pass of the core."""
        return await self.ring.mul(pairs, self.keyring)

    async def open(self, x, **labels) -> np.ndarray:
        """``x`` opened through ``core.open`` (``labels``: what, why, to): int64 values (small, non-negative)."""
        opened = await core.open(self.ring.opening(self.secure(x)), **labels)
        return None if opened is None else np.asarray(opened, dtype=object).astype(np.int64)

    async def _masks(self, N: int, L: int, k: int):
        """Random masks for N comparisons: per contributor j = 0..t an integer r_j of L + k bits, shared in the
        ring, and its low L bits, shared in GF(2^31-1); and one random bit per comparison shared in both
        (the XOR of one bit from every contributor: no t parties know it).  One input round and t rounds
        of products (the XORs, :meth:`_lift_bits`)."""
        small, ring = core.SMALL_FIELD, self.ring
        draws = []
        for j in range(mpc.threshold + 1):
            low = big = None
            if mpc.pid == j:
                low = np.frombuffer(secrets.token_bytes(N * L), dtype=np.uint8).astype(np.int64).reshape(N, L) & 1
                lift = np.frombuffer(secrets.token_bytes(N), dtype=np.uint8).astype(np.int64) & 1
                big = np.stack((ring.random_residues(N, low, k), ring.residues(lift)), axis=2)   # (m, N, 2)
                low = np.concatenate((low, lift.reshape(N, 1)), axis=1)
            draws += [core.input_raw(low, (N, L + 1), small, j, self.keyring),
                      ring.input(big, (N, 2), j, self.keyring, residues=True)]
        shares = await asyncio.gather(*draws)
        bits = [s[:, :L] for s in shares[0::2]]
        mask = shares[1][:, 0]
        for b in shares[3::2]:
            mask = mask + b[:, 0]
        return bits, mask, [(s[:, L], b[:, 1]) for s, b in zip(shares[0::2], shares[1::2])]

    async def _lift_bits(self, parts):
        """The XOR of the contributors' lift bits, in GF(2^31-1) and in the ring alike (t rounds; the first
        runs alongside the opening of the masked operand)."""
        small, p = core.SMALL_FIELD, core.SMALL_FIELD.modulus
        lift_small, lift_big = parts[0]
        for s, b in parts[1:]:
            ps, [pb] = await asyncio.gather(core.multiply(lift_small, s, small, self.keyring), self.mul((lift_big, b)))
            lift_small, lift_big = (lift_small + s - 2 * ps) % p, lift_big + b - 2 * pb
        return lift_small, lift_big

    async def nonneg(self, x, bits: int):
        """Secret [x >= 0] (0/1 in the ring) for integers -2^bits < x < 2^bits, any shape.

        With y = x + 2^l (l = bits, L = l + 1), 0 < y < 2^L and [x >= 0] is bit l of y.  Every contributor
        j = 0..t adds a random integer r_j of L + k bits whose low L bits it also shares in GF(2^31-1)
        (:meth:`_masks`); c = y + Σ_j r_j is opened (``trees.masked_values``: statistically hiding, k = 72).
        Since y < 2^L, y = (c - Σ_j r_j) mod 2^L = (c + t + 1 + Σ_j ~r_j) mod 2^L (~ the L-bit complement):
        an addition of the public c + t + 1 and t + 1 secret bit vectors, done in GF(2^31-1) with int64
        arithmetic: carry-save adders down to two operands (one round each with a public operand), then
        the carry into bit l from a log-depth generate/propagate tree (2 products per merge).  The result
        bit moves into the ring by XOR with a random bit shared in both (``trees.masked_bits``: uniformly
        random).  About 4·L products in GF(2^31-1) and a constant number of ring operations per comparison;
        ⌈log₂ l⌉ + 6 rounds.
        """
        x = self.secure(x)
        shape = x.shape
        flat = x.reshape(-1)
        if flat.shape[0] > COMPARE_CHUNK:  # bounds the (values × bits) arrays
            parts = [await self.nonneg(flat[i:i + COMPARE_CHUNK], bits)
                     for i in range(0, flat.shape[0], COMPARE_CHUNK)]
            return self.ring.concatenate(parts).reshape(shape)
        N, l = flat.shape[0], bits
        L = l + 1
        small, p = core.SMALL_FIELD, core.SMALL_FIELD.modulus
        contributors = mpc.threshold + 1
        k = MASK_BITS
        if self.ring.M.bit_length() - 1 - L - contributors.bit_length() < k:  # y + Σ r_j < (t+2)·2^(L+k) < M
            raise ValueError(f"the residue ring has no room to mask {l}-bit comparisons: use "
                             f"core.Residues({ring_bits(l)})")
        counts = core.current_ledger().counts()
        if counts.get("trees.masked_values", 0) + counts.get("sort.masked_keys", 0) + N > MAX_MASKED_PER_RUN:
            raise ValueError(f"a run may open at most {MAX_MASKED_PER_RUN} statistically masked values: "
                             f"train on fewer rows or trees per run")
        r_bits, mask, lift_parts = await self._masks(N, L, k)
        masked = flat + (1 << l) + mask
        # started in this order on every party: the opening, then the XOR of the lift bits (same round)
        c, (lift_small, lift_big) = await asyncio.gather(
            core.open(self.ring.opening(masked), what="trees.masked_values", distance=N * 2.0 ** -k,
                      why="a comparison operand plus random masks of bits+1+k bits from t+1 parties: "
                          "statistically hidden"),
            self._lift_bits(lift_parts))
        c = np.asarray(c, dtype=object)
        public = core.bits_of((c + contributors) % (1 << L), L)                 # (N, L), least significant first
        operands = [fieldops.reduce(1 - r, p) for r in r_bits]                  # the complements ~r_j
        P, Q = operands.pop(), None
        if operands:                                                            # carry-save: public + 2 secret
            u, v = P, operands.pop()
            uv = await core.multiply(u, v, small, self.keyring)
            P, majority = fieldops.csa(public, u, v, uv, p)
            Q, public = self._shifted(majority), None
        while operands:                                                         # carry-save: 3 secret
            w = operands.pop()
            pq = await core.multiply(P, Q, small, self.keyring)
            xor = (P + Q - 2 * pq) % p
            xw = await core.multiply(xor, w, small, self.keyring)
            P, Q = (xor + w - 2 * xw) % p, self._shifted((pq + xw) % p)
        if public is not None:                                                  # public + 1 secret operand
            g = public * P % p
            prop = (public + P - 2 * g) % p
        else:
            g = await core.multiply(P, Q, small, self.keyring)
            prop = fieldops.xor(P, Q, g, p)
        top = prop[:, l]                                                        # bit l = top XOR carry
        carry, top_lift = await self._carry(g[:, :l], prop[:, :l], p, (top, lift_small))  # into bit l
        masked_top = fieldops.xor(top, lift_small, top_lift, p)                 # top XOR the lift bit
        return (await self._lift(masked_top, carry, lift_big)).reshape(shape)

    @staticmethod
    def _shifted(carry):
        out = np.zeros_like(carry)
        out[:, 1:] = carry[:, :-1]
        return out

    async def _carry(self, g, prop, p, side):
        """Carry out of the addition with generate bits g and propagate bits prop (N, l), least significant
        first: a tree of (G, P) merges, G = G_hi + P_hi·G_lo, P = P_hi·P_lo, one round per level.  The
        product of the pair ``side`` (two (N,) arrays) rides along in the first round; returns
        (carry, that product)."""
        small = core.SMALL_FIELD
        side_product = None
        while g.shape[1] > 1:
            half = g.shape[1] // 2
            lo_g, hi_g = g[:, 0:2 * half:2], g[:, 1:2 * half:2]
            lo_p, hi_p = prop[:, 0:2 * half:2], prop[:, 1:2 * half:2]
            left, right = [hi_p, hi_p], [lo_g, lo_p]
            if side_product is None:
                left, right = left + [side[0].reshape(-1, 1)], right + [side[1].reshape(-1, 1)]
            both = await core.multiply(np.concatenate(left, axis=1), np.concatenate(right, axis=1), small,
                                       self.keyring)
            if side_product is None:
                side_product, both = both[:, -1], both[:, :-1]
            new_g, new_p = fieldops.add(hi_g, both[:, :half], p), both[:, half:]
            if g.shape[1] % 2:
                new_g = np.concatenate((new_g, g[:, -1:]), axis=1)
                new_p = np.concatenate((new_p, prop[:, -1:]), axis=1)
            g, prop = new_g, new_p
        if side_product is None:
            side_product = await core.multiply(side[0], side[1], small, self.keyring)
        return g[:, 0], side_product

    async def _lift(self, masked_part, other_part, r_big):
        """The bit b = masked_part XOR other_part XOR r (raw GF(2^31-1) shares; masked_part already holds a
        random bit r, shared in the ring as r_big) into the ring: b XOR r is opened (uniformly random),
        then b = r + (b XOR r)·(1 - 2r)."""
        small, p = core.SMALL_FIELD, core.SMALL_FIELD.modulus
        both = await core.multiply(masked_part, other_part, small, self.keyring)
        masked = fieldops.xor(masked_part, other_part, both, p)
        c = await core.open(core.RawShares(masked), what="trees.masked_bits",
                            why="a comparison bit XOR a secret uniformly random bit is uniformly random")
        c = np.asarray(c, dtype=np.int64)
        return r_big + (r_big * (-2) + 1) * c

    async def first_max(self, a, b, payloads: list, bits: int):
        """Per row of the (K, N) arrays: the first column maximising a/b (b > 0; integers a if b is None).

        Returns (a, b, payloads) at the winning column, shape (K,).  Pairs of neighbours play; the right
        one wins only if strictly greater, so the first maximum survives every round.  Once few players
        are left (:func:`all_pairs_affordable`), one round of all pairs finishes (:meth:`pair_winners`):
        one comparison step instead of ⌈log₂ N⌉.
        """
        while a.shape[1] > 1:
            if all_pairs_affordable(*a.shape):
                diff = await self.pair_differences(a, b)
                winners = await self.pair_winners(await self.nonneg(diff, bits), a.shape[1])
                players = [a] + ([] if b is None else [b]) + payloads
                won = await self.select(winners, players)
                return won[0], (None if b is None else won[1]), won[1 + (b is not None):]
            half = a.shape[1] // 2
            al, ar = a[:, 0:2 * half:2], a[:, 1:2 * half:2]
            if b is None:
                diff = ar - al - 1
            else:
                bl, br = b[:, 0:2 * half:2], b[:, 1:2 * half:2]
                left_cross, right_cross = await self.mul((ar, bl), (al, br))
                diff = left_cross - right_cross - 1
            right = await self.nonneg(diff, bits)

            players = [self.secure(x) for x in [a] + ([] if b is None else [b]) + payloads]
            gains = await self.mul(*((right, x[:, 1:2 * half:2] - x[:, 0:2 * half:2]) for x in players))
            won = [x[:, 0:2 * half:2] + g if x.shape[1] == 2 * half else
                   self.ring.concatenate((x[:, 0:2 * half:2] + g, x[:, -1:]), axis=1) for x, g in zip(players, gains)]
            a, b, payloads = won[0], (None if b is None else won[1]), won[1 + (b is not None):]
        return a[:, 0], (None if b is None else b[:, 0]), [self.secure(p)[:, 0] for p in payloads]

    async def gini_scores(self, left, right, changes, min_samples_leaf: int | None):
        """The Gini proxy of candidate splits with class counts ``left``/``right`` (..., C) as the fraction
        a/b, a = n_R·Σl² + n_L·Σr², b = n_L·n_R, and a validity number, valid iff >= 1:
        changes·(2·n_L − 2m + 1)·(2·n_R − 2m + 1) with m = min_samples_leaf (the odd factors are never 0;
        both negative only in nodes below 2m rows, which do not split anyway), or ``changes`` alone if
        ``min_samples_leaf`` is None (the caller knows both sides are non-empty wherever changes >= 1).
        ``changes`` is a shared array, or a pair whose product it is (computed in the first round).  Two
        rounds of products."""
        n_left, n_right = left.sum(axis=-1), right.sum(axis=-1)
        counts = self.ring.stack((left, right))
        first = [(counts, counts)] + ([changes] if isinstance(changes, tuple) else [])
        if min_samples_leaf is not None:
            odd = 2 * min_samples_leaf - 1
            first.append((2 * n_left - odd, 2 * n_right - odd))
        squares, *rest = await self.mul(*first)
        if isinstance(changes, tuple):
            changes = rest.pop(0)
        second = [(n_right, squares[0].sum(axis=-1)), (n_left, squares[1].sum(axis=-1)), (n_left, n_right)]
        if min_samples_leaf is not None:
            second.append((changes, rest[0]))                                # changes · both side factors
        x, y, b, *validity = await self.mul(*second)
        return x + y, b, validity[0] if validity else changes

    async def first_valid_max(self, a, b, validity, payloads: list, bits: int, check_bits: int, checks=None):
        """Per row of the (R, N) arrays: the first column maximising a/b among the valid ones (validity >= 0;
        the first column if none is), its payloads and validity bit, each (R,); and the bits [checks >= 0].

        When all pairs are affordable the validity numbers share the comparison batch of the pairs' scores
        (one comparison step instead of two): column j beats an earlier column i iff j is valid and i is
        not, or both are and j scores strictly higher.  Otherwise invalid scores become -1/1, below every
        valid one, and :meth:`first_max` plays."""
        R, N = a.shape
        extra = [] if checks is None else [checks.reshape(-1)]
        if N > 1 and all_pairs_affordable(R, N):
            diff = await self.pair_differences(a, b)
            ok = await self.nonneg(self.ring.concatenate([diff.reshape(-1), validity.reshape(-1)] + extra),
                                   max(bits, check_bits))
            P = diff.size
            beats, valid = ok[:P].reshape(diff.shape), ok[P:P + R * N].reshape(R, N)
            I, J = pairs(N)
            [both] = await self.mul((valid[:, I], valid[:, J]))
            [strictly] = await self.mul((both, beats))
            winners = await self.pair_winners(valid[:, J] - both + strictly, N)
            won = await self.select(winners, [a, b, *payloads, valid])
            return won[0], won[1], won[2:-1], won[-1], None if checks is None else ok[P + R * N:].reshape(checks.shape)
        ok = await self.nonneg(self.ring.concatenate([validity.reshape(-1)] + extra), check_bits)
        valid = ok[:R * N].reshape(R, N)
        a, b = await self.mul((valid, a + 1), (valid, b - 1))
        a, b, [*won, v] = await self.first_max(a - 1, b + 1, [*payloads, valid], bits)   # invalid: -1/1
        return a, b, won, v, None if checks is None else ok[R * N:].reshape(checks.shape)

    async def group_first_max(self, starts, a, b, payloads: list, bits: int):
        """The first maximum of a/b (with payloads) of every segment of every row of (R, n) arrays; segments
        begin where ``starts`` is 1 (position 0 must).  Returns ``slots`` (R, S, 2 + len(payloads)) and
        ``owners`` (S,): each segment's winner (a, b, payloads) sits in exactly one slot whose owner is a
        position of the segment; every other slot is 0.

        One pass up a binary tree over the positions: n − 1 joins with one comparison each, ⌈log₂ n⌉ steps.
        A tree node keeps a flag (it holds a segment start), its *prefix* (the first maximum of its
        positions before its first start; empty: (−1, 1)) and its *suffix* (from its last start).  Joining
        L and R: X = first max(L.suffix, R.prefix) (R wins only if strictly greater: the first of equal
        scores stays); prefix = L.prefix if L has a start, else X; suffix = R.suffix if R has a start, else
        X.  If both hold a start, X is the complete winner of the segment holding L's last position, which
        starts in L and ends in R: emitted here, owned by that position.  Every segment but the last is
        emitted at exactly one node (the lowest holding its first position and the next segment's first);
        the root's suffix is the last one."""
        ring = self.ring
        flag = self.secure(starts)
        suffix = [self.secure(v) for v in (a, b, *payloads)]
        n = flag.shape[1]
        empty = [-1, 1] + [0] * len(payloads)                               # no positions
        gains = await self.mul(*((flag, c - v) for v, c in zip(suffix, empty)))
        prefix = [v + g for v, g in zip(suffix, gains)]                     # a start: nothing before it
        slots, owners, width = [], [], 1
        while flag.shape[1] > 1:
            pairs = flag.shape[1] // 2                                      # an odd last node moves up as is
            L, R = slice(0, 2 * pairs, 2), slice(1, 2 * pairs, 2)
            fl, fr = flag[:, L], flag[:, R]
            ls, rp = [v[:, L] for v in suffix], [v[:, R] for v in prefix]
            lp, rs = [v[:, L] for v in prefix], [v[:, R] for v in suffix]
            cross_right, cross_left, both = await self.mul((rp[0], ls[1]), (ls[0], rp[1]), (fl, fr))
            better = await self.nonneg(cross_right - cross_left - 1, bits)  # R.prefix strictly greater
            X = [l + g for l, g in zip(ls, await self.mul(*((better, r - l) for r, l in zip(rp, ls))))]
            k = len(X)
            joined = await self.mul(*((fl, p - v) for p, v in zip(lp, X)), *((fr, s - v) for s, v in zip(rs, X)),
                                    *((both, v) for v in X))
            odd = lambda new, old: new if flag.shape[1] == 2 * pairs else ring.concatenate((new, old[:, -1:]), axis=1)
            prefix = [odd(v + g, old) for v, g, old in zip(X, joined[:k], prefix)]
            suffix = [odd(v + g, old) for v, g, old in zip(X, joined[k:2 * k], suffix)]
            slots.append(ring.stack(joined[2 * k:], axis=2))
            owners.append(np.arange(pairs) * 2 * width + width - 1)        # L's last position
            flag = odd(fl + fr - both, flag)
            width *= 2
        slots.append(ring.stack(suffix, axis=2))                            # the last segment
        owners.append(np.array([n - 1]))
        return ring.concatenate(slots, axis=1), np.concatenate(owners)

    async def pair_differences(self, a, b):
        """For every pair i < j of columns of the (K, N) scores: a value >= 0 iff score j > score i."""
        I, J = pairs(a.shape[1])
        if b is None:
            return a[:, J] - a[:, I] - 1
        left_cross, right_cross = await self.mul((a[:, J], b[:, I]), (a[:, I], b[:, J]))
        return left_cross - right_cross - 1

    async def pair_winners(self, beats, N: int):
        """One-hot (K, N) of the first maximum from the pair bits beats[:, p] = [score J_p > score I_p]:
        column i wins iff it beats every column before it and no column after it beats it.  The N - 1
        factors per column are multiplied in a tree (⌈log₂(N - 1)⌉ rounds)."""
        index, complement = pair_factors(N)
        f = beats[:, index.ravel()].reshape(beats.shape[0], N, N - 1)
        f = f + (f * (-2) + 1) * complement                                  # 1 - bit where column i is I_p
        while f.shape[2] > 1:
            half = f.shape[2] // 2
            [prod] = await self.mul((f[:, :, :half], f[:, :, half:2 * half]))
            f = prod if f.shape[2] == 2 * half else self.ring.concatenate((prod, f[:, :, -1:]), axis=2)
        return f[:, :, 0]

    async def select(self, onehot, players: list) -> list:
        """Per row, Σ_i onehot[:, i]·x[:, i] for every (K, N) array x of ``players`` (one round)."""
        products = await self.mul(*((onehot, self.secure(x)) for x in players))
        return [p.sum(axis=1) for p in products]


def ring_bits(bits: int) -> int:
    """Bits of the residue ring that holds a comparison operand of ``bits`` bits plus the offset 2^bits and
    the masks of up to 63 contributors of bits + 1 + MASK_BITS bits each (as core.key_sectype for keys)."""
    return bits + 1 + MASK_BITS + 7


def all_pairs_affordable(K: int, N: int) -> bool:
    """All-pairs comparisons (K·N(N-1)/2) instead of the remaining ⌈log₂ N⌉ neighbour rounds (K·(N-1)
    comparisons): when they are few in absolute terms or at most ALL_PAIRS_FACTOR times as many."""
    return N > 1 and K * N * (N - 1) // 2 <= max(ALL_PAIRS_MIN, ALL_PAIRS_FACTOR * K * (N - 1))


def pairs(N: int) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays (I, J) of all pairs i < j of 0..N-1."""
    I, J = np.triu_indices(N, 1)
    return I, J


def pair_factors(N: int) -> tuple[np.ndarray, np.ndarray]:
    """Per column i, the N - 1 pairs it plays (index into :func:`pairs`) and whether it is the first (I)
    of the pair, where its factor is 1 - [J beats I]."""
    I, J = pairs(N)
    index = np.zeros((N, N - 1), dtype=np.int64)
    complement = np.zeros((N, N - 1), dtype=np.int64)
    for i in range(N):
        mine = np.flatnonzero((I == i) | (J == i))
        index[i] = mine
        complement[i] = I[mine] == i
    return index, complement


class Learner:
    """One party's view of a run: its encoded rows in shares, the sort orders, the trees grown so far."""

    def __init__(self, schema: Schema, sizes: list[int], min_samples_leaf: int, max_depth: int | None):
        self.schema, self.sizes, self.n = schema, sizes, sum(sizes)
        self.d, self.C = len(schema.features), len(schema.classes)
        self.min_samples_leaf, self.max_depth = min_samples_leaf, max_depth
        self.weight_bits = (self.n * 1).bit_length() + 1
        # score comparisons a_r·b_l - a_l·b_r - 1 with a = n_R·Σl² + n_L·Σr² <= n_L·n_R·n <= n³/4 and
        # b = n_L·n_R <= n²/4 (the weights sum to n): |difference| <= n⁵/16 + 1
        self.score_bits = (self.n ** 5 // 16 + 1).bit_length() + 1
        # validity numbers: a rank step (< n) times two odd side counts |2·n_side - 2·msl + 1| <= 2·max(n, msl) + 1
        self.check_bits = (self.n * (2 * max(self.n, min_samples_leaf) + 1) ** 2 + 1).bit_length() + 1
        code_bits = max([schema.code_bits(j) for j in range(self.d)] + [1])
        self.code_bits = code_bits
        # the sort keys are the codes (value_bits), in core.key_sectype(value_bits) for core.sort; the ring masks
        # every comparison operand (at most score_bits + 1 bits with the offset) with MASK_BITS bits
        self.key_bits = schema.value_bits
        self.numeric = [j for j in range(self.d) if not schema.is_categorical(j)]
        self.plan, self.budget = None, None                       # the memory plan (setup), public
        bits = max(self.score_bits, self.check_bits, code_bits + 1, self.key_bits)
        self.ring = core.Residues(ring_bits(bits))
        self.ar = Arithmetic(self.ring)

    def positions(self) -> int:
        """Layout positions per batch: the memory plan's choice."""
        return self.plan.details["positions"] if self.plan is not None else LAYOUT_BATCHES[0]

    def plan_summary(self) -> dict:
        """The memory plan and the agreed budget, for --json (public)."""
        return {**self.plan.to_dict(), "budget_gib": round(self.budget / memory.GIB, 3)}

    async def share_rows(self, codes: np.ndarray, y: np.ndarray) -> None:
        """Secret-share every party's codes, one-hot classes and one-hot categories (one input each, in the
        ring)."""
        categorical = [j for j in range(self.d) if self.schema.is_categorical(j)]
        widths = [len(self.schema.categories[self.schema.features[j]]) for j in categorical]
        width = self.d + self.C + sum(widths)
        mine = None
        if codes is not None:
            parts = [codes, np.eye(self.C, dtype=np.int64)[y]]
            parts += [np.eye(k, dtype=np.int64)[codes[:, j]] for j, k in zip(categorical, widths)]
            mine = np.concatenate(parts, axis=1) if len(y) else np.zeros((0, width), dtype=np.int64)
        blocks = []
        for i, size in enumerate(self.sizes):
            if size == 0:
                continue
            blocks.append(await self.ring.input(mine if mpc.pid == i else None, (size, width), i, self.ar.keyring))
        rows = self.ring.concatenate(blocks, axis=0)
        self.own_codes = codes                                      # this party's own rows: the sort keys' input
        self.X = rows[:, :self.d]
        self.Y = rows[:, self.d:self.d + self.C]
        self.onehot, start = {}, self.d + self.C
        for j, k in zip(categorical, widths):
            self.onehot[j] = rows[:, start:start + k]
            start += k

    async def sort_numeric(self) -> None:
        """Per numeric feature one radix sort of its codes (core.sort: key bits by masked opening, radix
        rounds, shuffle-and-open), one feature at a time so that a sort's arrays hold n keys.  Keeps per
        feature the secret order σ_j (row of each sorted position), the sorted codes and the bits 'next value
        differs' (one comparison per adjacent pair, all features in one batch)."""
        self.order, self.sorted_codes, self.differs = {}, {}, {}
        numeric = [j for j in range(self.d) if not self.schema.is_categorical(j)]
        if self.n == 1 or not numeric:
            return  # one row: no split is possible, nothing to sort
        n, rows = self.n, self.ring.public(np.arange(self.n))
        for g, j in enumerate(numeric):
            dest = core.raw_shares(await mpc.gather(await core.sort_destinations(await self._keys(j), self.key_bits)))
            placed = await core.apply_inverse_permutation_raw(
                dest, list(self.ring.stack((rows, self.X[:, j]), axis=1).v), self.ring.fields, self.ar.keyring)
            placed = core.Shared(self.ring, np.stack(placed))
            self.order[j] = placed.v[0, :, 0]                                   # row numbers: residue 0 suffices
            self.sorted_codes[j] = placed[:, 1]
        steps = self.ring.concatenate([self.sorted_codes[j][1:] - self.sorted_codes[j][:-1] - 1 for j in numeric])
        differs = await self.ar.nonneg(steps, self.key_bits)
        for g, j in enumerate(numeric):
            self.differs[j] = differs[g * (n - 1):(g + 1) * (n - 1)]
        self.own_codes = None                                                   # the sorts are done

    async def _keys(self, j: int):
        """Feature j's codes of all rows as sort keys, in ``core.key_sectype(value_bits)`` (the core sort's
        masked key openings need that room): each party inputs its own rows' codes."""
        keytype = core.key_sectype(self.key_bits)
        blocks = []
        for i, size in enumerate(self.sizes):
            if size:
                shares = await core.input_raw(self.own_codes[:, j] if mpc.pid == i else None, (size,), keytype.field,
                                              i, self.ar.keyring)
                blocks.append(core.secure_array(keytype, keytype.field, shares))
        return blocks[0] if len(blocks) == 1 else mpc.np_concatenate(blocks)

    def _candidates(self, j: int) -> int:
        if self.schema.is_categorical(j):
            return len(self.schema.categories[self.schema.features[j]]) - 1
        return self.n - 1

    async def candidate_counts(self, features: list[int], MY) -> dict:
        """Per categorical feature: the left class counts (k - 1, K, C) of its candidate splits 'code <= v' and
        their thresholds (K, k - 1): the contingency table (category × node × class) is one secure matrix
        product, its prefix sums over the categories the counts."""
        K = MY.shape[1] // self.C
        onehot = self.ring.concatenate([self.onehot[j] for j in features], axis=1)    # all features: one product
        tables = await self.ring.matmul(onehot.T, MY, self.ar.keyring)               # (categories, K·C)
        out, start = {}, 0
        for j in features:
            k = self.onehot[j].shape[1]
            left = tables[start:start + k].cumsum(axis=0)[:k - 1].reshape(k - 1, K, self.C)
            out[j] = (left, np.broadcast_to(np.arange(k - 1, dtype=np.int64), (K, k - 1)))
            start += k
        return out

    async def best_splits(self, nodes: list, B, MY, totals, mask: np.ndarray, node_checks):
        """Per node (K): the best candidate's score (a, b), threshold code, feature and validity bit over all
        features; and the bits [node_checks >= 0] (K, m), compared in the first comparison batch.

        Numeric features: the group-wise layouts (:mod:`.groups`); categorical ones: contingency tables.
        Either gives one winner per node and feature; a last tournament per node over its features in
        feature order keeps the first of equal scores (the twin's tie-breaking)."""
        columns, node_bits = {}, None
        if self.layouts is not None and mask[:, self.layouts.numeric].any():
            (a, b, t, v), node_bits = await self.layouts.best(nodes, B, MY, totals, mask, node_checks)
            for i, j in enumerate(self.layouts.numeric):
                columns[j] = (a[:, i], b[:, i], t[:, i], v[:, i])
        categorical = [j for j in range(self.d) if self.schema.is_categorical(j) and mask[:, j].any()
                       and self._candidates(j) > 0]
        if categorical:
            winners, bits = await self._categorical_winners(categorical, MY, totals, mask,
                                                            node_checks if node_bits is None else None,
                                                            per_feature=bool(columns))
            if not columns:                                                  # categorical only: one tournament
                return winners, bits
            columns.update(winners)
            node_bits = bits if node_bits is None else node_bits
        if node_bits is None:
            node_bits = await self.ar.nonneg(node_checks, self.weight_bits)
        if not columns:
            return None, node_bits
        features = sorted(columns)
        a, b, t, v = (self.ring.stack([columns[j][i] for j in features], axis=1) for i in range(4))
        f = np.broadcast_to(np.array(features, dtype=np.int64), a.shape)
        a, b, [t, f, v] = await self.ar.first_max(a, b, [t, f, v], self.score_bits)
        return (a, b, t, f, v), node_bits

    async def _categorical_winners(self, features: list[int], MY, totals, mask: np.ndarray, node_checks,
                                   per_feature: bool):
        """Per categorical feature j: its best split for every node (invalid -1/1 where the node may not use
        j), as {j: (a, b, threshold, validity)}, each (K,); or, if not ``per_feature``, the best over all of
        them as (a, b, threshold, feature, validity) from one tournament per node over its candidates in
        feature order.  Their validity comparisons share one batch with ``node_checks`` (if given), whose
        bits are returned too."""
        K = totals.shape[0]
        counts = await self.candidate_counts(features, MY)
        a, b, validity, thresholds, slots = await self._scores(features, counts, totals, mask)
        width = slots.shape[1]
        N = a.shape[1] // width                                              # candidates per (node, slot)
        if not per_feature:
            feature = np.repeat(np.where(slots >= 0, slots, 0), N, axis=1)   # (K, width·N)
            a, b, [t, f], v, node_bits = await self.ar.first_valid_max(a, b, validity, [thresholds, feature],
                                                                        self.score_bits, self.check_bits, node_checks)
            return (a, b, t, f, v), node_bits
        rows = lambda x: x.reshape(K * width, N)                             # one row per (node, slot)
        a, b, [t], v, node_bits = await self.ar.first_valid_max(rows(a), rows(b), rows(validity), [rows(thresholds)],
                                                                 self.score_bits, self.check_bits, node_checks)
        invalid = [-1, 1, 0, 0]                                              # slot `width`: not allowed
        won = [self.ring.concatenate((x.reshape(K, width), self.ring.public(np.full((K, 1), c, dtype=np.int64))),
                                     axis=1) for x, c in zip((a, b, t, v), invalid)]
        rows = np.arange(K)
        return {j: tuple(x[rows, np.where(slots == j, np.arange(width), width).min(axis=1)] for x in won)
                for j in features}, node_bits

    async def _scores(self, chunk: list[int], counts: dict, totals, mask: np.ndarray):
        """The candidates (K, N) of every node: its allowed features of ``chunk`` side by side (feature order,
        each padded to the chunk's longest with invalid candidates), as proxy numerator a, denominator b, a
        validity number (>= 0 iff the value changes and both sides hold min_samples_leaf rows), threshold
        and feature index.

        Only the (node, feature) pairs a node may use get scores: a forest's node draws max_features of d
        features, so this saves the products and comparisons of the others.  The products of all
        features share two rounds."""
        K = totals.shape[0]
        allowed = [[g for g, j in enumerate(chunk) if mask[k, j]] for k in range(K)]
        width = max(1, max(len(a) for a in allowed))
        index = np.array([a + [0] * (width - len(a)) for a in allowed], dtype=np.int64)           # (K, width)
        real = np.array([[1] * len(a) + [0] * (width - len(a)) for a in allowed], dtype=np.int64)  # padding: 0
        N = max(counts[j][0].shape[0] for j in chunk)
        left, thresholds, extra = [], [], []
        for j in chunk:
            left_j, thresholds_j = counts[j]
            pad = N - left_j.shape[0]
            changes = self.ar.secure(np.ones((left_j.shape[0], 1), dtype=np.int64))  # category codes differ
            left.append(self._padded(left_j, pad, 0))
            thresholds.append(self._padded(self.ar.secure(thresholds_j), pad, 1))
            extra.append(self._padded(changes, pad, 0).reshape(N))
        rows = np.arange(K).reshape(K, 1)
        left = self.ring.stack(left)[index, :, rows, :]                       # (K, width, N, C)
        left = left.reshape(K, width * N, self.C).transpose(1, 0, 2)           # (width·N, K, C)
        thresholds = self.ring.stack(thresholds)[index, rows, :].reshape(K, width * N)
        extra = (self.ring.stack(extra)[index, :] * real.reshape(K, width, 1)).reshape(K, width * N)
        slots = np.where(real == 1, np.array(chunk, dtype=np.int64)[index], -1)  # (K, width): slot's feature
        right = totals.reshape(1, K, self.C) - left
        a, b, validity = await self.ar.gini_scores(left, right, extra.T, self.min_samples_leaf)
        return a.T, b.T, (validity - 1).T, thresholds, slots

    def _padded(self, x, pad: int, axis: int):
        """x with ``pad`` zeros appended along ``axis`` (invalid candidates: no rows left of them)."""
        if not pad:
            return x
        shape = list(x.shape)
        shape[axis] = pad
        return self.ring.concatenate((x, self.ring.zeros(shape)), axis=axis)

    async def _labels(self, beats, K: int, also=()):
        """The majority class of every node (ties to the smallest class) from the bits of its class pairs;
        the products ``also`` (pairs) share the round of the selection and are returned after the label."""
        if self.C == 1:
            return [self.ring.zeros(K)] + (await self.ar.mul(*also) if also else [])
        winners = await self.ar.pair_winners(beats, self.C)
        classes = np.broadcast_to(np.arange(self.C, dtype=np.int64), (K, self.C))
        [chosen, *rest] = await self.ar.mul((winners, classes), *also)
        return [chosen.sum(axis=1)] + rest

    async def majority(self) -> int:
        """The most frequent class of the pooled rows (ties to the smallest), opened (``trees.majority``)."""
        totals = self.Y.sum(axis=0).reshape(1, self.C)
        beats = None if self.C == 1 else await self.ar.nonneg(await self.ar.pair_differences(totals, None),
                                                              self.weight_bits)
        [label] = await self._labels(beats, 1)
        [opened] = await self.ar.open(label[:1], what="trees.majority",
                                      why="the forest's vote ties go to the training set's majority class")
        return int(opened)

    async def grow(self, roots: list[np.ndarray], feature_masks=None) -> list[Tree]:
        """Grow one tree per entry of ``roots`` (public row weights) layer by layer; returns the opened trees.

        ``feature_masks(tree, node)`` gives the features a node may split on (a forest's draws).
        """
        trees = [Tree() for _ in roots]
        nodes = [(t, trees[t].add(0)) for t in range(len(roots))]
        B = self.ring.public(np.ones((self.n, len(roots)), dtype=np.int64))  # every row in every root
        self.layouts = Layouts(self, roots) if self.order else None
        depth = 0
        bar = core.progress(total=self.max_depth + 1 if self.max_depth is not None else None,
                            desc="tree layers", unit="layer")
        while nodes:
            K = len(nodes)
            weights = np.stack([roots[t] for t, _ in nodes], axis=1).astype(np.int64)  # public (n, K)
            M = B * weights
            [MY] = await self.ar.mul((M.reshape(self.n, K, 1), self.Y.reshape(self.n, 1, self.C)))
            MY = MY.reshape(self.n, K * self.C)
            totals = MY.sum(axis=0).reshape(K, self.C)
            size = totals.sum(axis=1)
            class_pairs = await self.ar.pair_differences(totals, None) if self.C > 1 else None  # (K, C(C-1)/2)
            if depth == self.max_depth:
                [label] = await self._labels(None if class_pairs is None else
                                             await self.ar.nonneg(class_pairs, self.weight_bits), K)
                split = np.zeros(K, dtype=bool)
            else:
                # per node, in the first comparison batch: [count_c >= size] (pure: one of them, if the node
                # is not empty; empty nodes fail the size test), [size >= 2·min_samples_leaf], class pairs
                checks = [totals - size.reshape(K, 1), (size - 2 * self.min_samples_leaf).reshape(K, 1)]
                checks += [] if class_pairs is None else [class_pairs]
                mask = np.ones((K, self.d), dtype=bool) if feature_masks is None else \
                    np.array([feature_masks(t, node) for t, node in nodes], dtype=bool).reshape(K, self.d)
                best, node_bits = await self.best_splits(nodes, B, MY, totals, mask,
                                                         self.ring.concatenate(checks, axis=1))
                pure, large = node_bits[:, :self.C].sum(axis=1), node_bits[:, self.C]
                label, both = await self._labels(node_bits[:, self.C + 1:], K, [(1 - pure, large)])
                if best is None:
                    split = np.zeros(K, dtype=bool)
                else:
                    _, _, threshold, feature, found = best
                    [splits] = await self.ar.mul((both, found))
                    split = (await self.ar.open(splits, what="trees.structure",
                                                why="the shape of the tree: whether each node splits")).astype(bool)
            leaves = np.flatnonzero(~split)
            inner = np.flatnonzero(split)
            openings = []  # both in one round, started in this order on every party
            if len(leaves):
                openings.append(self.ar.open(label[leaves], what="trees.leaf", why="the leaf classes of the model"))
            if len(inner):
                openings.append(self.ar.open(self.ring.concatenate((feature[inner], threshold[inner])),
                                             what="trees.split", why="the split features and thresholds of the model"))
            opened = await asyncio.gather(*openings)
            if len(leaves):
                for k, c in zip(leaves, np.asarray(opened[0], dtype=np.int64)):
                    t, node = nodes[k]
                    trees[t].value[node] = int(c)
            if not len(inner):
                break
            opened = np.asarray(opened[-1], dtype=np.int64)
            f, thr = opened[:len(inner)], opened[len(inner):]
            splits, B = await self._route(trees, nodes, B, inner, f, thr, depth)
            nodes = [(t, child) for t, _, left, right in splits for child in (left, right)]
            if self.layouts is not None and (self.max_depth is None or depth + 1 < self.max_depth):
                await self.layouts.regroup(splits, B)                         # the next layer splits again
            depth += 1
            bar.update(1)
        bar.close()
        return trees

    async def _route(self, trees, nodes, B, inner, f, thr, depth):
        """Record the splits ((tree, node, left child, right child) each, in the order of ``inner``); each row
        of a split node goes left iff its code <= the node's threshold.  Returns them and the new membership
        (n × 2·splits: left, right per split).

        Categorical splits need no comparison: 'code <= v' is the sum of the row's one-hot categories 0..v.
        Numeric ones compare each row's value of its node's feature with the node's public threshold: one
        comparison per row and tree."""
        splits = []
        for k, j, t in zip(inner, f, thr):
            tree, node = nodes[k]
            tr = trees[tree]
            tr.feature[node], tr.threshold[node] = int(j), int(t)
            tr.left[node], tr.right[node] = tr.add(depth + 1), tr.add(depth + 1)
            splits.append((tree, node, tr.left[node], tr.right[node]))
        member = B[:, inner]                                                 # (n, S)
        go_left = [None] * len(inner)
        numeric = [s for s, j in enumerate(f) if not self.schema.is_categorical(j)]
        for s, (j, t) in enumerate(zip(f, thr)):
            if self.schema.is_categorical(j):
                go_left[s] = self.onehot[j][:, :t + 1].sum(axis=1)
        if numeric:
            # a row sits in one node per tree: per tree, its node's feature value and threshold
            owner = [nodes[inner[s]][0] for s in numeric]
            grown = sorted(set(owner))
            group = np.zeros((len(numeric), len(grown)), dtype=np.int64)
            group[np.arange(len(numeric)), [grown.index(t) for t in owner]] = 1
            [x] = await self.ar.mul((member[:, numeric], self.X[:, f[numeric]]))
            x = x @ group                                                    # (n, trees)
            t = (member[:, numeric] * thr[numeric].reshape(1, -1)) @ group
            compared = (await self.ar.nonneg(t - x, self.code_bits)) @ group.T  # (n, numeric splits)
            for i, s in enumerate(numeric):
                go_left[s] = compared[:, i]
        [left] = await self.ar.mul((member, self.ring.stack(go_left, axis=1)))
        B = self.ring.stack((left, member - left), axis=2).reshape(self.n, 2 * len(inner))
        return splits, B


def memory_plans(learner, trees: int) -> list:
    """A party's predicted peak memory from the public sizes, one plan per batch of layout positions
    (``LAYOUT_BATCHES``, largest first: fewest rounds); the largest that fits the budget is used.

    The parts (bytes; w = 8·m per ring value): the rows n·(d + C + categories)·w; then the larger of the
    sort phase (``SORT_ROW_BYTES`` per row: one feature's keys in MPyC's field) and the layer phase: the
    layouts' row numbers, codes and ranks (trees·numeric·n·(8 + 2w)), the row-order membership and counts
    (``ROW_ORDER_FACTOR``·n·K·(C + 1)·w for K nodes in the widest layer) and one batch of positions
    (``POSITION_FACTOR``·(width + C + 12)·w each, width = a tree's nodes in that layer).  The factors
    are fitted to measured peaks (docs/trees.md, "Memory")."""
    schema, n, C, m = learner.schema, learner.n, learner.C, learner.ring.m
    d, word = learner.d, 8 * learner.ring.m
    numeric = len(learner.numeric)
    categories = sum(len(schema.categories[schema.features[j]]) for j in range(d) if schema.is_categorical(j))
    splits = max(1, n // (2 * learner.min_samples_leaf))                  # nodes a layer of one tree can split
    width = 1 if not learner.max_depth else min(2 ** (learner.max_depth - 1), splits)
    width = splits if learner.max_depth is None else width
    rows = n * (d + C + categories) * word
    sort = SORT_ROW_BYTES * n if numeric else 0
    layer = trees * numeric * n * (8 + 2 * word) + ROW_ORDER_FACTOR * n * trees * width * (C + 1) * word
    plans = []
    for positions in LAYOUT_BATCHES:
        batch = min(positions, trees * numeric * n) * POSITION_FACTOR * (width + C + 12) * word
        peak = memory.BASELINE_BYTES + rows + max(sort, layer + batch)
        plans.append(memory.MemoryPlan(f"layout batches of {positions} positions", int(peak),
                                       details={"positions": positions, "residues": m}))
    return plans


async def setup(table, *, target: str, features, categorical, frac_bits: int, value_bits: int, max_depth,
                min_samples_leaf: int, memory_bytes: int | None = None, **options) -> Learner:
    """Read and encode this party's table, agree on the schema and options, plan the memory (agreed budget:
    the smallest of the parties' ``memory_bytes``), share the rows."""
    if min_samples_leaf < 1:
        raise InputError(f"min_samples_leaf must be at least 1, got {min_samples_leaf}")
    if max_depth is not None and max_depth < 0:
        raise InputError(f"max_depth must be >= 0 or None, got {max_depth}")
    table = read_table(table, target, features, categorical)
    part = local_schema_part(table)
    parts = [await core.share_public(part if mpc.pid == i else None, sender=i) for i in range(len(mpc.parties))]
    schema = merge_schema(parts, frac_bits, value_bits)
    codes, y = encoded(table, schema)
    sizes = [int(await core.share_public(len(y) if mpc.pid == i else None, sender=i))
             for i in range(len(mpc.parties))]
    await core.agree(schema=schema.to_dict(), max_depth=max_depth, min_samples_leaf=min_samples_leaf,
                     protocol="trees/2", **options)
    if sum(sizes) == 0:
        raise InputError("no rows at any party")
    learner = Learner(schema, sizes, min_samples_leaf, max_depth)
    budget = await memory.agree_budget(memory_bytes)                      # before anything is shared
    learner.plan = memory.choose(memory_plans(learner, options.get("n_estimators", 1)), budget, "training",
                                 "raise --memory (each party on its own host has more), lower max_depth or use "
                                 "fewer rows")
    learner.budget = budget
    await learner.share_rows(codes, y)
    await learner.sort_numeric()
    return learner


async def tree_protocol(table, *, target: str, features=None, categorical=None, max_depth: int | None = None,
                        min_samples_leaf: int = 1, frac_bits: int = 16, value_bits: int = 32,
                        memory_bytes: int | None = None) -> dict:
    """Train one Gini decision tree on the union of the parties' rows; returns the model on every party
    (the opened tree, its schema and the public sizes) with the memory plan.
    ``memory_bytes``: this party's budget (default: ``core.memory.default_budget()``); all plan with the
    smallest."""
    learner = await setup(table, target=target, features=features, categorical=categorical, frac_bits=frac_bits,
                          value_bits=value_bits, max_depth=max_depth, min_samples_leaf=min_samples_leaf,
                          memory_bytes=memory_bytes)
    [tree] = await learner.grow([np.ones(learner.n, dtype=np.int64)])
    return {"tree": tree.to_dict(), "schema": learner.schema.to_dict(), "sizes": learner.sizes,
            "memory_plan": learner.plan_summary()}
