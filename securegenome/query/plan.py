"""The query plan: what is released, with which sensitivity and which share of the budget.

A :class:`Query` is one result table: an optional filter, group keys with public domains, and aggregates.
A :class:`Plan` is the list of queries computed in one run, compiled into *releases*: integer vectors, one
cell per group (per group and bin for quantiles), each opened once with its own noise.  The privacy unit is
one row (one individual): adding or removing a row changes one cell of each release, by at most the
release's per-row bound.

| aggregate | releases (integer vectors, one cell per group)                        | sensitivity (per release) |
|-----------|------------------------------------------------------------------------|---------------------------|
| count     | rows (``count()``) or rows where the value is present (``count(x)``)   | 1                         |
| sum       | Σ clip(x) over present values                                          | max(|L|, |U|)             |
| mean      | present count; Σ (x − m), m = (L+U)/2                                  | 1; h = (U−L)/2            |
| var, std  | present count; Σ (x − m); Σ ((x − m)² − h²/2)                          | 1; h; h²/2                |
| quantile  | histogram of clip(x) over B public bins (kept secret; the quantile's bin is selected in the MPC) | 1 |
| histogram, crosstab | counts per (group, bin or category)                          | 1                         |

Sums are of real values rounded per row to a power-of-two grid (:func:`resolution`): each row's term is an
integer of at most ``RESOLUTION_BITS`` bits, so they add up exactly in secure integers and the plaintext twin
gets the same integers.  The budget (ε, δ) is split equally over the aggregates, and an aggregate's share
equally over its releases (basic composition: the shares add up to ε, δ).

Everything here is public arithmetic on declarations; rows are only touched in :func:`local_vectors`
(each party, its own rows) and :func:`plaintext_releases` (the twin over all rows).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from . import expr as ex

RESOLUTION_BITS = 20
"""A row's term in a sum is an integer below 2^20 in magnitude (values rounded to a grid of about 2^-20 of
their bound): sums of up to 2^31 rows per party fit SecInt(64) exactly, with room for the noise."""
MAX_ROWS = 2 ** 31
QUANTILE_BINS = 128
QUANTILE_DIGITS = 1000  # q is used as round(q * 1000) / 1000 (exact comparisons in secure integers)
AGGREGATES = ("count", "sum", "mean", "var", "std", "quantile")


@dataclass(frozen=True, eq=False)
class Agg:
    """One aggregate column of a result table."""

    func: str                 # one of AGGREGATES
    arg: ex.Expr | None       # None: count of rows
    name: str                 # the output column (SQL alias)
    q: float | None = None    # quantile level
    bins: int = QUANTILE_BINS  # quantile resolution
    ddof: int = 1             # var/std: delta degrees of freedom (pandas' default 1)

    def __str__(self):
        arg = "*" if self.arg is None else str(self.arg)
        extra = f", q={self.q:g}" if self.func == "quantile" else ""
        return f"{self.func}({arg}{extra})"


@dataclass(frozen=True, eq=False)
class Query:
    """One result table: rows passing ``where``, grouped by ``keys`` (name, expr), the aggregates ``aggs``."""

    where: ex.Expr | None
    keys: tuple = ()
    aggs: tuple = ()
    layout: str = "long"      # "long": one row per group; "crosstab": a matrix of the two keys
    title: str = ""


@dataclass
class Release:
    """One integer vector opened with its own noise (or, for a quantile, selected inside the MPC)."""

    label: str
    query: int
    agg: int
    role: str                 # "count", "sum1", "sum2", "hist"
    cells: int                # number of values (groups, or groups x quantile bins)
    term: tuple               # public bounds of one row's (real) term
    resolution: float         # integer units per unit of the value
    sensitivity: float        # in integer units
    epsilon: float = 0.0
    delta: float = 0.0

    @property
    def mechanism(self) -> str:
        return "discrete_gaussian" if self.delta > 0 else "discrete_laplace"

    def noise_sd(self, contributors: int) -> float:
        """Standard deviation of the published noise, in the units of the value (0 for exact runs)."""
        if self.epsilon == 0:
            return 0.0
        if self.mechanism == "discrete_gaussian":
            from ..core.dp import gaussian_sigma
            one = gaussian_sigma(self.sensitivity, self.epsilon, self.delta)
        else:
            b = self.sensitivity / self.epsilon
            a = math.exp(-1 / b)
            one = math.sqrt(2 * a) / (1 - a)
        return math.sqrt(contributors) * one / self.resolution


def resolution(term: tuple) -> float:
    """Integer units per unit of value: the largest power of two keeping |term| * units <= 2^RESOLUTION_BITS."""
    top = max(abs(term[0]), abs(term[1]))
    if top == 0:
        return 1.0
    return 2.0 ** (RESOLUTION_BITS - math.ceil(math.log2(top)))


@dataclass
class Context:
    """The analyst's public declarations: column bounds and group-key domains."""

    bounds: dict = field(default_factory=dict)
    domains: dict = field(default_factory=dict)


