"""Exact secure-integer arithmetic for the logrank test: sizing, a cheap reciprocal, a change of type.

The logrank terms have denominators ``n²(n-1)`` that reach N³ for N patients; a fixed-point type that holds
them with enough fractional bits is wide, and MPyC's generic fixed-point division normalises over the whole
width of that type.  Here every table value and numerator stays an exact secure *integer*; only the
reciprocal of ``P = n(n-1) < N²`` is approximated, its normalisation looks at the ``K = bitlen(N²)`` bits
``P`` can have (not at the width of the field), and its Newton steps truncate only about K bits each (the
working precision doubles with the accuracy).  Secure truncation costs one secret random bit per truncated
bit, and those bits dominate the cost, so this is what makes the protocol cheap.  Everything is sized from
public bounds, with the headroom checked before any value could wrap modulo the prime.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core import mpc
from ..errors import InputError

NEWTON_SEED = 2.9142135623731  # 1/b ≈ 2.9142 - 2b on [1/2, 1), error below 0.0858 ≈ 2^-3.54 (as in MPyC)
SEED_BITS = 3.54
GUARD_BITS = 4  # working precision kept above the accuracy reached, so truncation errors stay negligible
SLACK_BITS = 8  # the "reciprocal" of 0 (unused garbage) may grow by 2^(steps+2): still inside the field
DEFAULT_PRECISION = 48  # relative precision 2^-48 ≈ 3.6e-15 per reciprocal, far below the 1e-6 asked for


def newton_schedule(k_bits: int, precision: int) -> list[int]:
    """Working precisions s_0..s_m: y_i ≈ 2^(K+s_i)/b; s_0 ≥ K-1 (exact seed), then ~doubling up to G."""
    scales, accuracy = [max(k_bits - 1, 2 * GUARD_BITS)], SEED_BITS
    while accuracy < precision + 2:
        accuracy = 2 * accuracy
        scales.append(min(precision, math.ceil(accuracy) + GUARD_BITS))
    scales[-1] = precision
    return scales


@dataclass(frozen=True)
class Sizing:
    """Public bit sizes of one secure logrank computation, derived from the number of patients N.

    One prime field serves both secure types: SecInt(int_bits) for the tables and sums, and a fixed-point
    type SecFxp(2f, f) for the one final division, so shares move from one to the other for free.
    """

    n_bits: int  # patients N < 2^n_bits
    k_bits: int  # P = n(n-1) < 2^k_bits
    precision: int  # G: relative precision 2^-G of every reciprocal
    frac: int  # F = K + G: reciprocals are scaled by 2^F
    int_bits: int  # every secure-integer intermediate (with headroom) fits
    fx_frac: int  # f of the final fixed-point type (l = 2f, the same field)

    @classmethod
    def for_patients(cls, n_total: int, n_times: int, precision: int = DEFAULT_PRECISION) -> Sizing:
        n_bits = max(1, int(n_total).bit_length())
        k_bits = max(2, (int(n_total) * max(int(n_total) - 1, 1)).bit_length())
        frac = k_bits + precision
        t_bits = max(1, int(n_times).bit_length())
        # largest intermediates: R·u ≈ 2^2F/(n²(n-1)) (garbage where n ≤ 1: up to 2^(2F+2·slack)·N), its
        # products with n1·n2·d·(n-d) (≈ V_t·2^2F ≤ N·2^2F) summed over the grid, and y·e in Newton steps
        int_bits = max(2 * frac + 2 * SLACK_BITS + n_bits, 2 * frac + n_bits + t_bits,
                       k_bits + 2 * precision + 2 + 2 * SLACK_BITS) + 4
        while True:  # the final type must hold Z·2^s, χ²·2^s ≤ N³·2^s with s = F - f in its integer part
            fx_frac = int_bits // 3
            if 3 * n_bits + max(frac - fx_frac, 0) + 4 < fx_frac:
                break
            int_bits += 3
        if int_bits > 4096:
            raise InputError(f"cannot size the secure logrank for {n_total} patients and {n_times} times")
        return cls(n_bits, k_bits, precision, frac, int_bits, fx_frac)

    @property
    def product_bits(self) -> int:
        """Bound on R·u: the square-scale reciprocals 2^2F/(n²(n-1)), garbage included."""
        return 2 * self.frac + 2 * SLACK_BITS + self.n_bits

    @property
    def shift(self) -> int:
        """Z·2^F read as a fixed-point number with fraction f is Z·2^(F-f): χ² comes out scaled by 2^shift."""
        return self.frac - self.fx_frac

    def secint(self):
        return mpc.SecInt(self.int_bits)

    def secfxp(self):
        """Fixed point over the SAME field: an integer x·2^F is the fixed-point value x·2^(F-f)."""
        return mpc.SecFxp(2 * self.fx_frac, self.fx_frac, p=int(self.secint().field.modulus))


def normaliser(x, k_bits: int):
    """Secure 2^z with z the number of leading zeros of x in k_bits bits (x in [0, 2^k_bits)), elementwise.

    Costs a k_bits-bit decomposition: the point of this module (MPyC normalises over the full width).
    For x = 0 the result is 2^k_bits (callers multiply its use by zero).
    """
    bits = mpc.np_to_bits(x, l=k_bits)  # low to high
    high_first = np.flip(bits, axis=-1)
    return mpc.np_find(high_first, 1, cs_f=lambda b, i: (b + 1) * 2**i)


def reciprocal(x, k_bits: int, precision: int):
    """R ≈ 2^(k_bits + precision) / x for secure integers 0 < x < 2^k_bits, relative error ~2^-precision.

    Normalise b = x·2^z into [2^(K-1), 2^K); seed y_0 ≈ 2^(2K-1)/b with the exact integer line
    2.9142·2^s0 - b·2^(s0+1-K) (s0 ≥ K-1); Newton steps y <- y(2^(K+s+1) - b·y) at scale 2^(2K+2s), truncated to the next
    working scale 2^(K+s') (K + 2s - s' bits, about K); undo the normalisation: R = y·2^z.
    For x = 0 the result is bounded garbage.
    """
    v = normaliser(x, k_bits)
    b = x * v
    scales = newton_schedule(k_bits, precision)
    y = round(NEWTON_SEED * 2**scales[0]) - b * (1 << (scales[0] + 1 - k_bits))
    for s, s_next in zip(scales, scales[1:]):
        e = (1 << (k_bits + s + 1)) - b * y
        y = mpc.np_trunc(y * e, f=k_bits + 2 * s - s_next, l=k_bits + 2 * s + 2 + 2 * SLACK_BITS)
    return y * v


@mpc.coroutine
async def reinterpret(x, secfxp):
    """The secure integer array x as a fixed-point array of secfxp over the same field (x·2^-f)."""
    await mpc.returnType((secfxp.array, False, x.shape))
    return await mpc.gather(x)
