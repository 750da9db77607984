"""Decision trees and random forests over rows split across parties (Gini, layer by layer).

- :class:`SecureDecisionTreeClassifier` / :func:`secure.tree_protocol`: one CART-style Gini tree;
- :class:`SecureRandomForestClassifier` / :func:`forest.forest_protocol`: bootstrap + feature draws from
  public randomness, all trees grown together;
- :mod:`.twin`: the plaintext twin (the same trees), checked against scikit-learn.

The estimators are imported on first use: party processes that run :mod:`.secure` do not pay for
importing scikit-learn (about a second, inside the timed run).

See docs/trees.md for the protocol, what it reveals and what it costs.
"""

__all__ = ["SecureDecisionTreeClassifier", "SecureRandomForestClassifier"]


def __getattr__(name):
    if name in __all__:
        from . import estimators
        return getattr(estimators, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
