"""Regression: fixed-point math, secure ridge and logistic regression against their twins and sklearn."""

import numpy as np
import pytest
from scipy.special import expit
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

from securegenome import core
from securegenome.core import fixedpoint
from securegenome.errors import InputError, PartyFailure
from securegenome.regression import logistic, ridge
from securegenome.regression.data import Moments, SyntheticTable, local_moments, open_table

# ------------------------------------------------------------------------------------------------ protocols


async def solve_protocol(A, B, frac_bits=32):
    secfxp = fixedpoint.fxp_type(float(np.abs(A).max()) + 1, frac_bits, division=True)
    X, factor = fixedpoint.spd_solve(secfxp.array(np.asarray(A, float)), secfxp.array(np.asarray(B, float)))
    x = await core.open(X, what="x", why="test")
    low = await core.open(fixedpoint.pivots_below(factor, 1e-6), what="low", why="test")
    return np.asarray(x, float), np.asarray(low, float)


async def sigmoid_protocol(z):
    secfxp = fixedpoint.fxp_type(64, 24)
    return np.asarray(await core.open(fixedpoint.sigmoid(secfxp.array(np.asarray(z, float))), what="s",
                                      why="test"), float)


async def repeated_noisy_gradient(A, y, b, epsilon, clip, repeats):
    secfxp = fixedpoint.fxp_type(1e6, 24)
    return [await logistic.noisy_gradient(A, y, b, secfxp, epsilon=epsilon, clip=clip) for _ in range(repeats)]


# ------------------------------------------------------------------------------------------------ helpers


def diabetes_parts(parties):
    X, y = load_diabetes(return_X_y=True)
    return X, y, [(X[i::parties], y[i::parties]) for i in range(parties)]


def relative_rmse_gap(model, X, y, alpha=1.0):
    reference = Ridge(alpha=alpha, solver="cholesky").fit(X, y)
    ours = np.sqrt(np.mean((model["coef"] @ X.T + model["intercept"] - y) ** 2))
    theirs = np.sqrt(np.mean((reference.predict(X) - y) ** 2))
    return abs(ours - theirs) / theirs, reference


def small_logistic(n=60, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * [1.0, 3.0, 0.5][:d] + [0.0, 5.0, -1.0][:d]
    y = (rng.random(n) < expit(X @ np.array([1.0, -0.5, 2.0][:d]) + 2.0)).astype(float)
    return X, y


def check_ledger(ledger, leakage, expected_counts):
    assert ledger.labels() <= set(leakage)
    assert dict(ledger.counts()) == expected_counts


# ------------------------------------------------------------------------------------------------ fixed point


@pytest.mark.parametrize("case", ["random", "identity", "one", "ill"])
def test_spd_solve_matches_twin(run1, case):
    rng = np.random.default_rng(3)
    if case == "random":
        G = rng.normal(size=(40, 6))
        A, B = G.T @ G / 40 + 0.1 * np.eye(6), rng.normal(size=(6, 2))
    elif case == "identity":
        A, B = np.eye(4), rng.normal(size=4)
    elif case == "one":
        A, B = np.array([[0.25]]), np.array([0.5])
    else:  # condition number ~1e4
        Q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
        A, B = Q @ np.diag([1, 0.5, 0.1, 1e-2, 1e-4]) @ Q.T, rng.normal(size=5)
    [r] = run1(solve_protocol, kwargs={"A": A, "B": B})
    x, low = r.value
    exact = np.linalg.solve(A, B)
    assert np.allclose(fixedpoint.ldl_solve_twin(A, B), exact, rtol=1e-9, atol=1e-9)
    assert np.abs(x - exact).max() <= 1e-6 * max(1.0, np.abs(exact).max()) * np.linalg.cond(A)
    assert not low.any()


def test_singular_pivot_is_detected(run1):
    A = np.array([[1.0, 1.0], [1.0, 1.0]])
    [r] = run1(solve_protocol, kwargs={"A": A, "B": np.array([1.0, 2.0])})
    assert r.value[1].tolist() == [0.0, 1.0]


def test_sigmoid_error_is_documented():
    z = np.concatenate([np.linspace(-40, 40, 400_001), [0.0, 12.0, -12.0]])
    assert np.abs(fixedpoint.sigmoid_twin(z) - expit(z)).max() <= fixedpoint.SIGMOID_MAX_ERROR
    assert fixedpoint.sigmoid_twin(np.array([0.0]))[0] == 0.5


def test_secure_sigmoid_matches_twin(run1):
    z = np.concatenate([np.linspace(-20, 20, 161), [0.0, 11.999, 12.0, -12.0, 1e-6, -1e-6, 300.0]])
    [r] = run1(sigmoid_protocol, kwargs={"z": z})
    assert np.abs(r.value - fixedpoint.sigmoid_twin(z)).max() < 1e-5


def test_fxp_type_headroom():
    secfxp = fixedpoint.fxp_type(1000.0, 16)
    assert fixedpoint.max_magnitude(secfxp) > 1000
    with pytest.raises(ValueError, match="exceeds the fixed-point range"):
        fixedpoint.check_range([2.0 ** 40], secfxp, "x")
    assert fixedpoint.fxp_type(10.0, 30, division=True).bit_length == 60


# ------------------------------------------------------------------------------------------------ data


def test_streamed_moments_equal_one_pass(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1000, 3)) + 1e4  # large means: Chan's merge must not cancel
    path = tmp_path / "t.csv"
    np.savetxt(path, np.column_stack([X, X[:, 0]]), delimiter=",", header="a,b,c,y", comments="")
    m = local_moments(open_table(str(path), "y", chunk_rows=77))
    one = Moments.of(np.column_stack([X, X[:, 0]]))
    assert m.n == 1000
    assert np.allclose(m.mean, one.mean) and np.allclose(m.scatter, one.scatter, rtol=1e-9)


