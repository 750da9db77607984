"""Secure logistic regression: Newton steps with a fixed Hessian bound; fully secure or with a DP model.

Model: ``P(y=1 | x) = σ(β₀ + xᵀβ)`` fitted on the union of the parties' rows by minimising the
*unnormalised* penalised log-loss ``J(b) = Σ_i ℓ(y_i, a_iᵀb) + (λ/2)‖β‖²`` with ``a_i = (1, x_i)`` and
``b = (β₀, β)`` — sklearn's ``LogisticRegression(C=1/λ)`` objective (intercept not penalised).

Iteration (Böhning's bound, as in Philips' FRESCO logistic regression): ``∇²J ⪯ M = ¼AᵀA + P`` with
``P = diag(0, λ, ..., λ)``, so ``b ← b - M⁻¹(Aᵀ(σ(Ab) - y) + Pb)`` decreases J at every step.  M does not
change, so it is factored once.

Mode (a), fully secure (``epsilon=None``): rows enter the MPC as fixed-point shares; ``M`` is summed from
the parties' local ``AᵢᵀAᵢ`` and inverted once in shares by LDLᵀ (:mod:`securegenome.core.fixedpoint`); each
iteration evaluates ``σ`` securely (:func:`~securegenome.core.fixedpoint.sigmoid`, error ≤ 1.3e-5) and
only the final ``b`` is opened.  Standardisation: the pooled column means and SDs are computed in shares
and opened (``logreg.feature_moments``), or given publicly by the caller (``center``/``scale``).

Mode (b), DP intermediate model (``epsilon=ε``): features are standardised with *public* constants and each
row's feature vector is clipped to ‖x‖₂ ≤ R (``clip``), so ‖a‖₁ ≤ B₁ = √d·R + 1 and ‖a‖₂² ≤ B₂² = R² + 1.
The Hessian bound is released once with DP (``logreg.dp_hessian``: the upper triangle of ``AᵀA``,
ℓ1-sensitivity B₁² + B₂² under replacement of one row); then every iteration each party computes its
gradient ``Aᵢᵀ(σ(Aᵢb) - yᵢ)`` *locally* on its own rows at the public ``b``, the gradients are summed in
shares and released with DP (``logreg.dp_gradient``: ℓ1-sensitivity 2·B₁ — for the *sum* objective; the
mean ``(1/n)Σ`` would have 2·B₁/n, and using that here would under-noise by a factor n).  The new
``b = b - M̃⁻¹(g̃ + Pb)`` is public post-processing of the releases, so every intermediate model is DP.
ε is split evenly over the ``iterations + 1`` releases (basic composition); neighbouring datasets differ
in one row (row counts are public).  Fixed-point rounding of the parties' inputs is added to the
sensitivities (one grid step per released entry).
"""

from __future__ import annotations

import math

import numpy as np

from .. import core
from ..core import dp, fixedpoint, mpc
from ..errors import InputError
from ._shared import FittedModel, agree_on_table, check_shape, party_sizes, tables_per_party
from .data import open_table

LEAKAGE = {
    "logreg.feature_moments": "pooled mean and SD of every feature over all rows (2d values), to all: the "
                              "standardisation (fully secure mode without public center/scale only)",
    "logreg.coefficients": "the intercept and d coefficients of the final model (standardised units), "
                           "to the receivers (fully secure mode)",
    "logreg.dp_hessian": "ε-DP noisy upper triangle of AᵀA (A = [1, clipped standardised X]), to all "
                         "(DP mode, once)",
    "logreg.dp_gradient": "ε-DP noisy gradient sum Aᵀ(σ(Ab) - y) at the public model b, to all (DP mode, "
                          "once per iteration); the next model follows publicly",
}

DEFAULT_FRAC_BITS = 24
DP_FRAC_BITS = 16
FEATURE_BOUND = 2.0 ** 10   # standardised |x| above this (1024 SDs) is refused: fixed-point range
MOMENT_BOUND = 2.0 ** 62    # raw feature means and variances must stay below this


