"""Fixed-point arithmetic on secret-shared numbers: type choice, SPD solves, sigmoid.

MPyC's ``SecFxp(l, f)`` holds numbers ``x`` with ``|x| < 2**(l-f-1)`` as integers ``x * 2**f`` in a prime
field; results that leave that range wrap around silently.  Everything here therefore starts from public
bounds: :func:`fxp_type` picks ``l`` from the largest magnitude a computation may reach plus headroom, and
:func:`check_range` refuses plaintext inputs that would not fit.

Linear algebra works on secure numpy-style arrays (``secfxp.array``):

- :func:`ldl_factor` factors a secret symmetric positive definite ``A = L D Lᵀ`` (Cholesky without square
  roots: one secure reciprocal per pivot, one vectorised Schur-complement update per column, so ``d``
  sequential steps for a ``d x d`` matrix);
- :func:`ldl_solve` does the two triangular solves ``L z = b``, ``Lᵀ x = D⁻¹ z`` for one or many right-hand
  sides (``B = I`` gives the inverse);
- :func:`spd_solve` is both together;
- :func:`refine_inverse` improves an approximate inverse ``X ≈ A⁻¹`` by Newton–Schulz steps
  ``X ← 2X − X A X`` (two matrix products, no reciprocal, no sequential depth beyond them): the error
  ``I − XA`` is squared by every step whenever the eigenvalues of ``XA`` lie in (0, 2), so an iterative
  method whose matrix changes slowly can carry its inverse along instead of factoring it anew.

Elimination without pivoting is backward stable for SPD matrices; in fixed point the error of the solution
is about ``cond(A) * 2**-f`` relative to its size, so callers choose ``f`` from the accuracy they need and
scale ``A`` publicly so that its entries are O(1).

:func:`sigmoid` is a secure approximation of the logistic function with a plaintext twin
(:func:`sigmoid_twin`) computing exactly the same approximation in float64: ``σ(z) = ½ + sgn(z)(p(min(|z|,
B)) - ½)`` with ``p`` the degree-14 Chebyshev interpolant of σ on ``[0, B]``, ``B = 12``.  Its largest error
on the real line is :data:`SIGMOID_MAX_ERROR` (1.3e-5: 1.29e-5 from the polynomial, 6.1e-6 from clamping at
``|z| = 12``); it costs two secure comparisons and 18 multiplications per element (14 in Clenshaw's
recurrence), all vectorised.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import chebyshev

from ._mpyc import mpc

SIGMOID_CLAMP = 12.0
SIGMOID_DEGREE = 14
_SIGMOID_CHEB = chebyshev.chebinterpolate(
    lambda t: 1.0 / (1.0 + np.exp(-SIGMOID_CLAMP / 2 * (t + 1))), SIGMOID_DEGREE)
SIGMOID_MAX_ERROR = 1.3e-5  # max |sigmoid_twin(z) - 1/(1+exp(-z))| over all z, checked in the tests


def int_bits(max_abs: float) -> int:
    """Bits for the integer part of numbers of magnitude up to ``max_abs`` (sign not included)."""
    if not math.isfinite(max_abs):
        raise ValueError(f"cannot represent {max_abs} in fixed point")
    return max(1, math.ceil(math.log2(max_abs + 1)))


def fxp_type(max_abs: float, frac_bits: int = 32, *, division: bool = False, headroom: int = 2):
    """The secure fixed-point type for values up to ``max_abs`` in magnitude with ``frac_bits`` fraction bits.

    ``max_abs`` must bound every intermediate result, not only the inputs; ``headroom`` extra integer bits
    absorb rounding and sums the bound missed.  The integer part gets at least ``f`` bits: with fewer,
    MPyC's products with public floats go wrong now and then (measured: SecFxp(42, 32) gets ~1 in 2,500
    products by 0.3 wrong by 2**42; SecFxp(64, 32) none in 10^5).  With ``division=True`` the type has
    exactly ``l = 2f`` as MPyC's secure reciprocal needs (its normalisation multiplies by ``2**(f-l+1)``,
    which must be representable), and ``f`` is raised if the integer part would not fit in ``f - 1`` bits.
    """
    needed = int_bits(max_abs) + headroom + 1  # + sign bit
    if division:
        f = max(frac_bits, needed)
        return mpc.SecFxp(2 * f, f)
    return mpc.SecFxp(max(2 * frac_bits, frac_bits + needed), frac_bits)


def max_magnitude(secfxp) -> float:
    """The largest magnitude ``secfxp`` can hold."""
    return 2.0 ** (secfxp.bit_length - secfxp.frac_length - 1)


def check_range(values, secfxp, what: str) -> None:
    """Raise ValueError if plaintext ``values`` would not fit ``secfxp`` (instead of wrapping silently)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{what}: not finite")
    biggest = float(np.max(np.abs(values)))
    if biggest >= max_magnitude(secfxp):
        raise ValueError(f"{what}: magnitude {biggest:.3g} exceeds the fixed-point range "
                         f"{max_magnitude(secfxp):.3g} of {secfxp.__name__}")


