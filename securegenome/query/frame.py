"""A lazy, pandas-like frame over the parties' tables: build a query, look at its plan, then compute it.

    from securegenome.query import SecureFrame, compute
    sf = SecureFrame([df_a, df_b, df_c], bounds={"age": (0, 120)}, domains={"sex": [1, 2]})
    old = sf[(sf.age > 50) & sf.ph_ecog.isin([0, 1])]
    old["decade"] = old.age.cut(range(0, 130, 10))
    by_sex = old.groupby("sex").agg(n=("age", "count"), mean_age=("age", "mean"), sd=("age", "std"))
    by_sex.explain(epsilon=1.0)                         # prints the plan
    table = by_sex.compute(epsilon=1.0)                 # 3 party processes, one per table
    many = compute([by_sex, sf.median("age"), sf.crosstab("sex", "decade")], epsilon=1.0)

Nothing touches the data until :meth:`Result.compute` (or :func:`compute` for several results under one
budget).  Each party then evaluates the filters, derived columns and group keys on its own rows; only the
aggregates enter the MPC, with noise (see :mod:`securegenome.query.protocol`).  Results are DataFrames like
pandas': grouped results indexed by the keys, with a ``<column>_noise_sd`` beside every aggregate column.
"""

from __future__ import annotations

import copy
import os

from .. import core
from ..errors import InputError
from . import expr as ex
from .plan import QUANTILE_BINS, Agg, Context, Plan, Query, plaintext_releases, result_tables

FUNCS = {"count": "count", "size": "count", "sum": "sum", "mean": "mean", "avg": "mean", "var": "var",
         "std": "std", "median": "quantile", "quantile": "quantile"}