class Plan:
    """Queries compiled into releases, checked against the declarations (before any party starts)."""

    def __init__(self, queries, context: Context):
        self.queries = list(queries)
        self.context = context
        if not self.queries:
            raise InputError("nothing to compute: the plan has no aggregate")
        self.key_domains = [[self._key_domain(name, e) for name, e in q.keys] for q in self.queries]
        self.releases = [r for i, q in enumerate(self.queries) for r in self._releases(i, q)]

    # -- checking and compiling -------------------------------------------------------------------------
    def _key_domain(self, name, key: ex.Expr) -> list:
        d = ex.domain(key, self.context.domains)
        if d is None:
            raise InputError(f"group key {name!r} needs a public domain (declare its categories, e.g. "
                             f"--domain {name}:A,B or domains={{{name!r}: [...]}}, or bin it with cut): "
                             f"releasing only the groups present would reveal who is there")
        if not d:
            raise InputError(f"group key {name!r} has an empty domain")
        return d

    def groups(self, i: int) -> int:
        return math.prod(len(d) for d in self.key_domains[i])

    def _bounds(self, agg: Agg) -> tuple:
        b = ex.bounds(agg.arg, self.context.bounds)
        if b is None:
            cols = ", ".join(sorted(agg.arg.columns())) or str(agg.arg)
            raise InputError(f"{agg.name} = {agg}: needs public bounds for {cols} (declare them, e.g. "
                             f"--bounds COLUMN:LOW:HIGH, or clip the values): the noise is scaled to them")
        if not (math.isfinite(b[0]) and math.isfinite(b[1])):
            raise InputError(f"{agg.name} = {agg}: the bounds {b} are not finite")
        return b

    def _releases(self, i: int, q: Query) -> list[Release]:
        g = self.groups(i)
        out = []
        for j, agg in enumerate(q.aggs):
            if agg.func not in AGGREGATES:
                raise InputError(f"unknown aggregate {agg.func!r}; choose one of {', '.join(AGGREGATES)}")
            base = f"q{i}.{agg.name}"

            def linear(role, term, cells=g):
                r = 1.0 if role in ("count", "hist") else resolution(term)
                top = max(abs(term[0]), abs(term[1]))
                return Release(f"{base}.{role}", i, j, role, cells, term, r, max(1.0, math.ceil(top * r)))

            if agg.func == "count":
                out.append(linear("count", (0.0, 1.0)))
                continue
            if isinstance(agg.arg, ex.Cut) or agg.arg is None:
                raise InputError(f"{agg.name} = {agg}: needs a numeric expression")
            lo, hi = self._bounds(agg)
            half = (hi - lo) / 2
            if agg.func == "sum":
                out.append(linear("sum1", (lo, hi)))
            elif agg.func == "mean":
                out += [linear("count", (0.0, 1.0)), linear("sum1", (-half, half))]
            elif agg.func in ("var", "std"):
                out += [linear("count", (0.0, 1.0)), linear("sum1", (-half, half)),
                        linear("sum2", (-half * half / 2, half * half / 2))]
            else:  # quantile
                if agg.q is None or not 0 <= agg.q <= 1:
                    raise InputError(f"{agg.name}: the quantile level must be in [0, 1], not {agg.q!r}")
                if not 2 <= agg.bins <= 4096:
                    raise InputError(f"{agg.name}: quantile bins must be 2..4096, not {agg.bins}")
                if hi <= lo:
                    raise InputError(f"{agg.name}: the quantile needs bounds low < high, not ({lo:g}, {hi:g})")
                out.append(linear("hist", (0.0, 1.0), cells=g * agg.bins))
        return out

    def split_budget(self, epsilon: float, delta: float = 0.0) -> None:
        """Give every release its (ε, δ): equal shares per aggregate, then per release of the aggregate;
        δ > 0 goes to the count/sum releases (discrete Gaussian), quantiles stay pure ε-DP (Laplace)."""
        if not (isinstance(epsilon, (int, float)) and math.isfinite(epsilon) and epsilon > 0):
            raise InputError(f"epsilon must be a positive number, not {epsilon!r}")
        if not 0 <= delta < 1:
            raise InputError(f"delta must be in [0, 1), not {delta!r}")
        aggs = {(r.query, r.agg) for r in self.releases}
        gaussian = [r for r in self.releases if r.role != "hist"]
        if delta > 0 and not gaussian:
            raise InputError("delta > 0 needs a count, sum, mean or variance (quantiles are pure epsilon-DP)")
        for r in self.releases:
            siblings = sum(1 for s in self.releases if (s.query, s.agg) == (r.query, r.agg))
            r.epsilon = epsilon / len(aggs) / siblings
            r.delta = delta / len(gaussian) if delta > 0 and r.role != "hist" else 0.0

    # -- public descriptions -----------------------------------------------------------------------------
    def fingerprint(self) -> str:
        """A digest of everything public about the plan (parties compare it before sharing anything)."""
        text = repr([(r.label, r.cells, r.term, r.resolution, r.sensitivity, r.epsilon, r.delta)
                     for r in self.releases])
        text += repr([(str(q.where), [(n, str(k)) for n, k in q.keys], [str(a) for a in q.aggs])
                      for q in self.queries]) + repr(self.key_domains)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def explain(self, contributors: int = 2) -> str:
        """The plan as text: every release, its sensitivity, its share of the budget and its noise."""
        total = sum(r.epsilon for r in self.releases)
        lines = []
        for i, q in enumerate(self.queries):
            keys = ", ".join(f"{n} ({len(d)} values)" for (n, _), d in zip(q.keys, self.key_domains[i]))
            lines.append(f"query {i}: {q.title or ', '.join(a.name for a in q.aggs)}")
            lines.append(f"  rows where {q.where}" if q.where is not None else "  all rows")
            if keys:
                lines.append(f"  grouped by {keys}: {self.groups(i)} cells, every one released")
            for j, agg in enumerate(q.aggs):
                lines.append(f"  {agg.name} = {agg}")
                for r in (r for r in self.releases if (r.query, r.agg) == (i, j)):
                    share = f"{r.epsilon / total:6.1%}" if total else "     -"
                    noise = (f"noise sd {r.noise_sd(contributors):.4g}" if r.role != "hist"
                             else "histogram kept secret; only the quantile's bin is opened")
                    unit = "" if r.resolution == 1 else f" (grid 2^{-int(math.log2(r.resolution))})"
                    lines.append(f"    {r.label:32s} {r.cells:6d} values  sensitivity {self._sens(r)}{unit}  "
                                 f"epsilon {r.epsilon:.4g}{f' delta {r.delta:.3g}' if r.delta else ''} "
                                 f"({share})  {noise}")
        head = (f"plan {self.fingerprint()}: {len(self.queries)} table(s), {len(self.releases)} releases, "
                f"epsilon {total:.4g}, delta {sum(r.delta for r in self.releases):.3g}; privacy unit: one row; "
                f"noise from {contributors} contributing parties")
        return "\n".join([head, *lines])

    @staticmethod
    def _sens(r: Release) -> str:
        top = max(abs(r.term[0]), abs(r.term[1]))
        return "1 row" if r.role in ("count", "hist") else f"{top:.4g}"


