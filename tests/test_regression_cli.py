"""`securegenome ridge` and `securegenome logreg` with 3 parties: CSV files in, JSON and ledger out."""

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from securegenome.cli import main
from securegenome.regression import logistic, ridge
from securegenome.regression.logistic import SecureLogisticRegression, logistic_twin


def write_parts(frame, tmp_path, parties=3, name="site"):
    paths = []
    for i in range(parties):
        path = tmp_path / f"{name}{i}.csv"
        frame.iloc[i::parties].to_csv(path, index=False)
        paths.append(str(path))
    return paths


def data_args(paths):
    return [a for i, p in enumerate(paths) for a in ("--data", f"{i}:{p}")]


@pytest.fixture
def diabetes_files(tmp_path):
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    frame = X.assign(y=y)
    return frame, write_parts(frame, tmp_path)


def test_ridge_cli_three_parties(diabetes_files, tmp_path, capsys):
    frame, paths = diabetes_files
    out, ledger = tmp_path / "model.json", tmp_path / "ledger.json"
    assert main(["ridge", *data_args(paths), "--target", "y", "--alpha", "0.5", "--json", str(out),
                 "--ledger", str(ledger)]) == 0
    text = capsys.readouterr().out
    assert "ridge regression of 'y' on 10 features, alpha=0.5, 442 rows" in text and "bmi" in text
    model = json.loads(out.read_text())
    reference = Ridge(alpha=0.5, solver="cholesky").fit(frame.drop(columns="y"), frame["y"])
    assert np.abs(model["coef"] - reference.coef_).max() <= 1e-6 * np.abs(reference.coef_).max()
    assert model["features"] == list(frame.columns[:-1]) and model["parties"] == 3
    released = json.loads(ledger.read_text())["totals"]
    assert set(released) <= set(ridge.LEAKAGE) and released["ridge.coefficients"] == 11


def test_ridge_cli_column_mismatch(diabetes_files, tmp_path, capsys):
    frame, paths = diabetes_files
    frame.iloc[1::3].rename(columns={"bmi": "BMI"}).to_csv(paths[1], index=False)
    assert main(["ridge", *data_args(paths), "--target", "y", "--timeout", "120"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("securegenome: error:") and "features" in err and "'BMI'" in err


def test_ridge_cli_non_numeric_cell(diabetes_files, capsys):
    frame, paths = diabetes_files
    bad = frame.iloc[2::3].astype(object)
    bad.iloc[4, 3] = "abc"
    bad.to_csv(paths[2], index=False)
    assert main(["ridge", *data_args(paths), "--target", "y", "--timeout", "120"]) == 2
    err = capsys.readouterr().err
    assert f"party 2: {paths[2]}, row 5, column 'bp': 'abc' is not a number" in err


def test_logreg_cli_three_parties(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2)) * [1.0, 2.0] + [0.5, -1.0]
    y = (rng.random(60) < 1 / (1 + np.exp(-(X @ [1.5, -1.0])))).astype(int)
    import pandas as pd
    frame = pd.DataFrame({"u": X[:, 0], "v": X[:, 1], "label": y})
    paths = write_parts(frame, tmp_path)
    out, ledger = tmp_path / "model.json", tmp_path / "ledger.json"
    assert main(["logreg", *data_args(paths), "--target", "label", "--tol", "1e-3", "--max-iter", "20",
                 "--json", str(out), "--ledger", str(ledger)]) == 0
    text = capsys.readouterr().out
    assert "logistic regression of 'label' on 2 features (fully secure)" in text and "converged, tol=0.001" in text
    model = json.loads(out.read_text())
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    twin = logistic_twin(Z, y, lam=1.0, tol=1e-3, max_iter=20)
    assert np.abs(np.array([model["intercept_std"], *model["coef_std"]]) - twin["b"]).max() < 1e-4
    assert model["n_iter"] == twin["n_iter"] and model["converged"] is True and model["tol"] == 1e-3
    released = json.loads(ledger.read_text())["totals"]
    assert released == {"logreg.feature_moments": 4, "logreg.converged": twin["n_iter"], "logreg.coefficients": 3}
    assert set(released) <= set(logistic.LEAKAGE)


def test_logreg_cli_dp_mode_one_party(tmp_path, capsys):
    import pandas as pd

    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 2))
    frame = pd.DataFrame({"u": X[:, 0], "v": X[:, 1], "label": (X[:, 0] > 0).astype(int)})
    path, out, ledger = tmp_path / "a.csv", tmp_path / "m.json", tmp_path / "l.json"
    frame.to_csv(path, index=False)
    assert main(["logreg", "--data", f"0:{path}", "--parties", "1", "--target", "label", "--epsilon", "4",
                 "--center", "0,0", "--scale", "1,1", "--dp-iterations", "3", "--json", str(out),
                 "--ledger", str(ledger)]) == 0
    assert "DP model at every iteration, epsilon=4" in capsys.readouterr().out
    model = json.loads(out.read_text())
    assert model["epsilon"] == 4 and len(model["history"]) == 3 and model["n_iter"] == 3
    releases = json.loads(ledger.read_text())["releases"]
    assert [r["what"] for r in releases] == ["logreg.dp_hessian"] + ["logreg.dp_gradient"] * 3
    assert sum(r["epsilon"] for r in releases) == pytest.approx(4)
    assert main(["logreg", "--data", f"0:{path}", "--parties", "1", "--target", "label", "--epsilon", "4"]) == 2
    assert "public standardisation" in capsys.readouterr().err


