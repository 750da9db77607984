"""Row-wise expressions: columns, literals, arithmetic, clip, binning, comparisons, ``isin``, and/or/not.

An expression is a small immutable tree, built with ordinary Python operators (``(sf.age > 50) &
sf.sex.isin([1])``, ``(sf.weight / sf.height ** 2).clip(10, 60)``) or compiled from SQL.  It is public:
every party evaluates the same tree on its *own* rows (:func:`evaluate`, with numpy over a pandas
DataFrame), so filters, clipping, derived columns and group keys never enter the MPC.

Two public facts are derived from a tree without looking at any data, from what the analyst declared:

- :func:`bounds`: an interval every row's value lies in (interval arithmetic from the columns' declared
  bounds; ``clip`` makes any expression bounded); sums, means and quantiles need it for their sensitivity;
- :func:`domain`: the finite list of values a group key can take (declared categories of a column, the
  bins of ``cut``, ``[False, True]`` for a predicate); grouping needs it, so that every group's cell is
  released whether or not any row falls into it (releasing only the groups that occur would tell who is
  there).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

ARITHMETIC = ("+", "-", "*", "/")
COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")


class Expr:
    """Base class: operators build bigger expressions (nothing is evaluated here)."""

    def _bin(self, op, other, reflected=False):
        other = as_expr(other)
        return Arith(op, other, self) if reflected else Arith(op, self, other)

    def __add__(self, other): return self._bin("+", other)
    def __radd__(self, other): return self._bin("+", other, True)
    def __sub__(self, other): return self._bin("-", other)
    def __rsub__(self, other): return self._bin("-", other, True)
    def __mul__(self, other): return self._bin("*", other)
    def __rmul__(self, other): return self._bin("*", other, True)
    def __truediv__(self, other): return self._bin("/", other)
    def __rtruediv__(self, other): return self._bin("/", other, True)
    def __neg__(self): return Arith("-", Lit(0), self)

    def __pow__(self, power):
        if not (isinstance(power, int) and power >= 1):
            raise InputError(f"only whole powers >= 1 of an expression are supported, not {power!r}")
        result = self
        for _ in range(power - 1):
            result = Arith("*", result, self)
        return result

    def _cmp(self, op, other): return Compare(op, self, as_expr(other))
    def __lt__(self, other): return self._cmp("<", other)
    def __le__(self, other): return self._cmp("<=", other)
    def __gt__(self, other): return self._cmp(">", other)
    def __ge__(self, other): return self._cmp(">=", other)
    def __eq__(self, other): return self._cmp("==", other)  # noqa: E704 (pandas-style, builds a predicate)
    def __ne__(self, other): return self._cmp("!=", other)
    __hash__ = object.__hash__

    def __and__(self, other): return Logic("and", self, as_expr(other))
    def __or__(self, other): return Logic("or", self, as_expr(other))
    def __invert__(self): return Not(self)

    def __bool__(self):
        raise InputError("an expression has no truth value before it is computed: combine predicates with "
                         "&, |, ~ (not and/or/not)")

    def isin(self, values) -> IsIn:
        """True where the value is one of ``values`` (a public list)."""
        return IsIn(self, tuple(_literal(v) for v in values))

    def between(self, low, high) -> Logic:
        """low <= value <= high (both ends included, as in pandas and SQL)."""
        return Logic("and", self >= low, self <= high)

    def clip(self, lower, upper) -> Clip:
        """Values below ``lower`` become ``lower``, above ``upper`` become ``upper`` (public bounds)."""
        return Clip(self, float(lower), float(upper))

    def cut(self, edges) -> Cut:
        """The bin of each value among public ``edges`` (like ``pandas.cut(..., right=False)``, the last bin
        closed); values outside, or missing, fall in no bin.  A group key with one category per bin."""
        return Cut(self, _check_edges(edges))

    def isnull(self) -> IsNull:
        return IsNull(self)

    def notnull(self) -> Not:
        return Not(IsNull(self))

    def columns(self) -> set[str]:
        """Names of the table columns this expression reads."""
        return set().union(*(c.columns() for c in self.children())) if self.children() else set()

    def children(self) -> tuple:
        return ()


@dataclass(frozen=True, eq=False)
class Col(Expr):
    name: str

    def columns(self):
        return {self.name}

    def __str__(self):
        return self.name


@dataclass(frozen=True, eq=False)
class Lit(Expr):
    value: object

    def __str__(self):
        return repr(self.value)


@dataclass(frozen=True, eq=False)
class Arith(Expr):
    op: str
    left: Expr
    right: Expr

    def children(self):
        return (self.left, self.right)

    def __str__(self):
        return f"({self.left} {self.op} {self.right})"


@dataclass(frozen=True, eq=False)
class Clip(Expr):
    arg: Expr
    lower: float
    upper: float

    def __post_init__(self):
        if not (math.isfinite(self.lower) and math.isfinite(self.upper) and self.lower <= self.upper):
            raise InputError(f"clip needs finite bounds lower <= upper, not ({self.lower:g}, {self.upper:g})")

    def children(self):
        return (self.arg,)

    def __str__(self):
        return f"clip({self.arg}, {self.lower:g}, {self.upper:g})"


@dataclass(frozen=True, eq=False)
class Cut(Expr):
    arg: Expr
    edges: tuple

    def children(self):
        return (self.arg,)

    def labels(self) -> list[str]:
        e = self.edges
        return [f"[{e[i]:g}, {e[i + 1]:g}" + ("]" if i == len(e) - 2 else ")") for i in range(len(e) - 1)]

    def __str__(self):
        return f"cut({self.arg}, {len(self.edges) - 1} bins {self.edges[0]:g}..{self.edges[-1]:g})"


@dataclass(frozen=True, eq=False)
class Compare(Expr):
    op: str
    left: Expr
    right: Expr

    def children(self):
        return (self.left, self.right)

    def __str__(self):
        return f"({self.left} {self.op} {self.right})"


@dataclass(frozen=True, eq=False)
class IsIn(Expr):
    arg: Expr
    values: tuple

    def children(self):
        return (self.arg,)

    def __str__(self):
        return f"{self.arg}.isin({list(self.values)!r})"


@dataclass(frozen=True, eq=False)
class IsNull(Expr):
    arg: Expr

    def children(self):
        return (self.arg,)

    def __str__(self):
        return f"{self.arg}.isnull()"


@dataclass(frozen=True, eq=False)
class Logic(Expr):
    op: str
    left: Expr
    right: Expr

    def children(self):
        return (self.left, self.right)

    def __str__(self):
        return f"({self.left} {self.op} {self.right})"


@dataclass(frozen=True, eq=False)
class Not(Expr):
    arg: Expr

    def children(self):
        return (self.arg,)

    def __str__(self):
        return f"~{self.arg}"


PREDICATES = (Compare, IsIn, IsNull, Logic, Not)


def as_expr(x) -> Expr:
    return x if isinstance(x, Expr) else Lit(_literal(x))


def _literal(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        return float(v)
    if isinstance(v, str):
        return v
    raise InputError(f"a literal must be a number or a string, not {type(v).__name__}")


def _check_edges(edges) -> tuple:
    try:
        e = tuple(float(x) for x in edges)
    except (TypeError, ValueError):
        raise InputError("bin edges must be numbers") from None
    if len(e) < 2 or not all(math.isfinite(x) for x in e) or any(b <= a for a, b in zip(e, e[1:])):
        raise InputError("bin edges must be at least 2 finite numbers in increasing order")
    return e


# ---------------------------------------------------------------------------------------------------------
# public facts: bounds and domains, from the declarations only

Bounds = tuple[float, float]


def bounds(expr: Expr, declared: dict[str, Bounds]) -> Bounds | None:
    """An interval that contains the expression's value on every row, or None if none follows from the
    declared column bounds (then it cannot be summed with a known sensitivity)."""
    if isinstance(expr, Col):
        b = declared.get(expr.name)
        return None if b is None else (float(b[0]), float(b[1]))
    if isinstance(expr, Lit):
        if isinstance(expr.value, str):
            return None
        return (float(expr.value), float(expr.value))
    if isinstance(expr, Clip):
        inner = bounds(expr.arg, declared)
        if inner is None:
            return (expr.lower, expr.upper)
        return (min(max(inner[0], expr.lower), expr.upper), max(min(inner[1], expr.upper), expr.lower))
    if isinstance(expr, PREDICATES):
        return (0.0, 1.0)
    if isinstance(expr, Arith):
        a, b = bounds(expr.left, declared), bounds(expr.right, declared)
        if a is None or b is None:
            return None
        if expr.op == "+":
            return (a[0] + b[0], a[1] + b[1])
        if expr.op == "-":
            return (a[0] - b[1], a[1] - b[0])
        if expr.op == "/":
            if b[0] <= 0 <= b[1]:
                return None  # the divisor can be 0 (or near it): no bound
            b = (1 / b[1], 1 / b[0])
        corners = [x * y for x in a for y in b]
        return (min(corners), max(corners))
    return None  # Cut: a category, not a number


def domain(expr: Expr, declared: dict[str, list]) -> list | None:
    """The public list of values a group key takes (its categories), or None if it has none."""
    if isinstance(expr, Col):
        d = declared.get(expr.name)
        return None if d is None else list(d)
    if isinstance(expr, Cut):
        return expr.labels()
    if isinstance(expr, PREDICATES):
        return [False, True]
    return None


# ---------------------------------------------------------------------------------------------------------
# local evaluation on one party's own rows

def evaluate(expr: Expr, frame, label: str = "table") -> np.ndarray:
    """The expression's value on every row of a pandas DataFrame: float64 (NaN = missing) for numbers,
    bool for predicates, object for text columns, int64 bin index (-1 = none) for ``cut``."""
    if isinstance(expr, Col):
        if expr.name not in frame.columns:
            raise InputError(f"{label}: no column {expr.name!r} (columns: {', '.join(map(repr, frame.columns))})")
        column = frame[expr.name]
        if column.dtype.kind in "fiub":
            return column.to_numpy(dtype=float)
        return column.to_numpy(dtype=object)
    if isinstance(expr, Lit):
        return np.full(len(frame), expr.value, dtype=object if isinstance(expr.value, str) else float)
    if isinstance(expr, Arith):
        a = numeric(expr.left, frame, label)
        b = numeric(expr.right, frame, label)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}[expr.op](a, b)
        out[~np.isfinite(out)] = np.nan  # x/0 is missing, as in SQL
        return out
    if isinstance(expr, Clip):
        return np.clip(numeric(expr.arg, frame, label), expr.lower, expr.upper)
    if isinstance(expr, Cut):
        return bin_index(numeric(expr.arg, frame, label), expr.edges)
    if isinstance(expr, Compare):
        return _compare(expr, frame, label)
    if isinstance(expr, IsIn):
        return codes(evaluate(expr.arg, frame, label), list(expr.values)) >= 0
    if isinstance(expr, IsNull):
        v = evaluate(expr.arg, frame, label)
        return missing(v)
    if isinstance(expr, Logic):
        a, b = predicate(expr.left, frame, label), predicate(expr.right, frame, label)
        return (a & b) if expr.op == "and" else (a | b)
    if isinstance(expr, Not):
        return ~predicate(expr.arg, frame, label)
    raise InputError(f"cannot evaluate {expr!r}")


def missing(v: np.ndarray) -> np.ndarray:
    """True where a value is missing (NaN, None)."""
    if v.dtype == object:
        import pandas as pd
        return pd.isna(v)
    if v.dtype.kind == "f":
        return np.isnan(v)
    return np.zeros(v.shape, dtype=bool)


def numeric(expr: Expr, frame, label) -> np.ndarray:
    """The expression's values as float64 (conditions as 0/1); text or a bin is an error."""
    v = evaluate(expr, frame, label)
    if v.dtype == bool:
        return v.astype(float)
    if v.dtype == object:
        raise InputError(f"{label}: {expr} is text, not a number")
    if isinstance(expr, Cut):
        raise InputError(f"{expr} is a category (a bin), not a number")
    return v