# ---------------------------------------------------------------------------------------------------------
# rows -> integer vectors (each party on its own rows; the twin on all rows)

def local_vectors(plan: Plan, frame, label: str = "table") -> dict[str, np.ndarray]:
    """This party's integer vector of every release, from its own rows (a pandas DataFrame)."""
    if len(frame) > MAX_ROWS:
        raise InputError(f"{label}: more than {MAX_ROWS} rows")
    out = {}
    for i, q in enumerate(plan.queries):
        keep = np.ones(len(frame), dtype=bool)
        if q.where is not None:
            keep = ex.predicate(q.where, frame, label).astype(bool)
        cell = np.zeros(len(frame), dtype=np.int64)
        for (name, key), dom in zip(q.keys, plan.key_domains[i]):
            code = ex.key_codes(key, dom, frame, label)
            keep &= code >= 0  # rows outside the public domain belong to no group: not counted
            cell = cell * len(dom) + np.maximum(code, 0)
        g = plan.groups(i)
        for j, agg in enumerate(q.aggs):
            values = None
            if agg.arg is not None:
                values = ex.evaluate(agg.arg, frame, label)
                if agg.func != "count":
                    values = ex.numeric(agg.arg, frame, label)
            present = keep if values is None else keep & ~ex.missing(values)
            for r in (r for r in plan.releases if (r.query, r.agg) == (i, j)):
                out[r.label] = _release_vector(r, agg, values, present, cell, g, plan)
    return out


