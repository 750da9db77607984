"""A party's table for tree learning: numeric and categorical columns, encoded as integer codes.

Trees only compare values, so every value enters the secure computation as an integer *code*:

- numeric column: ``code = round(x * 2**frac_bits) + 2**(value_bits - 1)``, a ``value_bits``-bit
  non-negative integer (the public fixed-point scale; a value outside the range is an
  :class:`~securegenome.errors.InputError` naming file, row and column on its own party);
- categorical column (strings, or named in ``categorical``): the index of the value in the sorted list of
  categories, agreed by all parties (the *schema*);
- the target: the index of the label in the sorted list of classes (also schema).

The schema (feature names, which are categorical, the category and class names) is public: every party
sends the names it holds to the others before the run (``schema`` in docs/trees.md), as a shared header
would.  Nothing else about the rows leaves the party here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

DEFAULT_FRAC_BITS = 16
DEFAULT_VALUE_BITS = 32


@dataclass
class PartyTable:
    """One party's rows as read: column name -> values (floats for numeric, strings for categorical)."""

    label: str
    features: list[str]
    target: str
    columns: dict
    categorical: list[str]

    @property
    def n(self) -> int:
        return len(self.columns[self.target])


@dataclass
class Schema:
    """Public description of the encoded table (the same on every party)."""

    features: list[str]
    categories: dict[str, list[str]]          # categorical feature -> its category names, sorted
    classes: list
    frac_bits: int = DEFAULT_FRAC_BITS
    value_bits: int = DEFAULT_VALUE_BITS
    extra: dict = field(default_factory=dict)

    def is_categorical(self, j: int) -> bool:
        return self.features[j] in self.categories

    def code_bits(self, j: int) -> int:
        """Bit length of feature j's codes."""
        if self.is_categorical(j):
            return max(1, (len(self.categories[self.features[j]]) - 1).bit_length())
        return self.value_bits

    def encode_numeric(self, values: np.ndarray, name: str, label: str = "X") -> np.ndarray:
        scaled = np.rint(np.asarray(values, dtype=float) * 2.0 ** self.frac_bits)
        half = 2 ** (self.value_bits - 1)
        bad = ~np.isfinite(scaled) | (scaled < -half) | (scaled >= half)
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(f"{label}, row {i + 1}, column {name!r}: {values[i]!r} does not fit "
                             f"{self.value_bits}-bit codes with {self.frac_bits} fraction bits")
        return scaled.astype(np.int64) + half

    def decode_numeric(self, code) -> float:
        return (int(code) - 2 ** (self.value_bits - 1)) / 2.0 ** self.frac_bits

    def encode_column(self, j: int, values, label: str = "X") -> np.ndarray:
        name = self.features[j]
        if not self.is_categorical(j):
            return self.encode_numeric(values, name, label)
        index = {c: k for k, c in enumerate(self.categories[name])}
        out = np.empty(len(values), dtype=np.int64)
        for i, v in enumerate(values):
            code = index.get(_category(v))
            if code is None:
                raise InputError(f"{label}, row {i + 1}, column {name!r}: unknown category {v!r}")
            out[i] = code
        return out

    def encode_features(self, columns: dict, label: str = "X") -> np.ndarray:
        """(n, d) int64 codes of the feature columns."""
        n = len(next(iter(columns.values()))) if columns else 0
        if not self.features:
            return np.zeros((n, 0), dtype=np.int64)
        return np.column_stack([self.encode_column(j, columns[f], label) for j, f in enumerate(self.features)])

    def encode_target(self, values, label: str = "y") -> np.ndarray:
        index = {c: k for k, c in enumerate(self.classes)}
        out = np.empty(len(values), dtype=np.int64)
        for i, v in enumerate(values):
            code = index.get(_label(v))
            if code is None:
                raise InputError(f"{label}, row {i + 1}: unknown class {v!r}")
            out[i] = code
        return out

    def threshold_value(self, j: int, code: int):
        """The public meaning of 'code <= threshold' for feature j: a number, or the last category."""
        if self.is_categorical(j):
            return self.categories[self.features[j]][int(code)]
        return self.decode_numeric(code)

    def to_dict(self) -> dict:
        return {"features": self.features, "categories": self.categories, "classes": self.classes,
                "frac_bits": self.frac_bits, "value_bits": self.value_bits}


def _category(v) -> str:
    return str(v)


def _label(v):
    """Class labels: integers stay integers (sklearn-like), everything else is a string."""
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return int(v)
    return str(v)


