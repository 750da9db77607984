"""Shamir secret sharing over the small prime field GF(2^22 - 3), on int64 numpy arrays.

Why not MPyC's own field arrays: they hold Python ints in numpy object arrays, about a hundred times too
slow for the 10^7-10^8 window tests of a read batch.  Here a share is an ``int64`` array with values in
[0, P); local arithmetic runs in numba kernels or as exact float64 BLAS (see ``centered``), and the few
interactive steps are ours, sent over MPyC's own connections labelled with MPyC's program counter (as
MPyC's ``_reshare`` does), so they interleave safely with ordinary MPyC calls:

- :func:`share_input`   one party secret-shares an array (degree t);
- :func:`reduce_degree` a local product's degree-2t shares back to degree t (Gennaro-Rabin-Rabin 1998);
- :func:`masked_differences` shares of r (d - c) with secret random masks r and a zero-sharing added,
  computed locally from MPyC's PRSS keys (Cramer-Damgaard-Ishai 2005), restricted to the key sets the
  receiver lacks: the only ones that hide anything from it;
- :class:`Shares`       wraps shares of any degree for :func:`securegenome.core.open`, which records the
  release in the ledger (the core's :class:`~securegenome.core.RawShares` over this field).

Party i evaluates sharing polynomials at x = i + 1, as MPyC does.  Shares travel as uint32.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os

import numba
import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ._mpyc import mpc
from .shuffle import RawShares, lagrange_at_zero as shuffle_lagrange_at_zero

P = 4_194_301  # 2^22 - 3, prime: products of two elements fit int64, 1024 of them fit float64 exactly
BITS = 22
GEMM_TERMS = 1024  # centered elements are < 2^21 in absolute value: 1024 products sum below 2^53


def inverse(a: int) -> int:
    return pow(a % P, P - 2, P)


def lagrange_at_zero(xs) -> list[int]:
    """Coefficients c_i with f(0) = sum c_i f(x_i) mod P for every polynomial of degree < len(xs)."""
    return shuffle_lagrange_at_zero(xs, P)


# ---------------------------------------------------------------------------------------- local kernels

@numba.njit(cache=True)
def _horner(coefficients, x, out):
    """out = coefficients[0] + coefficients[1] x + ... (mod P), elementwise; coefficients are rows."""
    degree = coefficients.shape[0] - 1
    for i in range(out.size):
        v = coefficients[degree, i]
        for j in range(degree - 1, -1, -1):
            v = (v * x + coefficients[j, i]) % P
        out[i] = v


@numba.njit(cache=True)
def _lincomb(rows, weights, out):
    """out = sum_j weights[j] rows[j] (mod P); terms < 2^44, so up to 2^19 rows add up exactly."""
    for i in range(out.size):
        v = 0
        for j in range(rows.shape[0]):
            v += weights[j] * rows[j, i]
        out[i] = v % P


@numba.njit(cache=True)
def _take_uniform(words, out):
    """Fill out with the 22-bit words below P (rejection sampling); returns how many were filled."""
    filled = 0
    for i in range(words.size):
        if filled == out.size:
            break
        w = words[i] & 0x3FFFFF
        if w < P:
            out[filled] = w
            filled += 1
    return filled


@numba.njit(cache=True)
def _reduce_exact(x, out):
    """out = x mod P for exact integers held in float64 (|x| < 2^53)."""
    for i in range(out.size):
        v = np.int64(x[i]) % P
        out[i] = v + P if v < 0 else v


def centered(a: np.ndarray) -> np.ndarray:
    """Shares as float64 in (-P/2, P/2): 1024 of their products sum exactly in float64 BLAS."""
    return np.where(a > P // 2, a - P, a).astype(np.float64)


def reduce_exact(x: np.ndarray) -> np.ndarray:
    """Exact float64 integers (a BLAS product of centered shares) to int64 in [0, P)."""
    out = np.empty(x.size, dtype=np.int64)
    _reduce_exact(np.ascontiguousarray(x).reshape(-1), out)
    return out.reshape(x.shape)


# ------------------------------------------------------------------------------------------- randomness

def _aes_words(key: bytes, nonce: bytes, n: int) -> np.ndarray:
    """n pseudorandom uint32 words: AES-128-CTR(key, nonce) of zeros (written in place: 5x faster)."""
    zeros = np.zeros(4 * n, dtype=np.uint8)
    out = np.empty(4 * n + 15, dtype=np.uint8)
    Cipher(algorithms.AES(key), modes.CTR(nonce)).encryptor().update_into(zeros, out)
    return out[:4 * n].view(np.uint32)


def _with_margin(n: int) -> int:
    """Words enough for n accepted ones: 3 in 2^22 words are rejected, so this margin is never used up
    in practice (and if it were, callers retry with more)."""
    return n + (n >> 12) + 64


def _uniform_from_aes(key: bytes, nonce: bytes, n: int) -> np.ndarray:
    """n uniform elements of GF(P) from AES-128-CTR(key, nonce): 22-bit words, the 3 out of 2^22 that are
    >= P rejected (exactly uniform; deterministic, so parties holding the key get the same values)."""
    out = np.empty(n, dtype=np.int64)
    need = _with_margin(n)
    while _take_uniform(_aes_words(key, nonce, need), out) != n:
        need *= 2
    return out


class _LocalRandom:
    """This process's own cryptographic randomness (AES-CTR under a fresh key from the OS)."""

    def __init__(self):
        self.key = os.urandom(16)
        self.counter = itertools.count()

    def field(self, n: int) -> np.ndarray:
        return _uniform_from_aes(self.key, next(self.counter).to_bytes(8, "little") + bytes(8), n)


