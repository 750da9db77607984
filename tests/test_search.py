"""Secure k-mismatch search: same hits as the plaintext oracle, only the querier learns, bad input stops all."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from securegenome.errors import InputError, PartyFailure
from securegenome.genomics import read_sequences, reverse_complement
from securegenome.genomics import search, searchplan
from securegenome.core import smallfield as sf
from securegenome.genomics.oracle import kmismatch_hits

LAMBDA = os.path.join(os.path.dirname(__file__), os.pardir, "data", "lambda_phage.fa")


def lambda_codes():
    return read_sequences(LAMBDA)[0].codes


def simulate(reference, n, length, rng, max_errors=3, n_rate=0.0):
    """Reads copied from random places of the records, with substitutions, N's, and half reverse-complemented."""
    reads = []
    for _ in range(n):
        record = reference[int(rng.integers(len(reference)))]
        m = min(length, len(record))
        start = int(rng.integers(0, len(record) - m + 1))
        read = record[start:start + m].copy()
        for _ in range(int(rng.integers(0, max_errors + 1))):
            read[rng.integers(m)] = (read[rng.integers(m)] + 1 + rng.integers(3)) % 4
        read[rng.random(m) < n_rate] = 4
        reads.append(reverse_complement(read) if rng.random() < 0.5 else read)
    return reads


def check(reference, reads, k, strand="both", **kw):
    kw.setdefault("engine", "scan")
    got = search.search(reference, reads, k, strand=strand, **kw)
    assert got == kmismatch_hits(reference, reads, k, strand=strand)
    return got


# ---------------------------------------------------------------------------- same hits as the oracle

def draw_case(data, *, min_length=1, max_record=40, max_reads=5, max_k=None):
    """Hypothesis: 1-3 records of codes 0..4 (N included), reads no longer than the longest record (N in
    about a fifth of the bases), and a k below every read's length; as uint8 arrays."""
    codes = st.integers(0, 4)
    reference = data.draw(st.lists(st.lists(codes, min_size=min_length, max_size=max_record), min_size=1,
                                   max_size=3))
    longest = max(len(r) for r in reference)
    reads = data.draw(st.lists(st.lists(st.integers(0, 3) | codes, min_size=min_length,
                                        max_size=min(longest, 12)), min_size=1, max_size=max_reads))
    top = min(len(r) for r in reads) - 1
    k = data.draw(st.integers(0, top if max_k is None else min(max_k, top)))
    return [np.array(r, dtype=np.uint8) for r in reference], [np.array(r, dtype=np.uint8) for r in reads], k


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_data_matches_oracle(data):
    reference, reads, k = draw_case(data)
    check(reference, reads, k, data.draw(st.sampled_from(["both", "forward"])))


@pytest.mark.parametrize("case", ["homopolymer", "repeats", "length1", "all_N", "whole_record"])
def test_adversarial_inputs(run1, case):
    a = np.zeros(30, dtype=np.uint8)
    reference, reads, k = {
        "homopolymer": ([a, a[:5] + 3], [a[:6], a[:6] + 1], 2),
        "repeats": ([np.tile(np.array([0, 1, 2], dtype=np.uint8), 15)], [np.array([0, 1, 2, 0, 1], np.uint8)], 1),
        "length1": ([np.array([0, 1, 2, 3, 4], np.uint8)], [np.array([v], np.uint8) for v in range(5)], 0),
        "all_N": ([np.full(10, 4, np.uint8)], [np.full(3, 4, np.uint8), np.zeros(3, np.uint8)], 2),
        "whole_record": ([a[:7] + 2, a[:9]], [a[:7] + 2, a[:9]], 0),
    }[case]
    [result] = run1(search.secure_search, kwargs={"k": k, "engine": "scan"},
                    private={0: {"reference": reference, "reads": reads}})
    assert result.value.hits == kmismatch_hits(reference, reads, k)


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_lambda_simulated_reads_one_party(k):
    rng = np.random.default_rng(k)
    reference = [lambda_codes()]
    reads = simulate(reference, 6, 100, rng, n_rate=0.01) + simulate(reference, 2, 37, rng)
    hits = check(reference, reads, k)
    assert hits  # reads drawn with <= k errors must be found
    assert {h.strand for h in check(reference, reads, k, strand="forward")} <= {"+"}


def test_multi_record_and_lambda_three_processes():
    rng = np.random.default_rng(7)
    reference = [lambda_codes()[:3000], rng.integers(0, 4, 700).astype(np.uint8), np.zeros(50, np.uint8)]
    reads = simulate(reference, 5, 60, rng, n_rate=0.02) + [reference[1][650:700].copy(), np.zeros(50, np.uint8)]
    hits = check(reference, reads, 2, parties=3, batch_size=3, timeout=300)
    assert {h.record for h in hits} >= {1, 2}


def test_batches_do_not_change_hits(monkeypatch):
    rng = np.random.default_rng(3)
    reference = [lambda_codes()[:5000], lambda_codes()[7000:7300]]
    reads = simulate(reference, 7, 50, rng) + simulate(reference, 3, 80, rng)
    whole = search.search(reference, reads, 2, engine="scan")
    assert whole == kmismatch_hits(reference, reads, 2)
    assert search.search(reference, reads, 2, batch_size=1, engine="scan") == whole
    # 1000 tests at k = 2: many batches per read group (the memory plan chooses batch sizes in these bounds)
    monkeypatch.setattr(searchplan, "BATCH_VALUES", 6000)
    monkeypatch.setattr(searchplan, "MIN_BATCH_VALUES", 6000)
    plan = search.ScanPlan((5000, 300), tuple(len(r) for r in reads), 2, ("+", "-"), 4, batch_values=6000)
    assert len(plan.batches()) > 3 * len(plan.read_groups())
    assert all(b.size <= 1000 for b in plan.batches())
    assert search.search(reference, reads, 2, batch_size=4, engine="scan") == whole


