"""The raw-share layer's local kernels equal numpy's modular arithmetic; raw shares open exactly."""

import numpy as np
import pytest
from scipy.stats import chisquare

from securegenome import core
from securegenome.core import fieldops, mpc
from securegenome.core.shuffle import lagrange_at_zero

MODULI = [2**31 - 1, 4_194_301, 2**31 - 19, 2**31 - 151, 97]  # Mersenne, generic, pseudo-Mersenne (residues)


@pytest.mark.parametrize("p", MODULI)
def test_kernels_equal_numpy(p):
    rng = np.random.default_rng(p)
    a, b = rng.integers(0, p, 5000), rng.integers(0, p, 5000)
    signed = rng.integers(-p, p, 5000)  # negative inputs follow numpy's (Python's) sign convention
    edge = np.array([0, 1, p - 1, p - 2] * 10)
    for x, y in [(a, b), (signed, b), (edge, edge[::-1]), (a[:1], b[:1])]:
        assert (fieldops.mul(x, y, p) == (x * y) % p).all()
        assert (fieldops.scale(x, p - 1, p) == (x * (p - 1)) % p).all()
        assert (fieldops.lincomb([x], [5], p) == (x * 5) % p).all()
        assert (fieldops.lincomb([x, y], [3, p - 1], p) == ((x * 3) % p + (y * (p - 1)) % p) % p).all()
        assert (fieldops.lincomb([x, y, x], [2, 7, p - 3], p)
                == ((x * 2) % p + (y * 7) % p + (x * (p - 3)) % p) % p).all()
    assert (fieldops.add(a, b, p) == (a + b) % p).all()
    out = a.copy()
    fieldops.axpy(out, b.astype(np.uint32), p - 2, p)
    assert (out == (a + (b * (p - 2)) % p) % p).all()
    a3, b3 = rng.integers(0, p, (8, 30, 4)), rng.integers(0, p, (8, 30, 4))
    assert (fieldops.dot(a3, b3, p) == ((a3 * b3) % p).sum(axis=0) % p).all()


@pytest.mark.parametrize("values, n", [(2, 1), (8, 1000), (16, 257), (4, 3)])
def test_digit_products_equal_cumsum_formula(values, n):
    p = 2**31 - 1
    onehot = np.random.default_rng(n).integers(0, p, (values, n))
    onehot[:, :2] = p - 1  # wrap-around in the running totals
    counts = np.cumsum(onehot, axis=1) % p
    offsets = (np.cumsum(counts[:, -1]) - counts[:, -1]) % p
    expected = ((onehot * ((offsets[:, None] + counts - 1) % p)) % p).sum(axis=0) % p
    assert (fieldops.digit_products(onehot, p) == expected).all()


def test_permutation_from_words_is_a_uniform_permutation():
    rng = np.random.default_rng(5)
    for n in (1, 2, 1000):
        q = fieldops.permutation_from_words(rng.integers(0, 2**63, n, dtype=np.uint64))
        assert q.dtype == np.int32 and sorted(q.tolist()) == list(range(n))
    # all 24 permutations of 4 elements about equally often
    counts = {}
    for _ in range(4800):
        key = tuple(fieldops.permutation_from_words(rng.integers(0, 2**63, 4, dtype=np.uint64)))
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 24 and chisquare(list(counts.values())).pvalue > 1e-4


def test_lagrange_at_zero_recombines():
    p = 2**31 - 1
    for xs in ([1, 2], [2, 3, 1], [3, 1]):
        coefficients = [11, 5, 9][:len(xs)]  # f(x) = 11 + 5x (+ 9x^2)
        ys = [sum(c * x**i for i, c in enumerate(coefficients)) % p for x in xs]
        assert sum(w * y for w, y in zip(lagrange_at_zero(xs, p), ys)) % p == 11


async def raw_roundtrip(shape):
    """Party 0 inputs values as raw shares; they are multiplied, and opened to all and to party 1 only."""
    p = core.SMALL_FIELD.modulus
    keyring = core.KeyRing()
    values = (np.arange(np.prod(shape)).reshape(shape) * 7919 + p - 5) % p
    shares = await core.input_raw(values if mpc.pid == 0 else None, shape, core.SMALL_FIELD, 0, keyring)
    squares = await core.multiply(shares, shares, core.SMALL_FIELD, keyring)
    everyone = await core.open(core.RawShares(squares), what="test.output", why="test")
    unreduced = await core.open(core.RawShares(fieldops.mul(shares, shares, p), degree=2 * mpc.threshold),
                                what="test.output", why="test")
    assert unreduced.tolist() == everyone.tolist()  # a local product opens from 2t + 1 shares
    one = await core.open(core.RawShares(shares), to=len(mpc.parties) - 1, what="test.output", why="test")
    return (everyone.tolist(), None if one is None else one.tolist(), ((values * values) % p).tolist(),
            values.tolist())


@pytest.mark.parametrize("shape", [(1,), (5,), (3, 4)])
def test_raw_shares_open_exactly_one_party(run1, values, shape):
    [(everyone, one, squares, plain)] = values(run1(raw_roundtrip, kwargs={"shape": shape}))
    assert everyone == squares and one == plain


def test_raw_shares_open_exactly_three_parties(run3, values):
    results = values(run3(raw_roundtrip, kwargs={"shape": (3, 4)}))
    for pid, (everyone, one, squares, plain) in enumerate(results):
        assert everyone == squares
        assert one == (plain if pid == 2 else None)


@pytest.mark.parametrize("p", MODULI)
def test_bit_kernels_equal_numpy(p):
    rng = np.random.default_rng(p)
    u, v, uv = (rng.integers(0, p, (300, 7)) for _ in range(3))
    public = rng.integers(0, 2, (300, 7))
    assert (fieldops.xor(u, v, uv, p) == (u + v - 2 * uv) % p).all()
    s, carry = fieldops.csa(public, u, v, uv, p)
    xor = (u + v - 2 * uv) % p
    assert (s == np.where(public == 1, 1 - xor, xor) % p).all()
    assert (carry == np.where(public == 1, u + v - uv, uv) % p).all()
    assert (fieldops.reduce(1 - u, p) == (1 - u) % p).all()
