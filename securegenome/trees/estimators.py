"""sklearn-like estimators: ``SecureDecisionTreeClassifier`` and ``SecureRandomForestClassifier``.

``fit`` takes one table per party (CSV paths, DataFrames, ``{column: values}`` dicts or ``(X, y)`` pairs)
and the target column; the parties run as local processes (or in this process with ``parties=1``) and
only the model is opened (:data:`securegenome.trees.secure.LEAKAGE`).  ``get_params``, ``set_params``,
``clone`` and ``score`` come from sklearn's ``BaseEstimator`` and ``ClassifierMixin``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from .. import core
from ..core import memory
from ..errors import InputError
from .data import DEFAULT_FRAC_BITS, DEFAULT_VALUE_BITS, Schema
from .forest import decide, forest_protocol, vote
from .model import Tree, export_text, to_sklearn


def tables_per_party(party_tables, parties: int | None) -> tuple[list, int]:
    """One table per party; a single table or (X, y) pair is one party's."""
    is_xy = isinstance(party_tables, tuple) and len(party_tables) == 2 and np.ndim(party_tables[0]) == 2
    tables = list(party_tables) if isinstance(party_tables, (list, tuple)) and not is_xy else [party_tables]
    parties = parties or len(tables)
    if len(tables) != parties:
        raise InputError(f"{parties} parties but {len(tables)} tables: give one table per party")
    return tables, parties


class _SecureTreeModel(ClassifierMixin, BaseEstimator):
    """What both estimators share: running the protocol, encoding queries, sklearn's fitted attributes."""

    def _run(self, protocol, party_tables, target, kwargs):
        tables, parties = tables_per_party(party_tables, self.parties)
        results = core.run(protocol, parties=parties, timeout=self.timeout,
                           kwargs={"target": target, "features": self.features, "categorical": self.categorical,
                                   "frac_bits": self.frac_bits, "value_bits": self.value_bits,
                                   "memory_bytes": memory.default_budget(parties), **kwargs},
                           private={i: {"table": t} for i, t in enumerate(tables)})
        model = results[0].value
        self.schema_ = Schema(**model["schema"])
        self.classes_ = np.array(self.schema_.classes)
        self.n_classes_ = len(self.classes_)
        self.feature_names_in_ = np.array(self.schema_.features, dtype=object)
        self.n_features_in_ = len(self.schema_.features)
        self.n_rows_ = sum(model["sizes"])
        self.ledger_ = results[0].ledger
        self.seconds_ = max(r.seconds for r in results)
        self.bytes_sent_ = {r.pid: r.bytes_sent for r in results}
        return model

    def _codes(self, X) -> np.ndarray:
        """Encode query rows: a DataFrame by column name, an array in the fitted feature order."""
        if not hasattr(self, "schema_"):
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet: call fit(...) first")
        names = self.schema_.features
        if hasattr(X, "columns"):
            missing = [c for c in names if c not in X.columns]
            if missing:
                raise InputError(f"X lacks the feature column(s) {', '.join(map(str, missing))}")
            columns = {c: X[c].to_numpy() for c in names}
        else:
            X = np.asarray(X, dtype=object)
            if X.ndim != 2 or X.shape[1] != len(names):
                raise InputError(f"X must have {len(names)} feature columns, got shape {X.shape}")
            columns = {c: X[:, j] for j, c in enumerate(names)}
        return self.schema_.encode_features(columns)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def _trees(self) -> list:
        return [self.tree_] if hasattr(self, "tree_") else list(self.estimators_)

    def secret_votes(self, X, parties: int | None = None) -> np.ndarray:
        """Class votes of the trees on X computed with the model kept secret (:mod:`.predict`): party 0
        shares the model, the last party the query rows, only that party learns the votes.  Returns the
        vote fractions per row (what :meth:`predict_proba` gives in the clear)."""
        from .predict import predict_protocol

        codes = self._codes(X)
        parties = parties or self.parties or 3
        querier = parties - 1
        private = {0: {"model": {"trees": [t.to_dict() for t in self._trees()], "schema": self.schema_.to_dict(),
                                 "majority": getattr(self, "majority_", None)}}}
        private.setdefault(querier, {})["queries"] = codes
        results = core.run(predict_protocol, parties=parties, timeout=self.timeout, private=private,
                           kwargs={"owner": 0, "querier": querier})
        self.predict_ledger_ = results[querier].ledger
        votes = np.array(results[querier].value["votes"], dtype=float).reshape(len(codes), self.n_classes_)
        return votes / votes.sum(axis=1, keepdims=True)

    def predict_secret(self, X, parties: int | None = None):
        """``predict`` with the model kept secret from the querier and the queries from the model owner
        (:meth:`secret_votes`): the same predictions as :meth:`predict`."""
        return self._decide(self.secret_votes(X, parties))

    def _decide(self, fractions):
        return self.classes_[np.argmax(fractions, axis=1)]


