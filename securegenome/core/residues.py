"""Wide secret integers on the raw-share layer: a residue number system (RNS) of primes below 2³¹.

A protocol that needs integers wider than 31 bits (exact products of counts, say) would otherwise use an
MPyC field of that width, whose arrays hold Python integers: every product, sum and re-sharing pass then
costs tens of nanoseconds per element and per operation.  Here such an integer x of Z_M, M = p_1···p_m
(the m largest primes below 2³¹, the first 2³¹−1 = ``core.SMALL_FIELD``), is held as m Shamir sharings,
x mod p_i in GF(p_i), each party's shares one int64 array of shape (m, *shape) (:class:`Shared`).
Additions and public scalings act residue by residue (numpy, no interaction); a product is a local
product per residue and *one* re-sharing pass for all residues (:func:`~.shuffle.reshare_products`, one
message per pair of parties); an opening (:class:`ResidueShares` through :func:`core.open`) sends all
residues in one message per receiver, who recovers x in [0, M) by the Chinese remainder theorem (Garner's
mixed-radix digits in int64, then Python integers).

Exact below M: a protocol sizes the ring from the widest value it forms, including any masks added before
an opening (``Residues(bits)``: M > 2^bits).  Negative values are x mod M.  Each residue is a prime field,
so everything the raw-share layer does (shuffles, :func:`~.permutation.apply_permutation_raw`) applies to
the m arrays with ``ring.fields``.

Reveals nothing by itself: values leave shares only through :func:`core.open`, under the caller's label.
"""

from __future__ import annotations

import asyncio
import secrets

import numpy as np

from ._mpyc import mpc
from . import fieldops
from .shuffle import RawShares, input_raw, reshare_products

# the largest primes below 2^31, 2^31 - 1 first (tests/test_core_residues.py checks them)
PRIMES = (2147483647, 2147483629, 2147483587, 2147483579, 2147483563, 2147483549, 2147483543, 2147483497)
MATMUL_ROWS = 2048  # inner dimension per chunk of a secret matrix product: bounds its (k × rows × l) products


