"""Secure logrank test of two groups over patients split across parties (horizontally).

Per time point t of the public grid 0..T, with pooled counts at risk n1, n2 (n = n1 + n2) and events d1, d2
(d = d1 + d2), the logrank test (as in lifelines) is

    Z = Σ (d1 - d·n1/n) = Σ (d1·n2 - d2·n1)/n,    V = Σ n1·n2·d·(n-d) / (n²(n-1)),    χ² = Z²/V  (1 df).

Each party tabulates its own patients per time (numpy), the four tables are summed in shares, and

- with P = n(n-1) and one secure reciprocal R ≈ 2^F/P per time point (see :mod:`.arith`):
  u = R·(n-1) ≈ 2^F/n and R·u ≈ 2^2F/(n²(n-1)); the numerators d1·n2 - d2·n1 and n1·n2·d·(n-d) are exact
  secure integers, so Z·2^F and V·2^2F are two exact integer sums of exact products (V is then truncated
  once, as a single element, to V·2^F);
- where n ≤ 1 both numerators are 0 exactly (one group is empty), so the reciprocal of P = 0 never matters;
- one fixed-point division χ² = Z²/V at the end, in a fixed-point type over the same field.  If V = 0 (no
  event while both groups are at risk) then Z = 0 too and χ² = 0, p = 1, as lifelines reports.

Only χ² is opened (label ``logrank.statistic``); the p-value is computed from it in the clear
(χ² survival function, 1 df), so it reveals nothing more.  The public grid size (largest time index) and the
total number of patients N are opened first (they size the field: the terms reach N³, and the types are
widened from N instead of wrapping as a 64-bit fixed-point type does above ~1,300 patients).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import core
from ..core import mpc
from .arith import DEFAULT_PRECISION, Sizing, reciprocal, reinterpret
from .tables import SurvivalTable, agree_groups, at_risk_table, censored_at, public_grid

LEAKAGE: dict[str, str] = {
    "survival.horizon": "all parties: the largest time index over all patients (sizes the public time grid); "
                        "not opened when the user fixes the horizon",
    "survival.size": "all parties: the total number of patients N (sizes the secure types; terms reach N^3)",
    "logrank.statistic": "all parties: the logrank chi-square statistic (1 df); the p-value follows from it",
}


@dataclass(frozen=True)
class LogrankResult:
    """Like lifelines' ``StatisticalResult``: the statistic, its p-value and degrees of freedom."""

    test_statistic: float
    p_value: float
    degrees_of_freedom: int = 1
    groups: tuple = ()
    n_patients: int = 0
    time_unit: float = 1.0
    horizon: int = 0
    test_name: str = "logrank_test"
    durations_binned: bool = False  # set by the API: some local duration was rounded up to the time unit
    ledger: object = field(default=None, repr=False, compare=False)  # set by the API: what was opened
    results: object = field(default=None, repr=False, compare=False)  # set by the API: the PartyResults

    def summary_dict(self) -> dict:
        return {"test_statistic": self.test_statistic, "p_value": self.p_value,
                "degrees_of_freedom": self.degrees_of_freedom, "groups": list(self.groups),
                "n_patients": self.n_patients, "time_unit": self.time_unit, "horizon": self.horizon,
                "durations_binned": self.durations_binned}


def p_value(statistic: float) -> float:
    """χ² survival function with 1 degree of freedom, in the clear from the opened statistic: erfc(√(x/2))."""
    return math.erfc(math.sqrt(max(statistic, 0.0) / 2))


def logrank_terms(d1, d2, n1, n2):
    """Plaintext twin of the secure sums: (Z, V) from pooled per-time tables (floats)."""
    d1, d2, n1, n2 = (np.asarray(a, dtype=float) for a in (d1, d2, n1, n2))
    n, d = n1 + n2, d1 + d2
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(n > 0, (d1 * n2 - d2 * n1) / n, 0.0)
        v = np.where(n > 1, n1 * n2 * d * (n - d) / (n * n * (n - 1)), 0.0)
    return z.sum(), v.sum()


def logrank_statistic(d1, d2, n1, n2) -> float:
    """Plaintext twin of :func:`secure_logrank`'s opened value."""
    z, v = logrank_terms(d1, d2, n1, n2)
    return float(z * z / v) if v > 0 else float("nan")


async def secure_logrank(table: SurvivalTable, groups=None, horizon=None, precision: int = DEFAULT_PRECISION):
    """Protocol (each party runs it with its own ``table``): returns a :class:`LogrankResult` on every party."""
    groups = await agree_groups(table, groups)
    grid = await public_grid(table, horizon)
    table = censored_at(table, grid)  # beyond a public horizon: censored at it, never an abort
    n_total = await _open_size(table)
    await core.agree(protocol="survival.logrank/1", groups=list(groups), horizon=grid, precision=precision,
                     time_unit=table.time_unit)
    sizing = Sizing.for_patients(n_total, grid + 1, precision)
    secint = sizing.secint()
    local = at_risk_table(table, groups, grid)  # rows d1, d2, n1, n2, shape (4, grid+1)
    shared = _sum_inputs(secint, local)
    d1, d2, n1, n2 = shared[0], shared[1], shared[2], shared[3]
    statistic = await _chi_square(sizing, d1, d2, n1, n2)
    return LogrankResult(statistic, p_value(statistic), 1, tuple(groups), n_total, table.time_unit, grid)


def _sum_inputs(sectype, local: np.ndarray):
    """Sum the parties' tables in shares (local additions only after the input round)."""
    mine = sectype.array(local.astype(object))
    if len(mpc.parties) == 1:
        return mine
    total = None
    for s in mpc.input(mine):
        total = s if total is None else total + s
    return total


async def _open_size(table: SurvivalTable) -> int:
    secint = mpc.SecInt(40)
    n = mpc.sum(mpc.input(secint(len(table))))
    return int(await core.open(n, what="survival.size", why="the total number of patients sizes the secure types "
                               "(logrank terms reach N^3); it is public metadata of the study"))


async def _chi_square(sizing: Sizing, d1, d2, n1, n2) -> float:
    n, d = n1 + n2, d1 + d2
    r = reciprocal(n * (n - 1), sizing.k_bits, sizing.precision)  # ≈ 2^F / (n(n-1)) where n ≥ 2
    u = r * (n - 1)  # ≈ 2^F / n
    z_num = d1 * n2 - d2 * n1  # 0 where n ≤ 1
    v_num = (n1 * n2) * (d * (n - d))  # 0 where n ≤ 1
    z_scaled = mpc.np_sum(z_num * u, axis=0, keepdims=True)  # Z·2^F: exact sum of exact products
    v_scaled = mpc.np_sum(v_num * (r * u), axis=0, keepdims=True)  # V·2^2F, as R·u ≈ 2^2F/(n²(n-1))
    v_scaled = mpc.np_trunc(v_scaled, f=sizing.frac, l=sizing.int_bits - 2)  # V·2^F (one element)
    # V = 0 (no event while both groups are at risk) forces Z = 0: report χ² = 0 as lifelines does
    v_scaled = v_scaled + mpc.is_zero(v_scaled[0])
    secfxp = sizing.secfxp()
    z, v = reinterpret(z_scaled, secfxp), reinterpret(v_scaled, secfxp)  # Z·2^s and V·2^s
    chi2 = (z * z) / v  # χ²·2^s
    opened = await core.open(chi2, what="logrank.statistic",
                             why="the declared output of the logrank test (the p-value is computed from it)")
    return math.ldexp(float(opened[0]), -sizing.shift)
