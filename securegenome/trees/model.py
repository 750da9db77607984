"""A fitted (opened) decision tree: nodes in breadth-first order, splits 'code <= threshold' go left.

The same structure comes out of the secure protocol and of the plaintext twin, so tests compare them with
``==``.  Prediction, ``export_text``-style printing and the mapping onto scikit-learn's tree live here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .data import Schema

LEAF = -1


@dataclass
class Tree:
    """Node i: ``feature[i]`` (LEAF for a leaf), ``threshold[i]`` (a code: rows with code <= threshold go
    to ``left[i]``, the others to ``right[i]``), ``value[i]`` (the class index of a leaf, -1 inside) and
    ``depth[i]``.  Node 0 is the root; children follow their parents layer by layer."""

    feature: list = field(default_factory=list)
    threshold: list = field(default_factory=list)
    left: list = field(default_factory=list)
    right: list = field(default_factory=list)
    value: list = field(default_factory=list)
    depth: list = field(default_factory=list)

    def add(self, depth: int) -> int:
        for column, v in ((self.feature, LEAF), (self.threshold, 0), (self.left, -1), (self.right, -1),
                          (self.value, -1), (self.depth, depth)):
            column.append(v)
        return len(self.feature) - 1

    @property
    def node_count(self) -> int:
        return len(self.feature)

    @property
    def max_depth(self) -> int:
        return max(self.depth) if self.depth else 0

    def is_leaf(self, i: int) -> bool:
        return self.feature[i] == LEAF

    def apply(self, codes: np.ndarray) -> np.ndarray:
        """The leaf of every row of ``codes`` (n, d)."""
        node = np.zeros(len(codes), dtype=np.int64)
        feature, threshold = np.asarray(self.feature), np.asarray(self.threshold)
        left, right = np.asarray(self.left), np.asarray(self.right)
        for _ in range(self.max_depth):
            inner = feature[node] != LEAF
            if not inner.any():
                break
            rows = np.flatnonzero(inner)
            f = feature[node[rows]]
            go_left = codes[rows, f] <= threshold[node[rows]]
            node[rows] = np.where(go_left, left[node[rows]], right[node[rows]])
        return node

    def predict_codes(self, codes: np.ndarray) -> np.ndarray:
        return np.asarray(self.value)[self.apply(codes)]

    def to_dict(self) -> dict:
        return {k: list(map(int, getattr(self, k))) for k in ("feature", "threshold", "left", "right", "value",
                                                               "depth")}

    @classmethod
    def from_dict(cls, d: dict) -> Tree:
        return cls(**{k: list(d[k]) for k in ("feature", "threshold", "left", "right", "value", "depth")})

    def __eq__(self, other) -> bool:
        return isinstance(other, Tree) and self.to_dict() == other.to_dict()

    def feature_importances(self, n_features: int) -> np.ndarray:
        """Split counts per feature, normalised (Gini importances need node impurities, which stay secret)."""
        used = np.zeros(n_features)
        for f in self.feature:
            if f != LEAF:
                used[f] += 1
        return used / used.sum() if used.sum() else used


def split_text(schema: Schema, feature: int, threshold: int, left: bool) -> str:
    name = schema.features[feature]
    if schema.is_categorical(feature):
        cats = schema.categories[name]
        chosen = cats[:threshold + 1] if left else cats[threshold + 1:]
        return f"{name} in {{{', '.join(chosen)}}}"
    value = schema.decode_numeric(threshold)
    return f"{name} <= {value:.6g}" if left else f"{name} >  {value:.6g}"


def export_text(tree: Tree, schema: Schema) -> str:
    """The tree as indented text, like ``sklearn.tree.export_text``."""
    lines = []

    def walk(i: int, indent: str):
        if tree.is_leaf(i):
            lines.append(f"{indent}|--- class: {schema.classes[tree.value[i]]}")
            return
        for child, left in ((tree.left[i], True), (tree.right[i], False)):
            lines.append(f"{indent}|--- {split_text(schema, tree.feature[i], tree.threshold[i], left)}")
            walk(child, indent + "|   ")

    walk(0, "")
    return "\n".join(lines)


def sklearn_threshold(schema: Schema, feature: int, code: int) -> float:
    """A float threshold t with 'x <= t' iff 'code(x) <= code' (codes round x to the fixed-point grid)."""
    if schema.is_categorical(feature):
        return code + 0.5
    return (code + 0.5 - 2 ** (schema.value_bits - 1)) / 2.0 ** schema.frac_bits


def to_sklearn(tree: Tree, schema: Schema, prefer: int | None = None):
    """A fitted ``sklearn.tree.DecisionTreeClassifier`` with this tree's splits and leaf classes.

    Numeric features take the raw values; categorical ones their category index (the schema's order).
    Leaves hold the opened class only, so ``predict_proba`` of the sklearn tree is 0/1; with ``prefer``,
    every leaf also gives 10⁻⁶ to that class, so that a forest averaging such trees breaks vote ties towards it.
    """
    from sklearn.tree import DecisionTreeClassifier
    from sklearn.tree._tree import NODE_DTYPE, Tree as SkTree

    n_classes, d = len(schema.classes), len(schema.features)
    nodes = np.zeros(tree.node_count, dtype=NODE_DTYPE)
    values = np.zeros((tree.node_count, 1, n_classes))
    for i in range(tree.node_count):
        leaf = tree.is_leaf(i)
        nodes[i]["left_child"] = -1 if leaf else tree.left[i]
        nodes[i]["right_child"] = -1 if leaf else tree.right[i]
        nodes[i]["feature"] = -2 if leaf else tree.feature[i]
        nodes[i]["threshold"] = -2.0 if leaf else sklearn_threshold(schema, tree.feature[i], tree.threshold[i])
        nodes[i]["n_node_samples"] = 1
        nodes[i]["weighted_n_node_samples"] = 1.0
        if "missing_go_to_left" in NODE_DTYPE.names:
            nodes[i]["missing_go_to_left"] = 0
    for i in reversed(range(tree.node_count)):  # inner nodes: the sum of their leaves' one-hot classes
        if tree.is_leaf(i):
            values[i, 0, tree.value[i]] = 1.0
            if prefer is not None:
                values[i, 0, prefer] += 1e-6
        else:
            values[i] = values[tree.left[i]] + values[tree.right[i]]
    values /= values.sum(axis=2, keepdims=True)
    sk_tree = SkTree(d, np.array([n_classes], dtype=np.intp), 1)
    sk_tree.__setstate__({"max_depth": tree.max_depth, "node_count": tree.node_count, "nodes": nodes,
                          "values": values})
    model = DecisionTreeClassifier(criterion="gini")
    model.tree_ = sk_tree
    model.n_features_in_ = d
    model.n_outputs_ = 1
    model.n_classes_ = n_classes
    model.classes_ = np.array(schema.classes)
    model.max_features_ = d
    return model
