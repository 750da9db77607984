"""Secure Kaplan-Meier and logrank against lifelines on its own datasets, split unevenly across parties."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines import datasets as lifelines_datasets
from lifelines.statistics import logrank_test

from securegenome import core
from securegenome.core import mpc
from securegenome.errors import InputError, PartyFailure
from securegenome.survival import LEAKAGE, SecureKaplanMeierFitter, load_table, secure_logrank_test
from securegenome.survival import kaplan_meier as km
from securegenome.survival import logrank as lr
from securegenome.survival.arith import Sizing, reciprocal
from securegenome.survival.tables import SurvivalTable, at_risk_table, interval_index

warnings.filterwarnings("ignore", category=DeprecationWarning)


def _lung():
    df = lifelines_datasets.load_lung().dropna(subset=["time", "status", "sex"])
    return df


DATASETS = {  # name: (loader, duration, event, group)
    "waltons": (lifelines_datasets.load_waltons, "T", "E", "group"),
    "rossi": (lifelines_datasets.load_rossi, "week", "arrest", "fin"),
    "gbsg2": (lifelines_datasets.load_gbsg2, "time", "cens", "horTh"),
    "lung": (_lung, "time", "status", "sex"),
    "leukemia": (lifelines_datasets.load_leukemia, "t", "status", "Rx"),
    "dd": (lifelines_datasets.load_dd, "duration", "observed", "democracy"),
}


def dataset(name):
    loader, t, e, g = DATASETS[name]
    return loader().reset_index(drop=True), t, e, g


def split_unevenly(df, group_col, seed, parties=3):
    """Random uneven split; party 1 gets no rows of the first group (a party with zero rows of a group)."""
    rng = np.random.default_rng(seed)
    first = sorted(df[group_col].astype(str).unique())[0]
    owner = rng.choice(parties, size=len(df), p=[0.6, 0.1, 0.3][:parties] if parties == 3 else None)
    if parties == 3:
        owner[(owner == 1) & (df[group_col].astype(str) == first).to_numpy()] = 2
    return [df[owner == i].reset_index(drop=True) for i in range(parties)]


def lifelines_logrank(df, t, e, g):
    labels = sorted(df[g].astype(str).unique())
    a = df[g].astype(str) == labels[0]
    return logrank_test(df[t][a], df[t][~a], df[e][a], df[e][~a]).test_statistic


def tables_of(parts, t, e, g, time_unit=1.0):
    return [load_table(p, duration_col=t, event_col=e, group_col=g, time_unit=time_unit) for p in parts]


def rel_err(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


# ---------------------------------------------------------------------------------------------------------
# logrank

@pytest.mark.parametrize("name", ["waltons", "rossi", "leukemia"])
def test_logrank_one_party_matches_lifelines(run1, name):
    df, t, e, g = dataset(name)
    table = load_table(df, duration_col=t, event_col=e, group_col=g)
    [r] = run1(lr.secure_logrank, kwargs={"table": table})
    expected = lifelines_logrank(df, t, e, g)
    assert rel_err(r.value.test_statistic, expected) <= 1e-6
    assert r.value.degrees_of_freedom == 1
    assert r.value.p_value == pytest.approx(_chi2_sf(expected), rel=1e-6)


def _chi2_sf(x):
    from scipy.stats import chi2
    return chi2.sf(x, 1)


def test_logrank_three_processes_uneven_split(run3):
    df, t, e, g = dataset("rossi")
    parts = split_unevenly(df, g, seed=7)
    assert any(len(p) and (p[g].astype(str) == "0").sum() == 0 for p in parts)
    tables = tables_of(parts, t, e, g)
    results = run3(lr.secure_logrank, private={i: {"table": tb} for i, tb in enumerate(tables)})
    expected = lifelines_logrank(df, t, e, g)
    for r in results:
        assert rel_err(r.value.test_statistic, expected) <= 1e-6
        assert r.value.n_patients == len(df)
        _check_ledger(r.ledger, {"survival.horizon": 1, "survival.size": 1, "logrank.statistic": 1})


def test_logrank_above_demo_overflow_size(run1):
    """N = 1,808 (dd) and 2,500 synthetic: SecFxp(64) terms n^3 overflow here (see the demo check below)."""
    df, t, e, g = dataset("dd")
    [r] = run1(lr.secure_logrank, kwargs={"table": load_table(df, duration_col=t, event_col=e, group_col=g)})
    assert rel_err(r.value.test_statistic, lifelines_logrank(df, t, e, g)) <= 1e-6
    times, events, groups = synthetic(2500, 40, seed=3)
    df2 = pd.DataFrame({"T": times, "E": events, "G": groups})
    [r] = run1(lr.secure_logrank, kwargs={"table": load_table(df2, duration_col="T", event_col="E", group_col="G")})
    assert rel_err(r.value.test_statistic, lifelines_logrank(df2, "T", "E", "G")) <= 1e-6


async def demo_formula_secfxp64(d1, d2, n1, n2):
    """MPyC's np_kmsurvival logrank formula in SecFxp(64): what the overflow test guards against."""
    secfxp = mpc.SecFxp(64)
    d1, d2, n1, n2 = (secfxp.array(np.asarray(a, dtype=float)) for a in (d1, d2, n1, n2))
    d, n = d1 + d2, n1 + n2
    b = n * (n - 1)
    c = d * n1 / (n * b)
    z = np.sum(d1 - b * c)
    v = np.sum(n2 * (n - d) * c)
    return float(await mpc.output(z * z / v))


