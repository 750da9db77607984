"""Private exploration (securegenome.query): the plaintext twin against pandas, the secure plan without noise
against the twin (1 party sync/async, 3 processes), noise distributions against the exact PMF, calibration
against OpenDP, budget files, the ledger, and bad queries refused before anything is shared."""

import json
import math
import os
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from securegenome import core
from securegenome.core import dp
from securegenome.errors import BudgetExceeded, InputError
from securegenome.query import LEAKAGE, SecureFrame, compute, explain, plaintext, sql_results
from securegenome.query import budget as budgets
from securegenome.query.frame import make_plan, run_plan
from securegenome.query.plan import QUANTILE_DIGITS, resolution, select_quantile_bin
from securegenome.query.protocol import query_protocol
from test_dp import ALPHA, chi_square_p, laplace_pmf, sum_of_laplaces_pmf

BOUNDS = {"age": (0, 120), "w": (30, 150)}
DOMAINS = {"grp": ["a", "b", "c"], "sex": [1, 2]}


def tables(seed=0, sizes=(120, 80, 50), adversarial=False):
    rng = np.random.default_rng(seed)
    out = []
    for n in sizes:
        t = pd.DataFrame({"age": rng.integers(15, 100, n).astype(float), "grp": rng.choice(["a", "b"], n),
                          "sex": rng.integers(1, 3, n), "w": rng.normal(75, 15, n).round(2)})
        if adversarial and n:
            t.loc[0, "age"] = 150.0            # outside the bounds: clipped
            t.loc[1 % n, "w"] = np.nan        # missing: not in the mean's count
            t.loc[2 % n, "grp"] = "zzz"       # outside the public domain: in no group
            t.loc[3 % n, "age"] = -4.0
        out.append(t)
    return out


def queries(sf):
    old = sf[(sf.age > 40) & ~sf.sex.isin([2]) | (sf.w >= 90)]
    old["bmi_ish"] = (old.w / 10).clip(3, 15)
    return [
        old.groupby("grp").agg(n=("age", "count"), rows=("age", "size"), mean_age=("age", "mean"),
                               sd_w=("w", "std"), var_w=("w", "var"), total=("bmi_ish", "sum"),
                               med=("age", "median"), q90=("w", "quantile", 0.9)),
        sf.crosstab("sex", "grp"),
        sf.histogram("age", np.linspace(0, 120, 13)),
        sf.groupby(["sex", sf.age.cut([0, 50, 120])])["w"].mean(),
        sf.count(),
    ]


def pooled(parts):
    return pd.concat(parts, ignore_index=True)


# --- the plaintext twin against pandas --------------------------------------------------------------------

@pytest.mark.parametrize("adversarial", [False, True])
def test_twin_matches_pandas(adversarial):
    parts = tables(1, adversarial=adversarial)
    sf = SecureFrame(parts, bounds=BOUNDS, domains=DOMAINS)
    got = plaintext(queries(sf))
    df = pooled(parts)
    df = df[df.grp.isin(DOMAINS["grp"])]
    df["age"] = df.age.clip(0, 120)
    df["w"] = df.w.clip(30, 150)
    sel = df[(df.age > 40) & ~df.sex.isin([2]) | (df.w >= 90)].copy()
    sel["bmi_ish"] = (sel.w / 10).clip(3, 15)
    want = sel.groupby("grp").agg(n=("age", "count"), mean_age=("age", "mean"), sd_w=("w", "std"),
                                  var_w=("w", "var"), total=("bmi_ish", "sum"), med=("age", "median"))
    t = got[0]
    assert list(t.index) == ["a", "b", "c"]  # every public group, "c" empty
    assert t.loc["c", "n"] == 0 and t.loc["c", "rows"] == 0
    for g in ["a", "b"]:
        assert t.loc[g, "n"] == want.loc[g, "n"]
        assert t.loc[g, "rows"] == (sel.grp == g).sum()
        assert t.loc[g, "mean_age"] == pytest.approx(want.loc[g, "mean_age"], abs=1e-4)
        assert t.loc[g, "sd_w"] == pytest.approx(want.loc[g, "sd_w"], rel=1e-4)
        assert t.loc[g, "var_w"] == pytest.approx(want.loc[g, "var_w"], rel=1e-4)
        assert t.loc[g, "total"] == pytest.approx(want.loc[g, "total"], abs=1e-3)
        assert abs(t.loc[g, "med"] - want.loc[g, "med"]) <= 120 / 128  # within a quantile bin
        w = sel[sel.grp == g].w.dropna()
        assert abs(t.loc[g, "q90"] - np.quantile(w, 0.9)) <= 120 / 128 + 1e-9
        assert (t.filter(like="_noise_sd").fillna(0) == 0).all().all()
    cross = pd.crosstab(df.sex, df.grp).reindex(columns=DOMAINS["grp"], fill_value=0)
    np.testing.assert_array_equal(got[1].to_numpy(), cross.to_numpy())
    raw = pooled(parts)  # histograms and counts need no bounds: raw values, values outside the bins dropped
    hist, _ = np.histogram(raw.age, np.linspace(0, 120, 13))
    np.testing.assert_array_equal(got[2]["count"].to_numpy(), hist)
    assert got[4]["count"].iloc[0] == len(raw)


