"""Differential privacy in the core: exact noise distributions, calibration (OpenDP as oracle), the budget,
the ledger, and noise that no coalition of t parties knows.

Statistical tests use a significance level of 1e-4 (a correct sampler fails one such test once in 10,000
runs) and each has a twin showing that the same test rejects a slightly wrong distribution.
"""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from securegenome import core
from securegenome.core import dp, mpc
from securegenome.errors import BudgetExceeded, InputError

ALPHA = 1e-4


# --- exact probability mass functions and the chi-square test -------------------------------------------

def laplace_pmf(scale, support):
    a = math.exp(-1 / scale)
    return (1 - a) / (1 + a) * a ** np.abs(support)


def gaussian_pmf(sigma, support):
    wide = np.arange(-int(60 * sigma) - 60, int(60 * sigma) + 61)
    norm = np.exp(-wide.astype(float) ** 2 / (2 * sigma ** 2)).sum()
    return np.exp(-np.asarray(support, dtype=float) ** 2 / (2 * sigma ** 2)) / norm


def sum_of_laplaces_pmf(scale, copies, support):
    """PMF of the sum of ``copies`` independent discrete Laplace(scale) draws, on ``support``."""
    half = int(80 * scale) + 40
    base = laplace_pmf(scale, np.arange(-half, half + 1))
    pmf = base
    for _ in range(copies - 1):
        pmf = np.convolve(pmf, base)
    index = np.asarray(support) + (len(pmf) - 1) // 2
    inside = (index >= 0) & (index < len(pmf))
    return np.where(inside, pmf[np.clip(index, 0, len(pmf) - 1)], 0.0)


def chi_square_p(samples, pmf):
    """p-value of the chi-square goodness-of-fit test of integer samples against pmf(support)."""
    samples = np.asarray(samples, dtype=np.int64)
    n = samples.size
    lo, hi = samples.min(), samples.max()
    support = np.arange(lo - 5, hi + 6)
    expected = n * pmf(support)
    # central bins with expected count >= 5; everything else pooled into the two tails
    keep = np.flatnonzero(expected >= 5)
    first, last = support[keep[0]], support[keep[-1]]
    observed = [np.count_nonzero(samples < first)]
    expect = [n * pmf(np.arange(first - 10_000, first)).sum()]
    counts = np.bincount(samples[(samples >= first) & (samples <= last)] - first, minlength=last - first + 1)
    observed += list(counts)
    expect += list(n * pmf(np.arange(first, last + 1)))
    observed.append(np.count_nonzero(samples > last))
    expect.append(n * pmf(np.arange(last + 1, last + 10_001)).sum())
    observed, expect = np.array(observed, float), np.array(expect, float)
    expect *= observed.sum() / expect.sum()
    return stats.chisquare(observed, expect).pvalue


# --- local samplers: exact distributions ------------------------------------------------------------------

@pytest.mark.parametrize("scale", [0.3, 1.0, 4.5])
def test_discrete_laplace_sampler_matches_pmf(scale):
    z = dp.sample_discrete_laplace(scale, 200_000)
    assert chi_square_p(z, lambda s: laplace_pmf(scale, s)) > ALPHA
    assert chi_square_p(z, lambda s: laplace_pmf(scale * 1.05, s)) < ALPHA  # the test has teeth


@pytest.mark.parametrize("sigma", [0.7, 2.5, 6.0])
def test_discrete_gaussian_sampler_matches_pmf(sigma):
    z = dp.sample_discrete_gaussian(sigma, 100_000)
    assert chi_square_p(z, lambda s: gaussian_pmf(sigma, s)) > ALPHA
    assert chi_square_p(z, lambda s: gaussian_pmf(sigma * 1.05, s)) < ALPHA


