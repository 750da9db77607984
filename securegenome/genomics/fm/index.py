"""The secret-shared FM-index of the fm engine (:class:`SecureFMIndex`), built once per run.

Every suffix-array row j holds, in shares, the *h-step key* of suffix x = SA[j]:

    (psi = ISA[x + h] if full else n - x,  full = [x + h <= n],  T[x .. x+h) as 2-bit codes)

least significant first, stored as uint32 (shares are below 2^31).  ISA is one scatter of the row numbers
by SA; every by-position column is gathered into SA order by the same shuffle (one opening of the shuffled
SA, a uniform permutation), ``chunk`` columns at a time so that a build never holds rows x all columns in
flight.  The verification table (packed windows by position, :meth:`SecureFMIndex.window_table`) is
input by the owner on first use.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ...core import mpc
from ...core import KeyRing, SMALL_FIELD as FIELD, SecretShuffle, bits_of, input_raw, open_shuffled, placed
from ...core import params, raw_shares
from ...errors import InputError
from ..alphabet import N_CODE
from ..oracle import suffix_array
from .layout import BASES_PER_WORD, BUILDS, pointer_bits, position_bits

P = FIELD.modulus


def index_codes(codes: np.ndarray) -> np.ndarray:
    """Codes of the indexed text: N read as A (windows with N are filtered out separately)."""
    return np.where(codes >= N_CODE, 0, codes).astype(np.int64)


def chunk_layout(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The key columns of chunks of h bases from the (rows, h) low and high bits of their codes: 2h
    columns, the last base least significant, low before high.  Index rows and queries both use it, so
    their keys compare as the chunks do."""
    out = np.empty((low.shape[0], 2 * low.shape[1]), dtype=low.dtype)
    out[:, 0::2], out[:, 1::2] = low[:, ::-1], high[:, ::-1]
    return out


def _chunk_column(code_bits: np.ndarray, h: int, column: int, rows: int) -> np.ndarray:
    """Key column ``column`` of every text position's chunk: base x + h - 1 - column // 2, bit column % 2
    (zero past the end), matching :func:`chunk_layout`."""
    base, bit = h - 1 - column // 2, column % 2
    out = np.zeros(rows, dtype=np.int64)
    n = code_bits.shape[0]
    if base < n:
        out[:n - base] = code_bits[base:, bit]
    return out


def record_bad(starts, lengths, n: int, offset: int, m: int) -> np.ndarray:
    """Public 0/1 per text position x = 0..n: the window [x - offset, x - offset + m) is not inside one record."""
    x = np.arange(n + 1, dtype=np.int64) - offset
    ends = np.asarray(starts, dtype=np.int64) + np.asarray(lengths, dtype=np.int64)
    record = np.searchsorted(ends, x, side="right")  # record containing x (or len if x >= n)
    ok = (x >= 0) & (record < len(ends))
    ok &= x + m <= np.where(record < len(ends), ends[np.minimum(record, len(ends) - 1)], -1)
    return (~ok).astype(np.int64)


def packed_windows(codes: np.ndarray, words: int, shift: int) -> np.ndarray:
    """Owner: per position x = -shift..n, the window of ``words`` x 10 bases from x packed 3 bits a base
    (2-bit code, N read as A, then an N flag; base i of a word at bits 3i..3i+2); zero outside the text."""
    n = len(codes)
    width = words * BASES_PER_WORD
    triple = np.zeros(shift + n + width, dtype=np.int64)
    triple[shift:shift + n] = index_codes(codes) | ((codes >= N_CODE).astype(np.int64) << 2)
    out = np.zeros((shift + n + 1, words), dtype=np.int64)
    for w in range(words):
        for i in range(BASES_PER_WORD):
            start = w * BASES_PER_WORD + i
            out[:, w] |= triple[start:start + shift + n + 1] << (3 * i)
    return out


