"""Stable sorting by secret integer keys: oblivious radix sort with shuffle-and-open (Hamada et al. 2014).

1. Key bits.  Parties 0..t each pick a random mask R_j of bit_length + k bits (k = :data:`MASK_BITS` = 72)
   and secret-share it in the keys' field and its low bits in the small field GF(2³¹−1).  ``keys + ΣR_j``
   is opened (label ``sort.masked_keys``): it hides the keys statistically (distance below 2⁻ᵏ per key) as
   long as one contributor is honest.  A run opens at most 2³² masked keys (checked against its ledger), so
   all of them together are within 2⁻⁴⁰ of key-independent values.  The keys' field must have room for the
   masks: :func:`key_sectype` gives the secure integer type (a field of bit_length + 79 bits).
   The key bits are the bits of the public opened value minus the secret mask bits: t+1 ripple-borrow
   subtractions, t+1 rounds of multiplications per bit position.
2. Radix rounds on digits of DIGIT_BITS bits, least significant first.  The sort keeps ``dest``, the secret
   destination of every element in the order sorted by the digits seen so far; per further digit:
   shuffle (dest, digit bits) by a fresh secret permutation π and open dest∘π (label
   ``shuffle.permutation``: a uniformly random permutation) to lay the digits out in the current order
   (local); stable destinations of those digits from one-hot indicators, prefix counts (local) and one
   inner product; look them up at the opened positions (local) and undo π with the same keys (a reverse
   shuffle, nothing opened).
3. Output: scatter 0..n−1 (argsort) or the rows (sort) by ``dest`` — one more shuffle-and-open; the result
   has the type of the keys (argsort) or of the rows (sort).

All internal arithmetic is on shares of GF(2³¹−1) in int64 numpy (see :mod:`.shuffle`), so n < 2³¹ − 1.
"""

from __future__ import annotations

import secrets

import numpy as np

from ._mpyc import mpc
from .ledger import current_ledger
from .opening import open as open_
from .permutation import apply_inverse_permutation, open_shuffled, placed
from .progress import progress
from . import fieldops
from .shuffle import SMALL_PRIME, KeyRing, SecretShuffle, input_raw, multiply, reshare_product, \
    secure_array

LEAKAGE: dict[str, str] = {
    "shuffle.permutation": "to all parties: sort destinations composed with a fresh secret uniformly random "
                           "shuffle — a uniformly random permutation, independent of the keys",
    "sort.masked_keys": "to all parties: every key plus random masks of bit_length+72 bits from t+1 parties; "
                        "statistically hides the key (distance below 2^-72 per key, below 2^-40 for all the "
                        "at most 2^32 masked keys of a run)",
}

STATISTICAL_SECURITY = 40  #: a run's masked openings together are within statistical distance 2^-40 of
#: values independent of the keys (union bound over at most MAX_MASKED_PER_RUN values of 2^-MASK_BITS each)
MAX_MASKED_PER_RUN = 1 << 32  #: masked keys one run (one ledger) may open; checked before every opening
MASK_BITS = STATISTICAL_SECURITY + 32  #: k: each masked key is within 2^-k of a key-independent value
MAX_THRESHOLD = 62  #: key_sectype leaves room for the sum of up to t + 1 = 63 masks
DIGIT_BITS = 3  # radix digit width: d=1..6 measured at n=16,384 and 10^5 (docs/core.md); 2, 3 fastest
SMALL = mpc.SecFld(SMALL_PRIME)
FIELD = SMALL.field


def _check(keys, bit_length: int, rows=None) -> int:
    if not issubclass(keys.sectype, mpc.SecureInteger) or keys.ndim != 1:
        raise ValueError("sort keys must be a 1-D secure integer array")
    n = keys.shape[0]
    if not 1 <= bit_length <= keys.sectype.bit_length:
        raise ValueError(f"bit_length must be in 1..{keys.sectype.bit_length} for "
                         f"{keys.sectype.__name__} keys")
    if n >= SMALL_PRIME:
        raise ValueError(f"cannot sort {n} elements (at most {SMALL_PRIME - 1})")
    if rows is not None and (rows.ndim not in (1, 2) or rows.shape[0] != n):
        raise ValueError(f"rows need {n} rows (1-D or 2-D), one per key")
    return n


