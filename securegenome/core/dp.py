"""Differential privacy inside the MPC: integer noise nobody knows, and a privacy budget.

A value opened from shares can still reveal an individual; :func:`dp_open` adds noise *in shares* before
opening, so the published number carries a differential-privacy guarantee and no party ever sees the noise.

How the noise stays unknown to every coalition of up to ``t`` parties (``t`` = MPyC threshold): parties
``0..t`` each draw a full-strength noise vector locally from a cryptographic source, secret-share it, and
the shares are summed.  Any coalition of at most ``t`` parties misses at least one contributor, so what it
does not know is at least one complete noise vector of the calibrated distribution; everything else it
knows or sees is post-processing.  The price is ``t + 1`` times the noise variance (2x for 3 parties); the
benefit is that every contribution is an *exact* discrete distribution drawn with integer arithmetic only
(no floating point, so no Mironov-style attack), see ``docs/privacy.md``.

Samplers (per party, vectorised with numpy over bytes from :func:`secrets.token_bytes`):

- discrete Laplace (two-sided geometric), ``P(z) ∝ exp(-|z|/scale)``: the difference of two geometric
  variables, each built from its binary digits, which are *independent* Bernoulli variables with
  ``P(bit k = 1) = a^(2^k) / (1 + a^(2^k))``, ``a = exp(-1/scale)``; each bit compares a uniform 192-bit
  integer with that probability rounded down to 192 bits (16 bits at a time, lazily);
- discrete Gaussian, ``P(z) ∝ exp(-z²/(2σ²))``: Canonne-Kamath-Steinke rejection from the discrete Laplace
  with scale ``floor(σ)+1``, acceptance decided the same way on 192-bit integers.

Bits that could only be 1 with probability below 2^-192 are fixed to 0 (a truncation of the tail); the
total-variation distance to the exact distribution is below 2^-180 per value, accounted in
:data:`NUMERIC_DELTA_PER_VALUE` (far below any δ a user would choose).

The discrete Gaussian is calibrated through zero-concentrated DP: ``ρ = Δ²/(2σ²)`` and
``ε = ρ + 2·sqrt(ρ·ln(1/δ))`` (Bun-Steinke 2016).  The accountant (:class:`PrivacyAccountant`) accepts a
release if the whole sequence fits the dataset's budget by basic composition (ε's and δ's add up) or, with a
budget δ > 0, by zCDP composition (ρ's add up; a pure ε-DP release costs ε²/2).
"""

from __future__ import annotations

import argparse
import math
import numbers
import secrets
from dataclasses import asdict, dataclass
from decimal import ROUND_FLOOR, Context, Decimal, localcontext
from functools import lru_cache

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from ..errors import BudgetExceeded, InputError
from ._mpyc import mpc
from .ledger import current_ledger
from .opening import open as _open

MECHANISMS = ("discrete_laplace", "discrete_gaussian", "laplace")
"""``laplace`` is the fixed-point variant: discrete Laplace noise on the fixed-point grid 2^-f."""

LEAKAGE: dict[str, str] = {}
""":func:`dp_open` opens under the label its caller gives; the caller's module documents it (noisy value)."""

PRECISION_BITS = 192  # every Bernoulli probability is realised exactly as an integer / 2^192
NUMERIC_DELTA_PER_VALUE = 2.0 ** -180
"""Bound on the total-variation distance between one sampled noise value and the exact distribution."""

MAX_SCALE = 2.0 ** 52  # geometric draws stay below 2^60: far inside int64 (fixed point needs big scales)

_DECIMAL = Context(prec=100)  # ~330 bits: enough to round the probabilities to 192 bits correctly


# ---------------------------------------------------------------------------------------------------------
# privacy budget

@dataclass(frozen=True)
class Spend:
    """One charged release; ``rho`` is its zero-concentrated DP cost when known."""

    what: str
    epsilon: float
    delta: float
    rho: float | None = None

    @property
    def zcdp_cost(self) -> float | None:
        """ρ of this release: given, or ε²/2 for pure ε-DP (Bun-Steinke 2016, Prop. 1.4), else unknown."""
        if self.rho is not None:
            return self.rho
        return self.epsilon ** 2 / 2 if self.delta == 0 else None