def test_non_numeric_cell_is_named(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,y\n1,2,3\n4,oops,6\n")
    with pytest.raises(InputError, match=r"bad.csv, row 2, column 'b': 'oops' is not a number"):
        local_moments(open_table(str(path), "y"))
    path.write_text("a,b,y\n1,2,3\n4,,6\n")
    with pytest.raises(InputError, match=r"row 2, column 'b': missing"):
        local_moments(open_table(str(path), "y"))


def test_missing_target_is_an_error(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="no target column 'y'"):
        open_table(str(path), "y")


# ------------------------------------------------------------------------------------------------ ridge


def test_ridge_diabetes_one_party(run1):
    X, y, _ = diabetes_parts(1)
    [r] = run1(ridge.ridge_protocol, kwargs={"target": "y", "alpha": 1.0, "frac_bits": 40},
               private={0: {"table": (X, y)}})
    gap, reference = relative_rmse_gap(r.value, X, y)
    assert gap <= 1e-9
    assert np.allclose(r.value["coef"], reference.coef_, rtol=1e-5, atol=1e-3)
    twin = ridge.ridge_twin([(X, y)], target="y", alpha=1.0)
    assert np.allclose(twin["coef"], reference.coef_, rtol=1e-9) and np.isclose(twin["intercept"],
                                                                                 reference.intercept_)
    check_ledger(r.ledger, ridge.LEAKAGE, {"ridge.column_scale": 11, "ridge.constant_columns": 10,
                                           "ridge.singular": 1, "ridge.coefficients": 11})


def test_ridge_fewer_bits_is_still_accurate(run1):
    X, y, _ = diabetes_parts(1)
    [r] = run1(ridge.ridge_protocol, kwargs={"target": "y", "alpha": 0.1, "frac_bits": 20},
               private={0: {"table": (X, y)}})
    assert relative_rmse_gap(r.value, X, y, alpha=0.1)[0] <= 1e-3


def test_ridge_three_parties(run3):
    X, y, parts = diabetes_parts(3)
    results = run3(ridge.ridge_protocol, kwargs={"target": "y", "alpha": 1.0},
                   private={i: {"table": p} for i, p in enumerate(parts)})
    coefs = [r.value["coef"] for r in results]
    assert all(np.allclose(c, coefs[0]) for c in coefs)
    assert relative_rmse_gap(results[0].value, X, y)[0] <= 1e-5
    assert results[0].value["sizes"] == [148, 147, 147]
    for r in results:
        check_ledger(r.ledger, ridge.LEAKAGE, {"ridge.column_scale": 11, "ridge.constant_columns": 10,
                                               "ridge.singular": 1, "ridge.coefficients": 11})


def test_ridge_to_one_receiver(run3):
    rng = np.random.default_rng(8)
    parts = [(rng.normal(size=(k, 2)), rng.normal(size=k)) for k in (5, 9, 4)]
    results = run3(ridge.ridge_protocol, kwargs={"target": "y", "to": 2, "frac_bits": 24},
                   private={i: {"table": p} for i, p in enumerate(parts)})
    X, y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    assert relative_rmse_gap(results[2].value, X, y)[0] <= 1e-5
    assert [r.value is None for r in results] == [True, True, False]
    assert all(r.ledger.received_by(0).labels() == {"ridge.column_scale", "ridge.constant_columns",
                                                    "ridge.singular"} for r in results)


def test_ridge_synthetic_matches_sklearn(run1):
    table = SyntheticTable(20_000, 6, seed=4, chunk_rows=3000)  # 28 features: the slow test in _cli
    [r] = run1(ridge.ridge_protocol, kwargs={"target": "y", "alpha": 1.0}, private={0: {"table": table}})
    X, y = open_table(table, "y").arrays()
    assert relative_rmse_gap(r.value, X, y)[0] <= 1e-5


def test_ridge_secure_class_api():
    X, y, parts = diabetes_parts(1)
    model = ridge.SecureRidge(alpha=1.0).fit([(X, y)], target="y")
    assert model.predict(X[:3]).shape == (3,)
    assert np.allclose(model.predict(X), Ridge(alpha=1.0, solver="cholesky").fit(X, y).predict(X), rtol=1e-4)
    assert list(model.feature_names_in_)[:2] == ["x0", "x1"]


@pytest.mark.parametrize("case, message", [
    ("constant", "constant feature column.*: x1"),
    ("singular", "singular"),
    ("wide", "need more rows than features"),
    ("nan", "column 'x0': missing"),
])
def test_ridge_bad_input_one_party(run1, case, message):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 3)), rng.normal(size=30)
    alpha = 1.0
    if case == "constant":
        X[:, 1] = 7.0
    elif case == "singular":
        X[:, 2] = X[:, 0] + X[:, 1]
        alpha = 0.0
    elif case == "wide":
        X, y = X[:3], y[:3]
    else:
        X[5, 0] = np.nan
    with pytest.raises(InputError, match=message):
        run1(ridge.ridge_protocol, kwargs={"target": "y", "alpha": alpha, "frac_bits": 24},
             private={0: {"table": (X, y)}})


