"""Secret permutations: apply, invert and compose them with O(n) communication by shuffle-and-open.

A *secret permutation* is a secure integer array ``sigma`` of length n holding a permutation of 0..n−1.
Scattering by sigma (``y[sigma[i]] = x[i]``): shuffle the rows (sigma, x) together by a fresh secret
permutation π (:mod:`.shuffle`), open the shuffled sigma — it is sigma∘π with π uniformly random and unknown
to every party, hence itself a uniformly random permutation that tells nothing — and place the shuffled rows
of x at the opened positions (local).  Gathering (``y = x[sigma]``): shuffle sigma alone by π, open q =
sigma∘π, take z = x[q] (public positions, local; z[k] = y[π[k]]) and undo π on z (a reverse shuffle under
the same keys, nothing opened).

Cost: a scatter is one shuffle of 1 + c columns (c = columns of x) and one opening of n values; a gather one
shuffle of 1 column, one opening, one reverse shuffle of c columns.
"""

from __future__ import annotations

import numpy as np

from .opening import open as open_
from .shuffle import SMALL_FIELD, RawShares, SecretShuffle, shuffle_together

LEAKAGE: dict[str, str] = {
    "shuffle.permutation": "to all parties: a secret permutation composed with a fresh secret uniformly "
                           "random shuffle, i.e. a uniformly random permutation independent of the data",
}


def _check_permutation(sigma, x=None) -> int:
    if sigma.ndim != 1:
        raise ValueError("a secret permutation is a 1-D secure integer array")
    n = sigma.shape[0]
    if x is not None and (x.ndim not in (1, 2) or x.shape[0] != n):
        raise ValueError(f"x needs {n} rows (1-D or 2-D) to be permuted by a permutation of length {n}")
    return n


async def open_shuffled(sigma, why: str) -> np.ndarray:
    """Open ``sigma`` (already shuffled) as a public permutation; check it is one.  ``sigma`` is a secure
    array, or raw int64 shares of GF(2³¹−1) (the raw-share layer: opened without MPyC's field arrays)."""
    if isinstance(sigma, np.ndarray):
        sigma = RawShares(sigma)
    q = await open_(sigma, what="shuffle.permutation", why=why)
    q = np.asarray(getattr(q, "value", q), dtype=np.int64)  # secure fields open as field arrays
    n = len(q)
    if n and (q.min() < 0 or q.max() >= n or not (np.bincount(q, minlength=n) == 1).all()):
        raise ValueError("the secret array is not a permutation of 0..n-1")
    return q


def placed(rows, positions: np.ndarray):
    """``y`` with ``y[positions[k]] = rows[k]`` (public positions; local)."""
    inverse = np.empty_like(positions)
    inverse[positions] = np.arange(len(positions))
    return rows[inverse]


async def apply_inverse_permutation(sigma, x):
    """``y`` with ``y[sigma[i]] = x[i]`` (scatter); x 1-D or 2-D (rows).  One shuffle, one opening."""
    n = _check_permutation(sigma, x)
    if n <= 1:
        return x
    sigma_shuffled, x_shuffled = await shuffle_together([sigma, x])
    q = await open_shuffled(sigma_shuffled, why="a secret permutation after a fresh secret uniform shuffle "
                                                "is uniformly random: scatter rows to their destinations")
    return placed(x_shuffled, q)


async def invert_permutation(sigma):
    """The secret inverse of secret permutation ``sigma`` (scatter 0..n−1 by sigma)."""
    n = _check_permutation(sigma)
    return await apply_inverse_permutation(sigma, type(sigma)(np.arange(n)))


async def apply_permutation(sigma, x):
    """``y = x[sigma]``, i.e. ``y[i] = x[sigma[i]]``; x 1-D or 2-D (rows).  One shuffle, one opening, one
    reverse shuffle."""
    n = _check_permutation(sigma, x)
    if n <= 1:
        return x
    pi = SecretShuffle(n)
    [sigma_shuffled] = await pi.apply([sigma])
    q = await open_shuffled(sigma_shuffled, why="a secret permutation after a fresh secret uniform shuffle "
                                                "is uniformly random: gather rows from their sources")
    [y] = await pi.undo([x[q]])
    return y


async def compose_permutations(sigma, tau):
    """``sigma[tau]``: the secret permutation that first takes tau, then sigma (``y[i] = sigma[tau[i]]``)."""
    if sigma.shape != tau.shape:
        raise ValueError("permutations to compose must have the same length")
    return await apply_permutation(tau, sigma)


# ---- the same on the raw-share layer: int64 share arrays of fields below 2^31 ---------------------------

async def apply_permutation_raw(sigma: np.ndarray, values: list, fields: list, keyring=None) -> list:
    """``[x[sigma] for x in values]`` for raw share arrays (rows on axis 0; ``fields[i]`` for ``values[i]``,
    e.g. the residues of :mod:`.residues`); ``sigma``: raw GF(2³¹−1) shares of a permutation.  The gather
    above: one shuffle of sigma, one opening (``shuffle.permutation``), one reverse shuffle of the rows."""
    n = len(sigma)
    if n <= 1:
        return list(values)
    sigma = np.asarray(sigma, dtype=np.int64) % SMALL_FIELD.modulus  # shares in [0, p): 4-byte words
    pi = SecretShuffle(n, keyring)
    [shuffled] = await pi.apply_raw([sigma], [SMALL_FIELD])
    q = await open_shuffled(shuffled, why="a secret permutation after a fresh secret uniform shuffle is uniformly "
                                          "random: gather rows from their sources")
    return await pi.apply_raw([v[q] for v in values], fields, inverse=True)


async def apply_inverse_permutation_raw(sigma: np.ndarray, values: list, fields: list, keyring=None) -> list:
    """``y`` with ``y[sigma[i]] = x[i]`` for every raw share array x of ``values`` (the scatter above on the
    raw-share layer: one shuffle of sigma and the rows together, one opening)."""
    n = len(sigma)
    if n <= 1:
        return list(values)
    sigma = np.asarray(sigma, dtype=np.int64) % SMALL_FIELD.modulus
    [shuffled, *rows] = await SecretShuffle(n, keyring).apply_raw([sigma, *values], [SMALL_FIELD, *fields])
    q = await open_shuffled(shuffled, why="a secret permutation after a fresh secret uniform shuffle is uniformly "
                                          "random: scatter rows to their destinations")
    return [placed(r, q) for r in rows]