# ---- key bits ----------------------------------------------------------------------------------------------

def mask_room(sectype, bit_length: int) -> int:
    """The mask bits k the field of ``sectype`` leaves for keys of ``bit_length`` bits: the key plus t+1 masks
    of bit_length + k bits stay below the modulus, (t+2)·2^(bit_length+k) <= 2^(bits−1) <= p."""
    p = sectype.field.modulus
    return p.bit_length() - 1 - bit_length - (mpc.threshold + 1).bit_length()  # (t+1).bit_length() = ⌈log2(t+2)⌉


def key_sectype(bit_length: int):
    """The smallest MPyC secure integer type whose field masks keys of ``bit_length`` bits with
    :data:`MASK_BITS` bits for any threshold t <= :data:`MAX_THRESHOLD` -- the type to give sort keys (and
    any values whose bits :func:`key_bits` takes)."""
    needed = bit_length + MASK_BITS + (MAX_THRESHOLD + 1).bit_length() + 1
    b = max(1, needed - mpc.options.sec_param - 2)  # MPyC's SecInt(b) has a prime of b + sec_param + 2 bits
    while mpc.SecInt(b).field.modulus.bit_length() < needed:
        b += 1
    return mpc.SecInt(b)


def _mask_bits(keys, bit_length: int) -> int:
    """:data:`MASK_BITS`, after checking the keys' field has room for it (else a one-line error naming the
    type to use)."""
    room = mask_room(keys.sectype, bit_length)
    if room < MASK_BITS:
        wide = key_sectype(bit_length)
        raise ValueError(f"{keys.sectype.__name__} leaves {room} bits to mask {bit_length}-bit keys, "
                         f"{MASK_BITS} are needed for a run's statistical distance <= 2^-{STATISTICAL_SECURITY}: "
                         f"give the keys the type core.key_sectype({bit_length}) ({wide.__name__})")
    return MASK_BITS


def _check_masking_budget(n: int) -> None:
    """A run opens at most :data:`MAX_MASKED_PER_RUN` masked keys (its ledger counts them): the union bound
    n·2^-k over the run then stays below 2^-STATISTICAL_SECURITY."""
    opened = current_ledger().counts().get("sort.masked_keys", 0)
    if opened + n > MAX_MASKED_PER_RUN:
        raise ValueError(f"a run may open at most {MAX_MASKED_PER_RUN} statistically masked keys "
                         f"({opened} so far, {n} more asked): split the work into several runs")


def _random_mask(n: int, nbits: int) -> np.ndarray:
    """n uniformly random integers of ``nbits`` bits (int64 up to 62 bits, else Python ints)."""
    if nbits <= 62:
        words = np.frombuffer(secrets.token_bytes(8 * n), dtype=np.uint64)
        return (words >> np.uint64(64 - nbits)).astype(np.int64)
    width = (nbits + 63) // 64
    raw = np.frombuffer(secrets.token_bytes(8 * width * n), dtype="<u8").reshape(n, width).astype(object)
    value = raw[:, 0]
    for w in range(1, width):
        value = (value << 64) | raw[:, w]
    return value >> (64 * width - nbits)


def bits_of(values, bit_length: int) -> np.ndarray:
    """Integers → (n, bit_length) int64 0/1 matrix of their low bits, least significant first."""
    values = np.asarray(values)
    if bit_length <= 62:
        low = values.astype(object) % (1 << bit_length) if values.dtype == object else values
        low = np.asarray(low).astype(np.int64) % (1 << bit_length)
        return (low[:, None] >> np.arange(bit_length)) & 1
    values = values.astype(object) % (1 << bit_length)  # wide: 62-bit limbs (a few Python-int operations per
    limbs = []                                          # value instead of one per bit), then int64 bit work
    for start in range(0, bit_length, 62):
        width = min(62, bit_length - start)
        limb = ((values >> start) & ((1 << width) - 1)).astype(np.int64)
        limbs.append((limb[:, None] >> np.arange(width)) & 1)
    return np.concatenate(limbs, axis=1)


