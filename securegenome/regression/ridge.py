"""Secure ridge regression over horizontally split rows; the secure part does not depend on the row count.

Protocol (every party runs :func:`ridge_protocol` on its own table):

1. agree on the feature columns, target and options; learn the public row counts ``n_i`` (n = Σ n_i);
2. stream the local table once (:func:`~securegenome.regression.data.local_moments`): ``n_i``, column means
   ``μ_i`` and centred scatter ``C_i`` of ``z = [x, y]`` in float64;
3. the binary exponent of each column's largest |value| is maximised in shares and opened
   (``ridge.column_scale``); every party divides column j by ``s_j = 2**e_j`` (exact), so all entries of
   the system lie in [-1, 1] and fixed point needs no more integer bits whatever the units;
4. in shares: ``μ = Σ (n_i/n) μ_i`` and the pooled covariance
   ``S = Σ C_i/n + Σ (n_i/n)(μ_i-μ)(μ_i-μ)ᵀ`` (Chan's parallel formula: no cancellation from large means);
5. constant features are tested in shares and only a bit per feature is opened (``ridge.constant_columns``);
6. solve ``(S_xx + (α/n) diag(s_x)⁻²) γ = S_xy`` by LDLᵀ in fixed point (:mod:`securegenome.core.fixedpoint`);
   a near-zero pivot (singular system) is opened as one bit (``ridge.singular``);
7. open ``γ`` and the intercept ``γ₀ = μ_y - μ_xᵀγ`` (``ridge.coefficients``); every party unscales:
   ``β_j = s_y γ_j / s_j``, ``β₀ = s_y γ₀``.

This is exactly sklearn's ``Ridge(alpha, fit_intercept=True)``: centring solves for the unpenalised
intercept, and ``(C_xx + αI)β = C_xy`` is the normal equation of ``Σ(y - β₀ - xᵀβ)² + α‖β‖²``.  The secure
work is O(d³) for d features, whatever the number of rows; the rows themselves never leave their party.
"""

from __future__ import annotations

import math
import time

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from .. import core
from ..core import fixedpoint, mpc
from ..errors import InputError
from ._shared import FittedModel, agree_on_table, check_shape, party_sizes, tables_for_fit
from .data import local_moments, open_table

LEAKAGE = {
    "ridge.column_scale": "per column (features, then target) the binary exponent of its largest |value| "
                          "over all parties' rows, to all: the public power-of-two scaling of the system",
    "ridge.constant_columns": "one bit per feature, to all: whether it is constant over all rows of all parties",
    "ridge.singular": "one bit, to all: whether (XᵀX + αI) has a pivot near zero (a singular system)",
    "ridge.coefficients": "the d coefficients and the intercept (in scaled units), to the receivers",
}

DEFAULT_FRAC_BITS = 40
TINY_EXPONENT = -60  # columns whose largest |value| is below 2**-60 are treated as all-zero
_SIZE_BITS = 16       # exponents fit easily in a 16-bit secure integer


