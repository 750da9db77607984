"""What travels between parties, and how it is decoded: fixed framing and JSON, never pickle.

Unpickling bytes from a peer runs whatever code the peer chose, so one dishonest (or impersonated) party
would own the others.  Every message securegenome decodes from a peer is therefore one of:

- an integer array in fixed framing (:func:`encode_array` / :func:`decode_array`): a 16-byte header
  (magic, dtype code, element width, number of dimensions) followed by the shape and the elements as
  little-endian machine words, read back with ``numpy.frombuffer``.  Arrays of Python ints (MPyC's field
  arrays) travel as unsigned words of the smallest width that holds the largest value, or as signed
  fixed-width integers when one is negative; they come back as arrays of Python ints;
- raw bytes of a length the receiver knows (keys, small-field shares in :mod:`.shuffle`);
- JSON for public values (:func:`encode_public`): parameters, sizes, group-label sets, error codes.

MPyC's runtime pickles numpy arrays in ``input``/``output``/re-sharing and any object in ``transfer``
(its module-level name ``pickle``).  :func:`install` points that name at this module's :data:`codec`, whose
``dumps``/``loads`` speak the framing above (arrays) and JSON (everything else), so MPyC's own messages
are never unpickled either.  A value that is neither an integer array nor JSON is refused on the *sending*
side (``TypeError``), so nothing unexpected leaves a party.
"""

from __future__ import annotations

import json
import struct
import types

import numpy as np

MAGIC = b"SGA1"  # framed array
JSON_TAG = b"J"
BYTES_TAG = b"B"
_HEADER = struct.Struct("<4sBBxxQ")  # magic, dtype code, element bytes, (pad), ndim
_DTYPES = {1: "<i8", 2: "<u8", 3: "<i4", 4: "<u4", 5: "<u1", 6: "<i2", 7: "<u2", 8: "<i1"}
_CODES = {np.dtype(v).str: k for k, v in _DTYPES.items()}
_OBJECT_UNSIGNED, _OBJECT_SIGNED = 20, 21  # arrays of Python ints, by width
MAX_NDIM = 32


class WireError(ValueError):
    """A peer's message does not follow the framing (data-free: says only what is malformed)."""


def encode_array(a: np.ndarray) -> bytes:
    """An integer (or Python-int object) numpy array in fixed framing."""
    a = np.asarray(a)
    shape = struct.pack(f"<{a.ndim}Q", *a.shape)
    if a.dtype == object:
        flat = a.reshape(-1)
        if flat.size == 0:
            return _HEADER.pack(MAGIC, _OBJECT_UNSIGNED, 8, a.ndim) + shape
        if not all(isinstance(v, (int, np.integer)) for v in flat):
            raise TypeError("only arrays of integers travel between parties")
        low, high = int(min(flat)), int(max(flat))
        if low >= 0 and high < 1 << 64:
            return _HEADER.pack(MAGIC, _OBJECT_UNSIGNED, 8, a.ndim) + shape + flat.astype("<u8").tobytes()
        signed = low < 0
        width = (max(high.bit_length(), (-low).bit_length()) + signed + 7) // 8
        body = b"".join(int(v).to_bytes(width, "little", signed=signed) for v in flat)
        return _HEADER.pack(MAGIC, _OBJECT_SIGNED if signed else _OBJECT_UNSIGNED, width, a.ndim) + shape + body
    code = _CODES.get(a.dtype.newbyteorder("<").str)
    if code is None:
        raise TypeError(f"only integer arrays travel between parties, not {a.dtype}")
    return _HEADER.pack(MAGIC, code, a.dtype.itemsize, a.ndim) + shape + a.astype(_DTYPES[code], copy=False).tobytes()


def decode_array(data: bytes) -> np.ndarray:
    """The array framed by :func:`encode_array`; :class:`WireError` if ``data`` is not such a frame."""
    if len(data) < _HEADER.size:
        raise WireError("short array frame")
    magic, code, width, ndim = _HEADER.unpack_from(data)
    if magic != MAGIC or ndim > MAX_NDIM or width == 0:
        raise WireError("not an array frame")
    start = _HEADER.size + 8 * ndim
    if len(data) < start:
        raise WireError("short array frame")
    shape = struct.unpack_from(f"<{ndim}Q", data, _HEADER.size)
    size = int(np.prod(shape, dtype=object))
    body = memoryview(data)[start:]
    if len(body) != size * width:
        raise WireError("array frame length does not match its shape")
    if code in _DTYPES:
        if np.dtype(_DTYPES[code]).itemsize != width:
            raise WireError("array frame width does not match its type")
        return np.frombuffer(body, dtype=_DTYPES[code]).reshape(shape)
    if code == _OBJECT_UNSIGNED and width == 8:
        return np.frombuffer(body, dtype="<u8").astype(object).reshape(shape)
    if code in (_OBJECT_UNSIGNED, _OBJECT_SIGNED):
        signed = code == _OBJECT_SIGNED
        raw = bytes(body)
        values = [int.from_bytes(raw[i:i + width], "little", signed=signed) for i in range(0, len(raw), width)]
        out = np.empty(size, dtype=object)
        out[:] = values
        return out.reshape(shape)
    raise WireError("unknown array element type")


def encode_public(value) -> bytes:
    """A public value (JSON types: None, bool, int, float, str, lists, dicts with str keys) as JSON bytes.
    Anything else (numpy arrays, field elements, objects) raises ``TypeError`` here, on the sender."""
    return json.dumps(value, allow_nan=True, separators=(",", ":"), default=_scalar).encode()


def _scalar(x):
    """numpy scalars count as the Python numbers they hold (sizes often are numpy ints); nothing else."""
    if isinstance(x, np.generic) and x.dtype.kind in "biuf":
        return x.item()
    raise TypeError(f"a {type(x).__name__} is not a public JSON value")


def decode_public(data: bytes):
    try:
        return json.loads(bytes(data).decode())
    except (UnicodeDecodeError, ValueError):
        raise WireError("malformed public value") from None


def dumps(obj, protocol=None) -> bytes:
    """MPyC's ``pickle.dumps`` replacement: arrays framed, bytes tagged, anything else as JSON."""
    if isinstance(obj, np.ndarray):
        return encode_array(obj)
    if isinstance(obj, (bytes, bytearray)):
        return BYTES_TAG + bytes(obj)
    return JSON_TAG + encode_public(obj)


def loads(data) -> object:
    """MPyC's ``pickle.loads`` replacement: the inverse of :func:`dumps`, never executes anything."""
    data = bytes(data)
    if data[:4] == MAGIC:
        return decode_array(data)
    if data[:1] == BYTES_TAG:
        return data[1:]
    if data[:1] == JSON_TAG:
        return decode_public(data[1:])
    raise WireError("unknown message type")


#: the stand-in for the ``pickle`` module inside MPyC's runtime (see :func:`install`)
codec = types.SimpleNamespace(dumps=dumps, loads=loads, HIGHEST_PROTOCOL=None, __name__="securegenome.wire")


def install() -> None:
    """Make MPyC's runtime use :data:`codec` instead of :mod:`pickle` for its messages (idempotent)."""
    import mpyc.runtime

    mpyc.runtime.pickle = codec


def installed() -> bool:
    """True if MPyC's runtime marshals with :data:`codec` (the start-up check of a party may assert it)."""
    import mpyc.runtime

    return mpyc.runtime.pickle is codec