def test_demo_secfxp64_formula_breaks_at_this_size():
    """The same 2,500-patient data through the demo formula at 64 bits is far off: the test above bites."""
    times, events, groups = synthetic(2500, 40, seed=3)
    table = SurvivalTable(times, events, np.asarray(groups, dtype=object))
    tab = at_risk_table(table, ("a", "b"), int(times.max()))
    keep = tab[2] + tab[3] > 1  # the demo's formula needs n > 1 (it divides by n(n-1))
    [r] = core.run(demo_formula_secfxp64, kwargs=dict(zip(("d1", "d2", "n1", "n2"), tab[:, keep])))
    expected = lr.logrank_statistic(*tab)
    assert not rel_err(r.value, expected) <= 1e-6


def test_sizing_widens_with_n_and_keeps_headroom():
    previous = None
    for n in (10, 1_300, 2_000, 10_000, 10**6, 2**34):
        size = Sizing.for_patients(n, 3_651)
        field_bits = size.secint().field.order.bit_length()
        assert field_bits > size.product_bits + 30  # truncations need 30 (statistical) bits above the values
        assert field_bits > 2 * size.frac + n.bit_length() + 12 + 30  # Σ V_t·2^2F over 3,651 times
        assert 3 * size.n_bits + max(size.shift, 0) < size.fx_frac  # χ² ≤ N³ fits the final fixed-point type
        assert previous is None or size.int_bits > previous.int_bits
        previous = size


def test_reciprocal_is_accurate_over_the_whole_range(run1):
    values = [1, 2, 3, 5, 7, 1000, 2**20 - 1, 2**20, 99_990_000]
    [r] = run1(reciprocal_protocol, kwargs={"values": values, "k_bits": 27, "precision": 48})
    for x, got in zip(values, r.value):
        assert got * x / 2**(27 + 48) == pytest.approx(1, rel=2**-44)


async def reciprocal_protocol(values, k_bits, precision):
    secint = mpc.SecInt(2 * (k_bits + precision) + 40)
    r = reciprocal(secint.array(np.array(values, dtype=object)), k_bits, precision)
    return [int(a) for a in await mpc.output(r)]


@pytest.mark.parametrize("case", ["no_events", "one_group_no_events", "single_patient_each", "all_same_time",
                                  "group_empty_after_t0"])
def test_logrank_degenerate_inputs_match_lifelines(run1, case):
    t, e, g = {
        "no_events": ([1, 2, 3, 4, 5], [0, 0, 0, 0, 0], "aaabb"),
        "one_group_no_events": ([1, 2, 3, 4, 5, 6], [1, 1, 0, 0, 0, 0], "aaabbb"),
        "single_patient_each": ([3, 3], [1, 1], "ab"),
        "all_same_time": ([4] * 6, [1, 0, 1, 1, 0, 1], "aabbab"),
        "group_empty_after_t0": ([0, 0, 5, 7, 9], [1, 1, 1, 0, 1], "aabbb"),
    }[case]
    df = pd.DataFrame({"T": t, "E": e, "G": list(g)})
    [r] = run1(lr.secure_logrank, kwargs={"table": load_table(df, duration_col="T", event_col="E", group_col="G")})
    expected = lifelines_logrank(df, "T", "E", "G")
    assert r.value.test_statistic == pytest.approx(expected, rel=1e-6, abs=1e-12)
    assert 0 <= r.value.p_value <= 1


