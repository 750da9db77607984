"""Regression benchmark: logistic regression on breast cancer (both modes) and ridge regression at scale.

Cases (3 parties on this machine by default):

- ``logistic``: sklearn's breast-cancer data, standardised, stratified 70/30 split; fully secure mode
  (Newton with the Hessian in shares: time, iterations, held-out accuracy, distance to the float64 twin and
  to sklearn's converged ``LogisticRegression(C=1)``); baseline in the same run, alternating with it: the
  previous fit (fixed Hessian bound, 10 iterations); the DP model mode at ε = 0.1, 1, 10 (accuracy
  averaged over repeats);
- ``logistic-synthetic``: 10^5 x 20 correlated synthetic rows, λ = 10: the twin against converged
  sklearn at 10^5 rows, the secure fit against both on the first ``--secure-rows`` rows (its cost is
  linear in the rows: one secure sigmoid of n values per iteration);
- ``ridge-1m``: 10^6 x 28 synthetic rows written as one CSV per party, end to end (stream + secure solve),
  relative RMSE against ``Ridge(solver='cholesky')``; baseline in the same run: the approach of MPyC's
  ridge-regression demo (Blom, Bouman, Schoenmakers, de Vreede 2019 — data quantised to a few fraction
  bits, exact integer sums in a large prime field, the matrix masked by a random secret R = LU and opened,
  elimination in the clear, adj(A)b and det(A) opened), our own implementation of that approach below;
- ``ridge-11m``: 11 x 10^6 x 28 generated rows streamed in chunks per party (no file: 3.5 GB of CSV would
  only measure the disk), secure-solve time reported separately.

    python benchmarks/regression.py                  # all cases
    python benchmarks/regression.py --cases logistic ridge-1m --repeats 1
    python benchmarks/regression.py --cases logistic-synthetic --secure-rows 5000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import measure, party_stats, plot, write  # noqa: E402

from securegenome import core  # noqa: E402
from securegenome.core import mpc  # noqa: E402
from securegenome.regression import data as rdata  # noqa: E402
from securegenome.regression.logistic import SecureLogisticRegression, logistic_twin  # noqa: E402
from securegenome.regression.ridge import ridge_protocol  # noqa: E402


# ------------------------------------------------------------------------------------------- logistic


def breast_cancer_split(parties: int):
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    return Xtr, Xte, ytr, yte, [(Xtr[i::parties], ytr[i::parties]) for i in range(parties)]


def converged_sklearn(Z, y, lam):
    """sklearn's LogisticRegression(C=1/lam) run to convergence (the reference optimum)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0 / lam, tol=1e-12, max_iter=100_000).fit(Z, y)


def standardised_b(model, center, scale) -> np.ndarray:
    """A fitted estimator's coefficients in the standardised units of (center, scale), intercept first."""
    return np.concatenate([model.intercept_ + model.coef_[0] @ center, model.coef_[0] * scale])


def logistic_case(parties: int, repeats: int, baseline_iterations: int, dp_iterations: int, dp_repeats: int) -> dict:
    from sklearn.preprocessing import StandardScaler

    Xtr, Xte, ytr, yte, tables = breast_cancer_split(parties)
    scaler = StandardScaler().fit(Xtr)
    reference = converged_sklearn(scaler.transform(Xtr), ytr, 1.0)
    b_ref = np.concatenate([reference.intercept_, reference.coef_[0]])
    twin = logistic_twin(scaler.transform(Xtr), ytr, lam=1.0)
    # new method and the baseline alternate, so load changes on the shared machine hit both alike
    new_times, base_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        model = SecureLogisticRegression(C=1.0, parties=parties).fit(tables, target="y")
        new_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        base = run_bohning(tables, parties, baseline_iterations)
        base_times.append(time.perf_counter() - start)
    ours = standardised_b(model, scaler.mean_, scaler.scale_)
    base_b = np.concatenate([[base["intercept_std"]], base["coef_std"]])
    base_accuracy = float(((Xte - base["center"]) / base["scale"] @ base["coef_std"] + base["intercept_std"] > 0)
                          .astype(int).__eq__(yte).mean())
    case = {"case": "logistic", "rows": len(ytr), "test_rows": len(yte), "features": Xtr.shape[1],
            "parties": parties, "sklearn_accuracy": float(reference.score(scaler.transform(Xte), yte)),
            "secure": {"median_s": float(np.median(new_times)), "times_s": new_times, "method": "Newton, Hessian in "
                       "shares, Newton-Schulz inverse", "n_iter": int(model.n_iter_[0]), "converged": model.converged_,
                       "accuracy": float(model.score(Xte, yte)),
                       "max_abs_diff_to_sklearn": float(np.abs(ours - b_ref).max()),
                       "max_abs_diff_to_twin": float(np.abs(ours - twin["b"]).max()),
                       "twin_max_abs_diff_to_sklearn": float(np.abs(twin["b"] - b_ref).max()),
                       "protocol_seconds": model.seconds_},
            "baseline": {"median_s": float(np.median(base_times)), "times_s": base_times,
                         "method": f"previous fit: fixed Hessian bound, {baseline_iterations} iterations",
                         "iterations": baseline_iterations, "accuracy": base_accuracy,
                         "max_abs_diff_to_sklearn": float(np.abs(base_b - b_ref).max())},
            "dp": []}
    case["ratio_new_over_baseline"] = case["secure"]["median_s"] / case["baseline"]["median_s"]
    for epsilon in (0.1, 1.0, 10.0):
        accuracies, seconds = [], []
        for _ in range(dp_repeats):
            start = time.perf_counter()
            dp_model = SecureLogisticRegression(C=1.0, epsilon=epsilon, dp_iterations=dp_iterations, parties=parties,
                                                center=scaler.mean_, scale=scaler.scale_).fit(tables, target="y")
            seconds.append(time.perf_counter() - start)
            accuracies.append(float(dp_model.score(Xte, yte)))
        case["dp"].append({"epsilon": epsilon, "iterations": dp_iterations, "accuracy_mean": float(np.mean(accuracies)),
                           "accuracy_sd": float(np.std(accuracies)), "median_s": float(np.median(seconds)),
                           "repeats": dp_repeats})
    return case


