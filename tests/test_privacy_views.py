"""View-equality tests (issue 15.9): two inputs with the same declared output give the same view.

A party's *view* is its auditor's transcript: every value it received through ``core.open``, in order
(``ledger.transcript``, ``--transcript``).  For every querier-only or all-party LEAKAGE label of search
(scan and fm engines), bwt, km, logrank, logreg, ridge and ``dp_open`` we run two inputs that share the
declared output and compare the views: exactly where the view is deterministic; where it is random, the
values must follow the documented distribution (masked tests uniform over the field, opened permutations
uniform, masked keys uniform in their low bits, masked bits fair, DP noise the same on both inputs) —
chi-square / binomial tests at level 1e-4, so a correct protocol fails them about once in 10⁴ runs.

The fm engine opens its locations and verification tests shuffled within each read strand (issue 15.1).
"""

import json
import warnings

import numpy as np
import pytest
from scipy import stats

from securegenome import core
from securegenome.cli import main
from securegenome.genomics import bwt as B
from securegenome.genomics import fmsearch, oracle, search
from securegenome.genomics.alphabet import encode
from securegenome.regression import logistic, ridge
from securegenome.survival import kaplan_meier as km
from securegenome.survival import load_table
from securegenome.survival import logrank as lr
from securegenome.survival.api import SecureKaplanMeierFitter

from privacy_protocols import dp_open_two_splits

ALPHA = 1e-4  # significance level of every statistical test here


@pytest.fixture
def run1():
    """One party in this process, MPyC's default (synchronous) mode only: what is opened does not depend on
    the mode (tests/conftest.py's run1 runs both), and these tests repeat whole protocols."""
    def run(protocol, **kwargs):
        return core.run(protocol, parties=1, **kwargs)
    return run
RANDOM_ALL_PARTY = ("shuffle.permutation", "sort.masked_keys", "bwt.masked_differs")


# ---------------------------------------------------------------------------------------- view checks

def view(result, label):
    """The values of every opening labelled ``label`` that this party received, one list per opening."""
    return result.ledger.views(label)