class SecureFrame:
    """The union of the parties' rows, as a lazy frame.

    ``party_tables``: one table per party (CSV path, DataFrame or ``{column: array}``), as a list (party i
    gets entry i) or a dict ``{party_id: table}``; in a multi-host run only this party's own table.
    ``bounds``: public ``{column: (low, high)}`` for the numeric columns that are summed, averaged or
    ranked (values are clipped to them); ``domains``: public ``{column: [categories]}`` for group keys.
    """

    def __init__(self, party_tables, *, bounds: dict | None = None, domains: dict | None = None):
        if isinstance(party_tables, dict):
            self._tables = {int(k): v for k, v in party_tables.items()}
        elif isinstance(party_tables, (list, tuple)):
            self._tables = dict(enumerate(party_tables))
        else:
            self._tables = {0: party_tables}
        if not self._tables:
            raise InputError("SecureFrame needs at least one party table")
        self.context = Context({k: _check_bounds(k, v) for k, v in (bounds or {}).items()},
                               {k: list(v) for k, v in (domains or {}).items()})
        self._where = None
        self._derived: dict[str, ex.Expr] = {}
        self._visible: set[str] | None = None  # None: every column of the tables

    # -- frame operations (each returns a new lazy frame) -----------------------------------------------
    def _copy(self) -> SecureFrame:
        new = copy.copy(self)
        new._derived = dict(self._derived)
        new._visible = None if self._visible is None else set(self._visible)
        return new

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, key):
        if isinstance(key, str):
            return self._column(key)
        if isinstance(key, list):
            new = self._copy()
            for name in key:
                self._column(name)
            new._visible = set(key)
            return new
        if isinstance(key, ex.Expr):
            if not isinstance(key, ex.PREDICATES):
                raise InputError(f"a row filter must be a condition, not {key}")
            new = self._copy()
            new._where = key if self._where is None else ex.Logic("and", self._where, key)
            return new
        raise InputError(f"cannot index a SecureFrame with {type(key).__name__}")

    def __setitem__(self, name: str, value):
        self._derived[name] = ex.as_expr(value)
        if self._visible is not None:
            self._visible.add(name)

    def assign(self, **columns) -> SecureFrame:
        """A frame with derived columns added (expressions of existing ones)."""
        new = self._copy()
        for name, value in columns.items():
            new[name] = value(new) if callable(value) else value
        return new

    def _column(self, name: str) -> ex.Expr:
        if name in self._derived:
            return self._derived[name]
        if self._visible is not None and name not in self._visible:
            raise InputError(f"unknown column {name!r}: not among the selected columns "
                             f"{', '.join(map(repr, sorted(self._visible)))}")
        return ex.Col(name)

    def _arg(self, column) -> ex.Expr | None:
        if column is None:
            return None
        return self._column(column) if isinstance(column, str) else ex.as_expr(column)

    # -- aggregates (lazy results) ----------------------------------------------------------------------
    def groupby(self, by) -> GroupBy:
        """Group by column names or key expressions with public domains (``sf.age.cut(edges)`` etc.)."""
        by = [by] if isinstance(by, (str, ex.Expr)) else list(by)
        keys = tuple((b if isinstance(b, str) else str(b), self._arg(b)) for b in by)
        return GroupBy(self, keys)

    def agg(self, **named) -> Result:
        """Named aggregation over all rows: ``agg(n=("age", "count"), m=("age", "mean"))``."""
        return GroupBy(self, ()).agg(**named)

    def count(self) -> Result:
        return self._single("count", None, "count")

    def sum(self, column) -> Result:
        return self._single("sum", column)

    def mean(self, column) -> Result:
        return self._single("mean", column)

    def var(self, column, ddof: int = 1) -> Result:
        return self._single("var", column, ddof=ddof)

    def std(self, column, ddof: int = 1) -> Result:
        return self._single("std", column, ddof=ddof)

    def median(self, column, bins: int = QUANTILE_BINS) -> Result:
        return self._single("quantile", column, q=0.5, bins=bins, name=f"median({_name(column)})")

    def quantile(self, column, q: float, bins: int = QUANTILE_BINS) -> Result:
        return self._single("quantile", column, q=float(q), bins=bins)

    def _single(self, func, column, name=None, **options) -> Result:
        return GroupBy(self, ())._agg([(name or _name(column), func, column, options)])

    def histogram(self, column, bins) -> Result:
        """Counts of the values in public bins (``bins``: the edges); values outside are not counted."""
        key = self._arg(column).cut(bins)
        query = Query(self._where, ((_name(column), key),), (Agg("count", None, "count"),),
                      title=f"histogram of {_name(column)}")
        return Result(self, query, layout="histogram")

    def crosstab(self, index, columns) -> Result:
        """Counts of every pair of categories (both keys with public domains), as a matrix like
        ``pandas.crosstab``; the noise sd of every cell is in ``result.attrs["noise_sd"]``."""
        keys = ((_name(index), self._arg(index)), (_name(columns), self._arg(columns)))
        query = Query(self._where, keys, (Agg("count", None, "count"),),
                      title=f"crosstab of {_name(index)} x {_name(columns)}")
        return Result(self, query, layout="crosstab")


class GroupBy:
    """A grouped frame: ``.agg(...)``, ``["col"].mean()`` and friends."""

    def __init__(self, frame: SecureFrame, keys: tuple):
        self.frame, self.keys = frame, keys

    def agg(self, **named) -> Result:
        specs = []
        for name, spec in named.items():
            if not (isinstance(spec, tuple) and len(spec) in (2, 3)):
                raise InputError(f"{name}: give (column, function) or (column, 'quantile', q), not {spec!r}")
            column, func = spec[0], spec[1]
            options = {"q": float(spec[2])} if len(spec) == 3 else {}
            if func == "median":
                options["q"] = 0.5
            specs.append((name, func, column, options))
        return self._agg(specs)

    def _agg(self, specs) -> Result:
        aggs = []
        for name, func, column, options in specs:
            if func not in FUNCS:
                raise InputError(f"{name}: unknown aggregate {func!r}; choose one of {', '.join(sorted(FUNCS))}")
            arg = self.frame._arg(column)
            if func == "size":
                arg = None
            aggs.append(Agg(FUNCS[func], arg, name, **options))
        return Result(self.frame, Query(self.frame._where, self.keys, tuple(aggs)))

    def count(self) -> Result:
        return self._agg([("count", "count", None, {})])

    def __getitem__(self, column) -> _GroupedColumn:
        return _GroupedColumn(self, column)


