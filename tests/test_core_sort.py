"""Radix sort, argsort and compaction by secret keys: against numpy's stable sort, and the ledger."""

import importlib

import numpy as np
import pytest

from securegenome import core
from securegenome.core import mpc
from securegenome.core.sort import _subtract_bits, bits_of
from securegenome.core.shuffle import KeyRing

SIZES = [1, 2, 3, 7, 16, 33]
sort_module = importlib.import_module("securegenome.core.sort")  # core.sort is the function


def _share(values, bits=32, secint=None):
    """Party 0's array, secret-shared (the others pass zeros of the same shape)."""
    secint = secint or mpc.SecInt(bits)
    shape = np.shape(values)
    data = np.array(values, dtype=object).reshape(shape) if mpc.pid == 0 else np.zeros(shape, dtype=object)
    return mpc.input(secint.array(data), senders=0)


async def _open(x):
    return (await core.open(x, what="test.output", why="test")).tolist()


async def sorted_cases(cases):
    """For each (keys, bit_length, rows): argsort, sort of 2-D rows, then the opened results."""
    out = []
    for keys, bit_length, rows in cases:
        k = _share(keys, secint=core.key_sectype(32))  # room for the statistical masks of 32-bit keys
        sigma = await core.argsort(k, bit_length)
        ordered = await core.sort(_share(rows, 16), k, bit_length)
        out.append((await _open(sigma), await _open(ordered)))
    return out


async def compacted(cases):
    out = []
    for bits, rows in cases:
        out.append(await _open(await core.compact(_share(bits, 8), _share(rows))))
    return out


async def sort_suite(cases, compact_cases):
    return await sorted_cases(cases), await compacted(compact_cases)


async def subtracted(x, ys, bit_length):
    """Bits of x − Σys mod 2^l by the borrow circuit used for key bits (ys secret, x public)."""
    ring = KeyRing()
    secret = [bits_of(y, bit_length) for y in ys]
    bits = await _subtract_bits(bits_of(x, bit_length), secret, ring)
    field = sort_module.FIELD
    opened = await core.open(sort_module.secure_array(sort_module.SMALL, field, bits),
                             what="test.output", why="test")
    return np.asarray(opened.value, dtype=np.int64).tolist()


async def five_party_suite(keys, bit_length, rows):
    k = _share(keys, secint=core.key_sectype(bit_length))
    shuffled = await core.shuffle(_share(rows))
    sigma = await core.argsort(k, bit_length)
    applied = await core.apply_permutation(sigma, _share(rows))
    return await _open(shuffled), await _open(sigma), await _open(applied)


async def too_wide():
    return await core.argsort(mpc.SecInt(16).array(np.arange(3)), 17)


def _key_cases(rng):
    cases = []
    for n in SIZES:
        for bit_length, keys in [(8, rng.integers(0, 256, n)),            # random (with repeats)
                                 (5, np.full(n, 13)),                     # all equal
                                 (6, np.arange(n)),                       # already sorted
                                 (32, (2**32 - 1 - np.arange(n) * 977) % 2**32),  # reversed, full width
                                 (1, rng.integers(0, 2, n))]:             # single bit
            rows = np.stack([np.arange(n), rng.integers(0, 1000, n)], axis=1)
            cases.append((keys.tolist(), bit_length, rows.tolist()))
    return cases


def _check_sorted(outs, cases):
    for (sigma, ordered), (keys, bit_length, rows) in zip(outs, cases):
        expected = np.argsort(np.array(keys), kind="stable")
        assert sigma == expected.tolist(), (keys, bit_length)
        assert ordered == np.array(rows)[expected].tolist()