async def ridge_protocol(table, *, target: str, alpha: float = 1.0, features=None,
                         frac_bits: int = DEFAULT_FRAC_BITS, chunk_rows: int | None = None, to=None) -> dict:
    """Fit ridge regression on the union of the parties' rows; returns the model on the receivers ``to``.

    ``table`` is this party's own table (CSV path, DataFrame, arrays); every party passes the same
    ``target``, ``alpha`` (>= 0), ``features`` and ``frac_bits``.  Returns a dict with ``coef``,
    ``intercept``, ``features``, ``n`` and ``sizes`` on receivers, ``None`` elsewhere.
    """
    if not alpha >= 0:
        raise InputError(f"alpha must be >= 0, got {alpha}")
    table = open_table(table, target, features, **({"chunk_rows": chunk_rows} if chunk_rows else {}))
    await agree_on_table(table, alpha=float(alpha), frac_bits=int(frac_bits), protocol="ridge/1")
    d = len(table.features)

    start = time.perf_counter()
    local = local_moments(table)
    sizes = await party_sizes(local.n)
    streamed = time.perf_counter()  # every party has streamed its table: the secure part starts
    n = check_shape(sizes, d)

    exponents = await _column_scale(local.max_abs)
    scale = np.exp2(exponents)
    mean = local.mean / scale
    cov = local.scatter / np.outer(scale, scale) / n

    secfxp = fixedpoint.fxp_type(4.0, frac_bits, division=True)
    mean_sh, cov_sh = _pooled(secfxp, mean, cov, sizes)
    await _reject_constant(secfxp, cov_sh, table.features)

    penalty = alpha / n / scale[:d] ** 2
    A = cov_sh[:d, :d] + np.diag(penalty)
    b = cov_sh[:d, d]
    gamma, factor = fixedpoint.spd_solve(A, b)
    singular = await core.open(mpc.np_any(fixedpoint.pivots_below(factor, _threshold(secfxp, PIVOT_ULPS))),
                               what="ridge.singular", why="a singular system has no unique solution; one bit")
    if singular:
        raise InputError(f"the system (XᵀX + αI)β = Xᵀy is singular, or too ill-conditioned for "
                         f"{secfxp.frac_length} fraction bits (collinear features?): use alpha > 0, drop "
                         "redundant columns or give more fraction bits")
    intercept = mean_sh[d:] - mean_sh[:d] @ gamma
    solution = await core.open(mpc.np_concatenate((gamma, intercept)), to=to, what="ridge.coefficients",
                               why="the declared output of ridge regression")
    if solution is None:
        return None
    solution = np.asarray(solution, dtype=float)
    coef = scale[d] * solution[:d] / scale[:d]
    timings = {"local_seconds": streamed - start, "secure_seconds": time.perf_counter() - streamed}
    return {"coef": coef, "intercept": float(scale[d] * solution[d]), "features": table.features,
            "target": target, "n": n, "sizes": sizes, "alpha": float(alpha), "frac_bits": secfxp.frac_length,
            "timings": timings}


async def _column_scale(max_abs: np.ndarray) -> np.ndarray:
    """The largest binary exponent per column over all parties (a secure max of small integers)."""
    local = np.array([max(TINY_EXPONENT, math.ceil(math.log2(v))) if v > 0 else TINY_EXPONENT
                      for v in max_abs]) - TINY_EXPONENT
    secint = mpc.SecInt(_SIZE_BITS)
    shares = mpc.input(secint.array(local))
    top = shares[0]
    for s in shares[1:]:
        top = mpc.np_maximum(top, s)
    opened = await core.open(top, what="ridge.column_scale",
                             why="public power-of-two scaling keeps the fixed-point system in [-1, 1]")
    return np.asarray(opened, dtype=float) + TINY_EXPONENT


def _pooled(secfxp, mean: np.ndarray, cov: np.ndarray, sizes: list[int]):
    """Shared pooled mean and covariance from every party's local ones (Chan's parallel formula)."""
    n = sum(sizes)
    local = np.concatenate([mean, cov.ravel()])
    fixedpoint.check_range(local, secfxp, "scaled moments")
    shares = fixedpoint.input_array(secfxp, local)
    p = len(mean)
    means = [s[:p] for s in shares]
    pooled_mean = sum((m * (k / n) for m, k in zip(means[1:], sizes[1:])), means[0] * (sizes[0] / n))
    pooled_cov = shares[0][p:]
    for s in shares[1:]:
        pooled_cov = pooled_cov + s[p:]
    pooled_cov = pooled_cov.reshape(p, p)
    if len(shares) > 1:
        for m, k in zip(means, sizes):
            delta = m - pooled_mean
            pooled_cov = pooled_cov + mpc.np_outer(delta * (k / n), delta)
    return pooled_mean, pooled_cov


def _threshold(secfxp, ulps: int) -> float:
    """Values below this many units in the last place count as zero (rounding noise is a few units)."""
    return ulps * 2.0 ** -secfxp.frac_length