def zcdp_epsilon(rho: float, delta: float) -> float:
    """ε of the (ε, δ)-DP guarantee implied by ρ-zCDP: ρ + 2 sqrt(ρ ln(1/δ)) (Bun-Steinke 2016)."""
    return rho + 2 * math.sqrt(rho * math.log(1 / delta))


class PrivacyAccountant:
    """The privacy budget (ε, δ) of one dataset over a session.

    Two composition theorems hold for every sequence of releases at once, and a release is accepted if
    the sequence with it fits the budget by either:

    - basic sequential composition: the ε's add up and the δ's add up;
    - zero-concentrated DP (only with a budget δ > 0): the ρ's add up, where a pure ε-DP release costs
      ε²/2 and a discrete Gaussian release its ρ = Δ²/(2σ²), and ρ-zCDP gives
      (ρ + 2·sqrt(ρ·ln(1/δ)), δ)-DP.  This is the tighter one for many small releases (iterations).

    ``spent_epsilon``/``spent_delta`` report the better guarantee that fits (the basic one if none does).
    ``spend`` charges a release *before* anything is opened and raises :class:`BudgetExceeded` if it does
    not fit (then nothing is charged).  A relative tolerance of 1e-9 absorbs float rounding when a budget is
    split into parts (ε/3 three times fits ε).

    Inside a protocol every party charges its own accountant and they stay identical, because every
    party makes the same calls.  With party *processes* those are copies of the caller's object (the
    protocol's arguments are pickled), so a caller that keeps one accountant over several runs should
    :meth:`check` before a run (refusing in the caller, before any party starts) and :meth:`absorb` the
    run's ledger after it (charging what the copies spent; releases this very object was charged for, as
    in 1-party in-process runs, are not charged twice).
    """

    TOLERANCE = 1e-9

    def __init__(self, epsilon: float, delta: float = 0.0, dataset: str = "data"):
        if not epsilon > 0 or not math.isfinite(epsilon):
            raise InputError(f"privacy budget epsilon must be a positive number, not {epsilon!r}")
        if not 0 <= delta < 1:
            raise InputError(f"privacy budget delta must be in [0, 1), not {delta!r}")
        self.epsilon = float(epsilon)
        self.delta = float(delta)
        self.dataset = dataset
        self.history: list[Spend] = []
        self._charged: list[tuple[object, int]] = []  # (ledger, index) of releases already charged here

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_charged"] = []  # a copy in another process has its own ledgers
        return state

    def _guarantees(self, spends) -> list[tuple[float, float]]:
        """The (ε, δ) guarantees of a sequence of releases that fit the δ budget, best ε first; the basic
        one is always included (last if it does not fit)."""
        slack = 1 + self.TOLERANCE
        basic = (math.fsum(s.epsilon for s in spends), math.fsum(s.delta for s in spends))
        fitting = [basic] if basic[1] <= self.delta * slack + 1e-300 else []
        costs = [s.zcdp_cost for s in spends]
        if self.delta > 0 and spends and None not in costs:
            fitting.append((zcdp_epsilon(math.fsum(costs), self.delta), self.delta))
        return sorted(fitting) or [basic]

    @property
    def spent_epsilon(self) -> float:
        return self._guarantees(self.history)[0][0]

    @property
    def spent_delta(self) -> float:
        return self._guarantees(self.history)[0][1]

    @property
    def remaining(self) -> float:
        """ε still available."""
        return max(0.0, self.epsilon - self.spent_epsilon)

    @property
    def remaining_delta(self) -> float:
        """δ still available (under basic composition)."""
        return max(0.0, self.delta - math.fsum(s.delta for s in self.history))

    def check(self, epsilon: float, delta: float = 0.0, what: str = "", rho: float | None = None) -> None:
        """Raise :class:`BudgetExceeded` if a release of (ε, δ) (and ρ) would not fit; charges nothing."""
        self._fits(Spend(what, epsilon, delta, rho))

    def _fits(self, release: Spend) -> None:
        eps, delta, rho = release.epsilon, release.delta, release.rho
        if (not _is_number(eps) or eps < 0 or not _is_number(delta) or not 0 <= delta < 1
                or (rho is not None and not (_is_number(rho) and rho >= 0))):
            raise InputError(f"cannot charge epsilon={eps!r}, delta={delta!r}, rho={rho!r} "
                             f"for {release.what or 'a release'}")
        eps_after, delta_after = self._guarantees([*self.history, release])[0]
        slack = 1 + self.TOLERANCE
        if eps_after > self.epsilon * slack or delta_after > self.delta * slack + 1e-300:
            raise BudgetExceeded(
                f"privacy budget of dataset '{self.dataset}' exceeded: releasing "
                f"'{release.what or 'a value'}' needs epsilon={eps:g}, delta={delta:g} but only "
                f"epsilon={self.remaining:g}, delta={self.remaining_delta:g} remain of "
                f"epsilon={self.epsilon:g}, delta={self.delta:g}; nothing was opened")

    def spend(self, epsilon: float, delta: float = 0.0, what: str = "", rho: float | None = None) -> Spend:
        """Charge a release of (ε, δ) labelled ``what`` (``rho``: its zCDP cost, for Gaussian noise);
        raise :class:`BudgetExceeded` if it does not fit."""
        record = Spend(what, float(epsilon), float(delta), None if rho is None else float(rho))
        self._fits(record)
        self.history.append(record)
        return record

    def absorb(self, results) -> list[Spend]:
        """Charge the differentially private releases of a finished run (its ``PartyResult`` list, one
        result, or a ``Ledger``) that this object was not charged for yet; returns the new charges.

        The releases already happened, so they are recorded even beyond the budget (``remaining`` then
        shows 0 and every further :meth:`spend` is refused).  The ledger has no ρ: releases with δ > 0
        are absorbed under basic composition only.
        """
        ledger = results
        if isinstance(results, (list, tuple)):
            ledger = results[0]
        ledger = getattr(ledger, "ledger", ledger)
        new = []
        for index, release in enumerate(ledger):
            if release.epsilon is None or any(led is ledger and i == index for led, i in self._charged):
                continue
            record = Spend(release.what, float(release.epsilon), float(release.delta or 0.0))
            self.history.append(record)
            self._charged.append((ledger, index))
            new.append(record)
        return new

    def to_dict(self) -> dict:
        return {"dataset": self.dataset, "epsilon": self.epsilon, "delta": self.delta,
                "spent_epsilon": self.spent_epsilon, "spent_delta": self.spent_delta,
                "releases": [asdict(s) for s in self.history]}

    def __repr__(self):
        return (f"PrivacyAccountant(dataset={self.dataset!r}, epsilon={self.epsilon:g}, delta={self.delta:g}, "
                f"spent_epsilon={self.spent_epsilon:g}, spent_delta={self.spent_delta:g})")


