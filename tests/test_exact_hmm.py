"""Tests for bayesnn.exact.hmm: discrete two-state HMM references.

Tolerances come from float64 rounding over the lengths used (no tuning): a normalised
recursion of T steps accumulates O(T * 1e-16) relative error.
"""
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
import scipy.stats

from bayesnn.exact import (
    brute_force_marginals,
    ctmc_transition_matrix,
    hmm_forward,
    hmm_smoother,
    poisson_log_likelihoods,
)


def random_hmm(rng, n_bins, n_channels=4, dt=0.01, shift=0.0):
    """A random 2-state HMM with Poisson count emissions (exact CTMC transitions)."""
    r_on, r_off = rng.uniform(0.5, 20.0, size=2)
    q_on = rng.uniform(5.0, 60.0, n_channels)
    q_off = rng.uniform(5.0, 60.0, n_channels)
    transition = np.asarray(ctmc_transition_matrix(r_on, r_off, dt))
    p_on = rng.uniform()
    initial = np.array([1.0 - p_on, p_on])
    state = rng.integers(0, 2, n_bins)
    rates = np.where(state[:, None] == 1, q_on, q_off) * dt
    counts = rng.poisson(rates)
    log_liks = np.array(poisson_log_likelihoods(counts, q_on, q_off, dt))
    log_liks[n_bins // 2] += shift  # one bin shifted: exp() of it underflows if shift < -745
    return initial, transition, log_liks


# ----------------------------------------------------------------------------- transition


def test_transition_matrix_matches_expm_of_generator():
    for r_on, r_off, dt in [(2.0, 2.0, 1e-3), (0.3, 17.0, 0.05), (50.0, 1.0, 2.0)]:
        generator = np.array([[-r_on, r_on], [r_off, -r_off]])
        P = np.asarray(ctmc_transition_matrix(r_on, r_off, dt))
        # closed form vs Pade expm: measured <= 5.2e-16 relative, row sums <= 1.1e-16.
        np.testing.assert_allclose(P, scipy.linalg.expm(generator * dt), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=2e-16)


def test_transition_matrix_small_dt_accuracy_and_semigroup():
    r_on, r_off = 3.0, 7.0
    s = r_on + r_off
    dt = 1e-9  # 1 - exp(-s dt) would lose ~8 digits without expm1
    P = np.asarray(ctmc_transition_matrix(r_on, r_off, dt))
    series = r_on * dt * (1 - s * dt / 2 + (s * dt) ** 2 / 6)
    assert abs(P[0, 1] - series) <= 1e-15 * series  # measured 0; truncation (s dt)^3 ~ 1e-24
    P1 = np.asarray(ctmc_transition_matrix(r_on, r_off, 0.013))
    P2 = np.asarray(ctmc_transition_matrix(r_on, r_off, 0.031))
    P12 = np.asarray(ctmc_transition_matrix(r_on, r_off, 0.044))
    np.testing.assert_allclose(P1 @ P2, P12, rtol=1e-14, atol=1e-16)  # measured 3.7e-16 (a 2 x 2 product)


def test_poisson_log_likelihoods_match_scipy(rng):
    dt, q_on, q_off = 0.02, rng.uniform(5, 200, 6), rng.uniform(5, 200, 6)
    counts = rng.poisson(3.0, size=(50, 6))
    got = np.asarray(poisson_log_likelihoods(counts, q_on, q_off, dt))
    want_off = scipy.stats.poisson.logpmf(counts, q_off * dt).sum(axis=1)
    want_on = scipy.stats.poisson.logpmf(counts, q_on * dt).sum(axis=1)
    # float64 rounding of 6-term sums: measured <= 8.9e-16 relative; bound the suite's 1e-13 float64 floor (tests/conftest.py).
    np.testing.assert_allclose(got[:, 0], want_off, rtol=1e-13)
    np.testing.assert_allclose(got[:, 1], want_on, rtol=1e-13)


# ----------------------------------------------------------------------------- forward / smoother


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("shift", [0.0, -800.0])
def test_forward_and_smoother_equal_brute_force(seed, shift):
    """shift = -800 underflows a naive exp(log-likelihood) forward pass (exp(-800) = 0).

    The brute force works with absolute log values ~ |shift|, so its own rounding is
    ~ 800 * 1.1e-16 ~ 1e-13 absolute in the marginals. Measured worst over the 10 cases:
    marginals 9.1e-14, expected transitions 4.1e-13 (sums of 2^10 paths), log p(y)
    2.2e-16 relative; tolerances 3e-13, 1e-12 and 1e-13 (the conftest floor).
    """
    rng = np.random.default_rng(seed)
    initial, transition, log_liks = random_hmm(rng, n_bins=10, shift=shift)
    brute = brute_force_marginals(initial, transition, log_liks)
    fwd = hmm_forward(initial, transition, log_liks)
    smo = hmm_smoother(initial, transition, log_liks)

    np.testing.assert_allclose(fwd.filtered, brute.filtered, rtol=0, atol=3e-13)
    np.testing.assert_allclose(fwd.log_marginal_likelihood, brute.log_marginal_likelihood, rtol=1e-13)
    np.testing.assert_allclose(np.sum(fwd.log_normalizers), fwd.log_marginal_likelihood, rtol=1e-14)
    np.testing.assert_allclose(smo.filtered, brute.filtered, rtol=0, atol=3e-13)
    np.testing.assert_allclose(smo.smoothed, brute.smoothed, rtol=0, atol=3e-13)
    np.testing.assert_allclose(smo.expected_transitions, brute.expected_transitions, rtol=0, atol=1e-12)
    np.testing.assert_allclose(smo.log_marginal_likelihood, brute.log_marginal_likelihood, rtol=1e-13)
    # the smoother's forward pass is the log-space recursion and hmm_forward's the linear
    # fast path (issue 21): two code paths, so the conftest floor 1e-13 (measured 1.1e-14)
    np.testing.assert_allclose(smo.smoothed[-1], fwd.filtered[-1], rtol=0, atol=1e-13)
    np.testing.assert_allclose(np.sum(smo.expected_transitions), 10.0, rtol=1e-14)


def test_forward_with_deterministic_initial_state_equals_brute_force(rng):
    _, transition, log_liks = random_hmm(rng, n_bins=8)
    initial = np.array([0.0, 1.0])
    brute = brute_force_marginals(initial, transition, log_liks)
    smo = hmm_smoother(initial, transition, log_liks)
    np.testing.assert_allclose(smo.filtered, brute.filtered, rtol=0, atol=1e-12)
    np.testing.assert_allclose(smo.smoothed, brute.smoothed, rtol=0, atol=1e-12)
    np.testing.assert_allclose(smo.expected_transitions, brute.expected_transitions, rtol=0, atol=1e-11)


def test_forward_equals_log_odds_recursion_over_long_run(rng):
    """The log-odds form of the forward filter (Rabiner 1989), written out here, agrees.

    L^- = logaddexp(log1p(-a_off) + L, log a_on) - logaddexp(log a_off + L, log1p(-a_on)),
    L = L^- + sum_i n_i w_i - theta dt.  Asymmetric rates (r_on = 1, r_off = 3 Hz): with
    r_on = r_off a swapped a_on / a_off passed unnoticed (with the swap the error is now
    0.35). Measured agreement 3.9e-15 over 20,000 steps (fixed seed, float64 rounding);
    the bound is the conftest floor, 1e-13.
    """
    n_bins, n_channels, dt, r_on, r_off = 20_000, 20, 1e-3, 1.0, 3.0
    q_on, q_off = rng.uniform(5, 30, n_channels), rng.uniform(5, 30, n_channels)
    state = np.zeros(n_bins, dtype=int)
    P = np.asarray(ctmc_transition_matrix(r_on, r_off, dt))
    current = 0
    for k in range(n_bins):
        current = int(rng.uniform() < P[current, 1])
        state[k] = current
    counts = rng.poisson(np.where(state[:, None] == 1, q_on, q_off) * dt)
    fwd = hmm_forward([0.5, 0.5], P, poisson_log_likelihoods(counts, q_on, q_off, dt))

    a_on, a_off = P[0, 1], P[1, 0]
    w, theta = np.log(q_on / q_off), np.sum(q_on - q_off)
    drive = counts @ w - theta * dt
    L, log_odds = 0.0, np.empty(n_bins)
    for k in range(n_bins):
        L = (np.logaddexp(np.log1p(-a_off) + L, np.log(a_on))
             - np.logaddexp(np.log(a_off) + L, np.log1p(-a_on))) + drive[k]
        log_odds[k] = L
    p_on = 1.0 / (1.0 + np.exp(-log_odds))
    assert np.max(np.abs(p_on - np.asarray(fwd.filtered[:, 1]))) < 1e-13


def test_forward_is_fast_and_finite_on_long_input(rng):
    """T = 200,000 bins must run in a few seconds on CPU (one lax.scan)."""
    n_bins, dt = 200_000, 1e-3
    q_on, q_off = rng.uniform(5, 30, 20), rng.uniform(5, 30, 20)
    counts = rng.poisson(0.02, size=(n_bins, 20))
    start = time.perf_counter()
    log_liks = poisson_log_likelihoods(counts, q_on, q_off, dt)
    fwd = hmm_forward([0.5, 0.5], ctmc_transition_matrix(2.0, 2.0, dt), log_liks)
    fwd.log_marginal_likelihood.block_until_ready()
    elapsed = time.perf_counter() - start
    assert np.all(np.isfinite(fwd.filtered)) and np.isfinite(fwd.log_marginal_likelihood)
    np.testing.assert_allclose(np.sum(fwd.filtered, axis=1), 1.0, atol=1e-14)
    assert elapsed < 20.0  # includes compilation; typically < 2 s


def test_forward_is_jittable(rng):
    initial, transition, log_liks = random_hmm(rng, n_bins=30)
    direct = hmm_forward(initial, transition, log_liks)
    jitted = jax.jit(hmm_forward)(initial, transition, log_liks)
    np.testing.assert_allclose(jitted.filtered, direct.filtered, rtol=0, atol=1e-15)
    np.testing.assert_allclose(jitted.log_marginal_likelihood, direct.log_marginal_likelihood, rtol=1e-15)


# ----------------------------------------------------------------------------- argument checks


@pytest.mark.parametrize("kwargs, name", [
    (dict(r_on=0.0, r_off=1.0, dt=1e-3), "r_on"),
    (dict(r_on=1.0, r_off=-1.0, dt=1e-3), "r_off"),
    (dict(r_on=1.0, r_off=1.0, dt=0.0), "dt"),
    (dict(r_on=np.nan, r_off=1.0, dt=1e-3), "r_on"),
])
def test_transition_matrix_rejects_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ctmc_transition_matrix(**kwargs)


@pytest.mark.parametrize("counts, q_on, q_off, dt, name", [
    ([[1, -1]], [1.0, 1.0], [1.0, 1.0], 0.1, "counts"),
    ([[1, 0.5]], [1.0, 1.0], [1.0, 1.0], 0.1, "counts"),
    ([1, 2], [1.0, 1.0], [1.0, 1.0], 0.1, "counts"),
    ([[1, 2]], [1.0, 1.0, 1.0], [1.0, 1.0], 0.1, "q_on"),
    ([[1, 2]], [1.0, 1.0], [1.0], 0.1, "q_off"),
    ([[1, 2]], [1.0, 0.0], [1.0, 1.0], 0.1, "q_on"),
    ([[1, 2]], [1.0, 1.0], [1.0, 1.0], -0.1, "dt"),
    ([[1, np.inf]], [1.0, 1.0], [1.0, 1.0], 0.1, "counts"),
])
def test_poisson_log_likelihoods_rejects_bad_input(counts, q_on, q_off, dt, name):
    with pytest.raises(ValueError, match=name):
        poisson_log_likelihoods(counts, q_on, q_off, dt)


@pytest.mark.parametrize("func", [hmm_forward, hmm_smoother, brute_force_marginals])
@pytest.mark.parametrize("initial, transition, log_liks, name", [
    ([0.5, 0.6], np.eye(2), np.zeros((3, 2)), "initial"),
    ([0.5, 0.5, 0.0], np.eye(2), np.zeros((3, 2)), "initial"),
    ([1.5, -0.5], np.eye(2), np.zeros((3, 2)), "initial"),
    ([0.5, 0.5], [[0.9, 0.2], [0.0, 1.0]], np.zeros((3, 2)), "transition"),
    ([0.5, 0.5], [[1.1, -0.1], [0.0, 1.0]], np.zeros((3, 2)), "transition"),
    ([0.5, 0.5], np.eye(3) / 1.0, np.zeros((3, 2)), "transition"),
    ([0.5, 0.5], np.eye(2), np.zeros((3, 3)), "log_likelihoods"),
    ([0.5, 0.5], np.eye(2), np.zeros((0, 2)), "log_likelihoods"),
    ([0.5, 0.5], np.eye(2), [[0.0, np.nan]], "log_likelihoods"),
])
def test_hmm_functions_reject_bad_input(func, initial, transition, log_liks, name):
    with pytest.raises(ValueError, match=name):
        func(initial, transition, log_liks)


def test_brute_force_rejects_long_input():
    with pytest.raises(ValueError, match="log_likelihoods"):
        brute_force_marginals([0.5, 0.5], np.eye(2), np.zeros((13, 2)))


def test_linear_fast_path_equals_log_space_recursion(rng):
    """hmm_forward runs the scaled linear-space recursion when initial and transition are
    strictly positive and the log-space one otherwise (issue 21). Same quantities by two
    code paths: bound the conftest floor, 1e-13 (measured ~1e-15), including bins whose
    log-likelihoods differ by 900-1000 nats between the states (a filtered probability
    underflows to 0 in linear space, and the normaliser must not)."""
    from bayesnn.exact.hmm import _forward

    n_bins = 5000
    transition = np.asarray(ctmc_transition_matrix(1.0, 3.0, 1e-3))
    log_liks = rng.normal(0.0, 3.0, (n_bins, 2))
    log_liks[100], log_liks[200] = [0.0, -900.0], [-1000.0, 0.0]
    fast = hmm_forward([0.25, 0.75], transition, log_liks)
    log_filtered, log_norms = _forward(jnp.array([0.25, 0.75]), jnp.asarray(transition),
                                       jnp.asarray(log_liks))
    np.testing.assert_allclose(fast.filtered, np.exp(log_filtered), rtol=0, atol=1e-13)
    np.testing.assert_allclose(fast.log_normalizers, log_norms, rtol=1e-13, atol=1e-13)
    assert np.all(np.isfinite(fast.log_normalizers))