class SecureDecisionTreeClassifier(_SecureTreeModel):
    """A Gini decision tree trained by secure computation over several parties' rows.

    >>> tree = SecureDecisionTreeClassifier(max_depth=4).fit(["a.csv", "b.csv", "c.csv"], target="y")
    >>> tree.predict(X_new); print(tree.export_text()); tree.to_sklearn()

    Like sklearn's ``DecisionTreeClassifier(criterion="gini")``: the same splits on the same data (numeric
    values on a fixed-point grid of ``frac_bits`` fraction bits; categorical columns split as 'one of the
    first categories in sorted order').  Leaves hold their class only (counts stay secret), so
    ``predict_proba`` is 0/1; ``feature_importances_`` counts splits per feature (Gini importances would
    need the secret node impurities).  After ``fit``: ``tree_`` (:class:`~securegenome.trees.model.Tree`),
    ``schema_``, ``classes_``, ``feature_names_in_``, ``n_rows_``, ``ledger_``, ``seconds_``.
    """

    def __init__(self, max_depth: int | None = None, min_samples_leaf: int = 1, *, features=None,
                 categorical=None, frac_bits: int = DEFAULT_FRAC_BITS, value_bits: int = DEFAULT_VALUE_BITS,
                 parties: int | None = None, timeout: float | None = None):
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.features = features
        self.categorical = categorical
        self.frac_bits = frac_bits
        self.value_bits = value_bits
        self.parties = parties
        self.timeout = timeout

    def fit(self, party_tables, target: str = "y"):
        from .secure import tree_protocol

        model = self._run(tree_protocol, party_tables, target,
                          {"max_depth": self.max_depth, "min_samples_leaf": self.min_samples_leaf})
        self.tree_ = Tree.from_dict(model["tree"])
        return self

    def predict_proba(self, X):
        leaf_class = self.tree_.predict_codes(self._codes(X))
        return np.eye(self.n_classes_)[leaf_class]

    @property
    def feature_importances_(self):
        return self.tree_.feature_importances(self.n_features_in_)

    def export_text(self) -> str:
        return export_text(self.tree_, self.schema_)

    def to_sklearn(self):
        """A fitted ``sklearn.tree.DecisionTreeClassifier`` with the same splits and leaf classes."""
        return to_sklearn(self.tree_, self.schema_)


class SecureRandomForestClassifier(_SecureTreeModel):
    """A random forest of Gini trees trained by secure computation (bootstrap and feature draws public).

    >>> forest = SecureRandomForestClassifier(n_estimators=10, max_depth=4).fit(tables, target="y")
    >>> forest.predict(X_new)   # majority vote of the opened trees, ties to the majority class

    ``random_state`` fixes the public draws (without it, every party contributes to a fresh seed,
    ``seed_`` after fitting).  After ``fit``: ``estimators_`` (:class:`~securegenome.trees.model.Tree`
    list), ``schema_``, ``classes_``, ``seed_``, ``majority_`` (the training set's most frequent class index,
    opened: vote ties go to it), ``ledger_``, ``seconds_``.
    """

    def __init__(self, n_estimators: int = 10, max_depth: int | None = None, min_samples_leaf: int = 1,
                 max_features="sqrt", bootstrap: bool = True, random_state: int | None = None, *, features=None,
                 categorical=None, frac_bits: int = DEFAULT_FRAC_BITS, value_bits: int = DEFAULT_VALUE_BITS,
                 parties: int | None = None, timeout: float | None = None):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.bootstrap = bootstrap
        self.random_state = random_state
        self.features = features
        self.categorical = categorical
        self.frac_bits = frac_bits
        self.value_bits = value_bits
        self.parties = parties
        self.timeout = timeout

    def fit(self, party_tables, target: str = "y"):
        model = self._run(forest_protocol, party_tables, target,
                          {"n_estimators": self.n_estimators, "max_depth": self.max_depth,
                           "min_samples_leaf": self.min_samples_leaf, "max_features": self.max_features,
                           "bootstrap": self.bootstrap, "random_state": self.random_state})
        self.estimators_ = [Tree.from_dict(t) for t in model["trees"]]
        self.seed_ = model["seed"]
        self.majority_ = model["majority"]
        return self

    def predict(self, X):
        """Majority vote of the trees; ties go to the training set's majority class (``majority_``)."""
        return self._decide(self.predict_proba(X))

    def _decide(self, fractions):
        return self.classes_[decide(fractions, self.majority_)]

    def predict_proba(self, X):
        codes = self._codes(X)
        return vote(np.array([t.predict_codes(codes) for t in self.estimators_]), self.n_classes_)

    @property
    def feature_importances_(self):
        per_tree = [t.feature_importances(self.n_features_in_) for t in self.estimators_]
        total = np.mean(per_tree, axis=0)
        return total / total.sum() if total.sum() else total

    def export_text(self) -> str:
        return "\n\n".join(f"tree {i}:\n{export_text(t, self.schema_)}" for i, t in enumerate(self.estimators_))

    def to_sklearn(self):
        """A fitted ``sklearn.ensemble.RandomForestClassifier`` made of the opened trees (``predict`` there
        averages the leaf probabilities: 0/1 plus 10⁻⁶ for the majority class, the same vote and ties)."""
        from sklearn.ensemble import RandomForestClassifier

        model = RandomForestClassifier(n_estimators=self.n_estimators, max_depth=self.max_depth,
                                       min_samples_leaf=self.min_samples_leaf, max_features=self.max_features,
                                       bootstrap=self.bootstrap)
        model.estimators_ = [to_sklearn(t, self.schema_, prefer=self.majority_) for t in self.estimators_]
        model.classes_, model.n_classes_ = self.classes_, self.n_classes_
        model.n_features_in_, model.n_outputs_ = self.n_features_in_, 1
        return model
