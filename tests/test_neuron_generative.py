"""simulate_generative: the hidden chain and the inputs drawn inside the exact run.

(a) bit-identical whatever chunk_events; (b) the neuron part equals simulate(method=
"exact") on the generated inputs; (c) the generated chain and inputs follow the model
(bounds from theory); (d) trial k does not depend on the number of trials.
"""
import jax
import numpy as np
import pytest

from bayesnn.core import Spikes
from bayesnn.neuron import GenerativeResult, NeuronParams, simulate_generative, simulate_trials

DURATION = 3.0
SAMPLES = np.linspace(0.05, DURATION, 60)
SEED = 20261130


def params_with_drift():
    # theta = sum(q_on - q_off) < 0 and large: drift alone can fire (drift_can_fire)
    return NeuronParams(r_on=2.0, r_off=3.0, q_on=np.array([40.0, 15.0, 8.0]),
                        q_off=np.array([10.0, 30.0, 60.0]), g0=0.5)


def leaves(run: GenerativeResult):
    """Every field (output spikes as their valid events: the buffer's capacity is the
    next power of two over the largest count of the batch)."""
    spikes = run.spikes
    valid = [np.asarray(spikes.n_events)]
    times, counts = np.asarray(spikes.times), np.asarray(spikes.counts)
    if times.ndim == 1:
        times, counts, valid = times[None], counts[None], [valid[0][None]]
    for k, n in enumerate(valid[0]):
        valid += [times[k, :n], counts[k, :n]]
    return valid + [np.asarray(a) for a in
                    jax.tree_util.tree_leaves(run._replace(times=None, spikes=None))]


@pytest.fixture(scope="module")
def runs():
    params = params_with_drift()
    return params, {chunk: simulate_generative(params, key=SEED, duration=DURATION, n_trials=3,
                                               sample_times=SAMPLES, chunk_events=chunk,
                                               record_inputs=64)
                    for chunk in (7, 64)}


def test_bit_identical_whatever_chunk_size(runs):
    _, by_chunk = runs
    first, second = by_chunk[7], by_chunk[64]
    assert int(np.asarray(first.spikes.n_events).min()) > 5      # the runs do fire
    assert int(np.asarray(first.n_switches).min()) > 0
    for a, b in zip(leaves(first), leaves(second)):
        np.testing.assert_array_equal(a, b)


def test_neuron_equals_simulate_exact_on_the_generated_inputs(runs):
    params, by_chunk = runs
    run = by_chunk[64]
    inputs = run.inputs
    assert int(np.asarray(inputs.n_events).max()) <= inputs.capacity
    np.testing.assert_array_equal(np.asarray(inputs.n_events), np.asarray(run.input_counts.sum(-1)))
    reference = simulate_trials(params, inputs, duration=DURATION, sample_times=SAMPLES)
    np.testing.assert_allclose(run.log_odds, reference.log_odds, rtol=0, atol=1e-9)
    np.testing.assert_allclose(run.prediction, reference.prediction, rtol=0, atol=1e-9)
    # the same output spikes (SAMPLES end at the duration, so both runs cover [0, T])
    np.testing.assert_array_equal(np.asarray(run.spikes.n_events),
                                  np.asarray(reference.spikes.n_events))
    for k in range(3):
        n = int(run.spikes.n_events[k])
        np.testing.assert_allclose(run.spikes.times[k, :n], reference.spikes.times[k, :n],
                                   rtol=0, atol=1e-9)
        np.testing.assert_array_equal(run.spikes.counts[k, :n], reference.spikes.counts[k, :n])
    # the recorded true state is the state implied by the switch times
    for k in range(3):
        switches = np.asarray(run.switches.times[k, :int(run.switches.n_events[k])])
        flips = np.searchsorted(switches, SAMPLES, side="right")
        np.testing.assert_array_equal(run.state[k], (int(run.initial_state[k]) + flips) % 2)


def test_trial_k_does_not_depend_on_the_number_of_trials(runs):
    params, by_chunk = runs
    batch = by_chunk[64]
    one = simulate_generative(params, key=jax.random.fold_in(jax.random.PRNGKey(SEED), 1),
                              duration=DURATION, sample_times=SAMPLES, chunk_events=64,
                              record_inputs=64)
    batch = jax.tree_util.tree_map(lambda a: a[1:2], batch._replace(times=None))
    one = jax.tree_util.tree_map(lambda a: a[None], one._replace(times=None))
    for a, b in zip(leaves(one), leaves(batch)):
        np.testing.assert_array_equal(a, b)


