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


async def index_keys_both_builds(reference, step):
    """The index keys (and SA) built by the owner and by the secure construction, opened."""
    from securegenome import core

    records = [(f"r{i}", r, None) for i, r in enumerate(reference)]
    meta = [(f"r{i}", len(r)) for i, r in enumerate(reference)]
    out = []
    for build in ("owner", "secure"):
        index = await fmsearch.SecureFMIndex.build(records, meta, reference_party=0, step=step, build=build, chunk=3)
        keys = await core.open(core.RawShares(index.keys.astype(np.int64)), what="test.output", why="test")
        sa = await core.open(core.RawShares(index.sa), what="test.output", why="test")
        out.append((keys.tolist(), sa.tolist()))
    return out


@pytest.mark.parametrize("step", [1, 4, 7])
def test_owner_keys_equal_the_secure_gather(run1, step):
    """build="owner" inputs the keys the owner computes in SA order; they are exactly those the secure
    gather (shuffle, scatter of ISA, gather into SA order) makes, N runs, short records and text end included."""
    rng = np.random.default_rng(step)
    reference = [rng.integers(0, 4, 40).astype(np.uint8), u8([4, 4, 0, 1, 4]), u8([3] * 9), u8([2])]
    [result] = run1(index_keys_both_builds, kwargs={"reference": reference, "step": step})
    (owner_keys, owner_sa), (secure_keys, secure_sa) = result.value
    assert owner_sa == secure_sa and owner_keys == secure_keys


# ---------------------------------------------------------------------------------- three processes

def test_three_processes_both_builds_and_ledger(run3):
    rng = np.random.default_rng(5)
    reference = [rng.integers(0, 4, 300).astype(np.uint8), np.tile(u8([0, 1]), 20)]
    reference[0][150:158] = 4  # an N run: windows over it mismatch there (k > 0) or are spoiled (k = 0)
    reads = simulate(reference, 3, 16, rng, max_errors=2, n_rate=0.03) + [np.tile(u8([0, 1]), 5),
                                                                          reference[0][140:156].copy()]
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
        if r.what == "fm.decompose_masked":
            assert r.receivers == (1,)  # party t (t = 1): uniformly masked values
        elif r.what.startswith("fm."):
            assert r.receivers == (1,)  # the querier
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


# ------------------------------------------------------------------------- new verification vs the twin

@pytest.mark.parametrize("case", ["n_runs", "multi_record", "repeats", "homopolymer", "length1", "long_reads"])
def test_verification_equals_twin_on_adversarial_data(run1, case):
    """Small caps, so that overflows and rows past the interval are exercised; the twin is exact."""
    rng = np.random.default_rng(3)
    a = np.zeros(40, dtype=np.uint8)
    n_run = rng.integers(0, 4, 60).astype(np.uint8)
    n_run[20:32] = 4
    reference, reads, k = {
        "n_runs": ([n_run], [n_run[14:26].copy(), n_run[30:42].copy(), n_run[40:52].copy()], 2),
        "multi_record": ([a[:9] + 1, rng.integers(0, 4, 25).astype(np.uint8), a[:9] + 1],
                         [a[:8] + 1, a[:12] + 1], 1),
        "repeats": ([np.tile(u8([0, 1, 2, 3, 3]), 12)], [u8([0, 1, 2, 3, 3, 0, 1, 0]), u8([3, 3, 0, 1, 2])], 2),
        "homopolymer": ([a, a[:7] + 2], [a[:9], u8([0, 0, 0, 2, 0, 0, 0])], 2),
        "length1": ([u8([0, 1, 2, 3, 4, 0])], [u8([v]) for v in range(5)], 0),
        "long_reads": ([rng.integers(0, 4, 90).astype(np.uint8)], [], 2),
    }[case]
    if case == "long_reads":  # windows of several packed words, with substitutions and an N
        reads = [reference[0][3:38].copy(), reference[0][50:73].copy()]
        reads[0][[4, 30]] = (reads[0][[4, 30]] + 1) % 4
        reads[1][11] = 4
    for cap in (1, 3):
        [result] = run1(search.secure_search, kwargs={"k": k, "engine": "fm", "cap": cap},
                        private={0: {"reference": reference, "reads": reads}})
        twin, overflow = fmsearch.fm_search_plain(reference, reads, k, cap=cap)
        assert result.value.hits == twin and result.value.overflow == overflow