def test_select_quantile_bin_is_the_first_bin_reaching_q():
    hist = np.array([[0, 3, 0, 2, 5], [1, 1, 1, 1, 0], [0, 0, 0, 0, 0]])
    assert list(select_quantile_bin(hist, 0.5)) == [3, 1, 0]  # cumulative 0 3 3 5 10: reaches 5 at bin 3
    assert list(select_quantile_bin(hist, 0.0)) == [0, 0, 0]
    assert list(select_quantile_bin(hist, 1.0)) == [4, 3, 0]
    noisy = np.array([[-3, 2, -1, 4, 1]])  # cumulative -3 -1 -2 2 3, total 3: three prefixes below 1.5
    assert list(select_quantile_bin(noisy, 0.5)) == [3]


# --- the secure plan without noise equals the twin ----------------------------------------------------------

def _same(a, b):
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-12)


SYNC = pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])  # MPyC's two 1-party modes


@SYNC
def test_secure_exact_equals_twin_one_party(sync):
    parts = tables(2, sizes=(150,), adversarial=True)
    sf = SecureFrame(parts, bounds=BOUNDS, domains=DOMAINS)
    rs = queries(sf)
    got = compute(rs, epsilon=1.0, exact_for_testing=True, sync=sync)
    for a, b in zip(got, plaintext(rs)):
        _same(a, b)


def test_secure_exact_equals_twin_three_parties_frame_and_sql(run3):
    parts = tables(3, adversarial=True)
    sf = SecureFrame(parts, bounds=BOUNDS, domains=DOMAINS)
    rs = queries(sf) + [sql_results(
        "SELECT grp, COUNT(*) AS n, AVG(age) AS mean_age, STDDEV_POP(w) AS sdp, MEDIAN(age) AS med, "
        "PERCENTILE_CONT(0.25) WITHIN GROUP (ORDER BY w) AS q1 FROM t "
        "WHERE age BETWEEN 30 AND 90 AND (grp IN ('a', 'b') OR w IS NULL) AND NOT sex = 2 GROUP BY grp", sf)]
    got, results = run_plan(rs, epsilon=1.0, exact_for_testing=True, parties=3, timeout=600)
    for a, b in zip(got, plaintext(rs)):
        _same(a, b)
    assert {r.what for r in results[0].ledger} == {"query.exact_aggregate", "query.exact_quantile"}
    for r in results[1:]:  # every party got the same releases
        for label, values in results[0].value["opened"].items():
            np.testing.assert_array_equal(r.value["opened"][label], values)


@pytest.mark.slow  # the default run covers GBSG2 over 3 processes through the CLI (test_query_cli.py)
def test_real_data_split_over_three_parties(run3):
    """lifelines' GBSG2 breast-cancer cohort (686 patients) split over 3 parties, as in docs/query.md."""
    from lifelines.datasets import load_gbsg2

    df = load_gbsg2()
    parts = [df.iloc[i::3].reset_index(drop=True) for i in range(3)]
    sf = SecureFrame(parts, bounds={"age": (20, 80), "tsize": (0, 120), "pnodes": (0, 50)},
                     domains={"horTh": ["no", "yes"], "tgrade": ["I", "II", "III"], "menostat": ["Pre", "Post"]})
    q = sql_results("SELECT horTh, tgrade, COUNT(*) AS n, AVG(tsize) AS mean_size, MEDIAN(age) AS med_age "
                    "FROM gbsg2 WHERE pnodes > 3 GROUP BY horTh, tgrade", sf)
    secure = q.compute(epsilon=1.0, exact_for_testing=True, parties=3, timeout=600)
    _same(secure, q.plaintext())
    sel = df[df.pnodes > 3]
    want = sel.groupby(["horTh", "tgrade"]).agg(n=("age", "size"), mean_size=("tsize", "mean"))
    for _, row in secure.iterrows():
        key = (row.horTh, row.tgrade)
        assert row.n == (want.loc[key, "n"] if key in want.index else 0)
        if key in want.index:
            assert row.mean_size == pytest.approx(want.loc[key, "mean_size"], abs=1e-4)