def _release_vector(r: Release, agg: Agg, values, present, cell, groups: int, plan: Plan) -> np.ndarray:
    if r.role == "count":
        return np.bincount(cell[present], minlength=groups).astype(np.int64)
    lo, hi = ex.bounds(agg.arg, plan.context.bounds)
    x = np.clip(values[present], lo, hi)
    if r.role == "hist":
        b = quantile_bin(x, lo, hi, agg.bins)
        return np.bincount(cell[present] * agg.bins + b, minlength=groups * agg.bins).astype(np.int64)
    if agg.func != "sum":
        x = x - (lo + hi) / 2
    if r.role == "sum2":
        half = (hi - lo) / 2
        x = x * x - half * half / 2
    terms = np.rint(x * r.resolution).astype(np.int64)
    return _sum_by_cell(terms, cell[present], groups)


def _sum_by_cell(terms: np.ndarray, cell: np.ndarray, groups: int) -> np.ndarray:
    out = np.zeros(groups, dtype=np.int64)
    np.add.at(out, cell, terms)
    return out


def quantile_bin(x: np.ndarray, lo: float, hi: float, bins: int) -> np.ndarray:
    """Bin of each (clipped) value among ``bins`` equal bins of [lo, hi] (hi in the last bin)."""
    b = np.floor((x - lo) / (hi - lo) * bins).astype(np.int64)
    return np.clip(b, 0, bins - 1)


def select_quantile_bin(hist: np.ndarray, q: float) -> np.ndarray:
    """The plaintext twin of the secure selection: per group (rows of ``hist``), the number of bins whose
    cumulative count is below q times the total.  On non-negative counts that is the first bin where the
    cumulative count reaches q·total; on noisy counts it needs no clamping, so empty bins add no bias."""
    prefix = np.cumsum(np.asarray(hist, dtype=object), axis=1)
    qn = round(q * QUANTILE_DIGITS)
    below = prefix * QUANTILE_DIGITS < qn * prefix[:, -1:]
    return below.sum(axis=1).astype(np.int64)