def test_counts_and_dwell_agree_with_the_generated_events(runs):
    _, by_chunk = runs
    run = by_chunk[64]
    for k in range(3):
        n = int(run.inputs.n_events[k])
        senders = np.asarray(run.inputs.senders[k, :n])
        times = np.asarray(run.inputs.times[k, :n])
        np.testing.assert_array_equal(np.bincount(senders, minlength=3), run.input_counts[k])
        switches = np.asarray(run.switches.times[k, :int(run.switches.n_events[k])])
        state = (int(run.initial_state[k]) + np.searchsorted(switches, times, side="right")) % 2
        np.testing.assert_array_equal(np.bincount(senders[state == 1], minlength=3),
                                      run.input_counts_on[k])
        edges = np.concatenate([[0.0], switches, [DURATION]])
        dwell_state = (int(run.initial_state[k]) + np.arange(edges.size - 1)) % 2
        np.testing.assert_allclose(float(run.time_on[k]),
                                   np.sum(np.diff(edges)[dwell_state == 1]), rtol=1e-12)
        assert int(run.n_switches[k]) == switches.size


@pytest.mark.slow
def test_bit_identical_with_one_event_per_chunk_and_short_segments(runs, monkeypatch):
    from bayesnn.neuron import generative
    params, by_chunk = runs
    # about 4 output spikes per segment: ~100 segments, each harvested to the host
    monkeypatch.setattr(generative, "_SEGMENT_SPIKES", 4)
    assert generative.segment_plan(params, DURATION, 1)[0] < 20
    single = simulate_generative(params, key=SEED, duration=DURATION, n_trials=3,
                                 sample_times=SAMPLES, chunk_events=1, record_inputs=64)
    for a, b in zip(leaves(single), leaves(by_chunk[64])):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_chain_and_inputs_follow_the_model():
    """Fixed seed; tolerances are 5 standard deviations from theory."""
    params = NeuronParams(r_on=4.0, r_off=6.0, q_on=np.array([30.0, 5.0]),
                          q_off=np.array([10.0, 20.0]), g0=1.0)
    n_trials, duration = 3, 100.0
    run = simulate_generative(params, key=7, duration=duration, n_trials=n_trials,
                              sample_times=np.linspace(1.0, duration, 200), chunk_events=256)
    r_on, r_off = 4.0, 6.0
    p_on, total = r_on / (r_on + r_off), n_trials * duration
    time_on = float(np.sum(run.time_on))
    # time average of a two-state chain: variance 2 p (1 - p) / ((r_on + r_off) T)
    sd = np.sqrt(2 * p_on * (1 - p_on) / ((r_on + r_off) * total))
    assert abs(time_on / total - p_on) < 5 * sd
    # given the path, the counts in each state are Poisson(q x dwell)
    counts_on = np.asarray(run.input_counts_on).sum(0)
    counts_off = np.asarray(run.input_counts).sum(0) - counts_on
    for counts, mean in ((counts_on, params.q_on * time_on),
                         (counts_off, params.q_off * (total - time_on))):
        z = (counts - np.asarray(mean)) / np.sqrt(np.asarray(mean))
        assert np.all(np.abs(z) < 5), z
    # switches leave state 1 at r_off and state 0 at r_on
    mean_switches = r_off * time_on + r_on * (total - time_on)
    assert abs(float(np.sum(run.n_switches)) - mean_switches) < 5 * np.sqrt(mean_switches)
    # the filter is calibrated: E[x - P(x = 1 | inputs)] = 0 (|x - P| <= 1)
    error = np.asarray(run.state) - np.asarray(run.posterior)
    assert abs(error.mean()) < 5 * 0.5 / np.sqrt(n_trials * 100 / 2)  # ~100 s / 0.5 s


@pytest.mark.parametrize("change, message", [
    (dict(duration=0.0), "duration"),
    (dict(chunk_events=0), "chunk_events"),
    (dict(n_trials=0), "n_trials"),
    (dict(sample_times=[0.5, 0.2]), "sample_times"),
    (dict(sample_times=[0.5, 2.0]), "sample_times"),
    (dict(initial_state=2), "initial_state"),
    (dict(record_inputs=-1), "record_inputs"),
    (dict(capacity=0), "capacity"),
    (dict(key=-1), "key"),
    (dict(params="p"), "params"),
    (dict(duration=1e9), "duration"),
])
def test_bad_arguments_are_named(change, message):
    arguments = dict(params=params_with_drift(), key=1, duration=1.0, sample_times=[0.5])
    arguments.update(change)
    params = arguments.pop("params")
    with pytest.raises(ValueError, match=message):
        simulate_generative(params, **arguments)
