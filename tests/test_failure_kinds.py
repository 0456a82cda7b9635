"""Failure kinds replayed from neighbouring projects' bug reports, each closed as a kind
(issue: robust to whatever a lab feeds it). One section per kind."""
from __future__ import annotations

import numpy as np
import pytest

from bayesnn.exact import brute_force_marginals, hmm_forward, hmm_smoother


# --- Kind 1: log-space normalisation with hard zeros ---------------------------------
def test_forward_with_hard_zero_state_is_exact():
    """Initial [1, 0] and identity transitions: state 1 is impossible, so whatever its
    likelihood the filter stays [1, 0] and log p(y) = sum of state-0 log-likelihoods.
    A max-shift normaliser (shift by max_j l_k(j) = 0) underflows exp(-800) to 0: NaN."""
    log_liks = np.tile([-800.0, 0.0], (4, 1))
    forward = hmm_forward([1.0, 0.0], np.eye(2), log_liks)
    np.testing.assert_array_equal(np.asarray(forward.filtered), np.tile([1.0, 0.0], (4, 1)))
    assert float(forward.log_marginal_likelihood) == -3200.0


def test_smoother_and_transition_counts_with_hard_zeros_match_brute_force():
    log_liks = np.array([[-800.0, 0.0], [-3.0, -900.0], [-750.0, -1.0], [0.0, -700.0]])
    for initial, transition in (([1.0, 0.0], np.eye(2)),
                                ([0.3, 0.7], np.array([[1.0, 0.0], [0.4, 0.6]])),
                                ([0.0, 1.0], np.array([[0.5, 0.5], [0.0, 1.0]]))):
        brute = brute_force_marginals(initial, transition, log_liks)
        smoothed = hmm_smoother(initial, transition, log_liks)
        assert np.all(np.isfinite(np.asarray(smoothed.smoothed)))
        # Rounding basis: terms of size ~|l| <= 900 carry 900 * 2.2e-16 ~ 2e-13.
        np.testing.assert_allclose(smoothed.filtered, brute.filtered, atol=1e-12, rtol=0)
        np.testing.assert_allclose(smoothed.smoothed, brute.smoothed, atol=1e-12, rtol=0)
        np.testing.assert_allclose(smoothed.expected_transitions, brute.expected_transitions,
                                   atol=1e-12, rtol=0)
        np.testing.assert_allclose(smoothed.log_marginal_likelihood,
                                   brute.log_marginal_likelihood, rtol=1e-13)


def test_impossible_observations_are_refused():
    """Hard zeros that make every path impossible: a clear error, not NaN."""
    log_liks = np.array([[-np.inf, 0.0]])
    with pytest.raises(ValueError, match="log_likelihoods"):
        hmm_forward([1.0, 0.0], np.eye(2), log_liks)


# --- shared small setting with asymmetric rates ---------------------------------------
def _params():
    from bayesnn.neuron import NeuronParams
    return NeuronParams(1.0, 3.0, [20.0, 5.0, 12.0], [4.0, 15.0, 12.5], 0.7)


# --- Kind 4: times outside the run -----------------------------------------------------
@pytest.mark.parametrize("method", ["exact", "discrete", "euler"])
@pytest.mark.parametrize("bad_time", [-0.01, 1.5])
def test_neuron_refuses_input_times_outside_the_run(method, bad_time):
    from bayesnn.core import make_spikes
    from bayesnn.neuron import simulate
    inputs = make_spikes(sorted([0.2, bad_time]), [0, 1])
    with pytest.raises(ValueError, match=r"inputs.times must lie in \[0, duration"):
        simulate(_params(), inputs, duration=1.0, method=method, dt=1e-3)


def test_references_and_samples_refuse_times_outside_the_run():
    from bayesnn.core import make_spikes
    from bayesnn.exact import mmpp_filter
    from bayesnn.neuron import simulate
    params = _params()
    with pytest.raises(ValueError, match="inputs.times must lie"):
        mmpp_filter(params, make_spikes([-0.01, 0.2], [0, 1]), duration=1.0, query_times=[0.5])
    with pytest.raises(ValueError, match="query_times must lie"):
        mmpp_filter(params, make_spikes([0.2], [0]), duration=1.0, query_times=[1.5])
    with pytest.raises(ValueError, match="sample_times must lie"):
        simulate(params, make_spikes([0.2], [0]), duration=1.0, sample_times=[0.5, 1.5])
    with pytest.raises(ValueError, match="times must lie in"):
        make_spikes([-0.5, 0.2], [0, 1], duration=1.0)


