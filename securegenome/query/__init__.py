"""Private exploration: pandas- and SQL-style aggregate queries over tables split across parties.

An analyst writes an ordinary query — a lazy :class:`SecureFrame` (filters, derived columns, groupby over
public categories, count/sum/mean/var/std/quantile/histogram/crosstab) or SQL (:func:`sql_results`, the
``securegenome query`` command) — and it runs where the data are: each party evaluates the row-wise part
on its own rows, only per-group aggregates are secret-shared and added, and each is opened with
differential-privacy noise drawn inside the MPC, charged to the data set's budget.  Nothing runs before
``compute``; ``explain`` shows every release, its sensitivity and its share of ε.  See docs/query.md.
"""

from .frame import GroupBy, Result, SecureFrame, compute, explain, plaintext
from .plan import Context, Plan
from .protocol import LEAKAGE
from .sql import sql_results

__all__ = ["SecureFrame", "GroupBy", "Result", "compute", "explain", "plaintext", "Context", "Plan", "LEAKAGE",
           "sql_results"]
