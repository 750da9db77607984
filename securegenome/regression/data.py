"""A party's own table of rows: CSV files streamed in chunks, DataFrames, arrays; local statistics.

Every party holds rows with the same feature columns and a target column (horizontally split data).  A
table is read here, on its own party, and only aggregates computed from it enter the secure computation:

- :func:`open_table` accepts a CSV path, a pandas DataFrame, a ``{column: array}`` dict, an ``(X, y)``
  pair of arrays, or a :class:`SyntheticTable`; CSV files are parsed ``chunk_rows`` rows at a time so a
  table of 11 million rows never sits in memory;
- every chunk is checked: a non-numeric or missing cell is an :class:`~securegenome.errors.InputError`
  naming the file, the row (1-based, header excluded) and the column;
- :func:`local_moments` streams a table once into its row count, column means, centred scatter matrix and
  largest magnitudes (float64, chunks merged with Chan et al.'s pairwise update, so no cancellation from
  large column means).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

CHUNK_ROWS = 200_000


@dataclass
class Moments:
    """Row count, column means, centred scatter Σ(z-μ)(z-μ)ᵀ and max |z| of the columns z = [features, target]."""

    n: int
    mean: np.ndarray
    scatter: np.ndarray
    max_abs: np.ndarray

    def merge(self, other: Moments) -> Moments:
        if self.n == 0:
            return other
        if other.n == 0:
            return self
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.n / n)
        scatter = self.scatter + other.scatter + np.outer(delta, delta) * (self.n * other.n / n)
        return Moments(n, mean, scatter, np.maximum(self.max_abs, other.max_abs))

    @classmethod
    def of(cls, Z: np.ndarray) -> Moments:
        mean = Z.mean(axis=0)
        centred = Z - mean
        return cls(len(Z), mean, centred.T @ centred, np.abs(Z).max(axis=0))

    @classmethod
    def empty(cls, p: int) -> Moments:
        return cls(0, np.zeros(p), np.zeros((p, p)), np.zeros(p))


class Table:
    """One party's rows: the feature names, the target name and a way to stream (X, y) chunks."""

    def __init__(self, label: str, features: list[str], target: str, chunks):
        self.label = label          # for error messages: a file name or "DataFrame"
        self.features = features
        self.target = target
        self._chunks = chunks       # callable returning an iterator of (first_row, X, y)

    def chunks(self):
        """Yield ``(X, y)`` float64 chunks, every cell checked."""
        for first_row, X, y in self._chunks():
            _check_finite(self, first_row, X, y)
            yield X, y

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All rows at once (for protocols that need the rows themselves, e.g. logistic regression)."""
        parts = list(self.chunks())
        if not parts:
            return np.zeros((0, len(self.features))), np.zeros(0)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def open_table(table, target: str, features=None, *, chunk_rows: int = CHUNK_ROWS) -> Table:
    """Wrap a party's table; ``features`` (default: every column but the target) fixes the column order."""
    if isinstance(table, Table):
        return table
    if isinstance(table, SyntheticTable):
        return table.table(target, features)
    if isinstance(table, (str, os.PathLike)):
        return _csv_table(os.fspath(table), target, features, chunk_rows)
    if isinstance(table, tuple) and len(table) == 2:
        X, y = (np.asarray(a) for a in table)
        if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
            raise InputError(f"(X, y) arrays: X must be 2-D and y 1-D with as many rows, got {X.shape}, {y.shape}")
        table = {**{f"x{j}": X[:, j] for j in range(X.shape[1])}, target: y}
    if hasattr(table, "columns") and hasattr(table, "to_numpy"):  # a pandas DataFrame
        table = {str(c): table[c].to_numpy() for c in table.columns}
    if isinstance(table, dict):
        return _dict_table(table, target, features)
    raise InputError(f"cannot read a table from {type(table).__name__}: give a CSV path, a DataFrame, "
                     "a {column: array} dict or an (X, y) pair")


def _select(label: str, columns: list[str], target: str, features) -> list[str]:
    if len(set(columns)) != len(columns):
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        raise InputError(f"{label}: duplicated column names {', '.join(map(repr, duplicated))}")
    if target not in columns:
        raise InputError(f"{label}: no target column {target!r} (columns: {', '.join(map(repr, columns))})")
    if features is None:
        features = [c for c in columns if c != target]
    missing = [c for c in features if c not in columns]
    if missing:
        raise InputError(f"{label}: no feature column(s) {', '.join(map(repr, missing))}")
    if target in features:
        raise InputError(f"{label}: the target {target!r} cannot also be a feature")
    if not features:
        raise InputError(f"{label}: no feature columns besides the target {target!r}")
    return list(features)


