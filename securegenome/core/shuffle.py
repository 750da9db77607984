"""Resharing shuffle: one secret, uniformly random permutation of the rows of secure arrays, O(n) traffic.

With m parties and Shamir threshold t (Laur–Willemson–Zhang 2011; Hamada et al. 2012), the shuffle is the
composition of one permutation π_S per set S of m−t parties:

1. every set S gets a fresh 128-bit key k_S (drawn by S's first member with :mod:`secrets`, sent to the
   other members of S only), and every pair of parties a fresh pairwise key (:class:`KeyRing`);
2. for each S in turn: members of S turn their Shamir shares into an additive sharing among S (share times
   the Lagrange coefficient at 0 over S), permute their pieces by π_S = PRG(k_S), and re-share the pieces
   to all parties with degree-t Shamir sharings.  The t shares of a piece that go to the sender's next t
   parties are drawn from the PRG under the pairwise key instead of being sent, so each member of S sends
   m−1−t messages.

A coalition of t parties misses the set S made of the other m−t parties, so π_S — and hence the composed
permutation — is uniformly random to it.  Nothing is opened: the shuffle has no leakage.

Cost: 1 + C(m, t) rounds (the first one exchanges keys); per row and column (m−t)·(m−1−t)·C(m, t) field
elements in total (3 parties: 6).  With one party the shuffle is a local permutation from a fresh key.

The same re-sharing pass with S = all parties and no permutation turns the degree-2t product of two
sharings back into a degree-t sharing; :func:`multiply` uses it for fields below 2³¹, where every local
step is exact int64 numpy arithmetic (:data:`SMALL_PRIME`, used by the radix sort).

The PRG is AES-128 in counter mode (``cryptography``), keyed per use by SHA-256 of key and label.  A
permutation is drawn by Fisher–Yates from n PRG words of 64 bits, each swap index a word reduced mod i + 1,
so it is uniform up to a statistical distance below n²/2⁶⁵ (below 10⁻⁹ for n = 10⁵); field elements below 2³¹ are drawn by rejection sampling (exactly uniform),
larger ones reduced from 64 more bits than the modulus has (bias below 2⁻⁶⁴).
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import struct
from asyncio import Future

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from mpyc import thresha
from mpyc.asyncoro import mpc_coro

from . import fieldops
from ._mpyc import mpc
from .wire import WireError, decode_array, encode_array

LEAKAGE: dict[str, str] = {}  # the shuffle opens nothing

KEY_BYTES = 16
SMALL_PRIME = 2**31 - 1  # fields below 2^31: shares and products of two shares fit int64
SMALL_FIELD = mpc.SecFld(SMALL_PRIME).field  # its MPyC field (sort, permutations and residues use it)


def shuffle_sets(m: int, t: int) -> list[tuple[int, ...]]:
    """The sets S of m−t parties, one pass each, in the order every party uses."""
    return list(itertools.combinations(range(m), m - t))


def known_sets(pid: int, m: int, t: int) -> list[tuple[int, ...]]:
    """The sets S whose key (hence whose permutation π_S) party ``pid`` receives."""
    return [S for S in shuffle_sets(m, t) if pid in S]


def prg_receivers(sender: int, m: int, t: int) -> list[int]:
    """The t parties after ``sender`` (cyclically) whose shares of its pieces come from the pairwise PRG."""
    return [(sender + k) % m for k in range(1, t + 1)]


# ---- pseudorandomness --------------------------------------------------------------------------------------

def prg_bytes(key: bytes, label: str, nbytes: int) -> bytes:
    """``nbytes`` pseudorandom bytes from ``key``, domain-separated by ``label``: AES-128 in counter mode
    under the key SHA-256(key | label) truncated to 128 bits."""
    return _prg_array(key, label, nbytes).tobytes()


def _prg_array(key: bytes, label: str, nbytes: int) -> np.ndarray:
    """:func:`prg_bytes` as a uint8 array, encrypted into a preallocated buffer (several times faster for
    the megabytes a shuffle or a re-sharing draws)."""
    subkey = hashlib.sha256(key + b"|" + label.encode()).digest()[:16]
    out = np.empty(nbytes + 15, dtype=np.uint8)
    Cipher(algorithms.AES(subkey), modes.CTR(bytes(16))).encryptor().update_into(np.zeros(nbytes, np.uint8), out)
    return out[:nbytes]


def prg_permutation(key: bytes, label: str, n: int) -> np.ndarray:
    """A pseudorandom permutation of range(n) (int32): Fisher-Yates driven by n PRG words of 64 bits."""
    return fieldops.permutation_from_words(_prg_array(key, label, 8 * n).view(np.uint64))


def prg_field(key: bytes, label: str, modulus: int, size: int) -> np.ndarray:
    """``size`` pseudorandom integers modulo ``modulus``.

    Moduli below 2³¹: int64 array, exactly uniform by rejection sampling of 32-bit words masked to the
    modulus' bit length (the stream is extended deterministically in the rare case it runs short).
    Larger moduli: object array reduced from bit_length + 64 PRG bits (bias below 2⁻⁶⁴).
    """
    if _is_small(modulus):
        mask = np.uint32((1 << modulus.bit_length()) - 1)
        draws = size + size * ((1 << modulus.bit_length()) - modulus) // modulus + 64
        out = np.empty(size, dtype=np.int64)
        while True:
            words = _prg_array(key, label, 4 * draws).view(np.uint32)
            if fieldops.take_below(words, mask, modulus, out) == size:
                return out
            draws *= 2
    words = (modulus.bit_length() + 64 + 63) // 64
    raw = _prg_array(key, label, 8 * words * size).view(np.uint64).reshape(size, words)
    value = raw[:, 0].astype(object)
    for w in range(1, words):
        value = (value << 64) | raw[:, w].astype(object)
    return value % modulus


# ---- raw share arrays ------------------------------------------------------------------------------------

def _is_small(modulus: int) -> bool:
    return modulus < 2**31


def raw_shares(field_array) -> np.ndarray:
    """This party's shares of a gathered MPyC field array as a numpy array (int64 for small fields)."""
    value = field_array.value
    return value.astype(np.int64) if _is_small(field_array.field.modulus) else value


