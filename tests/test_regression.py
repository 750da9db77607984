"""Regression: fixed-point math, secure ridge and logistic regression against their twins and sklearn."""

import numpy as np
import pytest
from scipy.special import expit
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split

from securegenome import core
from securegenome.core import fixedpoint, mpc
from securegenome.errors import InputError, PartyFailure
from securegenome.regression import logistic, ridge
from securegenome.regression.data import Moments, SyntheticTable, local_moments, open_table
from securegenome.regression.logistic import SecureLogisticRegression

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


async def refine_protocol(A, steps):
    secfxp = fixedpoint.fxp_type(16.0, 32, division=True)
    A_sh = secfxp.array(A)
    X = secfxp.array(np.eye(len(A))) * (1.0 / mpc.np_sum(mpc.np_diagonal(A_sh)))
    return np.asarray(await core.open(fixedpoint.refine_inverse(X, A_sh, steps), what="x", why="test"), float)


def test_refine_inverse_matches_twin_and_converges(run1):
    rng = np.random.default_rng(4)
    G = rng.normal(size=(30, 5))
    A = G.T @ G / 30 + 0.05 * np.eye(5)
    [r] = run1(refine_protocol, kwargs={"A": A, "steps": 12})
    twin = fixedpoint.refine_inverse_twin(np.eye(5) / np.trace(A), A, 12)
    assert np.abs(r.value - twin).max() < 1e-5
    assert np.abs(twin - np.linalg.inv(A)).max() < 1e-8 * np.abs(np.linalg.inv(A)).max()


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


def standardise(X):
    return (X - X.mean(axis=0)) / X.std(axis=0)


def stacked(model_dict):
    return np.concatenate([[model_dict["intercept_std"]], model_dict["coef_std"]])


def sklearn_optimum(Z, y, lam):
    """sklearn's converged solution of the same objective (intercept first, standardised units)."""
    reference = LogisticRegression(C=1.0 / lam, tol=1e-12, max_iter=100_000).fit(Z, y)
    return np.concatenate([reference.intercept_, reference.coef_[0]])


def breast_cancer_train():
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, _, ytr, _ = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    return Xtr, ytr


def synthetic_logistic(n=3000, d=8, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) @ (np.eye(d) + 0.3 * rng.normal(size=(d, d))) + rng.normal(size=d) * 5
    y = (rng.random(n) < expit(standardise(X) @ rng.normal(size=d) - 0.5)).astype(float)
    return X, y


def test_logistic_secure_matches_twin_one_party(run1):
    X, y = small_logistic()
    [r] = run1(logistic.logistic_protocol, kwargs={"target": "y", "lam": 1.0}, private={0: {"table": (X, y)}})
    m = r.value
    twin = logistic.logistic_twin(standardise(X), y, lam=1.0)
    assert np.abs(stacked(m) - twin["b"]).max() < 1e-4
    assert m["converged"] and m["n_iter"] == twin["n_iter"]
    assert np.abs(stacked(m) - sklearn_optimum(standardise(X), y, 1.0)).max() < 1e-3
    assert np.allclose(m["center"], X.mean(axis=0)) and np.allclose(m["scale"], X.std(axis=0), rtol=1e-6)
    check_ledger(r.ledger, logistic.LEAKAGE, {"logreg.feature_moments": 6, "logreg.converged": m["n_iter"],
                                              "logreg.coefficients": 4})


def test_logistic_secure_three_parties_public_scaling(run3):
    X, y = small_logistic(n=44, d=2, seed=2)  # 15, 15 and 14 rows: unequal shares of rows
    center, scale = [0.0, 5.0], [1.0, 3.0]
    results = run3(logistic.logistic_protocol, kwargs={"target": "y", "lam": 2.0, "center": center, "scale": scale},
                   private={i: {"table": (X[i::3], y[i::3])} for i in range(3)})
    twin = logistic.logistic_twin((X - center) / scale, y, lam=2.0)
    for r in results:
        assert np.abs(stacked(r.value) - twin["b"]).max() < 1e-4
        check_ledger(r.ledger, logistic.LEAKAGE, {"logreg.converged": twin["n_iter"], "logreg.coefficients": 3})


@pytest.mark.parametrize("case", ["breast_cancer", "synthetic_lam10", "synthetic_lam0.1"])
def test_logistic_twin_reaches_sklearn_optimum(case):
    """The plaintext twin of the secure iteration converges to sklearn's optimum of the same objective."""
    if case == "breast_cancer":
        (X, y), lam = breast_cancer_train(), 1.0
    else:
        (X, y), lam = synthetic_logistic(), float(case.removeprefix("synthetic_lam"))
    Z = standardise(X)
    twin = logistic.logistic_twin(Z, y, lam=lam)
    assert twin["converged"] and twin["n_iter"] <= 12
    assert np.abs(twin["b"] - sklearn_optimum(Z, y, lam)).max() < 1e-3


def test_logistic_secure_matches_twin_other_penalty(run1):
    X, y = synthetic_logistic(n=150, d=4, seed=3)
    [r] = run1(logistic.logistic_protocol, kwargs={"target": "y", "lam": 10.0}, private={0: {"table": (X, y)}})
    twin = logistic.logistic_twin(standardise(X), y, lam=10.0)
    assert np.abs(stacked(r.value) - twin["b"]).max() < 1e-4 and r.value["n_iter"] == twin["n_iter"]
    assert np.abs(stacked(r.value) - sklearn_optimum(standardise(X), y, 10.0)).max() < 1e-3


