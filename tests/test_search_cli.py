"""SAM/TSV output of search hits and the `securegenome search` command end to end."""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from securegenome.cli import main
from securegenome.genomics import SequenceRecord, encode, read_sequences, reverse_complement, write_fastq
from securegenome.genomics.oracle import Hit, kmismatch_hits
from securegenome.genomics.sam import TSV_HEADER, sam_text, tsv_text

LAMBDA = os.path.join(os.path.dirname(__file__), os.pardir, "data", "lambda_phage.fa")
RECORDS = [("chr1 first record", 20), ("plasmid", 8)]
READS = [("r1 desc", encode("ACGTA"), "ABCDE"), ("r2", encode("GGNTT"), None), ("r3", encode("CCCCC"), "IIIII")]
HITS = [Hit(0, "+", 0, 3, 0), Hit(0, "-", 1, 2, 1), Hit(1, "-", 0, 0, 2)]


def fields(text):
    return [line.split("\t") for line in text.splitlines() if not line.startswith("@")]


def test_sam_header_flags_and_reverse_strand():
    text = sam_text(RECORDS, READS, HITS, version="9.9", command="securegenome search a b -k 2")
    header = [line for line in text.splitlines() if line.startswith("@")]
    assert header[0].startswith("@HD\tVN:1.6")
    assert header[1:3] == ["@SQ\tSN:chr1\tLN:20", "@SQ\tSN:plasmid\tLN:8"]
    assert header[3].startswith("@PG\tID:securegenome\tPN:securegenome\tVN:9.9\tCL:securegenome search")
    rows = fields(text)
    # read 1: primary forward hit (0 mismatches), secondary reverse hit; read 2 reverse; read 3 unmapped
    assert [r[:6] for r in rows] == [["r1", "0", "chr1", "4", "255", "5M"], ["r1", "272", "plasmid", "3", "255", "5M"],
                                     ["r2", "16", "chr1", "1", "255", "5M"], ["r3", "4", "*", "0", "0", "*"]]
    assert rows[0][9:] == ["ACGTA", "ABCDE", "NM:i:0"]
    assert rows[1][9:] == ["TACGT", "EDCBA", "NM:i:1"]  # reverse complement and reversed qualities
    assert rows[2][9:] == ["AANCC", "*", "NM:i:2"]
    assert rows[3][9:] == ["CCCCC", "IIIII"]


def test_tsv_sorted_by_read_then_position():
    hits = [Hit(1, "-", 0, 0, 2), Hit(0, "-", 1, 2, 1), Hit(0, "+", 0, 3, 0)]
    lines = tsv_text(RECORDS, READS, hits).splitlines()
    assert lines[0] == TSV_HEADER
    assert lines[1:] == ["r1\t+\tchr1\t3\t0", "r1\t-\tplasmid\t2\t1", "r2\t-\tchr1\t0\t2"]


