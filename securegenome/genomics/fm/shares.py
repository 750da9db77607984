"""Arithmetic on raw GF(2^31-1) shares used by the fm engine: masks, masked tests, bit decomposition.

All arrays are this party's int64 shares (``core.SMALL_FIELD``); every interactive step is a core
primitive (:func:`securegenome.core.multiply`, :func:`~securegenome.core.input_raw`, :func:`~securegenome.core.open`).

**Bit decomposition** (:func:`decompose`): the bits of secret field elements, for packed windows and
candidate positions.  With threshold t, parties 0..t-1 each input a uniform mask R_j in [0, p) *as
bits*; W + sum_j R_j (mod p) is opened to party t alone (label ``fm.decompose_masked``: uniform, because a
coalition of t parties that contains party t misses some R_j, and one without it sees nothing), party t
inputs the bits of that public-to-it value, and t modular subtractions on shared bits remove the masks.
p = 2^31 - 1 is a Mersenne prime, so a - b mod p is the 31-bit difference, decremented when it borrowed
(2^31 - p = 1).  Cost per element and mask: 3 multiplications per bit, 61 rounds for a whole array.
"""

from __future__ import annotations

import secrets

import numpy as np

from ... import core
from ...core import mpc
from ...core import KeyRing, RawShares, SMALL_FIELD as FIELD, bits_of, input_raw, multiply
from ..bwt import as_ints
from .layout import FIELD_BITS, REPETITIONS

P = FIELD.modulus
POWERS = [pow(2, i, P) for i in range(FIELD_BITS)]

LEAKAGE = {
    "fm.decompose_masked": "to one party (party t, t the threshold): secret values plus uniform masks in "
                           "[0, p) from parties 0..t-1, the first step of a bit decomposition: uniformly "
                           "random, independent of the data",
}


async def open_to(values: np.ndarray, to: int, what: str, why: str) -> np.ndarray | None:
    """Open raw GF(2^31-1) shares to one party (through the ledger); None elsewhere."""
    shape = values.shape
    opened = await core.open(RawShares(values.reshape(-1)), to=to, what=what, why=why)
    return None if opened is None else as_ints(opened).reshape(shape)


def _uniform(size: int) -> np.ndarray:
    """``size`` uniform elements of [0, p) from the OS's randomness (bias below 2^-33 per element)."""
    words = np.frombuffer(secrets.token_bytes(8 * size), dtype=np.uint64)
    return (words % np.uint64(P)).astype(np.int64)


async def random_field(shape, keyring: KeyRing) -> np.ndarray:
    """Secret uniform field elements no t parties know: the sum of one draw from each of parties 0..t."""
    n = int(np.prod(shape))
    total = np.zeros(n, dtype=np.int64)
    for j in range(mpc.threshold + 1):
        mine = _uniform(n) if mpc.pid == j else None
        total = (total + await input_raw(mine, (n,), FIELD, j, keyring)) % P
    return total.reshape(shape)


async def product_tree(factors: list[np.ndarray], keyring: KeyRing) -> np.ndarray:
    """Shares of the elementwise product of several shared arrays, log2 rounds."""
    while len(factors) > 1:
        pairs = len(factors) // 2
        products = list(await multiply(np.stack(factors[:pairs]), np.stack(factors[pairs:2 * pairs]), FIELD,
                                       keyring))
        factors = products + factors[2 * pairs:]
    return factors[0]


async def masked(values: np.ndarray, keyring: KeyRing) -> np.ndarray:
    """r * values for fresh secret uniform r, REPETITIONS times (leading axis)."""
    shape = (REPETITIONS, *values.shape)
    return await multiply(await random_field(shape, keyring), np.broadcast_to(values, shape).copy(), FIELD, keyring)


async def spoiled(values: np.ndarray, usable: np.ndarray, keyring: KeyRing) -> np.ndarray:
    """values + u * (1 - usable) with u secret uniform: unchanged for usable patterns, uniform otherwise."""
    u = await multiply(await random_field(usable.shape, keyring), (1 - usable) % P, FIELD, keyring)
    return (values + u) % P


def value_of_bits(bits: np.ndarray) -> np.ndarray:
    """Shares of sum_i 2^i b_i (mod p) from shares of bits (n x w, least significant first): local."""
    out = np.zeros(bits.shape[0], dtype=np.int64)
    for i in range(bits.shape[1]):
        out = (out + bits[:, i] * POWERS[i]) % P
    return out


async def subtract_mod_p(a: np.ndarray, b: np.ndarray, keyring: KeyRing) -> np.ndarray:
    """Shares of the bits of (a - b) mod p from shares of the 31 bits of a, b in [0, p).

    A borrow chain gives the 31-bit difference d and the borrow out; when it borrowed, a - b + p =
    d - 1 (2^31 - p = 1): a decrement chain by the borrow bit.  The result is again in [0, p)."""
    ab = await multiply(a, b, FIELD, keyring)
    x = (a + b - 2 * ab) % P  # a xor b
    out = np.empty_like(a)
    borrow = np.zeros(a.shape[0], dtype=np.int64)
    for i in range(FIELD_BITS):
        xb = await multiply(x[:, i], borrow, FIELD, keyring) if i else np.zeros_like(borrow)
        out[:, i] = (x[:, i] + borrow - 2 * xb) % P
        borrow = (b[:, i] - ab[:, i] + borrow - xb) % P  # (not a and b) or (not (a xor b) and borrow)
    for i in range(FIELD_BITS):  # decrement by the final borrow
        both = await multiply(out[:, i], borrow, FIELD, keyring)
        out[:, i] = (out[:, i] + borrow - 2 * both) % P
        borrow = (borrow - both) % P
    return out


async def decompose(values: np.ndarray, keyring: KeyRing, why: str) -> np.ndarray:
    """Shares of the 31 bits (least significant first) of secret field elements (1-D)."""
    n, t = values.shape[0], mpc.threshold
    masks, total = [], values % P
    for j in range(t):
        mine = bits_of(_uniform(n), FIELD_BITS) if mpc.pid == j else None
        mask = await input_raw(mine, (n, FIELD_BITS), FIELD, j, keyring)
        masks.append(mask)
        total = (total + value_of_bits(mask)) % P
    opened = await open_to(total, t, "fm.decompose_masked", why)
    out = await input_raw(bits_of(opened, FIELD_BITS) if opened is not None else None, (n, FIELD_BITS), FIELD, t,
                          keyring)
    for mask in masks:
        out = await subtract_mod_p(out, mask, keyring)
    return out
