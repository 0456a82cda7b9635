"""Tests for bayesnn.exact.mmpp: exact continuous-time MMPP filter and likelihood.

Closed forms used here are derived in the test (independently of the module):
* no input (theta = 0): p(t) = p_inf + (p0 - p_inf) exp(-(r_on + r_off) t);
* theta != 0, no spikes: the Riccati equation dp/dt = theta p^2 - (s + theta) p + r_on
  has roots p1 (stable, in (0, 1)) and p2; z = (p - p1)/(p - p2) obeys
  dz/dt = -theta (p2 - p1) z, so p(t) = (p1 - z(t) p2) / (1 - z(t)), z(t) = z0 e^{-theta (p2 - p1) t}.
"""
import time

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from bayesnn.core import Spikes, make_spikes, stack_spikes
from bayesnn.exact import (
    ctmc_transition_matrix,
    hmm_forward,
    mmpp_filter,
    mmpp_filter_batch,
    mmpp_log_likelihood,
    mmpp_log_likelihood_innovations,
    poisson_log_likelihoods,
)
from bayesnn.processes import MMPPParams


def model(r_on, r_off, q_on, q_off):
    return MMPPParams(r_on, r_off, np.asarray(q_on, float), np.asarray(q_off, float))


def spikes(times, channels, n_channels, duration=None):
    """Validated input spikes (bayesnn.core.Spikes) on n_channels inputs."""
    return make_spikes(np.asarray(times, float), np.asarray(channels, int),
                       n_senders=n_channels, duration=duration)


def raw_spikes(times, senders, counts=None, n_events=None):
    """A Spikes record built without validation (as a user could), to reach the
    filter's own checks; padding may sit anywhere (sender < 0)."""
    times = jnp.asarray(times, float)
    senders = jnp.asarray(senders)
    counts = jnp.ones(senders.shape, jnp.int32) if counts is None else jnp.asarray(counts, jnp.int32)
    n_events = int(np.sum(np.asarray(senders) >= 0)) if n_events is None else n_events
    return Spikes(times, senders, counts, jnp.asarray(n_events, jnp.int32))


def simulate_mmpp(rng, r_on, r_off, q_on, q_off, duration, p0):
    """Exact simulation: CTMC dwell times, then Poisson spikes within each dwell."""
    n_channels = len(q_on)
    state, t, times, channels = rng.uniform() < p0, 0.0, [], []
    while t < duration:
        end = min(t + rng.exponential(1.0 / (r_off if state else r_on)), duration)
        counts = rng.poisson((q_on if state else q_off) * (end - t))
        times.append(rng.uniform(t, end, counts.sum()))
        channels.append(np.repeat(np.arange(n_channels), counts))
        t, state = end, not state
    times, channels = np.concatenate(times), np.concatenate(channels)
    order = np.argsort(times, kind="stable")
    return times[order], channels[order]


@pytest.fixture
def default_setting(rng):
    """The default validation setting: N = 20, q ~ U(5, 30) Hz, r_on = 1, r_off = 3 Hz,
    T = 20 s (asymmetric rates, so a swapped r_on / r_off cannot pass unnoticed)."""
    q_on, q_off = rng.uniform(5, 30, 20), rng.uniform(5, 30, 20)
    times, channels = simulate_mmpp(rng, 1.0, 3.0, q_on, q_off, 20.0, 0.5)
    return dict(params=model(1.0, 3.0, q_on, q_off), inputs=spikes(times, channels, 20),
                duration=20.0)


def riccati_closed_form(r_on, r_off, theta, p0, t):
    s = r_on + r_off
    roots = np.roots([theta, -(s + theta), r_on]).real
    p1 = roots[(roots > 0) & (roots < 1)][0]
    p2 = roots[~((roots > 0) & (roots < 1))][0]
    z = (p0 - p1) / (p0 - p2) * np.exp(-theta * (p2 - p1) * t)
    return (p1 - z * p2) / (1 - z)


def no_spikes(n_channels):
    return spikes([], [], n_channels)


