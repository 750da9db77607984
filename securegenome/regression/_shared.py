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
    """What sklearn-like estimators share: fitted coefficients and the run's records."""

    coef_ = None
    intercept_ = None

    def _check_fitted(self):
        if self.coef_ is None:
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet: call fit(...) first")

    def decision_function(self, X):
        """b0 + X b; a DataFrame is matched by column name (the fitted feature names, in order)."""
        self._check_fitted()
        if hasattr(X, "columns"):
            missing = [c for c in self.feature_names_in_ if c not in X.columns]
            if missing:
                raise InputError(f"X lacks the feature column(s) {', '.join(map(str, missing))}")
            X = X[list(self.feature_names_in_)]
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != len(self.coef_):
            raise InputError(f"X must have {len(self.coef_)} feature columns, got shape {X.shape}")
        return X @ self.coef_ + self.intercept_


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
