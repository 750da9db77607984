"""Numeric features in group-wise layouts (Hamada et al., PoPETs 2023): a layer's splits at O(n) per feature.

For every tree t and numeric feature j the learner keeps a *layout*: a secret permutation π_tj of the rows
in which the rows of each node of the current layer are contiguous (a *group*; the groups in a public
order), and sorted by the value of j within the group.  At the root it is the feature's sorted order σ_j.
Node sizes, and so the group boundaries, stay secret.

A layer, per layout (all layouts of a chunk batched; n positions each):

1. *Gather* the rows' node one-hot B (its nodes in group order) and weighted class vector w·y (zero for
   rows of finished leaves) by π_tj (``core.apply_permutation_raw``: one shuffle, one opened uniformly
   random permutation, one reverse shuffle).
2. *Counts.*  The class counts left of 'x ≤ x_(i)' in position i's own node are the global prefix sums of
   w·y minus the totals of the groups before it: Σ_k B[i,k]·(totals of the groups before k), one product
   sum per position.  Position i and i+1 are in the same group iff Σ_k B[i,k]·B[i+1,k] = 1.
3. *Scores* (a, b, the exact Gini proxy a/b, :meth:`.secure.Arithmetic.gini_scores`); the candidate is
   valid iff i+1 is in the same group (and the node may use the feature), the value changes (the feature's
   dense rank increases) and both sides keep min_samples_leaf rows: one comparison of
   same·Δrank·(2n_L − 2m + 1)·(2n_R − 2m + 1) − 1 with 0 (same·Δrank − 1 for unit weights and m = 1).
4. *Group maxima* (:meth:`.secure.Arithmetic.group_first_max`): one pass up a binary tree over the
   positions, n − 1 joins with one comparison each in ⌈log₂ n⌉ steps (ties keep the first, i.e. the
   smallest threshold); each group's winner is emitted at exactly one tree node, owned by one of its
   positions, and picked out per node by Σ_slots B[owner, k]·slot (one secret matrix product).
5. *Regroup* after the layer's splits are opened: gather every row's 'goes right' bit by π_tj, compute the
   stable-partition destinations (zeros first: the core's radix round ``digit_destinations`` on a 1-bit
   digit, one product sum per position) and scatter (π_tj, codes, ranks) to them (one shuffle, one opened
   uniformly random permutation): the left children's groups come first, then the right children's, each
   in the old group order.

Reveals nothing beyond the core's ``shuffle.permutation`` openings (uniformly random permutations) and the
comparisons' masked values and bits (``trees.masked_values``, ``trees.masked_bits``).

Cost per layer and numeric feature of a tree: O(n) products, about 2n comparisons (n validity of log₂ n to
≈ 3·log₂ n bits, n − 1 in the group maxima of ≈ 5·log₂ n bits), three secret permutations of n rows;
independent of the number of nodes (the one-hot layout costs that many times more).
"""

from __future__ import annotations

import asyncio

import numpy as np

from .. import core