# ----------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("p0", [0.0, 0.2, 0.5, 0.97, 1.0])
def test_no_input_relaxes_to_prior(p0):
    r_on, r_off, q = 3.0, 7.0, np.array([12.0, 4.0])
    t = np.linspace(0.0, 2.0, 41)
    res = mmpp_filter(model(r_on, r_off, q, q), no_spikes(2), duration=2.0, query_times=t,
                      initial_prob_on=p0)
    p_inf = r_on / (r_on + r_off)
    want = p_inf + (p0 - p_inf) * np.exp(-(r_on + r_off) * t)
    # float64 rounding only: measured <= 1.7e-16 (prob) and 1.1e-16 (log density); bounds the suite's 1e-13 float64 floor (tests/conftest.py).
    np.testing.assert_allclose(res.prob_on, want, rtol=0, atol=1e-13)
    # theta = 0: the no-spike log density is -Q T exactly.
    np.testing.assert_allclose(res.log_likelihood, -q.sum() * 2.0, rtol=1e-13)
    assert int(res.n_events) == 0


@pytest.mark.parametrize("q_on, q_off", [([30.0, 5.0], [2.0, 9.0]), ([1.0, 2.0], [25.0, 40.0])])
@pytest.mark.parametrize("p0", [0.05, 0.5, 0.9])
def test_no_spikes_with_theta_matches_riccati_closed_form(q_on, q_off, p0):
    r_on, r_off = 2.0, 5.0
    q_on, q_off = np.array(q_on), np.array(q_off)
    theta = np.sum(q_on - q_off)
    t = np.linspace(0.0, 1.5, 31)
    res = mmpp_filter(model(r_on, r_off, q_on, q_off), no_spikes(2), duration=1.5,
                      query_times=t, initial_prob_on=p0)
    # float64 rounding only: measured <= 1.1e-16 (prob) and 8.9e-16 (log density vs a
    # Pade expm) over the 6 cases; bounds 1e-13 (the conftest floor).
    np.testing.assert_allclose(res.prob_on, riccati_closed_form(r_on, r_off, theta, p0, t),
                               rtol=0, atol=1e-13)
    # The no-spike density is the total mass of the Zakai filter, here by plain scipy expm.
    M = np.array([[-r_off - q_on.sum(), r_on], [r_off, -r_on - q_off.sum()]])
    mass = np.sum(scipy.linalg.expm(M * 1.5) @ np.array([p0, 1 - p0]))
    np.testing.assert_allclose(res.log_likelihood, np.log(mass), rtol=1e-13)


def test_stiffness_case_is_exact():
    """A stiff case: L = 12 with r_on = r_off = 10 Hz, no input: after 1 ms L ~ 4.61."""
    p0 = 1.0 / (1.0 + np.exp(-12.0))
    res = mmpp_filter(model(10.0, 10.0, [5.0], [5.0]), no_spikes(1), duration=1e-3,
                      query_times=[1e-3], initial_prob_on=p0)
    p_inf = 0.5
    p = p_inf + (p0 - p_inf) * np.exp(-20.0 * 1e-3)
    # measured 3.6e-15 (log-odds of p = 1 - O(1e-2): rounding of 1 - p); bound 1e-13.
    np.testing.assert_allclose(res.log_odds[0], np.log(p / (1 - p)), rtol=0, atol=1e-13)
    assert abs(float(res.log_odds[0]) - 4.61) < 0.01  # the docstring's value (4.6046)


def test_long_quiet_period_does_not_underflow():
    """exp(-Q T) = exp(-40000) underflows; the filter stays exact in log space."""
    params = model(1.0, 3.0, [300.0], [100.0])  # asymmetric: a swap shows in p*
    res = mmpp_filter(params, no_spikes(1), duration=200.0, query_times=[200.0])
    theta = 200.0
    p_star = riccati_closed_form(1.0, 3.0, theta, 0.5, np.inf)
    assert np.isfinite(res.log_likelihood)
    # measured 0 and 3.3e-16 relative (the swapped-rate p* differs by a factor 3); bound the suite's 1e-13 float64 floor (tests/conftest.py).
    np.testing.assert_allclose(res.prob_on[0], p_star, rtol=1e-13)
    # Rate of the log density at stationarity: -(Q_off + theta p*) per second.
    short = mmpp_filter(params, no_spikes(1), duration=100.0, query_times=[100.0])
    np.testing.assert_allclose(res.log_likelihood - short.log_likelihood,
                               -(100.0 + theta * p_star) * 100.0, rtol=1e-13)


# ----------------------------------------------------------------------------- jumps


