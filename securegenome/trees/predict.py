"""Prediction with the model kept secret: a secret-shared tree (or forest) on secret query rows.

One party (the *owner*) holds the model, another (the *querier*) holds query rows; the parties evaluate the
trees in shares and only the querier learns the result: per query row, how many trees vote for each class
(one tree: the predicted class, one-hot).  Useful when the model must not be published (the training
parties opened it among themselves, the querier never sees it) and the queries must stay private.

Protocol:

1. *Public:* the schema (the querier encodes its rows with it), the number of trees T, the depth D of the
   deepest tree, a forest's tie class (the majority class it was trained with) and the number of query
   rows m.  Every tree is padded to the complete binary tree of
   depth D (a leaf above D becomes a subtree whose leaves all hold its class), so the shape of the model
   stays hidden: only T and D are public.
2. *Input:* the owner shares, per internal node, the one-hot split feature (d values) and the threshold
   code, and per leaf the one-hot class; the querier shares its rows' codes.
3. *Evaluate:* every node's feature value of every row is one secure matrix product (rows × d times
   d × nodes); all m·T·(2^D − 1) tests [x ≤ threshold] are one comparison batch
   (:meth:`.secure.Arithmetic.nonneg`); the leaf indicators follow level by level (one multiplication
   round per level), the votes are the indicators times the one-hot leaf classes summed over leaves and
   trees.
4. *Open* the votes (m × C) to the querier only (``trees.prediction``).

What it reveals: to the querier, its rows' votes (a forest's predict_proba; one tree: the predictions);
to everyone, T, D, m, the schema and a forest's tie class; the comparisons open only statistically
masked values and uniformly random bits (``trees.masked_values``, ``trees.masked_bits``).

Cost: m·T·(2^D − 1) comparisons of the code width (one batch), one matrix product, D + 1 multiplication
rounds.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from .. import core
from ..core import mpc
from ..errors import InputError
from .data import Schema
from .forest import decide
from .model import Tree
from .secure import Arithmetic, ring_bits

LEAKAGE = {
    "trees.prediction": "the class votes of every query row (one tree: its predicted class, one-hot), to the "
                        "querier only",
    "trees.masked_values": "comparison operands plus random masks of bits+1+72 bits from t+1 parties, to all: "
                           "statistically hidden (distance below 2^-72 per value, noted in the ledger)",
    "trees.masked_bits": "comparison bits XOR fresh secret random bits from t+1 parties, to all: uniformly "
                         "random; moves a comparison result from GF(2^31-1) into the counting field",
}


def complete(tree: Tree, depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tree as a complete binary tree of ``depth`` in heap order: split feature and threshold code of
    the 2^depth - 1 internal nodes, class of the 2^depth leaves.  A leaf above ``depth`` becomes a subtree
    (feature 0, threshold 0) whose leaves all hold its class, so every row reaches a leaf of its class."""
    if tree.max_depth > depth:
        raise ValueError(f"a tree of depth {tree.max_depth} does not fit depth {depth}")
    inner = 2 ** depth - 1
    feature = np.zeros(inner, dtype=np.int64)
    threshold = np.zeros(inner, dtype=np.int64)
    leaf = np.zeros(2 ** depth, dtype=np.int64)

    def place(node: int | None, heap: int, level: int, value: int) -> None:
        if node is not None and not tree.is_leaf(node):
            feature[heap], threshold[heap] = tree.feature[node], tree.threshold[node]
            place(tree.left[node], 2 * heap + 1, level + 1, value)
            place(tree.right[node], 2 * heap + 2, level + 1, value)
            return
        value = tree.value[node] if node is not None else value
        if level == depth:
            leaf[heap - inner] = value
        else:                                                              # padding below a shallow leaf
            place(None, 2 * heap + 1, level + 1, value)
            place(None, 2 * heap + 2, level + 1, value)

    place(0, 0, 0, 0)
    return feature, threshold, leaf


def complete_predict(feature, threshold, leaf, codes: np.ndarray) -> np.ndarray:
    """Plaintext twin of the evaluation: the leaf class of every row in the complete tree."""
    inner, heap = len(feature), np.zeros(len(codes), dtype=np.int64)
    while inner and (heap < inner).any():
        go_left = codes[np.arange(len(codes)), feature[heap]] <= threshold[heap]
        heap = np.where(go_left, 2 * heap + 1, 2 * heap + 2)
    return leaf[heap - inner]


def query_codes(queries, schema: Schema, label: str = "queries") -> np.ndarray:
    """The querier's rows as codes under ``schema``: a codes array (m × d) as is, or a table (CSV path,
    DataFrame, ``{column: values}``) with the schema's feature columns (other columns are ignored)."""
    if isinstance(queries, np.ndarray) and queries.dtype.kind in "iu":
        return queries
    if isinstance(queries, (str, os.PathLike)):
        label = str(queries)
        try:
            queries = pd.read_csv(queries, dtype={c: str for c in schema.categories})
        except (OSError, ValueError) as exc:
            raise InputError(f"{label}: cannot read a CSV table ({getattr(exc, 'strerror', None) or exc})") from None
    columns = {c: np.asarray(queries[c]) for c in schema.features if c in queries}
    missing = [c for c in schema.features if c not in columns]
    if missing:
        raise InputError(f"{label}: no feature column(s) {', '.join(map(repr, missing))}")
    return schema.encode_features(columns, label)