def test_geometric_digit_probabilities_multiply_to_the_geometric_pmf():
    """P(g) = prod_k P(bit_k(g)) equals (1-a) a^g, from the 192-bit integer probabilities."""
    scale = 2.0
    probs = [p / 2 ** dp.PRECISION_BITS for p in dp._geometric_bit_probabilities(scale)]
    a = math.exp(-1 / scale)
    for g in [0, 1, 2, 3, 7, 10, 31, 100]:
        p = math.prod(q if g >> k & 1 else 1 - q for k, q in enumerate(probs))
        assert p == pytest.approx((1 - a) * a ** g, rel=1e-12)
    assert dp.discrete_laplace_bound(scale) == 2 ** len(probs) - 1
    assert a ** (2 ** len(probs)) < 2.0 ** -190  # the cut tail is negligible


def test_probabilities_are_exact_to_192_bits():
    """The integer probabilities are floor(p * 2^192) of the true p (checked at 300 digits independently)."""
    from decimal import Context

    ctx = Context(prec=300)
    for scale in [0.37, 3.0, 1234.5]:
        a = ctx.exp(ctx.divide(-1, ctx.create_decimal(scale)))
        for k, got in enumerate(dp._geometric_bit_probabilities(scale)):
            power = ctx.power(a, 2 ** k)
            exact = ctx.multiply(ctx.divide(power, ctx.add(1, power)), 2 ** 192)
            assert abs(got - exact) <= 1
    for sigma, y in [(0.5, 0), (2.5, 3), (40.0, 77)]:
        s2 = ctx.power(ctx.create_decimal(sigma), 2)
        d = ctx.subtract(y, ctx.divide(s2, int(sigma) + 1))
        exact = ctx.multiply(ctx.exp(ctx.divide(ctx.minus(ctx.multiply(d, d)), ctx.multiply(2, s2))), 2 ** 192)
        assert abs(dp._gaussian_accept(sigma, y) - exact) <= 1


def test_bernoulli_decides_ties_of_the_top_chunk_on_the_lower_bits(monkeypatch):
    """The 2^-16 path: a top chunk equal to the probability's must be decided by the lower 176 bits."""
    p = (5 << 176) + (1 << 175)  # top 16 bits 5, the rest exactly half of 2^176
    real = dp._uniform_bits

    def forced(top):
        return lambda n, width: np.full(n, top, dtype=np.uint64) if width == 16 else real(n, width)
    monkeypatch.setattr(dp, "_uniform_bits", forced(5))
    assert 0.45 < dp._bernoulli_const(p, 4000).mean() < 0.55
    half = dp._bernoulli([0, p, 2 ** 192 - 1], np.repeat([0, 1, 2], 4000))  # per-entry probabilities
    assert not half[:4000].any() and 0.45 < half[4000:8000].mean() < 0.55 and half[8000:].all()
    monkeypatch.setattr(dp, "_uniform_bits", forced(4))
    assert dp._bernoulli_const(p, 10).all()
    monkeypatch.setattr(dp, "_uniform_bits", forced(6))
    assert not dp._bernoulli_const(p, 10).any()
    monkeypatch.setattr(dp, "_uniform_bits", lambda n, width: np.full(n, (p >> 176) if width == 16 else 0,
                                                                      dtype=np.uint64))
    assert not dp._bernoulli_const(p >> 176 << 176, 10).any()  # U == prob exactly: not below it