def synthetic_logistic(n_rows: int, n_features: int = 20, seed: int = 7):
    """Equicorrelated Gaussian features (ρ = 0.5, correlation matrix condition 21.6 at d = 20) in mixed
    units with non-zero means; labels from a logistic model (about 32 % ones)."""
    rng = np.random.default_rng(seed)
    root = np.linalg.cholesky(0.5 * np.eye(n_features) + 0.5)
    X = rng.normal(size=(n_rows, n_features)) @ root.T * rng.uniform(0.5, 20, size=n_features)
    X = X + 10 * rng.normal(size=n_features)
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    y = (rng.random(n_rows) < 1 / (1 + np.exp(-(Z @ rng.normal(size=n_features) * 0.5 - 1.0)))).astype(float)
    return X, y


def logistic_large_case(parties: int, rows: int, secure_rows: int, lam: float) -> dict:
    """The twin against converged sklearn at ``rows``; the secure fit against both at ``secure_rows``."""
    X, y = synthetic_logistic(rows)
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    start = time.perf_counter()
    reference = converged_sklearn(Z, y, lam)
    sklearn_s = time.perf_counter() - start
    b_ref = np.concatenate([reference.intercept_, reference.coef_[0]])
    twin = logistic_twin(Z, y, lam=lam)
    case = {"case": "logistic-synthetic", "rows": rows, "features": X.shape[1], "lam": lam, "parties": parties,
            "twin": {"n_iter": twin["n_iter"], "converged": twin["converged"],
                     "max_abs_diff_to_sklearn": float(np.abs(twin["b"] - b_ref).max())},
            "sklearn_seconds": sklearn_s}
    Xs, ys = X[:secure_rows], y[:secure_rows]
    Zs = (Xs - Xs.mean(axis=0)) / Xs.std(axis=0)
    b_ref_s = np.concatenate([(r := converged_sklearn(Zs, ys, lam)).intercept_, r.coef_[0]])
    twin_s = logistic_twin(Zs, ys, lam=lam)
    tables = [(Xs[i::parties], ys[i::parties]) for i in range(parties)]
    start = time.perf_counter()
    model = SecureLogisticRegression(lam=lam, parties=parties, timeout=20_000).fit(tables, target="y")
    seconds = time.perf_counter() - start
    ours = standardised_b(model, Xs.mean(axis=0), Xs.std(axis=0))
    case["secure"] = {"rows": secure_rows, "seconds": seconds, "n_iter": int(model.n_iter_[0]),
                      "seconds_per_iteration": seconds / int(model.n_iter_[0]),
                      "max_abs_diff_to_twin": float(np.abs(ours - twin_s["b"]).max()),
                      "max_abs_diff_to_sklearn": float(np.abs(ours - b_ref_s).max())}
    return case


