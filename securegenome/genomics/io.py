"""FASTA and FASTQ files (plain or gzip) in and out, as :class:`SequenceRecord` s of base codes.

Reading goes through Biopython's ``Bio.SeqIO`` low-level parsers (``SimpleFastaParser``,
``FastqGeneralIterator``): they return plain strings, which we encode with :mod:`.alphabet` in one
vectorised step.  The format is recognised from the content (first character ``>`` or ``@``), gzip from
its magic bytes, so names like ``reads.txt`` or ``ref.fa.gz`` need no flag.

Every problem with a file is an :class:`~securegenome.errors.InputError` with a one-line message that
names the file, the record and, where it applies, the 1-based position.
"""

from __future__ import annotations

import gzip
import io
import os
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
from Bio.SeqIO.FastaIO import SimpleFastaParser
from Bio.SeqIO.QualityIO import FastqGeneralIterator

from ..errors import InputError
from . import alphabet

FORMATS = ("fasta", "fastq")
_FIRST_CHAR = {">": "fasta", "@": "fastq"}
_POLICY_HINT = "use --iupac drop|replace to remove the ambiguity codes or replace each by a base"
FASTA_LINE_WIDTH = 70
DEFAULT_QUALITY = "I"  # Phred 40, written when a record has no qualities (e.g. FASTA in, FASTQ out)


@dataclass
class SequenceRecord:
    """One sequence: ``codes`` are uint8 base codes (A, C, G, T = 0..3, ambiguity = 4)."""

    name: str
    codes: np.ndarray
    quality: str | None
    source: str

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def sequence(self) -> str:
        return alphabet.decode(self.codes)


def read_sequences(path, *, fmt: str | None = None, iupac: str = "keep") -> list[SequenceRecord]:
    """All records of a FASTA/FASTQ file (see :func:`iter_sequences`); an empty file is an error."""
    records = list(iter_sequences(path, fmt=fmt, iupac=iupac))
    if not records:
        raise InputError(f"{path}: no FASTA or FASTQ records")
    return records


def iter_sequences(path, *, fmt: str | None = None, iupac: str = "keep") -> Iterator[SequenceRecord]:
    """The records of a FASTA/FASTQ file one at a time (for batching read files that do not fit in memory).

    ``fmt``: ``"fasta"``, ``"fastq"`` or None to recognise it from the content.  ``iupac``: what to do
    with ambiguity codes (N, R, Y, ...): ``"keep"`` (code 4, a mismatch against everything),
    ``"reject"``, ``"drop"`` or ``"replace"`` (by the alphabetically first base the code allows: N -> A).
    An empty file raises :class:`InputError` as soon as iteration starts.
    """
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"unknown sequence format {fmt!r}; choose fasta or fastq")
    if iupac not in alphabet.IUPAC_POLICIES:
        raise InputError(f"unknown IUPAC policy {iupac!r}; choose one of {', '.join(alphabet.IUPAC_POLICIES)}")
    return _records(os.fspath(path), fmt, iupac)


def _records(path: str, fmt: str | None, iupac: str) -> Iterator[SequenceRecord]:
    with _open_text(path) as handle:
        detected = _detect_format(handle, path)
        if fmt is not None and fmt != detected:
            raise InputError(f"{path}: expected {fmt.upper()} but the file looks like {detected.upper()}")
        parsed = (((title, seq, None) for title, seq in SimpleFastaParser(handle)) if detected == "fasta"
                  else FastqGeneralIterator(handle))
        number = 0
        try:
            for number, (title, seq, quality) in enumerate(parsed, 1):
                yield _record(path, number, title, seq, quality, iupac)
        except (ValueError, UnicodeDecodeError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"{path}: not valid {detected.upper()} after record {number}: "
                             f"{_one_line(exc)}") from None