def test_logistic_tol_is_respected():
    """The test passes at the first iteration whose gradient is below tol; the model is one step past it."""
    X, y = breast_cancer_train()
    Z = standardise(X)
    for tol in (1e-2, 1e-4, 1e-8):
        twin = logistic.logistic_twin(Z, y, tol=tol)
        norms = twin["gradient_norms"]
        assert twin["converged"] and norms[-1] < tol and all(g >= tol for g in norms[:-1])
    assert logistic.logistic_twin(Z, y, tol=1e-2)["n_iter"] < logistic.logistic_twin(Z, y, tol=1e-8)["n_iter"]


def test_logistic_small_max_iter_warns():
    X, y = small_logistic()
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        model = SecureLogisticRegression(max_iter=2).fit(X, y)
    assert model.n_iter_.tolist() == [2] and model.converged_ is False
    assert dict(model.ledger_.counts())["logreg.converged"] == 2
    twin = logistic.logistic_twin(standardise(X), y, max_iter=2)
    assert not twin["converged"]
    ours = np.concatenate([model.intercept_ + model.coef_[0] @ X.mean(axis=0), model.coef_[0] * X.std(axis=0)])
    assert np.abs(ours - twin["b"]).max() < 1e-4


def test_logistic_secure_tol_stops_like_twin(run1):
    X, y = small_logistic()
    [r] = run1(logistic.logistic_protocol, kwargs={"target": "y", "tol": 1e-2}, private={0: {"table": (X, y)}})
    twin = logistic.logistic_twin(standardise(X), y, tol=1e-2)
    assert r.value["n_iter"] == twin["n_iter"] < logistic.logistic_twin(standardise(X), y)["n_iter"]


def test_estimators_clone_get_params_score():
    X, y = small_logistic(n=90)
    clf = SecureLogisticRegression(C=2.0, tol=1e-6)
    assert clf.get_params()["C"] == 2.0 and clf.get_params()["tol"] == 1e-6
    twin = clone(clf).set_params(max_iter=5)
    assert twin.max_iter == 5 and clf.max_iter == logistic.DEFAULT_MAX_ITER and twin.C == 2.0
    fitted = clf.fit(X, y)
    assert fitted is clf and clf.n_features_in_ == 3 and clf.classes_.tolist() == [0, 1]
    assert clf.score(X, y) == (clf.predict(X) == y).mean()
    # the penalty applies to standardised coefficients: compare with sklearn on standardised features
    reference = LogisticRegression(C=2.0, tol=1e-10, max_iter=10_000).fit(standardise(X), y)
    assert clf.score(X, y) == reference.score(standardise(X), y)
    assert np.abs(clf.coef_[0] * X.std(axis=0) - reference.coef_[0]).max() < 1e-3

    Xr, yr, _ = diabetes_parts(1)
    reg = clone(ridge.SecureRidge(alpha=0.5, frac_bits=32))
    assert reg.get_params()["alpha"] == 0.5
    reg.fit(Xr, yr)
    assert reg.score(Xr, yr) == pytest.approx(Ridge(alpha=0.5).fit(Xr, yr).score(Xr, yr), abs=1e-6)


def test_to_sklearn_gives_identical_predictions():
    X, y = small_logistic(n=90)
    clf = SecureLogisticRegression(lam=0.5, parties=3).fit(X, y)
    other = clf.to_sklearn()
    assert isinstance(other, LogisticRegression) and other.C == 2.0
    for method in ("predict", "predict_proba", "decision_function"):
        assert np.array_equal(getattr(clf, method)(X), getattr(other, method)(X)), method
    Xr, yr, _ = diabetes_parts(1)
    reg = ridge.SecureRidge(alpha=1.0).fit(Xr, yr)
    assert np.array_equal(reg.predict(Xr), reg.to_sklearn().predict(Xr))


def test_c_and_lam_must_agree():
    X, y = small_logistic()
    with pytest.raises(InputError, match="either lam or C"):
        SecureLogisticRegression(lam=3.0, C=1.0).fit(X, y)
    assert SecureLogisticRegression(lam=0.5, C=2.0).penalty() == 0.5


@pytest.mark.parametrize("epsilon", [None, 4.0])
def test_outlier_is_clipped_not_an_abort(run1, epsilon):
    """A far outlier used to stop every party with a message about it (data-dependent); now it is clipped."""
    X, y = small_logistic(n=100)
    X[3, 1] = 1e9
    kwargs = {"target": "y", "center": [0.0, 5.0, -1.0], "scale": [1.0, 3.0, 0.5], "epsilon": epsilon}
    [r] = run1(logistic.logistic_protocol, kwargs=kwargs, private={0: {"table": (X, y)}})
    assert np.all(np.isfinite(r.value["coef_std"]))
    if epsilon is None:
        Z = np.clip((X - kwargs["center"]) / kwargs["scale"], -logistic.FEATURE_BOUND, logistic.FEATURE_BOUND)
        assert np.abs(stacked(r.value) - logistic.logistic_twin(Z, y)["b"]).max() < 1e-4


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
               kwargs={"target": "y", "epsilon": 2.0, "dp_iterations": 3, "center": center, "scale": scale},
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
               kwargs={"target": "y", "epsilon": 0.05, "dp_iterations": 12, "center": X.mean(axis=0),
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


def test_protocol_iterations_is_a_deprecated_alias():
    X, y = small_logistic()
    with pytest.warns(DeprecationWarning, match="use max_iter"):
        [r] = core.run(logistic.logistic_protocol, parties=1, kwargs={"target": "y", "iterations": 2},
                       private={0: {"table": (X, y)}})
    assert r.value["n_iter"] == 2 and r.value["converged"] is False
