"""`securegenome km` and `securegenome logrank` with 3 parties, files in and files out."""

import json
import warnings

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.datasets import load_rossi
from lifelines.statistics import logrank_test

from securegenome.cli import main
from securegenome.survival import LEAKAGE

warnings.filterwarnings("ignore", category=DeprecationWarning)


@pytest.fixture
def rossi_files(tmp_path):
    df = load_rossi()[["week", "arrest", "fin"]].rename(columns={"week": "T", "arrest": "E", "fin": "G"})
    paths = []
    for i, (a, b) in enumerate([(0, 250), (250, 262), (262, None)]):
        path = tmp_path / f"site{i}.csv"
        df.iloc[a:b].to_csv(path, index=False)
        paths.append(str(path))
    return df, paths


def data_args(paths):
    return [a for i, p in enumerate(paths) for a in ("--data", f"{i}:{p}")]


def test_km_cli_three_parties(rossi_files, tmp_path, capsys):
    df, paths = rossi_files
    out_json, png, ledger = tmp_path / "km.json", tmp_path / "km.png", tmp_path / "ledger.json"
    code = main(["km", *data_args(paths), "--duration", "T", "--event", "E", "--group", "G", "--interval", "4",
                 "--plot", str(png), "--json", str(out_json), "--ledger", str(ledger)])
    assert code == 0
    text = capsys.readouterr().out
    assert "interval-aggregated counts, opened exactly; intervals of 4" in text
    assert "durations used as given" in text
    report = json.loads(out_json.read_text())
    assert report["parties"] == 3 and report["groups"] == ["0", "1"]
    for g in ("0", "1"):
        sub = df[df.G.astype(str) == g]
        coarse = np.ceil(sub["T"] / 4) * 4
        expected = KaplanMeierFitter().fit(coarse, sub["E"]).survival_function_at_times(report["timeline"])
        assert np.max(np.abs(np.array(report["survival"][g]) - expected.to_numpy())) <= 1e-12
        assert report["at_risk"][g][0] == len(sub)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    releases = json.loads(ledger.read_text())
    assert {r["what"] for r in releases["releases"]} <= set(LEAKAGE)
    assert releases["totals"] == {"survival.horizon": 1, "km.counts": 4 * len(report["timeline"])}


def test_logrank_cli_three_parties(rossi_files, tmp_path, capsys):
    df, paths = rossi_files
    out_json, ledger = tmp_path / "lr.json", tmp_path / "ledger.json"
    code = main(["logrank", *data_args(paths), "--duration", "T", "--event", "E", "--group", "G",
                 "--json", str(out_json), "--ledger", str(ledger)])
    assert code == 0
    a = df.G == 0
    expected = logrank_test(df["T"][a], df["T"][~a], df["E"][a], df["E"][~a])
    report = json.loads(out_json.read_text())
    assert abs(report["test_statistic"] / expected.test_statistic - 1) <= 1e-6
    assert report["p_value"] == pytest.approx(expected.p_value, rel=1e-6)
    assert "test_statistic\t" in capsys.readouterr().out
    assert json.loads(ledger.read_text())["totals"] == {"survival.horizon": 1, "survival.size": 1,
                                                         "logrank.statistic": 1}


def test_cli_bad_input_exits_2_with_the_file_named(rossi_files, tmp_path, capsys):
    _, paths = rossi_files
    bad = tmp_path / "bad.csv"
    bad.write_text("T,E,G\n3,1,0\n4,7,1\n")
    code = main(["logrank", "--data", f"0:{paths[0]}", "--data", f"1:{bad}", "--parties", "2", "--group", "G"])
    assert code == 2
    err = capsys.readouterr().err
    assert "bad.csv: column 'E', row 2: event must be 0 (censored) or 1" in err
    assert main(["km", "--data", f"0:{paths[0]}", "--parties", "3"]) == 2
    assert "give --data I:PATH for exactly the parties run here (0, 1, 2)" in capsys.readouterr().err
    assert main(["km", "--data", f"0:{paths[0]}", "--parties", "1", "--epsilon", "1"]) == 2
    assert "needs a public horizon" in capsys.readouterr().err


def test_help_teaches_what_is_opened(capsys):
    for command, phrases in (("km", ["number of events and of censorings", "--epsilon", "one patient"]),
                             ("logrank", ["the chi-square statistic", "total number of patients N"])):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert "What is revealed, to all parties" in text and "example:" in text
        assert all(p in text for p in phrases)


def test_km_multi_host_each_party_passes_only_its_own_file(rossi_files, tmp_path):
    """Three separate `securegenome km --party-id I --hosts ...` commands, as on three hosts."""
    import subprocess
    import sys

    from conftest import loopback_hosts

    _, paths = rossi_files
    hosts = loopback_hosts(3)
    procs = [subprocess.Popen([sys.executable, "-m", "securegenome", "km", "--data", f"{i}:{paths[i]}",
                               "--duration", "T", "--event", "E", "--group", "G", "--interval", "13",
                               "--party-id", str(i), "--hosts", hosts, "--no-tls", "--json", str(tmp_path / f"p{i}.json"),
                               "--timeout", "300"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(3)]
    outputs = [p.communicate(timeout=400) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1].decode()[-500:] for o in outputs]
    reports = [json.loads((tmp_path / f"p{i}.json").read_text()) for i in range(3)]
    assert reports[0]["survival"] == reports[1]["survival"] == reports[2]["survival"]
    assert reports[0]["at_risk"]["0"][0] + reports[0]["at_risk"]["1"][0] == 432