def input_array(secfxp, local, senders=None):
    """``mpc.input`` of a fixed-point array with the same type flags on every party.

    MPyC marks an array whose values are all integers as *integral* and skips truncations in products
    with it; the mark of an input comes from each party's own placeholder, so a sender holding 0.3 and a
    receiver holding the placeholder 0 would disagree, take different code paths and hang.  Inputs made
    here are never integral.  ``senders`` as in ``mpc.input`` (one party: one array; None: a list).
    """
    return mpc.input(secfxp.array(np.asarray(local, dtype=float), integral=False), senders=senders)


def sum_inputs(secfxp, local: np.ndarray):
    """Every party secret-shares its array ``local`` (same shape everywhere); returns the shared sum."""
    check_range(local, secfxp, "local input")
    shares = input_array(secfxp, local)
    total = shares[0]
    for s in shares[1:]:
        total = total + s
    return total


# ---------------------------------------------------------------------------------------------------------
# LDLᵀ factorisation and triangular solves


class LDL:
    """A secret ``A = L D Lᵀ``: unit lower-triangular ``L`` by columns, pivots ``D`` and their reciprocals."""

    def __init__(self, columns, pivots, reciprocals):
        self.columns = columns            # columns[k]: L[k+1:, k], a secure array of length d-k-1
        self.pivots = pivots              # list of d secure arrays of shape (1,): D[k]
        self.reciprocals = reciprocals    # list of d secure arrays of shape (1,): 1/D[k]

    @property
    def size(self) -> int:
        return len(self.pivots)


