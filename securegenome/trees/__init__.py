"""Decision trees and random forests over rows split across parties (Gini, layer by layer).

- :class:`SecureDecisionTreeClassifier` / :func:`secure.tree_protocol`: one CART-style Gini tree;
- :class:`SecureRandomForestClassifier` / :func:`forest.forest_protocol`: bootstrap + feature draws from
  public randomness, all trees grown together;
- :mod:`.twin`: the plaintext twin (the same trees), checked against scikit-learn.

See docs/trees.md for the protocol, what it reveals and what it costs.
"""

from .estimators import SecureDecisionTreeClassifier, SecureRandomForestClassifier

__all__ = ["SecureDecisionTreeClassifier", "SecureRandomForestClassifier"]