def test_field_stream_is_uniform_deterministic_and_below_p():
    p = mpc.SecInt(32).field.order
    a, b = dp._field_stream(b"k" * 32, 50_000, p), dp._field_stream(b"k" * 32, 50_000, p)
    assert list(a) == list(b) and all(0 <= v < p for v in a)
    buckets = np.bincount([v * 16 // p for v in a], minlength=16)
    assert stats.chisquare(buckets).pvalue > ALPHA
    big = mpc.SecFxp(128).field.order  # a multi-word prime
    c = dp._field_stream(b"j" * 32, 20_000, big)
    assert all(0 <= v < big for v in c) and max(c) > big // 2


def test_samplers_use_the_operating_system_csprng(monkeypatch):
    calls = []
    import secrets as secrets_module
    real = secrets_module.token_bytes
    monkeypatch.setattr(dp.secrets, "token_bytes", lambda n: calls.append(n) or real(n))
    import random

    def forbidden(*args, **kwargs):
        raise AssertionError("a non-cryptographic generator was used")
    for name in ["random", "getrandbits", "randrange", "randint", "choice", "shuffle"]:
        monkeypatch.setattr(random, name, forbidden)
    for name in ["default_rng", "random", "randint", "integers", "geometric", "laplace", "normal"]:
        if hasattr(np.random, name):
            monkeypatch.setattr(np.random, name, forbidden)
    dp.sample_discrete_laplace(3.0, 10)
    dp.sample_discrete_gaussian(2.0, 10)
    assert calls and calls[0] == 20  # 10 draws x one 16-bit chunk for the first digit


def test_bad_scales_are_refused():
    for bad in [0, -1.0, float("nan"), float("inf"), 2.0 ** 53, True]:
        with pytest.raises(InputError):
            dp.sample_discrete_laplace(bad, 3)


# --- calibration against OpenDP ---------------------------------------------------------------------------

opendp = pytest.importorskip("opendp.prelude")
opendp.enable_features("contrib")


@pytest.mark.parametrize("sensitivity,epsilon", [(1, 1.0), (1, 0.1), (3, 0.5), (10, 2.0), (2, 0.01)])
def test_laplace_scale_matches_opendp(sensitivity, epsilon):
    scale = dp.laplace_scale(sensitivity, epsilon)
    meas = opendp.m.make_laplace(opendp.atom_domain(T=int), opendp.absolute_distance(T=int), scale=scale)
    assert meas.map(sensitivity) == pytest.approx(epsilon, rel=1e-9)
    found = opendp.binary_search_param(
        lambda s: opendp.m.make_laplace(opendp.atom_domain(T=int), opendp.absolute_distance(T=int), scale=s),
        d_in=sensitivity, d_out=epsilon)
    assert found == pytest.approx(scale, rel=1e-6)


@pytest.mark.parametrize("sensitivity,epsilon,delta", [(1, 1.0, 1e-6), (4, 0.5, 1e-9), (1, 3.0, 1e-5)])
def test_gaussian_sigma_matches_opendp_zcdp(sensitivity, epsilon, delta):
    sigma = dp.gaussian_sigma(sensitivity, epsilon, delta)
    meas = opendp.m.make_gaussian(opendp.atom_domain(T=int), opendp.absolute_distance(T=int), scale=sigma)
    rho = meas.map(sensitivity)
    assert rho == pytest.approx(dp.gaussian_rho(epsilon, delta), rel=1e-9)
    assert rho + 2 * math.sqrt(rho * math.log(1 / delta)) == pytest.approx(epsilon, rel=1e-9)
    # OpenDP's own zCDP -> approximate-DP conversion (tighter) must give at most our epsilon
    approx = opendp.c.make_zCDP_to_approxDP(meas)
    assert approx.map(sensitivity).epsilon(delta) <= epsilon * (1 + 1e-9)


# --- the accountant -----------------------------------------------------------------------------------------

def test_accountant_composes_and_refuses():
    acc = dp.PrivacyAccountant(1.0, 1e-6, dataset="cohort")
    for _ in range(3):
        acc.spend(1 / 3, what="third")  # float rounding of the split must not be refused
    assert acc.remaining == pytest.approx(0, abs=1e-12)
    with pytest.raises(BudgetExceeded, match=r"dataset 'cohort' exceeded: releasing 'more' needs epsilon=0.1"):
        acc.spend(0.1, what="more")
    assert len(acc.history) == 3
    acc2 = dp.PrivacyAccountant(5.0, 1e-6)
    acc2.spend(1.0, 6e-7, "a")
    with pytest.raises(BudgetExceeded, match="delta"):
        acc2.spend(1.0, 6e-7, "b")
    assert acc2.remaining == pytest.approx(4.0) and acc2.remaining_delta == pytest.approx(4e-7)
    assert acc2.to_dict()["releases"] == [{"what": "a", "epsilon": 1.0, "delta": 6e-7, "rho": None}]


def count_accepted(acc, **release):
    count = 0
    with pytest.raises(BudgetExceeded):
        while count < 10_000:
            acc.spend(**release)
            count += 1
    return count


def test_accountant_uses_zcdp_when_it_is_tighter():
    # 0.05-DP releases under (2, 1e-6): basic composition allows 40; zCDP, rho = k * 0.05^2 / 2 with
    # rho + 2 sqrt(rho ln 1e6) <= 2, allows more
    log_inv = math.log(1e6)
    rho_max = (math.sqrt(log_inv + 2) - math.sqrt(log_inv)) ** 2
    acc = dp.PrivacyAccountant(2.0, 1e-6)
    assert count_accepted(acc, epsilon=0.05) == math.floor(rho_max / (0.05 ** 2 / 2)) > 40
    assert acc.spent_delta == 1e-6 and acc.spent_epsilon <= 2.0
    # without a delta budget only basic composition applies
    assert count_accepted(dp.PrivacyAccountant(2.0), epsilon=0.05) == 40
    # discrete Gaussian releases compose their rho
    rho = dp.gaussian_rho(0.3, 1e-7)
    acc = dp.PrivacyAccountant(1.0, 1e-5)
    log_inv = math.log(1e5)
    expected = math.floor((math.sqrt(log_inv + 1) - math.sqrt(log_inv)) ** 2 / rho)
    assert count_accepted(acc, epsilon=0.3, delta=1e-7, rho=rho) == expected > 3
    # the same releases absorbed from a ledger (which has no rho) compose only basically
    ledger = core.Ledger([core.Release("g", "test", (0,), 1, 0.3, 1e-7)] * 5)
    absorbed = dp.PrivacyAccountant(1.0, 1e-5)
    absorbed.absorb(ledger)
    assert absorbed.spent_epsilon == pytest.approx(1.5) and absorbed.remaining == 0


async def one_release(acc):
    x = mpc.SecInt(16).array(np.array([4, 5]))
    return list(await core.dp_open(x, sensitivity=1, epsilon=0.25, what="pair", why="test", accountant=acc))


def test_absorb_does_not_charge_twice_in_process(run1):
    acc = dp.PrivacyAccountant(1.0)
    results = run1(one_release, kwargs={"acc": acc})  # in-process: this very object was charged
    assert acc.spent_epsilon == 0.25
    assert acc.absorb(results) == [] and acc.spent_epsilon == 0.25
    other = dp.PrivacyAccountant(1.0)
    assert [s.what for s in other.absorb(results[0].ledger)] == ["pair"]


@given(budget=st.floats(0.01, 10), delta_budget=st.sampled_from([0.0, 1e-6, 1e-3]),
       requests=st.lists(st.tuples(st.floats(0, 3) | st.floats(0, 0.1), st.sampled_from([0.0, 0.0, 1e-7, 1e-4])),
                         max_size=60))
def test_accountant_accepts_exactly_what_one_composition_theorem_allows(budget, delta_budget, requests):
    acc = dp.PrivacyAccountant(budget, delta_budget)
    accepted = []
    for eps, delta in requests:
        trial = accepted + [(eps, delta)]
        epsilons, deltas = [e for e, _ in trial], [d for _, d in trial]
        basic = (math.fsum(epsilons) <= budget * (1 + 1e-9)
                 and math.fsum(deltas) <= delta_budget * (1 + 1e-9) + 1e-300)
        rho = math.fsum(e * e / 2 for e in epsilons)
        zcdp = (delta_budget > 0 and not any(deltas)
                and rho + 2 * math.sqrt(rho * math.log(1 / delta_budget)) <= budget * (1 + 1e-9))
        try:
            acc.spend(eps, delta)
            accepted.append((eps, delta))
            assert basic or zcdp
        except BudgetExceeded:
            assert not (basic or zcdp)
    assert acc.spent_epsilon <= budget * (1 + 1e-9) and acc.spent_delta <= delta_budget * (1 + 1e-9)
    assert [(s.epsilon, s.delta) for s in acc.history] == accepted


@pytest.mark.parametrize("eps,delta", [(0, 0), (-1, 0), (float("inf"), 0), (1, 1), (1, -0.1)])
def test_accountant_rejects_bad_budgets(eps, delta):
    with pytest.raises(InputError):
        dp.PrivacyAccountant(eps, delta)


# --- dp_open in the MPC, 1 party ------------------------------------------------------------------------

async def noisy_zeros(n, scale, mechanism="discrete_laplace", delta=0.0, epsilon=1.0):
    """Open n zeros with DP noise: the result is the noise itself."""
    secint = mpc.SecInt(32)
    x = secint.array(np.zeros(n, dtype=np.int64))
    sensitivity = scale * epsilon if mechanism == "discrete_laplace" else 1
    return await core.dp_open(x, sensitivity=sensitivity, epsilon=epsilon, delta=delta, mechanism=mechanism,
                              what="noise", why="test of the noise distribution")


async def counts_with_budget(values, epsilon_each, budget):
    """Publish the same counts repeatedly until the budget refuses; report what happened."""
    acc = dp.PrivacyAccountant(budget, dataset="counts")
    secint = mpc.SecInt(32)
    x = secint.array(np.array(values))
    published = []
    try:
        while True:
            published.append(list(await core.dp_open(x, sensitivity=1, epsilon=epsilon_each, accountant=acc,
                                                     what="counts", why="per-group counts")))
    except BudgetExceeded as exc:
        return published, str(exc), acc.spent_epsilon


async def fixed_point_release(values, sensitivity, epsilon):
    secfxp = mpc.SecFxp(32, 8)
    x = secfxp.array(np.array(values, dtype=float))
    return await core.dp_open(x, sensitivity=sensitivity, epsilon=epsilon, mechanism="laplace",
                              what="means", why="fixed-point means")


async def scalar_release(value):
    secint = mpc.SecInt(16)
    return await core.dp_open(secint(value), sensitivity=1, epsilon=0.5, what="count", why="one count")


def test_dp_open_noise_is_discrete_laplace_one_party(run1):
    [result] = run1(noisy_zeros, kwargs={"n": 30_000, "scale": 2.0})
    assert chi_square_p(result.value, lambda s: laplace_pmf(2.0, s)) > ALPHA
    [release] = result.ledger.releases
    assert (release.what, release.count, release.epsilon, release.delta) == ("noise", 30_000, 1.0, 0.0)
    assert "discrete Laplace scale=2" in release.why


def test_dp_open_gaussian_one_party(run1):
    sigma = dp.gaussian_sigma(1, 1.0, 1e-6)
    [result] = run1(noisy_zeros, kwargs={"n": 20_000, "scale": None, "mechanism": "discrete_gaussian",
                                         "delta": 1e-6})
    assert chi_square_p(result.value, lambda s: gaussian_pmf(sigma, s)) > ALPHA
    [release] = result.ledger.releases
    assert (release.epsilon, release.delta) == (1.0, 1e-6)


def test_budget_refuses_and_nothing_is_opened(run1):
    [result] = run1(counts_with_budget, kwargs={"values": [3, 0, 12], "epsilon_each": 0.4, "budget": 1.0})
    published, message, spent = result.value
    assert len(published) == 2 and spent == pytest.approx(0.8)
    assert "releasing 'counts' needs epsilon=0.4" in message and "nothing was opened" in message
    assert [(r.what, r.count, r.epsilon) for r in result.ledger] == [("counts", 3, 0.4)] * 2


def test_fixed_point_laplace_stays_on_the_grid(run1):
    [result] = run1(fixed_point_release, kwargs={"values": [0.0] * 20_000, "sensitivity": 0.25,
                                                 "epsilon": 1.0})
    grid = np.asarray(result.value) * 2 ** 8
    assert np.array_equal(grid, np.round(grid))  # discrete noise on the 2^-8 grid: no float artefacts
    assert chi_square_p(grid.astype(np.int64), lambda s: laplace_pmf(0.25 * 2 ** 8, s)) > ALPHA


def test_scalar_value(run1):
    [result] = run1(scalar_release, kwargs={"value": 7})
    assert isinstance(result.value, int)
    assert result.ledger.releases[0].count == 1


@pytest.mark.parametrize("kwargs,message", [
    ({"mechanism": "laplace"}, "does not apply to a secure integer"),
    ({"mechanism": "gauss"}, "unknown DP mechanism"),
    ({"delta": 0.1}, "pure epsilon-DP"),
    ({"mechanism": "discrete_gaussian"}, "needs 0 < delta"),
    ({"epsilon": 0}, "epsilon must be a positive number"),
    ({"sensitivity": -1}, "sensitivity must be a positive number"),
])
def test_dp_open_refuses_bad_arguments_before_opening(run1, kwargs, message):
    with pytest.raises(InputError, match=message):
        run1(bad_release, kwargs={"options": kwargs})


async def bad_release(options):
    x = mpc.SecInt(16).array(np.array([1, 2]))
    args = {"sensitivity": 1, "epsilon": 1.0, "what": "x", "why": "y", **options}
    try:
        return await core.dp_open(x, **args)
    finally:
        assert len(core.current_ledger()) == 0


def test_noise_that_does_not_fit_the_field_is_refused(run1):
    with pytest.raises(InputError, match="does not fit the field"):
        run1(huge_noise)


async def huge_noise():
    return await dp.discrete_laplace_noise(mpc.SecInt(8), 3, 2.0 ** 39)


# --- collusion: who contributes ----------------------------------------------------------------------

@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 6, 7])
def test_every_coalition_of_t_misses_a_contributor(m):
    t = (m - 1) // 2
    contributors = set(range(t + 1))  # dp.noise_contributors() with threshold t
    for size in range(t + 1):
        for coalition in itertools.combinations(range(m), size):
            assert contributors - set(coalition), f"coalition {coalition} knows all the noise"