def test_ridge_column_mismatch_fails_on_every_party(run3):
    rng = np.random.default_rng(0)
    tables = [{"a": rng.normal(size=9), "b": rng.normal(size=9), "y": rng.normal(size=9)} for _ in range(3)]
    tables[1] = {"a": rng.normal(size=9), "c": rng.normal(size=9), "y": rng.normal(size=9)}
    with pytest.raises(PartyFailure, match="features"):
        run3(ridge.ridge_protocol, kwargs={"target": "y"}, private={i: {"table": t} for i, t in enumerate(tables)},
             timeout=120)


# ------------------------------------------------------------------------------------------------ logistic


def test_logistic_secure_matches_twin_one_party(run1):
    X, y = small_logistic()
    [r] = run1(logistic.logistic_protocol, kwargs={"target": "y", "lam": 1.0, "iterations": 4},
               private={0: {"table": (X, y)}})
    m = r.value
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    twin = logistic.logistic_twin(Z, y, lam=1.0, iterations=4)
    assert np.abs(np.concatenate([[m["intercept_std"]], m["coef_std"]]) - twin).max() < 1e-3
    assert np.allclose(m["center"], X.mean(axis=0)) and np.allclose(m["scale"], X.std(axis=0), rtol=1e-6)
    check_ledger(r.ledger, logistic.LEAKAGE, {"logreg.feature_moments": 6, "logreg.coefficients": 4})


def test_logistic_secure_three_parties_public_scaling(run3):
    X, y = small_logistic(n=44, d=2, seed=2)  # 15, 15 and 14 rows: unequal shares of rows
    center, scale = [0.0, 5.0], [1.0, 3.0]
    results = run3(logistic.logistic_protocol,
                   kwargs={"target": "y", "iterations": 3, "center": center, "scale": scale},
                   private={i: {"table": (X[i::3], y[i::3])} for i in range(3)})
    twin = logistic.logistic_twin((X - center) / scale, y, lam=1.0, iterations=3)
    for r in results:
        b = np.concatenate([[r.value["intercept_std"]], r.value["coef_std"]])
        assert np.abs(b - twin).max() < 1e-3
        check_ledger(r.ledger, logistic.LEAKAGE, {"logreg.coefficients": 3})


def test_logistic_rejects_non_binary_target(run1):
    X, y = small_logistic()
    y[7] = 2.0
    with pytest.raises(InputError, match=r"row 8, column 'y': 2 is not 0 or 1"):
        run1(logistic.logistic_protocol, kwargs={"target": "y"}, private={0: {"table": (X, y)}})


def test_logistic_dp_needs_public_scaling(run1):
    X, y = small_logistic()
    with pytest.raises(InputError, match="public standardisation"):
        run1(logistic.logistic_protocol, kwargs={"target": "y", "epsilon": 1.0}, private={0: {"table": (X, y)}})


