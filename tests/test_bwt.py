"""Secure suffix array / BWT (genomics.bwt): twin vs independent oracles, secure vs twin, ledger, segments."""

import importlib

import numpy as np
import pytest

from securegenome import core
from securegenome.core import mpc
from securegenome.core.memory import GIB, MemoryPlanError
from securegenome.genomics import oracle

# the package namespace exports the oracle's function ``bwt``; import the protocol module by its full name
B = importlib.import_module("securegenome.genomics.bwt")

RNG = np.random.default_rng(20261121)


def naive_sa(codes):
    """Independent oracle: sort the suffixes of T$ as strings ('$' < 'A' in ASCII)."""
    text = "".join("ACGT"[c] for c in codes) + "$"
    sa = sorted(range(len(text)), key=lambda i: text[i:])
    return np.array(sa), "".join(text[i - 1] for i in sa)


def letters(bwt_codes):
    return "".join(B.BWT_LETTERS[int(c)] for c in bwt_codes)


ADVERSARIAL = {
    "n1": [0], "n1T": [3], "n2": [1, 0], "n2same": [2, 2], "n3": [0, 1, 0], "n3same": [3, 3, 3],
    "homopolymer": [0] * 40, "AC-period": [0, 1] * 19, "ACG-period": [0, 1, 2] * 13,
    "near-period": [0, 1] * 12 + [2] + [0, 1] * 12, "random": list(RNG.integers(0, 4, 70)),
    "binary": list(RNG.integers(0, 2, 45)),
}


# ------------------------------------------------------------------------------------------- plan / twin

@pytest.mark.parametrize("n", [1, 2, 3, 5, 10, 31, 32, 33, 1000, 48502, 10**5, 10**6])
def test_schedule_rounds_reach_n_and_keys_fit(n):
    p = B.schedule(n)
    assert p.kmer * 2 ** p.rounds >= n  # after the last round every prefix compared has length >= n
    assert p.rounds == 0 or p.kmer * 2 ** (p.rounds - 1) < n  # and no round is wasted
    assert B.KMER_BASE ** p.kmer - 1 < 2 ** p.key_bits and n < 2 ** p.rank_bits
    assert p.key_bits <= max(p.rank_bits, 3)  # the first sort costs no more than a round's