@dataclass
class SecureFMIndex:
    """This party's shares of the FM-index of the reference, in suffix-array order (n + 1 rows).

    ``keys``: the h-step keys (uint32 shares of bits, least significant first); ``sa``: SA[j]; ``nflag``:
    1 at N, by position.  Public: ``records`` (names, lengths), ``step`` h, ``chunk`` (columns moved per
    shuffle), ``digit_bits`` (radix digits of the merges).  Build with :meth:`build` inside a protocol.
    """

    records: list
    step: int
    keys: np.ndarray
    sa: np.ndarray
    nflag: np.ndarray
    keyring: KeyRing
    chunk: int
    reference_party: int
    shuffle: SecretShuffle  # the build's shuffle: gathers by-position columns into SA order
    opened: np.ndarray  # its opened shuffled SA
    codes: np.ndarray | None = None  # the owner's own text (None elsewhere), for the verification table
    build_seconds: float = 0.0
    tables: dict = field(default_factory=dict)
    digit_bits: int = 3  #: radix digit width of every merge on this index (from the memory plan)

    @property
    def n(self) -> int:
        return int(sum(length for _, length in self.records))

    @property
    def rows(self) -> int:
        return self.n + 1

    @property
    def pointer_bits(self) -> int:
        return pointer_bits(self.rows, self.step)

    @property
    def position_bits(self) -> int:
        return position_bits(self.n)

    @property
    def record_lengths(self) -> list[int]:
        return [length for _, length in self.records]

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.record_lengths)[:-1]]).astype(np.int64)

    async def to_sa_order(self, columns: np.ndarray) -> np.ndarray:
        """By-position columns (rows x c) gathered into SA order, ``chunk`` columns per shuffle."""
        out = np.empty(columns.shape, dtype=np.int64)
        for lo in range(0, columns.shape[1], self.chunk):
            [out[:, lo:lo + self.chunk]] = await self.shuffle.apply_raw([columns[self.opened, lo:lo + self.chunk]],
                                                                        [FIELD], inverse=True)
        return out

    async def window_table(self, words: int, shift: int) -> np.ndarray:
        """Shares (uint32) of the packed windows of ``words`` words at positions -shift..n (input once)."""
        key = (words, shift)
        if key not in self.tables:
            values = packed_windows(self.codes, words, shift) if self.codes is not None else None
            shares = await input_raw(values, (self.rows + shift, words), FIELD, self.reference_party, self.keyring)
            self.tables[key] = shares.astype(np.uint32)
        return self.tables[key]

    @classmethod
    async def build(cls, records, record_meta, *, reference_party: int, step: int, build: str = "owner",
                    chunk: int = 8, digit_bits: int = 3):
        """Build the index from the owner's ``records`` ((name, codes, quality); None elsewhere).

        ``record_meta`` is the public (name, length) list.  ``build="secure"`` computes the suffix array
        with the secure BWT construction on the shared text; ``"owner"`` lets the owner compute it.
        """
        if build not in BUILDS:
            raise InputError(f"--fm-build must be one of {', '.join(BUILDS)} (got {build!r})")
        started = time.perf_counter()
        keyring = KeyRing()
        n = int(sum(length for _, length in record_meta))
        rows, owner = n + 1, mpc.pid == reference_party
        codes = np.concatenate([c for _, c, _ in records]).astype(np.int64) if owner else None
        text = index_codes(codes) if owner else None
        nflag = await input_raw((codes >= N_CODE).astype(np.int64) if owner else None, (n,), FIELD,
                                reference_party, keyring)
        plain_sa = suffix_array(text) if owner and build == "owner" else None
        sa = await _shared_suffix_array(text, plain_sa, n, reference_party, build, keyring)
        pb = pointer_bits(rows, step)

        pi = SecretShuffle(rows, keyring)
        [sa_shuffled] = await pi.apply_raw([sa], [FIELD])
        q = await open_shuffled(sa_shuffled,
                                why="the suffix array after a fresh secret uniform shuffle is uniformly random: "
                                    "scatter ISA to text positions and gather the index rows into SA order")
        index = cls(list(record_meta), step, np.empty((rows, pb + 1 + 2 * step), dtype=np.uint32), sa, nflag,
                    keyring, chunk, reference_party, pi, q, codes.astype(np.uint8) if owner else None,
                    digit_bits=digit_bits)
        if build == "owner":
            await index._input_owner_keys(text, plain_sa)
        else:
            await index._gather_keys(await input_raw(bits_of(text, 2) if owner else None, (n, 2), FIELD,
                                                     reference_party, keyring))
        index.build_seconds = time.perf_counter() - started
        return index

    async def _input_owner_keys(self, text, sa) -> None:
        """build="owner": the owner, who knows SA, computes the keys in SA order and secret-shares them,
        ``chunk`` columns at a time (one input each; no shuffle needed: the others receive only shares)."""
        make = _owner_key_columns(text, sa, self.step, self.pointer_bits) if text is not None else None
        width, owner = self.keys.shape[1], self.reference_party
        others = [pid for pid in range(len(mpc.parties)) if pid != owner]
        for lo in range(0, width, self.chunk):
            hi = min(lo + self.chunk, width)
            shares = await input_raw(make(lo, hi) if make else None, (self.rows, hi - lo), FIELD, owner,
                                     self.keyring)
            self.keys[:, lo:hi] = shares
            # flow control: the owner goes on when the others have its chunk; sending never waits, so
            # without this every chunk's message sat in its send buffer at once (2.2 GB at 2.5 Mbp, h = 100)
            if others:
                await params.exchange_public(lo, senders=others, receivers=[owner])

    async def _gather_keys(self, code_bits: np.ndarray) -> None:
        """build="secure": the keys from shares of the text's code bits, gathered into SA order through
        the index's shuffle (ISA by a scatter of row numbers)."""
        n, rows, step, pb, chunk = self.n, self.rows, self.step, self.pointer_bits, self.chunk
        x = np.arange(rows, dtype=np.int64)
        full = x + step <= n
        for lo in range(0, pb, chunk):  # psi: the bits of ISA[x + h] (a scatter of row bits), or n - x
            hi = min(lo + chunk, pb)
            [row_bits] = await self.shuffle.apply_raw([(x[:, None] >> np.arange(lo, hi)) & 1], [FIELD])
            isa_bits = placed(row_bits, self.opened)
            psi = (np.maximum(n - x, 0)[:, None] >> np.arange(lo, hi)) & 1
            psi[full] = isa_bits[x[full] + step]
            self.keys[:, lo:hi] = await self.to_sa_order(psi)
        self.keys[:, pb:pb + 1] = await self.to_sa_order(full.astype(np.int64)[:, None])
        for lo in range(0, 2 * step, chunk):
            hi = min(lo + chunk, 2 * step)
            columns = np.stack([_chunk_column(code_bits, step, c, rows) for c in range(lo, hi)], axis=1)
            self.keys[:, pb + 1 + lo:pb + 1 + hi] = await self.to_sa_order(columns)