# ---------------------------------------------------------------------------------------------------------
# calibration (public arithmetic, no secrets)

def laplace_scale(sensitivity: float, epsilon: float) -> float:
    """Scale of the discrete Laplace giving ε-DP for ℓ1-sensitivity ``sensitivity``: Δ/ε."""
    _check_positive(sensitivity=sensitivity, epsilon=epsilon)
    return sensitivity / epsilon


def gaussian_rho(epsilon: float, delta: float) -> float:
    """The largest ρ whose zCDP guarantee implies (ε, δ)-DP via ε = ρ + 2 sqrt(ρ ln(1/δ))."""
    _check_positive(epsilon=epsilon)
    if not 0 < delta < 1:
        raise InputError(f"the discrete Gaussian needs 0 < delta < 1, not delta={delta!r}")
    log_inv_delta = math.log(1 / delta)
    return (math.sqrt(log_inv_delta + epsilon) - math.sqrt(log_inv_delta)) ** 2


def gaussian_sigma(sensitivity: float, epsilon: float, delta: float) -> float:
    """σ of the discrete Gaussian giving (ε, δ)-DP for ℓ2-sensitivity Δ: Δ²/(2σ²) = gaussian_rho(ε, δ)."""
    _check_positive(sensitivity=sensitivity)
    return sensitivity / math.sqrt(2 * gaussian_rho(epsilon, delta))


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _check_positive(**values):
    for name, v in values.items():
        if not (_is_number(v) and v > 0):
            raise InputError(f"{name} must be a positive number, not {v!r}")