async def logistic_protocol(table, *, target: str, lam: float = 1.0, iterations: int = 10,
                            epsilon: float | None = None, clip: float | None = None, center=None, scale=None,
                            features=None, frac_bits: int = DEFAULT_FRAC_BITS, to=None) -> dict | None:
    """Fit logistic regression on the union of the parties' rows (see the module docstring).

    ``table``: this party's rows with a 0/1 ``target`` column.  ``center``/``scale``: public per-feature
    standardisation constants (default: pooled moments computed securely, fully secure mode only).
    ``epsilon``: total DP budget of the run; None = fully secure.  ``clip``: public bound R on the norm
    of a standardised feature vector (DP mode; default √d).  Returns a dict with ``coef``, ``intercept``
    (original units), ``coef_std``/``intercept_std`` (standardised units), ``center``, ``scale``,
    ``features``, ``n``, ``history`` (DP mode: the public model after every iteration).
    """
    if not lam >= 0:
        raise InputError(f"lam must be >= 0, got {lam}")
    if iterations < 1:
        raise InputError(f"iterations must be at least 1, got {iterations}")
    table = open_table(table, target, features)
    d = len(table.features)
    if epsilon is not None and (center is None or scale is None):
        raise InputError("DP mode needs public standardisation constants (center and scale, e.g. from domain "
                         "knowledge or a public reference set): secure moments would be released exactly")
    clip = float(clip) if clip is not None else math.sqrt(d)
    await agree_on_table(table, lam=float(lam), iterations=int(iterations), epsilon=epsilon, clip=clip,
                         center=None if center is None else [float(c) for c in center],
                         scale=None if scale is None else [float(s) for s in scale],
                         frac_bits=int(frac_bits), protocol="logreg/1")
    X, y = table.arrays()
    _check_binary(table, y)
    sizes = await party_sizes(len(y))
    n = check_shape(sizes, d)

    if center is None or scale is None:
        center, scale = await _secure_moments(X, sizes, table.features)
    center, scale = np.asarray(center, dtype=float), np.asarray(scale, dtype=float)
    if center.shape != (d,) or scale.shape != (d,) or not np.all(scale > 0):
        raise InputError(f"center and scale need {d} values each, scale > 0")
    Z = (X - center) / scale
    if np.abs(Z).max(initial=0) > FEATURE_BOUND:
        raise InputError(f"{table.label}: a standardised feature value exceeds {FEATURE_BOUND:g} SDs; "
                         "transform or clip outliers first")
    penalty = np.array([0.0] + [float(lam)] * d)

    if epsilon is None:
        b = await _fit_secure(Z, y, sizes, penalty, iterations, frac_bits, to)
        history = []
    else:
        b, history = await _fit_dp(Z, y, n, penalty, iterations, epsilon, clip, frac_bits)
    if b is None:
        return None
    coef = b[1:] / scale
    return {"coef": coef, "intercept": float(b[0] - coef @ center), "coef_std": b[1:],
            "intercept_std": float(b[0]), "center": center, "scale": scale, "features": table.features,
            "n": n, "sizes": sizes, "history": history}


def _check_binary(table, y):
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{table.label}, row {i + 1}, column {table.target!r}: {y[i]:g} is not 0 or 1 "
                         "(logistic regression needs a binary target)")


def _fxp(n: int, frac_bits: int):
    """One type for the whole fit: holds n * FEATURE_BOUND (gradient sums) and allows reciprocals."""
    return fixedpoint.fxp_type(n * FEATURE_BOUND * 4, frac_bits, division=True)


async def _secure_moments(X, sizes, features):
    """Pooled column means and SDs (Chan's parallel formula in shares), opened (declared leakage)."""
    secfxp = fixedpoint.fxp_type(MOMENT_BOUND, 32)
    n, d = sum(sizes), X.shape[1]
    mean = X.mean(axis=0) if len(X) else np.zeros(d)
    local = np.concatenate([mean, ((X - mean) ** 2).sum(axis=0) / n])
    fixedpoint.check_range(local, secfxp, "feature moments")
    shares = mpc.input(secfxp.array(local))
    pooled = sum((s[:d] * (k / n) for s, k in zip(shares[1:], sizes[1:])), shares[0][:d] * (sizes[0] / n))
    var = shares[0][d:]
    for s in shares[1:]:
        var = var + s[d:]
    if len(shares) > 1:
        for s, k in zip(shares, sizes):
            delta = s[:d] - pooled
            var = var + delta * delta * (k / n)
    moments = await core.open(mpc.np_concatenate((pooled, var)), what="logreg.feature_moments",
                              why="public standardisation of the features (pooled mean and variance)")
    mean, var = np.asarray(moments[:d], dtype=float), np.asarray(moments[d:], dtype=float)
    constant = [f for f, v, m in zip(features, var, mean) if v <= 1e-12 * max(m * m, 1e-12)]
    if constant:
        raise InputError(f"constant feature column(s) over all parties: {', '.join(constant)}")
    return mean, np.sqrt(var)


