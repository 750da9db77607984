"""SQL compiled into the same plan as the frame API (parsed by sqlglot; we write no parser).

Accepted: one ``SELECT`` from one table with

- ``WHERE``: comparisons (``= <> < <= > >=``), ``IN (...)``, ``BETWEEN``, ``IS [NOT] NULL``, ``AND``, ``OR``,
  ``NOT`` over columns, numbers, strings and arithmetic (``+ - * /``, ``^`` by a whole number, ``CLIP(x, lo,
  hi)``);
- ``GROUP BY``: columns with declared domains, ``WIDTH_BUCKET(x, lo, hi, n)`` (n public bins; values outside
  [lo, hi] fall in none), or a condition; by name or by a SELECT alias;
- aggregates in the SELECT list: ``COUNT(*)``, ``COUNT(x)``, ``SUM``, ``AVG``, ``VARIANCE``/``VAR_SAMP``/
  ``VAR_POP``, ``STDDEV``/``STDDEV_SAMP``/``STDDEV_POP``, ``MEDIAN(x)``, ``QUANTILE(x, q)``,
  ``PERCENTILE_CONT(q) WITHIN GROUP (ORDER BY x)``; each over any row expression; ``AS`` names the
  output column (default: the aggregate's SQL text).

Anything else (joins, subqueries, ``HAVING``, ``ORDER BY``, ``LIMIT``, ``DISTINCT``, window functions,
arithmetic on aggregates, ...) is refused with one line naming the feature, before any party starts.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from ..errors import InputError
from . import expr as ex
from .frame import Result, SecureFrame
from .plan import QUANTILE_BINS, Agg, Query

ALLOWED_CLAUSES = {"expressions", "from", "from_", "where", "group"}
CLAUSE_NAMES = {"joins": "JOIN", "having": "HAVING", "order": "ORDER BY", "limit": "LIMIT", "offset": "OFFSET",
                "distinct": "SELECT DISTINCT", "with": "WITH", "with_": "WITH", "qualify": "QUALIFY",
                "windows": "WINDOW", "laterals": "LATERAL", "into": "INTO", "kind": "SELECT kind",
                "hint": "hints", "settings": "SETTINGS", "locks": "locks", "sample": "TABLESAMPLE"}
AGGREGATES = {exp.Count: "count", exp.Sum: "sum", exp.Avg: "mean", exp.Variance: "var", exp.VariancePop: "var",
              exp.Stddev: "std", exp.StddevSamp: "std", exp.StddevPop: "std", exp.Median: "quantile",
              exp.Quantile: "quantile", exp.PercentileCont: "quantile", exp.PercentileDisc: "quantile",
              exp.ApproxQuantile: "quantile"}
POPULATION = (exp.VariancePop, exp.StddevPop)
COMPARISONS = {exp.EQ: "==", exp.NEQ: "!=", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<="}
ARITHMETIC = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/"}


class Unsupported(InputError):
    """A SQL feature the compiler does not accept."""


def sql_results(sql: str, frame: SecureFrame, quantile_bins: int = QUANTILE_BINS) -> Result:
    """Compile one SELECT over ``frame`` into a lazy :class:`~securegenome.query.frame.Result` whose table
    has the SELECT list's columns (each aggregate followed by its ``<alias>_noise_sd``); quantiles are
    selected among ``quantile_bins`` equal public bins of their bounds."""
    try:
        statements = [s for s in sqlglot.parse(sql) if s is not None]
    except sqlglot.errors.SqlglotError as exc:
        raise InputError(f"SQL: cannot parse the query ({' '.join(str(exc).split())[:200]})") from None
    if len(statements) != 1:
        raise Unsupported(f"SQL: give exactly one SELECT statement, not {len(statements)}")
    select = statements[0]
    if not isinstance(select, exp.Select):
        raise Unsupported(f"SQL: only SELECT is supported, not {select.key.upper()}")
    for clause, value in select.args.items():
        if value and clause not in ALLOWED_CLAUSES:
            raise Unsupported(f"SQL: {CLAUSE_NAMES.get(clause, clause.upper())} is not supported")
    _check_from(select)
    where = select.args.get("where")
    condition = _row(where.this, frame) if where is not None else None
    if condition is not None and not isinstance(condition, ex.PREDICATES):
        raise InputError(f"SQL: WHERE needs a condition, not {where.this.sql()}")

    aliases = {item.alias: item.this for item in select.expressions if isinstance(item, exp.Alias)}
    keys = []
    for g in (select.args.get("group").expressions if select.args.get("group") else []):
        node = aliases.get(g.name, g) if isinstance(g, exp.Column) and g.name in aliases else g
        if _find_aggregate(node) is not None:
            raise Unsupported(f"SQL: an aggregate in GROUP BY ({g.sql()}) is not supported")
        keys.append((g.alias_or_name if isinstance(g, exp.Column) else g.sql(), node))
    key_sql = {node.sql(): name for name, node in keys}

    aggs, columns = [], []
    for item in select.expressions:
        node, name = (item.this, item.alias) if isinstance(item, exp.Alias) else (item, item.sql())
        if isinstance(node, exp.Star):
            raise Unsupported("SQL: SELECT * is not supported: name the group keys and aggregates")
        found = _find_aggregate(node)
        if found is None:
            if node.sql() not in key_sql:
                raise InputError(f"SQL: {node.sql()} must be in GROUP BY or inside an aggregate")
            columns.append((key_sql[node.sql()], name, False))
            continue
        if found is not node:
            raise Unsupported(f"SQL: arithmetic on aggregates ({node.sql()}) is not supported; compute it "
                              f"from the result")
        aggs.append(_aggregate(node, name, frame, quantile_bins))
        columns.append((name, name, True))
    if not aggs:
        raise InputError("SQL: the SELECT list has no aggregate (COUNT, SUM, AVG, ...): nothing to release")
    names = [name for name, _, _ in columns]
    if len(set(names)) != len(names):
        raise InputError("SQL: two output columns have the same name; use AS to name them apart")
    query = Query(condition, tuple((name, _row(node, frame)) for name, node in keys), tuple(aggs),
                  title=" ".join(sql.split())[:80])
    return Result(frame, query, layout=SelectLayout(columns))


class SelectLayout(str):
    """The SELECT list's output columns: (table column, output name, is an aggregate)."""

    def __new__(cls, columns):
        self = super().__new__(cls, "sql")
        self.columns = columns
        return self

    def shape(self, table):
        out = {}
        for source, name, is_aggregate in self.columns:
            out[name] = table[source]
            if is_aggregate:
                out[f"{name}_noise_sd"] = table[f"{source}_noise_sd"]
        import pandas as pd
        return pd.DataFrame(out)