def secure_array(sectype, field, shares: np.ndarray):
    """An MPyC secure array of ``sectype`` holding raw ``shares`` of ``field``."""
    return sectype.array(field.array(shares.astype(object), check=False)) if _is_small(field.modulus) \
        else sectype.array(field.array(shares, check=False))


def lagrange_at_zero(xs, modulus: int) -> list[int]:
    """Weights w_i with f(0) = sum_i w_i f(xs[i]) mod ``modulus`` for every polynomial of degree < len(xs)."""
    weights = []
    for i, xi in enumerate(xs):
        num = den = 1
        for j, xj in enumerate(xs):
            if j != i:
                num, den = num * xj % modulus, den * (xj - xi) % modulus
        weights.append(num * pow(den, -1, modulus) % modulus)
    return weights


class RawShares(mpc.SecureObject):
    """This party's raw shares (int64 in [0, p), p < 2³¹) of a secret array, for
    :func:`securegenome.core.open`: each receiver gets the shares of ``degree`` other parties (degree t by
    default; 2t for an unreduced product) as 4-byte words and recombines them in one numba pass.  Opens to
    an int64 array of the same shape; a million values cost milliseconds instead of the seconds of MPyC's
    Python-int field arrays."""

    __slots__ = ("modulus", "degree")

    def __init__(self, share: np.ndarray, modulus: int = SMALL_PRIME, degree: int | None = None):
        if not _is_small(modulus):
            raise ValueError("RawShares holds shares of fields below 2^31")
        super().__init__(np.asarray(share, dtype=np.int64))
        self.modulus = modulus
        self.degree = degree

    @property
    def size(self) -> int:
        return int(self.share.size)

    def _rows(self) -> list:
        """(share array, modulus) pairs that travel together: one here; a residue ring's m (subclass)."""
        return [(self.share, self.modulus)]

    def _value(self, opened: list):
        """The opened value from the recombined arrays of :meth:`_rows`."""
        return opened[0]

    @classmethod
    async def _output(cls, x, receivers, threshold):
        [a] = x
        degree, rows, result = mpc.threshold if a.degree is None else a.degree, a._rows(), None
        words = sum(share.size for share, _ in rows)
        for receiver in receivers:
            points = [receiver] + [pid for pid in range(len(mpc.parties)) if pid != receiver][:degree]
            if len(points) != degree + 1:
                raise ValueError(f"degree-{degree} shares need {degree + 1} parties")
            if mpc.pid in points[1:]:
                mpc._send_message(receiver, b"".join(_marshal(share.reshape(-1), p) for share, p in rows))
            if mpc.pid == receiver:  # folded in one received message at a time: memory n words + one message
                weights = [lagrange_at_zero([pid + 1 for pid in points], p) for _, p in rows]
                opened = [fieldops.scale(share, w[0], p) for (share, p), w in zip(rows, weights)]
                for k, pid in enumerate(points[1:], start=1):
                    received, start = _words(await _received(pid), words), 0
                    for out, (share, p), w in zip(opened, rows, weights):
                        fieldops.axpy(out, received[start:start + share.size], w[k], p)
                        start += share.size
                result = a._value(opened)
        return [result]


