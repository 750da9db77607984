"""Regression over rows split across parties: ridge (secure normal equations) and logistic regression.

- :class:`SecureRidge` / :func:`ridge.ridge_protocol`: local streamed sums, system solved in shares;
- :class:`SecureLogisticRegression` / :func:`logistic.logistic_protocol`: Newton steps with a fixed Hessian
  bound, fully secure or with a differentially private model at every iteration.

See docs/regression.md for the protocols, their leakage and the DP calibration.
"""

from .logistic import SecureLogisticRegression
from .ridge import SecureRidge

__all__ = ["SecureRidge", "SecureLogisticRegression"]