def _check_from(select: exp.Select) -> None:
    source = select.args.get("from") or select.args.get("from_")
    if source is None:
        raise InputError("SQL: the query needs FROM <table>")
    if not isinstance(source.this, exp.Table) or source.this.args.get("joins"):
        raise Unsupported(f"SQL: FROM must name one table ({source.this.sql()} is not supported)")
    if isinstance(source.this.this, exp.Subquery) or source.this.find(exp.Select):
        raise Unsupported("SQL: subqueries are not supported")


def _find_aggregate(node):
    if isinstance(node, tuple(AGGREGATES)) or isinstance(node, exp.WithinGroup):
        return node
    if isinstance(node, exp.Window):
        raise Unsupported("SQL: window functions (OVER) are not supported")
    if isinstance(node, exp.AggFunc):
        raise Unsupported(f"SQL: the aggregate {node.key.upper()} is not supported")
    for child in node.iter_expressions():
        found = _find_aggregate(child)
        if found is not None:
            return found
    return None


def _aggregate(node, name: str, frame: SecureFrame, bins: int) -> Agg:
    q = None
    if isinstance(node, exp.WithinGroup):  # PERCENTILE_CONT(q) WITHIN GROUP (ORDER BY x)
        inner, order = node.this, node.expression
        if not isinstance(inner, (exp.PercentileCont, exp.PercentileDisc)) or len(order.expressions) != 1:
            raise Unsupported(f"SQL: {node.sql()} is not supported")
        q = _number(inner.this, "the quantile level")
        return Agg("quantile", _row(order.expressions[0].this, frame), name, q=q, bins=bins)
    func = AGGREGATES[type(node)]
    arg = node.this
    if isinstance(arg, exp.Distinct):
        raise Unsupported(f"SQL: {node.key.upper()}(DISTINCT ...) is not supported")
    if _find_aggregate(arg) is not None if arg is not None and not isinstance(arg, exp.Star) else False:
        raise Unsupported(f"SQL: nested aggregates ({node.sql()}) are not supported")
    if func == "count":
        return Agg("count", None if isinstance(arg, exp.Star) else _row(arg, frame), name)
    if func == "quantile":
        if isinstance(node, exp.Median):
            q = 0.5
        else:
            level = node.args.get("quantile")
            if level is None:
                raise Unsupported(f"SQL: {node.sql()} needs a quantile level")
            q = _number(level, "the quantile level")
        return Agg("quantile", _row(arg, frame), name, q=q, bins=bins)
    ddof = 0 if isinstance(node, POPULATION) else 1
    return Agg(func, _row(arg, frame), name, ddof=ddof)