class _GroupedColumn:
    def __init__(self, groupby: GroupBy, column):
        self.groupby, self.column = groupby, column

    def _one(self, func, **options) -> Result:
        return self.groupby._agg([(_name(self.column), func, self.column, options)])

    def count(self): return self._one("count")
    def sum(self): return self._one("sum")
    def mean(self): return self._one("mean")
    def var(self, ddof=1): return self._one("var", ddof=ddof)
    def std(self, ddof=1): return self._one("std", ddof=ddof)
    def median(self, bins=QUANTILE_BINS): return self._one("quantile", q=0.5, bins=bins)
    def quantile(self, q, bins=QUANTILE_BINS): return self._one("quantile", q=float(q), bins=bins)


class Result:
    """A lazy result table: :meth:`explain` shows its plan, :meth:`compute` runs it."""

    def __init__(self, frame: SecureFrame, query: Query, layout: str = "frame"):
        self.frame, self.query, self.layout = frame, query, layout

    def explain(self, epsilon: float, delta: float = 0.0, parties: int | None = None) -> None:
        """Print the plan: every release, its sensitivity, its share of ε and its noise (nothing runs)."""
        print(explain([self], epsilon, delta, parties))

    def compute(self, epsilon: float, delta: float = 0.0, **options):
        """Run the query (see :func:`compute` for the options); returns a pandas DataFrame."""
        return compute([self], epsilon, delta, **options)[0]

    def plaintext(self):
        """The exact answer over all the tables given (the plaintext twin; needs every party's table)."""
        return plaintext([self])[0]

    def shape(self, table):
        """The flat table of :func:`~securegenome.query.plan.result_tables` in this result's layout."""
        names = [n for n, _ in self.query.keys]
        if hasattr(self.layout, "shape"):  # SQL: the SELECT list's columns
            return self.layout.shape(table)
        if self.layout == "crosstab":
            matrix = table.pivot(index=names[0], columns=names[1], values="count")
            matrix.attrs["noise_sd"] = float(table["count_noise_sd"].iloc[0])
            return matrix
        if self.layout == "histogram" or not names:
            return table
        return table.set_index(names)


def _name(column) -> str:
    return column if isinstance(column, str) else str(column)


def _check_bounds(column, b) -> tuple:
    try:
        lo, hi = (float(x) for x in b)
    except (TypeError, ValueError):
        raise InputError(f"bounds of {column!r} must be (low, high), not {b!r}") from None
    if not lo <= hi:
        raise InputError(f"bounds of {column!r} must have low <= high, not ({lo:g}, {hi:g})")
    return lo, hi


# ---------------------------------------------------------------------------------------------------------
# several results under one budget

def make_plan(results: list[Result], epsilon: float, delta: float = 0.0) -> Plan:
    """The plan of several results over the same frame's tables, with the budget split."""
    if not results:
        raise InputError("nothing to compute")
    frame = results[0].frame
    for r in results[1:]:
        if r.frame._tables is not frame._tables or r.frame.context != frame.context:
            raise InputError("results computed together must come from the same SecureFrame")
    plan = Plan([r.query for r in results], frame.context)
    plan.split_budget(epsilon, delta)
    return plan