# --- noise: the calibrated distribution -------------------------------------------------------------------

def _histogram_noise(run, parties, epsilon, cells=3000, **session):
    """Noise samples from one noisy histogram of many (mostly empty) public bins: opened - exact."""
    rng = np.random.default_rng(5)
    parts = [pd.DataFrame({"x": rng.uniform(0, 1, 40)}) for _ in range(parties)]
    sf = SecureFrame(parts, bounds={"x": (0, 1)})
    h = sf.histogram("x", np.linspace(0, 1, cells + 1))
    noisy = compute([h], epsilon=epsilon, parties=parties, **session)[0]["count"].to_numpy()
    exact = h.plaintext()["count"].to_numpy()
    return (noisy - exact).astype(np.int64), noisy


def test_noisy_counts_are_discrete_laplace_one_party():
    noise, _ = _histogram_noise(None, 1, epsilon=0.5)
    scale = 1 / 0.5  # sensitivity 1 (one row changes one cell by 1), the whole epsilon on one release
    assert chi_square_p(noise, lambda s: laplace_pmf(scale, s)) > ALPHA
    assert chi_square_p(noise, lambda s: laplace_pmf(scale * 1.25, s)) < ALPHA  # the test has teeth


def test_noisy_counts_three_parties_are_two_draws(run3):
    noise, _ = _histogram_noise(None, 3, epsilon=1.0, timeout=600)
    assert chi_square_p(noise, lambda s: sum_of_laplaces_pmf(1.0, 2, s)) > ALPHA
    assert chi_square_p(noise, lambda s: laplace_pmf(1.0, s)) < ALPHA


def test_noisy_sums_have_the_declared_scale():
    """Sum noise in integer grid units: discrete Laplace with scale sensitivity/epsilon (KS test against the
    continuous limit; the grid scale is ~10^5 units) and the noise sd the result reports."""
    rng = np.random.default_rng(7)
    groups = [f"g{i}" for i in range(4000)]
    t = pd.DataFrame({"g": rng.choice(groups, 600), "x": rng.uniform(-2, 6, 600)})
    sf = SecureFrame([t], bounds={"x": (-2, 6)}, domains={"g": groups})
    q = sf.groupby("g")["x"].sum()
    plan = make_plan([q], 0.8)
    (release,) = plan.releases
    assert release.sensitivity == 6 * resolution((-2, 6))  # max(|L|, |U|) in grid units
    noisy = q.compute(epsilon=0.8)
    exact = q.plaintext()
    units = ((noisy["x"] - exact["x"]) * release.resolution).round().to_numpy()
    scale = release.sensitivity / 0.8
    assert stats.kstest(units, stats.laplace(scale=scale).cdf).pvalue > ALPHA
    assert stats.kstest(units, stats.laplace(scale=1.3 * scale).cdf).pvalue < ALPHA
    assert noisy["x_noise_sd"].iloc[0] == pytest.approx(math.sqrt(2) * 6 / 0.8, rel=1e-3)


def test_noisy_means_are_centred_and_within_their_reported_sd():
    rng = np.random.default_rng(8)
    groups = list(range(400))
    t = pd.DataFrame({"g": np.repeat(groups, 50), "x": rng.uniform(0, 10, 400 * 50)})
    sf = SecureFrame([t], bounds={"x": (0, 10)}, domains={"g": groups})
    q = sf.groupby("g")["x"].mean()
    noisy, exact = q.compute(epsilon=2.0), q.plaintext()
    z = (noisy["x"] - exact["x"]) / noisy["x_noise_sd"]
    assert abs(z.mean()) < 4 / math.sqrt(len(z))
    assert 0.8 < z.std() < 1.2


# --- calibration against OpenDP ---------------------------------------------------------------------------

opendp = pytest.importorskip("opendp.prelude")
opendp.enable_features("contrib")


