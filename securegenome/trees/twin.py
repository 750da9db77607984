"""Plaintext twin of the secure tree learner: the very same trees, by the same rules, in numpy.

Rules shared with :mod:`.secure` (and with sklearn's ``DecisionTreeClassifier(criterion="gini")``):

- a node is a leaf if its depth is ``max_depth``, its (weighted) size is below ``2 * min_samples_leaf``,
  it is pure, or no split leaves ``min_samples_leaf`` rows on both sides;
- otherwise it splits on the candidate 'code <= v' that maximises the Gini proxy
  ``Σ_c l_c²/n_L + Σ_c r_c²/n_R`` (equivalently minimises the weighted Gini impurity of the children),
  compared exactly as fractions ``(n_R·Σl² + n_L·Σr²) / (n_L·n_R)``; ties go to the first feature, then
  the smallest threshold; the threshold is the largest code on the left among the node's rows;
- a leaf predicts the class with the largest (weighted) count, ties to the smallest class index.

Trees grow layer by layer, children in the order of their parents (node ids as in :class:`.model.Tree`).
Rows carry integer weights (1, or bootstrap counts in a forest); ``feature_mask(node_id)`` restricts the
features a node may split on (random forests).
"""

from __future__ import annotations

import numpy as np

from .model import LEAF, Tree


def first_max(a: np.ndarray, b: np.ndarray) -> int:
    """Index of the first maximum of the fractions a/b (b > 0), compared exactly."""
    score = np.asarray(a / b, dtype=float)
    top = score.max()
    near = np.flatnonzero(score >= top - abs(top) * 1e-9 - 1e-300)
    best = int(near[0])
    for i in near[1:]:
        if int(a[i]) * int(b[best]) > int(a[best]) * int(b[i]):
            best = int(i)
    return best


def best_split(codes: np.ndarray, y: np.ndarray, w: np.ndarray, n_classes: int, min_samples_leaf: int,
               features) -> tuple | None:
    """(feature, threshold) of the best split of one node's rows (weights > 0), or None."""
    best = None  # (a, b, feature, threshold)
    onehot = np.zeros((len(y), n_classes), dtype=np.int64)
    onehot[np.arange(len(y)), y] = w
    total = onehot.sum(axis=0)
    n = int(total.sum())
    for j in features:
        order = np.argsort(codes[:, j], kind="stable")
        x = codes[order, j]
        ends = np.flatnonzero(x[:-1] != x[1:])  # the last row of each value group but the largest
        if not len(ends):
            continue
        left = np.cumsum(onehot[order], axis=0)[ends]
        right = total - left
        n_left, n_right = left.sum(axis=1), right.sum(axis=1)
        ok = (n_left >= min_samples_leaf) & (n_right >= min_samples_leaf)
        if not ok.any():
            continue
        left, right, n_left, n_right, cut = left[ok], right[ok], n_left[ok], n_right[ok], ends[ok]
        if n > 2**20:  # a reaches n³/4: beyond int64 above 2^20 rows, exact Python integers then
            left, right, n_left, n_right = (v.astype(object) for v in (left, right, n_left, n_right))
        a = n_right * (left * left).sum(axis=1) + n_left * (right * right).sum(axis=1)
        b = n_left * n_right
        k = first_max(a, b)
        if best is None or int(a[k]) * best[1] > best[0] * int(b[k]):
            best = (int(a[k]), int(b[k]), j, int(x[cut[k]]))
    return None if best is None else best[2:]


def grow(codes: np.ndarray, y: np.ndarray, n_classes: int, *, max_depth: int | None = None,
         min_samples_leaf: int = 1, weights: np.ndarray | None = None, feature_mask=None) -> Tree:
    """Train one tree on all rows (codes (n, d) int, y (n,) class indices) by the rules above."""
    n, d = codes.shape
    weights = np.ones(n, dtype=np.int64) if weights is None else np.asarray(weights, dtype=np.int64)
    tree = Tree()
    layer = [(tree.add(0), np.flatnonzero(weights > 0))]
    while layer:
        next_layer = []
        for node, rows in layer:
            counts = np.bincount(y[rows], weights=weights[rows], minlength=n_classes).astype(np.int64)
            size = int(counts.sum())
            depth = tree.depth[node]
            split = None
            if not (depth == max_depth or size < 2 * min_samples_leaf or counts.max() == size):
                features = range(d) if feature_mask is None else np.flatnonzero(feature_mask(node))
                split = best_split(codes[rows], y[rows], weights[rows], n_classes, min_samples_leaf, features)
            if split is None:
                tree.value[node] = int(np.argmax(counts))
                continue
            j, threshold = split
            tree.feature[node], tree.threshold[node] = j, threshold
            go_left = codes[rows, j] <= threshold
            tree.left[node], tree.right[node] = tree.add(depth + 1), tree.add(depth + 1)
            next_layer += [(tree.left[node], rows[go_left]), (tree.right[node], rows[~go_left])]
        layer = next_layer
    assert all(v >= 0 for v, f in zip(tree.value, tree.feature) if f == LEAF)
    return tree
