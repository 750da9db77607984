"""The fm engine: same hits as the scan engine and the oracle, caps reported, ledger as documented."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from securegenome.errors import InputError
from securegenome.genomics import fmsearch, read_sequences, search
from securegenome.genomics.oracle import kmismatch_hits

from test_search import PARTY_COUNTS_AND_ROLES, draw_case, lambda_codes, simulate, two_records_and_reads

DOCS = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "search.md")
u8 = lambda values: np.array(values, dtype=np.uint8)  # noqa: E731


def fm(reference, reads, k, **kw):
    kw.setdefault("engine", "fm")
    return search.search(reference, reads, k, **kw)


def check(reference, reads, k, *, cap=fmsearch.DEFAULT_CAP, strand="both", **kw):
    """fm == its plaintext twin; and == the oracle where nothing overflowed."""
    got = fm(reference, reads, k, cap=cap, strand=strand, **kw)
    twin, overflow = fmsearch.fm_search_plain(reference, reads, k, strand=strand, cap=cap)
    assert got == twin
    oracle = kmismatch_hits(reference, reads, k, strand=strand)
    assert [h for h in oracle if h.read not in overflow] == [h for h in got if h.read not in overflow]
    assert set(got) <= set(oracle)  # even over the cap, every hit reported is a true hit
    return got, overflow


# ------------------------------------------------------------------------------------ plaintext twin

@settings(max_examples=150, deadline=None)
@given(st.data())
def test_twin_matches_oracle_without_cap(data):
    reference, reads, k = draw_case(data, max_k=2)
    strand = data.draw(st.sampled_from(["both", "forward"]))
    hits, overflow = fmsearch.fm_search_plain(reference, reads, k, strand=strand, cap=10**6)
    assert overflow == []
    assert hits == kmismatch_hits(reference, reads, k, strand=strand)


def test_seed_layout_is_a_partition():
    for m in range(1, 40):
        for k in range(0, min(m, 5)):
            seeds = fmsearch.seed_layout(m, k)
            assert len(seeds) == k + 1 and seeds[0][0] == 0 and all(length >= 1 for _, length in seeds)
            assert all(o1 + l1 == o2 for (o1, l1), (o2, _) in zip(seeds, seeds[1:]))
            assert sum(length for _, length in seeds) == m


def test_chunks_cover_the_pattern_backwards():
    for length in range(1, 30):
        for h in range(1, 12):
            chunks = [fmsearch.chunk_of(length, h, s) for s in range(fmsearch.steps_of(length, h))]
            assert chunks[0][1] == length and chunks[-1][0] == 0
            assert all(b == c for (_, b), (c, _) in zip(chunks[1:], chunks))  # step s+1 ends where s starts
            assert all(0 < stop - start <= h for start, stop in chunks)


# ------------------------------------------------------------------------------ secure == twin/oracle

@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_data_one_party(data):
    reference, reads, k = draw_case(data, min_length=3, max_record=50, max_reads=4, max_k=2)
    step = data.draw(st.sampled_from([None, 1, 2, 5]))
    cap = data.draw(st.sampled_from([1, 3, 8]))
    check(reference, reads, k, cap=cap, fm_step=step)


@pytest.mark.parametrize("case", ["homopolymer", "repeats", "length1", "all_N", "whole_record", "all_same"])
def test_adversarial_inputs(run1, case):
    a = np.zeros(30, dtype=np.uint8)
    reference, reads, k = {
        "homopolymer": ([a, a[:5] + 3], [a[:6], a[:6] + 1], 2),
        "repeats": ([np.tile(u8([0, 1, 2]), 15)], [u8([0, 1, 2, 0, 1])], 1),
        "length1": ([u8([0, 1, 2, 3, 4])], [u8([v]) for v in range(5)], 0),
        "all_N": ([np.full(10, 4, np.uint8)], [np.full(3, 4, np.uint8), np.zeros(3, np.uint8)], 2),
        "whole_record": ([a[:7] + 2, a[:9]], [a[:7] + 2, a[:9]], 0),
        "all_same": ([a[:12] + 1], [a[:12] + 1, a[:4] + 1], 0),
    }[case]
    cap = 64  # above every count here: exactly the oracle's hits
    [result] = run1(search.secure_search, kwargs={"k": k, "engine": "fm", "cap": cap},
                    private={0: {"reference": reference, "reads": reads}})
    assert result.value.hits == kmismatch_hits(reference, reads, k)
    assert result.value.overflow == []
    assert result.value.stats["engine"] == "fm"


@pytest.mark.parametrize("step", [1, 3, None])
def test_backward_search_steps_give_the_same_hits(step):
    """h = 1 is the textbook LF step C[c] + Occ(c, s); longer steps only change the cost."""
    rng = np.random.default_rng(11)
    reference = [lambda_codes()[:1500], rng.integers(0, 5, 300).astype(np.uint8)]
    reads = simulate(reference, 6, 20, rng, max_errors=1, n_rate=0.02) + [reference[1][10:30].copy()]
    for k in (0, 1):
        hits, overflow = check(reference, reads, k, fm_step=step)
        assert hits and not overflow


def test_cap_overflow_is_reported_and_hits_stay_true():
    reference = [np.zeros(60, np.uint8), u8([1, 2, 3, 1, 2, 3, 0, 0, 0, 0, 1])]
    reads = [np.zeros(8, np.uint8), u8([1, 2, 3, 1, 2]), u8([0, 0, 0, 1])]
    for k, overflowed in ((0, [0]), (1, [0, 2])):
        hits, overflow = check(reference, reads, k, cap=3)
        assert overflow == overflowed
        assert len([h for h in hits if h.read == 0]) >= 3  # the first cap rows are still located
        assert [h for h in hits if h.read == 1] == [h for h in kmismatch_hits(reference, reads, k) if h.read == 1]


def test_lambda_reads_fm_equals_scan_one_party():
    rng = np.random.default_rng(21)
    reference = [lambda_codes()[:6000]]
    reads = simulate(reference, 10, 100, rng, max_errors=2, n_rate=0.005)
    for k in (0, 2):
        hits, overflow = check(reference, reads, k)
        assert overflow == [] and hits == search.search(reference, reads, k, engine="scan")
        assert len({h.read for h in hits}) >= (1 if k == 0 else 5)


def test_index_built_once_and_reused_across_batches():
    rng = np.random.default_rng(8)
    reference = [lambda_codes()[:2000]]
    reads = simulate(reference, 7, 30, rng, max_errors=1)
    whole = fm(reference, reads, 1)
    [result] = search.core.run(search.secure_search, parties=1,
                               kwargs={"k": 1, "engine": "fm", "batch_size": 2},
                               private={0: {"reference": reference, "reads": reads}})
    assert result.value.hits == whole
    assert result.value.stats["batches"] == 4 and result.value.stats["index_seconds"] > 0


def test_secure_build_one_party(run1):
    rng = np.random.default_rng(2)
    reference = [rng.integers(0, 4, 120).astype(np.uint8), rng.integers(0, 4, 50).astype(np.uint8)]
    reads = simulate(reference, 4, 12, rng, max_errors=1)
    [result] = run1(search.secure_search, kwargs={"k": 1, "engine": "fm", "fm_build": "secure"},
                    private={0: {"reference": reference, "reads": reads}})
    assert result.value.hits == kmismatch_hits(reference, reads, 1)


# ---------------------------------------------------------------------------------- three processes

def test_three_processes_both_builds_and_ledger(run3):
    rng = np.random.default_rng(5)
    reference = [rng.integers(0, 4, 300).astype(np.uint8), np.tile(u8([0, 1]), 20)]
    reads = simulate(reference, 3, 16, rng, max_errors=2, n_rate=0.03) + [np.tile(u8([0, 1]), 5)]
    cap = 4
    for k, build in ((0, "secure"), (2, "owner")):
        results = run3(search.secure_search, kwargs={"k": k, "engine": "fm", "cap": cap, "fm_build": build,
                                                     "fm_step": 5},
                       private={0: {"reference": reference}, 1: {"reads": reads}})
        twin, overflow = fmsearch.fm_search_plain(reference, reads, k, cap=cap)
        assert results[1].value.hits == twin and results[1].value.overflow == overflow
        assert overflow == [3]  # (01)^5 occurs 16 times in (01)^20
        assert results[0].value.hits is None and results[2].value.hits is None
        check_ledger(results, k, reads, cap)


def check_ledger(results, k, reads, cap):
    """Every release is a documented label; the querier alone receives the fm tests; counts as documented."""
    allowed = set(fmsearch.LEAKAGE)
    releases = list(results[0].ledger)
    assert {r.what for r in releases} <= allowed
    for r in releases:
        if r.what.startswith("fm."):
            assert r.receivers == (1,)
        else:
            assert r.receivers == (0, 1, 2)  # shuffled destinations: uniform permutations, to all
    patterns = 2 * len(reads) * (k + 1)
    counts = results[0].ledger.counts()
    if k == 0:
        assert counts["fm.count_tests"] == fmsearch.REPETITIONS * (cap + 1) * patterns
        assert counts["fm.locations"] == (1 + fmsearch.REPETITIONS) * cap * patterns
    else:
        assert counts["fm.overflow_tests"] == fmsearch.REPETITIONS * patterns
        candidates = patterns * cap
        assert counts["fm.verify_tests"] == fmsearch.REPETITIONS * (k + 1) * candidates
        assert counts["fm.verify_positions"] == candidates


def test_every_label_is_documented():
    text = open(DOCS, encoding="utf-8").read()
    for label in fmsearch.LEAKAGE:
        assert f"`{label}`" in text, f"docs/search.md does not describe {label}"


# ----------------------------------------------------------------------------------------- engines

def test_auto_picks_scan_for_few_reads_and_fm_for_many():
    lambda_n = 48502
    few = search.ScanPlan((lambda_n,), (100,) * 10, 0, ("+", "-"))
    many = search.ScanPlan((lambda_n,), (100,) * 10000, 0, ("+", "-"))
    assert search.choose_engine("auto", few) == "scan"
    assert search.choose_engine("auto", many) == "fm"
    assert search.choose_engine("scan", many) == "scan" and search.choose_engine("fm", few) == "fm"


@pytest.mark.parametrize("kwargs, message", [
    ({"engine": "fast"}, "--engine must be one of scan, fm, auto"),
    ({"engine": "fm", "cap": 0}, "--cap must be at least 1"),
    ({"engine": "fm", "fm_step": 0}, "--fm-step must be at least 1"),
    ({"engine": "fm", "fm_build": "cloud"}, "--fm-build must be one of owner, secure"),
])
def test_bad_parameters(kwargs, message):
    k = kwargs.pop("k", 1)
    with pytest.raises(InputError, match=message):
        search.search([np.zeros(40, np.uint8)], [np.zeros(4, np.uint8)], k, **kwargs)


@pytest.mark.slow
def test_lambda_three_processes_fm_equals_scan():
    rng = np.random.default_rng(13)
    reference = [read_sequences(os.path.join(os.path.dirname(DOCS), os.pardir, "data", "lambda_phage.fa"))[0].codes]
    reads = simulate(reference, 40, 100, rng, max_errors=2, n_rate=0.002)
    for k in (0, 2):
        got = fm(reference, reads, k, parties=3, timeout=900)
        assert got == search.search(reference, reads, k, engine="scan", parties=3, timeout=900)
        assert got == kmismatch_hits(reference, reads, k)


@pytest.mark.slow
@pytest.mark.parametrize("parties, roles", PARTY_COUNTS_AND_ROLES)
def test_other_party_counts_and_roles(parties, roles):
    reference, reads = two_records_and_reads()
    for k in (0, 2):
        check(reference, reads, k, parties=parties, timeout=300, fm_step=25, **roles)


async def two_batches_on_one_index(reference, first, second):
    """A protocol using the index API directly: build once, search two batches (1 party)."""
    index = await fmsearch.SecureFMIndex.build([(f"r{i}", r, None) for i, r in enumerate(reference)],
                                               [(f"r{i}", len(r)) for i, r in enumerate(reference)],
                                               reference_party=0, step=6)
    out = []
    for batch in (first, second):
        records = [(f"q{i}", r, None) for i, r in enumerate(batch)]
        out.append(await fmsearch.search_batch(index, records, [len(r) for r in batch], k=1, strands=("+", "-"),
                                               cap=4, query_party=0))
    return out


def test_index_api_serves_several_batches(run1):
    rng = np.random.default_rng(17)
    reference = [lambda_codes()[:800]]
    first, second = simulate(reference, 3, 15, rng, max_errors=1), simulate(reference, 2, 9, rng, max_errors=1)
    [result] = run1(two_batches_on_one_index, kwargs={"reference": reference, "first": first, "second": second})
    for got, batch in zip(result.value, (first, second)):
        hits, overflow = fmsearch.fm_search_plain(reference, batch, 1, cap=4)
        assert got.hits == sorted(hits) and sorted(got.overflow) == overflow