def _dict_table(data: dict, target: str, features) -> Table:
    columns = [str(c) for c in data]
    features = _select("table", columns, target, features)
    lengths = {len(np.asarray(v)) for v in data.values()}
    if len(lengths) > 1:
        raise InputError(f"table: columns have different lengths {sorted(lengths)}")

    def numeric(name):
        values = np.asarray(data[name])
        try:
            return values.astype(float)
        except (TypeError, ValueError):
            for i, v in enumerate(values):
                try:
                    float(v)
                except (TypeError, ValueError):
                    raise InputError(f"table, row {i + 1}, column {name!r}: {v!r} is not a number") from None
            raise

    def chunks():
        X = np.column_stack([numeric(c) for c in features]) if features else None
        yield 0, X, numeric(target)

    return Table("table", features, target, chunks)


def _csv_table(path: str, target: str, features, chunk_rows: int) -> Table:
    import pandas as pd

    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    with _readable_csv(path):
        try:
            header = pd.read_csv(path, nrows=0).columns
        except pd.errors.EmptyDataError:
            raise InputError(f"{path}: empty file (a header line with the column names is needed)") from None
    columns = [str(c) for c in header]
    features = _select(path, columns, target, features)
    usecols = features + [target]

    def chunks():
        first = 0
        with _readable_csv(path):
            reader = pd.read_csv(path, usecols=usecols, chunksize=chunk_rows, engine="c", low_memory=False)
            for frame in reader:
                X, y = _numeric_chunk(path, frame, features, target, first)
                yield first, X, y
                first += len(frame)

    return Table(path, features, target, chunks)


@contextlib.contextmanager
def _readable_csv(path: str):
    """Turn pandas' parser and decoding failures (unclosed quote, bad bytes) into one-line InputErrors."""
    import pandas as pd

    try:
        yield
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV file ({' '.join(str(exc).split())})") from None


def _numeric_chunk(label, frame, features, target, first):
    """The chunk as float64 arrays; a non-numeric cell is named by row and column."""
    for name in features + [target]:
        column = frame[name]
        if column.dtype.kind not in "fiub":
            values = column.to_numpy()
            for i, v in enumerate(values):
                try:
                    float(v)
                except (TypeError, ValueError):
                    raise InputError(f"{label}, row {first + i + 1}, column {name!r}: {v!r} is not a number") \
                        from None
            frame[name] = column.astype(float)
    return frame[features].to_numpy(dtype=float), frame[target].to_numpy(dtype=float)


def _check_finite(table: Table, first: int, X: np.ndarray, y: np.ndarray) -> None:
    for values, names in ((X, table.features), (y[:, None], [table.target])):
        bad = ~np.isfinite(values)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            what = "missing" if np.isnan(values[i, j]) else f"{values[i, j]} is not a finite number"
            raise InputError(f"{table.label}, row {first + i + 1}, column {names[j]!r}: {what}")


def local_moments(table: Table) -> Moments:
    """One streaming pass: n, means, centred scatter and max |value| of the columns [features, target]."""
    total = Moments.empty(len(table.features) + 1)
    for X, y in table.chunks():
        if len(y):
            total = total.merge(Moments.of(np.column_stack([X, y])))
    return total


@dataclass
class SyntheticTable:
    """A generated linear-regression table streamed in chunks (benchmarks: 11 million rows, no file).

    Rows are ``x ~ N(0, Σ)`` with correlated columns (``Σ`` from ``seed``), ``y = xᵀw + 3 + N(0, 0.5²)``;
    party ``part`` of ``parts`` gets its own rows.  Deterministic in (seed, part).
    """

    n_rows: int
    n_features: int
    seed: int = 0
    part: int = 0
    chunk_rows: int = CHUNK_ROWS

    def weights(self) -> np.ndarray:
        return np.random.default_rng(self.seed).normal(size=self.n_features)

    def mixing(self) -> np.ndarray:
        rng = np.random.default_rng(self.seed + 1)
        return np.eye(self.n_features) + 0.3 * rng.normal(size=(self.n_features, self.n_features))

    def table(self, target: str, features=None) -> Table:
        names = [f"x{j}" for j in range(self.n_features)]
        features = _select("synthetic table", names + [target], target, features)
        if features != names:
            raise InputError("synthetic table: features are x0..x{d-1} in order")
        w, mix = self.weights(), self.mixing()

        def chunks():
            rng = np.random.default_rng([self.seed, self.part, 7])
            for first in range(0, self.n_rows, self.chunk_rows):
                m = min(self.chunk_rows, self.n_rows - first)
                X = rng.normal(size=(m, self.n_features)) @ mix
                yield first, X, X @ w + 3.0 + 0.5 * rng.normal(size=m)

        return Table(f"synthetic table part {self.part}", features, target, chunks)