def _marshal(value: np.ndarray, modulus: int) -> bytes:
    """Shares as bytes: 4-byte words below 2³¹, 8-byte words below 2⁶⁴, else a framed array (:mod:`.wire`)."""
    if _is_small(modulus):
        return value.astype(np.uint32).tobytes()
    if modulus.bit_length() <= 64:
        return value.astype(np.uint64).tobytes()
    return encode_array(np.asarray(value, dtype=object))


def _words(data: bytes, size: int) -> np.ndarray:
    """The ``size`` 4-byte shares in ``data`` as a uint32 view (shares of fields below 2³¹; no copy)."""
    if len(data) != 4 * size:
        raise WireError(f"expected {size} shares of 4 bytes, got {len(data)} bytes")
    return np.frombuffer(data, dtype=np.uint32)


def _unmarshal(data: bytes, modulus: int, size: int) -> np.ndarray:
    """The ``size`` shares in ``data`` (never unpickled: fixed-width words, or a framed integer array)."""
    if _is_small(modulus):
        return _words(data, size).astype(np.int64)
    if modulus.bit_length() <= 64:
        if len(data) != 8 * size:
            raise WireError(f"expected {size} shares of 8 bytes, got {len(data)} bytes")
        return np.frombuffer(data, dtype=np.uint64).astype(object)
    values = decode_array(data)
    if values.size != size or values.dtype != object:
        raise WireError(f"expected {size} shares")
    return values.reshape(-1)


def _pack_chunks(chunks: list[bytes]) -> bytes:
    """Several share arrays in one message: their number, each one's length, then the bytes."""
    return struct.pack(f"<I{len(chunks)}Q", len(chunks), *map(len, chunks)) + b"".join(chunks)


def _unpack_chunks(data: bytes, count: int) -> list[bytes]:
    """The ``count`` chunks of a message from :func:`_pack_chunks` (a malformed message is refused)."""
    head = struct.calcsize(f"<I{count}Q")
    if len(data) < head or struct.unpack_from("<I", data)[0] != count:
        raise WireError("re-sharing message: wrong number of arrays")
    lengths = struct.unpack_from(f"<{count}Q", data, 4)
    if head + sum(lengths) != len(data):
        raise WireError("re-sharing message: lengths do not add up")
    chunks, start = [], head
    for length in lengths:
        chunks.append(data[start:start + length])
        start += length
    return chunks


async def _received(peer: int) -> bytes:
    """The message from ``peer`` under the current program counter (it may already be here)."""
    data = mpc._receive_message(peer)
    return await data if isinstance(data, Future) else data


# ---- keys ------------------------------------------------------------------------------------------------

