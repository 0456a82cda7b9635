"""One time convention for recorded predictions (right-continuous): a sample at an
output spike time sees the spike's jump in the recorder and in the decoder alike.

The issue's reproducer: one input at 5 s that strongly favours OFF, so every output
spike before it is driven by the drift of G alone (q_on = 1 Hz, q_off = 40 Hz: L rises
from the prior towards its drift equilibrium); the run is sampled at its own output
spike times. A recorder that reports G just *before* a drift-driven spike differs from
the decoder by exactly g0 x count there. Elsewhere both evaluate the same exact flow from
the same anchor: float64 rounding, measured <= 1.8e-15 nats; bound 1e-12 (the decoder's
flow over up to 5 s from its anchor, ~100 ulp of |G| ~ 5)."""
import numpy as np
import pytest

from bayesnn.core import make_spikes, stack_spikes
from bayesnn.neuron import NeuronParams, decode_prediction, simulate, simulate_trials

PARAMS = NeuronParams(r_on=1.0, r_off=1.0, q_on=[1.0], q_off=[40.0], g0=1.0)
INPUTS = make_spikes([5.0])


def _spike_times(run):
    return np.asarray(run.spikes.times)[:int(run.spikes.n_events)]


def test_samples_at_drift_driven_output_spikes_see_the_jump():
    times = _spike_times(simulate(PARAMS, INPUTS, duration=5.0))
    assert times.size > 100  # drift-driven spikes (before the one input at 5 s)
    run = simulate(PARAMS, INPUTS, duration=5.0, sample_times=times)
    # samples are integration breakpoints: they move spike times by rounding only
    # (measured <= 1e-15 s), so a sample sits within ulps of its spike, the tie case
    np.testing.assert_allclose(_spike_times(run), times, rtol=0, atol=1e-12)
    decoded = decode_prediction(PARAMS, run.spikes, times)
    np.testing.assert_allclose(np.asarray(run.prediction), decoded, rtol=0, atol=1e-12)
    # right-continuity, checked directly: just before each spike G is lower by g0 x count
    own = _spike_times(run)
    before = decode_prediction(PARAMS, run.spikes, np.nextafter(own, -np.inf))
    at = decode_prediction(PARAMS, run.spikes, own)
    counts = np.asarray(run.spikes.counts)[:own.size]
    np.testing.assert_allclose(at - before, PARAMS.g0 * counts, rtol=0, atol=1e-9)


@pytest.mark.parametrize("shift", [-2, -1, 1, 2])
def test_samples_one_or_two_ulps_from_a_spike_agree_with_the_decoder(shift):
    """A sample a few ulps before or after a drift-driven spike: the spike found in the
    sampled run may land on either side of it; recorder and decoder must agree on which
    (they differ by g0 x count otherwise)."""
    times = _spike_times(simulate(PARAMS, INPUTS, duration=5.0))
    samples = times.copy()
    for _ in range(abs(shift)):
        samples = np.nextafter(samples, np.inf if shift > 0 else -np.inf)
    run = simulate(PARAMS, INPUTS, duration=5.0, sample_times=samples)
    decoded = decode_prediction(PARAMS, run.spikes, samples)
    np.testing.assert_allclose(np.asarray(run.prediction), decoded, rtol=0, atol=1e-12)


def test_batched_trials_and_input_spike_times_follow_the_same_convention():
    other = make_spikes([0.7, 2.2, 2.2, 4.0])
    batch = stack_spikes([INPUTS, other])
    times = np.union1d(_spike_times(simulate(PARAMS, INPUTS, duration=5.0)),
                       [0.7, 2.2, 4.0, 5.0])
    run = simulate_trials(PARAMS, batch, duration=5.0, sample_times=times)
    for k in range(2):
        spikes = type(run.spikes)(*(np.asarray(a)[k] for a in run.spikes))
        decoded = decode_prediction(PARAMS, spikes, times)
        np.testing.assert_allclose(np.asarray(run.prediction)[k], decoded, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ["discrete", "euler"])
def test_stepped_records_at_bin_ends_see_spikes_of_that_bin(method):
    dt = 1e-3
    run = simulate(PARAMS, INPUTS, duration=5.0, method=method, dt=dt)
    ends = np.arange(1, 5001) * dt
    decoded = decode_prediction(PARAMS, run.spikes, ends)
    # same flow from the same anchors at the bin ends (measured 0 difference)
    np.testing.assert_allclose(np.asarray(run.prediction), decoded, rtol=0, atol=1e-12)