@pytest.mark.parametrize("lo, hi", [(0, 120), (-3, 5), (-50.5, 0.25)])
def test_sum_sensitivity_matches_opendp(lo, hi):
    """A bounded sum of rounded values: our sensitivity in grid units is OpenDP's make_sum on the integer
    grid bounds under the symmetric distance (add or remove one row); means use the centred bounds."""
    sf = SecureFrame([pd.DataFrame({"x": [0.0]})], bounds={"x": (lo, hi)})
    plan = make_plan([sf.sum("x"), sf.mean("x")], 1.0)
    total, (count, centred) = plan.releases[0], plan.releases[1:]
    for release in (total, centred):
        r = release.resolution
        grid = (math.floor(release.term[0] * r), math.ceil(release.term[1] * r))
        opendp_sum = opendp.t.make_sum(opendp.vector_domain(opendp.atom_domain(bounds=grid)),
                                       opendp.symmetric_distance())
        assert release.sensitivity == opendp_sum.map(1)
    assert count.sensitivity == 1


@pytest.mark.parametrize("epsilon", [0.1, 1.0, 3.0])
def test_quantile_histogram_noise_matches_opendp(epsilon):
    """The quantile's histogram is OpenDP's count_by_categories + Laplace at the same ε (the same scale)."""
    sf = SecureFrame([pd.DataFrame({"x": [0.0]})], bounds={"x": (0, 1)})
    (release,) = make_plan([sf.median("x")], epsilon).releases
    counts = opendp.t.make_count_by_categories(opendp.vector_domain(opendp.atom_domain(T=int)),
                                               opendp.symmetric_distance(), categories=[0, 1, 2])
    space = counts.output_space
    scale = opendp.binary_search_param(lambda s: counts >> opendp.m.then_laplace(s), d_in=1, d_out=epsilon)
    assert space and release.sensitivity / release.epsilon == pytest.approx(scale, rel=1e-6)


def test_quantile_selection_is_opendps_quantile_from_counts():
    """Post-processing: OpenDP's make_quantiles_from_counts (linear interpolation) lies in the bin the MPC
    selects, for random non-negative (noisy, then clamped) counts; there both rules are the first bin where
    the cumulative count reaches q·total."""
    rng = np.random.default_rng(11)
    for _ in range(300):
        k = int(rng.integers(2, 12))
        counts = np.maximum(rng.integers(0, 6, k) + dp.sample_discrete_laplace(1.0, k), 0)
        if counts.sum() == 0:
            continue
        q = float(rng.choice([0.1, 0.25, 0.5, 0.75, 0.9]))
        fn = opendp.t.make_quantiles_from_counts(bin_edges=[float(e) for e in range(k + 1)], alphas=[q],
                                                 interpolation="linear", TA=float)
        theirs = fn([float(c) for c in counts])[0]
        ours = select_quantile_bin(counts[None, :], q)[0]
        assert ours <= theirs <= ours + 1, (counts, q)
    assert QUANTILE_DIGITS == 1000


# --- budget, ledger, explain ------------------------------------------------------------------------------

@SYNC
def test_ledger_matches_leakage_and_budget_split(sync):
    sf = SecureFrame(tables(4, sizes=(90,)), bounds=BOUNDS, domains=DOMAINS)
    rs = queries(sf)
    plan = make_plan(rs, 2.0)
    _, results = run_plan(rs, 2.0, sync=sync)
    ledger = results[0].ledger
    assert ledger.labels() <= set(LEAKAGE)
    assert ledger.labels() == {"query.noisy_aggregate", "query.noisy_quantile"}
    assert sum(r.epsilon for r in ledger) == pytest.approx(2.0)
    assert [r.count for r in ledger] == [r.cells if r.role != "hist" else r.cells // plan.queries[r.query]
                                         .aggs[r.agg].bins for r in plan.releases]
    text = explain(rs, epsilon=2.0)
    assert all(r.label in text for r in plan.releases) and "sensitivity" in text
    shares = [float(x) for x in re.findall(r"\(\s*([0-9.]+)%\)", text)]
    assert len(shares) == len(plan.releases) and sum(shares) == pytest.approx(100, abs=0.1 * len(shares))


def test_accountant_refuses_before_running_and_absorbs(monkeypatch):
    sf = SecureFrame(tables(5, sizes=(40,)), bounds=BOUNDS, domains=DOMAINS)
    acc = core.PrivacyAccountant(1.5, dataset="cohort")
    sf.mean("age").compute(epsilon=1.0, accountant=acc)
    assert acc.spent_epsilon == pytest.approx(1.0)
    monkeypatch.setattr(core, "run", lambda *a, **k: pytest.fail("a party started"))
    with pytest.raises(BudgetExceeded, match="cohort.*needs epsilon=1 .*nothing was shared"):
        sf.mean("age").compute(epsilon=1.0, accountant=acc)