# ---------------------------------------------------------------------------------------------------------
# local exact samplers (one party's contribution)

_CHUNKS = (16, 64, 64, 48)  # bits of the 192-bit comparison, most significant first


def _uniform_bits(n: int, width: int) -> np.ndarray:
    """n uniform integers of ``width`` bits (16, or up to 64) from the OS CSPRNG (uint16 / uint64)."""
    if width == 16:
        return np.frombuffer(secrets.token_bytes(2 * n), dtype="<u2")
    words = np.frombuffer(secrets.token_bytes(8 * n), dtype="<u8")
    return words >> np.uint64(64 - width) if width < 64 else words


def _bernoulli(table: list[int], index: np.ndarray) -> np.ndarray:
    """Independent bits, bit i with P(1) = table[index[i]] / 2^192 exactly.

    Compares a uniform 192-bit integer U with the probability, most significant chunk first: 16 bits for
    all entries, then further chunks only for the entries still tied (2^-16 of them), so U < prob costs
    about 2 random bytes per bit.  Entries tied to the end have U = prob: not less, so 0.
    """
    def digits(shift, width, entries):
        """The probabilities' bits shift..shift+width for the given entries (one number if all alike)."""
        mask = (1 << width) - 1
        if len(table) == 1:
            return np.uint64((table[0] >> shift) & mask)
        return np.array([(p >> shift) & mask for p in table], dtype=np.uint64)[index[entries]]

    shift = PRECISION_BITS - _CHUNKS[0]
    everyone = slice(None)
    u = _uniform_bits(index.size, _CHUNKS[0])
    digit = digits(shift, _CHUNKS[0], everyone)
    bits = u < digit
    undecided = np.flatnonzero(u == digit)
    for width in _CHUNKS[1:]:
        if not undecided.size:
            break
        shift -= width
        u = _uniform_bits(undecided.size, width)
        digit = digits(shift, width, undecided)
        bits[undecided[u < digit]] = True
        undecided = undecided[u == digit]
    return bits


def _bernoulli_const(prob: int, n: int) -> np.ndarray:
    """n independent bits with P(1) = prob / 2^192."""
    return _bernoulli([prob], np.zeros(n, dtype=np.intp))


def _to_fixed(p: Decimal) -> int:
    """floor(p * 2^192) for 0 <= p <= 1 (1 itself becomes 1 - 2^-192, so the top word fits 64 bits)."""
    return min(int(_DECIMAL.multiply(p, 1 << PRECISION_BITS).to_integral_value(rounding=ROUND_FLOOR)),
               (1 << PRECISION_BITS) - 1)


@lru_cache(maxsize=256)
def _geometric_bit_probabilities(scale: float) -> tuple[int, ...]:
    """P(bit k = 1) * 2^192 for the binary digits of a geometric variable P(g) ∝ exp(-g/scale).

    P(g) ∝ a^g = prod_k (a^(2^k))^(bit_k): a product over digits, so the digits are independent with
    P(bit_k = 1) = a^(2^k) / (1 + a^(2^k)).  Digits whose probability rounds to 0 end the list.
    """
    probs = []
    with localcontext(_DECIMAL):  # every operation below at 100 digits (Decimal(float) itself is exact)
        inv_scale = 1 / Decimal(scale)
        k = 0
        while True:
            power = (-inv_scale * (1 << k)).exp()  # a^(2^k)
            p = _to_fixed(power / (1 + power))
            if p == 0:
                return tuple(probs)
            probs.append(p)
            k += 1


