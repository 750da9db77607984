"""Survival analysis over patients split across parties: secure Kaplan-Meier curves and logrank test.

- :class:`SecureKaplanMeierFitter`: curves of two groups from interval counts summed in shares, opened
  exactly (interval aggregation) or with differential privacy (``epsilon=``); see :mod:`.kaplan_meier`.
- :func:`secure_logrank_test`: the logrank χ² statistic computed in shares, only the statistic opened;
  see :mod:`.logrank`.
- :func:`load_table`: one party's records (CSV, DataFrame, dict of columns), validated.

What each protocol may open is in :data:`LEAKAGE` (and ``docs/survival.md``).
"""

from .api import SecureKaplanMeierFitter, secure_logrank_test
from .kaplan_meier import IntervalCounts, km_from_counts, median_survival, secure_km_counts
from .kaplan_meier import LEAKAGE as KM_LEAKAGE
from .logrank import LogrankResult, logrank_statistic, secure_logrank
from .logrank import LEAKAGE as LOGRANK_LEAKAGE
from .tables import SurvivalTable, load_table

LEAKAGE: dict[str, str] = {**KM_LEAKAGE, **LOGRANK_LEAKAGE}

__all__ = ["SecureKaplanMeierFitter", "secure_logrank_test", "secure_km_counts", "secure_logrank",
           "IntervalCounts", "LogrankResult", "SurvivalTable", "load_table", "km_from_counts",
           "median_survival", "logrank_statistic", "LEAKAGE"]