def packed_upper(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices, column indices and the (m x m) position map of a packed upper triangle."""
    rows, cols = np.triu_indices(m)
    position = np.zeros((m, m), dtype=int)
    position[rows, cols] = np.arange(len(rows))
    position[cols, rows] = np.arange(len(rows))
    return rows, cols, position


def ldl_factor(A) -> LDL:
    """Factor a secret symmetric positive definite ``d x d`` secure array (no pivoting, no square roots).

    Step k takes the pivot of the current Schur complement, one secure reciprocal, scales the pivot row
    and subtracts one outer product.  Only the upper triangle of the (symmetric) Schur complement is kept,
    packed in a vector, so the whole factorisation costs ~d³/6 secure products (and as many truncations,
    which dominate) in d sequential steps.  A pivot that is zero or negative (singular or indefinite
    ``A``) yields garbage, not an error; callers test the pivots (see :func:`pivots_below`).
    """
    d = A.shape[0]
    if A.shape != (d, d):
        raise ValueError("ldl_factor needs a square matrix")
    rows, cols, _ = packed_upper(d)
    S = A[rows, cols]  # packed upper triangle of the current Schur complement, row by row
    columns, pivots, reciprocals = [], [], []
    for k in range(d):
        m = d - k
        pivot = S[0:1]  # shape (1,) rather than a scalar, so the pivots concatenate into one array
        inv = 1.0 / pivot  # a float: MPyC scales it (int 1 would be taken as the raw integer)
        pivots.append(pivot)
        reciprocals.append(inv)
        if m == 1:
            break
        row = S[1:m]                      # S[0, 1:]
        column = row * inv                # L[k+1:, k]
        columns.append(column)
        sub_rows, sub_cols, _ = packed_upper(m - 1)
        _, _, position = packed_upper(m)
        S = S[position[sub_rows + 1, sub_cols + 1]] - column[sub_rows] * row[sub_cols]
    return LDL(columns, pivots, reciprocals)


def ldl_solve(factor: LDL, B):
    """Solve ``A X = B`` for a secure ``B`` of shape (d,) or (d, m), given ``A``'s :class:`LDL` factor."""
    d = factor.size
    vector = len(B.shape) == 1
    if vector:
        B = B.reshape(d, 1)
    # forward: L z = B, one row of z per step; row k receives -L[k, j] z[j] from every earlier j
    rows = [B[k] for k in range(d)]
    for k in range(d - 1):
        update = mpc.np_outer(factor.columns[k], rows[k])
        for i in range(k + 1, d):
            rows[i] = rows[i] - update[i - k - 1]
    # scale: y = D⁻¹ z
    rows = [rows[k] * factor.reciprocals[k] for k in range(d)]
    # backward: Lᵀ x = y, x[k] = y[k] - L[k+1:, k]ᵀ x[k+1:]
    xs = [None] * d
    xs[d - 1] = rows[d - 1]
    for k in range(d - 2, -1, -1):
        below = mpc.np_vstack(xs[k + 1:])
        xs[k] = rows[k] - factor.columns[k] @ below
    X = mpc.np_vstack(xs)
    return X.reshape(d) if vector else X


def spd_solve(A, B):
    """Solve ``A X = B`` for secret SPD ``A``; returns ``(X, factor)`` so callers can check the pivots."""
    factor = ldl_factor(A)
    return ldl_solve(factor, B), factor


def refine_inverse(X, A, steps: int = 1):
    """``steps`` Newton–Schulz steps ``X ← 2X − X (A X)`` towards ``A⁻¹`` for secure square arrays.

    Converges (quadratically) when the eigenvalues of ``X A`` lie in (0, 2), e.g. from ``X = I / trace(A)``
    for a symmetric positive definite ``A``; rounding errors of earlier steps are corrected by later ones
    (the iteration is self-correcting).  Each step costs two secure matrix products (2d² truncations).
    """
    for _ in range(steps):
        X = X * 2.0 - X @ (A @ X)
    return X


def refine_inverse_twin(X: np.ndarray, A: np.ndarray, steps: int = 1) -> np.ndarray:
    """Plaintext twin of :func:`refine_inverse`."""
    for _ in range(steps):
        X = X * 2.0 - X @ (A @ X)
    return X


def pivots_below(factor: LDL, threshold: float):
    """Secure bits, one per pivot: 1 where the pivot is below the public ``threshold`` (singular system)."""
    return mpc.np_concatenate(factor.pivots) < threshold


def ldl_solve_twin(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Plaintext twin of :func:`spd_solve`: the same elimination order in float64."""
    A = np.array(A, dtype=float)
    d = A.shape[0]
    L = np.eye(d)
    D = np.zeros(d)
    S = A.copy()
    for k in range(d):
        D[k] = S[0, 0]
        if k < d - 1:
            col = S[1:, 0] / D[k]
            L[k + 1:, k] = col
            S = S[1:, 1:] - np.outer(col, S[0, 1:])
    z = np.linalg.solve(L, np.asarray(B, dtype=float))
    y = (z.T / D).T
    return np.linalg.solve(L.T, y)


# ---------------------------------------------------------------------------------------------------------
# logistic function


def sigmoid(z):
    """Secure approximation of 1/(1+exp(-z)) for a secure fixed-point array; error <= SIGMOID_MAX_ERROR.

    The type of ``z`` needs at least ~20 fraction bits for that accuracy and an integer part holding
    ``|z|``.  Costs two vectorised comparisons and SIGMOID_DEGREE + 4 vectorised multiplications.
    """
    sign = mpc.np_sgn(z)                       # -1, 0, 1
    magnitude = sign * z                       # |z|
    inside = magnitude < SIGMOID_CLAMP         # 1 where |z| < B
    half = SIGMOID_CLAMP / 2
    t = inside * (magnitude * (1 / half) - 2) + 1   # |z|/(B/2) - 1 inside, 1 (i.e. |z| = B) outside
    p = _clenshaw(t, _SIGMOID_CHEB)
    return sign * (p - 0.5) + 0.5


def _clenshaw(t, coefficients):
    """Σ c_k T_k(t) by Clenshaw's recurrence (stable in fixed point; one multiplication per degree)."""
    b1, b2 = float(coefficients[-1]), 0.0     # public until the first multiplication by t
    for c in coefficients[-2:0:-1]:
        b1, b2 = t * b1 * 2 - b2 + float(c), b1
    return t * b1 - b2 + float(coefficients[0])


def sigmoid_twin(z) -> np.ndarray:
    """Plaintext twin of :func:`sigmoid`: the same approximation in float64."""
    z = np.asarray(z, dtype=float)
    magnitude = np.minimum(np.abs(z), SIGMOID_CLAMP)
    p = chebyshev.chebval(magnitude / (SIGMOID_CLAMP / 2) - 1, _SIGMOID_CHEB)
    return np.sign(z) * (p - 0.5) + 0.5