# --- 3 real processes -------------------------------------------------------------------------------------

async def noise_and_contributions(n, scale):
    """Each party returns its own noise contribution and the opened total noise (test-only opening)."""
    secint = mpc.SecInt(32)
    assert dp.noise_contributors() == list(range(mpc.threshold + 1))
    total, mine = await dp._noise_and_contribution(secint, n, lambda k: dp.sample_discrete_laplace(scale, k),
                                                   dp.discrete_laplace_bound(scale))
    opened = await core.open(total, what="noise", why="test only: the noise itself")
    return (None if mine is None else mine.tolist()), [int(v) for v in opened]


def test_three_parties_noise_distribution_and_collusion(run3):
    scale, n = 1.5, 6000
    results = run3(noise_and_contributions, kwargs={"n": n, "scale": scale})
    (own0, total), (own1, total1), (own2, total2) = [r.value for r in results]
    assert total == total1 == total2
    assert own2 is None  # party 2 contributes nothing; parties 0 and 1 each a full draw (t = 1)
    own0, own1, total = np.array(own0), np.array(own1), np.array(total)
    assert np.array_equal(own0 + own1, total)
    # what party 0 (a coalition of t = 1) does not know is exactly party 1's draw: a full Laplace(scale)
    for unknown in (total - own0, total - own1):
        assert chi_square_p(unknown, lambda s: laplace_pmf(scale, s)) > ALPHA
    # the released noise is the sum of t + 1 = 2 independent draws
    assert chi_square_p(total, lambda s: sum_of_laplaces_pmf(scale, 2, s)) > ALPHA
    assert chi_square_p(total, lambda s: laplace_pmf(scale, s)) < ALPHA


