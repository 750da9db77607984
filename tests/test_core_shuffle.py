"""The resharing shuffle and secret permutations: correctness against numpy, and what parties learn."""

import importlib
import itertools
import math
from collections import Counter

import numpy as np
import pytest
from scipy.stats import chisquare

from securegenome import core
from securegenome.core import mpc
from securegenome.core import permutation
from securegenome.core.shuffle import SecretShuffle, known_sets, prg_receivers, shuffle_sets

SIZES = [1, 2, 3, 7, 16]
shuffle_module = importlib.import_module("securegenome.core.shuffle")  # core.shuffle is the function


def _share(values, bits=32):
    """Party 0's array, secret-shared (the other parties pass None and get their shares)."""
    secint = mpc.SecInt(bits)
    shape = np.shape(values)
    return mpc.input(secint.array(np.array(values, dtype=object).reshape(shape)) if mpc.pid == 0
                     else secint.array(np.zeros(shape, dtype=object)), senders=0)


async def shuffled(arrays):
    """Shuffle each array (1-D or 2-D), then open it (test protocol)."""
    out = []
    for values in arrays:
        y = await core.shuffle(_share(values))
        out.append((await core.open(y, what="test.output", why="test")).tolist())
    return out


async def shuffled_field(values, modulus):
    secfld = mpc.SecFld(modulus)
    y = await core.shuffle(secfld.array(np.array(values)))
    return [int(a) for a in await core.open(y, what="test.output", why="test")]


async def permutations_applied(cases):
    """For each (sigma, x): x[sigma], scatter by sigma, sigma^-1, sigma[tau=sigma^-1 reversed]."""
    out = []
    for sigma, x in cases:
        s, v = _share(sigma), _share(x)
        tau = _share(list(reversed(sigma)))
        results = [await core.apply_permutation(s, v), await core.apply_inverse_permutation(s, v),
                   await core.invert_permutation(s), await core.compose_permutations(s, tau)]
        out.append([(await core.open(r, what="test.output", why="test")).tolist() for r in results])
    return out


async def shuffle_undone(values):
    """apply then undo the same secret shuffle: identity, nothing opened in between."""
    x = _share(values)
    pi = SecretShuffle(len(values))
    [y] = await pi.apply([x])
    [z] = await pi.undo([y])
    return (await core.open(z, what="test.output", why="test")).tolist()


async def opened_permutations(sigma, runs):
    """What every party receives in a scatter by ``sigma``: the opened shuffled sigma, ``runs`` times."""
    seen = []
    for _ in range(runs):
        s = _share(sigma)
        [shuffled_sigma] = await shuffle_module.shuffle_together([s])
        q = await permutation.open_shuffled(shuffled_sigma, why="test of the opened distribution")
        seen.append(tuple(int(a) for a in q))
    return seen


async def keys_held(n):
    """The sets S whose key this party holds after one shuffle's key exchange (test protocol)."""
    set_keys, pair_keys = await shuffle_module._exchange_keys()
    return sorted(set_keys), sorted(pair_keys)


async def three_party_suite(shuffle_cases, undo_values, permutation_cases, sigmas, runs):
    """Everything the 3-process tests check, in one run (process start-up dominates small tests)."""
    return {"shuffled": await shuffled(shuffle_cases),
            "undone": await shuffle_undone(undo_values),
            "permutations": await permutations_applied(permutation_cases),
            "opened": [await opened_permutations(sigma, runs) for sigma in sigmas],
            "keys": await keys_held(3)}


async def not_a_permutation():
    return await core.apply_permutation(_share([0, 0, 1]), _share([5, 6, 7]))


def _is_row_permutation(out, values):
    return sorted(map(repr, out)) == sorted(map(repr, values))


def _cases(rng):
    return [rng.integers(0, 1000, n).tolist() for n in SIZES] + \
           [rng.integers(0, 9, (n, 3)).tolist() for n in SIZES] + [[4] * 5]


def test_shuffle_permutes_rows_one_party(run1):
    cases = _cases(np.random.default_rng(1))
    [result] = run1(shuffled, kwargs={"arrays": cases})
    for out, values in zip(result.value, cases):
        assert _is_row_permutation(out, values)
    assert result.ledger.labels() == {"test.output"}


def test_shuffle_prime_field_array(run1):
    [result] = run1(shuffled_field, kwargs={"values": list(range(11)), "modulus": 101})
    assert sorted(result.value) == list(range(11))


def test_undo_restores_order(run1):
    values = list(range(10, 30))
    [result] = run1(shuffle_undone, kwargs={"values": values})
    assert result.value == values


def _permutation_cases(rng):
    cases = []
    for n in SIZES:
        sigma = rng.permutation(n).tolist()
        x = rng.integers(0, 100, (n, 2)).tolist() if n % 2 else rng.integers(0, 100, n).tolist()
        cases.append((sigma, x))
    return cases


def _check_permutation_results(outs, cases):
    for out, (sigma, x) in zip(outs, cases):
        s, x = np.array(sigma), np.array(x)
        scattered = np.empty_like(x)
        scattered[s] = x
        tau = s[::-1]
        assert out[0] == x[s].tolist()
        assert out[1] == scattered.tolist()
        assert out[2] == np.argsort(s).tolist()
        assert out[3] == s[tau].tolist()


