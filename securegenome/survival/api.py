"""A lifelines-like Python API over the secure protocols (which run through :func:`securegenome.core.run`).

    from securegenome.survival import SecureKaplanMeierFitter, secure_logrank_test
    kmf = SecureKaplanMeierFitter().fit([df_a, df_b, df_c], duration_col="T", event_col="E",
                                        group_col="group", interval=30)
    kmf.survival_function_, kmf.median_survival_time_, kmf.plot()
    secure_logrank_test([df_a, df_b, df_c], duration_col="T", event_col="E", group_col="group").p_value

``party_tables`` holds one table per party (CSV path, pandas DataFrame or dict of columns): a list (party i
gets entry i) or a dict ``{party_id: table}``; in a multi-host run (``hosts=``, ``party_id=``) only this
party's own table.  Each party's protocol sees only its own table.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import core
from ..errors import InputError
from .kaplan_meier import IntervalCounts, check_dp_request, median_survival, secure_km_counts
from .logrank import LogrankResult, secure_logrank
from .tables import load_table


def load_party_tables(party_tables, *, duration_col, event_col, group_col, time_unit=1.0, parties=None,
                      hosts=None, party_id=None) -> tuple[dict, int]:
    """Validate the tables of the parties run here: ({party_id: SurvivalTable}, number of parties)."""
    if isinstance(party_tables, dict):
        given = {int(k): v for k, v in party_tables.items()}
    elif isinstance(party_tables, (list, tuple)):
        given = dict(enumerate(party_tables))
    else:
        given = {0 if party_id is None else party_id: party_tables}
    if hosts:
        parties = len(hosts)
        if set(given) != {party_id}:
            raise InputError(f"a multi-host run takes only this party's own table (party {party_id})")
    elif parties is None:
        parties = max(given) + 1 if given else 1
    elif set(given) != set(range(parties)):
        raise InputError(f"give one table for each of the {parties} parties (got tables for parties "
                         f"{sorted(given)})")
    tables = {pid: load_table(data, duration_col=duration_col, event_col=event_col, group_col=group_col,
                              time_unit=time_unit, source=None if not isinstance(data, str) else data)
              for pid, data in sorted(given.items())}
    return tables, parties


def _session(parties, session) -> dict:
    """Session options (threshold, hosts, party_id, timeout, sync, TLS ...) go to core.run unchanged."""
    return {"parties": parties, **session}


class SecureKaplanMeierFitter:
    """Kaplan-Meier curves of two groups from per-party tables, published as interval aggregates (or with DP).

    After :meth:`fit`: ``survival_function_`` (DataFrame, one column per group, indexed by interval end),
    ``event_table_`` (published counts and numbers at risk), ``median_survival_time_`` (per group),
    ``counts_`` (the published :class:`IntervalCounts`), ``ledger_`` (what was opened), ``plot()``.
    ``fit(..., transcript=PATH)`` writes what each party run here received (the auditor's transcript: party
    0's view at PATH, party I's at PATH with ``.partyI`` before the extension).
    """

    def fit(self, party_tables, duration_col: str = "T", event_col: str = "E", group_col: str = "group", *,
            interval: int = 1, epsilon: float | None = None, groups=None, horizon=None, time_unit: float = 1.0,
            parties: int | None = None, accountant=None, transcript=None, **session) -> SecureKaplanMeierFitter:
        check_dp_request(epsilon, horizon, groups)  # before any party starts
        tables, parties = load_party_tables(party_tables, duration_col=duration_col, event_col=event_col,
                                            group_col=group_col, time_unit=time_unit, parties=parties,
                                            hosts=session.get("hosts"), party_id=session.get("party_id"))
        if epsilon is not None:
            # charged here, before any party starts (the party processes get copies, not this object)
            from ..core.dp import PrivacyAccountant

            if accountant is None:
                accountant = PrivacyAccountant(epsilon, dataset="survival records")
            accountant.spend(epsilon, 0.0, "km.noisy_counts")
        self.accountant_ = accountant
        common = {"width": interval, "groups": groups, "horizon": horizon, "epsilon": epsilon}
        results = core.run(secure_km_counts, kwargs=common, private={p: {"table": t} for p, t in tables.items()},
                           **_session(parties, session))
        self._set(results[0].value, results)
        if transcript is not None:  # the auditor's view: what each party run here received (core.write_transcripts)
            core.write_transcripts(transcript, results)
        return self

    def _set(self, counts: IntervalCounts, results):
        import pandas as pd

        self.counts_ = counts
        self.results_ = results
        self.ledger_ = results[0].ledger
        self.groups_ = counts.groups
        self.timeline_ = counts.timeline()
        self.survival_function_ = pd.DataFrame({g: counts.curve(i) for i, g in enumerate(counts.groups)},
                                               index=pd.Index(self.timeline_, name="timeline"))
        self.median_survival_time_ = {g: median_survival(self.timeline_, self.survival_function_[g].to_numpy())
                                      for g in counts.groups}
        rows = {}
        for i, g in enumerate(counts.groups):
            rows[(g, "observed")] = counts.counts[i, 0]
            rows[(g, "censored")] = counts.counts[i, 1]
            rows[(g, "at_risk")] = counts.at_risk(i)
        self.event_table_ = pd.DataFrame(rows, index=pd.Index(self.timeline_, name="interval_end"))

    def to_dict(self) -> dict:
        c = self.counts_
        return {"groups": list(c.groups), "interval": c.width * c.time_unit, "time_unit": c.time_unit,
                "durations_binned": c.binned, "epsilon": c.epsilon, "timeline": self.timeline_.tolist(),
                "survival": {g: self.survival_function_[g].tolist() for g in c.groups},
                "events": {g: c.counts[i, 0].tolist() for i, g in enumerate(c.groups)},
                "censored": {g: c.counts[i, 1].tolist() for i, g in enumerate(c.groups)},
                "at_risk": {g: c.at_risk(i).tolist() for i, g in enumerate(c.groups)},
                "median_survival_time": {g: _finite_or_none(m) for g, m in self.median_survival_time_.items()}}

    def plot(self, ax=None, path=None, title=None, time_label="time"):
        """Both curves as steps at the interval ends (matplotlib; ``path`` saves a PNG with the Agg backend)."""
        import matplotlib

        if path is not None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        own_figure = ax is None
        if own_figure:
            fig, ax = plt.subplots(figsize=(7, 4.5))
        c = self.counts_
        for g in c.groups:
            ax.step(self.timeline_, self.survival_function_[g].to_numpy(), where="post", label=f"{g}")
        unit = f" (unit {c.time_unit:g})" if c.time_unit != 1 else ""
        ax.set_xlabel(f"{time_label}{unit}; intervals of {c.width * c.time_unit:g}")
        ax.set_ylabel("survival probability")
        ax.set_ylim(-0.02, 1.02)
        mode = f"differentially private (epsilon={c.epsilon:g})" if c.epsilon is not None else "interval-aggregated"
        ax.set_title(title or f"Secure Kaplan-Meier, {mode}")
        ax.grid(True, alpha=0.3)
        ax.legend(title="group")
        if path is not None:
            import io

            from ..files import write_atomically

            ax.figure.tight_layout()
            png = io.BytesIO()
            ax.figure.savefig(png, format="png", dpi=120)
            write_atomically(path, png.getvalue())
            if own_figure:
                plt.close(ax.figure)
        return ax


def secure_logrank_test(party_tables, duration_col: str = "T", event_col: str = "E", group_col: str = "group",
                        *, groups=None, horizon=None, time_unit: float = 1.0, parties: int | None = None,
                        transcript=None, **session) -> LogrankResult:
    """The logrank test of the two groups over all parties' patients; only the χ² statistic is opened.

    Returns a :class:`LogrankResult` with ``test_statistic``, ``p_value``, ``degrees_of_freedom`` (like
    ``lifelines.statistics.logrank_test``); ``.ledger`` lists what was opened.  ``transcript=PATH`` writes
    what each party run here received (party 0's view at PATH, party I's at PATH with ``.partyI`` before the
    extension: :func:`securegenome.core.write_transcripts`).
    """
    tables, parties = load_party_tables(party_tables, duration_col=duration_col, event_col=event_col,
                                        group_col=group_col, time_unit=time_unit, parties=parties,
                                        hosts=session.get("hosts"), party_id=session.get("party_id"))
    results = core.run(secure_logrank, kwargs={"groups": groups, "horizon": horizon},
                       private={p: {"table": t} for p, t in tables.items()}, **_session(parties, session))
    if transcript is not None:
        core.write_transcripts(transcript, results)
    return dataclasses.replace(results[0].value, ledger=results[0].ledger, results=results,
                               durations_binned=any(t.binned for t in tables.values()))


def _finite_or_none(x: float):
    return None if not np.isfinite(x) else float(x)