def test_bit_decomposition(run1):
    from securegenome.genomics.fm import shares

    values = np.array([0, 1, 2, 5, 2**30 - 1, 2**30, shares.P - 1, shares.P - 2, 123456789], dtype=np.int64)

    async def protocol():
        bits = await shares.decompose(values, search.core.KeyRing(), why="test")
        return bits @ (1 << np.arange(31, dtype=np.int64)), set(np.unique(bits).tolist())

    [result] = run1(protocol)
    numbers, seen = result.value
    assert numbers.tolist() == values.tolist() and seen <= {0, 1}


def test_shuffle_within_groups_keeps_groups(run1):
    from securegenome.genomics.fm.merge import shuffle_within_groups

    groups = np.repeat(np.arange(4), [3, 1, 5, 2])
    values = np.stack([np.arange(len(groups)), 100 + groups], axis=1)

    async def protocol():
        return await shuffle_within_groups(values, groups, search.core.KeyRing())

    [result] = run1(protocol)
    out = result.value
    assert (out[:, 1] == 100 + groups).all()  # every row stays in its group's slots
    for g in range(4):
        assert sorted(out[groups == g, 0]) == list(np.flatnonzero(groups == g))


# ------------------------------------------------------------- issue 15.1: openings in data-independent order

SAME_HITS = ["ACGTCGGGGGACGTATTTTT", "ACGTAGGGGGACGTCTTTTT"]  # ACGT at {0, 10} in both, in opposite SA order
RUNS = 16  # an order that never changes in 16 runs has probability 2^-15 under a uniform shuffle


def _views(reference: str, read: str, k: int, runs: int = RUNS):
    """The querier's views of the fm openings over ``runs`` independent 1-party runs."""
    out = []
    for _ in range(runs):
        [result] = search.core.run(search.secure_search, parties=1,
                                   kwargs={"k": k, "engine": "fm", "cap": 4, "strand": "forward"},
                                   private={0: {"reference": [reference], "reads": [read]}})
        out.append(result.ledger)
    return out


def test_k0_locations_do_not_reveal_the_suffix_array_order():
    """Same hit set, opposite suffix-array order: the querier's views of fm.locations have the same
    distribution -- the same multiset of values every run (deterministic), in an order that varies."""
    multisets = {}
    for reference in SAME_HITS:
        views = [tuple(ledger.views("fm.locations")[0]) for ledger in _views(reference, "ACGT", 0)]
        assert len({tuple(sorted(v)) for v in views}) == 1
        multisets[reference] = sorted(views[0])
        assert len(set(views)) > 1, f"{reference}: fm.locations opened in one fixed (suffix-array) order"
        slots = np.array(views[0]).reshape(4, -1)  # cap slots x (position + 1, masks): two hits, two unselected
        assert sorted(map(tuple, slots.tolist())) == [(0, 0, 0), (0, 0, 0), (1, 0, 0), (11, 0, 0)]
    assert multisets[SAME_HITS[0]] == multisets[SAME_HITS[1]]


def test_k1_verification_does_not_reveal_the_suffix_array_order():
    """k > 0: the hits among the opened candidate starts (values below n; the others are uniform in
    [0, p)) are the same every run and for both references, in an order that varies."""
    per_reference = {}
    for reference in SAME_HITS:
        orders, hits = set(), None
        for ledger in _views(reference, "ACGT", 1):
            [positions] = ledger.views("fm.verify_positions")
            found = [int(p) for p in positions if p < len(reference)]  # a non-hit is below n w.p. n / p
            assert hits is None or sorted(found) == hits  # deterministic: the hits and how often they appear
            hits = sorted(found)
            orders.add(tuple(dict.fromkeys(found)))  # the order in which the hits first appear
        per_reference[reference] = hits
        assert orders == {(0, 10), (10, 0)}, f"{reference}: hits always opened in the order {orders}"
    assert per_reference[SAME_HITS[0]] == per_reference[SAME_HITS[1]] and per_reference[SAME_HITS[0]]


# ------------------------------------------------------------------------------- memory plan and bounds

