"""Secure logistic regression: Newton's method with the Hessian in shares; fully secure or with a DP model.

Model: ``P(y=1 | x) = σ(β₀ + xᵀβ)`` fitted on the union of the parties' rows by minimising the
*unnormalised* penalised log-loss ``J(b) = Σ_i ℓ(y_i, a_iᵀb) + (λ/2)‖β‖²`` with ``a_i = (1, x_i)`` and
``b = (β₀, β)`` — sklearn's ``LogisticRegression(C=1/λ)`` objective (intercept not penalised).

Mode (a), fully secure (``epsilon=None``): Newton's method (IRLS) with the Hessian recomputed in shares at
every iteration and its inverse carried along by Newton–Schulz steps instead of a factorisation:

- rows enter the MPC as fixed-point shares; each party also shares the packed upper triangle of its
  rows' outer products ``a_i a_iᵀ / n`` (kept in shares if they fit :data:`PRODUCTS_IN_MEMORY`, else
  re-shared in chunks every iteration), so the scaled Hessian ``H/n = Σ_i W_i a_i a_iᵀ/n + P/n`` with
  ``W = σ(1 − σ)`` is one secure matrix-vector product (d(d+1)/2 truncations, not n·d);
- the inverse starts at ``X = I / trace(H₀/n)`` (one secure reciprocal; ``H₀ = ¼AᵀA + P`` at b = 0) and
  every iteration refines it towards the current ``(H/n)⁻¹`` by :data:`REFINE_STEPS` Newton–Schulz steps
  (:func:`~securegenome.core.fixedpoint.refine_inverse`: two 31×31 matrix products each for breast
  cancer, no reciprocal, no d sequential pivots);
- ``b ← b − X ∇J(b)/n``.  Whatever X is, a fixed point of this step has ∇J = 0, so the inverse's accuracy
  sets the speed (quadratic once X is accurate), never the answer;
- convergence test (sklearn's ``tol``): ``max_j |∇J(b)_j| / n < tol`` is computed in shares at every
  iteration and only that bit is opened (``logreg.converged``); once it is 1 the iteration still takes its
  Newton step (so the model returned is one step past the tested point) and stops.  ``max_iter`` caps the
  iterations; hitting it first is reported (``converged`` False; the estimator warns).  Revealed: one bit
  per iteration, i.e. the number of iterations ``n_iter``.

Only the final ``b`` is opened.  σ is evaluated securely (:func:`~securegenome.core.fixedpoint.sigmoid`,
error ≤ 1.3e-5; the plaintext twin :func:`logistic_twin` uses the same approximation).  Standardisation:
the pooled column means and SDs are computed in shares and opened (``logreg.feature_moments``), or given
publicly by the caller (``center``/``scale``).  Standardised values are clipped locally to the public bound
±:data:`FEATURE_BOUND` SDs (a data-independent rule: no party learns whether another one clipped); with the
pooled moments this never happens below 65,536 rows (no value lies more than √n SDs from the mean).

Mode (b), DP intermediate model (``epsilon=ε``): features are standardised with *public* constants and each
row's feature vector is clipped to ‖x‖₂ ≤ R (``clip``) by its own party — whatever the data, so nothing
data-dependent stops the run or reaches other parties — hence ‖a‖₁ ≤ B₁ = √d·R + 1 and ‖a‖₂² ≤ B₂² = R² + 1.
The Hessian bound is released once with DP (``logreg.dp_hessian``: the upper triangle of ``AᵀA``,
ℓ1-sensitivity B₁² + B₂² under replacement of one row); then every iteration each party computes its
gradient ``Aᵢᵀ(σ(Aᵢb) - yᵢ)`` *locally* on its own rows at the public ``b``, the gradients are summed in
shares and released with DP (``logreg.dp_gradient``: ℓ1-sensitivity 2·B₁ — for the *sum* objective; the
mean ``(1/n)Σ`` would have 2·B₁/n, and using that here would under-noise by a factor n).  The new
``b = b - M̃⁻¹(g̃ + Pb)`` (Böhning's bound ``M = ¼AᵀA + P``) is public post-processing of the releases,
so every intermediate model is DP.  The number of iterations ``dp_iterations`` is fixed in advance (no
data-dependent stop) and ε is split evenly over the ``dp_iterations + 1`` releases (basic composition);
neighbouring datasets differ in one row (row counts are public).  Fixed-point rounding of the parties'
inputs is added to the sensitivities (one grid step per released entry).

Cost of mode (a) per iteration (n rows, d features): one secure sigmoid of n values (the bulk), n + d
truncations for W and the gradient, d(d+1)/2 for the Hessian, 4(d+1)² for the two Newton–Schulz steps,
2(d+1) + 1 comparisons for the test.  See docs/regression.md for measurements against the fixed-bound
iteration this replaces.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning

from .. import core
from ..core import dp, fixedpoint, mpc
from ..errors import InputError
from ._shared import FittedModel, agree_on_table, check_shape, party_sizes, tables_for_fit
from .data import open_table

LEAKAGE = {
    "logreg.feature_moments": "pooled mean and SD of every feature over all rows (2d values), to all: the "
                              "standardisation (fully secure mode without public center/scale only)",
    "logreg.converged": "one bit per iteration, to all: whether the largest |entry| of the mean gradient at "
                        "the current (secret) model is below tol (fully secure mode); together the bits "
                        "reveal the number of iterations n_iter",
    "logreg.coefficients": "the intercept and d coefficients of the final model (standardised units), "
                           "to the receivers (fully secure mode)",
    "logreg.dp_hessian": "ε-DP noisy upper triangle of AᵀA (A = [1, clipped standardised X]), to all "
                         "(DP mode, once)",
    "logreg.dp_gradient": "ε-DP noisy gradient sum Aᵀ(σ(Ab) - y) at the public model b, to all (DP mode, "
                          "once per iteration); the next model follows publicly",
}

DEFAULT_FRAC_BITS = 24
DP_FRAC_BITS = 16
DEFAULT_TOL = 1e-4           # sklearn's default: on the largest |entry| of the mean gradient
DEFAULT_MAX_ITER = 30        # Newton-type: 7-10 iterations on our data sets
DEFAULT_DP_ITERATIONS = 3
FEATURE_BOUND = 2.0 ** 8     # standardised values are clipped to ±256 SDs (public, data-independent rule)
MOMENT_BOUND = 2.0 ** 62     # raw feature means and variances must stay below this
REFINE_STEPS = 2             # Newton–Schulz steps per iteration (measured: docs/regression.md)
PRODUCTS_IN_MEMORY = 2_000_000   # shared row products (n·(d+1)(d+2)/2) kept between iterations up to this
PRODUCT_CHUNK_ROWS = 20_000      # otherwise re-shared every iteration, this many rows at a time


async def logistic_protocol(table, *, target: str, lam: float = 1.0, tol: float = DEFAULT_TOL,
                            max_iter: int = DEFAULT_MAX_ITER, epsilon: float | None = None,
                            dp_iterations: int = DEFAULT_DP_ITERATIONS, clip: float | None = None, center=None,
                            scale=None, features=None, frac_bits: int = DEFAULT_FRAC_BITS, to=None,
                            iterations: int | None = None) -> dict | None:
    """Fit logistic regression on the union of the parties' rows (see the module docstring).

    ``table``: this party's rows with a 0/1 ``target`` column.  ``center``/``scale``: public per-feature
    standardisation constants (default: pooled moments computed securely, fully secure mode only).
    ``tol``/``max_iter``: convergence test and cap of the fully secure mode.  ``epsilon``: total DP budget
    of the run; None = fully secure.  ``dp_iterations``: iterations of the DP mode (fixed in advance).
    ``clip``: public bound R on the norm of a standardised feature vector (DP mode; default √d).
    ``iterations``: deprecated (before the convergence test) — taken as ``max_iter`` in the fully secure
    mode and ``dp_iterations`` in the DP mode, with a DeprecationWarning.  Returns a
    dict with ``coef``, ``intercept`` (original units), ``coef_std``/``intercept_std`` (standardised units),
    ``center``, ``scale``, ``features``, ``n``, ``sizes``, ``n_iter``, ``converged`` and ``history`` (DP
    mode: the public model after every iteration).
    """
    if iterations is not None:
        replacement = "max_iter" if epsilon is None else "dp_iterations"
        warnings.warn(f"logistic_protocol(iterations=...) is deprecated: use {replacement}", DeprecationWarning,
                      stacklevel=2)
        max_iter, dp_iterations = (iterations, dp_iterations) if epsilon is None else (max_iter, iterations)
    _check_options(lam, tol, max_iter, dp_iterations)
    table = open_table(table, target, features)
    d = len(table.features)
    if epsilon is not None and (center is None or scale is None):
        raise InputError("DP mode needs public standardisation constants (center and scale, e.g. from domain "
                         "knowledge or a public reference set): secure moments would be released exactly")
    clip = float(clip) if clip is not None else math.sqrt(d)
    await agree_on_table(table, lam=float(lam), tol=float(tol), max_iter=int(max_iter), epsilon=epsilon,
                         dp_iterations=int(dp_iterations), clip=clip,
                         center=None if center is None else [float(c) for c in center],
                         scale=None if scale is None else [float(s) for s in scale],
                         frac_bits=int(frac_bits), protocol="logreg/2")
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
    penalty = np.array([0.0] + [float(lam)] * d)

    if epsilon is None:
        fit = await _fit_secure(np.clip(Z, -FEATURE_BOUND, FEATURE_BOUND), y, sizes, penalty, tol, max_iter,
                                frac_bits, to)
    else:
        fit = await _fit_dp(Z, y, n, penalty, dp_iterations, epsilon, clip, frac_bits)
    if fit["b"] is None:
        return None
    b = fit["b"]
    coef = b[1:] / scale
    return {"coef": coef, "intercept": float(b[0] - coef @ center), "coef_std": b[1:],
            "intercept_std": float(b[0]), "center": center, "scale": scale, "features": table.features,
            "n": n, "sizes": sizes, "n_iter": fit["n_iter"], "converged": fit["converged"],
            "history": fit["history"]}


def _check_options(lam, tol, max_iter, dp_iterations):
    if not lam >= 0:
        raise InputError(f"lam must be >= 0, got {lam}")
    if not tol > 0:
        raise InputError(f"tol must be > 0, got {tol}")
    if int(max_iter) < 1 or int(dp_iterations) < 1:
        raise InputError(f"max_iter and dp_iterations must be at least 1, got {max_iter} and {dp_iterations}")


def _check_binary(table, y):
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{table.label}, row {i + 1}, column {table.target!r}: {y[i]:g} is not 0 or 1 "
                         "(logistic regression needs a binary target)")


def _fxp(n: int, d1: int, frac_bits: int):
    """One type for the whole fit, with reciprocals: holds the gradient sums (n·B per entry with |a| ≤ B)
    and the Hessian's trace (≤ (d+1)·B²/4), hence every Hessian entry and the sigmoid's input
    (|aᵀb| ≤ (d+1)·B·|b|, with |b| ≲ √(2n·ln2/λ) for λ > 0)."""
    return fixedpoint.fxp_type(max(4 * n * FEATURE_BOUND, d1 * FEATURE_BOUND ** 2), frac_bits, division=True)


async def _secure_moments(X, sizes, features):
    """Pooled column means and SDs (Chan's parallel formula in shares), opened (declared leakage)."""
    secfxp = fixedpoint.fxp_type(MOMENT_BOUND, 32)
    n, d = sum(sizes), X.shape[1]
    mean = X.mean(axis=0) if len(X) else np.zeros(d)
    local = np.concatenate([mean, ((X - mean) ** 2).sum(axis=0) / n])
    fixedpoint.check_range(local, secfxp, "feature moments")
    shares = fixedpoint.input_array(secfxp, local)
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


class RowProducts:
    """Σ_i w_i a_i a_iᵀ / n for a secret weight per row: the rows' outer products, packed, in shares.

    Party i shares the packed upper triangles of its own rows' ``a a_ᵀ / n``; the weighted sum is then one
    secure matrix-vector product.  Memory is planned from public sizes: all products stay in shares if
    they number at most :data:`PRODUCTS_IN_MEMORY`, otherwise they are re-shared every iteration in chunks
    of :data:`PRODUCT_CHUNK_ROWS` rows (more traffic, bounded memory).
    """

    def __init__(self, A: np.ndarray, sizes: list[int], secfxp):
        self.A, self.sizes, self.secfxp = A, sizes, secfxp
        self.n, d1 = sum(sizes), A.shape[1]
        self.rows, self.cols, self.position = fixedpoint.packed_upper(d1)
        self.keep = self.n * len(self.rows) <= PRODUCTS_IN_MEMORY
        self.chunk = self.n if self.keep else PRODUCT_CHUNK_ROWS
        offsets = [sum(sizes[:i]) for i in range(len(sizes))]  # Python ints: MPyC slices pending arrays badly
        self.blocks = [(i, start, min(self.chunk, k - start), offset)               # with numpy integers
                       for i, (k, offset) in enumerate(zip(sizes, offsets)) for start in range(0, k, self.chunk)]
        self.shared = [self._share(block) for block in self.blocks] if self.keep else None

    def _share(self, block):
        i, start, m, _ = block
        if mpc.pid == i:
            rows = self.A[start:start + m]
            local = rows[:, self.rows] * rows[:, self.cols] / self.n
        else:
            local = np.zeros((m, len(self.rows)))
        return fixedpoint.input_array(self.secfxp, local, senders=i)

    def weighted(self, w):
        """The (d+1) x (d+1) secure matrix Σ_i w_i a_i a_iᵀ / n for a secure vector w in row order."""
        total = None
        for k, block in enumerate(self.blocks):
            products = self.shared[k] if self.keep else self._share(block)
            _, start, m, offset = block
            part = w[offset + start:offset + start + m] @ products
            total = part if total is None else total + part
        return total[self.position]


async def _fit_secure(Z, y, sizes, penalty, tol, max_iter, frac_bits, to):
    """Mode (a): rows in shares, Newton steps with the Hessian in shares; opens one bit per iteration and b."""
    n, d1 = sum(sizes), len(penalty)
    secfxp = _fxp(n, d1, frac_bits)
    A = np.column_stack([np.ones(len(Z)), Z])
    Aty = fixedpoint.sum_inputs(secfxp, A.T @ y)
    # every party's rows, in shares; the others know only the (public) shape
    rows = [fixedpoint.input_array(secfxp, A if mpc.pid == i else np.zeros((k, d1)), senders=i)
            for i, k in enumerate(sizes) if k]
    A_sh = mpc.np_vstack(rows) if len(rows) > 1 else rows[0]
    products = RowProducts(A, sizes, secfxp)
    b = secfxp.array(np.zeros(d1))
    X = None
    converged, n_iter = False, 0
    for _ in core.progress(range(max_iter), total=max_iter, desc="logreg Newton iterations"):
        p = fixedpoint.sigmoid(A_sh @ b)
        gradient = (p @ A_sh - Aty + b * penalty) * (1.0 / n)
        converged = bool(await core.open(_all_below(gradient, tol), what="logreg.converged",
                                         why="convergence test: max |mean gradient| < tol (one bit)"))
        hessian = products.weighted(p - p * p) + np.diag(penalty / n)
        if X is None:  # b = 0: W = 1/4, hessian = (¼AᵀA + P)/n, eigenvalues of X·hessian in (0, 1]
            X = secfxp.array(np.eye(d1)) * (1.0 / mpc.np_sum(mpc.np_diagonal(hessian)))
        X = fixedpoint.refine_inverse(X, hessian, REFINE_STEPS)
        b = b - X @ gradient
        n_iter += 1
        if converged:
            break
    opened = await core.open(b, to=to, what="logreg.coefficients", why="the declared output: the fitted model")
    b = None if opened is None else np.asarray(opened, dtype=float)
    return {"b": b, "n_iter": n_iter, "converged": converged, "history": []}


def _all_below(values, tol: float):
    """One secure bit: every |value| < tol (2·len comparisons in one vectorised call, then one more)."""
    inside = mpc.np_less(mpc.np_concatenate((values, -values)), tol)
    return mpc.np_sum(inside) > 2 * len(values) - 0.5


def logistic_twin(Z, y, *, lam: float = 1.0, tol: float = DEFAULT_TOL, max_iter: int = DEFAULT_MAX_ITER) -> dict:
    """Plaintext twin of mode (a) on standardised rows: the same iteration, test and sigmoid approximation.

    Returns ``b`` (intercept first, standardised units), ``n_iter``, ``converged`` and ``gradient_norms``
    (the tested max |mean gradient| of every iteration, which the secure protocol does not open).
    """
    A = np.column_stack([np.ones(len(Z)), np.clip(np.asarray(Z, dtype=float), -FEATURE_BOUND, FEATURE_BOUND)])
    y = np.asarray(y, dtype=float)
    n, d1 = A.shape
    penalty = np.array([0.0] + [float(lam)] * (d1 - 1))
    b, X, norms, converged = np.zeros(d1), None, [], False
    for _ in range(max_iter):
        p = fixedpoint.sigmoid_twin(A @ b)
        gradient = (A.T @ (p - y) + b * penalty) / n
        norms.append(float(np.abs(gradient).max()))
        converged = norms[-1] < tol
        hessian = (A.T * (p - p * p)) @ A / n + np.diag(penalty / n)
        if X is None:
            X = np.eye(d1) / np.trace(hessian)
        X = fixedpoint.refine_inverse_twin(X, hessian, REFINE_STEPS)
        b = b - X @ gradient
        if converged:
            break
    return {"b": b, "n_iter": len(norms), "converged": converged, "gradient_norms": norms}


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
    """Mode (b): DP Hessian once, then a DP gradient sum per iteration; models are public.

    Rows are clipped to norm ``clip`` first, whatever their values: no data-dependent check can stop
    the run (an abort would tell every party that some row is an outlier, outside the DP guarantee).
    """
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
    return {"b": b, "n_iter": iterations, "converged": None, "history": history}


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


class SecureLogisticRegression(ClassifierMixin, FittedModel, BaseEstimator):
    """Logistic regression by secure computation over several parties' rows; a scikit-learn estimator.

    ``lam`` is the L2 penalty on the *sum* of log-losses; ``C`` (sklearn's name) may be given instead,
    ``lam = 1/C``, so sklearn code ports by renaming the class.  ``epsilon=None`` is the fully secure mode
    (Newton's method; ``tol``/``max_iter`` as in sklearn), a number the fast mode with a DP model at every
    one of ``dp_iterations`` iterations (total budget ε).

    >>> model = SecureLogisticRegression(C=1.0).fit(["a.csv", "b.csv", "c.csv"], target="y")  # 3 parties
    >>> model.predict_proba(X_new)[:, 1]
    >>> model.to_sklearn()                   # an equivalent sklearn LogisticRegression
    >>> clone(model).fit(X, y)               # arrays: the rows are dealt to ``parties`` parties (simulation)

    After ``fit``: ``coef_`` (1 x d), ``intercept_`` (1,) (original units), ``classes_``, ``n_iter_``,
    ``n_features_in_``, ``feature_names_in_``, ``converged_``, ``center_``, ``scale_``, ``n_rows_``,
    ``history_`` (DP mode), ``ledger_``, ``seconds_``.
    """

    def __init__(self, lam: float = 1.0, *, C: float | None = None, tol: float = DEFAULT_TOL,
                 max_iter: int = DEFAULT_MAX_ITER, epsilon: float | None = None,
                 dp_iterations: int = DEFAULT_DP_ITERATIONS, parties: int | None = None, clip: float | None = None,
                 center=None, scale=None, features=None, frac_bits: int = DEFAULT_FRAC_BITS,
                 timeout: float | None = None):
        self.lam = lam
        self.C = C
        self.tol = tol
        self.max_iter = max_iter
        self.epsilon = epsilon
        self.dp_iterations = dp_iterations
        self.parties = parties
        self.clip = clip
        self.center = center
        self.scale = scale
        self.features = features
        self.frac_bits = frac_bits
        self.timeout = timeout

    def penalty(self) -> float:
        """λ: ``1/C`` when ``C`` is given (then ``lam`` must be left at its default or agree)."""
        if self.C is None:
            return float(self.lam)
        if not self.C > 0:
            raise InputError(f"C must be > 0, got {self.C}")
        if self.lam != 1.0 and not math.isclose(self.lam, 1.0 / self.C):
            raise InputError(f"give either lam or C (C = 1/lam), not both: lam={self.lam}, C={self.C}")
        return 1.0 / float(self.C)

    def fit(self, X, y=None, *, target: str = "y"):
        """Fit on the parties' tables (``fit(tables, target="y")``) or on arrays ``fit(X, y)``."""
        tables, parties = tables_for_fit(X, y, target, self.parties)
        kwargs = {"target": target, "lam": self.penalty(), "tol": self.tol, "max_iter": self.max_iter,
                  "epsilon": self.epsilon, "dp_iterations": self.dp_iterations, "clip": self.clip,
                  "center": self.center, "scale": self.scale, "features": self.features,
                  "frac_bits": self.frac_bits}
        results = core.run(logistic_protocol, parties=parties, timeout=self.timeout, kwargs=kwargs,
                           private={i: {"table": t} for i, t in enumerate(tables)})
        model = results[0].value
        self.coef_ = np.asarray(model["coef"], dtype=float).reshape(1, -1)
        self.intercept_ = np.array([model["intercept"]])
        self.classes_ = np.array([0, 1])
        self.n_iter_ = np.array([model["n_iter"]], dtype=np.int32)
        self.converged_ = model["converged"]
        self.center_, self.scale_ = model["center"], model["scale"]
        self._set_features(model["features"])
        self.n_rows_, self.history_ = model["n"], model["history"]
        self.ledger_ = results[0].ledger
        self.seconds_ = max(r.seconds for r in results)
        if model["converged"] is False:
            warnings.warn(f"the secure Newton iteration reached max_iter={self.max_iter} before the gradient "
                          f"test (tol={self.tol:g}) passed: increase max_iter", ConvergenceWarning, stacklevel=2)
        return self

    def predict_proba(self, X):
        """[P(y=0), P(y=1)] per row, exactly as sklearn computes them from the same coefficients."""
        from scipy.special import expit

        p = expit(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def to_sklearn(self):
        """An equivalent fitted ``sklearn.linear_model.LogisticRegression(C=1/λ)`` (for plaintext prediction)."""
        from sklearn.linear_model import LogisticRegression

        self._check_fitted()
        lam = self.penalty()
        model = LogisticRegression(C=1.0 / lam if lam > 0 else np.inf, tol=self.tol, max_iter=self.max_iter)
        return self._copy_fitted(model, classes_=self.classes_.copy(), n_iter_=self.n_iter_.copy())
