"""``securegenome bwt`` end to end: 3 local parties, files written by the receiver, errors as one line."""

import importlib
import json

import numpy as np
import pytest

from securegenome.cli import main

B = importlib.import_module("securegenome.genomics.bwt")  # (the package exports the oracle's ``bwt``)

TEXT = "GATTACACATTAGGATTACA" + "ACGT" * 5


def oracle(text):
    text = text + "$"
    sa = sorted(range(len(text)), key=lambda i: text[i:])
    return sa, "".join(text[i - 1] for i in sa)


def test_cli_three_parties_writes_bwt_sa_json_ledger(tmp_path, capsys):
    fasta = tmp_path / "ref.fa"
    fasta.write_text(f">chr1 test\n{TEXT[:17]}\nNN{TEXT[17:]}\n")
    out, js, ledger = tmp_path / "ref.bwt", tmp_path / "run.json", tmp_path / "ledger.json"
    code = main(["bwt", str(fasta), "--parties", "3", "--iupac", "drop", "-o", str(out), "--json", str(js),
                 "--ledger", str(ledger)])
    assert code == 0
    sa, bwt = oracle(TEXT)
    assert out.read_text() == bwt + "\n"
    assert (tmp_path / "ref.sa").read_text().split() == [str(i) for i in sa]
    summary = json.loads(js.read_text())
    assert summary["n"] == len(TEXT) and summary["parties"] == 3 and summary["rounds"] == B.schedule(len(TEXT)).rounds
    assert summary["bwt"] == bwt and summary["sa"] == sa and set(summary["bytes_sent"]) == {"0", "1", "2"}
    assert summary["memory_plan"]["chunks"] == 1 and summary["memory_plan"]["predicted_peak_gib"] > 0
    assert set(summary["peak_rss_gib"]) == {"0", "1", "2"} and all(v > 0 for v in summary["peak_rss_gib"].values())
    releases = json.loads(ledger.read_text())["releases"]
    assert {r["what"] for r in releases} == {*B.HIDING_LABELS, "bwt.suffix_array", "bwt.bwt"}
    assert all(r["receivers"] == [0] for r in releases if r["what"] in ("bwt.suffix_array", "bwt.bwt"))
    assert "n = 40" in capsys.readouterr().err


def test_cli_segments_early_exit_stdout(tmp_path, capsys):
    (tmp_path / "a.fa").write_text(">a\nACGTACGT\n")
    (tmp_path / "b.fa").write_text(">b\nTTGCA\n")
    ledger = tmp_path / "l.json"
    code = main(["bwt", "--segment", f"0:{tmp_path / 'a.fa'}", "--segment", f"2:{tmp_path / 'b.fa'}",
                 "--reveal-to", "1", "--early-exit", "--parties", "3", "--ledger", str(ledger)])
    assert code == 0
    assert capsys.readouterr().out == oracle("ACGTACGTTTGCA")[1] + "\n"
    labels = {r["what"] for r in json.loads(ledger.read_text())["releases"]}
    assert "bwt.all_distinct" in labels and labels <= set(B.LEAKAGE)


@pytest.mark.parametrize("argv, message", [
    (["bwt"], "no sequence"),
    (["bwt", "--segment", "x.fa"], "I:FILE"),
    (["bwt", "--segment", "5:x.fa"], "parties are 0..2"),
    (["bwt", "REF", "--reveal-to", "7"], "--reveal-to"),
    (["bwt", "REF", "--reveal-to", "none", "-o", "x.bwt"], "-o needs a receiver"),
])
def test_cli_bad_options(argv, message, capsys, tmp_path):
    argv = [str(tmp_path / "missing.fa") if a == "REF" else a for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_cli_tiny_memory_budget_one_line_before_sharing(tmp_path, capsys):
    fasta = tmp_path / "ref.fa"
    fasta.write_text(">r\n" + "ACGT" * 50 + "\n")
    ledger = tmp_path / "ledger.json"
    assert main(["bwt", str(fasta), "--parties", "3", "--memory", "0.01", "--ledger", str(ledger)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs at least" in err[0] and "GiB per party" in err[0]
    assert not ledger.exists()  # the run stopped before anything was shared or opened
    assert main(["bwt", str(fasta), "--memory", "lots"]) == 2
    assert "--memory" in capsys.readouterr().err


def test_cli_rejects_n_by_default_naming_record_and_position(tmp_path, capsys):
    fasta = tmp_path / "n.fa"
    fasta.write_text(">seqA\nACGTNACGT\n")
    assert main(["bwt", str(fasta), "--parties", "1"]) == 2
    err = capsys.readouterr().err
    assert "seqA" in err and "position 5" in err


def test_sa_path_next_to_bwt():
    from securegenome.commands.bwt import sa_path

    assert sa_path("x/lambda.bwt") == "x/lambda.sa" and sa_path("out.txt") == "out.txt.sa"
    assert np.array_equal(np.array(oracle("A")[0]), [1, 0])