def test_plan_fits_the_budget_or_says_it_does_not():
    GIB = 1 << 30
    for n, reads, k in ((10**6, 1000, 2), (10**6, 10000, 0), (5 * 10**6, 10000, 2)):
        roomy = fmsearch.plan(n, [100] * reads, k, 2, budget=64 * GIB)
        smallest = fmsearch.plan(n, [100] * reads, k, 2, budget=1)
        between = (roomy.peak_bytes + smallest.peak_bytes) // 2
        tight = fmsearch.plan(n, [100] * reads, k, 2, budget=between)
        assert roomy.fits(64 * GIB) and tight.fits(between) and smallest.peak_bytes < roomy.peak_bytes
        assert tight.seconds >= roomy.seconds  # less memory, never faster
    nothing = fmsearch.plan(10**6, [100] * 1000, 2, 2, budget=1)
    roomy = fmsearch.plan(10**6, [100] * 1000, 2, 2, budget=64 << 30)
    assert not nothing.fits(1) and nothing.peak_bytes < roomy.peak_bytes


async def _engine(reference, reads, k, budget):
    """fm_engine directly (1 party): both roles' inputs, public sizes, a given budget."""
    records = [(f"r{i}", r, None) for i, r in enumerate(reference)]
    read_records = [(f"q{i}", r, None) for i, r in enumerate(reads)]
    return await fmsearch.fm_engine(records, read_records, [(name, len(c)) for name, c, _ in records],
                                    [len(r) for r in reads], k=k, strands=("+", "-"), cap=4, step=None,
                                    build="owner", batch_size=None, reference_party=0, query_party=0,
                                    budget=budget)


def test_tiny_budget_runs_in_more_chunks_with_the_same_answer(run1):
    rng = np.random.default_rng(4)
    reference = [lambda_codes()[:3000]]
    reads = simulate(reference, 12, 40, rng, max_errors=2)
    roomy = fmsearch.plan(3000, [40] * 12, 2, 2, cap=4, budget=8 << 30)
    smallest = fmsearch.plan(3000, [40] * 12, 2, 2, cap=4, budget=1)  # the smallest plan (it does not fit 1 byte)
    assert not smallest.fits(1) and smallest.peak_bytes < roomy.peak_bytes
    outcomes = {}
    for name, budget in (("roomy", 8 << 30), ("tight", smallest.peak_bytes)):
        [result] = run1(_engine, kwargs={"reference": reference, "reads": reads, "k": 2, "budget": budget})
        outcomes[name] = result.value
    tight = outcomes["tight"].stats["memory_plan"]
    assert (tight["chunk"], tight["step"]) == (smallest.details["chunk"], smallest.details["step"])
    assert tight["chunk"] < outcomes["roomy"].stats["memory_plan"]["chunk"]  # more, narrower shuffles
    assert outcomes["tight"].hits == outcomes["roomy"].hits
    twin, _ = fmsearch.fm_search_plain(reference, reads, 2, cap=4)
    assert outcomes["tight"].hits == twin


def test_a_plan_that_does_not_fit_stops_before_sharing():
    from securegenome.core.memory import MemoryPlanError

    async def protocol():
        return await fmsearch.fm_engine(None, None, [("r", 4000)], [50] * 4, k=1, strands=("+",), cap=4, step=None,
                                        build="owner", batch_size=None, reference_party=0, query_party=0, budget=1)

    with pytest.raises(MemoryPlanError, match="GiB per party"):
        search.core.run(protocol, parties=1)


def test_field_bounds_are_checked_from_the_public_sizes():
    with pytest.raises(InputError, match="cannot sort"):
        fmsearch.check_field_bounds(2**31 - 10, [100] * 10, 0, 2, 8, 10)
    with pytest.raises(InputError, match="positions must stay below 2\\^30"):
        fmsearch.check_field_bounds(2**30 + 5, [100] * 10, 2, 2, 8, 10)
    fmsearch.check_field_bounds(5 * 10**6, [100] * 10000, 2, 2, 8, 10000)  # bacterial scale: fine


@pytest.mark.slow
def test_predicted_peak_is_within_a_factor_of_the_measured_peak():
    """Mid-size case, 3 processes: the plan's peak within 1.6x of each party's measured peak RSS."""
    rng = np.random.default_rng(6)
    reference = [rng.integers(0, 4, 150_000).astype(np.uint8)]
    reads = simulate(reference, 300, 100, rng, max_errors=2)
    for k in (0, 2):
        results = search.core.run(search.secure_search, parties=3, timeout=900, kwargs={"k": k, "engine": "fm"},
                                  private={0: {"reference": reference}, 1: {"reads": reads}})
        predicted = results[1].value.stats["memory_plan"]["predicted_peak_gib"]
        for r in results:
            measured = r.value.stats["peak_rss_gib"]
            assert measured / 1.6 <= predicted <= measured * 1.6, (k, r.pid, predicted, measured)