def test_logreg_cli_iterations_is_a_deprecated_alias(tmp_path, capsys):
    import pandas as pd

    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 2))
    path, out = tmp_path / "a.csv", tmp_path / "m.json"
    pd.DataFrame({"u": X[:, 0], "v": X[:, 1], "label": (X[:, 0] + rng.normal(size=40) > 0).astype(int)}) \
        .to_csv(path, index=False)
    assert main(["logreg", "--data", f"0:{path}", "--parties", "1", "--target", "label", "--iterations", "2",
                 "--json", str(out)]) == 0
    captured = capsys.readouterr()
    assert "--iterations is deprecated, use --max-iter" in captured.err
    assert "not converged" in captured.err and "2 Newton iterations (max-iter reached" in captured.out
    assert json.loads(out.read_text())["n_iter"] == 2


def test_logreg_cli_defaults_match_the_library():
    from securegenome.commands import logreg as command

    assert (command.DEFAULT_TOL, command.DEFAULT_MAX_ITER, command.DEFAULT_DP_ITERATIONS) == \
        (logistic.DEFAULT_TOL, logistic.DEFAULT_MAX_ITER, logistic.DEFAULT_DP_ITERATIONS)


def test_cli_help_teaches():
    for command, words in (("ridge", ["What is revealed", "example:", "--alpha", "--data I:PATH"]),
                           ("logreg", ["fully secure", "--epsilon", "Always revealed", "example", "--tol", "--max-iter",
                                        "one opened"])):
        text = subprocess.run([sys.executable, "-m", "securegenome", command, "--help"], capture_output=True, text=True,
                              check=True).stdout
        assert all(w in text for w in words), command


# ------------------------------------------------------------------------------------------------ heavier


def breast_cancer_split():
    X, y = load_breast_cancer(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


@pytest.mark.slow
def test_logistic_breast_cancer_three_parties():
    """Fully secure: = twin (1e-4), = sklearn's converged optimum (1e-3), the same held-out accuracy."""
    Xtr, Xte, ytr, yte = breast_cancer_split()
    scaler = StandardScaler().fit(Xtr)
    Z = scaler.transform(Xtr)
    reference = LogisticRegression(C=1.0, tol=1e-12, max_iter=100_000).fit(Z, ytr)
    model = SecureLogisticRegression(C=1.0).fit([(Xtr[i::3], ytr[i::3]) for i in range(3)], target="y")
    twin = logistic_twin(Z, ytr, lam=1.0)
    ours_std = np.concatenate([model.intercept_ + model.coef_[0] @ scaler.mean_, model.coef_[0] * scaler.scale_])
    assert np.abs(ours_std - twin["b"]).max() < 1e-4 and model.n_iter_[0] == twin["n_iter"]
    assert np.abs(ours_std - np.concatenate([reference.intercept_, reference.coef_[0]])).max() < 1e-3
    assert model.score(Xte, yte) == reference.score(scaler.transform(Xte), yte)
    assert model.predict_proba(Xte).shape == (len(yte), 2)


@pytest.mark.slow
def test_logistic_breast_cancer_dp_three_parties():
    Xtr, Xte, ytr, yte = breast_cancer_split()
    scaler = StandardScaler().fit(Xtr)
    model = SecureLogisticRegression(C=1.0, dp_iterations=3, epsilon=50.0, center=scaler.mean_,
                                     scale=scaler.scale_).fit([(Xtr[i::3], ytr[i::3]) for i in range(3)], target="y")
    assert model.score(Xte, yte) > 0.85
    assert [r.what for r in model.ledger_] == ["logreg.dp_hessian"] + ["logreg.dp_gradient"] * 3


@pytest.mark.slow
def test_ridge_million_rows_three_parties():
    from securegenome.regression.data import SyntheticTable, open_table

    tables = [SyntheticTable(333_334, 28, seed=11, part=i) for i in range(3)]
    model = ridge.SecureRidge(alpha=1.0, timeout=1200).fit(tables, target="y")
    X, y = zip(*(open_table(t, "y").arrays() for t in tables))
    X, y = np.concatenate(X), np.concatenate(y)
    reference = Ridge(alpha=1.0, solver="cholesky").fit(X, y)
    rmse = lambda p: np.sqrt(np.mean((p - y) ** 2))  # noqa: E731
    assert abs(rmse(model.predict(X)) - rmse(reference.predict(X))) / rmse(reference.predict(X)) <= 1e-5
