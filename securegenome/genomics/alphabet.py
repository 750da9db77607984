"""The DNA alphabet: bases as small integer codes.

``A, C, G, T`` are coded ``0, 1, 2, 3`` (lexicographic order, so sorting codes sorts strings) and every
IUPAC ambiguity code (``N`` and ``R Y S W K M B D H V``) is coded :data:`N_CODE` ``= 4``.  Lowercase
(soft-masked) letters are accepted.  Anything else — digits, gaps, ``*``, protein letters such as
``E F I L P Q``, whitespace — is not DNA and raises :class:`AlphabetError` (a ``ValueError``) carrying the
0-based index of the first bad character.

What to do with ambiguity codes is an explicit policy (``iupac=``), see :func:`encode`.
"""

from __future__ import annotations

import numpy as np

BASES = "ACGT"
N_CODE = 4
#: IUPAC nucleotide ambiguity codes and the bases each stands for.
AMBIGUITY = {"R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC",
             "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT"}
IUPAC_POLICIES = ("keep", "reject", "drop", "replace")

_INVALID = 255


def _table(value_of) -> np.ndarray:
    """A byte -> code lookup table over upper and lower case letters; every other byte is invalid."""
    table = np.full(256, _INVALID, dtype=np.uint8)
    for letter, value in value_of.items():
        table[ord(letter)] = table[ord(letter.lower())] = value
    return table


_BASE_CODE = {b: i for i, b in enumerate(BASES)}
_CODE = _table({**_BASE_CODE, **{a: N_CODE for a in AMBIGUITY}})
# "replace": the alphabetically first base an ambiguity code allows (N -> A, Y -> C, K -> G, ...),
# deterministic so that two parties that replace the same input get the same sequence.
_RESOLVED = _table({**_BASE_CODE, **{a: _BASE_CODE[bases[0]] for a, bases in AMBIGUITY.items()}})
_LETTER = np.frombuffer(b"ACGTN", dtype=np.uint8)
_COMPLEMENT = np.array([3, 2, 1, 0, N_CODE], dtype=np.uint8)


class AlphabetError(ValueError):
    """A character that cannot be used; ``index`` is 0-based, ``position`` 1-based."""

    def __init__(self, index: int, char: str, reason: str):
        self.index, self.position, self.char = index, index + 1, char
        super().__init__(f"{char!r} at position {index + 1} {reason}")


def encode(seq: str, *, iupac: str = "keep") -> np.ndarray:
    """Codes (uint8) of a DNA string.

    ``iupac`` decides what happens to ambiguity codes: ``"keep"`` codes them as 4 (search treats 4 as a
    mismatch against everything), ``"reject"`` raises :class:`AlphabetError` at the first one, ``"drop"``
    removes them, ``"replace"`` substitutes the alphabetically first base the code allows (N -> A).
    Characters that are not nucleotide codes at all always raise :class:`AlphabetError`.
    """
    if iupac not in IUPAC_POLICIES:
        raise ValueError(f"unknown IUPAC policy {iupac!r}; choose one of {', '.join(IUPAC_POLICIES)}")
    raw = _ascii_bytes(seq)
    codes = _CODE[raw]
    bad = np.flatnonzero(codes == _INVALID)
    if bad.size:
        i = int(bad[0])
        raise AlphabetError(i, seq[i], "is not a nucleotide (A, C, G, T or an IUPAC code)")
    if iupac == "keep":
        return codes
    ambiguous = codes == N_CODE
    if not ambiguous.any():
        return codes
    if iupac == "reject":
        i = int(np.argmax(ambiguous))
        raise AlphabetError(i, seq[i], "is not A/C/G/T")
    if iupac == "drop":
        return codes[~ambiguous]
    return _RESOLVED[raw]


def ambiguous_mask(seq: str) -> np.ndarray:
    """True where ``seq`` has an IUPAC ambiguity code (for trimming qualities alongside ``iupac="drop"``)."""
    return _CODE[_ascii_bytes(seq)] == N_CODE


def decode(codes) -> str:
    """The DNA string of codes; code 4 becomes ``N``."""
    codes = np.asarray(codes)
    if codes.size and (codes.min() < 0 or codes.max() > N_CODE):
        raise ValueError(f"codes must lie in 0..{N_CODE}")
    return _LETTER[codes.astype(np.intp)].tobytes().decode("ascii")


def reverse_complement(codes) -> np.ndarray:
    """The reverse complement (A<->T, C<->G; 4 stays 4) as a new uint8 array."""
    return _COMPLEMENT[np.asarray(codes, dtype=np.intp)[::-1]]


def on_strand(codes, strand: str) -> np.ndarray:
    """A read as searched on ``strand``: itself for '+', its reverse complement for '-' (int64 codes)."""
    codes = codes if strand == "+" else reverse_complement(codes)
    return np.asarray(codes, dtype=np.int64)


_ONE_HOT = np.eye(N_CODE + 1, 4, dtype=np.int64)  # rows A, C, G, T = unit vectors; N = zero row


def one_hot(codes) -> np.ndarray:
    """(n, 4) int64: A, C, G, T as unit vectors, N (4) as the zero vector, so it matches nothing."""
    return _ONE_HOT[np.asarray(codes, dtype=np.intp)]


def _ascii_bytes(seq: str) -> np.ndarray:
    try:
        data = seq.encode("ascii")
    except UnicodeEncodeError as exc:
        raise AlphabetError(exc.start, seq[exc.start],
                            "is not a nucleotide (A, C, G, T or an IUPAC code)") from None
    return np.frombuffer(data, dtype=np.uint8)