async def releases(values, means, acc):
    """An integer release to party 0 under a budget (the second is refused), then fixed-point to party 1."""
    x = mpc.SecInt(32).array(np.array(values))
    counts = await core.dp_open(x, sensitivity=1, epsilon=0.7, to=0, what="counts", why="counts to party 0",
                                accountant=acc)
    try:
        await core.dp_open(x, sensitivity=1, epsilon=0.7, to=0, what="counts", why="again", accountant=acc)
    except BudgetExceeded:
        pass
    secfxp = mpc.SecFxp(32, 8)
    y = mpc.input(secfxp.array(np.array(means, dtype=float)), senders=0)
    noisy_means = await core.dp_open(y, sensitivity=0.5, epsilon=2.0, mechanism="laplace", to=1, what="means",
                                     why="fixed-point means to party 1")
    return (None if counts is None else [int(v) for v in counts],
            None if noisy_means is None else [float(v) for v in noisy_means])


def test_three_parties_dp_open_ledger_budget_and_fixed_point(run3):
    counts, means = [100, 200, 300], [1.5, -2.25, 100.0, 0.0]
    acc = dp.PrivacyAccountant(1.0, dataset="cohort")
    zeros = {"means": [0.0] * 4}
    results = run3(releases, kwargs={"values": counts, "acc": acc}, private={0: {"means": means}, 1: zeros, 2: zeros})
    (c0, m0), (c1, m1), (c2, m2) = [r.value for r in results]
    assert c1 is c2 is None and m0 is m2 is None
    assert all(abs(v - c) < 200 for v, c in zip(c0, counts))  # |noise| >= 200 has probability < 1e-80
    noisy = np.array(m1)
    assert np.array_equal(noisy * 256, np.round(noisy * 256))  # on the 2^-8 grid
    assert np.all(np.abs(noisy - means) < 20)  # 2 draws of scale 0.25: |noise| >= 20 w.p. < 1e-30
    for r in results:
        assert [(x.what, x.receivers, x.count, x.epsilon, x.delta) for x in r.ledger] == \
            [("counts", (0,), 3, 0.7, 0.0), ("means", (1,), 4, 2.0, 0.0)]
        assert "dataset 'cohort' has spent epsilon=0.7 of 1" in r.ledger.releases[0].why
    # the parties charged their copies; the caller's accountant learns the spend from the ledger
    assert acc.history == []
    assert [s.epsilon for s in acc.absorb(results)] == [0.7, 2.0]
    assert acc.absorb(results) == [] and acc.remaining == 0.0
    with pytest.raises(BudgetExceeded):
        acc.check(0.1, what="anything")