@mpc_coro
async def _exchange_keys():
    """Fresh keys: ({S: k_S for the sets S containing me}, {peer: pairwise key}).

    One message per pair i < j, from i to j: their pairwise key plus the keys of the sets S whose first
    member is i and which contain j.  A party only ever receives keys of sets it belongs to.
    """
    await mpc.returnType(Future)
    m, t, me = len(mpc.parties), mpc.threshold, mpc.pid
    sets = shuffle_sets(m, t)
    set_keys = {S: secrets.token_bytes(KEY_BYTES) for S in sets if S[0] == me}
    pair_keys = {}
    for peer in range(me + 1, m):
        pair_keys[peer] = secrets.token_bytes(KEY_BYTES)
        payload = [pair_keys[peer]] + [set_keys[S] for S in sets if S[0] == me and peer in S]
        mpc._send_message(peer, b"".join(payload))
    for peer in range(me):
        data = await _received(peer)
        ours = [S for S in sets if S[0] == peer and me in S]
        if len(data) != KEY_BYTES * (1 + len(ours)):
            raise RuntimeError(f"shuffle key exchange: malformed message from party {peer}")
        keys = [data[k:k + KEY_BYTES] for k in range(0, len(data), KEY_BYTES)]
        pair_keys[peer] = keys[0]
        set_keys.update(zip(ours, keys[1:]))
    return set_keys, pair_keys


class KeyRing:
    """Fresh set and pairwise keys, exchanged once (lazily) and expanded by the PRG for every use.

    Every use takes a new label from a counter that advances identically on all parties, so one exchange
    serves a whole protocol (e.g. all rounds of a sort) with independent pseudorandom keys per use.
    """

    def __init__(self):
        self._keys = None
        self._uses = 0

    async def keys(self):
        if self._keys is None:
            self._keys = await _exchange_keys()
        return self._keys

    def next_label(self, what: str) -> str:
        self._uses += 1
        return f"{what}{self._uses}"


# ---- one re-sharing pass ---------------------------------------------------------------------------------

def _share_piece(piece, modulus, field, pair_keys, label, me, m, t) -> dict[int, np.ndarray]:
    """Degree-t Shamir shares {party: share} of ``piece`` whose shares for prg_receivers(me) are the
    pairwise PRG streams (those parties compute them themselves); the others follow by interpolation."""
    prg = {r: prg_field(pair_keys[r], f"{label}/{me}", modulus, piece.size).reshape(piece.shape)
           for r in prg_receivers(me, m, t)}
    xs = (0, *(r + 1 for r in prg))
    points = [piece, *prg.values()]
    shares = {}
    for j in range(m):
        if j in prg:
            continue
        coefficients = thresha._recombination_vector(field, xs, j + 1)
        if _is_small(modulus):
            shares[j] = fieldops.lincomb(points, coefficients, modulus)
            continue
        share = (points[0] * coefficients[0]) % modulus
        for c, y in zip(coefficients[1:], points[1:]):
            share = (share + y * c) % modulus
        shares[j] = share
    return shares


def _scaled(v: np.ndarray, lam: int, p: int) -> np.ndarray:
    """lam * v mod p: a share turned into an additive piece."""
    return fieldops.scale(v, lam, p) if _is_small(p) else (v * lam) % p


def _added(a: np.ndarray, b: np.ndarray, p: int) -> np.ndarray:
    """(a + b) mod p, into a's memory for small fields (a is this pass's own result array)."""
    return fieldops.add(a, b, p, out=a) if _is_small(p) else (a + b) % p


