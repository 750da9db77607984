"""Plaintext oracles against brute force: suffix array, BWT, FM-index backward search, k-mismatch hits."""

from pathlib import Path

import numpy as np
import pydivsufsort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securegenome.genomics import decode, encode, read_sequences, reverse_complement
from securegenome.genomics.oracle import (FMIndex, Hit, backward_search, bwt, bwt_from_sa,
                                          exact_occurrences, kmismatch_hits, suffix_array)

DATA = Path(__file__).resolve().parent.parent / "data"


def adversarial(alphabet: str = "ACGT", max_size: int = 40):
    """Random strings plus the shapes that break suffix sorting and search: homopolymers, short periods,
    length 1, all-same, and (with N in the alphabet) N-rich strings."""
    random = st.text(alphabet=alphabet, max_size=max_size)
    periodic = st.builds(lambda unit, times, tail: (unit * times + tail)[:max_size],
                         st.text(alphabet=alphabet, min_size=1, max_size=4), st.integers(1, max_size),
                         st.text(alphabet=alphabet, max_size=3))
    homopolymer = st.builds(lambda c, n: c * n, st.sampled_from(alphabet), st.integers(1, max_size))
    two_letters = st.text(alphabet=alphabet[:2], max_size=max_size)
    return st.one_of(random, periodic, homopolymer, two_letters, st.sampled_from(alphabet))


def brute_sa(seq: str) -> list[int]:
    text = ["ACGTN".index(c) for c in seq] + [-1]  # '$' below every base, N above T
    return sorted(range(len(text)), key=lambda i: text[i:])


def brute_bwt(seq: str) -> str:
    text = seq + "$"
    rotations = sorted(range(len(text)), key=lambda i: (text[i:] + text[:i]).replace("$", "\0"))
    return "".join(text[i - 1] for i in rotations)


def brute_hits(reference: list[str], reads: list[str], k: int, strand="both") -> list[Hit]:
    pairs = {"A": "T", "C": "G", "G": "C", "T": "A", "N": "N"}
    hits = []
    for r, read in enumerate(reads):
        variants = [("+", read), ("-", "".join(pairs[c] for c in reversed(read)))]
        for s, pattern in variants if strand == "both" else variants[:1]:
            for rec, ref in enumerate(reference):
                for pos in range(len(ref) - len(pattern) + 1):
                    d = sum(a != b or a == "N" for a, b in zip(ref[pos:], pattern))
                    if d <= k:
                        hits.append(Hit(r, s, rec, pos, d))
    return sorted(hits, key=lambda h: (h.read, h.record, h.pos, h.strand))


# --- suffix array and BWT ----------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(adversarial("ACGTN"))
def test_suffix_array_matches_brute_force(seq):
    sa = suffix_array(encode(seq))
    assert sa.dtype == np.int64 and sa[0] == len(seq)
    assert sa.tolist() == brute_sa(seq)


@settings(max_examples=200, deadline=None)
@given(adversarial("ACGT"))
def test_bwt_matches_sorted_rotations(seq):
    codes = encode(seq)
    assert bwt(codes) == brute_bwt(seq)
    assert bwt_from_sa(codes, brute_sa(seq)) == brute_bwt(seq)


def test_bwt_conventions():
    assert bwt(encode("")) == "$"
    assert bwt(encode("A")) == "A$"
    assert bwt(encode("ACGT")) == "T$ACG"  # SA = [4, 0, 1, 2, 3]
    with pytest.raises(ValueError, match=r"index 2 \(0-based\)"):
        bwt(encode("ACNT"))