def test_plaintext_twin_matches_lifelines_on_random_tables():
    rng = np.random.default_rng(5)
    for _ in range(20):
        n = int(rng.integers(2, 60))
        df = pd.DataFrame({"T": rng.integers(0, 8, n), "E": rng.integers(0, 2, n),
                           "G": rng.choice(["x", "y"], n)})
        if df.G.nunique() < 2:
            continue
        table = load_table(df, duration_col="T", event_col="E", group_col="G")
        ours = lr.logrank_statistic(*at_risk_table(table, ("x", "y"), int(df["T"].max())))
        expected = lifelines_logrank(df, "T", "E", "G")
        assert (ours == pytest.approx(expected, rel=1e-9, abs=1e-12)) or (math.isnan(ours) and expected == 0)


def synthetic(n, n_times, seed):
    """Exponential survival with a group effect, censoring, integer times 1..n_times."""
    rng = np.random.default_rng(seed)
    groups = np.where(rng.random(n) < 0.45, "a", "b")
    hazard = np.where(groups == "a", 1.0, 1.4)
    event_time = rng.exponential(n_times / 3 / hazard)
    censor_time = rng.uniform(0, n_times * 1.2, n)
    times = np.clip(np.ceil(np.minimum(event_time, censor_time)), 1, n_times).astype(np.int64)
    events = (event_time <= censor_time).astype(np.int64)
    return times, events, groups


def test_logrank_synthetic_10000_one_party():
    times, events, groups = synthetic(10_000, 60, seed=11)
    df = pd.DataFrame({"T": times, "E": events, "G": groups})
    [r] = core.run(lr.secure_logrank,
                   kwargs={"table": load_table(df, duration_col="T", event_col="E", group_col="G")})
    assert rel_err(r.value.test_statistic, lifelines_logrank(df, "T", "E", "G")) <= 1e-6


@pytest.mark.slow
def test_logrank_synthetic_10000_365_times_one_party(run1):
    times, events, groups = synthetic(10_000, 365, seed=11)
    df = pd.DataFrame({"T": times, "E": events, "G": groups})
    [r] = run1(lr.secure_logrank, kwargs={"table": load_table(df, duration_col="T", event_col="E", group_col="G")})
    assert rel_err(r.value.test_statistic, lifelines_logrank(df, "T", "E", "G")) <= 1e-6


@pytest.mark.slow
def test_logrank_synthetic_10000_three_processes(run3):
    times, events, groups = synthetic(10_000, 365, seed=12)
    df = pd.DataFrame({"T": times, "E": events, "G": groups})
    parts = split_unevenly(df, "G", seed=2)
    results = run3(lr.secure_logrank,
                   private={i: {"table": tb} for i, tb in enumerate(tables_of(parts, "T", "E", "G"))})
    assert rel_err(results[0].value.test_statistic, lifelines_logrank(df, "T", "E", "G")) <= 1e-6


# ---------------------------------------------------------------------------------------------------------
# Kaplan-Meier

def lifelines_coarsened_curves(df, t, e, g, width, timeline, time_unit=1.0):
    out = {}
    for label in sorted(df[g].astype(str).unique()):
        sub = df[df[g].astype(str) == label]
        idx = np.ceil(sub[t].to_numpy() / time_unit - 1e-9).astype(np.int64)
        coarse = interval_index(idx, width) * width * time_unit
        kmf = KaplanMeierFitter().fit(coarse, sub[e])
        out[label] = (kmf.survival_function_at_times(timeline).to_numpy(), kmf.median_survival_time_)
    return out


@pytest.mark.parametrize("name,width", [("waltons", 1), ("waltons", 7), ("gbsg2", 90), ("lung", 30)])
def test_km_one_party_matches_lifelines_on_coarsened_data(run1, name, width):
    df, t, e, g = dataset(name)
    [r] = run1(km.secure_km_counts, kwargs={"table": load_table(df, duration_col=t, event_col=e, group_col=g),
                                            "width": width})
    counts = r.value
    expected = lifelines_coarsened_curves(df, t, e, g, width, counts.timeline())
    for i, label in enumerate(counts.groups):
        curve, median = expected[label]
        assert np.max(np.abs(counts.curve(i) - curve)) <= 1e-12
        assert km.median_survival(counts.timeline(), counts.curve(i)) == median
    _check_ledger(r.ledger, {"survival.horizon": 1, "km.counts": counts.counts.size})