@pytest.mark.skipif(shutil.which("samtools") is None, reason="samtools not installed")
def test_samtools_reads_our_sam(tmp_path):
    path = tmp_path / "hits.sam"
    path.write_text(sam_text(RECORDS, READS, HITS, command="x"))
    out = subprocess.run(["samtools", "view", "-c", str(path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "4"
    flags = subprocess.run(["samtools", "flagstat", str(path)], capture_output=True, text=True, check=True).stdout
    assert "1 + 0 secondary" in flags and "2 + 0 primary mapped" in flags


def simulated_reads(tmp_path, n=4):
    rng = np.random.default_rng(1)
    genome = read_sequences(LAMBDA)[0].codes
    records = []
    for i in range(n):
        start = int(rng.integers(0, genome.size - 70))
        codes = genome[start:start + 70].copy()
        codes[rng.integers(70)] = (codes[rng.integers(70)] + 1) % 4
        if i % 2:
            codes = reverse_complement(codes)
        records.append(SequenceRecord(f"read{i}", codes, "I" * 70, "sim"))
    records.append(SequenceRecord("nowhere", encode("ACGT" * 17 + "AC"), "#" * 70, "sim"))
    path = tmp_path / "reads.fq"
    write_fastq(str(path), records)
    return path, records


def test_cli_three_parties_sam_json_ledger(tmp_path, capsys):
    reads_path, records = simulated_reads(tmp_path)
    sam, js, ledger = tmp_path / "hits.sam", tmp_path / "run.json", tmp_path / "ledger.json"
    code = main(["search", LAMBDA, str(reads_path), "-k", "2", "--engine", "scan", "-o", str(sam), "--json", str(js),
                 "--ledger", str(ledger), "--timeout", "300"])
    assert code == 0
    expected = kmismatch_hits([read_sequences(LAMBDA)[0].codes], [r.codes for r in records], 2)
    rows = fields(sam.read_text())
    mapped = [r for r in rows if r[1] != "4"]
    got = sorted((int(r[0][4:]), "-" if int(r[1]) & 16 else "+", 0, int(r[3]) - 1, int(r[11][5:])) for r in mapped)
    assert got == sorted(tuple(h) for h in expected) and expected
    assert [r[0] for r in rows if r[1] == "4"] == ["nowhere"]
    summary = json.loads(js.read_text())
    assert summary["parties"] == 3 and summary["hits"] == len(expected) and summary["reads"] == 5
    assert set(json.loads(ledger.read_text())["totals"]) == {"search.window_tests"}
    assert all(r["receivers"] == [1] for r in json.loads(ledger.read_text())["releases"])


def test_cli_tsv_one_party(tmp_path):
    reads_path, records = simulated_reads(tmp_path, n=2)
    out = tmp_path / "hits.tsv"
    assert main(["search", LAMBDA, str(reads_path), "-k", "1", "--parties", "1", "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    expected = kmismatch_hits([read_sequences(LAMBDA)[0].codes], [r.codes for r in records], 1)
    assert lines[0] == TSV_HEADER and len(lines) == 1 + len(expected)


@pytest.mark.parametrize("args, message", [
    (["-k", "70"], "k = 70 is not below the length of read 1"),
    (["-k", "1", "--swap"], "the reference must be FASTA, this is FASTQ"),
])
def test_cli_bad_input_one_line_error(tmp_path, capsys, args, message):
    reads_path, _ = simulated_reads(tmp_path, n=1)
    files = [LAMBDA, str(reads_path)]
    if "--swap" in args:
        args.remove("--swap")
        files.reverse()
    code = main(["search", *files, *args, "--timeout", "120"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("securegenome: error:") and message in err[0]


def test_cli_non_dna_read(tmp_path, capsys):
    path = tmp_path / "bad.fa"
    path.write_text(">ok\nACGTACGT\n>bad\nACGTQCGT\n")
    assert main(["search", LAMBDA, str(path), "-k", "1", "--parties", "1"]) == 2
    err = capsys.readouterr().err
    assert "bad.fa" in err and "'Q'" in err


def _multi_host(tmp_path, files_by_party, extra=()):
    """Run the 3 parties as 3 separate `securegenome search --party-id I --hosts ...` commands."""
    import sys

    from conftest import loopback_hosts

    hosts = loopback_hosts(3)
    env = dict(os.environ, SECUREGENOME_QUIET="1")
    procs = [subprocess.Popen([sys.executable, "-m", "securegenome", "search", *files_by_party[pid], "-k", "2",
                               "--party-id", str(pid), "--hosts", hosts, "--timeout", "120", "--no-tls", *extra],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for pid in range(3)]
    return [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]


def test_cli_multi_host_each_party_only_its_file(tmp_path):
    reads_path, records = simulated_reads(tmp_path, n=2)
    out = _multi_host(tmp_path, {0: [LAMBDA, "-"], 1: ["-", str(reads_path)], 2: ["-", "-"]},
                      extra=["-o", "hits.tsv"])
    assert [code for code, _, _ in out] == [0, 0, 0], out
    expected = kmismatch_hits([read_sequences(LAMBDA)[0].codes], [r.codes for r in records], 2)
    assert len((tmp_path / "hits.tsv").read_text().splitlines()) == 1 + len(expected)


def test_cli_multi_host_wrong_party_fails_everywhere(tmp_path):
    reads_path, _ = simulated_reads(tmp_path, n=1)
    out = _multi_host(tmp_path, {0: [LAMBDA, "-"], 1: ["-", str(reads_path)], 2: [LAMBDA, "-"]})
    detail = "party 2 was given reference but party 0 inputs the reference"
    for pid, (code, _, err) in enumerate(out):
        assert code == 2
        lines = [line for line in err.strip().splitlines() if "warning: --no-tls" not in line]
        assert len(lines) == 1, (pid, lines)
        if pid == 2:  # the party whose input is wrong sees why
            assert detail in lines[0], (pid, lines)
        else:  # the others get only the data-free code and the party (no text travels between parties)
            assert "party 2 failed: its input is invalid" in lines[0] and detail not in lines[0], (pid, lines)


def test_bundled_reads_found_where_simulated(tmp_path):
    """data/reads.fq carries its truth in the read names: every primary SAM line must agree with it."""
    from securegenome.genomics.simulate import parse_read_name
    reads = os.path.join(os.path.dirname(LAMBDA), "reads.fq")
    sam = tmp_path / "hits.sam"
    assert main(["search", LAMBDA, reads, "-k", "2", "--parties", "1", "-o", str(sam)]) == 0
    primary = [r for r in fields(sam.read_text()) if not int(r[1]) & 256]
    assert len(primary) == len(read_sequences(reads)) == 100
    for r in primary:
        truth = parse_read_name(r[0])
        assert (int(r[3]), "-" if int(r[1]) & 16 else "+", r[11]) == (truth.pos, truth.strand,
                                                                      f"NM:i:{truth.mismatches}")


# ------------------------------------------------------------------------------------ engines (issue 6)

def test_sam_overflow_tag_and_comment():
    text = sam_text(RECORDS, READS, HITS, overflow=[2, 0], cap=3)
    comments = [line for line in text.splitlines() if line.startswith("@CO")]
    assert len(comments) == 1 and comments[0].startswith("@CO\tXO:i:1 ") and "--cap 3" in comments[0]
    tagged = {(r[0], r[1]): r[-1] == "XO:i:1" for r in fields(text)}
    assert tagged == {("r1", "0"): True, ("r1", "272"): True, ("r2", "16"): False, ("r3", "4"): True}
    plain = sam_text(RECORDS, READS, HITS)
    assert "@CO" not in plain and "XO:i:" not in plain and plain == sam_text(RECORDS, READS, HITS, overflow=())


def lambda_prefix(tmp_path, n=2000):
    genome = read_sequences(LAMBDA)[0].codes[:n]
    path = tmp_path / "lambda2k.fa"
    path.write_text(">lambda2k\n" + "".join("ACGTN"[c] for c in genome) + "\n")
    rng = np.random.default_rng(7)
    records = []
    for i in range(4):
        start = int(rng.integers(0, n - 30))
        codes = genome[start:start + 30].copy()
        if i % 2:
            codes[int(rng.integers(30))] = (codes[int(rng.integers(30))] + 1) % 4
            codes = reverse_complement(codes)
        records.append(SequenceRecord(f"read{i}", codes, "I" * 30, "sim"))
    records.append(SequenceRecord("nowhere", encode("ACGT" * 7 + "AC"), "#" * 30, "sim"))
    reads = tmp_path / "reads30.fq"
    write_fastq(str(reads), records)
    return path, reads, genome, records


def test_cli_fm_and_scan_same_sam_one_party(tmp_path, capsys):
    ref, reads, genome, records = lambda_prefix(tmp_path)
    bodies = {}
    for engine in ("scan", "fm"):
        out, js = tmp_path / f"{engine}.sam", tmp_path / f"{engine}.json"
        assert main(["search", str(ref), str(reads), "-k", "1", "--parties", "1", "--engine", engine,
                     "-o", str(out), "--json", str(js)]) == 0
        assert f"securegenome search ({engine} engine):" in capsys.readouterr().err
        bodies[engine] = [line for line in out.read_text().splitlines() if not line.startswith("@")]
        summary = json.loads(js.read_text())
        assert summary["engine"] == summary["engine_requested"] == engine
        assert ("reads_overflowed" in summary) == (engine == "fm")
    assert bodies["fm"] == bodies["scan"]
    expected = kmismatch_hits([genome], [r.codes for r in records], 1)
    assert expected and sum(1 for line in bodies["fm"] if line.split("\t")[1] != "4") == len(expected)
    summary = json.loads((tmp_path / "fm.json").read_text())
    assert summary["reads_overflowed"] == 0 and summary["overflow_reads"] == []
    assert summary["cap"] == 8 and summary["fm_build"] == "owner"


def test_cli_auto_reports_the_engine_it_ran(tmp_path):
    from securegenome.genomics.search import ScanPlan, choose_engine
    ref, reads, genome, records = lambda_prefix(tmp_path)
    js, out = tmp_path / "run.json", tmp_path / "hits.tsv"
    assert main(["search", str(ref), str(reads), "-k", "1", "--parties", "1", "-o", str(out), "--json", str(js)]) == 0
    summary = json.loads(js.read_text())
    plan = ScanPlan((genome.size,), tuple(r.codes.size for r in records), 1, ("+", "-"), None)
    assert summary["engine_requested"] == "auto" and summary["engine"] == choose_engine("auto", plan)
    expected = kmismatch_hits([genome], [r.codes for r in records], 1)
    assert len(out.read_text().splitlines()) == 1 + len(expected)


def test_cli_fm_overflow_reported(tmp_path, capsys):
    ref, reads = tmp_path / "poly.fa", tmp_path / "reads.fa"
    ref.write_text(">poly\n" + "A" * 200 + "\n")
    reads.write_text(">many\nAAAAAAAAAA\n>none\nACGTACGTAC\n")
    sam, tsv, js = tmp_path / "hits.sam", tmp_path / "hits.tsv", tmp_path / "run.json"
    base = ["search", str(ref), str(reads), "-k", "0", "--parties", "1", "--engine", "fm", "--cap", "2"]
    assert main([*base, "-o", str(sam), "--json", str(js)]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "--cap 2" in line]
    assert len(err) == 1 and err[0].startswith("securegenome search: 1 of 2 reads") and "--engine scan" in err[0]
    rows = fields(sam.read_text())
    many = [r for r in rows if r[0] == "many"]
    assert many and all(r[-1] == "XO:i:1" for r in many) and all(int(r[3]) - 1 in range(191) for r in many)
    assert [r[-1] for r in rows if r[0] == "none"] == ["*"]  # unmapped, no tag
    assert sum(line.startswith("@CO\tXO:i:1") for line in sam.read_text().splitlines()) == 1
    summary = json.loads(js.read_text())
    assert summary["reads_overflowed"] == 1 and summary["overflow_reads"] == ["many"] and summary["cap"] == 2
    # TSV keeps its format: only the (true) hits found
    assert main([*base, "-o", str(tsv)]) == 0
    lines = tsv.read_text().splitlines()
    assert lines[0] == TSV_HEADER and len(lines) == 1 + len(many)
    assert all(line.startswith("many\t") for line in lines[1:])
    # a larger cap finds them all, without overflow
    assert main([*base[:-1], "400", "-o", str(sam)]) == 0
    assert "XO:i:" not in sam.read_text()
    assert len(fields(sam.read_text())) == 191 + 1  # 191 forward hits (no T in the reference), 1 unmapped


@pytest.mark.parametrize("args, message", [
    (["--cap", "0"], "--cap must be at least 1 (got 0)"),
    (["--fm-step", "0"], "--fm-step must be at least 1 (got 0)"),
])
def test_cli_bad_engine_option_one_line(tmp_path, capsys, args, message):
    reads_path, _ = simulated_reads(tmp_path, n=1)
    assert main(["search", LAMBDA, str(reads_path), "-k", "1", "--engine", "fm", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"securegenome: error: {message}"]


def test_search_help_shows_engine_options(capsys):
    from securegenome.commands import search as command
    from securegenome.genomics import fmsearch, search
    assert set(command.ENGINES) == set(search.ENGINES) and command.FM_BUILDS == fmsearch.BUILDS
    assert command.DEFAULT_CAP == fmsearch.DEFAULT_CAP
    with pytest.raises(SystemExit) as exc:
        main(["search", "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for option in ("--engine {auto,scan,fm}", "--cap C", "--fm-step H", "--fm-build {owner,secure}", "--batch-size B"):
        assert option in out
    assert f"default {fmsearch.DEFAULT_CAP}" in out and "--engine fm" in out


def test_cli_fm_three_parties(tmp_path, capsys):
    ref, reads, genome, records = lambda_prefix(tmp_path)
    out, js = tmp_path / "hits.sam", tmp_path / "run.json"
    assert main(["search", str(ref), str(reads), "-k", "1", "--engine", "fm", "--fm-step", "8", "-o", str(out),
                 "--json", str(js), "--timeout", "300"]) == 0
    expected = kmismatch_hits([genome], [r.codes for r in records], 1)
    mapped = [r for r in fields(out.read_text()) if r[1] != "4"]
    got = sorted((int(r[0][4:]), "-" if int(r[1]) & 16 else "+", 0, int(r[3]) - 1, int(r[11][5:])) for r in mapped)
    assert got == sorted(tuple(h) for h in expected) and expected
    summary = json.loads(js.read_text())
    assert summary["parties"] == 3 and summary["engine"] == "fm" and summary["fm_step"] == 8
    assert summary["reads_overflowed"] == 0