class Layouts:
    """The group-wise layouts of every (tree, numeric feature) pair: row numbers π (raw GF(2³¹−1) shares),
    codes and dense value ranks (residue-ring shares), each (layouts, n); and per tree its groups' nodes in
    layout order."""

    def __init__(self, learner, roots: list[np.ndarray]):
        self.learner, self.ar, self.ring = learner, learner.ar, learner.ring
        self.numeric = list(learner.order)                         # numeric features (sorted order known)
        trees, self.trees, self.n = len(roots), len(roots), learner.n
        self.unit = learner.min_samples_leaf == 1 and all((w == 1).all() for w in roots)
        self.pi = np.tile(np.stack([learner.order[j] for j in self.numeric]), (trees, 1))        # (T·g, n)
        self.code = self.ring.concatenate([self.ring.stack([learner.sorted_codes[j] for j in self.numeric])] * trees)
        ranks = [self.ring.concatenate((self.ring.zeros(1), learner.differs[j].cumsum())) for j in self.numeric]
        self.rank = self.ring.concatenate([self.ring.stack(ranks)] * trees)
        self.groups = [[0] for _ in range(trees)]                  # node ids (tree-local), in layout order

    def layout(self, tree: int, g: int) -> int:
        return tree * len(self.numeric) + g

    def _batches(self, layouts: list[int]) -> list[list[int]]:
        per = max(1, self.learner.positions() // max(1, self.n))          # the memory plan's batch size
        return [layouts[i:i + per] for i in range(0, len(layouts), per)]

    async def _gathered(self, rows: list[int], sources: dict) -> core.Shared:
        """Per layout r of ``rows``, its tree's source array (n, w) in the layout's order: (len(rows), n, w)."""
        n = self.n
        sigma = np.concatenate([self.pi[r] + i * n for i, r in enumerate(rows)]) % core.SMALL_FIELD.modulus
        stacked = self.ring.concatenate([sources[r // len(self.numeric)] for r in rows])
        out = await core.apply_permutation_raw(sigma, list(stacked.v), self.ring.fields, self.ar.keyring)
        return core.Shared(self.ring, np.stack(out).reshape((self.ring.m, len(rows), n, -1)))

    async def best(self, nodes: list, B, MY, totals, mask: np.ndarray, node_checks):
        """Per node of ``nodes`` ((tree, node) pairs, the columns of B (n × K), MY (n × K·C) and totals
        (K × C)) and numeric feature: the best split's (a, b, threshold code, validity), each (K, g); and
        the bits [node_checks >= 0], compared in the first batch."""
        learner, ring, C, n = self.learner, self.ring, self.learner.C, self.n
        g, K = len(self.numeric), len(nodes)
        column = {node: k for k, node in enumerate(nodes)}
        cols = [[column[(t, v)] for v in self.groups[t]] for t in range(self.trees)]   # group order
        width = max(len(c) for c in cols)
        sources, tables = {}, {}
        per_node = MY.reshape(n, K, C)
        for t, c in enumerate(cols):
            if not c:
                continue
            pad = width - len(c)
            membership = learner._padded(B[:, c], pad, 1)                             # (n, width)
            weighted = per_node[:, c, :].sum(axis=1)                                  # w·y of live rows
            sources[t] = ring.concatenate((membership, weighted), axis=1)            # (n, width + C)
            node_totals = learner._padded(totals[c], pad, 0)                          # (width, C)
            before = node_totals.cumsum(axis=0) - node_totals                         # groups before k
            tables[t] = ring.concatenate((before, node_totals), axis=1)               # (width, 2C)
        used = [self.layout(t, i) for t, c in enumerate(cols) if c for i, j in enumerate(self.numeric)
                if mask[c, j].any()]
        a_out, b_out = ring.public(-np.ones((K, g), dtype=np.int64)), ring.public(np.ones((K, g), dtype=np.int64))
        t_out, v_out = ring.zeros((K, g)), ring.zeros((K, g))
        node_bits = None
        for rows in self._batches(used):
            allowed = np.zeros((len(rows), width), dtype=np.int64)                   # may node k use j?
            for i, r in enumerate(rows):
                t, j = divmod(r, g)
                allowed[i, :len(cols[t])] = mask[cols[t], self.numeric[j]]
            winners, bits = await self._batch_winners(rows, sources, tables, allowed, width,
                                                      node_checks if node_bits is None else None)
            node_bits = bits if node_bits is None else node_bits
            for i, r in enumerate(rows):                                              # (width, 4) per layout
                t, j = divmod(r, g)
                ks = np.array(cols[t])
                for out, q in ((a_out, 0), (b_out, 1), (t_out, 2), (v_out, 3)):
                    out[ks, j] = winners[i, :len(ks), q]
        return (a_out, b_out, t_out, v_out), node_bits

    async def _batch_winners(self, rows, sources, tables, allowed, width, node_checks):
        """Steps 1-4 of the module docstring for the layouts ``rows``: (len(rows), width, 4) winners."""
        learner, ar, ring, C, n = self.learner, self.ar, self.ring, self.learner.C, self.n
        R = len(rows)
        gathered = await self._gathered(rows, sources)                                # (R, n, width + C)
        member, weighted = gathered[:, :, :width], gathered[:, :, width:]
        table = ring.stack([tables[r // len(self.numeric)] for r in rows])           # (R, width, 2C)
        usable = member * allowed.reshape(R, 1, width)                               # node may use j
        bases, same, same_allowed = await ring.mul_sum(
            [(member.reshape(R, n, width, 1), table.reshape(R, 1, width, 2 * C)),
             (member[:, :-1], member[:, 1:]), (usable[:, :-1], member[:, 1:])], ar.keyring, axis=2)
        left = weighted.cumsum(axis=1) - bases[:, :, :C]                             # own node, x <= x_(i)
        right = bases[:, :, C:] - left
        zero = ring.zeros((R, 1))
        same = ring.concatenate((same, zero), axis=1)                                # (R, n): i+1 same group
        same_allowed = ring.concatenate((same_allowed, zero), axis=1)
        rank = self.rank[rows]
        steps = ring.concatenate((rank[:, 1:] - rank[:, :-1], zero), axis=1)          # Δrank >= 0 in a group
        # unit weights and min_samples_leaf 1: both sides are non-empty iff i+1 is in the group (i itself is
        # left of the split), so validity is same·Δrank >= 1, a comparison of log₂ n bits
        a, b, validity = await ar.gini_scores(left, right, (same_allowed, steps),
                                              None if self.unit else learner.min_samples_leaf)
        flat = (validity - 1).reshape(-1)
        checks = flat if node_checks is None else ring.concatenate((flat, node_checks.reshape(-1)))
        ok = await ar.nonneg(checks, learner.weight_bits if self.unit else learner.check_bits)
        node_bits = None if node_checks is None else ok[flat.shape[0]:].reshape(node_checks.shape)
        valid = ok[:flat.shape[0]].reshape(R, n)
        a, b = await ar.mul((valid, a + 1), (valid, b - 1))
        a, b = a - 1, b + 1                                                          # invalid: -1/1
        starts = 1 - ring.concatenate((ring.public(np.zeros((R, 1), dtype=np.int64)), same[:, :-1]), axis=1)
        slots, owners = await ar.group_first_max(starts, a, b, [self.code[rows], valid], learner.score_bits)
        owner_nodes = member[:, owners].transpose(0, 2, 1)                          # (R, width, slots)
        winners = await ring.matmul(owner_nodes, slots, ar.keyring)                  # (R, width, 4)
        return winners, node_bits

    async def regroup(self, splits: list, B) -> None:
        """After a layer: ``splits`` lists (tree, node, left child, right child) in the order of B's column
        pairs (left, right), B (n × 2·len(splits)) the new membership.  Every layout of a tree that split
        is stably partitioned by its rows' 'goes right' bits; its groups become the left children, then the
        right children, in the old group order."""
        ring, n, g = self.ring, self.n, len(self.numeric)
        by_tree = {}
        for s, (t, node, left, right) in enumerate(splits):
            by_tree.setdefault(t, {})[node] = (s, left, right)
        sources = {}
        for t, children in by_tree.items():
            right_columns = [2 * s + 1 for s, _, _ in children.values()]
            sources[t] = B[:, right_columns].sum(axis=1).reshape(n, 1)              # goes right (0: left/leaf)
            order = [children[v] for v in self.groups[t] if v in children]
            self.groups[t] = [left for _, left, _ in order] + [right for _, _, right in order]
        for t in range(self.trees):
            if t not in by_tree:
                self.groups[t] = []                                                 # the tree is finished
        layouts = [self.layout(t, i) for t in sorted(by_tree) for i in range(g)]
        p = core.SMALL_FIELD.modulus
        for rows in self._batches(layouts):
            bits = (await self._gathered(rows, sources)).v[0, :, :, 0]               # GF(2^31-1): residue 0
            # a stable partition, zeros first: the core's radix round on a 1-bit digit, per layout
            dest = np.stack(await asyncio.gather(*(core.digit_destinations(b.reshape(n, 1), self.ar.keyring)
                                                   for b in bits)))             # (R, n)
            sigma = (dest + (np.arange(len(rows)) * n).reshape(-1, 1)).reshape(-1) % p
            values = [self.pi[rows].reshape(-1)] + [v.reshape(-1) for v in self.code[rows].v] + \
                     [v.reshape(-1) for v in self.rank[rows].v]
            fields = [core.SMALL_FIELD] + self.ring.fields + self.ring.fields
            placed = await core.apply_inverse_permutation_raw(sigma, values, fields, self.ar.keyring)
            m, R = self.ring.m, len(rows)
            self.pi[rows] = placed[0].reshape(R, n)
            self.code[rows] = core.Shared(ring, np.stack(placed[1:1 + m]).reshape(m, R, n))
            self.rank[rows] = core.Shared(ring, np.stack(placed[1 + m:]).reshape(m, R, n))

