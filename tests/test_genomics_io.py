"""The DNA alphabet and FASTA/FASTQ I/O: codes, IUPAC policies, and one-line errors for bad files."""

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securegenome.cli import main
from securegenome.errors import InputError
from securegenome.genomics import (BASES, N_CODE, AlphabetError, SequenceRecord, decode, encode,
                                   iter_sequences, read_sequences, reverse_complement, write_fasta,
                                   write_fastq, write_sequences)

DATA = Path(__file__).resolve().parent.parent / "data"
dna = st.text(alphabet="ACGTN", max_size=60)


# --- alphabet ---------------------------------------------------------------------------------------

def test_codes_are_lexicographic_and_lowercase_is_accepted():
    assert BASES == "ACGT" and N_CODE == 4
    assert encode("ACGTacgt").tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert encode("NRYSWKMBDHVnrysw").tolist() == [4] * 16
    assert encode("").dtype == np.uint8 and encode("").size == 0


@given(dna)
def test_decode_inverts_encode(seq):
    codes = encode(seq)
    assert codes.dtype == np.uint8
    assert decode(codes) == seq


@given(dna)
def test_reverse_complement_matches_the_textbook_definition(seq):
    pairs = {"A": "T", "C": "G", "G": "C", "T": "A", "N": "N"}
    rc = reverse_complement(encode(seq))
    assert rc.dtype == np.uint8
    assert decode(rc) == "".join(pairs[c] for c in reversed(seq))
    assert decode(reverse_complement(rc)) == seq


@pytest.mark.parametrize("seq, index", [("ACGU", 3), ("AC GT", 2), ("ACG-T", 3), ("X", 0), ("ACGTé", 4),
                                        ("AC*", 2), ("acgt1", 4)])
def test_non_nucleotides_raise_with_their_index(seq, index):
    with pytest.raises(AlphabetError) as exc:
        encode(seq)
    assert isinstance(exc.value, ValueError)
    assert exc.value.index == index and exc.value.position == index + 1
    assert exc.value.char == seq[index]


def test_iupac_policies_in_encode():
    assert encode("ANyT", iupac="keep").tolist() == [0, 4, 4, 3]
    assert encode("ANyT", iupac="drop").tolist() == [0, 3]
    # replace: the alphabetically first base the code allows
    assert decode(encode("NRYSWKMBDHVnk", iupac="replace")) == "AACCAGACAAAAG"
    with pytest.raises(AlphabetError) as exc:
        encode("ACGTAcN", iupac="reject")
    assert exc.value.index == 6
    assert encode("ACGT", iupac="reject").tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="policy"):
        encode("ACGT", iupac="ignore")


# --- reading ----------------------------------------------------------------------------------------

def write(tmp_path, name, text: str | bytes):
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode() if isinstance(text, str) else text))
    elif isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


def test_lambda_phage():
    [rec] = read_sequences(DATA / "lambda_phage.fa")
    assert rec.name == "gi|9626243|ref|NC_001416.1|"
    assert len(rec) == 48502 and rec.codes.dtype == np.uint8
    assert rec.codes.max() < N_CODE and rec.quality is None
    assert rec.sequence.startswith("GGGCGGCGACCTCGCGGGTTTTCGC")
    assert rec.source == str(DATA / "lambda_phage.fa")


@pytest.mark.parametrize("name", ["ref.fa", "ref.fa.gz", "ref.txt", "ref.fq"])
def test_fasta_plain_or_gzip_recognised_by_content(tmp_path, name):
    path = write(tmp_path, name, "\n>one first record\nACGT\nacgtN\n>two\nGG\n")
    records = read_sequences(path)
    assert [(r.name, r.sequence, r.quality) for r in records] == [("one", "ACGTACGTN", None), ("two", "GG", None)]
    assert all(r.source == path for r in records)


def test_windows_line_ends(tmp_path):
    fasta = write(tmp_path, "ref.fa", ">a x\r\nACGT\r\nAC\r\n")
    fastq = write(tmp_path, "reads.fq", "@r\r\nACGT\r\n+\r\nIIII\r\n")
    assert [(r.name, r.sequence) for r in read_sequences(fasta)] == [("a", "ACGTAC")]
    assert [(r.name, r.sequence, r.quality) for r in read_sequences(fastq)] == [("r", "ACGT", "IIII")]


@pytest.mark.parametrize("name", ["reads.fq", "reads.fastq.gz", "reads.dat"])
def test_fastq_plain_or_gzip(tmp_path, name):
    path = write(tmp_path, name, "@r1 x\nACGN\n+\nABCD\n@r2\nT\n+r2\nI\n")
    records = read_sequences(path)
    assert [(r.name, r.sequence, r.quality) for r in records] == [("r1", "ACGN", "ABCD"), ("r2", "T", "I")]
    assert [r.name for r in iter_sequences(path, fmt="fastq")] == ["r1", "r2"]


def test_iupac_policies_on_files(tmp_path):
    path = write(tmp_path, "reads.fq", "@r1\nANCRT\n+\n12345\n")
    [keep] = read_sequences(path)
    assert keep.codes.tolist() == [0, 4, 1, 4, 3]
    [drop] = read_sequences(path, iupac="drop")
    assert (drop.sequence, drop.quality) == ("ACT", "135")
    [repl] = read_sequences(path, iupac="replace")
    assert (repl.sequence, repl.quality) == ("AACAT", "12345")
    with pytest.raises(InputError) as exc:
        read_sequences(path, iupac="reject")
    assert str(exc.value).startswith(f"{path}, record r1: 'N' at position 2 (1-based) is not A/C/G/T; "
                                     "use --iupac drop|replace")