_local = _LocalRandom()


def _prss_key(subset) -> bytes:
    """Our key for a PRSS subset, derived from MPyC's (domain-separated from MPyC's own use of it)."""
    if mpc.options.no_prss:
        raise RuntimeError("securegenome's search needs MPyC's PRSS keys (run without --no-prss)")
    return hashlib.shake_128(b"securegenome.smallfield" + mpc._prss_keys[subset]).digest(16)


def _subsets_hidden_from(receiver: int) -> list[tuple[int, ...]]:
    """PRSS subsets of this party that the receiver is not in (all of them when t = 0: no secrecy then)."""
    mine = [s for s in mpc._prss_keys]
    hidden = [s for s in mine if receiver not in s]
    if mpc.threshold == 0:
        return mine
    return hidden


def _f_subset(subset, x: int) -> int:
    """The degree-t polynomial that is 1 at 0 and 0 at the points of the parties outside ``subset``."""
    v = 1
    for j in range(len(mpc.parties)):
        if j not in subset:
            v = v * (j + 1 - x) % P * inverse(j + 1) % P
    return v


def masked_differences(d: np.ndarray, constants, receiver: int) -> np.ndarray:
    """This party's degree-2t shares (uint32 rows) of r_j * (d - constants[j]) for every j.

    The r_j are fresh secret uniform masks that ``receiver`` cannot know, from PRSS (Cramer-Damgaard-Ishai):
    r = sum over the key sets S that exclude the receiver of PRF_S, shared with the degree-t polynomial
    f_S (1 at 0, 0 at the parties outside S).  A pseudorandom degree-2t sharing of zero from the same key
    sets, sum_S f_S(x) sum_l PRF_S,l x^l, is added so that the opened product polynomial is uniform given
    its value at 0 and the receiver's own share (key sets the receiver holds would add nothing it does
    not know).  Opened, row j is 0 where d = constants[j] and uniform elsewhere (0 with probability 1/P).
    Non-interactive: local AES-CTR and one fused pass per key set.
    """
    t, x = mpc.threshold, mpc.pid + 1
    constants = np.asarray(constants, dtype=np.int64)
    n = len(constants) * d.size
    subsets = _subsets_hidden_from(receiver)
    mask_nonce, zero_nonce = mpc._prss_uci() + bytes(8), mpc._prss_uci() + bytes(8)  # same count on all
    need = _with_margin(n)
    while True:
        out = np.zeros((len(constants), d.size), dtype=np.uint32)
        ok = True
        for subset in subsets:
            f = _f_subset(subset, x)
            key = _prss_key(subset)
            masks = _aes_words(key, mask_nonce, need)
            zeros = _aes_words(key, zero_nonce, t * need)
            powers = np.array([f * pow(x, j, P) % P for j in range(1, t + 1)], dtype=np.int64)
            ok &= _masked_rows(out, d, constants, masks, zeros, np.int64(f), powers)
        if ok:
            return out
        need *= 2


@numba.njit(cache=True)
def _next_uniform(words, index):
    """The next word below P from position index on: (value, next index), or (-1, index) if none left."""
    while index < words.size:
        w = np.int64(words[index] & 0x3FFFFF)
        index += 1
        if w < P:
            return w, index
    return -1, index