def test_permutations_one_party(run1):
    cases = _permutation_cases(np.random.default_rng(3))
    [result] = run1(permutations_applied, kwargs={"cases": cases})
    _check_permutation_results(result.value, cases)
    assert result.ledger.labels() == {"shuffle.permutation", "test.output"}


def test_not_a_permutation_is_refused(run1):
    with pytest.raises(ValueError, match="not a permutation"):
        run1(not_a_permutation)


# ---- security -------------------------------------------------------------------------------------------

def _chi_square_uniform(samples, n):
    counts = Counter(samples)
    observed = [counts.get(p, 0) for p in itertools.permutations(range(n))]
    assert sum(observed) == len(samples)
    return chisquare(observed).pvalue


@pytest.mark.parametrize("n", [3, 4])
def test_shuffle_is_uniform_one_party(run1, n):
    runs = 120 * math.factorial(n)
    [result] = run1(shuffled, kwargs={"arrays": [list(range(n))] * runs})
    assert _chi_square_uniform([tuple(o) for o in result.value], n) > 1e-4


def test_opened_permutation_is_uniform_whatever_sigma_one_party(run1):
    """The value a scatter opens is uniformly random, for the identity and for the reversal alike."""
    for sigma in ([0, 1, 2], [2, 1, 0]):
        [result] = run1(opened_permutations, kwargs={"sigma": sigma, "runs": 600})
        assert _chi_square_uniform(result.value, 3) > 1e-4
        assert result.ledger.counts() == {"shuffle.permutation": 3 * 600}


@pytest.mark.parametrize("m,t", [(1, 0), (3, 1), (4, 1), (5, 1), (5, 2), (7, 3)])
def test_every_coalition_misses_a_permutation(m, t):
    sets = shuffle_sets(m, t)
    assert len(sets) == math.comb(m, t) and all(len(S) == m - t for S in sets)
    for coalition in itertools.combinations(range(m), t):
        known = set().union(*(known_sets(pid, m, t) for pid in coalition)) if coalition else set()
        assert set(sets) - known, f"coalition {coalition} would know every pi_S"
    for sender in range(m):
        receivers = prg_receivers(sender, m, t)
        assert len(set(receivers)) == t and sender not in receivers  # t PRG shares: no coalition gets t+1


# ---- 3 real processes: one run, several checks -------------------------------------------------------------

SIGMAS = ([0, 1, 2], [1, 2, 0])
RUNS = 240


@pytest.fixture(scope="module")
def three_parties():
    rng = np.random.default_rng(2)
    kwargs = {"shuffle_cases": _cases(rng), "undo_values": [[i, i * i] for i in range(12)],
              "permutation_cases": _permutation_cases(rng), "sigmas": SIGMAS, "runs": RUNS}
    return kwargs, core.run(three_party_suite, parties=3, kwargs=kwargs, timeout=600)


def test_shuffle_permutes_rows_three_parties(three_parties):
    kwargs, results = three_parties
    assert results[0].value["shuffled"] == results[1].value["shuffled"] == results[2].value["shuffled"]
    for out, values in zip(results[0].value["shuffled"], kwargs["shuffle_cases"]):
        assert _is_row_permutation(out, values)


def test_undo_restores_order_three_parties(three_parties):
    kwargs, results = three_parties
    assert all(r.value["undone"] == kwargs["undo_values"] for r in results)


def test_permutations_three_parties(three_parties):
    kwargs, results = three_parties
    for r in results:
        _check_permutation_results(r.value["permutations"], kwargs["permutation_cases"])


def test_ledger_three_parties(three_parties):
    """Only shuffled permutations are opened by the primitives (n values each), to all parties."""
    kwargs, results = three_parties
    cases = [len(sigma) for sigma, _ in kwargs["permutation_cases"] if len(sigma) > 1]
    # apply, scatter (inverse), invert, compose: one opening of n each
    expected = sorted([n for n in cases for _ in range(4)] + [3] * (RUNS * len(SIGMAS)))
    for r in results:
        opened = [x for x in r.ledger if x.what != "test.output"]
        assert {x.what for x in opened} <= set(permutation.LEAKAGE)
        assert all(x.receivers == (0, 1, 2) for x in opened)
        assert sorted(x.count for x in opened) == expected


def test_opened_permutation_is_uniform_three_parties(three_parties):
    """With 3 real parties the composed permutation π = π_S1 π_S2 π_S3 is uniform: what each party
    receives (the opened shuffled sigma) does not depend on sigma."""
    _, results = three_parties
    for k in range(len(SIGMAS)):
        seen = results[0].value["opened"][k]
        assert all(r.value["opened"][k] == seen for r in results)
        assert _chi_square_uniform(seen, 3) > 1e-4


def test_keys_go_to_set_members_only(three_parties):
    _, results = three_parties
    for r in results:
        held, peers = r.value["keys"]
        assert held == [S for S in shuffle_sets(3, 1) if r.pid in S]
        assert len(held) == 2  # party i misses the permutation of the set {j, k} without it
        assert peers == [p for p in range(3) if p != r.pid]