@pytest.mark.slow
def test_five_parties_threshold_two_noise(run3):
    results = run3(noise_and_contributions, parties=5, threshold=2, kwargs={"n": 200, "scale": 3.0})
    owns = [r.value[0] for r in results]
    assert owns[3] is None and owns[4] is None and all(o is not None for o in owns[:3])
    total = np.array(results[0].value[1])
    assert all(r.value[1] == results[0].value[1] for r in results)
    assert np.array_equal(np.sum([np.array(o) for o in owns[:3]], axis=0), total)


async def matrix_release():
    x = mpc.SecInt(32).array(np.arange(12).reshape(3, 4))
    return await core.dp_open(x, sensitivity=2, epsilon=1.0, what="table", why="a 3x4 table")


def test_two_dimensional_values_keep_their_shape(run1):
    [result] = run1(matrix_release)
    assert np.asarray(result.value).shape == (3, 4)
    assert result.ledger.releases[0].count == 12


def test_interpolated_shares_reconstruct_the_secret():
    p = mpc.SecInt(32).field.order
    secret = np.array([5, -7, 0], dtype=object) % p
    known = {3: np.array([11, 12, 13], dtype=object), 5: np.array([1, 2, 3], dtype=object)}
    # points 0, 3, 5 define a degree-2 polynomial; evaluate at 1, 2 and recombine from 1, 2, 3
    f1, f2 = dp._interpolate(secret, known, 1, p), dp._interpolate(secret, known, 2, p)
    f3 = known[3]
    # recombine f(0) from the three points x = 1, 2, 3 (Lagrange at 0)
    lam = [3, -3, 1]  # Lagrange coefficients at 0 for points 1, 2, 3
    assert list((lam[0] * f1 + lam[1] * f2 + lam[2] * f3) % p) == list(secret)
    assert list(dp._interpolate(secret, known, 3, p) % p) == list(known[3])