def test_iteration_is_lazy(tmp_path):
    path = write(tmp_path, "ref.fa", ">good\nACGT\n>bad\nACXT\n")
    records = iter_sequences(path)
    assert next(records).name == "good"
    with pytest.raises(InputError, match="record bad: 'X' at position 3"):
        next(records)


@pytest.mark.parametrize("text, message", [
    ("", "empty file"),
    ("\n  \n", "empty file"),
    (">p1 kinase\nMKVLAAGIVGLLLA\n", r"record p1: 'L' at position 4 \(1-based\) is not a nucleotide"),
    ("Call me Ishmael.\n", "not FASTA or FASTQ"),
    (">a\nACGT\n>b\n\n>c\nA\n", "record b: empty sequence"),
    (">\n>b\nAC\n", r"record #1 \(no name\): empty sequence"),
    (">a\nACGT\n>\nACNNX\n", r"record #2 \(no name\): 'X' at position 5"),
    ("@r1\nACGT\n+\nII\n", "not valid FASTQ after record 0"),
    (">x\nAC\xe9GT\n", "non-ASCII byte"),
    (b"\x00\x01\xfe\xff", "non-ASCII byte 0xfe"),
    (">a\nNNNN\n", None),  # fine with the default policy; checked below with drop
])
def test_bad_files_give_one_line_errors_naming_the_file(tmp_path, text, message):
    path = write(tmp_path, "in.fa", text if isinstance(text, bytes) else text.encode("latin-1"))
    if message is None:
        with pytest.raises(InputError, match=r"record a: no A/C/G/T left after dropping"):
            read_sequences(path, iupac="drop")
        return
    with pytest.raises(InputError, match=message) as exc:
        read_sequences(path)
    assert str(exc.value).startswith(path) and "\n" not in str(exc.value)


def test_missing_directory_gzip_and_format_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_sequences(tmp_path / "absent.fa")
    with pytest.raises(InputError, match="is a directory"):
        read_sequences(tmp_path)
    broken = write(tmp_path, "broken.fa.gz", b"")
    Path(broken).write_bytes(gzip.compress(b">a\nACGT\n")[:-6])
    with pytest.raises(InputError, match=str(broken)):
        read_sequences(broken)
    fasta = write(tmp_path, "ref.fa", ">a\nACGT\n")
    with pytest.raises(InputError, match="expected FASTQ but the file looks like FASTA"):
        read_sequences(fasta, fmt="fastq")
    with pytest.raises(InputError, match="IUPAC policy"):
        read_sequences(fasta, iupac="ignore")


# --- writing ----------------------------------------------------------------------------------------

def test_write_then_read_round_trips(tmp_path):
    records = [SequenceRecord("r1", encode("ACGTN" * 30), "I" * 150, ""),
               SequenceRecord("r2", encode("T"), None, "")]
    for name in ("out.fq", "out.fq.gz"):
        write_fastq(tmp_path / name, records)
        back = read_sequences(tmp_path / name)
        assert [(r.name, r.sequence, r.quality) for r in back] == [("r1", "ACGTN" * 30, "I" * 150),
                                                                    ("r2", "T", "I")]
    write_fasta(tmp_path / "out.fa", records)
    lines = (tmp_path / "out.fa").read_text().splitlines()
    assert lines[:4] == [">r1", ("ACGTN" * 14)[:70], ("ACGTN" * 28)[70:140], ("ACGTN" * 2)]
    assert [r.sequence for r in read_sequences(tmp_path / "out.fa")] == ["ACGTN" * 30, "T"]
    # gzip output is reproducible byte for byte
    first = (tmp_path / "out.fq.gz").read_bytes()
    write_fastq(tmp_path / "out.fq.gz", records)
    assert (tmp_path / "out.fq.gz").read_bytes() == first


names = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(names, st.text(alphabet="ACGTN", min_size=1, max_size=150)), min_size=1, max_size=4),
       st.sampled_from(["x.fq", "x.fa", "x.fq.gz", "x.fasta.gz"]))
def test_any_records_round_trip(tmp_path_factory, records, name):
    path = tmp_path_factory.mktemp("rt") / name
    write_sequences(path, [SequenceRecord(n, encode(s), None, "") for n, s in records])
    back = read_sequences(path)
    assert [(r.name, r.sequence) for r in back] == records
    assert all(r.quality == (None if ".fa" in name else "I" * len(r)) for r in back)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=60),
                 st.text(alphabet=">@+\nACGTNacgtxL \t\r", max_size=60).map(str.encode)))
def test_any_bytes_give_records_or_a_one_line_input_error(tmp_path_factory, data):
    """Fuzzing: whatever the file holds, the reader returns records or raises InputError, nothing else."""
    path = tmp_path_factory.mktemp("fuzz") / "in.txt"
    path.write_bytes(data)
    try:
        records = read_sequences(path)
    except InputError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
    else:
        assert records and all(len(r) and r.codes.max(initial=0) <= N_CODE for r in records)


def test_cli_error_is_one_line_and_exits_2(tmp_path, capsys):
    """Bad input through a command: `securegenome: error: FILE, record ...` and exit status 2."""
    path = write(tmp_path, "prot.fa", ">p1\nMKVLAAG\n")
    assert main(["simulate-reads", path, "-n", "1", "--length", "3", "--seed", "1",
                 "-o", str(tmp_path / "r.fq")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"securegenome: error: {path}, record p1: 'L' at position 4") and "\n" not in err
