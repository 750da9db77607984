"""The read simulator: reproducible, truthful names (checked by the oracle), clear errors."""

from pathlib import Path

import numpy as np
import pytest

from securegenome.cli import main
from securegenome.errors import InputError
from securegenome.genomics import (Hit, SequenceRecord, encode, kmismatch_hits, parse_read_name,
                                   read_sequences, reverse_complement, simulate_reads)
from securegenome.genomics.simulate import ReadTruth, parse_range

DATA = Path(__file__).resolve().parent.parent / "data"
# the command in data/README.md
READS_COMMAND = ["simulate-reads", str(DATA / "lambda_phage.fa"), "-n", "100", "--length", "100",
                 "--mismatches", "0..2", "--seed", "7"]


def test_bundled_reads_are_reproduced_byte_for_byte(tmp_path):
    assert main(READS_COMMAND + ["-o", str(tmp_path / "reads.fq")]) == 0
    assert (tmp_path / "reads.fq").read_bytes() == (DATA / "reads.fq").read_bytes()


def test_oracle_finds_every_bundled_read_where_its_name_says():
    reference = read_sequences(DATA / "lambda_phage.fa")
    reads = read_sequences(DATA / "reads.fq")
    assert len(reads) == 100 and {len(r) for r in reads} == {100}
    hits = set(kmismatch_hits([r.codes for r in reference], [r.codes for r in reads], 2))
    truths = [parse_read_name(r.name) for r in reads]
    for i, t in enumerate(truths):
        assert t.read == i and t.record == reference[0].name and 0 <= t.mismatches <= 2
        assert Hit(i, t.strand, 0, t.pos - 1, t.mismatches) in hits
    assert {t.strand for t in truths} == {"+", "-"} and {t.mismatches for t in truths} == {0, 1, 2}


def two_records():
    rng = np.random.default_rng(0)
    chr1 = rng.integers(0, 4, 3000).astype(np.uint8)
    chr1[1000:1010] = 4  # windows over these N's must never be drawn
    return [SequenceRecord("chr_1", chr1, None, "ref.fa"),
            SequenceRecord("tiny", encode("ACGTACGT"), None, "ref.fa"),  # shorter than the reads
            SequenceRecord("chr2", rng.integers(0, 4, 1000).astype(np.uint8), None, "ref.fa")]


def test_every_read_matches_its_truth_exactly():
    reference = two_records()
    reads = simulate_reads(reference, 300, 50, mismatches=(1, 3), seed=5, n_rate=0.02)
    names = [r.name for r in reference]
    for i, read in enumerate(reads):
        t = parse_read_name(read.name)
        assert t.read == i and read.quality == "I" * 50
        window = reference[names.index(t.record)].codes[t.pos - 1:t.pos - 1 + 50]
        expected = window if t.strand == "+" else reverse_complement(window)
        distance = int(((read.codes != expected) | (read.codes == 4) | (expected == 4)).sum())
        assert distance == t.mismatches
        assert 4 not in window
        substitutions = int(((read.codes != expected) & (read.codes != 4)).sum())
        assert 1 <= substitutions <= 3
    truths = [parse_read_name(r.name) for r in reads]
    assert {t.record for t in truths} == {"chr_1", "chr2"}  # never the 8 bp record
    assert any(4 in r.codes for r in reads)
    # the oracle agrees on a sample, across records
    sample = [8, 9, 10, 11]
    hits = set(kmismatch_hits([r.codes for r in reference], [reads[i].codes for i in sample], 10))
    for j, i in enumerate(sample):
        t = truths[i]
        assert Hit(j, t.strand, names.index(t.record), t.pos - 1, t.mismatches) in hits


def test_same_seed_same_reads_other_seed_other_reads():
    reference = two_records()
    a, b, c = (simulate_reads(reference, 20, 30, mismatches=(0, 2), seed=s) for s in (1, 1, 2))
    assert [(r.name, r.codes.tolist()) for r in a] == [(r.name, r.codes.tolist()) for r in b]
    assert [r.name for r in a] != [r.name for r in c]


def test_read_names_round_trip():
    truth = ReadTruth(17, "NC_001416.1", 12346, "-", 2)
    assert truth.name == "r17_NC_001416.1_12346_-_mm2"
    assert parse_read_name(truth.name) == truth
    for bad in ("read1", "r1_chr_+_mm0", "r1_chr_5_x_mm0", "x1_chr_5_+_mm0", "r_chr_5_+_mm0", "r1_chr_5_+_m1"):
        with pytest.raises(InputError, match="is not r<read>"):
            parse_read_name(bad)


def test_ranges():
    assert parse_range("0..2") == (0, 2) and parse_range("3") == (3, 3)
    for bad in ("2..1", "a..b", "1..", "-1..2", "1-2"):
        with pytest.raises(InputError, match="--mismatches"):
            parse_range(bad)


def test_fasta_output_and_cli_errors(tmp_path, capsys):
    ref = str(DATA / "lambda_phage.fa")
    out = tmp_path / "reads.fa"
    assert main(["simulate-reads", ref, "-n", "5", "--length", "30", "--seed", "3", "-o", str(out)]) == 0
    assert out.read_text().startswith(">r0_") and [len(r) for r in read_sequences(out)] == [30] * 5
    assert [r.quality for r in read_sequences(out)] == [None] * 5
    for args, message in [(["--length", "50000"], "read length 50000 is longer than every record "
                                                  "(longest: 48502 bp)"),
                          (["--mismatches", "0..x"], "--mismatches '0..x'"),
                          (["--mismatches", "5..101"], "mismatches 5..101 do not fit reads of 100 bases"),
                          (["--n-rate", "1.5"], "--n-rate 1.5 must lie in"),
                          (["--length", "0"], "read length >= 1")]:
        assert main(["simulate-reads", ref, "-o", str(tmp_path / "x.fq")] + args) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert not (tmp_path / "x.fq").exists()


def test_reference_of_only_n_windows():
    reference = [SequenceRecord("chrN", encode("ACGTNACGT"), None, "ref.fa")]
    with pytest.raises(InputError, match="every window of 5 bases contains an N"):
        simulate_reads(reference, 1, 5)
    assert len(simulate_reads(reference, 3, 4)) == 3


def test_help_teaches_what_when_and_how(capsys):
    with pytest.raises(SystemExit):
        main(["simulate-reads", "--help"])
    text = capsys.readouterr().out
    assert "r<read>_<record>_<pos>_<strand>_mm<k>" in text and "1-based" in text
    assert "nothing is revealed" in text and "securegenome simulate-reads data/lambda_phage.fa" in text