def sample_geometric(scale: float, n: int) -> np.ndarray:
    """n draws of P(g) = (1 - a) a^g, g >= 0, a = exp(-1/scale) (tail beyond 2^K cut at probability < 2^-191)."""
    g = np.zeros(n, dtype=np.int64)
    for k, p in enumerate(_geometric_bit_probabilities(float(scale))):
        np.add(g, 1 << k, out=g, where=_bernoulli_const(p, n))
    return g


def sample_discrete_laplace(scale: float, n: int) -> np.ndarray:
    """n draws of the discrete Laplace (two-sided geometric) P(z) = (1-a)/(1+a) a^|z|, a = exp(-1/scale)."""
    _check_scale(scale)
    return sample_geometric(scale, n) - sample_geometric(scale, n)


def discrete_laplace_bound(scale: float) -> int:
    """Largest |z| the discrete Laplace sampler can return."""
    return (1 << len(_geometric_bit_probabilities(float(scale)))) - 1


@lru_cache(maxsize=1 << 16)
def _gaussian_accept(sigma: float, y: int) -> int:
    """2^192 * exp(-(|y| - σ²/t)² / (2σ²)) with t = floor(σ) + 1 (CKS 2020, Algorithm 3)."""
    t = math.floor(sigma) + 1
    with localcontext(_DECIMAL):
        s2 = Decimal(sigma) ** 2
        d = abs(y) - s2 / t
        return _to_fixed((-(d * d) / (2 * s2)).exp())


def sample_discrete_gaussian(sigma: float, n: int) -> np.ndarray:
    """n draws of P(z) ∝ exp(-z²/(2σ²)): discrete Laplace proposals with scale floor(σ)+1, accepted w.p.
    exp(-(|y| - σ²/t)²/(2σ²)) (Canonne, Kamath, Steinke 2020), on exact 192-bit comparisons."""
    _check_scale(sigma, name="sigma")
    t = math.floor(sigma) + 1
    out = np.zeros(n, dtype=np.int64)
    todo = np.arange(n)
    while todo.size:
        y = sample_discrete_laplace(t, todo.size)
        magnitudes, index = np.unique(np.abs(y), return_inverse=True)
        table = [_gaussian_accept(float(sigma), int(v)) for v in magnitudes]
        accept = _bernoulli(table, index.reshape(-1))
        out[todo[accept]] = y[accept]
        todo = todo[~accept]
    return out


def discrete_gaussian_bound(sigma: float) -> int:
    """Largest |z| the discrete Gaussian sampler can return."""
    return discrete_laplace_bound(math.floor(sigma) + 1)


def _check_scale(scale, name="scale"):
    if not (_is_number(scale) and 0 < scale <= MAX_SCALE):
        raise InputError(f"noise {name} must be in (0, {MAX_SCALE:g}], not {scale!r}")


# ---------------------------------------------------------------------------------------------------------
# noise in shares

def noise_contributors() -> list[int]:
    """Parties that each add a full noise vector: 0..t, so every coalition of <= t parties misses one."""
    return list(range(mpc.threshold + 1))


async def _shared_noise(sectype, shape, sampler, bound: int):
    """Sum of one locally sampled noise array per contributor (parties 0..t), as a secure array."""
    total, _ = await _noise_and_contribution(sectype, shape, sampler, bound)
    return total


