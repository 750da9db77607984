"""`securegenome query` with 3 party processes: CSV files in, the result table (SQL aliases as keys), the ledger
and each party's budget file out; bad queries refused with one line before any party shares data."""

import json

import pandas as pd
import pytest

from securegenome import core
from securegenome.cli import main
from securegenome.query import LEAKAGE


@pytest.fixture
def cohort_files(tmp_path):
    from lifelines.datasets import load_gbsg2

    frame = load_gbsg2()
    paths = []
    for i in range(3):
        path = tmp_path / f"site{i}.csv"
        frame.iloc[i::3].to_csv(path, index=False)
        paths.append(str(path))
    return frame, paths


def data_args(paths):
    return [a for i, p in enumerate(paths) for a in ("--data", f"{i}:{p}")]


SQL = ("SELECT horTh, COUNT(*) AS n, AVG(tsize) AS mean_size, MEDIAN(age) AS med_age FROM gbsg2 "
       "WHERE pnodes > 3 GROUP BY horTh")
DECLARE = ["--bounds", "tsize:0:120", "--bounds", "age:20:80", "--domain", "horTh:no,yes"]


def test_query_cli_three_parties_json_ledger_budget(cohort_files, tmp_path, capsys):
    frame, paths = cohort_files
    out, ledger, view = tmp_path / "result.json", tmp_path / "ledger.json", tmp_path / "view.json"
    budget = [a for i in range(3) for a in ("--budget-file", f"{i}:{tmp_path / f'budget{i}.json'}")]
    assert main(["query", *data_args(paths), SQL, "--epsilon", "2", *DECLARE, "--json", str(out),
                 "--ledger", str(ledger), "--transcript", str(view), *budget, "--budget", "3"]) == 0
    printed = capsys.readouterr()
    assert "mean_size" in printed.out and "spent epsilon=2 of 3" in printed.err
    result = json.loads(out.read_text())
    assert result["columns"] == ["horTh", "n", "n_noise_sd", "mean_size", "mean_size_noise_sd", "med_age",
                                 "med_age_noise_sd"]
    rows = {r["horTh"]: r for r in result["rows"]}
    exact = frame[frame.pnodes > 3].groupby("horTh").size()
    for group in ("no", "yes"):  # noisy counts near the exact ones (sd ~ 2.7 at this epsilon share)
        assert abs(rows[group]["n"] - exact[group]) <= 10 * rows[group]["n_noise_sd"]
        assert rows[group]["med_age_noise_sd"] is None
    released = json.loads(ledger.read_text())
    assert set(released["totals"]) <= set(LEAKAGE)
    assert sum(r["epsilon"] for r in released["releases"]) == pytest.approx(2.0)
    seen = json.loads(view.read_text())  # party 0's view: exactly the released values, nothing else
    assert [entry["what"] for entry in seen] == [r["what"] for r in released["releases"]]
    assert seen[0]["values"] == [rows["no"]["n"], rows["yes"]["n"]]
    for i in range(3):  # every party charged its own file
        assert json.loads((tmp_path / f"budget{i}.json").read_text())["spent_epsilon"] == pytest.approx(2.0)
    # the next query does not fit any party's remaining budget: refused before anything starts
    assert main(["query", *data_args(paths), SQL, "--epsilon", "2", *DECLARE, *budget]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "budget of dataset 'budget0.json' exceeded" in err


@pytest.mark.parametrize("sql, extra, message", [
    (SQL.replace("tsize", "size"), [], "unknown column 'size'"),
    (SQL, ["--domain", "horTh:no,yes"], "needs public bounds for tsize"),
    (SQL, ["--bounds", "tsize:0:120", "--bounds", "age:20:80"], "group key 'horTh' needs a public domain"),
    (SQL + " ORDER BY n", [], "ORDER BY is not supported"),
    ("SELECT COUNT(*) FROM a JOIN b ON a.x = b.x", [], "JOIN is not supported"),
])
def test_query_cli_bad_queries_one_line_before_any_party(cohort_files, monkeypatch, capsys, sql, extra, message):
    _, paths = cohort_files
    monkeypatch.setattr(core, "run", lambda *a, **k: pytest.fail("a party started"))
    declared = extra if extra else DECLARE
    assert main(["query", *data_args(paths), sql, "--epsilon", "1", *declared]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("securegenome: error:") and message in err and "\n" not in err


def test_query_cli_explain_and_schema(cohort_files, tmp_path, capsys):
    _, paths = cohort_files
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"bounds": {"tsize": [0, 120], "age": [20, 80]}, "domains": {"horTh": ["no", "yes"]}}))
    assert main(["query", *data_args(paths), SQL, "--epsilon", "1", "--schema", str(schema), "--explain"]) == 0
    text = capsys.readouterr().out
    assert "q0.mean_size.sum1" in text and "sensitivity" in text and "q0.med_age.hist" in text


def test_query_help_teaches(capsys):
    with pytest.raises(SystemExit):
        main(["query", "--help"])
    text = capsys.readouterr().out
    for phrase in ("--bounds COL:LOW:HIGH", "--domain", "--budget-file", "WIDTH_BUCKET", "query.noisy_aggregate"):
        assert phrase in text


def test_histogram_by_width_bucket_one_party(tmp_path, capsys):
    path = tmp_path / "a.csv"
    pd.DataFrame({"age": [5, 15, 15, 25, 130]}).to_csv(path, index=False)
    out = tmp_path / "r.json"
    assert main(["query", "--parties", "1", "--data", f"0:{path}", "SELECT WIDTH_BUCKET(age, 0, 30, 3) AS bin, "
                 "COUNT(*) AS n FROM t GROUP BY bin", "--epsilon", "5", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["bin"] for r in rows] == ["[0, 10)", "[10, 20)", "[20, 30]"]