async def _fit_secure(Z, y, sizes, penalty, iterations, frac_bits, to):
    """Mode (a): rows in shares, M⁻¹ in shares, secure sigmoid; only the final model is opened."""
    n = sum(sizes)
    secfxp = _fxp(n, frac_bits)
    d1 = len(penalty)
    A = np.column_stack([np.ones(len(Z)), Z])
    # M/n and Aᵀy/n from local sums (exact locally); scaled by the public n to keep entries O(1)
    local = np.concatenate([(A.T @ A / 4 / n).ravel(), A.T @ y / n])
    total = fixedpoint.sum_inputs(secfxp, local)
    M = total[:d1 * d1].reshape(d1, d1) + np.diag(penalty / n)
    Aty = total[d1 * d1:] * float(n)
    factor = fixedpoint.ldl_factor(M)
    M_inv = fixedpoint.ldl_solve(factor, secfxp.array(np.eye(d1))) * (1.0 / n)
    # every party's rows, in shares; the others know only the (public) shape
    rows = [mpc.input(secfxp.array(A if mpc.pid == i else np.zeros((k, d1))), senders=i)
            for i, k in enumerate(sizes) if k]
    A_sh = mpc.np_vstack(rows) if len(rows) > 1 else rows[0]
    b = secfxp.array(np.zeros(d1))
    for _ in core.progress(range(iterations), total=iterations, desc="logreg iterations"):
        p = fixedpoint.sigmoid(A_sh @ b)
        gradient = p @ A_sh - Aty + b * penalty
        b = b - M_inv @ gradient
    opened = await core.open(b, to=to, what="logreg.coefficients",
                             why="the declared output: the fitted model")
    return None if opened is None else np.asarray(opened, dtype=float)


def hessian_sensitivity(n_features: int, clip: float) -> float:
    """ℓ1-sensitivity of the upper triangle of AᵀA when one row is replaced (rows a = (1, x), ‖x‖₂ ≤ clip)."""
    b1 = math.sqrt(n_features) * clip + 1
    return b1 ** 2 + clip ** 2 + 1


def gradient_sensitivity(n_features: int, clip: float) -> float:
    """ℓ1-sensitivity of the gradient *sum* Σ a_i(σ(a_iᵀb) - y_i) when one row is replaced (not /n)."""
    return 2 * (math.sqrt(n_features) * clip + 1)


def clip_rows(Z: np.ndarray, clip: float) -> np.ndarray:
    """Scale every row with ‖x‖₂ > clip down to norm clip (public policy, applied by each party)."""
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    return Z * np.minimum(1.0, clip / np.maximum(norms, 1e-300))


async def _fit_dp(Z, y, n, penalty, iterations, epsilon, clip, frac_bits):
    """Mode (b): DP Hessian once, then a DP gradient sum per iteration; models are public."""
    d = Z.shape[1]
    A = np.column_stack([np.ones(len(Z)), clip_rows(Z, clip)])
    accountant = dp.PrivacyAccountant(epsilon, dataset="logreg training rows")
    eps_each = epsilon / (iterations + 1)
    upper = np.triu_indices(d + 1)
    # noisy releases need no fine grid: 16 fraction bits keep the noise scale in grid units (Δ·2^f/ε)
    # inside core.dp's range even for small per-release ε
    secfxp = fixedpoint.fxp_type(n * (math.sqrt(d) * clip + 1) ** 2 + 1e6, min(frac_bits, DP_FRAC_BITS))

    gram = fixedpoint.sum_inputs(secfxp, (A.T @ A)[upper])
    sensitivity = hessian_sensitivity(d, clip) + len(upper[0]) * 2.0 ** -secfxp.frac_length
    noisy = await dp.dp_open(gram, sensitivity=sensitivity,
                             epsilon=eps_each, mechanism="laplace", what="logreg.dp_hessian",
                             why="public Hessian bound for the DP model", accountant=accountant)
    G = np.zeros((d + 1, d + 1))
    G[upper] = np.asarray(noisy, dtype=float)
    G = G + np.triu(G, 1).T
    # eigenvalues below the noise level (Laplace scale x √(d+1), the typical spectral norm of the noise
    # matrix, /4) carry no signal: floor them there so noise directions get damped, not amplified, steps
    noise_level = sensitivity / eps_each * math.sqrt(d + 1) / 4
    M_inv = np.linalg.inv(_floor_eigenvalues(G / 4 + np.diag(penalty), max(1.0, noise_level)))

    b = np.zeros(d + 1)
    history = []
    for _ in core.progress(range(iterations), total=iterations, desc="logreg DP iterations"):
        g = await noisy_gradient(A, y, b, secfxp, epsilon=eps_each, clip=clip, accountant=accountant)
        b = b - M_inv @ (g + penalty * b)
        history.append(b.copy())
    return b, history


