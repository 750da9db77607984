"""Kaplan-Meier curves of two groups, published from interval counts summed in shares.

Each party counts its own patients' exits per group and public interval: events and censorings with time
index in interval k = ceil(t / w) (interval 0 is {0}, interval k is ((k-1)w, kw]).  The counts are summed
in shares and opened, either

- exactly (``km.counts``): the curve is then the Kaplan-Meier estimate of the *coarsened* data in which
  every duration is moved to the end of its interval — identical to lifelines on that coarsened data; or
- with differential privacy (``km.noisy_counts``): discrete Laplace noise is added in shares before
  opening (:func:`securegenome.core.dp.dp_open`).  Privacy unit: one patient.  Adding or removing one
  patient changes exactly one of the 2 groups × 2 kinds × K intervals counts, by 1, so the ℓ1 sensitivity
  of the whole release is 1 and the noise scale is 1/ε per count (replacing a patient changes two counts:
  that is 2ε under the replace-one neighbouring relation).  The curve is post-processing of the noisy
  counts (clamped at 0), so it is ε-DP too.  DP needs a public horizon (``horizon=``) and the two group
  labels named (``groups=``), so that nothing else is opened or published.

With a public horizon, a duration beyond it is censored at it (administrative censoring, in every mode);
in DP mode, rows whose label is neither of the named groups are left out.  Both are local, and neither
stops the run: how a run proceeds must not depend on any one patient (issue 15.2).

The numbers at risk and the curve follow from the opened counts in the clear.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import core
from ..core import mpc
from ..errors import InputError
from .tables import SurvivalTable, agree_groups, censored_at, in_groups, interval_counts, public_grid

LEAKAGE: dict[str, str] = {
    "survival.horizon": "all parties: the largest time index over all patients (sizes the public interval grid); "
                        "not opened when the user fixes the horizon (always fixed in DP mode)",
    "km.counts": "all parties: per group and public interval, the numbers of events and of censorings "
                 "(2 x 2 x intervals counts; the curve and group sizes follow)",
    "km.noisy_counts": "all parties: the same counts, each with discrete Laplace noise of scale 1/epsilon added "
                       "in shares (epsilon-DP for one patient)",
}

COUNT_BITS = 40  # secure type of the counts: sums of at most 2^30 rows per party, plus noise, stay far inside


@dataclass
class IntervalCounts:
    """What the parties publish: counts[group, kind, interval] with kind 0 = events, 1 = censored."""

    groups: tuple
    counts: np.ndarray
    width: int  # interval width in time indices
    time_unit: float
    epsilon: float | None = None
    binned: bool = False
    releases: list = field(default_factory=list)

    def timeline(self) -> np.ndarray:
        """Interval ends in the original unit: 0, w, 2w, ... (× time unit)."""
        return np.arange(self.counts.shape[-1]) * self.width * self.time_unit

    def curve(self, g: int) -> np.ndarray:
        return km_from_counts(self.counts[g, 0], self.counts[g, 1])

    def at_risk(self, g: int) -> np.ndarray:
        return at_risk_from_counts(self.counts[g, 0], self.counts[g, 1])


def n_intervals(grid: int, width: int) -> int:
    return -(-grid // width) + 1


def check_dp_request(epsilon, horizon, groups) -> None:
    """A DP curve may open nothing but noisy counts: the horizon and the group labels must be public."""
    if epsilon is not None and horizon is None:
        raise InputError("the differentially private curve needs a public horizon (horizon=/--horizon): "
                         "opening the largest duration exactly would not be private")
    if epsilon is not None and groups is None:
        raise InputError("the differentially private curve needs the two group labels named (groups=/--groups): "
                         "otherwise every party publishes the set of labels it holds")


async def secure_km_counts(table: SurvivalTable, width: int = 1, groups=None, horizon=None,
                           epsilon: float | None = None, accountant=None) -> IntervalCounts:
    """Protocol (each party runs it with its own ``table``): the published interval counts, on every party."""
    if not isinstance(width, (int, np.integer)) or width < 1:
        raise InputError(f"interval width must be a whole number of time units >= 1, not {width!r}")
    check_dp_request(epsilon, horizon, groups)
    groups = await agree_groups(table, groups, dp=epsilon is not None)
    grid = await public_grid(table, horizon)
    table = censored_at(in_groups(table, groups), grid)
    await core.agree(protocol="survival.km/1", groups=list(groups), horizon=grid, width=int(width),
                     epsilon=epsilon, time_unit=table.time_unit)
    k = n_intervals(grid, int(width))
    secint = mpc.SecInt(COUNT_BITS)
    local = secint.array(interval_counts(table, groups, int(width), k).astype(object))
    shared = local if len(mpc.parties) == 1 else _sum(mpc.input(local))
    if epsilon is None:
        opened = await core.open(shared, what="km.counts", why="interval-aggregated event and censoring counts: "
                                 "the declared output from which the coarsened Kaplan-Meier curves follow")
    else:
        from ..core import dp

        opened = await dp.dp_open(shared, sensitivity=1, epsilon=epsilon, what="km.noisy_counts",
                                  accountant=accountant,
                                  why="interval counts with discrete Laplace noise; one patient changes one "
                                      "count by 1 (l1-sensitivity 1)")
    counts = np.asarray(opened, dtype=np.int64).reshape(2, 2, k)
    return IntervalCounts(tuple(groups), counts, int(width), table.time_unit, epsilon, table.binned)


def _sum(arrays):
    total = arrays[0]
    for a in arrays[1:]:
        total = total + a
    return total


# ---------------------------------------------------------------------------------------------------------
# plaintext: curve from counts (also the twin of the secure part)

def at_risk_from_counts(events, censored) -> np.ndarray:
    """Numbers at risk at the start of each interval: everyone who leaves in that interval or later."""
    exits = np.maximum(np.asarray(events), 0) + np.maximum(np.asarray(censored), 0)
    return np.cumsum(exits[::-1])[::-1]


def km_from_counts(events, censored) -> np.ndarray:
    """Kaplan-Meier survival at each interval end: Π (1 - d_k / n_k); noisy counts are clamped to [0, n_k]."""
    n = at_risk_from_counts(events, censored).astype(float)
    d = np.minimum(np.maximum(np.asarray(events), 0), n).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(n > 0, 1.0 - d / n, 1.0)
    return np.cumprod(factor)


def median_survival(timeline: np.ndarray, survival: np.ndarray) -> float:
    """The first time the curve is at or below 0.5 (lifelines' convention); inf if it never is."""
    below = np.flatnonzero(survival <= 0.5)
    return float(timeline[below[0]]) if below.size else math.inf


def plaintext_counts(tables: list[SurvivalTable], groups, width: int, grid: int) -> np.ndarray:
    """Twin of the exact opening: the pooled interval counts."""
    k = n_intervals(grid, width)
    return sum(interval_counts(t, groups, width, k) for t in tables)