def test_single_spike_jumps_log_odds_by_weight(rng):
    q_on, q_off = rng.uniform(5, 30, 5), rng.uniform(5, 30, 5)
    params = model(2.0, 3.0, q_on, q_off)
    quiet = mmpp_filter(params, no_spikes(5), duration=1.0, query_times=[0.3])
    for channel in range(5):
        spiked = mmpp_filter(params, spikes([0.3], [channel], 5), duration=1.0,
                             query_times=[0.3, 0.3])
        jump = spiked.log_odds[0] - quiet.log_odds[0]
        assert abs(jump - np.log(q_on[channel] / q_off[channel])) < 1e-13  # measured 3e-16
        assert spiked.log_odds[1] == spiked.log_odds[0]  # both queries see the post-spike state


def test_simultaneous_spikes_add_their_weights(rng):
    q_on, q_off = rng.uniform(5, 30, 5), rng.uniform(5, 30, 5)
    params = model(2.0, 3.0, q_on, q_off)
    chans = [0, 2, 3, 3]
    spiked = mmpp_filter(params, spikes([0.5] * 4, chans, 5), duration=1.0, query_times=[0.5])
    quiet = mmpp_filter(params, no_spikes(5), duration=1.0, query_times=[0.5])
    want = np.sum(np.log(q_on[chans] / q_off[chans]))
    assert abs(spiked.log_odds[0] - quiet.log_odds[0] - want) < 1e-13


# ----------------------------------------------------------------------------- likelihood


@pytest.mark.parametrize("p0", [None, 0.03])
def test_log_likelihood_equals_innovations_route(default_setting, p0):
    res = mmpp_filter(**default_setting, query_times=[], initial_prob_on=p0)
    innov = mmpp_log_likelihood_innovations(**default_setting, initial_prob_on=p0)
    # Two exact routes, rounding only: measured 1.8e-15 relative (|log p| ~ 1.4e4, 7187
    # events); bound the suite's 1e-13 float64 floor (tests/conftest.py).
    np.testing.assert_allclose(res.log_likelihood, innov, rtol=1e-13)
    assert int(res.n_events) == int(default_setting["inputs"].n_events)
    # The likelihood-only entry point is the filter's normaliser.
    alone = mmpp_log_likelihood(**default_setting, initial_prob_on=p0)
    np.testing.assert_array_equal(alone, res.log_likelihood)


def test_log_likelihood_equals_innovations_with_negative_theta(rng):
    q_on, q_off = rng.uniform(1, 10, 8), rng.uniform(20, 60, 8)  # theta < 0
    times, chans = simulate_mmpp(rng, 0.7, 4.0, q_on, q_off, 15.0, 0.5)
    params, inputs = model(0.7, 4.0, q_on, q_off), spikes(times, chans, 8)
    res = mmpp_filter(params, inputs, duration=15.0, query_times=[])
    innov = mmpp_log_likelihood_innovations(params, inputs, duration=15.0)
    np.testing.assert_allclose(res.log_likelihood, innov, rtol=1e-13)  # measured 4.7e-15


def test_log_likelihood_is_invariant_to_relabelling_the_states(default_setting):
    """Swapping ON/OFF (r_on <-> r_off, q_on <-> q_off, p0 -> 1 - p0) is the same model."""
    params = default_setting["params"].replace(r_off=3.5)
    inputs, duration = default_setting["inputs"], default_setting["duration"]
    res = mmpp_filter(params, inputs, duration=duration, query_times=[5.0], initial_prob_on=0.3)
    swapped = MMPPParams(params.r_off, params.r_on, params.q_off, params.q_on)
    relabelled = mmpp_filter(swapped, inputs, duration=duration, query_times=[5.0],
                             initial_prob_on=0.7)
    # measured 0 and 1.4e-16 relative (float64 rounding of mirrored arithmetic); bound the suite's 1e-13 float64 floor (tests/conftest.py).
    np.testing.assert_allclose(relabelled.log_likelihood, res.log_likelihood, rtol=1e-13)
    np.testing.assert_allclose(relabelled.log_odds, -res.log_odds, rtol=1e-13)


def test_true_parameters_beat_misspecified_ones(default_setting):
    """Sanity on 20 s of model data: the true q's have the higher log density."""
    s = default_setting
    true = mmpp_filter(**s, query_times=[]).log_likelihood
    wrong_params = s["params"].replace(q_on=1.5 * s["params"].q_on)
    wrong = mmpp_filter(**{**s, "params": wrong_params}, query_times=[]).log_likelihood
    assert true > wrong