async def noisy_gradient(A, y, b, secfxp, *, epsilon: float, clip: float, accountant=None) -> np.ndarray:
    """ε-DP release of Σ_parties Aᵢᵀ(σ(Aᵢb) - yᵢ): local gradients summed in shares, Laplace noise added there.

    ``A`` = (1, clipped standardised rows) of this party.  The ℓ1-sensitivity is that of the *sum*
    (:func:`gradient_sensitivity`) plus one fixed-point grid step per entry for input rounding.
    """
    d1 = A.shape[1]
    local = A.T @ (_expit(A @ b) - y)
    sensitivity = gradient_sensitivity(d1 - 1, clip) + d1 * 2.0 ** -secfxp.frac_length
    g = await dp.dp_open(fixedpoint.sum_inputs(secfxp, local), sensitivity=sensitivity, epsilon=epsilon,
                         mechanism="laplace", what="logreg.dp_gradient",
                         why="gradient at the public model, so parties iterate locally", accountant=accountant)
    return np.asarray(g, dtype=float)


def _floor_eigenvalues(M: np.ndarray, floor: float) -> np.ndarray:
    """The noisy Hessian bound made symmetric positive definite (public post-processing)."""
    values, vectors = np.linalg.eigh((M + M.T) / 2)
    return (vectors * np.maximum(values, floor)) @ vectors.T


def _expit(z):
    return 0.5 * (1 + np.tanh(z / 2))


def logistic_twin(Z, y, *, lam: float = 1.0, iterations: int = 10) -> np.ndarray:
    """Plaintext twin of mode (a) on standardised rows: same iteration, same sigmoid approximation."""
    A = np.column_stack([np.ones(len(Z)), np.asarray(Z, dtype=float)])
    penalty = np.array([0.0] + [float(lam)] * (A.shape[1] - 1))
    M_inv = np.linalg.inv(A.T @ A / 4 + np.diag(penalty))
    b = np.zeros(A.shape[1])
    for _ in range(iterations):
        b = b - M_inv @ (A.T @ (fixedpoint.sigmoid_twin(A @ b) - y) + penalty * b)
    return b


class SecureLogisticRegression(FittedModel):
    """Logistic regression by secure computation over several parties' rows, like sklearn's.

    ``lam`` is the L2 penalty on the *sum* of log-losses (sklearn's ``C = 1/lam``); ``epsilon=None`` is the
    fully secure mode, a number the fast mode with a DP model at every iteration (total budget ε).

    >>> model = SecureLogisticRegression(lam=1.0, iterations=10).fit(["a.csv", "b.csv", "c.csv"], target="y")
    >>> model.predict_proba(X_new)[:, 1]

    After ``fit``: ``coef_``, ``intercept_`` (original units), ``feature_names_in_``, ``center_``,
    ``scale_``, ``n_rows_``, ``history_`` (DP mode), ``ledger_``, ``seconds_``.
    """

    def __init__(self, lam: float = 1.0, iterations: int = 10, epsilon: float | None = None, *,
                 parties: int | None = None, clip: float | None = None, center=None, scale=None,
                 features=None, frac_bits: int = DEFAULT_FRAC_BITS, timeout: float | None = None):
        self.lam, self.iterations, self.epsilon = lam, iterations, epsilon
        self.parties, self.clip, self.center, self.scale = parties, clip, center, scale
        self.features, self.frac_bits, self.timeout = features, frac_bits, timeout

    def fit(self, party_tables, target: str):
        tables, parties = tables_per_party(party_tables, self.parties)
        kwargs = {"target": target, "lam": self.lam, "iterations": self.iterations, "epsilon": self.epsilon,
                  "clip": self.clip, "center": self.center, "scale": self.scale, "features": self.features,
                  "frac_bits": self.frac_bits}
        results = core.run(logistic_protocol, parties=parties, timeout=self.timeout, kwargs=kwargs,
                           private={i: {"table": t} for i, t in enumerate(tables)})
        model = results[0].value
        self.coef_, self.intercept_ = model["coef"], model["intercept"]
        self.center_, self.scale_ = model["center"], model["scale"]
        self.feature_names_in_ = np.array(model["features"], dtype=object)
        self.n_rows_, self.history_ = model["n"], model["history"]
        self.ledger_ = results[0].ledger
        self.seconds_ = max(r.seconds for r in results)
        return self

    def predict_proba(self, X):
        p = _expit(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self.decision_function(X) > 0).astype(int)