async def _noise_and_contribution(sectype, shape, sampler, bound: int):
    """(secure total noise, this party's own contribution as int64 array or None if not a contributor)."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    size = math.prod(shape)
    contributors = noise_contributors()
    _check_headroom(sectype, len(contributors) * bound)
    mine = sampler(size).reshape(shape) if mpc.pid in contributors else None
    field = sectype.field
    if len(mpc.parties) == 1:
        shares = mine.reshape(-1).astype(object) % field.order
    else:
        shares = await _share_sum(field.order, None if mine is None else mine.reshape(-1), size, contributors)
    total = sectype.array(field.array(shares.reshape(shape), check=False), **_fxp(sectype))  # reduced mod p
    return total, mine


def prf_partners(pid: int, m: int, t: int) -> list[int]:
    """The t parties whose Shamir shares of party pid's input come from a key pid gives them: pid+1..pid+t."""
    return [(pid + i) % m for i in range(1, t + 1)]


async def _share_sum(p: int, mine, size: int, contributors: list[int]) -> np.ndarray:
    """This party's Shamir share (degree t, points pid+1, MPyC's convention) of the sum of the contributors'
    local integer vectors.

    Like ``mpc.input`` followed by a sum, with two savings: contributor j derives the shares of its t
    :func:`prf_partners` from a fresh ChaCha20 key that it sends them (32 bytes instead of n values), and
    interpolates the other parties' shares through those t points and the secret at 0 — a uniformly random
    degree-t polynomial with the secret as constant term, as in ``mpc.input``, whose coalition-of-t view is
    at most t points of it.  Randomness is bulk CSPRNG output, not one system call per value.
    """
    m, t, me = len(mpc.parties), mpc.threshold, mpc.pid
    total = np.zeros(size, dtype=object)
    outgoing = {}
    if me in contributors:
        partners = prf_partners(me, m, t)
        keys = {k: secrets.token_bytes(32) for k in partners}
        known = {k + 1: _field_stream(keys[k], size, p) for k in partners}  # f(x) at the partners' points
        secret = mine.astype(object)  # small signed integers; reduced with the shares
        for other in range(m):
            if other in partners:
                outgoing[other] = keys[other]
            elif other == me:
                total += _interpolate(secret, known, other + 1, p)  # reduced once, at the end
            else:
                outgoing[other] = _pack(_interpolate(secret, known, other + 1, p) % p, p)
    # one transfer per receiver, all under way at once: every party makes the same calls in the same order
    pending = []
    for receiver in range(m):
        arcs = [(j, receiver) for j in contributors if j != receiver]
        pending.append(mpc.transfer(outgoing.get(receiver), sender_receivers=arcs))
    for receiver, future in enumerate(pending):
        received = await future
        if receiver == me:
            for item in received:
                total += _field_stream(item, size, p) if isinstance(item, bytes) else item.astype(object)
    return total % p


def _pack(share: np.ndarray, p: int) -> np.ndarray:
    """Field elements as machine words when they fit (8 bytes each in the framing of :mod:`.wire`), else as
    they are (Python ints, framed at their width)."""
    return share.astype(np.uint64) if p.bit_length() <= 64 else share


def _field_stream(key: bytes, n: int, p: int) -> np.ndarray:
    """n uniform elements of Z_p from a ChaCha20 key stream: exact rejection sampling, deterministic in key."""
    stream = Cipher(algorithms.ChaCha20(key, bytes(16)), None).encryptor()
    bits = p.bit_length()
    words = (bits + 63) // 64
    top = np.uint64(64 * words - bits)  # unused high bits of the most significant word
    parts, have = [], 0
    while have < n:
        batch = 2 * (n - have) + 64  # p >= 2^(bits-1): each candidate is accepted with probability > 1/2
        w = np.frombuffer(stream.update(bytes(8 * words * batch)), dtype="<u8").reshape(batch, words)
        candidates = w[:, words - 1] >> top
        if words == 1:
            accepted = candidates[candidates < np.uint64(p)].astype(object)
        else:
            candidates = candidates.astype(object)
            for k in range(words - 2, -1, -1):
                candidates = (candidates << 64) | w[:, k].astype(object)
            accepted = candidates[(candidates < p).astype(bool)]
        parts.append(accepted[:n - have])
        have += parts[-1].size
    return np.concatenate(parts) if parts else np.zeros(0, dtype=object)