def _count_expected(cases):
    """Ledger counts: per sort of n > 1 keys of l bits, masked keys n (once per key_bits call), shuffled
    permutations n per radix round after the first (one round per digit of DIGIT_BITS bits) plus n for
    the final scatter."""
    masked = perms = 0
    for keys, bit_length, _ in cases:
        n = len(keys)
        if n > 1:
            masked += 2 * n                           # argsort and sort each decompose the keys
            rounds = -(-bit_length // sort_module.DIGIT_BITS)
            perms += 2 * (n * (rounds - 1) + n)
    return {"sort.masked_keys": masked, "shuffle.permutation": perms}


def test_argsort_and_sort_one_party(run1):
    cases = _key_cases(np.random.default_rng(5))
    [result] = run1(sorted_cases, kwargs={"cases": cases})
    _check_sorted(result.value, cases)
    counts = result.ledger.counts()
    del counts["test.output"]
    assert counts == _count_expected(cases)
    assert set(counts) <= set(sort_module.LEAKAGE)


def test_argsort_and_sort_three_parties(run3):
    rng = np.random.default_rng(6)
    cases = [c for c in _key_cases(rng) if len(c[0]) in (1, 2, 7, 16)]
    cases.append((rng.integers(0, 2**20, 100).tolist(), 20, np.arange(200).reshape(100, 2).tolist()))
    compact_cases = _compact_cases(rng)
    results = run3(sort_suite, kwargs={"cases": cases, "compact_cases": compact_cases})
    for r in results:
        sorted_outs, compacted_outs = r.value
        _check_sorted(sorted_outs, cases)
        _check_compacted(compacted_outs, compact_cases)
        counts = r.ledger.counts()
        del counts["test.output"]
        expected = _count_expected(cases)
        expected["shuffle.permutation"] += sum(len(bits) for bits, _ in compact_cases if len(bits) > 1)
        assert counts == expected
        assert all(x.receivers == (0, 1, 2) for x in r.ledger)


def _compact_cases(rng):
    return [(rng.integers(0, 2, n).tolist(), rng.integers(0, 50, (n, 2)).tolist()) for n in SIZES] + \
           [([1] * 4, [1, 2, 3, 4]), ([0] * 4, [1, 2, 3, 4])]


def _check_compacted(outs, cases):
    for out, (bits, rows) in zip(outs, cases):
        bits, rows = np.array(bits, dtype=bool), np.array(rows)
        assert out == np.concatenate([rows[bits], rows[~bits]]).tolist()  # ones first, stable


def test_compact_one_party(run1):
    cases = _compact_cases(np.random.default_rng(7))
    [result] = run1(compacted, kwargs={"cases": cases})
    _check_compacted(result.value, cases)
    assert result.ledger.labels() <= {"shuffle.permutation", "test.output"}


@pytest.mark.parametrize("x,ys", [([0, 5, 255, 17], [[0, 3, 255, 200]]),
                                  ([9, 0, 100, 1], [[4, 1, 50, 0], [5, 2, 60, 255]])])
def test_borrow_circuit(run1, x, ys):
    [result] = run1(subtracted, kwargs={"x": x, "ys": ys, "bit_length": 8})
    expected = (np.array(x) - np.sum(ys, axis=0)) % 256
    assert result.value == bits_of(expected, 8).tolist()


def test_bit_length_beyond_type_is_refused(run1):
    with pytest.raises(ValueError, match="bit_length"):
        run1(too_wide)


async def narrow_keys():
    return await core.argsort(mpc.SecInt(32).array(np.arange(3)), 32)


async def sort_and_ledger(n, bit_length):
    keys = core.key_sectype(bit_length).array(np.arange(n)[::-1] % (1 << bit_length))
    sigma = await core.argsort(keys, bit_length)
    return await _open(sigma)


def test_keys_without_room_for_the_masks_are_refused_with_the_type_to_use(run1):
    with pytest.raises(ValueError, match=r"leaves \d+ bits to mask 32-bit keys, 72 are needed.*core.key_sectype\(32\)"):
        run1(narrow_keys)


@pytest.mark.parametrize("bit_length", [1, 8, 32, 64])
def test_key_sectype_has_room_for_the_masks_at_any_threshold(bit_length):
    field_bits = core.key_sectype(bit_length).field.modulus.bit_length()
    for t in range(sort_module.MAX_THRESHOLD + 1):
        assert (t + 2) * 2 ** (bit_length + sort_module.MASK_BITS) <= 2 ** (field_bits - 1)


def test_run_statistical_distance_is_below_2_to_minus_40(run3):
    n = 50
    results = run3(sort_and_ledger, kwargs={"n": n, "bit_length": 12})
    for r in results:
        assert r.value == list(range(n))[::-1]
        ledger = r.ledger
        assert ledger.counts()["sort.masked_keys"] == n
        assert ledger.statistical_distance() == n * 2.0 ** -sort_module.MASK_BITS
        assert ledger.statistical_distance() <= 2.0 ** -40
        assert ledger.to_dict()["statistical_distance"] == ledger.statistical_distance()


def test_a_run_opens_at_most_the_masking_budget(run1, monkeypatch):
    monkeypatch.setattr(sort_module, "MAX_MASKED_PER_RUN", 60)
    [ok] = run1(sort_and_ledger, kwargs={"n": 60, "bit_length": 8})
    assert ok.ledger.counts()["sort.masked_keys"] == 60
    with pytest.raises(ValueError, match="at most 60 statistically masked keys"):
        run1(sort_and_ledger, kwargs={"n": 61, "bit_length": 8})
    # the bound that makes the union bound work: MAX_MASKED_PER_RUN * 2^-MASK_BITS <= 2^-40
    assert (1 << 32) * 2.0 ** -sort_module.MASK_BITS <= 2.0 ** -sort_module.STATISTICAL_SECURITY


def test_five_parties_threshold_two(run3):
    rng = np.random.default_rng(8)
    keys, rows = rng.integers(0, 64, 9).tolist(), rng.integers(0, 99, (9, 2)).tolist()
    results = run3(five_party_suite, parties=5, threshold=2,
                   kwargs={"keys": keys, "bit_length": 6, "rows": rows})
    expected = np.argsort(keys, kind="stable")
    for r in results:
        shuffled, sigma, applied = r.value
        assert sorted(map(tuple, shuffled)) == sorted(map(tuple, rows))
        assert sigma == expected.tolist()
        assert applied == np.array(rows)[expected].tolist()


async def argsort_type(keys, bits):
    k = core.key_sectype(bits).array(np.array(keys))
    sigma = await core.argsort(k, bits)
    return type(sigma) is type(k), await _open(sigma)


def test_argsort_has_the_keys_type(run1):
    keys = [5, 3, 5, 0, 7]
    [result] = run1(argsort_type, kwargs={"keys": keys, "bits": 12})
    assert result.value == (True, np.argsort(keys, kind="stable").tolist())


@pytest.mark.slow
def test_large_sort_three_parties(run3):
    rng = np.random.default_rng(9)
    keys = rng.integers(0, 2**32, 3000)
    keys[::7] = keys[0]                                       # many repeats
    cases = [(keys.tolist(), 32, np.arange(6000).reshape(3000, 2).tolist())]
    for r in run3(sorted_cases, kwargs={"cases": cases}):
        _check_sorted(r.value, cases)