# ----------------------------------------------------------------------------- discrete limit


def test_binned_hmm_converges_to_continuous_filter_at_first_order(default_setting):
    """First-order convergence: mean |L_HMM(dt) - L_exact| over a fixed trial falls like dt.

    Criterion: log-log slope in [0.8, 1.2]; each halving of dt divides the
    error by 2^slope, i.e. by a factor in [2^0.8, 2^1.2].
    """
    s = default_setting
    params, duration, n_channels = s["params"], s["duration"], 20
    times, chans = (np.asarray(a) for a in (s["inputs"].times, s["inputs"].senders))
    times, chans = times[chans >= 0], chans[chans >= 0]
    q_on, q_off = np.asarray(params.q_on), np.asarray(params.q_off)
    r_on, r_off = float(params.r_on), float(params.r_off)
    dts = 1e-3 / 2.0 ** np.arange(4)
    grid = 1e-3 * np.arange(1, int(round(duration / 1e-3)) + 1)  # common 1 ms grid
    exact = np.asarray(mmpp_filter(**s, query_times=grid).log_odds)
    errors = []
    for dt in dts:
        n_bins = int(round(duration / dt))
        bins = np.minimum((times / dt).astype(int), n_bins - 1)  # bin k covers [k dt, (k+1) dt)
        counts = np.bincount(bins * n_channels + chans, minlength=n_bins * n_channels)
        counts = counts.reshape(n_bins, n_channels)
        log_liks = poisson_log_likelihoods(counts, q_on, q_off, dt)
        fwd = hmm_forward([0.5, 0.5], ctmc_transition_matrix(r_on, r_off, dt), log_liks)
        hmm_log_odds = np.log(fwd.filtered[:, 1]) - np.log(fwd.filtered[:, 0])
        on_grid = hmm_log_odds[int(round(1e-3 / dt)) - 1::int(round(1e-3 / dt))]  # bins ending on the grid
        errors.append(np.mean(np.abs(on_grid - exact)))
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert 0.8 <= slope <= 1.2, (errors, slope)
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all((ratios >= 2 ** 0.8) & (ratios <= 2 ** 1.2)), ratios


# ----------------------------------------------------------------------------- plumbing


def test_padding_is_ignored_and_queries_keep_their_order(default_setting):
    s = default_setting
    queries = np.array([7.5, 0.0, 20.0, 3.25, 7.5])
    plain = mmpp_filter(**s, query_times=queries)
    sorted_q = mmpp_filter(**s, query_times=np.sort(queries))
    np.testing.assert_array_equal(plain.prob_on, np.asarray(sorted_q.prob_on)[np.argsort(np.argsort(queries, kind="stable"), kind="stable")])
    valid = np.asarray(s["inputs"].senders) >= 0
    times = np.concatenate([np.asarray(s["inputs"].times)[valid], np.full(7, np.inf)])
    chans = np.concatenate([np.asarray(s["inputs"].senders)[valid], np.full(7, -1)])
    times = np.insert(times, 10, 123.0)  # padding in the middle, out of range and unsorted
    chans = np.insert(chans, 10, -1)
    padded = mmpp_filter(**{**s, "inputs": raw_spikes(times, chans)}, query_times=queries)
    np.testing.assert_array_equal(padded.log_odds, plain.log_odds)
    np.testing.assert_array_equal(padded.log_likelihood, plain.log_likelihood)
    assert int(padded.n_events) == int(plain.n_events)