def test_km_fitter_three_processes_uneven_split():
    df, t, e, g = dataset("gbsg2")
    parts = split_unevenly(df, g, seed=3)
    kmf = SecureKaplanMeierFitter().fit(parts, duration_col=t, event_col=e, group_col=g, interval=30,
                                        parties=3, timeout=600)
    expected = lifelines_coarsened_curves(df, t, e, g, 30, kmf.timeline_)
    for label in kmf.groups_:
        assert np.max(np.abs(kmf.survival_function_[label].to_numpy() - expected[label][0])) <= 1e-12
        assert kmf.median_survival_time_[label] == expected[label][1]
    assert set(kmf.ledger_.labels()) <= set(LEAKAGE)
    assert all(rel.receivers == (0, 1, 2) for rel in kmf.ledger_)
    assert int(kmf.event_table_[(kmf.groups_[0], "at_risk")].iloc[0]) == (df[g].astype(str) == kmf.groups_[0]).sum()


def test_float_durations_are_binned_up_to_the_time_unit(run1):
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"T": rng.uniform(0, 100, 80).round(3), "E": rng.integers(0, 2, 80),
                       "G": rng.choice(["p", "q"], 80)})
    table = load_table(df, duration_col="T", event_col="E", group_col="G", time_unit=2.5)
    assert table.binned
    [r] = run1(km.secure_km_counts, kwargs={"table": table, "width": 2})
    expected = lifelines_coarsened_curves(df, "T", "E", "G", 2, r.value.timeline(), time_unit=2.5)
    for i, label in enumerate(r.value.groups):
        assert np.max(np.abs(r.value.curve(i) - expected[label][0])) <= 1e-12
    binned = df.assign(T=np.ceil(df["T"] / 2.5 - 1e-9) * 2.5)
    [s] = run1(lr.secure_logrank, kwargs={"table": table})
    assert rel_err(s.value.test_statistic, lifelines_logrank(binned, "T", "E", "G")) <= 1e-6


def test_km_dp_noise_ledger_and_huge_epsilon_is_exact(run1):
    df, t, e, g = dataset("waltons")
    table = load_table(df, duration_col=t, event_col=e, group_col=g)
    [exact] = run1(km.secure_km_counts, kwargs={"table": table, "width": 10, "horizon": 80})
    [noisy] = run1(km.secure_km_counts, kwargs={"table": table, "width": 10, "horizon": 80, "epsilon": 0.5,
                                             "groups": ["control", "miR-137"]})
    [nearly] = run1(km.secure_km_counts, kwargs={"table": table, "width": 10, "horizon": 80, "epsilon": 1e6,
                                              "groups": ["control", "miR-137"]})
    assert exact.ledger.labels() == {"km.counts"}  # the horizon was given: nothing else opened
    assert [(x.what, x.count, x.epsilon) for x in noisy.ledger] == [("km.noisy_counts", exact.value.counts.size, 0.5)]
    assert not np.array_equal(noisy.value.counts, exact.value.counts)
    assert np.array_equal(nearly.value.counts, exact.value.counts)
    curve = noisy.value.curve(0)
    assert np.all(np.diff(curve) <= 0) and 0 <= curve.min() and curve.max() <= 1


def test_km_dp_needs_a_horizon_and_respects_the_budget():
    from securegenome.core.dp import PrivacyAccountant
    from securegenome.errors import BudgetExceeded

    df, t, e, g = dataset("waltons")
    with pytest.raises(InputError, match="horizon"):
        SecureKaplanMeierFitter().fit([df], duration_col=t, event_col=e, group_col=g, epsilon=1.0)
    with pytest.raises(InputError, match="group labels named"):
        SecureKaplanMeierFitter().fit([df], duration_col=t, event_col=e, group_col=g, epsilon=1.0, horizon=80)
    with pytest.raises(BudgetExceeded):
        SecureKaplanMeierFitter().fit([df], duration_col=t, event_col=e, group_col=g, epsilon=1.0, horizon=80,
                                      groups=["control", "miR-137"], accountant=PrivacyAccountant(0.5))


def test_api_logrank_and_named_groups():
    df, t, e, g = dataset("leukemia")
    parts = [df.iloc[:10], df.iloc[10:25], df.iloc[25:]]  # three parties: two would need threshold 0
    result = secure_logrank_test(parts, duration_col=t, event_col=e, group_col=g, groups=[1, 0])
    assert result.groups == ("1", "0")
    assert rel_err(result.test_statistic, lifelines_logrank(df, t, e, g)) <= 1e-6
    assert result.ledger.labels() == {"survival.horizon", "survival.size", "logrank.statistic"}