def read_table(table, target: str, features=None, categorical=None) -> PartyTable:
    """A party's table from a CSV path, DataFrame, ``{column: values}`` dict or ``(X, y)`` pair.

    Columns that are not numbers are categorical; ``categorical`` names more (integer-coded categories),
    or is ``"all"``.
    Missing cells are an :class:`InputError` naming file, row and column.
    """
    import pandas as pd

    label = "table"
    if isinstance(table, PartyTable):
        return table
    if isinstance(table, (str, os.PathLike)):
        label = os.fspath(table)
        if not os.path.exists(label):
            raise InputError(f"{label}: no such file")
        try:
            frame = pd.read_csv(label, dtype=str, keep_default_na=False, skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InputError(f"{label}: not a readable CSV file ({' '.join(str(exc).split())})") from None
        data = {str(c): frame[c].to_numpy() for c in frame.columns}
    elif isinstance(table, tuple) and len(table) == 2:
        X, y = np.asarray(table[0]), np.asarray(table[1])
        if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
            raise InputError(f"(X, y): X must be 2-D and y 1-D with as many rows, got {X.shape}, {y.shape}")
        data = {**{f"x{j}": X[:, j] for j in range(X.shape[1])}, target: y}
    elif hasattr(table, "columns") and hasattr(table, "to_numpy"):
        data = {str(c): table[c].to_numpy() for c in table.columns}
    elif isinstance(table, dict):
        data = {str(k): np.asarray(v) for k, v in table.items()}
    else:
        raise InputError(f"cannot read a table from {type(table).__name__}: give a CSV path, a DataFrame, "
                         "a {column: values} dict or an (X, y) pair")
    names = list(data)
    if target not in names:
        raise InputError(f"{label}: no target column {target!r} (columns: {', '.join(map(repr, names))})")
    features = [c for c in names if c != target] if features is None else list(features)
    missing = [c for c in features if c not in names]
    if missing:
        raise InputError(f"{label}: no feature column(s) {', '.join(map(repr, missing))}")
    if target in features or not features:
        raise InputError(f"{label}: give feature columns other than the target {target!r}")
    lengths = {len(data[c]) for c in features + [target]}
    if len(lengths) > 1:
        raise InputError(f"{label}: columns have different lengths {sorted(lengths)}")
    categorical = list(features) if categorical == "all" else list(categorical or [])
    unknown = [c for c in categorical if c not in features]
    if unknown:
        raise InputError(f"{label}: categorical column(s) {', '.join(map(repr, unknown))} are not features")
    columns = {}
    for name in features + [target]:
        values = data[name]
        _check_present(label, name, values)
        if name == target:
            columns[name] = np.array([_label(_number_or_text(v)) for v in values], dtype=object)
        elif name in categorical:
            columns[name] = np.array([_category(_number_or_text(v)) for v in values], dtype=object)
        else:
            numeric = _as_float(values)
            if numeric is None:
                categorical.append(name)
                columns[name] = np.array([_category(v) for v in values], dtype=object)
            else:
                columns[name] = numeric
    return PartyTable(label, features, target, columns, [c for c in features if c in categorical])


def _number_or_text(v):
    """CSV cells arrive as text: '3' -> 3, '2.0' -> 2, 'a' -> 'a'."""
    if isinstance(v, str):
        try:
            f = float(v)
        except ValueError:
            return v.strip()
        return int(f) if f.is_integer() else v.strip()
    return v


def _as_float(values):
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return None


def _check_present(label, name, values):
    for i, v in enumerate(values):
        if v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and np.isnan(v)):
            raise InputError(f"{label}, row {i + 1}, column {name!r}: missing value")


def local_schema_part(table: PartyTable) -> dict:
    """What this party contributes to the public schema: names, categorical columns, categories, labels."""
    return {"features": table.features, "target": table.target, "categorical": sorted(table.categorical),
            "categories": {c: sorted(set(table.columns[c])) for c in table.categorical},
            "classes": sorted(set(table.columns[table.target]), key=_sort_key)}


def _sort_key(v):
    return (isinstance(v, str), v)


def merge_schema(parts: list[dict], frac_bits: int, value_bits: int) -> Schema:
    """The public schema from every party's part; tables that disagree on columns are an InputError."""
    first = parts[0]
    for i, p in enumerate(parts[1:], start=1):
        if p["features"] != first["features"] or p["target"] != first["target"]:
            raise InputError(f"party {i}'s table has columns {p['features']} / target {p['target']!r}, party 0's "
                             f"{first['features']} / {first['target']!r}: all parties need the same columns")
    categorical = sorted(set().union(*(p["categorical"] for p in parts)))
    categories = {c: sorted(set().union(*(p["categories"].get(c, []) for p in parts))) for c in categorical}
    classes = sorted(set().union(*(p["classes"] for p in parts)), key=_sort_key)
    return Schema(list(first["features"]), {c: categories[c] for c in first["features"] if c in categories},
                  classes, frac_bits, value_bits)


def schema_for(tables: list[PartyTable], frac_bits: int = DEFAULT_FRAC_BITS,
               value_bits: int = DEFAULT_VALUE_BITS) -> Schema:
    """The schema of several tables read in one place (the plaintext twin, tests)."""
    parts = [local_schema_part(t) for t in tables]
    categorical = sorted(set().union(*(p["categorical"] for p in parts)))
    for t in tables:  # a column categorical somewhere is categorical everywhere
        for c in categorical:
            if c not in t.categorical:
                t.columns[c] = np.array([_category(_number_or_text(v)) for v in t.columns[c]], dtype=object)
                t.categorical.append(c)
    return merge_schema([local_schema_part(t) for t in tables], frac_bits, value_bits)


def encoded(table: PartyTable, schema: Schema) -> tuple[np.ndarray, np.ndarray]:
    """(codes (n, d), class codes (n,)) of a party's table under the public schema."""
    for c in schema.categories:
        if c not in table.categorical:
            table.columns[c] = np.array([_category(_number_or_text(v)) for v in table.columns[c]], dtype=object)
            table.categorical.append(c)
    return (schema.encode_features(table.columns, table.label),
            schema.encode_target(table.columns[table.target], table.label))