async def bohning_protocol(table, *, target, iterations):
    """Baseline: the fit this issue replaced — Böhning's fixed bound M = ¼AᵀA + P, M⁻¹ by LDLᵀ once, then a
    fixed number of steps b ← b − M⁻¹∇J (same building blocks, same standardisation, λ = 1)."""
    from securegenome.core import fixedpoint
    from securegenome.regression import logistic

    table = rdata.open_table(table, target)
    X, y = table.arrays()
    sizes = [int(await core.share_public(len(y) if mpc.pid == i else None, sender=i))
             for i in range(len(mpc.parties))]
    n, d1 = sum(sizes), X.shape[1] + 1
    center, scale = await logistic._secure_moments(X, sizes, table.features)
    A = np.column_stack([np.ones(len(y)), (X - center) / scale])
    penalty = np.array([0.0] + [1.0] * (d1 - 1))
    secfxp = fixedpoint.fxp_type(n * 1024 * 4, 24, division=True)
    total = fixedpoint.sum_inputs(secfxp, np.concatenate([(A.T @ A / 4 / n).ravel(), A.T @ y / n]))
    M = total[:d1 * d1].reshape(d1, d1) + np.diag(penalty / n)
    Aty = total[d1 * d1:] * float(n)
    M_inv = fixedpoint.ldl_solve(fixedpoint.ldl_factor(M), secfxp.array(np.eye(d1))) * (1.0 / n)
    rows = [fixedpoint.input_array(secfxp, A if mpc.pid == i else np.zeros((k, d1)), senders=i)
            for i, k in enumerate(sizes) if k]
    A_sh = mpc.np_vstack(rows) if len(rows) > 1 else rows[0]
    b = secfxp.array(np.zeros(d1))
    for _ in range(iterations):
        b = b - M_inv @ (fixedpoint.sigmoid(A_sh @ b) @ A_sh - Aty + b * penalty)
    b = np.asarray(await core.open(b, what="baseline.coefficients", why="the baseline's model"), dtype=float)
    return {"coef_std": b[1:], "intercept_std": float(b[0]), "center": center, "scale": scale}


def run_bohning(tables, parties, iterations):
    import importlib

    protocol = importlib.import_module("regression").bohning_protocol  # by module name, not __main__ (pickling)
    results = core.run(protocol, parties=parties, kwargs={"target": "y", "iterations": iterations}, timeout=3600,
                       private={i: {"table": t} for i, t in enumerate(tables)})
    return results[0].value


# ------------------------------------------------------------------------------------------- ridge