@numba.njit(cache=True)
def _masked_rows(out, d, constants, masks, zeros, f, powers):
    """out[j] += f r_j (d - c_j) + sum_l powers[l] z_jl (mod P), r and z drawn from the word streams."""
    mi = 0
    zi = 0
    for j in range(out.shape[0]):
        c = constants[j]
        for i in range(d.size):
            r, mi = _next_uniform(masks, mi)
            if r < 0:
                return False
            v = d[i] - c
            if v < 0:
                v += P
            acc = f * (r * v % P) + out[j, i]
            for l in range(powers.size):
                z, zi = _next_uniform(zeros, zi)
                if z < 0:
                    return False
                acc += powers[l] * z
            out[j, i] = acc % P
    return True


# ----------------------------------------------------------------------------------------- interaction

def _next_exchange() -> None:
    """A fresh program-counter label for one of our exchanges (same sequence on every party)."""
    mpc._program_counter[0] += 1


async def _receive(pid: int) -> np.ndarray:
    """The uint32 array a peer sent us under the current program counter."""
    message = mpc._receive_message(pid)
    if isinstance(message, asyncio.Future):
        message = await message
    return np.frombuffer(message, dtype=np.uint32)


def _send(pid: int, values: np.ndarray) -> None:
    mpc._send_message(pid, values.astype(np.uint32, copy=False).tobytes())


async def _combine(own: np.ndarray | None, points: list[int], weights) -> np.ndarray:
    """sum_j weights[j] * (share of party points[j]) mod P: own share local, the others received."""
    parts = [own.reshape(-1) if pid == mpc.pid else await _receive(pid) for pid in points]
    rows = np.empty((len(points), parts[0].size), dtype=np.uint32)
    for j, values in enumerate(parts):
        rows[j] = values
    out = np.empty(rows.shape[1], dtype=np.int64)
    _lincomb(rows, np.asarray(weights, dtype=np.int64), out)
    return out


def _split(values: np.ndarray, degree: int) -> list[np.ndarray]:
    """Shares of every party for a fresh random polynomial of ``degree`` with constant term ``values``."""
    m = len(mpc.parties)
    if degree == 0:
        return [values] * m
    coefficients = np.empty((degree + 1, values.size), dtype=np.int64)
    coefficients[0] = values
    coefficients[1:] = _local.field(degree * values.size).reshape(degree, values.size)
    shares = []
    for pid in range(m):
        out = np.empty(values.size, dtype=np.int64)
        _horner(coefficients, np.int64(pid + 1), out)
        shares.append(out)
    return shares


async def share_input(values: np.ndarray | None, sender: int, size: int) -> np.ndarray:
    """Degree-t shares of ``values`` (int64 in [0, P), length ``size``) input by party ``sender``."""
    _next_exchange()
    if mpc.pid != sender:
        return (await _receive(sender)).astype(np.int64)
    values = np.ascontiguousarray(values, dtype=np.int64).reshape(-1)
    if values.size != size:
        raise ValueError(f"share_input: {values.size} values, {size} announced")
    shares = _split(values, mpc.threshold)
    for pid in range(len(mpc.parties)):
        if pid != sender:
            _send(pid, shares[pid])
    return shares[sender]


async def reduce_degree(shares: np.ndarray) -> np.ndarray:
    """Degree-t shares of the value held in degree-2t ``shares`` (e.g. a local product).

    Parties 0..2t each re-share their share with a fresh degree-t polynomial; everyone combines the
    pieces with the Lagrange coefficients of the points 1..2t+1 (one message to each peer per sender)."""
    t = mpc.threshold
    if t == 0:
        return shares
    _next_exchange()
    senders = list(range(2 * t + 1))
    own = None
    if mpc.pid in senders:
        split = _split(shares.reshape(-1), t)
        for pid in range(len(mpc.parties)):
            if pid != mpc.pid:
                _send(pid, split[pid])
        own = split[mpc.pid]
    out = await _combine(own, senders, lagrange_at_zero([pid + 1 for pid in senders]))
    return out.reshape(shares.shape)


class Shares(RawShares):
    """Shares (int64 or uint32, in [0, P)) of a secret array with a sharing polynomial of ``degree`` (t or 2t).

    Only for :func:`securegenome.core.open`: the core's :class:`~securegenome.core.RawShares` over GF(P),
    whose opening sends the shares of ``degree`` other parties to each receiver."""

    __slots__ = ()

    def __init__(self, share: np.ndarray, degree: int):
        super().__init__(share, P, degree)
