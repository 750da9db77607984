"""Random forests: bootstrap row weights and per-node feature draws from public randomness.

Each tree t is grown on bootstrap weights (how often each of the n pooled rows is drawn, n draws with
replacement) and every node may split only on ``max_features`` features drawn for it.  Both draws come
from numpy's PCG64 seeded with (seed, t) and (seed, t, node): the seed is the agreed ``random_state``, or,
without one, the XOR of a fresh random 64-bit contribution from every party (so no party chooses it).

Why public randomness suffices here: the draws are independent of the data (row *indices* and feature
indices, not values), and the forest is opened anyway, so publishing them tells nothing about any row
that the opened model does not.  Secret sampling would only matter with a model that stays secret, which
this module does not offer for training.  Besides the trees, the forest opens the majority class of the
pooled training rows (``trees.majority``): vote ties go to it.  All trees grow together, layer by layer
(:mod:`.secure`): the sort of every feature is done once for the whole forest, and a layer of the forest
costs one pass over the rows for the nodes of all trees.
"""

from __future__ import annotations

import math
import secrets

import numpy as np

from .. import core
from ..core import mpc
from ..errors import InputError
from .secure import setup
from .twin import grow

LEAKAGE = {}  # the forest opens what the tree learner opens (secure.LEAKAGE), tree by tree


def n_features_drawn(max_features, d: int) -> int:
    """sklearn's meaning of max_features: "sqrt", "log2", None (all), an int or a fraction."""
    if max_features is None:
        return d
    if max_features == "sqrt":
        return max(1, int(math.sqrt(d)))
    if max_features == "log2":
        return max(1, int(math.log2(d)))
    if isinstance(max_features, float) and 0 < max_features <= 1:
        return max(1, int(max_features * d))
    if isinstance(max_features, int) and 1 <= max_features <= d:
        return max_features
    raise InputError(f"max_features must be 'sqrt', 'log2', None, an int in 1..{d} or a fraction in (0, 1], "
                     f"got {max_features!r}")


def bootstrap_weights(seed: int, tree: int, n: int, bootstrap: bool = True) -> np.ndarray:
    """How often each of the n pooled rows (party 0's first) is drawn for ``tree``."""
    if not bootstrap:
        return np.ones(n, dtype=np.int64)
    draws = np.random.default_rng([seed, tree]).integers(0, n, n)
    return np.bincount(draws, minlength=n).astype(np.int64)


def feature_mask(seed: int, tree: int, node: int, d: int, k: int) -> np.ndarray:
    """The features node ``node`` of ``tree`` may split on: k of d, drawn without replacement."""
    mask = np.zeros(d, dtype=bool)
    mask[np.random.default_rng([seed, tree, 1, node]).choice(d, k, replace=False)] = True
    return mask


async def agreed_seed(random_state) -> int:
    """The public seed: the given random_state, or the XOR of every party's fresh random contribution."""
    if random_state is not None:
        return int(random_state)
    seed = 0
    for i in range(len(mpc.parties)):
        seed ^= int(await core.share_public(secrets.randbits(64) if mpc.pid == i else None, sender=i))
    return seed


async def forest_protocol(table, *, target: str, n_estimators: int = 10, max_depth: int | None = None,
                          min_samples_leaf: int = 1, max_features="sqrt", bootstrap: bool = True,
                          random_state: int | None = None, features=None, categorical=None,
                          frac_bits: int = 16, value_bits: int = 32, memory_bytes: int | None = None) -> dict:
    """Train ``n_estimators`` trees together; returns the opened forest, its schema, the seed and the memory
    plan (``memory_bytes``: this party's budget, as for :func:`.secure.tree_protocol`)."""
    if n_estimators < 1:
        raise InputError(f"n_estimators must be at least 1, got {n_estimators}")
    seed = await agreed_seed(random_state)
    learner = await setup(table, target=target, features=features, categorical=categorical, frac_bits=frac_bits,
                          value_bits=value_bits, max_depth=max_depth, min_samples_leaf=min_samples_leaf,
                          n_estimators=n_estimators, max_features=max_features, bootstrap=bootstrap, seed=seed,
                          memory_bytes=memory_bytes)
    d, n = learner.d, learner.n
    k = n_features_drawn(max_features, d)
    roots = [bootstrap_weights(seed, t, n, bootstrap) for t in range(n_estimators)]
    trees = await learner.grow(roots, lambda t, node: feature_mask(seed, t, node, d, k))
    majority = await learner.majority()
    return {"trees": [t.to_dict() for t in trees], "schema": learner.schema.to_dict(), "sizes": learner.sizes,
            "seed": seed, "majority": majority, "memory_plan": learner.plan_summary()}


def forest_twin(codes: np.ndarray, y: np.ndarray, n_classes: int, *, seed: int, n_estimators: int = 10,
                max_depth: int | None = None, min_samples_leaf: int = 1, max_features="sqrt",
                bootstrap: bool = True) -> list:
    """Plaintext twin: the same trees from the same public draws on the pooled rows."""
    n, d = codes.shape
    k = n_features_drawn(max_features, d)
    return [grow(codes, y, n_classes, max_depth=max_depth, min_samples_leaf=min_samples_leaf,
                 weights=bootstrap_weights(seed, t, n, bootstrap),
                 feature_mask=lambda node, t=t: feature_mask(seed, t, node, d, k))
            for t in range(n_estimators)]


def majority_class(y: np.ndarray, n_classes: int) -> int:
    """Plaintext twin of the opened ``majority``: the most frequent class (ties to the smallest)."""
    return int(np.argmax(np.bincount(y, minlength=n_classes)))


def decide(fractions: np.ndarray, majority: int) -> np.ndarray:
    """Per row the class with the most votes; a tie goes to the training set's majority class if it is
    among the tied classes, else to the smallest tied class.  (sklearn averages the leaves' class
    frequencies, which stay secret here; with 0/1 leaves, ties are common with an even number of trees, and
    sending them to the majority class recovers most of the difference: docs/trees.md.)"""
    tied = fractions >= fractions.max(axis=1, keepdims=True) - 1e-12
    choice = np.argmax(tied, axis=1)
    choice[tied[:, majority]] = majority
    return choice


def vote(predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """Per row (column of ``predictions``, trees × rows) the fraction of trees voting for each class."""
    counts = np.zeros((predictions.shape[1], n_classes))
    for p in predictions:
        counts[np.arange(len(p)), p] += 1
    return counts / len(predictions)