# --- Kind 5: grid times and the end point ----------------------------------------------
def test_stepped_neuron_bins_grid_times_into_their_own_bin():
    """A spike at t = 49 dt belongs to bin 49 ([49 dt, 50 dt)); floor(t/dt) gives 48."""
    from bayesnn.core import bin_counts, make_spikes
    from bayesnn.neuron import filter_counts, simulate
    params, dt, n_steps = _params(), 1e-4, 100
    grid_times = np.arange(n_steps) * dt
    inputs = make_spikes(grid_times[[3, 49, 77]], [0, 1, 2])
    from_events = simulate(params, inputs, duration=n_steps * dt, method="discrete", dt=dt)
    counts = np.zeros((n_steps, 3), int)
    counts[[3, 49, 77], [0, 1, 2]] = 1
    from_counts = filter_counts(params, counts, dt=dt)
    np.testing.assert_array_equal(np.asarray(bin_counts(inputs, 3, dt, n_steps)), counts)
    np.testing.assert_allclose(from_events.log_odds, from_counts.log_odds, rtol=0, atol=1e-13)
    floor_bins = np.floor(grid_times / dt).astype(int)
    assert np.any(floor_bins != np.arange(n_steps)), "the grid must exercise the rounding"


def test_spike_at_the_end_point_is_counted_everywhere():
    from bayesnn.core import bin_counts, make_spikes
    from bayesnn.exact import mmpp_filter
    from bayesnn.neuron import simulate
    params, duration = _params(), 0.5
    inputs = make_spikes([0.1, duration], [0, 0], duration=duration)
    counts = np.asarray(bin_counts(inputs, 3, 1e-3, 500))
    assert counts.sum() == 2 and counts[-1, 0] == 1
    stepped = simulate(params, inputs, duration=duration, method="discrete", dt=1e-3)
    exact = simulate(params, inputs, duration=duration, sample_times=[duration])
    reference = mmpp_filter(params, inputs, duration=duration, query_times=[duration])
    weight = float(params.weights[0])
    without = simulate(params, make_spikes([0.1], [0]), duration=duration, sample_times=[duration])
    # Right-continuity: a sample at the spike's time sees its jump.
    np.testing.assert_allclose(exact.log_odds[-1] - without.log_odds[-1], weight, atol=1e-12)
    np.testing.assert_allclose(exact.log_odds[-1], reference.log_odds[-1], atol=1e-12)
    assert float(stepped.log_odds[-1]) > float(
        simulate(params, make_spikes([0.1], [0]), duration=duration, method="discrete",
                 dt=1e-3).log_odds[-1]) + 0.9 * weight


# --- Kind 6: empty inputs ---------------------------------------------------------------
@pytest.mark.parametrize("method", ["exact", "discrete", "euler"])
def test_empty_spike_train_gives_the_prior_relaxation(method):
    from bayesnn.core import make_spikes
    from bayesnn.exact import mmpp_filter
    from bayesnn.neuron import simulate
    params = _params()
    empty = make_spikes([], [])
    run = simulate(params, empty, duration=0.2, method=method, dt=1e-3)
    assert np.all(np.isfinite(np.asarray(run.log_odds)))
    if method == "exact":
        reference = mmpp_filter(params, empty, duration=0.2, query_times=run.times)
        np.testing.assert_allclose(run.log_odds, reference.log_odds, atol=1e-12)


def test_empty_sample_grid_gives_an_empty_result():
    from bayesnn.core import make_spikes
    from bayesnn.exact import mmpp_filter
    from bayesnn.neuron import simulate
    params = _params()
    inputs = make_spikes([0.1, 0.3], [0, 2])
    run = simulate(params, inputs, duration=0.5, sample_times=np.zeros(0))
    assert np.asarray(run.log_odds).shape == (0,)
    reference = mmpp_filter(params, inputs, duration=0.5, query_times=np.zeros(0))
    assert np.asarray(reference.log_odds).shape == (0,)
    assert np.isfinite(float(reference.log_likelihood))


def test_zero_length_counts_are_refused():
    from bayesnn.neuron import filter_counts
    with pytest.raises(ValueError, match="at least one bin"):
        filter_counts(_params(), np.zeros((0, 3), int), dt=1e-3)