def _interpolate(secret: np.ndarray, known: dict[int, np.ndarray], x: int, p: int) -> np.ndarray:
    """f(x), up to a multiple of p, for the degree-t polynomial with f(0) = secret and f(x_k) = known[x_k]."""
    points = {0: secret, **known}
    result = None
    for xi, yi in points.items():
        num = den = 1
        for xj in points:
            if xj != xi:
                num = num * (x - xj) % p
                den = den * (xi - xj) % p
        term = yi * (num * pow(den, -1, p) % p)
        if result is None:
            result = term
        else:
            result += term
    return result


def _fxp(sectype) -> dict:
    return {"integral": False} if getattr(sectype, "frac_length", 0) else {}


def _check_headroom(sectype, noise_bound: int):
    """Values of sectype (|x| < 2^(l-1)) plus noise must stay below p/2, or they would wrap silently."""
    limit = int(sectype.field.order) // 2
    if (1 << (sectype.bit_length - 1)) + noise_bound >= limit:
        raise InputError(f"noise up to {noise_bound} does not fit the field of {sectype.__name__}; "
                         f"use a secure type with more bits")


async def discrete_laplace_noise(sectype, shape, scale: float):
    """Secure integer array of shape ``shape``: discrete Laplace noise P(z) ∝ exp(-|z|/scale) in shares.

    It is the sum of ``t + 1`` independent draws, one from each of parties 0..t, so every coalition of at
    most t parties misses at least one full discrete Laplace(scale) draw.  With 1 party it is one exact
    draw.  For a fixed-point ``sectype`` the values are on its grid (integer units of 2^-f).
    """
    _check_scale(scale)
    return await _shared_noise(sectype, shape, lambda n: sample_discrete_laplace(scale, n),
                               discrete_laplace_bound(scale))


async def discrete_gaussian_noise(sectype, shape, sigma: float):
    """Secure integer array: discrete Gaussian noise P(z) ∝ exp(-z²/(2σ²)), one draw per party 0..t."""
    _check_scale(sigma, name="sigma")
    return await _shared_noise(sectype, shape, lambda n: sample_discrete_gaussian(sigma, n),
                               discrete_gaussian_bound(sigma))


# ---------------------------------------------------------------------------------------------------------
# the public entry point