def _record(path, number, title, seq, quality, iupac) -> SequenceRecord:
    name = title.split(None, 1)[0] if title.strip() else ""
    where = f"{path}, record {name}" if name else f"{path}, record #{number} (no name)"
    if not seq:
        raise InputError(f"{where}: empty sequence")
    try:
        codes = alphabet.encode(seq, iupac=iupac)
    except alphabet.AlphabetError as exc:
        if iupac == "reject" and exc.char.upper() in alphabet.AMBIGUITY:
            problem = f"is not A/C/G/T; {_POLICY_HINT}"
        else:
            problem = "is not a nucleotide (A, C, G, T or IUPAC); is this DNA?"
        raise InputError(f"{where}: {exc.char!r} at position {exc.position} (1-based) {problem}") from None
    if iupac == "drop" and len(codes) < len(seq):
        if quality is not None:
            keep = ~alphabet.ambiguous_mask(seq)
            quality = np.frombuffer(quality.encode("ascii"), np.uint8)[keep].tobytes().decode("ascii")
        if not len(codes):
            raise InputError(f"{where}: no A/C/G/T left after dropping ambiguity codes")
    return SequenceRecord(name, codes, quality, path)


def _open_text(path: str):
    try:
        with open(path, "rb") as f:
            magic = f.read(2)
        if magic == b"\x1f\x8b":
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="ascii", errors="strict")
        return open(path, encoding="ascii", errors="strict")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a FASTA/FASTQ file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _detect_format(handle, path: str) -> str:
    """FASTA or FASTQ from the first non-blank character; the handle is left at the file's start."""
    try:
        text = handle.read(4096)
        while text and not text.strip():
            text = handle.read(4096)
    except (UnicodeDecodeError, EOFError, OSError, gzip.BadGzipFile) as exc:
        raise InputError(f"{path}: not a FASTA/FASTQ text file ({_one_line(exc)})") from None
    handle.seek(0)
    first = text.lstrip()[:1]
    if not first:
        raise InputError(f"{path}: empty file (no FASTA or FASTQ records)")
    if first not in _FIRST_CHAR:
        raise InputError(f"{path}: not FASTA or FASTQ (a FASTA record starts with '>', a FASTQ record "
                         f"with '@'; this file starts with {first!r})")
    return _FIRST_CHAR[first]


def _one_line(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"non-ASCII byte 0x{exc.object[exc.start]:02x}"
    return " ".join(str(exc).split()) or type(exc).__name__


# --- writing ---------------------------------------------------------------------------------------

def write_fastq(path, records: Iterable[SequenceRecord]) -> None:
    """Write records as FASTQ, atomically; records without qualities get Phred 40 (``I``)."""
    lines = []
    for r in records:
        seq = alphabet.decode(r.codes)
        quality = r.quality if r.quality is not None else DEFAULT_QUALITY * len(seq)
        if len(quality) != len(seq):
            raise ValueError(f"record {r.name}: {len(quality)} qualities for {len(seq)} bases")
        lines.append(f"@{r.name}\n{seq}\n+\n{quality}\n")
    _write(path, "".join(lines))


def write_fasta(path, records: Iterable[SequenceRecord], *, width: int = FASTA_LINE_WIDTH) -> None:
    """Write records as FASTA, ``width`` bases per line, atomically."""
    lines = []
    for r in records:
        seq = alphabet.decode(r.codes)
        lines.append(f">{r.name}\n")
        lines.extend(seq[i:i + width] + "\n" for i in range(0, len(seq), width))
    _write(path, "".join(lines))


def write_sequences(path, records: Iterable[SequenceRecord]) -> None:
    """FASTA if ``path`` ends in .fa/.fasta/.fna (optionally .gz), FASTQ otherwise."""
    (write_fasta if fasta_path(path) else write_fastq)(path, records)


def fasta_path(path) -> bool:
    name = os.fspath(path).lower().removesuffix(".gz")
    return name.endswith((".fa", ".fasta", ".fna", ".fas"))


def _write(path, text: str) -> None:
    from ..files import write_atomically

    data = text.encode("ascii")
    if os.fspath(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)  # mtime=0: the same records give the same bytes
    write_atomically(path, data)
