"""Wide integers as residues modulo several primes below 2^31 (core.residues) equal Python integers."""

import numpy as np
import pytest
from mpyc import gmpy

from securegenome import core
from securegenome.core import mpc
from securegenome.core.residues import PRIMES


def test_primes_are_the_largest_below_2_31():
    assert PRIMES[0] == 2**31 - 1 == core.SMALL_FIELD.modulus
    expected, x = [], 2**31
    while len(expected) < len(PRIMES):
        x -= 1
        if gmpy.is_prime(x):
            expected.append(x)
    assert list(PRIMES) == expected


@pytest.mark.parametrize("bits", [1, 30, 31, 62, 93, 160, 200])
def test_ring_holds_its_bits_and_reconstructs(bits):
    ring = core.Residues(bits)
    assert ring.M > 2**bits and ring.M // ring.moduli[-1] <= 2**bits
    rng = np.random.default_rng(bits)
    values = np.array([0, 1, ring.M - 1, 2**bits % ring.M] + [int(v) % ring.M for v in rng.integers(0, 2**62, 20)] +
                      [int.from_bytes(rng.bytes(32), "little") % ring.M for _ in range(20)], dtype=object)
    assert (ring.integers(ring.residues(values)) == values).all()
    signed = np.array([-5, 7, -(2**bits // 3)], dtype=object)
    assert (ring.signed(ring.residues(signed)) == signed).all()


def test_too_wide_is_refused():
    with pytest.raises(ValueError, match="primes"):
        core.Residues(31 * len(PRIMES))


def test_local_arithmetic_equals_integers():
    ring = core.Residues(120)
    rng = np.random.default_rng(1)
    x = rng.integers(-10**6, 10**6, (4, 5)).astype(object) * 2**70
    y = rng.integers(-10**6, 10**6, (5,)).astype(object)
    X, Y = ring.public(x), ring.public(y)
    value = lambda s: ring.signed(s.v)
    assert (value(X + Y) == x + y).all() and (value(Y - X) == y - x).all() and (value(-X) == -x).all()
    assert (value(X * y) == x * y).all() and (value(3 - X) == 3 - x).all()
    assert (value(np.ones(5, dtype=np.int64) - X) == 1 - x).all()        # numpy on the left defers
    assert (value(X.sum(axis=0)) == x.sum(axis=0)).all() and (value(X.sum()) == x.sum())
    assert (value(X.cumsum(axis=1)) == np.cumsum(x, axis=1)).all()
    small = rng.integers(0, 3, (5, 2))
    assert (value(X @ small) == x @ small).all() and (value(small.T @ X.T) == small.T @ x.T).all()
    assert (value(X[[0, 2], 1:3]) == x[[0, 2], 1:3]).all() and (value(X.T) == x.T).all()
    assert (value(ring.stack((X, X), axis=2)) == np.stack((x, x), axis=2)).all()
    assert (value(ring.concatenate((X, Y.reshape(1, 5)))) == np.concatenate((x, y.reshape(1, 5)))).all()
    Z = X.copy()
    Z[1, :] = Y
    assert (value(Z)[1] == y).all() and (value(X)[1] == x[1]).all()


async def interactive(bits=150):
    """Input, products, product sums, a matrix product and an opening, all against Python integers."""
    ring, keyring = core.Residues(bits), core.KeyRing()
    rng = np.random.default_rng(7)                                         # the same on every party
    x = rng.integers(-2**40, 2**40, (6, 3)).astype(object) * 3**20
    y = rng.integers(-2**40, 2**40, (3,)).astype(object)
    X = await ring.input(x if mpc.pid == 0 else None, x.shape, 0, keyring)
    Y = await ring.input(y if mpc.pid == len(mpc.parties) - 1 else None, y.shape, len(mpc.parties) - 1, keyring)
    [P, Q] = await ring.mul([(X, Y), (X[:, :1], X)], keyring)
    [S] = await ring.mul_sum([(X, Y)], keyring, axis=1)
    M = await ring.matmul(X.T, X, keyring)
    opened = [await core.open(ring.opening(v), what="test.value", why="test") for v in (P, Q, S, M)]
    expected = [x * y, x[:, :1] * x, (x * y).sum(axis=1), x.T @ x]
    return [bool((ring.signed(ring.residues(o)) == e).all()) for o, e in zip(opened, expected)], \
        core.current_ledger().counts()["test.value"]


def test_interactive_one_party(run1):
    [result] = run1(interactive)
    ok, count = result.value
    assert all(ok) and count == 18 + 18 + 6 + 9                             # values, not residues


@pytest.mark.slow  # 3 processes
def test_interactive_three_parties(run3):
    for result in run3(interactive):
        ok, count = result.value
        assert all(ok) and count == 18 + 18 + 6 + 9


async def gathered():
    """apply_permutation_raw and apply_inverse_permutation_raw over the residue fields."""
    ring, keyring = core.Residues(100), core.KeyRing()
    n = 50
    sigma = np.random.default_rng(3).permutation(n)
    x = (np.arange(n, dtype=object) * 2**80).reshape(n, 1) + np.array([[1, 2]], dtype=object)
    S = await core.input_raw(sigma if mpc.pid == 0 else None, (n,), core.SMALL_FIELD, 0, keyring)
    X = await ring.input(x if mpc.pid == 0 else None, x.shape, 0, keyring)
    S = S + core.SMALL_FIELD.modulus * np.arange(n)                        # unreduced shares are reduced
    take = await core.apply_permutation_raw(S, list(X.v), ring.fields, keyring)
    put = await core.apply_inverse_permutation_raw(S, list(X.v), ring.fields, keyring)
    opened = [await core.open(ring.opening(core.Shared(ring, np.stack(v))), what="test.value", why="test")
              for v in (take, put)]
    scattered = np.empty_like(x)
    scattered[sigma] = x
    return bool((opened[0] == x[sigma]).all() and (opened[1] == scattered).all())


def test_raw_permutations_over_residues(run1):
    assert all(r.value for r in run1(gathered))


@pytest.mark.parametrize("L, bits", [(1, 72), (40, 72), (93, 72), (5, 31), (20, 33)])
def test_random_residues_are_masks_with_the_given_low_bits(L, bits):
    ring = core.Residues(L + bits + 1)
    low = np.random.default_rng(L).integers(0, 2, (500, L))
    r = ring.integers(ring.random_residues(500, low, bits))
    assert all(int(v) % 2**L == int(sum(int(b) << i for i, b in enumerate(row))) for v, row in zip(r, low))
    high = np.array([int(v) >> L for v in r])
    assert high.max() < 2**bits and high.max() > 2**(bits - 4)            # uniform below 2^bits