def test_logistic_dp_ledger_and_budget(run1):
    X, y = small_logistic(n=200)
    center, scale = X.mean(axis=0), X.std(axis=0)
    [r] = run1(logistic.logistic_protocol,
               kwargs={"target": "y", "epsilon": 2.0, "iterations": 3, "center": center, "scale": scale},
               private={0: {"table": (X, y)}})
    releases = list(r.ledger)
    assert [x.what for x in releases] == ["logreg.dp_hessian"] + ["logreg.dp_gradient"] * 3
    assert np.isclose(sum(x.epsilon for x in releases), 2.0)
    assert r.ledger.labels() <= set(logistic.LEAKAGE)
    assert len(r.value["history"]) == 3 and np.allclose(r.value["history"][-1][1:], r.value["coef_std"])


def test_gradient_sensitivity_is_for_the_sum_objective():
    """Replacing one row changes the gradient SUM by up to ~2·B1 — not 2·B1/n (the under-noising bug)."""
    rng = np.random.default_rng(5)
    d, clip, n = 4, 2.0, 1000
    Z = logistic.clip_rows(rng.normal(size=(n, d)) * 3, clip)
    A = np.column_stack([np.ones(n), Z])
    y = (rng.random(n) < 0.5).astype(float)
    b = rng.normal(size=d + 1) * 3
    bound = logistic.gradient_sensitivity(d, clip)
    assert bound == pytest.approx(2 * (np.sqrt(d) * clip + 1))
    worst = 0.0
    for _ in range(200):  # adversarial neighbours: the first row replaced by a clipped extreme row
        A2, y2 = A.copy(), y.copy()
        x = clip * np.sign(rng.normal(size=d)) / np.sqrt(d)
        A2[0, 1:], y2[0] = x, 1.0 - float(1 / (1 + np.exp(-A[0] @ b)) > 0.5)
        g1 = A.T @ (expit(A @ b) - y)
        g2 = A2.T @ (expit(A2 @ b) - y2)
        change = np.abs(g1 - g2).sum()
        assert change <= bound
        worst = max(worst, change)
    assert worst > bound / 4 > bound / n * 100  # the bound is tight up to a small factor, not n


def test_dp_gradient_noise_is_calibrated(run1):
    """The opened gradient minus the exact one has the Laplace spread of sensitivity/ε (1 party: one draw)."""
    rng = np.random.default_rng(6)
    d, clip, eps = 3, 1.5, 2.0
    Z = logistic.clip_rows(rng.normal(size=(50, d)), clip)
    A = np.column_stack([np.ones(50), Z])
    y = (rng.random(50) < 0.5).astype(float)
    b = np.array([0.1, -0.2, 0.3, 0.0])
    [r] = run1(repeated_noisy_gradient, kwargs={"A": A, "y": y, "b": b, "epsilon": eps, "clip": clip,
                                                "repeats": 400})
    noise = np.array(r.value) - A.T @ (expit(A @ b) - y)
    scale = logistic.gradient_sensitivity(d, clip) / eps
    assert abs(noise.mean()) < 0.15 * scale
    assert 0.9 < noise.std() / (np.sqrt(2) * scale) < 1.1  # Laplace(b) has SD √2·b
    under = logistic.gradient_sensitivity(d, clip) / 50 / eps  # what "mean" calibration would use
    assert noise.std() > 10 * np.sqrt(2) * under


def test_logistic_dp_small_epsilon_many_iterations(run1):
    """ε/(K+1) per release can be small: the noise must still fit the fixed-point field."""
    X, y = small_logistic(n=100)
    [r] = run1(logistic.logistic_protocol,
               kwargs={"target": "y", "epsilon": 0.05, "iterations": 12, "center": X.mean(axis=0),
                       "scale": X.std(axis=0)}, private={0: {"table": (X, y)}})
    assert np.all(np.isfinite(r.value["coef"])) and len(r.ledger) == 13


def test_predict_matches_dataframe_columns_by_name():
    import pandas as pd

    X, y, _ = diabetes_parts(1)
    frame = pd.DataFrame(X, columns=[f"c{j}" for j in range(10)]).assign(target=y)
    model = ridge.SecureRidge(alpha=1.0).fit([frame], target="target")
    shuffled = frame.drop(columns="target")[[f"c{j}" for j in reversed(range(10))]]
    assert np.allclose(model.predict(shuffled), model.predict(X))
    with pytest.raises(InputError, match="lacks the feature column"):
        model.predict(shuffled.drop(columns="c3"))