async def dp_open(x, *, sensitivity: float, epsilon: float, delta: float = 0.0,
                  mechanism: str = "discrete_laplace", to=None, what: str, why: str,
                  accountant: PrivacyAccountant | None = None):
    """Open secure ``x`` with differential privacy: charge the budget, add noise in shares, open.

    - ``x``: a secure integer array or value (``discrete_laplace``/``discrete_gaussian``), or a secure
      fixed-point array or value (``laplace``: discrete Laplace on the fixed-point grid 2^-f).
    - ``sensitivity``: how much the whole of ``x`` can change when one individual's data changes —
      ℓ1 norm for the Laplace mechanisms, ℓ2 norm for the Gaussian; in the units of ``x`` (real units
      for fixed point; it must cover the rounding of the fixed-point computation too).
    - ``epsilon``, ``delta``: the guarantee of this release (δ must be 0 for Laplace, > 0 for Gaussian).
    - ``accountant``: charged first; if the release does not fit, :class:`BudgetExceeded` is raised and
      nothing is opened.
    The release is recorded in the ledger under ``what`` with its ε and δ.  Receivers get the noisy
    values (ints, or floats for fixed point), the other parties ``None``.  Every party must call it with
    the same public arguments (include ε, δ in the protocol's :func:`securegenome.core.agree`).
    """
    if mechanism not in MECHANISMS:
        raise InputError(f"unknown DP mechanism {mechanism!r}; choose one of {', '.join(MECHANISMS)}")
    _check_positive(sensitivity=sensitivity, epsilon=epsilon)
    sectype = x.sectype if isinstance(x, mpc.SecureArray) else type(x)
    is_fxp = bool(getattr(sectype, "frac_length", 0))
    if is_fxp != (mechanism == "laplace"):
        kind = "fixed-point" if is_fxp else "integer"
        raise InputError(f"mechanism {mechanism!r} does not apply to a secure {kind} value; use "
                         + ("'laplace'" if is_fxp else "'discrete_laplace' or 'discrete_gaussian'"))
    if mechanism == "discrete_gaussian":
        sigma = gaussian_sigma(sensitivity, epsilon, delta)
        detail = (f"discrete Gaussian sigma={sigma:.6g}, rho={gaussian_rho(epsilon, delta):.6g}, "
                  f"l2-sensitivity={sensitivity:g}")
    else:
        if delta != 0:
            raise InputError(f"the Laplace mechanisms are pure epsilon-DP: use delta=0, not {delta!r}")
        grid = 1 << sectype.frac_length if is_fxp else 1
        scale = laplace_scale(sensitivity * grid, epsilon)
        detail = (f"discrete Laplace scale={scale:.6g}" + (f" grid units of 2^-{sectype.frac_length}"
                                                            if is_fxp else "")
                  + f", l1-sensitivity={sensitivity:g}")
    if accountant is not None:
        accountant.spend(epsilon, delta, what,
                         rho=gaussian_rho(epsilon, delta) if mechanism == "discrete_gaussian" else None)
        ledger = current_ledger()
        accountant._charged.append((ledger, len(ledger)))  # the index core.open is about to record at
        detail += (f"; dataset '{accountant.dataset}' has spent epsilon={accountant.spent_epsilon:g} "
                   f"of {accountant.epsilon:g}")

    scalar = not isinstance(x, mpc.SecureArray)
    if scalar:
        x = mpc.np_fromlist([x])
    if mechanism == "discrete_gaussian":
        noise = await discrete_gaussian_noise(sectype, x.shape, sigma)
    else:
        noise = await discrete_laplace_noise(sectype, x.shape, scale)
    y = await _open(x + noise, to=to, what=what, epsilon=epsilon, delta=delta,
                    why=f"{why} [{detail}, epsilon={epsilon:g}, delta={delta:g}]")
    if scalar and y is not None:
        y = y[0].item() if hasattr(y[0], "item") else y[0]
    return y


# ---------------------------------------------------------------------------------------------------------
# command-line options

def add_dp_options(parser: argparse.ArgumentParser, *, default_epsilon: float | None = None,
                   default_delta: float = 0.0, what: str = "the published aggregates") -> None:
    """Add --epsilon / --delta to a command that publishes aggregates (an argument group "privacy")."""
    g = parser.add_argument_group(
        "differential privacy",
        f"Noise drawn inside the MPC (no party knows it) is added to {what}\n"
        "before they are opened; the command's total budget is split over its releases (docs/privacy.md).")
    g.add_argument("--epsilon", type=float, default=default_epsilon, metavar="EPS",
                   help="total privacy budget epsilon of this run (> 0; smaller = more private, noisier)"
                   + ("" if default_epsilon is None else f"; default {default_epsilon:g}")
                   + ("; without it the values are opened exactly" if default_epsilon is None else ""))
    g.add_argument("--delta", type=float, default=default_delta, metavar="DELTA",
                   help=f"total delta of this run, in [0, 1) (default {default_delta:g}; > 0 only for the "
                        "Gaussian mechanism)")


def accountant_from_args(args, dataset: str = "data") -> PrivacyAccountant | None:
    """The run's accountant from --epsilon/--delta, or None when --epsilon was not given."""
    if getattr(args, "epsilon", None) is None:
        if getattr(args, "delta", 0.0):
            raise InputError("--delta needs --epsilon")
        return None
    if not args.epsilon > 0 or not math.isfinite(args.epsilon):
        raise InputError(f"--epsilon must be a positive number, not {args.epsilon:g}")
    if not 0 <= args.delta < 1:
        raise InputError(f"--delta must be in [0, 1), not {args.delta:g}")
    return PrivacyAccountant(args.epsilon, args.delta, dataset=dataset)
