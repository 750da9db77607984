"""The secure part of a query: per-party aggregate vectors summed in shares, noised and opened.

Protocol (every party, the same public plan, its own table):

1. read the own table and compute every release's integer vector from the own rows (filters, clipping,
   derived columns, group keys: all local, :func:`~securegenome.query.plan.local_vectors`); a missing
   column or a bad cell stops this party with a one-line error before anything is shared;
2. load the own budget file (if any) and refuse a plan that does not fit it, before anything is shared;
3. agree on the plan's fingerprint, ε, δ and the mode (:func:`core.agree`): a mismatch stops every party;
4. charge the budget file (before anything is opened);
5. secret-share the vectors (one ``mpc.input`` of all count/sum releases at once in SecInt(64), one of all
   quantile histograms in the fewest bits their comparisons need, ~45 for 3 parties) and add them up;
6. per count/sum release: :func:`core.dp_open` — discrete Laplace (or, with δ > 0, discrete Gaussian) noise
   drawn inside the MPC by parties 0..t, calibrated to the release's sensitivity and ε share;
7. per quantile: the histogram over the public quantile bins gets discrete Laplace noise (scale 1/ε_i) in
   shares and is *not* opened; the number of bins whose noisy cumulative count is below q·(noisy total) —
   on exact counts the first bin where it reaches q·total — is computed with B secure comparisons per
   group (no clamping of negative noisy counts: clamping would add phantom rows in empty bins and pull the
   answer toward the middle of the bounds); only that bin's index is opened.  It is a function of the
   ε_i-DP noisy histogram alone, so it is ε_i-DP (post-processing).

What is revealed (ledger labels): see :data:`LEAKAGE`.  Cost: one input round (vector of Σ cells), one
``dp_open`` per count/sum release (one noise-sharing round + one opening each), per quantile one noise
round, G·B secure comparisons (vectorised, in ~45-bit integers) and one opening of G values.
"""

from __future__ import annotations

import os

import numpy as np

from .. import core
from ..core import dp, mpc
from ..errors import InputError
from . import budget as budgets
from .plan import MAX_ROWS, QUANTILE_DIGITS, Plan, local_vectors

LEAKAGE = {
    "query.noisy_aggregate": "one count or sum vector (one value per public group cell) plus discrete Laplace "
                             "(or Gaussian) noise nobody knows, calibrated to the release's sensitivity "
                             "(one row = privacy unit) and its share of epsilon",
    "query.noisy_quantile": "per group cell, the index of the public bin holding the q-quantile of a noisy "
                            "histogram that stays secret (epsilon-DP by post-processing)",
    "query.exact_aggregate": "TEST ONLY (exact_for_testing=True): the exact count or sum vector",
    "query.exact_quantile": "TEST ONLY (exact_for_testing=True): the exact quantile bin per group cell",
}

BITS = 64  # sums of up to 2^31 rows x 2^20 per row per party, noise, and q*1000 * counts all fit


def read_table(table, label: str | None = None):
    """A party's table as a pandas DataFrame: a CSV path or a DataFrame (or ``{column: array}`` dict)."""
    import pandas as pd

    if isinstance(table, (str, os.PathLike)):
        path = os.fspath(table)
        if not os.path.exists(path):
            raise InputError(f"{path}: no such file")
        try:
            return pd.read_csv(path, low_memory=False), path
        except pd.errors.EmptyDataError:
            raise InputError(f"{path}: empty file (a header line with the column names is needed)") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: not a readable CSV file ({' '.join(str(exc).split())})") from None
    if isinstance(table, dict):
        table = pd.DataFrame(table)
    if hasattr(table, "columns") and hasattr(table, "to_numpy"):
        return table, label or "DataFrame"
    raise InputError(f"cannot read a table from {type(table).__name__}: give a CSV path or a DataFrame")