async def _subtract_bits(x, ys: list, keyring: KeyRing):
    """Raw shares of the bits of (x − Σ ys) mod 2^l: x public 0/1 matrix, ys secret bit matrices (n × l).

    Ripple borrow per operand; at every bit position the multiplications of all operands that do not
    depend on each other are batched, so a bit position costs len(ys) rounds.
    """
    p = FIELD.modulus
    n, l = x.shape
    out = np.empty((n, l), dtype=np.int64)
    borrows = [np.zeros(n, dtype=np.int64) for _ in ys]
    for i in range(l):
        y = np.stack([ys[j][:, i] for j in range(len(ys))])          # (operands, n)
        yb = (await multiply(y, np.stack(borrows), FIELD, keyring)) if i else np.zeros_like(y)
        u = (y + np.stack(borrows) - 2 * yb) % p                     # y xor borrow
        xi = x[:, i]
        for j in range(len(ys)):
            xu = xi * u[j] % p if j == 0 else await multiply(xi, u[j], FIELD, keyring)
            borrows[j] = (yb[j] + u[j] - xu) % p                     # borrow out of xi - y - borrow
            xi = (xi + u[j] - 2 * xu) % p                            # xi xor u
        out[:, i] = xi
    return out


async def key_bits(keys, bit_length: int, keyring: KeyRing) -> np.ndarray:
    """Raw GF(2³¹−1) shares (n × bit_length, least significant first) of the bits of ``keys``."""
    n = keys.shape[0]
    k = _mask_bits(keys, bit_length)
    _check_masking_budget(n)
    stype = keys.sectype
    masked, mask_bits = keys, []
    for j in range(mpc.threshold + 1):
        mask = _random_mask(n, bit_length + k) if mpc.pid == j else None
        shares = await input_raw(mask, (n,), stype.field, j, keyring)
        masked = masked + secure_array(stype, stype.field, shares)
        low = bits_of(mask, bit_length) if mpc.pid == j else None
        mask_bits.append(await input_raw(low, (n, bit_length), FIELD, j, keyring))
    opened = await open_(masked, what="sort.masked_keys", distance=n * 2.0 ** -k,
                         why=f"keys plus random masks of bit_length+{k} bits from t+1 parties: statistically "
                             "hidden; their public bits minus the secret mask bits give the key bits")
    opened = np.asarray(opened, dtype=object) % stype.field.modulus  # opened signed: back to 0..p−1
    return await _subtract_bits(bits_of(opened, bit_length), mask_bits, keyring)


# ---- radix sort ------------------------------------------------------------------------------------------

async def digit_destinations(digits: np.ndarray, keyring: KeyRing) -> np.ndarray:
    """Raw shares of the stable destinations of secret d-bit digits (n × d bit matrix, least significant
    bit first): element i goes to (number of smaller digits) + (equal digits before i).

    One-hot indicators of the 2^d digit values take d − 1 rounds of multiplications (the first bit is
    local); the destinations Σ_v [digit = v]·(offset_v + count_v(i) − 1) are one inner product, summed
    locally and re-shared once.  Prefix counts and offsets are local.
    """
    p = FIELD.modulus
    n, d = digits.shape
    indicators = [(1 - digits[:, 0]) % p, digits[:, 0]]
    for k in range(1, d):
        bit = digits[:, k]
        products = await multiply(np.stack(indicators), np.broadcast_to(bit, (len(indicators), n)),
                                  FIELD, keyring)
        # values with the new bit 0, then with it 1 (value + 2^k)
        indicators = [(e - prod) % p for e, prod in zip(indicators, products)] + list(products)
    # Σ_v [digit = v]·(smaller digits in total + equal digits among 0..i − 1): local, then re-shared once
    return await reshare_product(fieldops.digit_products(np.stack(indicators), p), FIELD, keyring)