@pytest.mark.parametrize("shape", ["random", "homopolymer", "period3", "lambda_tandem"])
def test_suffix_array_matches_divsufsort_on_larger_texts(shape):
    rng = np.random.default_rng(11)
    lam = read_sequences(DATA / "lambda_phage.fa")[0].codes
    codes = {"random": rng.integers(0, 4, 200_000).astype(np.uint8),
             "homopolymer": np.full(50_000, 2, np.uint8),
             "period3": np.tile(np.array([0, 1, 0], np.uint8), 20_000),
             "lambda_tandem": np.concatenate([lam, lam[:30_000], lam])}[shape]
    expected = pydivsufsort.divsufsort(np.append(codes + 1, 0).astype(np.uint8))
    assert np.array_equal(suffix_array(codes), expected)


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["random", "lambda_tandem", "period7"])
def test_suffix_array_matches_divsufsort_on_megabases(shape):
    rng = np.random.default_rng(12)
    lam = read_sequences(DATA / "lambda_phage.fa")[0].codes
    codes = {"random": rng.integers(0, 4, 5_000_000).astype(np.uint8),
             "lambda_tandem": np.tile(lam, 21),
             "period7": np.tile(rng.integers(0, 4, 7).astype(np.uint8), 300_000)}[shape]
    expected = pydivsufsort.divsufsort(np.append(codes + 1, 0).astype(np.uint8))
    assert np.array_equal(suffix_array(codes), expected)


def test_lambda_phage_suffix_array_and_bwt():
    lam = read_sequences(DATA / "lambda_phage.fa")[0].codes
    sa = suffix_array(lam)
    assert np.array_equal(sa, pydivsufsort.divsufsort(np.append(lam + 1, 0).astype(np.uint8)))
    b = bwt_from_sa(lam, sa)
    assert len(b) == 48503 and b.count("$") == 1 and b[np.flatnonzero(sa == 0)[0]] == "$"
    assert sorted(b.replace("$", "")) == sorted(decode(lam))


# --- FM-index ----------------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(adversarial("ACGT"), st.text(alphabet="ACGT", max_size=5))
def test_backward_search_finds_every_occurrence(seq, pattern):
    fm = FMIndex.from_codes(encode(seq))
    lo, hi = backward_search(fm, encode(pattern))
    expected = [i for i in range(len(seq) - len(pattern) + 1) if seq.startswith(pattern, i)]
    assert hi - lo == len(expected)
    assert exact_occurrences(encode(seq), encode(pattern)).tolist() == expected
    assert exact_occurrences(None, encode(pattern), fm=fm).tolist() == expected


def test_fm_index_tables():
    fm = FMIndex.from_codes(encode("ACGTA"))  # SA of ACGTA$ = [5, 4, 0, 1, 2, 3]
    assert fm.sa.tolist() == [5, 4, 0, 1, 2, 3]
    assert "".join("ACGT$"[c] for c in fm.bwt) == "AT$ACG"
    assert fm.C.tolist() == [1, 3, 4, 5, 6]
    assert fm.occ[-1].tolist() == [2, 1, 1, 1] and fm.occ[0].tolist() == [0, 0, 0, 0]
    assert len(fm) == 5
    assert backward_search(fm, encode("AN")) == (0, 0)  # N matches nothing
    assert backward_search(fm, encode("")) == (0, 6)


def test_exact_occurrences_on_lambda_phage():
    lam = read_sequences(DATA / "lambda_phage.fa")[0]
    fm = FMIndex.from_codes(lam.codes)
    text = lam.sequence
    for start in (0, 1000, 24_000, 48_490):
        pattern = text[start:start + 12]
        expected = [i for i in range(len(text)) if text.startswith(pattern, i)]
        assert exact_occurrences(lam.codes, encode(pattern), fm=fm).tolist() == expected
    assert exact_occurrences(lam.codes, encode("GGGCGGCGACCT"), fm=fm).tolist() == [0]


# --- k-mismatch hits ---------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.lists(adversarial("ACGTN", 30), min_size=1, max_size=3),
       st.lists(adversarial("ACGTN", 6).filter(len), min_size=1, max_size=3),
       st.integers(0, 3), st.sampled_from(["both", "forward"]), st.sampled_from(["scan", "seed"]))