def test_budget_files_persist_and_refuse(tmp_path):
    sf = SecureFrame(tables(6, sizes=(40,)), bounds=BOUNDS, domains=DOMAINS)
    path = str(tmp_path / "budget.json")
    with pytest.raises(InputError, match="no budget file"):
        sf.count().compute(epsilon=1.0, budget_files={0: path})
    sf.count().compute(epsilon=1.0, budget_files={0: path}, budget=1.5)
    saved = json.load(open(path))
    assert saved["epsilon"] == 1.5 and saved["spent_epsilon"] == pytest.approx(1.0)
    with pytest.raises(BudgetExceeded, match="0.5 remains"):
        sf.count().compute(epsilon=1.0, budget_files={0: path})
    sf.count().compute(epsilon=0.5, budget_files={0: path})
    assert budgets.load(path).remaining == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(InputError, match="already epsilon=1.5"):
        budgets.load(path, 2.0)


def test_one_party_over_budget_stops_everyone_before_sharing(run3, tmp_path):
    """Party 2's own file has too little left: it refuses before the parties agree, nobody shares data and
    the other parties' files are not charged."""
    parts = tables(7)
    sf = SecureFrame(parts, bounds=BOUNDS, domains=DOMAINS)
    plan = make_plan([sf.mean("age")], 1.0)
    files = {pid: str(tmp_path / f"b{pid}.json") for pid in range(3)}
    for pid, path in files.items():
        acc = core.PrivacyAccountant(2.0 if pid < 2 else 0.5, dataset="cohort")
        budgets.save(path, acc)
    before = {pid: open(p).read() for pid, p in files.items()}
    with pytest.raises(Exception, match="budget of dataset 'cohort' exceeded"):
        run3(query_protocol, kwargs={"plan": plan},
             private={pid: {"table": parts[pid], "budget_file": files[pid]} for pid in range(3)})
    assert {pid: open(p).read() for pid, p in files.items()} == before


def test_parties_with_different_plans_stop_before_sharing(run3, tmp_path):
    """In a multi-host run each party compiles the query with its own declarations: different bounds give a
    different plan, and every party stops at the agreement, before any share or budget charge."""
    parts = tables(12)
    plans = [make_plan([SecureFrame(parts, bounds={"age": (0, hi)}).mean("age")], 1.0) for hi in (120, 120, 100)]
    files = {pid: str(tmp_path / f"b{pid}.json") for pid in range(3)}
    with pytest.raises(Exception, match="disagree on public parameters: plan"):
        run3(query_protocol, private={pid: {"plan": plans[pid], "table": parts[pid], "budget_file": files[pid],
                                            "budget": 2.0} for pid in range(3)})
    assert not any(os.path.exists(f) for f in files.values())


# --- bad queries: one line, before any party starts --------------------------------------------------------

@pytest.mark.parametrize("build, message", [
    (lambda sf: sf.mean("height"), "unknown column 'height'"),
    (lambda sf: sf.mean("sex"), "needs public bounds for sex"),
    (lambda sf: sf.groupby("age").count(), "group key 'age' needs a public domain"),
    (lambda sf: sf[["age"]].mean("w"), "unknown column 'w'"),
    (lambda sf: sf.agg(x=("age", "mode")), "unknown aggregate 'mode'"),
    (lambda sf: sf.mean(sf.age / (sf.w - 50)), "needs public bounds"),  # divisor may be 0
    (lambda sf: sf.quantile("age", 1.5), "quantile level must be in"),
    (lambda sf: sql_results("SELECT COUNT(*) FROM t JOIN u ON t.a = u.a", sf), "JOIN is not supported"),
    (lambda sf: sql_results("SELECT grp, COUNT(*) FROM t GROUP BY grp HAVING COUNT(*) > 5", sf), "HAVING"),
    (lambda sf: sql_results("SELECT COUNT(*) FROM (SELECT * FROM t)", sf), "FROM must name one table"),
    (lambda sf: sql_results("SELECT COUNT(DISTINCT age) FROM t", sf), "DISTINCT"),
    (lambda sf: sql_results("SELECT MAX(age) FROM t", sf), "aggregate MAX is not supported"),
    (lambda sf: sql_results("SELECT AVG(age) + 1 FROM t", sf), "arithmetic on aggregates"),
    (lambda sf: sql_results("SELECT w, COUNT(*) FROM t GROUP BY grp", sf), "must be in GROUP BY"),
    (lambda sf: sql_results("SELECT grp, COUNT(*) FROM t GROUP BY grp ORDER BY grp", sf), "ORDER BY is not"),
    (lambda sf: sql_results("SELECT COUNT(*) FROM t LIMIT 1", sf), "LIMIT is not"),
    (lambda sf: sql_results("SELECT COUNT(*) OVER () FROM t", sf), "window functions"),
    (lambda sf: sql_results("SELECT grp FROM t GROUP BY grp", sf), "no aggregate"),
    (lambda sf: sql_results("SELECT COUNT(* FROM t", sf), "cannot parse"),
])
def test_bad_queries_fail_with_one_line_before_any_party_starts(build, message, monkeypatch):
    sf = SecureFrame(tables(8), bounds=BOUNDS, domains=DOMAINS)
    monkeypatch.setattr(core, "run", lambda *a, **k: pytest.fail("a party started"))
    with pytest.raises(InputError, match=message) as info:
        build(sf).compute(epsilon=1.0)
    assert "\n" not in str(info.value)


