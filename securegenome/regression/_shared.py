"""Steps every regression protocol starts with: agree on columns and options, learn the public row counts."""

from __future__ import annotations

import numpy as np

from .. import core
from ..core import mpc
from ..errors import InputError
from .data import Table


async def agree_on_table(table: Table, **options) -> None:
    """All parties check they use the same feature columns (in order), target and options."""
    await core.agree(features=list(table.features), target=table.target, **options)


async def party_sizes(n_local: int) -> list[int]:
    """Every party's row count (public: sizes are public parameters of a run)."""
    return [int(await core.share_public(n_local if mpc.pid == i else None, sender=i))
            for i in range(len(mpc.parties))]


def check_shape(sizes: list[int], n_features: int) -> int:
    """Total rows; more features than rows is an error on every party (all know the sizes)."""
    n = sum(sizes)
    if n <= n_features:
        raise InputError(f"{n} rows in total for {n_features} features: need more rows than features "
                         f"(rows per party: {sizes})")
    return n


class FittedModel:
    """What the estimators share on top of sklearn's BaseEstimator: prediction from the fitted linear model.

    The arithmetic is sklearn's (``X @ coef_.T + intercept_``), so :meth:`to_sklearn` copies give identical
    predictions.
    """

    def _check_fitted(self):
        if not hasattr(self, "coef_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(...) first")

    def _set_features(self, names) -> None:
        self.feature_names_in_ = np.array(names, dtype=object)
        self.n_features_in_ = len(names)

    def _named_features(self) -> bool:
        """Whether the features had names of their own (not the x0, x1, ... given to bare arrays)."""
        return list(self.feature_names_in_) != [f"x{j}" for j in range(self.n_features_in_)]

    def _copy_fitted(self, model, **extra):
        """``model`` (an unfitted sklearn estimator) with this model's fitted coefficients."""
        model.coef_ = self.coef_.copy()
        model.intercept_ = np.array(self.intercept_, copy=True) if np.ndim(self.intercept_) else self.intercept_
        model.n_features_in_ = self.n_features_in_
        if self._named_features():
            model.feature_names_in_ = self.feature_names_in_.copy()
        for name, value in extra.items():
            setattr(model, name, value)
        return model

    def decision_function(self, X):
        """``X @ coef_.T + intercept_``; a DataFrame is matched by column name (the fitted feature names)."""
        self._check_fitted()
        if hasattr(X, "columns"):
            missing = [c for c in self.feature_names_in_ if c not in X.columns]
            if missing:
                raise InputError(f"X lacks the feature column(s) {', '.join(map(str, missing))}")
            X = X[list(self.feature_names_in_)]
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise InputError(f"X must have {self.n_features_in_} feature columns, got shape {X.shape}")
        scores = X @ self.coef_.T + self.intercept_
        return scores.ravel() if scores.ndim == 2 and scores.shape[1] == 1 else scores


def tables_for_fit(X, y, target: str, parties: int | None) -> tuple[list, int]:
    """The fit's tables, one per party, and the party count, from ``fit(tables)`` or ``fit(X, y)``.

    Without ``y``, ``X`` holds the parties' tables (see :func:`tables_per_party`).  With ``y``: lists
    ``[X_0, X_1, ...]`` and ``[y_0, y_1, ...]`` are per-party rows; a single array or DataFrame ``X`` with
    its ``y`` is dealt to ``parties`` parties (default 1) in contiguous blocks — a simulation for sklearn
    tools (``cross_val_score``, ``clone``); in a real deployment each party passes only its own table.
    """
    if y is None:
        return tables_per_party(X, parties)
    if isinstance(X, list) and isinstance(y, list):
        if len(X) != len(y):
            raise InputError(f"{len(X)} feature tables but {len(y)} targets: give one of each per party")
        return tables_per_party([_with_target(Xi, yi, target) for Xi, yi in zip(X, y)], parties)
    parties = parties or 1
    n = len(y)
    bounds = [n * i // parties for i in range(parties + 1)]
    tables = [_with_target(_rows(X, bounds[i], bounds[i + 1]), np.asarray(y)[bounds[i]:bounds[i + 1]], target)
              for i in range(parties)]
    return tables, parties


def _rows(X, start: int, stop: int):
    return X.iloc[start:stop] if hasattr(X, "iloc") else np.asarray(X)[start:stop]


def _with_target(X, y, target: str):
    """One party's table from its features and target: a DataFrame keeps its column names."""
    y = np.asarray(y)
    if hasattr(X, "columns"):
        if target in X.columns:
            raise InputError(f"X already has a column named {target!r}: pass another target= name")
        return X.assign(**{target: y})
    return (np.asarray(X, dtype=float), y.astype(float))


def tables_per_party(party_tables, parties: int | None) -> tuple[list, int]:
    """The fit's tables, one per party (a single table or an (X, y) pair is one party's), and the count."""
    is_xy = isinstance(party_tables, tuple) and len(party_tables) == 2 \
        and all(hasattr(a, "shape") for a in party_tables) \
        and np.ndim(party_tables[0]) == 2 and np.ndim(party_tables[1]) == 1
    tables = list(party_tables) if isinstance(party_tables, (list, tuple)) and not is_xy else [party_tables]
    parties = parties or len(tables)
    if len(tables) != parties:
        raise InputError(f"{parties} parties but {len(tables)} tables: give one table per party")
    return tables, parties