async def predict_protocol(*, owner: int = 0, querier: int = 0, model: dict | None = None, queries=None) -> dict:
    """Class votes of the owner's trees on the querier's rows, opened to the querier only.

    ``model`` (owner): ``{"trees": [tree dicts]}`` or ``{"tree": tree dict}``, with ``"schema"`` and, for a
    forest, ``"majority"`` (the class vote ties go to), as the training protocols return them; the schema
    and the tie class are public (the querier encodes its rows with the schema).  ``queries`` (querier): a
    table or codes (:func:`query_codes`).  Returns on the querier ``votes`` (m × C) and ``predictions``
    (class indices, ties to the tie class, else the smallest); ``None`` for both elsewhere."""
    parties = len(mpc.parties)
    if not (0 <= owner < parties and 0 <= querier < parties):
        raise InputError(f"owner and querier must be parties 0..{parties - 1}")
    await core.agree(owner=owner, querier=querier, protocol="trees-predict/1")
    error, trees = None, []
    if mpc.pid == owner:
        trees = [Tree.from_dict(t) for t in (model or {}).get("trees", [model["tree"]] if model and "tree" in model
                                                                       else [])]
        error = None if trees and "schema" in model else InputError("the model owner holds no trees and schema")
    await core.raise_input_errors(error)
    public = await core.share_public({"schema": model["schema"], "majority": model.get("majority"),
                                      "trees": len(trees), "depth": max(t.max_depth for t in trees)}
                                     if mpc.pid == owner else None, sender=owner)
    schema, tie, T, D = Schema(**public["schema"]), public["majority"], public["trees"], public["depth"]
    d, C = len(schema.features), len(schema.classes)
    error = None
    if mpc.pid == querier:
        try:
            queries = query_codes(queries, schema)
            if queries.ndim != 2 or queries.shape[1] != d:
                raise InputError(f"the query rows must have {d} feature codes each")
        except InputError as exc:
            error = exc
    await core.raise_input_errors(error)
    m = int(await core.share_public(len(queries) if mpc.pid == querier else None, sender=querier))
    inner, leaves = 2 ** D - 1, 2 ** D
    code_bits = max([schema.code_bits(j) for j in range(d)] + [1])
    ar = Arithmetic(core.Residues(ring_bits(code_bits + 1)))              # room to mask the comparisons

    shape = (T * inner * d + T * inner + T * leaves * C,)
    mine = None
    if mpc.pid == owner:
        parts = [complete(t, D) for t in trees]
        onehot = np.zeros((T, inner, d), dtype=np.int64)
        for k, (f, _, _) in enumerate(parts):
            onehot[k, np.arange(inner), f] = 1
        thresholds = np.array([p[1] for p in parts], dtype=np.int64).reshape(T, inner)
        classes = np.eye(C, dtype=np.int64)[np.array([p[2] for p in parts], dtype=np.int64)]   # (T, leaves, C)
        mine = np.concatenate((onehot.ravel(), thresholds.ravel(), classes.ravel()))
    model_shares = await ar.ring.input(mine, shape, owner, ar.keyring)
    query_shares = await ar.ring.input(queries if mpc.pid == querier else None, (m, d), querier, ar.keyring)
    split = T * inner * d
    onehot = model_shares[:split].reshape(T * inner, d)
    thresholds = model_shares[split:split + T * inner].reshape(1, T * inner)
    classes = model_shares[split + T * inner:].reshape(1, T, leaves, C)

    if inner:
        values = await ar.ring.matmul(query_shares, onehot.T, ar.keyring)   # (m, T·inner): each node's feature
        go_left = (await ar.nonneg(thresholds - values, code_bits)).reshape(m, T, inner)
    reach = ar.ring.public(np.ones((m, T, 1), dtype=np.int64))
    for level in range(D):                                                  # leaf indicators, level by level
        start = 2 ** level - 1
        [left] = await ar.mul((reach, go_left[:, :, start:start + 2 ** level]))
        reach = ar.ring.stack((left, reach - left), axis=3).reshape(m, T, 2 ** (level + 1))
    [votes] = await ar.mul((reach.reshape(m, T, leaves, 1), classes))
    votes = votes.reshape(m, T * leaves, C).sum(axis=1)                    # (m, C)
    opened = await ar.open(votes, to=querier, what="trees.prediction",
                           why="the querier's own predictions (class votes of its rows)")
    if opened is None:
        return {"votes": None, "predictions": None, "trees": T, "depth": D, "rows": m, "schema": schema.to_dict()}
    opened = np.asarray(opened, dtype=np.int64).reshape(m, C)
    predictions = np.argmax(opened, axis=1) if tie is None else decide(opened.astype(float), tie)
    return {"votes": opened.tolist(), "predictions": predictions.tolist(), "trees": T, "depth": D, "rows": m,
            "schema": schema.to_dict()}