def test_kmismatch_hits_match_brute_force(reference, reads, k, strand, method):
    hits = kmismatch_hits([encode(r) for r in reference], [encode(r) for r in reads], k, strand=strand,
                          method=method)
    assert hits == brute_hits(reference, reads, k, strand)


@settings(max_examples=100, deadline=None)
@given(st.lists(adversarial("ACGTN", 80), min_size=1, max_size=2), st.integers(0, 2), st.data())
def test_seeded_search_matches_brute_force_on_longer_reads(reference, k, data):
    """Reads cut from the reference (so there are hits) plus random ones, long enough for real seeds."""
    text = "".join(reference)
    cut = st.builds(lambda i, n: text[i:i + n], st.integers(0, max(len(text) - 1, 0)), st.integers(8, 20))
    reads = data.draw(st.lists(st.one_of(cut, adversarial("ACGTN", 20)).filter(len), min_size=1, max_size=4))
    hits = kmismatch_hits([encode(r) for r in reference], [encode(r) for r in reads], k, method="seed")
    assert hits == brute_hits(reference, reads, k)


def test_kmismatch_semantics():
    ref = [encode("ACGTTACGNA"), encode("CGT")]
    hits = kmismatch_hits(ref, [encode("CGT"), encode("AACC"), encode("ACGTTACGNAA")], 0)
    # CGT on the forward strand of both records; its reverse complement ACG twice on record 0;
    # a read longer than every record is never found; windows never span records
    assert hits == [Hit(0, "-", 0, 0, 0), Hit(0, "+", 0, 1, 0), Hit(0, "-", 0, 5, 0), Hit(0, "+", 1, 0, 0)]
    assert kmismatch_hits(ref, [encode("CGT")], 0, strand="forward") == [Hit(0, "+", 0, 1, 0),
                                                                       Hit(0, "+", 1, 0, 0)]
    # N is a mismatch even against N
    assert kmismatch_hits([encode("NNN")], [encode("N")], 0) == []
    assert kmismatch_hits([encode("ANA")], [encode("ANA")], 1, strand="forward") == [Hit(0, "+", 0, 0, 1)]
    with pytest.raises(ValueError, match="empty"):
        kmismatch_hits(ref, [encode("")], 1)
    with pytest.raises(ValueError, match="strand"):
        kmismatch_hits(ref, [encode("A")], 1, strand="-")


def test_kmismatch_hits_on_lambda_phage():
    """Reads cut from lambda with known substitutions are found where they were cut, on their strand."""
    lam = read_sequences(DATA / "lambda_phage.fa")[0].codes
    rng = np.random.default_rng(3)
    reads, truth = [], []
    for i in range(200):
        pos, strand, mm = int(rng.integers(0, len(lam) - 100)), "+-"[i % 2], i % 3
        read = lam[pos:pos + 100].copy()
        where = rng.choice(100, mm, replace=False)
        read[where] = (read[where] + rng.integers(1, 4, mm)) % 4
        reads.append(read if strand == "+" else reverse_complement(read))
        truth.append(Hit(i, strand, 0, pos, mm))
    hits = kmismatch_hits([lam], reads, 2)
    assert set(truth) <= set(hits)
    assert [h for h in hits if h.read < 40] == windowed_hits(lam, reads[:40], 2)


def windowed_hits(ref: np.ndarray, reads, k: int) -> list[Hit]:
    """Brute force with numpy: the Hamming distance of every window at once (one record, both strands)."""
    hits = []
    for r, read in enumerate(reads):
        windows = np.lib.stride_tricks.sliding_window_view(ref, len(read))
        for strand, pattern in (("+", read), ("-", reverse_complement(read))):
            d = ((windows != pattern) | (windows == 4) | (pattern == 4)).sum(axis=1)
            hits += [Hit(r, strand, 0, int(p), int(d[p])) for p in np.flatnonzero(d <= k)]
    return sorted(hits, key=lambda h: (h.read, h.record, h.pos, h.strand))