def explain(results: list[Result], epsilon: float, delta: float = 0.0, parties: int | None = None) -> str:
    """The plan of ``results`` as text: every release, its sensitivity, its ε share and its noise."""
    plan = make_plan(results, epsilon, delta)
    m = parties or len(results[0].frame._tables)
    return plan.explain(contributors=(m - 1) // 2 + 1)


def compute(results: list[Result], epsilon: float, delta: float = 0.0, **options) -> list:
    """Run ``results`` in one secure computation under one budget (ε, δ); one DataFrame each.

    Options (see :func:`run_plan`): ``accountant``, ``budget_files``, ``budget``, ``budget_delta``,
    ``exact_for_testing`` and the :func:`securegenome.core.run` session options (``parties``,
    ``threshold``, ``hosts``, ``party_id``, ``timeout``, ``sync``, TLS ...).
    """
    return run_plan(results, epsilon, delta, **options)[0]


def run_plan(results: list[Result], epsilon: float, delta: float = 0.0, *, accountant=None,
             budget_files: dict | None = None, budget: float | None = None, budget_delta: float = 0.0,
             exact_for_testing: bool = False, **session) -> tuple[list, list]:
    """:func:`compute`, also returning the parties' :class:`~securegenome.core.PartyResult` list (ledger,
    bytes, time).

    - ``accountant``: a :class:`~securegenome.core.PrivacyAccountant` kept by the caller: the plan is
      refused before any party starts if it does not fit, and charged after the run;
    - ``budget_files``: ``{party_id: path}``, each party's own budget file (created with ``budget``,
      ``budget_delta`` if missing), checked and charged by that party before anything is shared;
    - ``exact_for_testing``: TEST ONLY — open the aggregates without noise (for comparison with the
      plaintext twin); nothing is charged.
    """
    from . import budget as budgets
    from .protocol import query_protocol

    tables = results[0].frame._tables
    check_tables(results)
    plan = make_plan(results, epsilon, delta)
    hosts = session.get("hosts")
    parties = len(hosts) if hosts else session.pop("parties", None) or len(tables)
    if hosts:
        if set(tables) != {session.get("party_id")}:
            raise InputError("a multi-host run takes only this party's own table")
    elif set(tables) != set(range(parties)):
        raise InputError(f"give one table for each of the {parties} parties (got parties {sorted(tables)})")
    if not exact_for_testing:
        if accountant is not None:
            budgets.charged(accountant, plan)
        for pid, path in (budget_files or {}).items():  # each local party's file, before any party starts
            budgets.charged(budgets.load(path, budget, budget_delta), plan)
    private = {pid: {"table": t, "budget_file": (budget_files or {}).get(pid)} for pid, t in tables.items()}
    if not hosts:
        session["parties"] = parties
    party_results = core.run(query_protocol, kwargs={"plan": plan, "exact": exact_for_testing, "budget": budget,
                                                     "budget_delta": budget_delta}, private=private, **session)
    if accountant is not None and not exact_for_testing:
        accountant.absorb(party_results)
    value = party_results[0].value
    if exact_for_testing:
        for release in plan.releases:
            release.epsilon = 0.0  # no noise was added: noise sd 0
    flat = result_tables(plan, value["opened"], value["contributors"])
    return [r.shape(t) for r, t in zip(results, flat)], party_results


def check_tables(results: list[Result]) -> None:
    """Refuse results naming a column that a (local) party table lacks, before any party starts."""
    from .protocol import read_table

    for table in results[0].frame._tables.values():
        check_columns([r.query for r in results], table, read_table)


def check_columns(queries: list[Query], table, read_table) -> None:
    """Refuse queries naming a column the (local) table does not have, reading only its header."""
    import pandas as pd

    if isinstance(table, (str, os.PathLike)):
        frame, label = read_table(pd.read_csv(os.fspath(table), nrows=0) if os.path.exists(table) else table)
        label = os.fspath(table)
    else:
        frame, label = read_table(table)
    have = set(map(str, frame.columns))
    for q in queries:
        parts = [q.where] + [k for _, k in q.keys] + [a.arg for a in q.aggs]
        for e in parts:
            for name in sorted(e.columns()) if e is not None else ():
                if name not in have:
                    raise InputError(f"unknown column {name!r} ({label} has {', '.join(map(repr, frame.columns))})")


def plaintext(results: list[Result]) -> list:
    """The plaintext twin: exact answers over the union of the tables (no noise, no MPC)."""
    from .protocol import read_table

    plan = make_plan(results, 1.0)
    for r in plan.releases:
        r.epsilon = 0.0  # noise sd 0 in the result
    frames = [read_table(t) for _, t in sorted(results[0].frame._tables.items())]
    opened = plaintext_releases(plan, [f for f, _ in frames], [label for _, label in frames])
    flat = result_tables(plan, opened, 1)
    return [r.shape(t) for r, t in zip(results, flat)]