def test_a_group_absent_everywhere_gives_a_defined_result():
    df = pd.DataFrame({"T": [1, 2, 3], "E": [1, 0, 1], "G": ["a", "a", "a"]})
    kmf = SecureKaplanMeierFitter().fit([df], duration_col="T", event_col="E", group_col="G", groups=["a", "b"])
    assert np.all(kmf.survival_function_["b"] == 1.0) and kmf.median_survival_time_["b"] == math.inf
    result = secure_logrank_test([df], duration_col="T", event_col="E", group_col="G", groups=["a", "b"])
    assert result.test_statistic == 0 and result.p_value == 1


def _check_ledger(ledger, expected_counts):
    assert ledger.labels() <= set(LEAKAGE)
    assert dict(ledger.counts()) == expected_counts


# ---------------------------------------------------------------------------------------------------------
# bad input

@pytest.mark.parametrize("columns,message", [
    ({"E": [1], "G": ["a"]}, r"table: missing column 'T'"),
    ({"T": [1, "x"], "E": [1, 0], "G": ["a", "b"]}, r"column 'T', row 2: not a number: 'x'"),
    ({"T": [1, -2], "E": [1, 0], "G": ["a", "b"]}, r"column 'T', row 2: negative duration -2"),
    ({"T": [1, 2], "E": [1, 2], "G": ["a", "b"]}, r"column 'E', row 2: event must be 0 \(censored\) or 1"),
    ({"T": [1, float("nan")], "E": [1, 0], "G": ["a", "b"]}, r"column 'T', row 2: not a finite number"),
    ({"T": [1, 2], "E": [1, 0], "G": ["a", None]}, r"column 'G', row 2: missing group label"),
])
def test_bad_records_are_named(columns, message):
    with pytest.raises(InputError, match=message):
        load_table(columns, duration_col="T", event_col="E", group_col="G")


def test_bad_csv_files_are_named(tmp_path):
    path = tmp_path / "site.csv"
    path.write_text("T,E,G\n1,1,a\n2,0\n")
    with pytest.raises(InputError, match=r"site.csv: line 3: 2 fields, but the header has 3"):
        load_table(str(path), duration_col="T", event_col="E", group_col="G")
    path.write_text("")
    with pytest.raises(InputError, match="empty file"):
        load_table(str(path), duration_col="T", event_col="E", group_col="G")
    with pytest.raises(InputError, match="cannot read"):
        load_table(str(tmp_path / "absent.csv"), duration_col="T", event_col="E", group_col="G")


def test_three_groups_over_all_parties_fail_on_every_party(run3):
    tables = [load_table({"T": [1, 2], "E": [1, 0], "G": g}, duration_col="T", event_col="E", group_col="G")
              for g in (["a", "b"], ["a", "a"], ["c", "b"])]
    with pytest.raises(PartyFailure, match=r"3 distinct label\(s\) \['a', 'b', 'c'\]"):
        run3(lr.secure_logrank, private={i: {"table": t} for i, t in enumerate(tables)}, timeout=120)


def test_label_outside_named_groups_and_bad_width(run1):
    table = load_table({"T": [1, 9], "E": [1, 0], "G": ["a", "z"]}, duration_col="T", event_col="E", group_col="G")
    with pytest.raises(InputError, match=r"row 2: group label 'z' is not one of the two groups"):
        run1(km.secure_km_counts, kwargs={"table": table, "groups": ["a", "b"]})
    with pytest.raises(InputError, match="interval width"):
        run1(km.secure_km_counts, kwargs={"table": table, "width": 0})


def test_a_party_with_no_rows_at_all():
    df, t, e, g = dataset("waltons")
    empty = df.iloc[:0]
    half = len(df) // 2  # three parties (two would need threshold 0), one of them without rows
    result = secure_logrank_test([empty, df.iloc[:half], df.iloc[half:]], duration_col=t, event_col=e, group_col=g)
    assert rel_err(result.test_statistic, lifelines_logrank(df, t, e, g)) <= 1e-6
    kmf = SecureKaplanMeierFitter().fit([df.iloc[:half], empty, df.iloc[half:]], duration_col=t, event_col=e, group_col=g, interval=5)
    expected = lifelines_coarsened_curves(df, t, e, g, 5, kmf.timeline_)
    for label in kmf.groups_:
        assert np.max(np.abs(kmf.survival_function_[label].to_numpy() - expected[label][0])) <= 1e-12