async def query_protocol(plan: Plan, *, table, exact: bool = False, budget_file: str | None = None,
                         budget: float | None = None, budget_delta: float = 0.0) -> dict:
    """Run on every party: its own ``table`` and ``budget_file``; returns the opened vectors (on every party)."""
    frame, label = read_table(table)
    vectors = local_vectors(plan, frame, label)
    accountant = None
    if budget_file is not None and not exact:
        accountant = budgets.charged(budgets.load(budget_file, budget, budget_delta), plan)
    await core.agree(protocol="query/1", plan=plan.fingerprint(), exact=bool(exact),
                     cells=[r.cells for r in plan.releases])
    if accountant is not None:
        budgets.save(budget_file, accountant)
    shared = await _shared_releases(plan, vectors, exact)
    opened = {}
    for r in core.progress(plan.releases, desc="query releases"):
        x = shared[r.label]
        if r.role == "hist":
            opened[r.label] = await _quantile(x, plan, r, exact)
        elif exact:
            opened[r.label] = await core.open(x, what="query.exact_aggregate",
                                              why=f"{r.label}: exact aggregate, test-only switch")
        else:
            opened[r.label] = await dp.dp_open(
                x, sensitivity=r.sensitivity, epsilon=r.epsilon, delta=r.delta, mechanism=r.mechanism,
                what="query.noisy_aggregate",
                why=f"{r.label}: one row changes one of its {r.cells} values by at most {r.sensitivity:g}")
        opened[r.label] = np.asarray(opened[r.label], dtype=np.int64)
    return {"opened": opened, "contributors": len(dp.noise_contributors()),
            "budget": None if accountant is None else accountant.to_dict()}


async def _shared_releases(plan: Plan, vectors: dict, exact: bool) -> dict:
    """Every release summed over the parties, in shares: counts and sums in SecInt(64), quantile histograms
    in the smallest secure integers their comparisons need (cheaper comparisons); one input round each."""
    out = {}
    for kind, bits in (("linear", BITS), ("hist", quantile_bits(plan, exact))):
        releases = [r for r in plan.releases if (r.role == "hist") == (kind == "hist")]
        if not releases:
            continue
        total = await _share_sum(np.concatenate([vectors[r.label] for r in releases]), bits)
        offset = 0
        for r in releases:
            out[r.label] = total[offset:offset + r.cells]
            offset += r.cells
    return out


def quantile_bits(plan: Plan, exact: bool) -> int:
    """Bits of the secure integers holding the quantile histograms: 1000 x (all rows + every bin's largest
    noise, either sign) must fit, with room for the comparison's sign; the same on every party (public plan,
    m, t)."""
    hists = [r for r in plan.releases if r.role == "hist"]
    if not hists:
        return BITS
    bound = 0 if exact else max(len(dp.noise_contributors()) * dp.discrete_laplace_bound(r.sensitivity / r.epsilon)
                                for r in hists)
    bins = max(plan.queries[r.query].aggs[r.agg].bins for r in hists)
    top = QUANTILE_DIGITS * (len(mpc.parties) * MAX_ROWS + bins * bound)
    return min(BITS, top.bit_length() + 2)


async def _share_sum(local: np.ndarray, bits: int = BITS):
    """The sum over all parties of their (equal-length, public length) integer vectors, in shares."""
    secint = mpc.SecInt(bits)
    mine = secint.array(local.astype(object))
    if len(mpc.parties) == 1:
        return mine
    total = None
    for x in mpc.input(mine):
        total = x if total is None else total + x
    return total


async def _quantile(hist, plan: Plan, r, exact: bool):
    """Index of the bin holding the q-quantile, per group, selected in shares from the (noisy) histogram:
    the number of bins whose cumulative count is below q times the total (the twin: select_quantile_bin)."""
    agg = plan.queries[r.query].aggs[r.agg]
    if not exact:
        hist = hist + await dp.discrete_laplace_noise(hist.sectype, hist.shape, r.sensitivity / r.epsilon)
    prefix = mpc.np_cumsum(hist.reshape(-1, agg.bins), axis=1)
    total = prefix[:, -1:]
    below = prefix * QUANTILE_DIGITS < total * round(agg.q * QUANTILE_DIGITS)
    index = mpc.np_sum(below, axis=1)
    if exact:
        return await core.open(index, what="query.exact_quantile", why=f"{r.label}: exact, test-only switch")
    return await core.open(index, what="query.noisy_quantile", epsilon=r.epsilon, delta=0.0,
                           why=f"{r.label}: bin of the q={agg.q:g} quantile among {agg.bins} public bins of a "
                               f"histogram with discrete Laplace noise scale {r.sensitivity / r.epsilon:.6g} "
                               f"(one row changes one count by 1), selected in shares")