@mpc_coro
async def _pass(values, fields, S, perm, pair_keys, label):
    """One re-sharing pass for set S over raw share arrays (rows on axis 0, one field each).

    Members of S turn their shares into additive pieces, take their rows in the order ``perm`` (this
    party's π_S or its inverse, as row indices; None: no permutation) and re-share them to all.  Input
    shares may have any degree below |S|.  Returns the new degree-t shares (a Future of a list of raw arrays).
    """
    await mpc.returnType(Future)
    m, t, me = len(mpc.parties), mpc.threshold, mpc.pid
    moduli = [f.modulus for f in fields]
    result = [np.zeros(v.shape, dtype=v.dtype) for v in values]
    if me in S:
        xs = tuple(i + 1 for i in S)
        outgoing = {j: [] for j in range(m) if j != me and j not in prg_receivers(me, m, t)}
        for a, (v, p, field) in enumerate(zip(values, moduli, fields)):
            lam = thresha._recombination_vector(field, xs, 0)[S.index(me)]
            piece = _scaled(v if perm is None else v[perm], lam, p)
            shares = _share_piece(piece, p, field, pair_keys, f"{label}/{a}", me, m, t)
            result[a] = shares.pop(me)
            for j, share in shares.items():
                outgoing[j].append(_marshal(share, p))
        for j, chunks in outgoing.items():
            mpc._send_message(j, _pack_chunks(chunks))
    for i in S:
        if i == me:
            continue
        if me in prg_receivers(i, m, t):
            for a, (v, p) in enumerate(zip(values, moduli)):
                share = prg_field(pair_keys[i], f"{label}/{a}/{i}", p, v.size).reshape(v.shape)
                result[a] = _added(result[a], share, p)
        else:
            chunks = _unpack_chunks(await _received(i), len(values))
            for a, (chunk, v, p) in enumerate(zip(chunks, values, moduli)):
                result[a] = _added(result[a], _unmarshal(chunk, p, v.size).reshape(v.shape), p)
    return result


# ---- shuffles ----------------------------------------------------------------------------------------------

class SecretShuffle:
    """One fresh secret permutation π of n rows; apply it (:meth:`apply`) or undo it (:meth:`undo`).

    π is the composition of the π_S of all sets S of m−t parties, each known to the members of S only.
    Undoing runs the passes in reverse order with π_S⁻¹, so ``undo(apply(x)) == x`` without any opening:
    a protocol can open data in the shuffled frame and carry secret results back.
    """

    def __init__(self, n: int, keyring: KeyRing | None = None):
        self.n = n
        self.keyring = keyring or KeyRing()
        self.label = self.keyring.next_label("shuffle")
        self._uses = 0
        self._perms = {}  # (set, inverse) -> row order: drawn once, reused by every apply/undo

    def _perm(self, S, set_keys, inverse: bool):
        """This party's π_S (or π_S⁻¹) as row indices; None if it is not a member of S."""
        if S not in set_keys:
            return None
        if (S, inverse) not in self._perms:
            if (S, False) not in self._perms:
                key = prg_bytes(set_keys[S], self.label, KEY_BYTES)
                self._perms[S, False] = prg_permutation(key, "perm", self.n)
            if inverse:
                forward = self._perms[S, False]
                backward = np.empty_like(forward)
                backward[forward] = np.arange(self.n, dtype=np.int32)
                self._perms[S, True] = backward
        return self._perms[S, inverse]

    async def apply_raw(self, values: list, fields: list, inverse: bool = False) -> list:
        """Like :meth:`apply` on raw share arrays (see :func:`raw_shares`)."""
        if self.n <= 1 or not values:
            return list(values)
        set_keys, pair_keys = await self.keyring.keys()
        self._uses += 1
        sets = list(enumerate(shuffle_sets(len(mpc.parties), mpc.threshold)))
        for index, S in (reversed(sets) if inverse else sets):
            values = await _pass(values, fields, S, self._perm(S, set_keys, inverse), pair_keys,
                                 f"{self.label}/{self._uses}/{index}")
        return values

    async def _run(self, arrays, inverse):
        for a in arrays:
            if a.ndim not in (1, 2) or a.shape[0] != self.n:
                raise ValueError(f"shuffle needs 1-D or 2-D secure arrays with {self.n} rows")
        fields = [a.sectype.field for a in arrays]
        values = [raw_shares(await mpc.gather(a)) for a in arrays]
        values = await self.apply_raw(values, fields, inverse)
        return [secure_array(a.sectype, field, v) for a, field, v in zip(arrays, fields, values)]

    async def apply(self, arrays: list) -> list:
        """The rows of every array permuted by π (``y = x[π]``); arrays may differ in type and width."""
        return await self._run(arrays, inverse=False)

    async def undo(self, arrays: list) -> list:
        """The rows of every array permuted by π⁻¹ (``y[π] = x``)."""
        return await self._run(arrays, inverse=True)