def synthetic_tables(n_rows: int, parties: int, seed: int) -> list:
    per = [n_rows // parties + (1 if i < n_rows % parties else 0) for i in range(parties)]
    return [rdata.SyntheticTable(k, 28, seed=seed, part=i) for i, k in enumerate(per)]


def write_csvs(tables, directory) -> list[str]:
    import pandas as pd

    paths = []
    for i, t in enumerate(tables):
        path = os.path.join(directory, f"party{i}.csv")
        table = rdata.open_table(t, "y")
        for k, (X, y) in enumerate(table.chunks()):
            frame = pd.DataFrame(X, columns=table.features).assign(y=y)
            frame.to_csv(path, mode="w" if k == 0 else "a", header=k == 0, index=False, float_format="%.9g")
        paths.append(path)
    return paths


def sklearn_gap(tables, coef, intercept, alpha) -> dict:
    """Relative RMSE gap to sklearn's Ridge(solver='cholesky') on the same rows (in memory, for checking)."""
    from sklearn.linear_model import Ridge

    X, y = zip(*(rdata.open_table(t, "y").arrays() for t in tables))
    X, y = np.concatenate(X), np.concatenate(y)
    reference = Ridge(alpha=alpha, solver="cholesky").fit(X, y)
    rmse_ref = float(np.sqrt(np.mean((reference.predict(X) - y) ** 2)))
    rmse = float(np.sqrt(np.mean((X @ coef + intercept - y) ** 2)))
    return {"rmse": rmse, "rmse_sklearn": rmse_ref, "relative_rmse_gap": abs(rmse - rmse_ref) / rmse_ref,
            "max_rel_coef_diff": float(np.abs(coef - reference.coef_).max() / np.abs(reference.coef_).max())}


def run_ridge(inputs, parties, alpha, frac_bits=None):
    kwargs = {"target": "y", "alpha": alpha, **({"frac_bits": frac_bits} if frac_bits else {})}
    results = core.run(ridge_protocol, parties=parties, kwargs=kwargs, timeout=3600,
                       private={i: {"table": t} for i, t in enumerate(inputs)})
    return results


def ridge_case(name, n_rows, parties, repeats, alpha, use_csv, baseline_bits, frac_bits=None) -> dict:
    tables = synthetic_tables(n_rows, parties, seed=2019)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        inputs = write_csvs(tables, tmp) if use_csv else tables
        csv_bytes = sum(os.path.getsize(p) for p in inputs) if use_csv else 0
        m = measure(lambda: run_ridge(inputs, parties, alpha, frac_bits), repeats)
        results = m.pop("value")
        model = results[0].value
        case = {"case": name, "rows": n_rows, "features": 28, "parties": parties, "alpha": alpha,
                "frac_bits": model.get("frac_bits", frac_bits),
                "input": "CSV per party" if use_csv else "generated chunks per party (streamed, no file)",
                "csv_bytes": csv_bytes, **m, "timings_last_run": model["timings"], **party_stats(results)}
        case["accuracy"] = sklearn_gap(tables, model["coef"], model["intercept"], alpha) if n_rows <= 2_000_000 \
            else {"note": "sklearn reference skipped (11M rows do not fit the shared machine's memory budget)"}
        if baseline_bits:
            b = measure(lambda: run_baseline(inputs, parties, alpha, baseline_bits), repeats)
            base = b.pop("value")
            case["baseline"] = {"approach": "MPyC ridge-regression demo (Blom et al. 2019), our implementation",
                                "fraction_bits": baseline_bits, **b, **base["timings"],
                                "accuracy": sklearn_gap(tables, base["coef"], base["intercept"], alpha)
                                if n_rows <= 2_000_000 else None}
            case["ratio_ours_over_baseline"] = m["median_s"] / b["median_s"]
    return case


# ------------------------------------------------------------------------------------------- baseline


async def blom_protocol(table, *, target, alpha, bits):
    """The approach of MPyC's ridgeregression demo (our code): exact integers, mask with R = LU, open RA."""
    table = rdata.open_table(table, target)
    start = time.perf_counter()
    d = len(table.features) + 1  # + intercept column
    # public scaling as in the demo: columns mapped to [-1, 1] (here by the public power-of-two bound)
    local_max = rdata.local_moments(table).max_abs
    exps = [await core.share_public(local_max if mpc.pid == i else None, sender=i) for i in range(len(mpc.parties))]
    scale = np.exp2(np.ceil(np.log2(np.maximum(np.max(exps, axis=0), 1e-300))))
    q = 2 ** bits
    gram = np.zeros((d, d))
    xty = np.zeros(d)
    n_local = 0
    for X, y in table.chunks():
        Xq = np.column_stack([np.round(X / scale[:-1] * q), np.full(len(y), q)])
        yq = np.round(y / scale[-1] * q)
        gram += Xq.T @ Xq    # exact: integers below 2^53
        xty += Xq.T @ yq
        n_local += len(y)
    sizes = [await core.share_public(n_local if mpc.pid == i else None, sender=i) for i in range(len(mpc.parties))]
    n = int(sum(sizes))
    # alpha·|β|² in quantised units w_j = s_j β_j / s_y (rows scaled by q/s_y): alpha·q²/s_j² per feature
    lam = [round(alpha * q * q / s ** 2) for s in scale[:-1]] + [0]
    gamma = n * q * q + max(lam)
    bound = d * round((d - 1) ** ((d - 1) / 2)) * gamma ** d
    secfld = mpc.SecFld(min_order=2 * bound + 1, signed=True)
    local = [int(v) for v in np.concatenate([gram.ravel(), xty])]
    streamed = time.perf_counter()
    shares = mpc.input([secfld(v) for v in local])
    total = [mpc.sum([s[k] for s in shares]) for k in range(len(local))]
    A = [[total[i * d + j] + (lam[i] if i == j else 0) for j in range(d)] for i in range(d)]
    b = [[total[d * d + i]] for i in range(d)]
    # R = L U with L unit lower, U upper with random diagonal: det R = Π diag U
    field = secfld.field
    L = [[secfld(1) if i == j else (mpc._random(secfld) if i > j else secfld(0)) for j in range(d)] for i in range(d)]
    U = [[mpc._random(secfld) if i <= j else secfld(0) for j in range(d)] for i in range(d)]
    R = mpc.matrix_prod(L, U)
    det_R = mpc.prod([U[i][i] for i in range(d)])
    RA = await core.open([x for row in mpc.matrix_prod(R, A) for x in row], what="baseline.masked_matrix",
                         why="R A is uniformly random for invertible A")
    RA = [[int(RA[i * d + j]) % field.modulus for j in range(d)] for i in range(d)]
    W, det_RA = _inverse_mod(RA, field.modulus)  # public: (RA)^-1 and det(RA) mod p
    Rb = mpc.matrix_prod(R, b)
    x = [mpc.sum([field(W[i][k]) * Rb[k][0] for k in range(d)]) for i in range(d)]  # A^-1 b mod p (local)
    det_A = field(det_RA) * mpc.reciprocal(det_R)
    adj_b = [det_A * xi for xi in x]
    opened = await core.open(adj_b + [det_A], what="baseline.adj_b_and_det", why="the demo opens adj(A)b and det(A)")
    values = [int(v) for v in opened]
    w = np.array([v / values[-1] for v in values[:-1]], dtype=float)
    coef = w[:-1] * scale[-1] / scale[:-1]
    intercept = float(w[-1] * scale[-1])
    return {"coef": coef, "intercept": intercept,
            "timings": {"local_seconds": streamed - start, "secure_seconds": time.perf_counter() - streamed}}


def _inverse_mod(M, p):
    """Gauss-Jordan inverse and determinant of an integer matrix modulo prime p (public data)."""
    d = len(M)
    A = [row[:] + [1 if i == j else 0 for j in range(d)] for i, row in enumerate(M)]
    det = 1
    for k in range(d):
        pivot = next(i for i in range(k, d) if A[i][k] % p)
        if pivot != k:
            A[k], A[pivot] = A[pivot], A[k]
            det = -det
        det = det * A[k][k] % p
        inv = pow(A[k][k], -1, p)
        A[k] = [v * inv % p for v in A[k]]
        for i in range(d):
            if i != k and A[i][k]:
                f = A[i][k]
                A[i] = [(a - f * c) % p for a, c in zip(A[i], A[k])]
    return [row[d:] for row in A], det % p


def run_baseline(inputs, parties, alpha, bits):
    import importlib

    protocol = importlib.import_module("regression").blom_protocol  # by module name, not __main__ (pickling)
    results = core.run(protocol, parties=parties, kwargs={"target": "y", "alpha": alpha, "bits": bits},
                       timeout=3600, private={i: {"table": t} for i, t in enumerate(inputs)})
    return results[0].value


def plot_dp_accuracy(case: dict) -> str:
    """Held-out accuracy of the DP model versus ε, with the fully secure mode and sklearn as references."""
    eps = [r["epsilon"] for r in case["dp"]]
    return plot("regression_dp_accuracy", {
        f"DP model ({case['dp'][0]['iterations']} iterations)": (eps, [r["accuracy_mean"] for r in case["dp"]]),
        "fully secure (Newton)": (eps, [case["secure"]["accuracy"]] * len(eps)),
        "sklearn C=1, converged": (eps, [case["sklearn_accuracy"]] * len(eps))},
        xlabel="epsilon", ylabel="held-out accuracy (breast cancer)", logx=True, logy=False)


# ------------------------------------------------------------------------------------------- main


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=["logistic", "logistic-synthetic", "ridge-1m", "ridge-11m"],
                        choices=["logistic", "logistic-synthetic", "ridge-1m", "ridge-11m"])
    parser.add_argument("--parties", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-iterations", type=int, default=10,
                        help="iterations of the previous fixed-bound logistic fit (the baseline)")
    parser.add_argument("--synthetic-rows", type=int, default=100_000, help="logistic-synthetic: rows (twin vs sklearn)")
    parser.add_argument("--secure-rows", type=int, default=10_000,
                        help="logistic-synthetic: rows of the secure fit (its cost is linear in the rows)")
    parser.add_argument("--dp-iterations", type=int, default=3)
    parser.add_argument("--dp-repeats", type=int, default=5)
    parser.add_argument("--baseline-bits", type=int, default=8, help="fraction bits of the demo's quantisation")
    parser.add_argument("--frac-bits", type=int, default=None, help="ridge fixed-point fraction bits (default: "
                        "the library's)")
    parser.add_argument("--name", default="regression")
    args = parser.parse_args(argv)
    os.environ.setdefault("SECUREGENOME_QUIET", "1")
    cases = []
    for name in args.cases:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        if name == "logistic":
            case = logistic_case(args.parties, args.repeats, args.baseline_iterations, args.dp_iterations,
                                 args.dp_repeats)
            plot_dp_accuracy(case)
        elif name == "logistic-synthetic":
            case = logistic_large_case(args.parties, args.synthetic_rows, args.secure_rows, lam=10.0)
        elif name == "ridge-1m":
            case = ridge_case(name, 1_000_000, args.parties, args.repeats, 1.0, True, args.baseline_bits,
                              args.frac_bits)
        else:
            case = ridge_case(name, 11_000_000, args.parties, 1, 1.0, False, args.baseline_bits, args.frac_bits)
        print(case, file=sys.stderr, flush=True)
        cases.append(case)
        path = write(args.name, cases, parties=args.parties, note="machine shared with other jobs while measuring")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