def test_rows_outside_a_domain_or_the_bounds_reveal_nothing_but_their_absence():
    """A row with an unknown group label is simply in no group (no error that other parties would see)."""
    t = pd.DataFrame({"grp": ["a", "zzz", "b"], "age": [10.0, 20.0, 500.0]})
    sf = SecureFrame([t], bounds={"age": (0, 100)}, domains={"grp": ["a", "b"]})
    got = sf.groupby("grp").agg(n=("age", "count"), s=("age", "sum")).plaintext()
    assert list(got["n"]) == [1, 1] and list(got["s"]) == [10.0, 100.0]


def test_delta_uses_the_discrete_gaussian_for_sums_only():
    sf = SecureFrame(tables(9, sizes=(60,)), bounds=BOUNDS, domains=DOMAINS)
    plan = make_plan([sf.mean("age"), sf.median("age")], 1.0, 1e-6)
    kinds = {r.role: r.mechanism for r in plan.releases}
    assert kinds == {"count": "discrete_gaussian", "sum1": "discrete_gaussian", "hist": "discrete_laplace"}
    assert sum(r.delta for r in plan.releases) == pytest.approx(1e-6)
    table = compute([sf.mean("age")], 1.0, 1e-6)[0]
    assert table["age_noise_sd"].iloc[0] > 0


def test_cli_files_end_to_end_one_party(tmp_path):
    from securegenome.cli import main

    path = tmp_path / "a.csv"
    tables(10, sizes=(80,))[0].to_csv(path, index=False)
    out = tmp_path / "r.json"
    ledger = tmp_path / "l.json"
    rc = main(["query", "--parties", "1", "--data", f"0:{path}", "SELECT grp, COUNT(*) AS n, AVG(age) AS m "
               "FROM t GROUP BY grp", "--epsilon", "1", "--bounds", "age:0:120", "--domain", "grp:a,b",
               "--json", str(out), "--ledger", str(ledger), "--budget-file", str(tmp_path / "b.json"),
               "--budget", "1.5"])
    assert rc == 0
    result = json.load(open(out))
    assert [list(r) for r in result["rows"]] == [["grp", "n", "n_noise_sd", "m", "m_noise_sd"]] * 2
    assert {r["what"] for r in json.load(open(ledger))["releases"]} == {"query.noisy_aggregate"}
    assert main(["query", "--parties", "1", "--data", f"0:{path}", "SELECT COUNT(*) FROM t", "--epsilon", "1",
                 "--budget-file", str(tmp_path / "b.json")]) == 2  # 0.5 left


def test_frames_are_independent_copies():
    sf = SecureFrame([pd.DataFrame({"a": [1.0], "b": [2.0]})], bounds={"a": (0, 1), "b": (0, 2)})
    narrow = sf[["a"]]
    filtered = narrow[narrow.a > 0]
    filtered["c"] = filtered.a * 2
    with pytest.raises(InputError, match="unknown column 'c'"):
        narrow.mean("c")
    assert filtered.mean("c").plaintext()["c"].iloc[0] == 2.0
    with pytest.raises(InputError, match="unknown column 'b'"):
        filtered.mean("b")


def test_dataset_name_and_value_checks():
    with pytest.raises(InputError, match="low <= high"):
        SecureFrame([pd.DataFrame()], bounds={"x": (5, 1)})
    with pytest.raises(InputError, match="truth value"):
        bool(SecureFrame([pd.DataFrame()]).x > 1)
    assert os.path.basename(__file__) == "test_query.py"