def test_batch_equals_single_trials(rng):
    q_on, q_off = rng.uniform(5, 30, 6), rng.uniform(5, 30, 6)
    params = model(2.0, 3.0, q_on, q_off)
    trials = [spikes(*simulate_mmpp(rng, 2.0, 3.0, q_on, q_off, 5.0, 0.4), 6) for _ in range(3)]
    batch_inputs = stack_spikes(trials)
    queries = np.linspace(0, 5.0, 11)
    batch = mmpp_filter_batch(params, batch_inputs, duration=5.0, query_times=queries)
    assert batch.prob_on.shape == (3, 11) and batch.log_likelihood.shape == (3,)
    for b, inputs in enumerate(trials):
        single = mmpp_filter(params, inputs, duration=5.0, query_times=queries)
        np.testing.assert_allclose(batch.log_odds[b], single.log_odds, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(batch.log_likelihood[b], single.log_likelihood, rtol=1e-13)
        assert int(batch.n_events[b]) == int(inputs.n_events)
    per_trial_q = np.stack([queries, queries[::-1], queries])
    batch2 = mmpp_filter_batch(params, batch_inputs, duration=5.0, query_times=per_trial_q)
    np.testing.assert_allclose(batch2.log_odds[1], batch.log_odds[1][::-1], rtol=1e-13, atol=1e-14)


def test_filter_is_fast_on_400k_events(rng):
    n_channels, n_events = 20, 400_000
    q_on, q_off = rng.uniform(5, 30, n_channels), rng.uniform(5, 30, n_channels)
    duration = n_events / np.mean([q_on.sum(), q_off.sum()])
    times = np.sort(rng.uniform(0, duration, n_events))
    chans = rng.integers(0, n_channels, n_events)
    inputs = spikes(times, chans, n_channels)
    start = time.perf_counter()
    res = mmpp_filter(model(2.0, 2.0, q_on, q_off), inputs, duration=duration,
                      query_times=times[::50])
    res.log_likelihood.block_until_ready()
    elapsed = time.perf_counter() - start
    assert np.isfinite(res.log_likelihood) and np.all(np.isfinite(res.log_odds))
    assert elapsed < 20.0  # includes compilation; typically ~1.5 s


# ----------------------------------------------------------------------------- argument checks


GOOD_RATES = dict(r_on=2.0, r_off=3.0, q_on=[10.0, 20.0], q_off=[5.0, 5.0])
GOOD = dict(times=[0.1, 0.2], senders=[0, 1], counts=None, duration=1.0, query_times=[0.5],
            initial_prob_on=None)


@pytest.mark.parametrize("change, name", [
    (dict(r_on=0.0), "r_on"),
    (dict(r_off=-2.0), "r_off"),
    (dict(r_on=np.inf), "r_on"),
    (dict(q_on=[10.0, 0.0]), "q_on"),
    (dict(q_off=[5.0]), "q_off"),
    (dict(q_off=[5.0, np.nan]), "q_off"),
])
def test_parameter_record_rejects_bad_rates(change, name):
    with pytest.raises(ValueError, match=name):
        model(**{**GOOD_RATES, **change})


@pytest.mark.parametrize("change, name", [
    (dict(duration=0.0), "duration"),
    (dict(times=[0.2, 0.1]), "inputs.times"),
    (dict(times=[0.1, 1.5]), "inputs.times"),
    (dict(times=[-0.1, 0.2]), "inputs.times"),
    (dict(times=[0.1, np.nan]), "inputs.times"),
    (dict(times=[0.1]), "inputs.senders"),
    (dict(senders=[0, 2]), "inputs.senders"),
    (dict(senders=[0.0, 0.5]), "inputs.senders"),
    (dict(counts=[1, 2]), "inputs.counts"),
    (dict(counts=[1]), "inputs.counts"),
    (dict(query_times=[1.5]), "query_times"),
    (dict(query_times=[np.nan]), "query_times"),
    (dict(initial_prob_on=1.2), "initial_prob_on"),
])
def test_filter_rejects_bad_input(change, name):
    args = {**GOOD, **change}
    inputs = raw_spikes(args["times"], args["senders"], args["counts"], n_events=2)
    with pytest.raises(ValueError, match=name):
        mmpp_filter(model(**GOOD_RATES), inputs, duration=args["duration"],
                    query_times=args["query_times"], initial_prob_on=args["initial_prob_on"])


def test_innovations_and_batch_reject_bad_input():
    params = model(**GOOD_RATES)
    with pytest.raises(ValueError, match="inputs.times"):
        mmpp_log_likelihood_innovations(params, raw_spikes([0.3, 0.1], [0, 1]), duration=1.0)
    with pytest.raises(ValueError, match="inputs.times"):  # one trial where (B, C) is required
        mmpp_filter_batch(params, spikes([0.1, 0.2], [0, 1], 2), duration=1.0, query_times=[0.5])
    with pytest.raises(ValueError, match="query_times"):
        mmpp_filter_batch(params, stack_spikes([spikes([0.1, 0.2], [0, 1], 2)]), duration=1.0,
                          query_times=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="inputs must be a bayesnn.core.Spikes"):
        mmpp_filter(params, (np.array([0.1]), np.array([0])), duration=1.0, query_times=[0.5])