def test_window_matrices_not_kept_give_same_hits(monkeypatch):
    rng = np.random.default_rng(4)
    reference = [lambda_codes()[:4000]]
    reads = simulate(reference, 4, 60, rng)
    monkeypatch.setattr(searchplan, "WINDOW_CACHE_BYTES", 0)
    monkeypatch.setattr(search, "GEMM_ROWS", 4 * 60 * 7)  # 7 window rows per BLAS call
    check(reference, reads, 3)


def test_false_hit_bound():
    for k in range(0, 64):
        rho = search.repetitions(k)
        assert (k + 1) * float(sf.P) ** -rho <= 2.0 ** -search.FALSE_HIT_BITS
    assert search.repetitions(2) == 2


# ----------------------------------------------------------------------------- privacy: the ledger

async def opened_tests(k, reference=None, reads=None):
    """Run one batch up to the opening and return what the querier sees (for the statistical test)."""
    plan = search.ScanPlan((3000,), (40,) * 4, k, ("+", "-"))
    records = search._as_records(reference, "record") if reference is not None else None
    read_records = search._as_records(reads, "read") if reads is not None else None
    windows = search.WindowMatrices(await search._share_reference(records, plan, 0))
    [batch] = plan.batches()
    query = await search.share_reads(plan, batch.reads, read_records, 1)
    opened = await search.scan_batch_opened(windows, plan, batch, query, 1)
    return None if opened is None else (opened, search._hits_from_tests(opened, batch.blocks))


def test_ledger_querier_only_and_masked_values_uniform(run3):
    rng = np.random.default_rng(11)
    reference = [rng.integers(0, 4, 3000).astype(np.uint8)]
    reads = simulate(reference, 4, 40, rng, max_errors=1)
    k = 1
    results = run3(opened_tests, kwargs={"k": k}, private={0: {"reference": reference}, 1: {"reads": reads}})
    assert results[0].value is None and results[2].value is None
    opened, hits = results[1].value
    assert sorted(hits, key=lambda h: (h.read, h.record, h.pos, h.strand)) == kmismatch_hits(reference, reads, k)
    rho, n = search.repetitions(k), 4 * 2 * (3000 - 40 + 1)
    assert opened.shape == (rho, k + 1, n)
    for r in results:
        assert [(x.what, x.receivers, x.count) for x in r.ledger] == [("search.window_tests", (1,), rho * (k + 1) * n)]
        assert r.ledger.labels() <= set(search.LEAKAGE)
    # at a hit with e mismatches the e-test is zero in every repetition; all other values uniform on GF(P)
    zero = (opened == 0).all(axis=0)
    assert zero.sum() == len(hits)
    others = opened[:, ~zero].reshape(-1)
    counts = np.bincount(others * 16 // sf.P, minlength=16)
    expected = others.size / 16
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 50  # 15 degrees of freedom: P(chi2 > 50) < 1e-5
    assert (others == 0).sum() <= 3  # P(a mask is 0) = 1/P per value


def test_full_run_ledger(run3):
    rng = np.random.default_rng(5)
    reference = [rng.integers(0, 4, 400).astype(np.uint8)]
    reads = simulate(reference, 3, 30, rng)
    results = run3(search.secure_search, kwargs={"k": 2, "batch_size": 2, "engine": "scan"},
                   private={0: {"reference": reference}, 1: {"reads": reads}})
    assert results[0].value.hits is None and results[2].value.hits is None
    assert results[1].value.hits == kmismatch_hits(reference, reads, 2)
    releases = results[1].ledger.releases
    assert {(x.what, x.receivers) for x in releases} == {("search.window_tests", (1,))}
    assert sum(x.count for x in releases) == 2 * 3 * 2 * 3 * (400 - 30 + 1)  # rho (k+1) strands reads windows
    assert len(releases) == 2  # one opening per batch


# ----------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("reads, k, message", [
    ([np.zeros(5, np.uint8)], 5, "k = 5 is not below the length of read 1"),
    ([np.zeros(0, np.uint8)], 0, "read 1 is empty"),
    ([np.zeros(50, np.uint8)], 1, r"read 1 \(50 bp\) is longer than every reference record"),
    (["ACGTX"], 1, "read 1: 'X' at position 5"),
])
def test_bad_input_one_party(reads, k, message):
    with pytest.raises(InputError, match=message):
        search.search([np.zeros(40, np.uint8)], reads, k)


def test_wrong_party_stops_everyone(run3):
    with pytest.raises(PartyFailure, match="party 2 was given reads but party 1 inputs the reads"):
        run3(search.secure_search, kwargs={"k": 1}, timeout=120,
             private={0: {"reference": ["ACGTACGT"]}, 1: {"reads": ["ACG"]}, 2: {"reads": ["ACG"]}})


PARTY_COUNTS_AND_ROLES = [(5, {}), (2, {}), (4, {"reference_party": 2, "query_party": 3})]


def two_records_and_reads():
    """Two random records (the second with N) and 4 reads of 40 bp with N's: for runs with other party counts."""
    rng = np.random.default_rng(9)
    reference = [rng.integers(0, 4, 800).astype(np.uint8), rng.integers(0, 5, 300).astype(np.uint8)]
    return reference, simulate(reference, 4, 40, rng, n_rate=0.05)


@pytest.mark.slow
@pytest.mark.parametrize("parties, roles", PARTY_COUNTS_AND_ROLES)
def test_other_party_counts_and_roles(parties, roles):
    reference, reads = two_records_and_reads()
    check(reference, reads, 2, parties=parties, timeout=300, **roles)