async def shuffle_together(arrays: list) -> list:
    """Apply ONE fresh secret random permutation to the rows of every secure array in ``arrays``
    (same number of rows; types and widths may differ)."""
    if not arrays:
        return []
    return await SecretShuffle(arrays[0].shape[0]).apply(arrays)


async def shuffle(x):
    """The rows of secure array ``x`` (1-D or 2-D) permuted by a fresh secret uniformly random permutation.

    Same type and shape as ``x``; nothing is opened.  See the module docstring for the protocol.
    """
    [y] = await shuffle_together([x])
    return y


# ---- arithmetic on raw shares of small fields ------------------------------------------------------------

async def multiply(a: np.ndarray, b: np.ndarray, field, keyring: KeyRing) -> np.ndarray:
    """Raw shares of a·b (elementwise) from raw shares of a and b: local product, then one re-sharing
    pass over all parties (degree 2t → t).  One round; per element m−1−t field elements per party."""
    p = field.modulus
    return await reshare_product(fieldops.mul(a, b, p) if _is_small(p) else (a * b) % p, field, keyring)


async def multiply_sum(a: np.ndarray, b: np.ndarray, field, keyring: KeyRing) -> np.ndarray:
    """Raw shares of Σ_k a[k]·b[k] (sum over the first axis): products summed locally, re-shared once."""
    p = field.modulus
    if _is_small(p):
        return await reshare_product(fieldops.dot(a, b, p), field, keyring)
    return await reshare_product(((a * b) % p).sum(axis=0) % p, field, keyring)


async def reshare_product(product: np.ndarray, field, keyring: KeyRing) -> np.ndarray:
    """Degree-t shares of the value under degree-2t raw shares ``product`` (a sum of local products of
    shares, computed by the caller): the one interactive step of :func:`multiply` and :func:`multiply_sum`."""
    [shares] = await reshare_products([product], [field], keyring)
    return shares


async def reshare_products(products: list, fields: list, keyring: KeyRing) -> list:
    """Degree-t shares of several locally computed degree-2t arrays, one per field (``fields[i]`` for
    ``products[i]``), in ONE re-sharing pass: one message per pair of parties for all of them (e.g. the
    residues of a product in :mod:`.residues`)."""
    if mpc.threshold == 0:
        return list(products)
    _, pair_keys = await keyring.keys()
    return await _pass([np.ascontiguousarray(p) for p in products], list(fields), tuple(range(len(mpc.parties))),
                       None, pair_keys, keyring.next_label("mul"))


@mpc_coro
async def _input_raw(values, shape, field, sender, pair_keys, label):
    """Raw degree-t shares of ``values`` (an int array known to ``sender``; None elsewhere)."""
    await mpc.returnType(Future)
    m, t, me = len(mpc.parties), mpc.threshold, mpc.pid
    p = field.modulus
    if me == sender:
        shares = _share_piece(np.asarray(values, dtype=np.int64 if _is_small(p) else object) % p,
                              p, field, pair_keys, label, me, m, t)
        for j, share in shares.items():
            if j != me:
                mpc._send_message(j, _marshal(share, p))
        return shares[me]
    if me in prg_receivers(sender, m, t):
        return prg_field(pair_keys[sender], f"{label}/{sender}", p, int(np.prod(shape))).reshape(shape)
    return _unmarshal(await _received(sender), p, int(np.prod(shape))).reshape(shape)


async def input_raw(values, shape, field, sender: int, keyring: KeyRing) -> np.ndarray:
    """Raw shares of an integer array that party ``sender`` knows (``values``; None on the others)."""
    _, pair_keys = await keyring.keys()
    return await _input_raw(values, shape, field, sender, pair_keys, keyring.next_label("input"))