def _owner_key_columns(text: np.ndarray, sa: np.ndarray, step: int, pb: int):
    """Owner: ``make(lo, hi)``, key columns lo..hi-1 of every row in SA order -- the same values the
    secure gather computes: psi's pb bits (ISA[x + h] if the suffix x has h bases, else n - x), the
    ``full`` bit, then the chunk's 2h code bits in :func:`chunk_layout` order (zero past the end)."""
    n, rows = len(text), len(text) + 1
    isa = np.empty(rows, dtype=np.int64)
    isa[sa] = np.arange(rows)
    full = sa + step <= n
    psi = np.where(full, isa[np.minimum(sa + step, n)], n - sa)
    padded = np.concatenate([text, np.zeros(step, dtype=np.int64)])

    def column(c: int) -> np.ndarray:
        if c < pb:
            return (psi >> c) & 1
        if c == pb:
            return full.astype(np.int64)
        base, bit = step - 1 - (c - pb - 1) // 2, (c - pb - 1) % 2
        return np.where(sa + base < n, (padded[np.minimum(sa + base, n + step - 1)] >> bit) & 1, 0)

    return lambda lo, hi: np.stack([column(c) for c in range(lo, hi)], axis=1)


async def _shared_suffix_array(text, plain_sa, n: int, reference_party: int, build: str,
                               keyring: KeyRing) -> np.ndarray:
    """Raw GF(2^31-1) shares of the suffix array of the indexed text (n + 1 entries): input by the owner
    (``plain_sa``, None elsewhere) or computed by the secure BWT construction."""
    if build == "owner":
        return await input_raw(plain_sa, (n + 1,), FIELD, reference_party, keyring)
    from ..bwt import bwt_sectype, secure_suffix_array_bwt

    stype = bwt_sectype(n)
    shared = mpc.input(stype.array(text if text is not None else np.zeros(n, dtype=np.int64)),
                       senders=reference_party)
    result = await secure_suffix_array_bwt(shared)
    return raw_shares(await mpc.gather(result.sa))