def predicate(expr: Expr, frame, label) -> np.ndarray:
    """A condition's values (bool); anything else is an error."""
    if not isinstance(expr, PREDICATES):
        raise InputError(f"{expr} is not a condition (use a comparison, isin, isnull, &, |, ~)")
    return evaluate(expr, frame, label)


def _compare(expr: Compare, frame, label) -> np.ndarray:
    a, b = evaluate(expr.left, frame, label), evaluate(expr.right, frame, label)
    if a.dtype == object or b.dtype == object:  # text: equality only, against the text of the values
        if expr.op not in ("==", "!="):
            raise InputError(f"{expr}: text can only be compared with == and !=")
        equal = _as_text(a) == _as_text(b)
        absent = missing(a) | missing(b)
        return (equal if expr.op == "==" else ~equal) & ~absent
    with np.errstate(invalid="ignore"):
        out = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
               "==": np.equal, "!=": np.not_equal}[expr.op](a, b)
    return out & ~(np.isnan(a) | np.isnan(b))  # a comparison with a missing value is false (SQL, pandas)


def _as_text(v: np.ndarray) -> np.ndarray:
    return np.array([_text(x) for x in v], dtype=object)


def _text(x) -> str:
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


def bin_index(values: np.ndarray, edges) -> np.ndarray:
    """Bin of each value among increasing edges: [e_i, e_i+1), the last bin closed; -1 outside or missing."""
    edges = np.asarray(edges, dtype=float)
    index = np.searchsorted(edges, values, side="right") - 1
    index[values == edges[-1]] = len(edges) - 2
    index[(values < edges[0]) | (values > edges[-1]) | np.isnan(values)] = -1
    return index.astype(np.int64)


def codes(values: np.ndarray, categories: list) -> np.ndarray:
    """Index of each value in a public category list (-1: not one of them, or missing).  Numbers compare
    as numbers when every category is a number (so 1, 1.0 and "1" in a CSV all match 1), else as text."""
    out = np.full(len(values), -1, dtype=np.int64)
    if values.dtype == bool:
        values = values.astype(float)
    if all(isinstance(c, (int, float)) for c in categories):  # bools are numbers too
        import pandas as pd
        numbers_ = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
        for k, c in enumerate(categories):
            out[(numbers_ == float(c)) & (out < 0)] = k
        return out
    text = _as_text(values)
    absent = missing(values)
    lookup = {_text(c): k for k, c in reversed(list(enumerate(categories)))}
    for i, t in enumerate(text):
        if not absent[i]:
            out[i] = lookup.get(t, -1)
    return out


def key_codes(expr: Expr, categories: list, frame, label) -> np.ndarray:
    """Category index of each row for a group key (-1: the row falls in no public category)."""
    if isinstance(expr, Cut):
        return evaluate(expr, frame, label)
    if isinstance(expr, PREDICATES):
        return evaluate(expr, frame, label).astype(np.int64)
    return codes(evaluate(expr, frame, label), categories)