def _number(node, what: str) -> float:
    if isinstance(node, exp.Neg):
        return -_number(node.this, what)
    if not (isinstance(node, exp.Literal) and not node.is_string):
        raise InputError(f"SQL: {what} must be a number, not {node.sql()}")
    return float(node.this)


def _row(node, frame: SecureFrame) -> ex.Expr:
    """A row-level SQL expression as an expression tree (columns resolved through the frame)."""
    if isinstance(node, exp.Paren):
        return _row(node.this, frame)
    if isinstance(node, exp.Column):
        if node.table:
            raise Unsupported(f"SQL: qualified column names ({node.sql()}) are not supported")
        return frame[node.name]
    if isinstance(node, exp.Literal):
        return ex.Lit(node.this if node.is_string else _parse_number(node.this))
    if isinstance(node, exp.Boolean):
        return ex.Lit(1.0 if node.this else 0.0)
    if isinstance(node, exp.Neg):
        return -_row(node.this, frame)
    if type(node) in ARITHMETIC:
        return ex.Arith(ARITHMETIC[type(node)], _row(node.this, frame), _row(node.expression, frame))
    if isinstance(node, exp.Pow):
        power = _number(node.expression, "an exponent")
        if not power.is_integer() or power < 1:
            raise Unsupported(f"SQL: only whole powers >= 1 are supported, not {node.sql()}")
        return _row(node.this, frame) ** int(power)
    if type(node) in COMPARISONS:
        return ex.Compare(COMPARISONS[type(node)], _row(node.this, frame), _row(node.expression, frame))
    if isinstance(node, exp.And):
        return ex.Logic("and", _row(node.this, frame), _row(node.expression, frame))
    if isinstance(node, exp.Or):
        return ex.Logic("or", _row(node.this, frame), _row(node.expression, frame))
    if isinstance(node, exp.Not):
        return ex.Not(_row(node.this, frame))
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        return ex.IsNull(_row(node.this, frame))
    if isinstance(node, exp.In):
        if node.args.get("query") is not None:
            raise Unsupported("SQL: IN (SELECT ...) subqueries are not supported")
        values = []
        for v in node.expressions:
            lit = _row(v, frame)
            if not isinstance(lit, ex.Lit):
                raise InputError(f"SQL: IN needs a list of constants, not {v.sql()}")
            values.append(lit.value)
        return _row(node.this, frame).isin(values)
    if isinstance(node, exp.Between):
        return _row(node.this, frame).between(_number(node.args["low"], "BETWEEN's low end"),
                                             _number(node.args["high"], "BETWEEN's high end"))
    if isinstance(node, exp.WidthBucket):
        lo = _number(node.args["min_value"], "WIDTH_BUCKET's low end")
        hi = _number(node.args["max_value"], "WIDTH_BUCKET's high end")
        n = _number(node.args["num_buckets"], "WIDTH_BUCKET's number of buckets")
        if not n.is_integer() or not 1 <= n <= 10_000 or not lo < hi:
            raise InputError(f"SQL: {node.sql()} needs low < high and 1..10000 buckets")
        return _row(node.this, frame).cut([lo + (hi - lo) * i / int(n) for i in range(int(n) + 1)])
    if isinstance(node, exp.Anonymous) and node.name.upper() == "CLIP":
        if len(node.expressions) != 3:
            raise InputError(f"SQL: CLIP takes (value, low, high), not {node.sql()}")
        x, lo, hi = node.expressions
        return _row(x, frame).clip(_number(lo, "CLIP's low end"), _number(hi, "CLIP's high end"))
    raise Unsupported(f"SQL: {node.sql()} is not supported ({type(node).__name__})")


def _parse_number(text: str):
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value