def test_plan_chunks_to_fit_the_budget_or_says_what_it_needs():
    generous = B.plan(10**6, budget=8 * GIB)
    assert generous.details["chunks"] == 1 and generous.fits(8 * GIB)
    tight = B.plan(10**6, budget=int(1.6 * GIB))
    assert tight.details["chunks"] > 1 and tight.peak_bytes <= 1.6 * GIB < generous.peak_bytes
    assert tight.seconds > generous.seconds  # more chunks: more communication rounds
    assert B.plan(100, budget=GIB).details["chunk"] == 101  # never more rows than the text has
    with pytest.raises(MemoryPlanError) as error:
        B.plan(10**6, budget=GIB // 2)
    message = str(error.value)
    assert "\n" not in message and "GiB per party" in message and "10000" not in message.replace("1000000", "")


def test_twin_matches_naive_on_every_short_text():
    for n in range(1, 7):
        for text in np.ndindex(*(4,) * n):
            sa, bwt = naive_sa(text)
            for early in (False, True):
                got = B.suffix_array_bwt(np.array(text), early_exit=early)
                assert np.array_equal(got.sa, sa) and letters(got.bwt) == bwt


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_twin_matches_oracles_adversarial(name):
    text = np.array(ADVERSARIAL[name])
    sa, bwt = naive_sa(text)
    assert np.array_equal(oracle.suffix_array(text), sa) and oracle.bwt(text) == bwt
    for early in (False, True):
        got = B.suffix_array_bwt(text, early_exit=early)
        assert np.array_equal(got.sa, sa) and letters(got.bwt) == bwt


def test_twin_early_exit_stops_at_the_longest_repeat():
    text = RNG.integers(0, 4, 3000)  # random: longest repeat ~ 2 log4 n ≈ 12 bases
    full, early = B.suffix_array_bwt(text), B.suffix_array_bwt(text, early_exit=True)
    assert np.array_equal(full.sa, early.sa) and early.rounds < full.rounds == B.schedule(3000).rounds
    assert B.suffix_array_bwt([0] * 64, early_exit=True).rounds == B.schedule(64).rounds  # AAAA… needs them all


def lambda_codes():
    from securegenome.genomics.io import read_sequences

    [record] = read_sequences("data/lambda_phage.fa", iupac="reject")
    return record.codes.astype(np.int64)


def divsufsort_sa(codes):
    from pydivsufsort import divsufsort

    return np.r_[len(codes), divsufsort(np.asarray(codes, dtype=np.uint8))]


def test_twin_matches_oracle_and_divsufsort_on_lambda_and_random():
    for codes in (lambda_codes(), RNG.integers(0, 4, 20000), np.tile([0, 1, 2, 3, 3], 999)):
        sa = divsufsort_sa(codes)
        assert np.array_equal(oracle.suffix_array(codes), sa)
        for early in (False, True):
            got = B.suffix_array_bwt(codes, early_exit=early)
            assert np.array_equal(got.sa, sa) and letters(got.bwt) == oracle.bwt(codes)


def test_twin_rejects_non_acgt():
    with pytest.raises(ValueError, match="0..3"):
        B.suffix_array_bwt([0, 4, 1])


# ------------------------------------------------------------------------------------------- secure runs

async def construct_many(texts, early_exit=False, chunk=None):
    """Test protocol: party 0 shares each text; SA, BWT and rounds are opened to all."""
    out = []
    for text in texts:
        n = await core.share_public(len(text) if mpc.pid == 0 else None, sender=0)
        stype = B.bwt_sectype(n)
        codes = mpc.input(stype.array(np.asarray(text if mpc.pid == 0 else [0] * n)), senders=0)
        result = await B.secure_suffix_array_bwt(codes, early_exit=early_exit, chunk=chunk)
        sa = await core.open(result.sa, what="bwt.suffix_array", why="test")
        bwt = await core.open(result.bwt, what="bwt.bwt", why="test")
        out.append((B.as_ints(sa).tolist(), letters(B.as_ints(bwt)), result.rounds))
    return out


def check_against_twin(texts, outcome, early_exit):
    for text, (sa, bwt, rounds) in zip(texts, outcome):
        want = B.suffix_array_bwt(text, early_exit=early_exit)
        assert sa == want.sa.tolist() and bwt == letters(want.bwt) and rounds == want.rounds
        assert (sa, bwt) == tuple(x.tolist() if hasattr(x, "tolist") else x for x in naive_sa(text))


@pytest.mark.parametrize("early_exit", [False, True], ids=["fixed", "early-exit"])
def test_secure_one_party(run1, early_exit):
    texts = [ADVERSARIAL[k] for k in sorted(ADVERSARIAL)]
    [result] = run1(construct_many, kwargs={"texts": texts, "early_exit": early_exit},
                    private={0: {}})
    check_against_twin(texts, result.value, early_exit)


@pytest.mark.parametrize("early_exit", [False, True], ids=["fixed", "early-exit"])
def test_secure_three_parties(run3, early_exit):
    texts = [ADVERSARIAL[k] for k in ("n1", "n2", "n3", "homopolymer", "AC-period", "ACG-period", "random")]
    results = run3(construct_many, kwargs={"texts": texts, "early_exit": early_exit})
    for r in results:
        check_against_twin(texts, r.value, early_exit)


def test_chunked_bit_decompositions_give_the_same_answer(run1):
    """A plan under a small budget runs the bit decompositions in chunks: same SA and BWT."""
    texts = [ADVERSARIAL[k] for k in ("n1", "homopolymer", "near-period", "random")] + [list(RNG.integers(0, 4, 300))]
    [result] = run1(construct_many, kwargs={"texts": texts, "chunk": 7}, private={0: {}})
    check_against_twin(texts, result.value, early_exit=False)


def test_chunked_three_parties(run3):
    texts = [ADVERSARIAL["ACG-period"], list(RNG.integers(0, 4, 200))]
    results = run3(construct_many, kwargs={"texts": texts, "chunk": 33, "early_exit": True})
    check_against_twin(texts, results[0].value, early_exit=True)


def test_secure_rejects_too_narrow_type(run1):
    with pytest.raises(Exception, match="bits"):
        run1(narrow_type)


async def narrow_type():
    codes = mpc.SecInt(4).array(np.zeros(1000, dtype=int))
    await B.secure_suffix_array_bwt(codes)


# ------------------------------------------------------------------------------------------- segments, ledger

def test_segments_of_three_parties_and_ledger(run3):
    segments = {0: [0, 1, 1, 3, 2], 1: [2, 2, 2, 2], 2: [0, 1, 0, 1, 0, 1]}
    text = segments[0] + segments[1] + segments[2]
    results = run3(B.bwt_protocol, kwargs={"reveal_to": [2]},
                   private={pid: {"segment": np.array(s)} for pid, s in segments.items()})
    sa, bwt = naive_sa(text)
    for r in results:
        assert r.value["n"] == len(text) and r.value["sizes"] == [5, 4, 6]
        assert r.value["rounds"] == B.schedule(len(text)).rounds
        assert r.value["plan"]["chunks"] == 1 and r.value["peak_rss"] > 0
        if r.pid == 2:
            assert r.value["sa"].tolist() == sa.tolist() and r.value["bwt"] == bwt
        else:
            assert r.value["sa"] is None and r.value["bwt"] is None
        check_default_ledger(r.ledger, len(text), receivers=(2,))


def check_default_ledger(ledger, n, receivers):
    """Only random-looking values to all (permutations, masked values) and the outputs to the receivers."""
    assert ledger.labels() <= set(B.LEAKAGE)
    assert ledger.labels() - {"bwt.suffix_array", "bwt.bwt"} == set(B.HIDING_LABELS)
    everyone = tuple(range(len(ledger.releases[0].receivers)))
    for release in ledger:
        if release.what in B.HIDING_LABELS:
            assert release.receivers == everyone and release.count <= n + 1
        else:
            assert release.receivers == receivers and release.count == n + 1
    assert ledger.counts()["bwt.suffix_array"] == ledger.counts()["bwt.bwt"] == n + 1


def test_segment_from_one_non_first_party(run3):
    results = run3(B.bwt_protocol, kwargs={"reveal_to": [0, 1]}, private={1: {"segment": np.array([3, 0, 3, 0])}})
    sa, bwt = naive_sa([3, 0, 3, 0])
    assert results[0].value["sizes"] == [0, 4, 0]
    assert results[0].value["bwt"] == results[1].value["bwt"] == bwt and results[2].value["bwt"] is None


def test_default_ledger_one_party_and_no_reveal(run1):
    [r] = run1(B.bwt_protocol, kwargs={"segment": np.array(ADVERSARIAL["random"]), "reveal_to": []})
    assert r.ledger.labels() == set(B.HIDING_LABELS)  # nothing but random-looking values
    assert r.value["sa"] is None


def test_early_exit_ledger_one_bit_per_round(run1):
    for text in (ADVERSARIAL["random"], ADVERSARIAL["homopolymer"], ADVERSARIAL["n1"]):
        [r] = run1(B.bwt_protocol, kwargs={"segment": np.array(text), "early_exit": True})
        done, most = r.value["rounds"], B.schedule(len(text)).rounds
        bits = [x for x in r.ledger if x.what == "bwt.all_distinct"]
        assert len(bits) == min(done + 1, most)  # one check before each round until one says "distinct"
        assert all(x.count == 1 and x.receivers == (0,) for x in bits)
        assert r.ledger.labels() <= set(B.LEAKAGE)
    assert B.suffix_array_bwt(ADVERSARIAL["random"], early_exit=True).rounds < B.schedule(70).rounds


def test_tiny_budget_stops_before_anything_is_shared(run1):
    with pytest.raises(MemoryPlanError, match="needs at least .* GiB per party") as error:
        run1(B.bwt_protocol, kwargs={"segment": np.array(ADVERSARIAL["random"]), "memory": 1 << 20})
    assert "\n" not in str(error.value)
    assert len(core.current_ledger()) == 0 and core.current_ledger().transcript == []  # nothing opened


def test_tiny_budget_of_one_party_stops_all_three(run3):
    """The parties plan with the smallest budget: one party's tiny budget stops every party, unshared."""
    from securegenome.errors import SecureGenomeError

    with pytest.raises(SecureGenomeError, match="needs at least"):
        run3(B.bwt_protocol, private={0: {"segment": np.array(ADVERSARIAL["random"]), "memory": 1 << 20},
                                      1: {"memory": 8 * GIB}, 2: {"memory": 8 * GIB}})


def test_protocol_rejects_bad_codes_and_empty_text(run1):
    from securegenome.errors import InputError

    with pytest.raises(InputError, match="A, C, G, T"):
        run1(B.bwt_protocol, kwargs={"segment": np.array([0, 4])})
    with pytest.raises(InputError, match="empty"):
        run1(B.bwt_protocol, kwargs={"segment": None})


# ------------------------------------------------------------------------------------------- lambda (slow)

@pytest.mark.slow
@pytest.mark.parametrize("early_exit", [False, True], ids=["fixed", "early-exit"])
def test_secure_lambda_three_parties(run3, early_exit):
    codes = lambda_codes()
    results = run3(B.bwt_protocol, kwargs={"early_exit": early_exit}, private={0: {"segment": codes}},
                   timeout=3600)
    assert results[0].value["sa"].tolist() == oracle.suffix_array(codes).tolist()
    assert results[0].value["bwt"] == oracle.bwt(codes)
    if not early_exit:
        check_default_ledger(results[0].ledger, len(codes), receivers=(0,))


@pytest.mark.slow
def test_predicted_peak_within_factor_two_of_measured(run3):
    """The plan's predicted peak per party vs each party's measured peak RSS at a mid size (3 processes)."""
    codes = RNG.integers(0, 4, 30000)
    results = run3(B.bwt_protocol, kwargs={"reveal_to": []}, private={0: {"segment": codes}}, timeout=1800)
    predicted = B.plan(len(codes), budget=8 * GIB).peak_bytes
    for r in results:
        assert predicted / 2 <= r.value["peak_rss"] <= predicted * 2