async def radix_destinations(bits, keyring: KeyRing, digit_bits: int = DIGIT_BITS,
                             desc: str | None = None) -> np.ndarray:
    """Raw shares of ``dest``: rows of the secret bit matrix (n × l, least significant first) stably sorted
    by their value sit at positions dest[i].  Digits of ``digit_bits`` bits, one radix round each; with
    ``desc``, a progress bar over the rounds (for sorts long enough to watch).

    ``bits`` is a numpy bit matrix, or a column source with ``rows``, ``width`` and ``bits(lo, hi)``
    returning columns lo..hi−1: each digit is then made only when its round comes (no copy of all key bits)."""
    if isinstance(bits, np.ndarray):
        matrix = bits
        n, width, columns = matrix.shape[0], matrix.shape[1], lambda lo, hi: matrix[:, lo:hi]
    else:
        n, width, columns = bits.rows, bits.width, bits
    dest = await digit_destinations(columns(0, min(digit_bits, width)), keyring)
    starts = range(digit_bits, width, digit_bits)
    rounds = starts if desc is None else progress(starts, total=len(starts), desc=desc, unit="digit")
    for lo in rounds:
        pi = SecretShuffle(n, keyring)
        dest_shuffled, digit_shuffled = await pi.apply_raw([dest, columns(lo, min(lo + digit_bits, width))],
                                                           [FIELD, FIELD])
        q = await open_shuffled(dest_shuffled,
                                why="sort destinations after a fresh secret uniform shuffle are a uniformly "
                                    "random permutation: lay out the next key digit")
        step = await digit_destinations(placed(digit_shuffled, q), keyring)
        [dest] = await pi.apply_raw([step[q]], [FIELD], inverse=True)
    return dest


async def sort_destinations(keys, bit_length: int, digit_bits: int = DIGIT_BITS):
    """Secret ``dest`` (a GF(2³¹−1) secure array): keys stably sorted sit at positions dest[i]."""
    _check(keys, bit_length)
    keyring = KeyRing()
    bits = await key_bits(keys, bit_length, keyring)
    return secure_array(SMALL, FIELD, await radix_destinations(bits, keyring, digit_bits))


async def argsort(keys, bit_length: int):
    """Secret permutation sigma with ``keys[sigma]`` ascending, stable (numpy's argsort(kind="stable")).

    ``keys``: 1-D secure integer array with values in [0, 2**bit_length); sigma has the keys' type.
    """
    n = _check(keys, bit_length)
    iota = keys.sectype.array(np.arange(n))
    if n == 1:
        return iota
    return await apply_inverse_permutation(await sort_destinations(keys, bit_length), iota)


async def sort(rows, keys, bit_length: int):
    """``rows`` (1-D or 2-D secure array, any type) ordered by ``keys`` ascending, stable."""
    n = _check(keys, bit_length, rows)
    if n == 1:
        return rows
    return await apply_inverse_permutation(await sort_destinations(keys, bit_length), rows)


# ---- compaction ------------------------------------------------------------------------------------------

def bit_destinations(bits, ones_first: bool = False):
    """Stable destinations of a secret 0/1 secure array: zeros first (or ones first), order kept within
    each group.  One multiplication (MPyC); prefix sums are local."""
    n = bits.shape[0]
    index = np.arange(n)
    ones_upto = mpc.np_cumsum(bits)                  # ones among 0..i
    ones = ones_upto[n - 1:]                         # shape (1,): broadcasts
    if ones_first:
        # b=1: ones_upto − 1;  b=0: ones + i − ones_upto
        return ones + index - ones_upto + bits * (2 * ones_upto - 1 - ones - index)
    # b=0: i − ones_upto;  b=1: zeros + ones_upto − 1 with zeros = n − ones
    return index - ones_upto + bits * (n - 1 - ones - index + 2 * ones_upto)


async def compact(bits, rows):
    """Stable 1-bit compaction: the rows whose bit is 1 first, then those whose bit is 0, each group in
    its original order.  ``bits``: 1-D secure 0/1 array; ``rows``: 1-D or 2-D with as many rows.
    One multiplication and one shuffle-and-open."""
    if bits.ndim != 1 or rows.ndim not in (1, 2) or rows.shape[0] != bits.shape[0]:
        raise ValueError("compact needs a 1-D bit vector and 1-D or 2-D rows of the same length")
    if bits.shape[0] == 1:
        return rows
    return await apply_inverse_permutation(bit_destinations(bits, ones_first=True), rows)