CONSTANT_ULPS = 1024  # a feature variance below 2^10 ulps (after scaling to [-1, 1]) is a constant column
PIVOT_ULPS = 64       # an LDLᵀ pivot below 64 ulps: the d elimination steps add at most ~d ulps of noise


async def _reject_constant(secfxp, cov_sh, features) -> None:
    d = len(features)
    variances = mpc.np_concatenate([cov_sh[j, j:j + 1] for j in range(d)])
    constant = await core.open(variances < _threshold(secfxp, CONSTANT_ULPS), what="ridge.constant_columns",
                               why="constant features make the model unidentifiable; one bit per feature")
    names = [f for f, c in zip(features, np.asarray(constant)) if c]
    if names:
        raise InputError(f"constant feature column(s) over all parties: {', '.join(names)}")


def ridge_twin(tables, *, target: str, alpha: float = 1.0, features=None) -> dict:
    """Plaintext twin: the same centred, scaled normal equations on the union of all tables, in float64."""
    moments = None
    opened = [open_table(t, target, features) for t in tables]
    for t in opened:
        m = local_moments(t)
        moments = m if moments is None else moments.merge(m)
    d = len(opened[0].features)
    n = check_shape([moments.n], d)
    cov = moments.scatter / n
    gamma = fixedpoint.ldl_solve_twin(cov[:d, :d] + alpha / n * np.eye(d), cov[:d, d])
    return {"coef": gamma, "intercept": float(moments.mean[d] - moments.mean[:d] @ gamma),
            "features": opened[0].features, "n": n}


class SecureRidge(RegressorMixin, FittedModel, BaseEstimator):
    """Ridge regression fitted by secure computation over several parties' rows; a scikit-learn estimator.

    >>> model = SecureRidge(alpha=1.0).fit(["a.csv", "b.csv", "c.csv"], target="y")   # 3 local parties
    >>> model.coef_, model.intercept_, model.predict(X_new), model.score(X_test, y_test)
    >>> model.to_sklearn()                   # an equivalent fitted sklearn Ridge

    Each party's table stays in its own process; only the leakage in :data:`LEAKAGE` is revealed.
    ``fit(X, y)`` with arrays deals the rows to ``parties`` parties (default 1; a simulation for sklearn
    tools).  After ``fit``: ``coef_``, ``intercept_``, ``feature_names_in_``, ``n_features_in_``,
    ``n_rows_``, ``ledger_`` (what was opened), ``seconds_`` (wall time of the secure run).
    """

    def __init__(self, alpha: float = 1.0, *, parties: int | None = None, frac_bits: int = DEFAULT_FRAC_BITS,
                 features=None, timeout: float | None = None):
        self.alpha = alpha
        self.parties = parties
        self.frac_bits = frac_bits
        self.features = features
        self.timeout = timeout

    def fit(self, X, y=None, *, target: str = "y"):
        """Fit on the parties' tables (``fit(tables, target="y")``) or on arrays ``fit(X, y)``."""
        tables, parties = tables_for_fit(X, y, target, self.parties)
        results = core.run(ridge_protocol, parties=parties, timeout=self.timeout,
                           kwargs={"target": target, "alpha": self.alpha, "features": self.features,
                                   "frac_bits": self.frac_bits},
                           private={i: {"table": t} for i, t in enumerate(tables)})
        model = results[0].value
        self.coef_, self.intercept_ = np.asarray(model["coef"], dtype=float), float(model["intercept"])
        self._set_features(model["features"])
        self.n_rows_ = model["n"]
        self.ledger_ = results[0].ledger
        self.seconds_ = max(r.seconds for r in results)
        return self

    def predict(self, X):
        return self.decision_function(X)

    def to_sklearn(self):
        """An equivalent fitted ``sklearn.linear_model.Ridge(alpha)`` (for plaintext prediction)."""
        from sklearn.linear_model import Ridge

        self._check_fitted()
        return self._copy_fitted(Ridge(alpha=self.alpha))
