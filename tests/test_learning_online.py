"""Online EM and the local spike-driven rule (bayesnn.learning.online / .local).

* Cappé 2011: the forward-only recursion at discount 1 equals forward-backward
  (bayesnn.exact.hmm via learning.statistics.binned_e_step) to 1e-9.
* Tracking: q_on halves halfway through; with a discount the estimate follows.
* The local rule converges to exact online EM as dt -> 0 (first order).
* docs/learning.md, Sec. 6: the filtered-only rule leaves r_on, r_off at the initial guess.
Data come from the independent simulators of tests/simulators.py.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesnn.core import make_spikes
from bayesnn.core.params import unchecked
from bayesnn.learning import local_rule, online_em, online_statistics
from bayesnn.core import spikes_from_counts
from bayesnn.learning.local import local_readout
from bayesnn.learning.statistics import binned_e_step
from bayesnn.processes import MMPPParams
from tests.simulators import binned_trial, gillespie_trial

Q_ON, Q_OFF = np.array([40.0, 30.0, 20.0]), np.array([4.0, 8.0, 6.0])
TRUE = MMPPParams(r_on=2.0, r_off=2.0, q_on=Q_ON, q_off=Q_OFF)
START = MMPPParams(r_on=0.5, r_off=8.0, q_on=np.full(3, 25.0), q_off=np.full(3, 15.0))


def _spikes(times, channels, duration):
    return make_spikes(times, channels, n_senders=3, duration=duration)


def test_online_statistics_equal_forward_backward():
    """Cappé 2011, Sec. 2.2 (T = 3000 bins); an independent NumPy script gave 6e-15 relative.
    The model has the data's asymmetric rates (r_on = 2, r_off = 3 Hz: with TRUE's
    r_on = r_off a swap between the two routes would pass). Float64 rounding: measured
    3.2e-15 relative (statistics) and 2.3e-15 (discounted occupancy); bounds 1e-13 (the conftest floor)."""
    rng = np.random.default_rng(1)
    counts = binned_trial(rng, 2.0, 3.0, Q_ON, Q_OFF, 0.01, 3000)[1]
    model = TRUE.replace(r_off=3.0)
    spikes = spikes_from_counts(counts, 0.01)
    online = online_statistics(model, spikes, duration=30.0, dt=0.01, initial_prob_on=0.3)
    batch, _ = binned_e_step(model, 0.3, jnp.asarray(counts, float)[None], 0.01)
    # the initial-state statistic is not tracked online (online EM drops its term)
    for ours, reference in zip(online[:3], batch[:3]):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(reference), rtol=1e-13, atol=0)
    # a discount gamma < 1: the occupancy is a geometric sum, sum_k gamma^k < 1 / (1 - gamma)
    discounted = online_statistics(model, spikes, duration=30.0, dt=0.01, discount=0.999)
    expected = (1 - 0.999 ** 3000) / (1 - 0.999)
    assert abs(float(jnp.sum(discounted.occupancy)) - expected) < 1e-13 * expected


def test_discount_tracks_a_switch_of_q_on():
    """q_on halves at t = 200 s. A discount gamma = 1 - dt/tau (tau = 10 s) forgets at
    rate 1/tau; the estimate must settle on both sides and cross the midpoint after a
    lag of a few tau ln 2: measured 11.5-32.8 s over seeds 3-8 (mean 21 s = 3.0 tau ln 2;
    longer than the discount alone because the E-step keeps using the old q_on, so EM's
    own contraction rate adds to the forgetting); 24.6 s for this seed."""
    rng = np.random.default_rng(3)
    dt, half, tau = 0.01, 20_000, 10.0
    first = binned_trial(rng, 2.0, 2.0, Q_ON, Q_OFF, dt, half)
    second = binned_trial(rng, 2.0, 2.0, Q_ON / 2, Q_OFF, dt, half)
    counts = np.concatenate([first[1], second[1]])
    result = online_em(TRUE, spikes_from_counts(counts, dt), duration=2 * half * dt, dt=dt,
                       discount=1 - dt / tau, update_every=10, warmup=int(tau / dt),
                       record_every=10)
    ratio = np.mean(np.asarray(result.history.q_on) / Q_ON, axis=1)  # 1 before, 0.5 after
    switch = half * dt
    before = (result.times > switch - 100) & (result.times <= switch)
    settled = result.times > switch + 100
    # window means over 100 s = 10 tau (sd of the mean ratio ~ 2 % per tau, ~1 % here)
    assert abs(np.mean(ratio[before]) - 1.0) < 0.05
    assert abs(np.mean(ratio[settled]) - 0.5) < 0.05
    after = result.times > switch
    lag = result.times[after][np.argmax(ratio[after] < 0.75)] - switch
    assert 0.5 * tau * np.log(2) < lag < 6 * tau * np.log(2), lag
    for leaf in jax.tree_util.tree_leaves(result.history):
        assert np.all(np.isfinite(leaf)) and np.all(np.asarray(leaf) > 0)


def test_local_rule_converges_to_online_em_first_order():
    """Same spikes binned at dt: the local rule's traces (frozen-L exponential Euler)
    differ from exact online EM by O(dt); measured 1.7 %, 0.89 %, 0.47 %, 0.24 % at
    dt = 10, 5, 2.5, 1.25 ms on 200 s."""
    rng = np.random.default_rng(3)
    times, channels = gillespie_trial(rng, 2.0, 2.0, Q_ON, Q_OFF, 100.0)
    differences = []
    for dt in (0.004, 0.002):
        spikes = _spikes(times, channels, 100.0)
        exact = online_statistics(TRUE, spikes, duration=100.0, dt=dt)
        local = local_readout(local_rule(TRUE, spikes, duration=100.0, dt=dt,
                                         warmup=10**9).extra["state"])
        pairs = [(local[0] / dt, exact.occupancy[1]), (local[1], exact.transitions[0, 1]),
                 (local[2], exact.transitions[1, 0]), (local[3], exact.counts[1])]
        differences.append(max(float(np.max(np.abs(np.asarray(a) / np.asarray(b) - 1)))
                               for a, b in pairs))
    assert differences[1] < 0.01
    assert 1.6 < differences[0] / differences[1] < 2.5, differences  # first order


def test_filtered_only_rule_does_not_learn_switching_rates():
    """docs/learning.md, Sec. 6: with filtered statistics every guess of r is a fixed
    point, so r_on, r_off stay at the 4x-wrong start; the rule with smoothed (forward-smoothing)
    statistics moves them to the truth."""
    rng = np.random.default_rng(4)
    dt = 0.005
    times, channels = gillespie_trial(rng, 2.0, 2.0, Q_ON, Q_OFF, 200.0)
    spikes = _spikes(times, channels, 200.0)
    settings = dict(duration=200.0, dt=dt, discount=1 - dt / 20.0, update_every=20,
                    warmup=2000, record_every=200)
    filtered = local_rule(START, spikes, smoothing=False, **settings)
    smoothed = local_rule(START, spikes, smoothing=True, **settings)
    assert abs(float(filtered.params.r_on) / 0.5 - 1) < 0.02
    assert abs(float(filtered.params.r_off) / 8.0 - 1) < 0.02
    # memory 20 s ~ 40 switches: sd of r ~ 16 %, so within 50 % of the truth is > 3 sd
    assert abs(float(smoothed.params.r_on) / 2.0 - 1) < 0.5
    assert abs(float(smoothed.params.r_off) / 2.0 - 1) < 0.5


def test_large_steps_tiny_data_stay_finite_and_positive():
    counts = np.zeros((20, 3), int)
    counts[[2, 5, 9, 14], 0] = 2  # 8 spikes = 2N + 2, inputs 1 and 2 silent
    spikes = spikes_from_counts(counts, 0.05)  # events of multiplicity 2
    for rate in (1.0, 50.0):
        result = local_rule(START, spikes, duration=1.0, dt=0.05, learning_rate=rate,
                            record_every=1)
        for leaf in jax.tree_util.tree_leaves(result.history):
            assert np.all(np.isfinite(leaf)) and np.all(np.asarray(leaf) > 0)
    result = online_em(START, spikes, duration=1.0, dt=0.05, discount=0.5, record_every=1)
    for leaf in jax.tree_util.tree_leaves(result.history):
        assert np.all(np.isfinite(leaf)) and np.all(np.asarray(leaf) > 0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(discount=0.0), "discount"),
    (dict(discount=1.5), "discount"),
    (dict(update_every=0), "update_every"),
    (dict(warmup=-1), "warmup"),
    (dict(record_every=0), "record_every"),
    (dict(initial_prob_on=2.0), "initial_prob_on"),
])
def test_online_bad_input(kwargs, match):
    spikes = spikes_from_counts(np.ones((50, 3), int), 0.01)
    with pytest.raises(ValueError, match=match):
        online_em(START, spikes, duration=0.5, dt=0.01, **kwargs)
    with pytest.raises(ValueError, match=match):
        local_rule(START, spikes, duration=0.5, dt=0.01, **kwargs)


def test_online_bad_data_and_learning_rate():
    from bayesnn.core import stack_spikes
    spikes = spikes_from_counts(np.ones((50, 3), int), 0.01)
    run = dict(duration=0.5, dt=0.01)
    for rate in (0.0, -1.0):
        with pytest.raises(ValueError, match="learning_rate"):
            local_rule(START, spikes, learning_rate=rate, **run)
    with pytest.raises(ValueError, match="one trial"):
        online_em(START, stack_spikes([spikes, spikes]), **run)
    with pytest.raises(ValueError, match="fewer than the 8 parameters"):
        online_em(START, make_spikes([0.1], [0], n_senders=3), **run)
    bad = unchecked(MMPPParams, r_on=jnp.asarray(1.0), r_off=jnp.asarray(0.0), q_on=START.q_on,
                    q_off=START.q_off)
    with pytest.raises(ValueError, match="params.r_off"):
        online_statistics(bad, spikes, **run)
    with pytest.raises(ValueError, match="initial.r_off"):
        local_rule(bad, spikes, **run)
    # a truthy string is not a boolean: "no" must not run the smoothing rule
    with pytest.raises(ValueError, match="smoothing"):
        local_rule(START, spikes, smoothing="no", **run)
