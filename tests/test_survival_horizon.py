"""Data-independent survival runs (issue 15.2): a public horizon censors, it never aborts.

Before issue 15 a duration beyond ``horizon`` stopped the run with "row 2: duration 1832 is beyond the horizon
1825" on every party (the patient's duration reached every organisation, and whether a DP run finished
depended on one patient).  Now it is censored at the horizon (administrative censoring), and in DP mode rows
with a label outside the named groups are left out instead of stopping the run.
"""

import warnings

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test

from securegenome.survival import kaplan_meier as km
from securegenome.survival import load_table
from securegenome.survival import logrank as lr
from securegenome.survival.tables import censored_at

TABLE = {"T": [1832, 400, 1200, 90, 1825, 2000], "E": [1, 1, 0, 1, 1, 0], "G": ["a", "b", "a", "b", "a", "b"]}


def _table(columns):
    return load_table(columns, duration_col="T", event_col="E", group_col="G")


def _censored_twin(columns, horizon):
    t = np.minimum(columns["T"], horizon)
    e = np.where(np.asarray(columns["T"]) > horizon, 0, columns["E"])
    return {"T": t, "E": e, "G": columns["G"]}


def test_censored_at_moves_late_patients_to_the_horizon_alive():
    with pytest.warns(UserWarning, match="2 duration"):
        table = censored_at(_table(TABLE), 1825)
    assert table.times.tolist() == [1825, 400, 1200, 90, 1825, 1825]
    assert table.events.tolist() == [0, 1, 0, 1, 1, 0]


@pytest.mark.parametrize("epsilon", [None, 1e6])
def test_km_with_horizon_censors_instead_of_aborting(run1, epsilon):
    horizon = 1825
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        [r] = run1(km.secure_km_counts, kwargs={"table": _table(TABLE), "width": 1, "horizon": horizon,
                                                "groups": ["a", "b"], "epsilon": epsilon})
    twin = _table(_censored_twin(TABLE, horizon))
    expected = km.plaintext_counts([twin], ("a", "b"), 1, horizon)
    assert np.array_equal(r.value.counts, expected)  # epsilon 1e6: noise 0 with overwhelming probability
    for g, label in enumerate(("a", "b")):
        mask = np.asarray(TABLE["G"]) == label
        fitter = KaplanMeierFitter().fit(twin.times[mask], twin.events[mask])
        curve = r.value.curve(g)
        for time in fitter.event_table.index:
            assert curve[int(time)] == pytest.approx(fitter.survival_function_at_times(time).iloc[0])


def test_dp_km_three_parties_with_a_duration_beyond_the_horizon(run3):
    parties = [{"T": [1832, 20], "E": [1, 0], "G": ["a", "b"]}, {"T": [400, 10], "E": [1, 1], "G": ["b", "a"]},
               {"T": [3000], "E": [0], "G": ["b"]}]
    results = run3(km.secure_km_counts, kwargs={"width": 365, "horizon": 1825, "groups": ["a", "b"],
                                                "epsilon": 1e6},
                   private={i: {"table": _table(c)} for i, c in enumerate(parties)}, timeout=300)
    twins = [_table(_censored_twin(c, 1825)) for c in parties]
    expected = km.plaintext_counts(twins, ("a", "b"), 365, 1825)
    assert all(np.array_equal(r.value.counts, expected) for r in results)
    assert results[0].ledger.labels() == {"km.noisy_counts"}


def test_dp_km_leaves_out_rows_of_other_groups(run1):
    columns = {"T": [5, 7, 9], "E": [1, 1, 0], "G": ["a", "z", "b"]}
    with pytest.warns(UserWarning, match="1 row"):
        [r] = run1(km.secure_km_counts, kwargs={"table": _table(columns), "horizon": 10, "groups": ["a", "b"],
                                                "epsilon": 1e6})
    kept = _table({"T": [5, 9], "E": [1, 0], "G": ["a", "b"]})
    assert np.array_equal(r.value.counts, km.plaintext_counts([kept], ("a", "b"), 1, 10))


def test_logrank_with_horizon_matches_lifelines_on_censored_data(run1):
    horizon = 1500
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        [r] = run1(lr.secure_logrank, kwargs={"table": _table(TABLE), "horizon": horizon})
    twin = _censored_twin(TABLE, horizon)
    a = np.asarray(TABLE["G"]) == "a"
    expected = logrank_test(twin["T"][a], twin["T"][~a], twin["E"][a], twin["E"][~a]).test_statistic
    assert r.value.test_statistic == pytest.approx(expected, rel=1e-4)