def assert_uniform(values, bins: int, modulus: int | None = None):
    """Chi-square: ``values`` (ints) are uniform over [0, modulus) (binned), or their low bits are."""
    values = np.asarray([int(v) for v in values], dtype=object)
    assert len(values) >= 5 * bins, "too few values for the test"
    if modulus is None:
        counts = np.bincount(np.asarray(values % bins, dtype=np.int64), minlength=bins)
        expected = np.full(bins, len(values) / bins)
    else:
        v = np.asarray(values % modulus, dtype=object)
        counts = np.bincount(np.asarray(v * bins // modulus, dtype=np.int64), minlength=bins)
        edges = [(modulus * b + bins - 1) // bins for b in range(bins + 1)]  # values in bin b: edges[b]..
        expected = np.diff(edges) * (len(values) / modulus)
    assert stats.chisquare(counts, expected).pvalue > ALPHA, counts


def assert_random_all_party_views(result) -> set:
    """The all-party labels whose values are random: opened permutations are uniform permutations (in a
    uniform permutation the orders of the disjoint pairs (q[0], q[1]), (q[2], q[3]) ... are independent fair
    coins; the first entries, pooled over openings, are uniform), masked keys are uniform in their low 4
    bits, masked bits are fair coins.  Returns the labels that had enough values to be tested."""
    tested = set()
    ascents = pairs = 0
    firsts = []
    for q in view(result, "shuffle.permutation"):
        assert sorted(q) == list(range(len(q)))
        ascents += sum(q[i] < q[i + 1] for i in range(0, len(q) - 1, 2))
        pairs += len(q) // 2
        if len(q) >= 8:
            firsts.append(q[0] * 8 // len(q))
    if pairs >= 50:
        assert stats.binomtest(ascents, pairs).pvalue > ALPHA
        tested.add("shuffle.permutation")
    if len(firsts) >= 40:
        assert_uniform(firsts, 8)
    masked = [v for opening in view(result, "sort.masked_keys") for v in opening]
    if len(masked) >= 80:
        assert_uniform(masked, 16)
        tested.add("sort.masked_keys")
    bits = [v for opening in view(result, "bwt.masked_differs") for v in opening]
    if len(bits) >= 50:
        assert set(bits) <= {0, 1}
        assert stats.binomtest(sum(bits), len(bits)).pvalue > ALPHA
        tested.add("bwt.masked_differs")
    return tested


def zero_pattern(openings, modulus):
    return [[int(v) % modulus == 0 for v in opening] for opening in openings]


def nonzero(openings, modulus):
    return [int(v) % modulus for opening in openings for v in opening if int(v) % modulus]


# ---------------------------------------------------------------------------------------- search: scan

def _hits(reference: str, reads, k: int):
    return sorted(oracle.kmismatch_hits([encode(reference)], [encode(r) for r in reads], k))


def _mutate_keeping_hits(reference: str, reads, k: int, seed: int) -> str:
    """A different reference with exactly the same hits (read, strand, record, position, mismatches)."""
    rng = np.random.default_rng(seed)
    want = _hits(reference, reads, k)
    text = list(reference)
    changed = 0
    for i in rng.permutation(len(text)):
        old = text[i]
        text[i] = "ACGT"[(("ACGT".index(old)) + 1 + int(rng.integers(3))) % 4]
        if _hits("".join(text), reads, k) == want:
            changed += 1
        else:
            text[i] = old
        if changed >= len(text) // 3:
            break
    assert changed, "no mutation keeps the hits"
    return "".join(text)


def _reference_and_twin(seed, n, reads, k):
    rng = np.random.default_rng(seed)
    reference = "".join(rng.choice(list("ACGT"), n))
    for read, at in zip(reads, (3, n // 2)):  # plant hits
        reference = reference[:at] + read + reference[at + len(read):]
    return reference, _mutate_keeping_hits(reference, reads, k, seed + 1)


def test_scan_querier_view_depends_only_on_the_hits(run1):
    reads, k = ["ACGTTGCAAC", "GGATCCTA"], 1
    ref_a, ref_b = _reference_and_twin(3, 160, reads, k)
    assert ref_a != ref_b
    P = core.smallfield.P
    views = []
    for ref in (ref_a, ref_b):
        [r] = run1(search.secure_search, kwargs={"k": k, "engine": "scan", "reference": [ref], "reads": reads})
        assert r.ledger.labels() == {"search.window_tests"}
        views.append(view(r, "search.window_tests"))
    assert zero_pattern(views[0], P) == zero_pattern(views[1], P)  # the hits, and nothing else, are exact
    for v in views:
        assert_uniform(nonzero(v, P), 16, P)  # every other test value is uniform over the field


# ---------------------------------------------------------------------------------------- search: fm

FM_REFERENCES = ("TACGTCGGGGGACGTATTTTT", "TACGTAGGGGGACGTCTTTTT")  # issue 15.1, shifted: hits {1, 11}
FM_HITS = (1, 11)


async def search_repeatedly(times, **kwargs):
    """``times`` searches in one session (every view lands in the same transcript); the last outcome."""
    for _ in range(times):
        out = await search.secure_search(**kwargs)
    return out


def _fm_views(run1, k, times=1, cap=4):
    out = []
    for ref in FM_REFERENCES:
        [r] = run1(search_repeatedly, kwargs={"times": times, "k": k, "engine": "fm", "cap": cap,
                                              "reference": [ref], "reads": ["ACGT"], "strand": "forward"})
        assert r.ledger.labels() <= set(fmsearch.LEAKAGE)
        assert sorted(h.pos for h in r.value.hits) == list(FM_HITS)
        out.append(r)
    return out


def first_hits(openings) -> set:
    """Which hit position comes first, over several openings (one per search): {1} or {11} if the order is
    fixed, both if it is shuffled (with probability 1 - 2^-11 over 12 searches)."""
    P = core.smallfield.P
    return {next(v % P for v in opening if v % P in FM_HITS) for opening in openings}


def test_fm_count_tests_and_random_labels_depend_only_on_the_hits(run1):
    a, b = _fm_views(run1, k=0)
    P = core.smallfield.P
    assert zero_pattern(view(a, "fm.count_tests"), P) == zero_pattern(view(b, "fm.count_tests"), P)
    for r in (a, b):
        assert "shuffle.permutation" in assert_random_all_party_views(r)


def test_fm_locations_do_not_follow_the_suffix_array_order(run1):
    # the hits' positions are opened in the clear (slot rows: position + 1, then the masked N/record tests);
    # the order they come in must not depend on the reference (always sorted, or uniformly shuffled)
    a, b = _fm_views(run1, k=0, times=12)
    width = 1 + fmsearch.REPETITIONS

    def positions(r):
        return [[v - 1 for v in opening[::width]] for opening in view(r, "fm.locations")]

    assert first_hits(positions(a)) == first_hits(positions(b))


def test_fm_verify_views_depend_only_on_the_hits(run1):
    # k = 1, reads of 4: seeds of 2 bases; the candidates of seed AC (at 1 and 11) come in suffix-array
    # order, which differs between the two references
    a, b = _fm_views(run1, k=1, times=12)
    assert first_hits(view(a, "fm.verify_positions")) == first_hits(view(b, "fm.verify_positions"))
    P = core.smallfield.P
    assert sorted(map(sorted, zero_pattern(view(a, "fm.verify_tests"), P))) == \
        sorted(map(sorted, zero_pattern(view(b, "fm.verify_tests"), P)))


def test_fm_overflow_tests_depend_only_on_the_declared_overflow(run1):
    a, b = _fm_views(run1, k=1)
    P = core.smallfield.P
    assert zero_pattern(view(a, "fm.overflow_tests"), P) == zero_pattern(view(b, "fm.overflow_tests"), P)
    assert sorted(map(sorted, zero_pattern(view(a, "fm.verify_tests"), P))) == \
        sorted(map(sorted, zero_pattern(view(b, "fm.verify_tests"), P)))  # as many hits per e, in some order
    for r in (a, b):
        assert_random_all_party_views(r)


# ---------------------------------------------------------------------------------------- bwt

def _codes(text):
    return np.array(["ACGT".index(c) for c in text])


def test_bwt_views_are_random_and_the_output_is_the_twin(run1):
    rng = np.random.default_rng(11)
    texts = ["".join(rng.choice(list("ACGT"), 90)) for _ in range(2)]
    for text in texts:
        [r] = run1(B.bwt_protocol, kwargs={"segment": _codes(text), "reveal_to": [0]})
        assert r.ledger.labels() == {"shuffle.permutation", "sort.masked_keys", "bwt.masked_differs",
                                     "bwt.suffix_array", "bwt.bwt"}
        assert assert_random_all_party_views(r) == set(RANDOM_ALL_PARTY)
        assert view(r, "bwt.suffix_array") == [oracle.suffix_array(_codes(text)).tolist()]
        assert r.value["bwt"] == oracle.bwt(_codes(text))


def test_bwt_early_exit_bits_depend_only_on_the_rounds(run1):
    # same length, same number of rounds run (the declared early-exit leakage): the same bits
    views = []
    for text in ("ACGTTGCAAGTCCATG" * 2, "TTGACCAGTAGCATCG" * 2):
        [r] = run1(B.bwt_protocol, kwargs={"segment": _codes(text), "reveal_to": [], "early_exit": True})
        views.append((r.value["rounds"], view(r, "bwt.all_distinct")))
    assert views[0] == views[1]


# ---------------------------------------------------------------------------------------- survival

KM_A = {"T": [3, 7, 12, 18, 25, 31, 40, 44], "E": [1, 0, 1, 1, 0, 1, 1, 0], "G": ["a", "b"] * 4}
KM_B = {"T": [1, 9, 11, 20, 22, 34, 38, 44], "E": [1, 0, 1, 1, 0, 1, 1, 0], "G": ["a", "b"] * 4}  # same intervals


def _table(columns):
    return load_table(columns, duration_col="T", event_col="E", group_col="G")


def test_km_exact_views_are_the_declared_counts(run1):
    views = []
    for columns in (KM_A, KM_B):
        [r] = run1(km.secure_km_counts, kwargs={"table": _table(columns), "width": 10})
        views.append([(e["what"], e["to"], values) for e, values in zip(r.ledger.transcript, r.ledger.views())])
    assert views[0] == views[1]
    assert [what for what, _, _ in views[0]] == ["survival.horizon", "km.counts"]


async def km_repeated(table, times, epsilon):
    return [(await km.secure_km_counts(table, width=10, horizon=50, groups=["a", "b"], epsilon=epsilon)).counts
            for _ in range(times)]


def test_km_noisy_views_have_the_same_distribution(run1):
    samples = []
    expected = None
    for columns in (KM_A, KM_B):
        [r] = run1(km_repeated, kwargs={"table": _table(columns), "times": 40, "epsilon": 1.0})
        exact = km.plaintext_counts([_table(columns)], ("a", "b"), 10, 50).reshape(-1)
        expected = exact if expected is None else expected
        assert np.array_equal(exact, expected)  # the same declared (exact) counts
        noise = np.concatenate([np.asarray(v) - exact for v in view(r, "km.noisy_counts")])
        samples.append(np.clip(noise, -4, 4) + 4)
    table = np.array([np.bincount(s, minlength=9) for s in samples])
    table = table[:, table.sum(axis=0) > 0]
    assert stats.chi2_contingency(table).pvalue > ALPHA


def test_logrank_views_depend_only_on_the_statistic(run1):
    columns = {"T": [5, 8, 8, 12, 15, 20, 22, 30], "E": [1, 1, 0, 1, 1, 0, 1, 1], "G": list("aabbabab")}
    swapped = {**columns, "G": ["b" if g == "a" else "a" for g in columns["G"]]}  # same chi-square
    views = []
    for c in (columns, swapped):
        [r] = run1(lr.secure_logrank, kwargs={"table": _table(c)})
        views.append(r)
    for label in ("survival.horizon", "survival.size"):
        assert view(views[0], label) == view(views[1], label)
    [[s0]], [[s1]] = view(views[0], "logrank.statistic"), view(views[1], "logrank.statistic")
    assert s0 == pytest.approx(s1, rel=1e-6, abs=1e-6)  # fixed-point rounding aside, the same value


# ---------------------------------------------------------------------------------------- regression

def _split_rows(rng, X, y):
    order = rng.permutation(len(y))
    return X[order], y[order]


def test_ridge_views_depend_only_on_the_pooled_data(run1):
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    results = []
    for data in ((X, y), _split_rows(rng, X, y)):  # the same rows, another order: the same model
        [r] = run1(ridge.ridge_protocol, kwargs={"target": "y", "alpha": 1.0, "frac_bits": 24},
                   private={0: {"table": data}})
        results.append(r)
    for label in ("ridge.column_scale", "ridge.constant_columns", "ridge.singular"):
        assert view(results[0], label) == view(results[1], label), label
    a, b = (np.asarray(view(r, "ridge.coefficients")[0], dtype=float) for r in results)
    assert np.allclose(a, b, rtol=1e-4, atol=1e-4)


def _logistic_data(rng, n=60):
    X = rng.normal(size=(n, 2))
    y = (X @ [1.0, -0.5] + rng.normal(size=n) > 0).astype(float)
    return X, y


def test_logreg_secure_views_depend_only_on_the_pooled_data(run1):
    rng = np.random.default_rng(5)
    X, y = _logistic_data(rng)
    results = []
    for data in ((X, y), _split_rows(rng, X, y)):
        [r] = run1(logistic.logistic_protocol, kwargs={"target": "y", "max_iter": 3},
                   private={0: {"table": data}})
        results.append(r)
    for label in ("logreg.feature_moments", "logreg.converged", "logreg.coefficients"):
        a, b = (np.asarray(view(r, label), dtype=float) for r in results)
        assert np.allclose(a, b, rtol=1e-4, atol=1e-4), label


def test_logreg_dp_views_have_the_same_distribution(run1):
    rng = np.random.default_rng(6)
    X, y = _logistic_data(rng, 80)
    kwargs = {"target": "y", "dp_iterations": 1, "epsilon": 4.0, "center": [0.0, 0.0], "scale": [1.0, 1.0]}
    releases = {"logreg.dp_hessian": [], "logreg.dp_gradient": []}
    for data in ((X, y), _split_rows(rng, X, y)):
        noisy = {label: [] for label in releases}
        for _ in range(12):
            [r] = run1(logistic.logistic_protocol, kwargs=kwargs, private={0: {"table": data}})
            assert r.ledger.labels() == set(releases)
            for label in releases:  # one iteration: the gradient is taken at the public start model
                noisy[label].append(np.asarray(view(r, label)[0], dtype=float))
        for label in releases:
            releases[label].append(np.array(noisy[label]))
    # the same AᵀA and gradient under both orders: the noisy releases differ by noise of one distribution
    # (two-sample KS test per entry, Bonferroni over the entries)
    for label, (a, b) in releases.items():
        for j in range(a.shape[1]):
            assert stats.ks_2samp(a[:, j], b[:, j]).pvalue > ALPHA / a.shape[1], label


# ---------------------------------------------------------------------------------------- dp_open

def test_dp_open_views_depend_only_on_the_value(run3):
    n = 400
    one_owner = [[7] * n, [0] * n, [0] * n]
    spread = [[3] * n, [2] * n, [2] * n]
    results = run3(dp_open_two_splits, kwargs={"splits": [one_owner, spread], "repeats": 2})
    samples = []
    for i in range(2):
        label = f"test.noisy{i}"
        noise = np.concatenate([np.asarray(v) - 7 for v in view(results[1], label)])
        samples.append(noise)
        assert all(view(r, label) == view(results[0], label) for r in results)  # all receive the same
    bins = np.linspace(-12, 12, 9)
    table = np.array([np.histogram(np.clip(s, -11.5, 11.5), bins)[0] for s in samples])
    table = table[:, table.sum(axis=0) > 0]
    assert stats.chi2_contingency(table).pvalue > ALPHA
    twin = core.dp.sample_discrete_laplace(2.0, 20000) + core.dp.sample_discrete_laplace(2.0, 20000)
    for s in samples:  # 3 parties, t = 1: the sum of 2 draws of scale 1/epsilon, as documented
        assert stats.ks_2samp(s, twin).pvalue > ALPHA


# ---------------------------------------------------------------------------------------- the transcript file

def test_transcript_cli_writes_every_local_partys_view(tmp_path):
    rng = np.random.default_rng(2)
    paths = []
    for i in range(3):
        path = tmp_path / f"site{i}.csv"
        rows = ["T,E,G"] + [f"{rng.integers(1, 50)},{rng.integers(0, 2)},{'ab'[j % 2]}" for j in range(6)]
        path.write_text("\n".join(rows) + "\n")
        paths.append(path)
    out = tmp_path / "view.json"
    args = [a for i, p in enumerate(paths) for a in ("--data", f"{i}:{p}")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["km", *args, "--duration", "T", "--event", "E", "--group", "G", "--interval", "10",
                     "--transcript", str(out), "--json", str(tmp_path / "km.json")])
    assert code == 0
    views = [json.loads(p.read_text()) for p in (out, tmp_path / "view.party1.json", tmp_path / "view.party2.json")]
    assert [e["what"] for e in views[0]] == ["survival.horizon", "km.counts"]
    assert all(e["to"] == [0, 1, 2] and all(isinstance(v, int) for v in e["values"]) for e in views[0])
    assert views[0] == views[1] == views[2]  # all-party openings: every party saw the same
    report = json.loads((tmp_path / "km.json").read_text())
    assert sum(views[0][1]["values"]) == sum(report["at_risk"][g][0] for g in ("a", "b"))


@pytest.mark.slow
def test_transcript_api_and_querier_only_views(run3, tmp_path):
    kmf = SecureKaplanMeierFitter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kmf.fit([KM_A, KM_B, KM_A], duration_col="T", event_col="E", group_col="G", interval=10,
                transcript=str(tmp_path / "km"))
    views = [json.loads((tmp_path / name).read_text()) for name in ("km", "km.party1", "km.party2")]
    assert views[0] == views[1] == views[2] and [e["what"] for e in views[0]] == ["survival.horizon", "km.counts"]
    # search: only the querier receives anything
    results = run3(search.secure_search, kwargs={"k": 0, "engine": "scan", "strand": "forward"},
                   private={0: {"reference": ["ACGTACGTTTGA"]}, 1: {"reads": ["CGTT"]}})
    assert results[1].ledger.views() and not results[0].ledger.transcript and not results[2].ledger.transcript
    written = core.write_transcripts(tmp_path / "s.json", results, result_party=1)
    assert written == [str(tmp_path / "s.party0.json"), str(tmp_path / "s.json"), str(tmp_path / "s.party2.json")]
    assert json.loads((tmp_path / "s.party0.json").read_text()) == []


# ---------------------------------------------------------------------------------------- trees

def test_tree_views_depend_only_on_the_tree(run1):
    """Two data sets with the same tree (rows shuffled, a constant feature changed): the same labels and
    counts, the same model values; masked comparison bits are fair coins, the masked operands' low bits
    uniform, opened permutations uniform."""
    from securegenome.trees import secure as trees_secure

    rng = np.random.default_rng(3)
    X = np.column_stack([rng.integers(0, 6, 90), rng.integers(0, 6, 90), np.zeros(90)]).astype(float)
    y = (X[:, 0] + rng.integers(0, 2, 90) > 3).astype(int)
    order = rng.permutation(90)
    other = X[order].copy()
    other[:, 2] = 5.0                                              # constant: never split on
    runs = []
    for data, labels in ((X, y), (other, y[order])):
        [r] = run1(trees_secure.tree_protocol, kwargs={"target": "y", "max_depth": 3},
                   private={0: {"table": (data, labels)}})
        runs.append(r)
    trees = [r.value["tree"] for r in runs]
    assert trees[0] == trees[1] and all(f != 2 for f in trees[0]["feature"])
    assert runs[0].ledger.counts() == runs[1].ledger.counts()
    for label in ("trees.structure", "trees.split", "trees.leaf"):
        assert view(runs[0], label) == view(runs[1], label)
    for r in runs:
        assert "shuffle.permutation" in assert_random_all_party_views(r)
        bits = [v for opening in view(r, "trees.masked_bits") for v in opening]
        assert set(bits) <= {0, 1} and stats.binomtest(sum(bits), len(bits)).pvalue > ALPHA
        assert_uniform([v for opening in view(r, "trees.masked_values") for v in opening], 16)