def test_prf_partners_leave_every_coalition_at_most_t_points():
    for m in range(2, 8):
        t = (m - 1) // 2
        for j in range(t + 1):
            partners = dp.prf_partners(j, m, t)
            assert len(set(partners)) == t and j not in partners


def test_cli_options():
    import argparse
    parser = argparse.ArgumentParser()
    dp.add_dp_options(parser)
    args = parser.parse_args(["--epsilon", "0.5", "--delta", "1e-6"])
    acc = dp.accountant_from_args(args, dataset="km")
    assert (acc.epsilon, acc.delta, acc.dataset) == (0.5, 1e-6, "km")
    assert dp.accountant_from_args(parser.parse_args([])) is None
    with pytest.raises(InputError, match="--epsilon must be a positive"):
        dp.accountant_from_args(parser.parse_args(["--epsilon", "-1"]))
    with pytest.raises(InputError, match="--delta needs --epsilon"):
        dp.accountant_from_args(parser.parse_args(["--delta", "0.1"]))


# --- heavier statistics (pytest -m slow) -------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("scale", [0.1, 25.0, 1000.0])
def test_discrete_laplace_sampler_many_draws(scale):
    z = dp.sample_discrete_laplace(scale, 2_000_000)
    assert chi_square_p(z, lambda s: laplace_pmf(scale, s)) > ALPHA
    a = math.exp(-1 / scale)
    variance = 2 * a / (1 - a) ** 2
    if scale >= 1:  # relative standard error of the variance: sqrt((kurtosis - 1) / n), kurtosis 6
        assert abs(z.var() / variance - 1) < 5 * math.sqrt(5 / z.size)
    if scale == 25.0:  # where 2·10^6 draws can tell a 1 % error in the scale
        assert chi_square_p(z, lambda s: laplace_pmf(scale * 1.01, s)) < ALPHA


@pytest.mark.slow
@pytest.mark.parametrize("sigma", [0.3, 40.0])
def test_discrete_gaussian_sampler_many_draws(sigma):
    z = dp.sample_discrete_gaussian(sigma, 1_000_000)
    assert chi_square_p(z, lambda s: gaussian_pmf(sigma, s)) > ALPHA


@pytest.mark.slow
def test_three_parties_gaussian_noise(run3):
    sigma = dp.gaussian_sigma(1, 1.0, 1e-6)
    results = run3(noisy_zeros, kwargs={"n": 30_000, "scale": None, "mechanism": "discrete_gaussian",
                                        "delta": 1e-6})
    total = np.array(results[0].value)
    assert all(list(r.value) == list(total) for r in results)
    # the sum of t + 1 = 2 independent discrete Gaussians: its variance is 2 sigma^2 (within 5 %)
    assert abs(total.var() / (2 * sigma ** 2) - 1) < 0.05
    assert [(x.what, x.epsilon, x.delta) for x in results[0].ledger] == [("noise", 1.0, 1e-6)]