def plaintext_releases(plan: Plan, frames, labels=None) -> dict[str, np.ndarray]:
    """The twin: every release's exact vector over all parties' rows (quantiles: the selected bins)."""
    totals = None
    for k, frame in enumerate(frames):
        v = local_vectors(plan, frame, labels[k] if labels else f"table {k}")
        totals = v if totals is None else {key: totals[key] + v[key] for key in v}
    out = {}
    for r in plan.releases:
        if r.role == "hist":
            agg = plan.queries[r.query].aggs[r.agg]
            out[r.label] = select_quantile_bin(totals[r.label].reshape(-1, agg.bins), agg.q)
        else:
            out[r.label] = totals[r.label]
    return out


# ---------------------------------------------------------------------------------------------------------
# opened vectors -> result tables (public post-processing, the same for noisy and exact values)

def result_tables(plan: Plan, opened: dict[str, np.ndarray], contributors: int) -> list:
    """One pandas DataFrame per query: the group keys, each aggregate, and its ``<name>_noise_sd``."""
    import pandas as pd

    tables = []
    for i, q in enumerate(plan.queries):
        domains = plan.key_domains[i]
        grid = np.array(np.meshgrid(*[np.arange(len(d)) for d in domains], indexing="ij")).reshape(len(domains), -1) \
            if domains else np.zeros((0, 1), dtype=int)
        columns = {name: [d[k] for k in grid[n]] for n, ((name, _), d) in enumerate(zip(q.keys, domains))}
        for j, agg in enumerate(q.aggs):
            rel = {r.role: r for r in plan.releases if (r.query, r.agg) == (i, j)}
            value, sd = _aggregate(agg, rel, opened, plan, contributors)
            columns[agg.name] = value
            columns[f"{agg.name}_noise_sd"] = sd
        tables.append(pd.DataFrame(columns))
    return tables


def _aggregate(agg: Agg, rel: dict, opened: dict, plan: Plan, contributors: int):
    def get(role):
        r = rel[role]
        return np.asarray(opened[r.label], dtype=float) / r.resolution, r.noise_sd(contributors)

    if agg.func == "count":
        n, sd = get("count")
        return n, np.full(n.shape, sd)
    lo, hi = ex.bounds(agg.arg, plan.context.bounds)
    if agg.func == "sum":
        s, sd = get("sum1")
        return s, np.full(s.shape, sd)
    if agg.func == "quantile":
        index = np.asarray(opened[rel["hist"].label], dtype=float)
        width = (hi - lo) / agg.bins
        return lo + (index + 0.5) * width, np.full(index.shape, np.nan)
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    n, sd_n = get("count")
    s1, sd_1 = get("sum1")
    n_eff = np.maximum(n, 1.0)
    centred = np.clip(s1 / n_eff, -half, half)
    if agg.func == "mean":
        # delta method: mean = mid + S/N, d/dS = 1/N, d/dN = -S/N^2
        sd = np.sqrt(sd_1 ** 2 + (centred * sd_n) ** 2) / n_eff
        return mid + centred, sd
    s2, sd_2 = get("sum2")
    squares = s2 + n * half * half / 2  # Σ (x - mid)^2
    denominator = np.maximum(n - agg.ddof, 1.0)
    var = np.clip((squares - n_eff * centred ** 2) / denominator, 0.0, half * half * 4)
    # delta method on var ~ (S2 - S1^2/N)/(N - ddof), at the noisy values
    d2 = 1 / denominator
    d1 = 2 * centred / denominator
    dn = (centred ** 2 + half * half / 2 - var) / denominator
    sd_var = np.sqrt((d2 * sd_2) ** 2 + (d1 * sd_1) ** 2 + (dn * sd_n) ** 2)
    if agg.func == "var":
        return var, sd_var
    std = np.sqrt(var)
    # d sqrt(v) = dv / (2 sqrt(v)), and never more than sqrt(dv) (|sqrt(a) - sqrt(b)| <= sqrt(|a - b|))
    return std, np.minimum(sd_var / (2 * np.maximum(std, 1e-300)), np.sqrt(sd_var))