class Residues:
    """The ring Z_M of the m largest primes below 2³¹ with M > 2^bits: its fields and public conversions."""

    def __init__(self, bits: int):
        m, M = 1, PRIMES[0]
        while M.bit_length() <= bits:
            if m == len(PRIMES):
                raise ValueError(f"no residue ring of {len(PRIMES)} primes holds {bits}-bit integers")
            M *= PRIMES[m]
            m += 1
        self.bits, self.moduli, self.M = bits, PRIMES[:m], M
        self.fields = [mpc.SecFld(p).field for p in self.moduli]
        self._moduli = np.array(self.moduli, dtype=np.int64)
        # Garner: inverse of p_0···p_(i-1) modulo p_i
        self._garner = [pow(int(np.prod([PRIMES[j] for j in range(i)], dtype=object)), -1, self.moduli[i])
                        for i in range(1, m)]

    def __repr__(self) -> str:
        return f"Residues({self.bits}): {len(self.moduli)} primes, M of {self.M.bit_length()} bits"

    @property
    def m(self) -> int:
        return len(self.moduli)

    def column(self, ndim: int) -> np.ndarray:
        """The moduli shaped (m, 1, ..., 1) to broadcast against arrays of ``ndim`` value axes."""
        return self._moduli.reshape((-1,) + (1,) * ndim)

    def residues(self, values) -> np.ndarray:
        """Public integers (any size or sign; int or object arrays) as residues, shape (m, *shape)."""
        v = np.asarray(values)
        if v.dtype == object or v.dtype.kind == "u":
            return np.stack([np.asarray(v % p).astype(np.int64) for p in self.moduli])
        v = v.astype(np.int64)
        return v[np.newaxis] % self.column(v.ndim)

    def public(self, values) -> Shared:
        """Public integers as shares (a constant is a valid sharing of itself)."""
        return Shared(self, self.residues(values))

    def zeros(self, shape) -> Shared:
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        return Shared(self, np.zeros((self.m, *shape), dtype=np.int64))

    def integers(self, residues: np.ndarray) -> np.ndarray:
        """The integers in [0, M) with the given residues (m, *shape): Garner's mixed-radix digits in int64,
        then one Python-integer Horner pass (object array)."""
        digits = [residues[0] % self.moduli[0]]
        for i in range(1, self.m):
            p = self.moduli[i]
            acc = digits[-1] % p
            for j in range(i - 2, -1, -1):   # value of the digits so far modulo p, Horner from the top
                acc = (acc * (self.moduli[j] % p) + digits[j]) % p
            digits.append(((residues[i] - acc) % p) * self._garner[i - 1] % p)
        value = np.asarray(digits[-1]).astype(object)
        for i in range(self.m - 2, -1, -1):
            value = np.asarray(value * self.moduli[i] + np.asarray(digits[i]).astype(object), dtype=object)
        return value

    def signed(self, residues: np.ndarray) -> np.ndarray:
        """As :meth:`integers`, with the top half of Z_M read as negative numbers."""
        value = self.integers(residues)
        return np.where(value > self.M // 2, value - self.M, value).astype(object)

    # ---- interaction ---------------------------------------------------------------------------------

    async def input(self, values, shape, sender: int, keyring, residues: bool = False) -> Shared:
        """Shares of the integers ``values`` (of shape ``shape``) that party ``sender`` knows (None elsewhere;
        with ``residues``, already as residues (m, *shape)): one sharing per residue, all started at once."""
        shape = tuple(shape)
        if mpc.pid != sender:
            values = [None] * self.m
        elif not residues:
            values = self.residues(values)
        shares = await asyncio.gather(*(input_raw(r, shape, f, sender, keyring)
                                        for r, f in zip(values, self.fields)))
        return Shared(self, np.stack(shares).reshape((self.m, *shape)))

    def random_residues(self, N: int, low: np.ndarray, bits: int) -> np.ndarray:
        """Residues (m, N) of r = h·2^L + Σ_i low[:, i]·2^i with h uniformly random of ``bits`` bits (from
        :mod:`secrets`) and ``low`` a given (N, L) 0/1 matrix: all in int64, no Python integers."""
        words = (bits + 31) // 32
        raw = np.frombuffer(secrets.token_bytes(4 * words * N), dtype=np.uint32).reshape(N, words).astype(np.int64)
        raw[:, -1] &= (1 << (bits - 32 * (words - 1))) - 1                 # h < 2^bits
        L = low.shape[1]
        out = np.empty((self.m, N), dtype=np.int64)
        for i, p in enumerate(self.moduli):
            h = np.zeros(N, dtype=np.int64)
            for w in range(words):
                h = (h + (raw[:, w] % p) * pow(2, 32 * w, p)) % p
            powers = np.array([pow(2, e, p) for e in range(L)], dtype=np.int64)
            out[i] = (h * pow(2, L, p) % p + (low @ powers) % p) % p       # L terms below 2^31: no overflow
        return out

    async def mul(self, pairs, keyring) -> list[Shared]:
        """Elementwise products x·y (numpy broadcasting) of shared arrays, all pairs and residues in one
        re-sharing pass."""
        flats, shapes = [], []
        for x, y in pairs:
            xv, yv = np.broadcast_arrays(*_aligned(self.shared(x).v, self.shared(y).v))
            shapes.append(xv.shape[1:])
            flats.append([fieldops.mul(xv[i], yv[i], p).reshape(-1) for i, p in enumerate(self.moduli)])
        return await self._reshared(flats, shapes, keyring)

    async def _reshared(self, flats: list, shapes: list, keyring) -> list[Shared]:
        """Shares of the local products ``flats`` (per array, per residue, flat) in one re-sharing pass, split
        back into arrays of ``shapes``."""
        local = [np.concatenate([f[i] for f in flats]) for i in range(self.m)]
        product = await reshare_products(local, self.fields, keyring)
        out, start = [], 0
        for shape in shapes:
            size = int(np.prod(shape, dtype=np.int64))
            out.append(Shared(self, np.stack([r[start:start + size] for r in product]).reshape((self.m, *shape))))
            start += size
        return out

    async def matmul(self, a: Shared, b: Shared, keyring) -> Shared:
        """The matrix product a @ b of two shared arrays (numpy's matmul: (..., k, n) @ (..., n, l), leading
        axes broadcast): local products summed, then one re-sharing of the result only."""
        a, b = self.shared(a), self.shared(b)
        (k, n), (n2, l) = a.shape[-2:], b.shape[-2:]
        if n != n2:
            raise ValueError(f"matmul: {a.shape} @ {b.shape}")
        lead = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        local = np.zeros((self.m, *lead, k, l), dtype=np.int64)
        for i, p in enumerate(self.moduli):
            for s in range(0, n, MATMUL_ROWS):  # inner dimension in chunks: (k, rows, l) products at a time
                x, y = a.v[i, ..., s:s + MATMUL_ROWS], b.v[i, ..., s:s + MATMUL_ROWS, :]
                local[i] = (local[i] + ((x[..., :, :, None] * y[..., None, :, :]) % p).sum(axis=-2)) % p
        product = await reshare_products(list(local), self.fields, keyring)
        return Shared(self, np.stack(product))

    async def mul_sum(self, pairs, keyring, axis: int = -1) -> list[Shared]:
        """For every pair, Σ over value axis ``axis`` of the elementwise products x·y (numpy broadcasting):
        products summed locally one slice at a time (memory of the result only), and one re-sharing pass
        for the sums of all pairs."""
        flats, shapes = [], []
        for x, y in pairs:
            xv, yv = _aligned(self.shared(x).v, self.shared(y).v)
            ax = _axis(axis, xv.ndim - 1)
            xv, yv = np.moveaxis(xv, ax, 1), np.moveaxis(yv, ax, 1)
            shape = np.broadcast_shapes(xv.shape[:1] + xv.shape[2:], yv.shape[:1] + yv.shape[2:])
            sums = []
            for i, p in enumerate(self.moduli):
                acc = np.zeros(shape[1:], dtype=np.int64)
                for j in range(max(xv.shape[1], yv.shape[1])):
                    term = fieldops.mul(xv[i, min(j, xv.shape[1] - 1)], yv[i, min(j, yv.shape[1] - 1)], p)
                    acc = fieldops.add(*np.broadcast_arrays(acc, term), p)
                sums.append(acc.reshape(-1))
            flats.append(sums)
            shapes.append(shape[1:])
        return await self._reshared(flats, shapes, keyring)

    def shared(self, x) -> Shared:
        return x if isinstance(x, Shared) else self.public(x)

    def opening(self, x: Shared) -> ResidueShares:
        """``x`` in the form :func:`core.open` takes; it opens to the integers in [0, M) (object array)."""
        return ResidueShares(x.v, self)

    # ---- arrays ------------------------------------------------------------------------------------------

    def concatenate(self, arrays, axis: int = 0) -> Shared:
        arrays = [self.shared(a) for a in arrays]
        return Shared(self, np.concatenate([a.v for a in arrays], axis=_axis(axis, arrays[0].ndim)))

    def stack(self, arrays, axis: int = 0) -> Shared:
        arrays = [self.shared(a) for a in arrays]
        return Shared(self, np.stack([a.v for a in arrays], axis=_axis(axis, arrays[0].ndim + 1)))


def _aligned(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two (m, *shape) arrays with singleton axes inserted after the residue axis of the one with fewer
    value axes, so that numpy broadcasts their value axes (not the residue axis) as it would the values."""
    if a.ndim < b.ndim:
        a = a.reshape((a.shape[0],) + (1,) * (b.ndim - a.ndim) + a.shape[1:])
    elif b.ndim < a.ndim:
        b = b.reshape((b.shape[0],) + (1,) * (a.ndim - b.ndim) + b.shape[1:])
    return a, b


def _axis(axis: int, ndim: int) -> int:
    """A value axis (negative counts from the end) as an axis of the (m, *shape) array."""
    return (axis % ndim) + 1 if ndim else 1


class Shared:
    """This party's shares of an array of Z_M: int64 residues (m, *shape).  Local arithmetic with other
    shared arrays and public integers; products go through :meth:`Residues.mul`."""

    __slots__ = ("ring", "v")
    __array_ufunc__ = None  # numpy arrays defer to our reflected operators (public - shared, ...)

    def __init__(self, ring: Residues, v: np.ndarray):
        self.ring, self.v = ring, v

    @property
    def shape(self) -> tuple:
        return self.v.shape[1:]

    @property
    def ndim(self) -> int:
        return self.v.ndim - 1

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self) -> int:
        return self.shape[0]

    def _pair(self, other) -> tuple[np.ndarray, np.ndarray]:
        return _aligned(self.v, other.v if isinstance(other, Shared) else self.ring.residues(other))

    def _new(self, v: np.ndarray) -> Shared:
        """Residues of v (|v| < p²: sums, differences, products with public residues), one kernel pass each."""
        return Shared(self.ring, np.stack([fieldops.reduce(r, p) for r, p in zip(v, self.ring.moduli)]))

    def __add__(self, other):
        a, b = self._pair(other)
        return self._new(a + b)

    __radd__ = __add__

    def __sub__(self, other):
        a, b = self._pair(other)
        return self._new(a - b)

    def __rsub__(self, other):
        a, b = self._pair(other)
        return self._new(b - a)

    def __neg__(self):
        return self._new(-self.v)

    def __mul__(self, other):
        if isinstance(other, Shared):
            raise TypeError("a product of two shared arrays needs Residues.mul (one re-sharing pass)")
        a, b = self._pair(other)
        return self._new(a * b)  # residues below 2^31: products below 2^62

    __rmul__ = __mul__

    def __matmul__(self, public):
        """Shared @ public integer matrix (small entries: the sums stay far below 2^63)."""
        return self._new(np.matmul(self.v, np.asarray(public, dtype=np.int64)))

    def __rmatmul__(self, public):
        return self._new(np.matmul(np.asarray(public, dtype=np.int64), self.v))

    def __getitem__(self, index):
        return Shared(self.ring, np.stack([r[index] for r in self.v]))  # per residue: numpy's own indexing rules

    def __setitem__(self, index, value):
        value = self.ring.shared(value)
        for r, w in zip(self.v, value.v):
            r[index] = w

    def copy(self) -> Shared:
        return Shared(self.ring, self.v.copy())

    def reshape(self, *shape) -> Shared:
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], tuple) else shape
        return Shared(self.ring, self.v.reshape((self.ring.m, *shape)))

    def transpose(self, *axes) -> Shared:
        axes = axes or tuple(reversed(range(self.ndim)))
        return Shared(self.ring, self.v.transpose(0, *(a + 1 for a in axes)))

    @property
    def T(self) -> Shared:
        return self.transpose()

    def sum(self, axis=None) -> Shared:
        """Sums (residues below 2^31: up to 2^31 terms stay below p², what the reduction takes)."""
        if axis is None:
            return self._new(self.v.reshape(self.ring.m, -1).sum(axis=1))
        return self._new(self.v.sum(axis=_axis(axis, self.ndim)))

    def cumsum(self, axis: int = 0) -> Shared:
        return self._new(np.cumsum(self.v, axis=_axis(axis, self.ndim)))


class ResidueShares(RawShares):
    """Raw shares of a :class:`Residues` array for :func:`core.open`: all residues of a value travel in one
    message (the core's :class:`RawShares` opening, one row per residue); the receiver recombines each
    residue in one numba pass and returns the integers in [0, M) (object array).  The ledger counts values,
    not residues."""

    __slots__ = ("ring",)

    def __init__(self, share: np.ndarray, ring: Residues):
        super().__init__(np.ascontiguousarray(share, dtype=np.int64), ring.moduli[0])
        self.ring = ring

    @property
    def size(self) -> int:
        return int(self.share[0].size)

    def _rows(self) -> list:
        return list(zip(self.share, self.ring.moduli))

    def _value(self, opened: list):
        return self.ring.integers(np.stack(opened))
