"""Bad input never produces a traceback: fuzzed FASTA/FASTQ and CSV files, fuzzed command lines.

Every outcome must be either a result or a one-line :class:`InputError` naming the file; the command line
must return (or exit with) a non-zero code and print ``securegenome: error: ...`` or argparse's usage error.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from securegenome.cli import build_parser, main as cli_main
from securegenome.errors import InputError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# pieces that make inputs look almost right, which is where parsers break
SEQ_PIECES = [">", "@", "+", "\n", "\r\n", " ", "\t", "A", "C", "G", "T", "N", "acgt", "R", "X", "-", "*", "I",
              "!", "~", "é", "\x00", ">r1\n", "@r1\n", "\n+\n", "ACGT\n", "IIII\n", ">\n", "@\n"]
CSV_PIECES = ["T", "E", "group", ",", "\n", "\r\n", '"', "1", "0", "-1", "2.5", "nan", "inf", "1e308", "A", "B",
              " ", "", "x", "é", "\x00", "T,E,group\n", "5,1,A\n", "3,0,B\n", ",,\n"]


def fuzzed_text(pieces):
    return st.lists(st.one_of(st.sampled_from(pieces), st.text(max_size=3)), max_size=40).map("".join)


def _write(data: bytes, suffix: str) -> str:
    fd, path = tempfile.mkstemp(suffix=suffix, prefix="sg-fuzz-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def _one_line_error(exc: InputError, path: str) -> None:
    message = str(exc)
    assert "\n" not in message and message.strip(), repr(message)
    assert path in message, message


@FUZZ
@given(text=fuzzed_text(SEQ_PIECES), compress=st.booleans(), encoding=st.sampled_from(["utf-8", "latin-1"]))
def test_sequence_reader_fuzz(text, compress, encoding):
    from securegenome.genomics.io import read_sequences

    data = text.encode(encoding, errors="replace")
    path = _write(gzip.compress(data) if compress else data, ".fq.gz" if compress else ".fa")
    try:
        records = read_sequences(path)
    except InputError as exc:
        _one_line_error(exc, path)
    else:
        assert records and all(len(r) > 0 and r.codes.max() <= 4 for r in records)
    finally:
        os.remove(path)


@FUZZ
@given(data=st.binary(max_size=200))
def test_sequence_reader_random_bytes(data):
    from securegenome.genomics.io import read_sequences

    path = _write(data, ".fa")
    try:
        read_sequences(path)
    except InputError as exc:
        _one_line_error(exc, path)
    finally:
        os.remove(path)


@FUZZ
@given(text=fuzzed_text(CSV_PIECES))
def test_csv_reader_fuzz(text):
    from securegenome.survival.tables import load_table

    path = _write(text.encode("utf-8", errors="replace"), ".csv")
    try:
        table = load_table(path)
    except InputError as exc:
        _one_line_error(exc, path)
    else:
        assert len(table.times) == len(table.events) == len(table.groups)
        assert (table.times >= 0).all() and set(table.events.tolist()) <= {0, 1}
    finally:
        os.remove(path)


REGRESSION_PIECES = ["x1", "x2", "y", ",", "\n", "\r\n", '"', "1", "0", "-1", "2.5", "nan", "inf", "", " ", "a",
                     "é", "\x00", "x1,x2,y\n", "1,2,0\n", "3,4,1\n", ",,\n", "#", "'"]


@FUZZ
@given(text=fuzzed_text(REGRESSION_PIECES))
def test_regression_csv_reader_fuzz(text):
    from securegenome.regression.data import open_table

    path = _write(text.encode("utf-8", errors="replace"), ".csv")
    try:
        X, y = open_table(path, "y").arrays()
    except InputError as exc:
        _one_line_error(exc, path)
    else:
        assert X.shape[0] == y.shape[0] and (X.size == 0 or __import__("numpy").isfinite(X).all())
    finally:
        os.remove(path)


# -- command lines ---------------------------------------------------------------------------------------

def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


RUNS_NETWORK = {"--hosts", "--party-id", "--parties-file", "-h", "--help"}  # no waits for absent peers, no help


def _options(name):
    opts = [o for a in _subcommands()[name]._actions for o in a.option_strings]
    return sorted(set(opts) - RUNS_NETWORK)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzzfiles")
    (base / "bad.fa").write_text(">r1\nACGTXACGT\n")
    (base / "empty.fq").write_text("")
    (base / "bad.csv").write_text("T,E,group\n5,7,A\n")
    (base / "binary.bin").write_bytes(bytes(range(256)))
    return base


def _argv(draw, files):
    names = [n for n in _subcommands() if n != "keys"] + ["bogus"]
    name = draw(st.sampled_from(names))
    values = ["-1", "0", "2", "nan", "1e309", "x", "", "0:" + str(files / "bad.csv"), "5:nowhere.csv",
              str(files / "bad.fa"), str(files / "empty.fq"), str(files / "binary.bin"), "/nonexistent/x.fa", "-",
              "a:b,c", str(files)]
    tokens = [name]
    options = (_options(name) if name in _subcommands() else []) or ["--x"]
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            tokens.append(draw(st.sampled_from(options)))
        tokens.append(draw(st.sampled_from(values)))
    return tokens


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_cli_fuzz_one_line_errors(data, files, monkeypatch):
    monkeypatch.chdir(files)
    argv = _argv(data.draw, files)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli_main(argv)
        except SystemExit as exc:  # argparse: usage line + "error:" line, exit 2
            code = exc.code
    text = err.getvalue()
    assert "Traceback" not in text, (argv, text)
    if code not in (0, None):
        assert code == 2, (argv, code, text)
        last = text.strip().splitlines()[-1]
        assert last.startswith("securegenome") and "error:" in last, (argv, text)


@pytest.mark.parametrize("argv, message", [
    (["km", "--data", "0:a.csv", "--party-id", "0"], "--party-id needs --hosts"),
    (["km", "--data", "0:a.csv", "--hosts", "a:1,b:2,c:3"], "--hosts needs --party-id"),
    (["km", "--data", "0:a.csv", "--hosts", "a:1,b,c:3", "--party-id", "0"], "party 1's address 'b' is not HOST:PORT"),
    (["km", "--data", "7:a.csv", "--hosts", "a:1,b:2,c:3", "--party-id", "7"], "--party-id must be one of 0..2"),
])
def test_bad_party_options_are_one_line_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.csv").write_text("T,E,group\n5,1,A\n3,0,B\n")
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("securegenome: error:") and message in err, err
