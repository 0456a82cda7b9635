"""Bad input to the Bayesian-neuron slice raises a ValueError naming the parameter,
before any simulation work."""
import jax.numpy as jnp
import numpy as np
import pytest

from bayesnn import processes
from bayesnn.core import Spikes, make_spikes, stack_params, stack_spikes
from bayesnn.neuron import NeuronParams, decode_prediction, filter_counts, simulate, simulate_trials
from bayesnn.processes import MMPPParams

Q = np.array([10.0, 20.0])


def raw_spikes(times, senders, counts=None):
    """A Spikes record built without validation (as a user could), to reach the
    simulators' own checks."""
    times = jnp.asarray(times, float)
    senders = jnp.asarray(senders, jnp.int32)
    counts = jnp.ones(senders.shape, jnp.int32) if counts is None else jnp.asarray(counts, jnp.int32)
    return Spikes(times, senders, counts, jnp.asarray(times.shape[-1], jnp.int32))


@pytest.mark.parametrize("kwargs, message", [
    (dict(r_on=0.0), "r_on must be > 0"),
    (dict(r_off=-1.0), "r_off must be > 0"),
    (dict(q_on=np.array([10.0, -2.0])), "q_on must be > 0"),
    (dict(q_off=np.array([10.0, np.nan])), "q_off must be finite"),
    (dict(q_off=np.array([10.0, 20.0, 30.0])), "q_off must have shape"),
    (dict(g0=0.0), "g0 must be > 0"),
    (dict(g0=-1.0), "g0 must be > 0"),
    (dict(r_on=np.inf), "r_on must be finite"),
    (dict(q_on=np.ones((2, 2))), "q_on must have 1 dimension"),
])
def test_neuron_params_reject_bad_values(kwargs, message):
    values = dict(r_on=2.0, r_off=2.0, q_on=Q, q_off=Q[::-1], g0=1.0)
    values.update(kwargs)
    with pytest.raises(ValueError, match=message):
        NeuronParams(**values)
    good = NeuronParams(2.0, 2.0, Q, Q[::-1], 1.0)
    with pytest.raises(ValueError, match=message):  # a validated copy
        good.replace(**kwargs)


def test_samplers_reject_bad_values():
    model = MMPPParams(2.0, 2.0, Q, Q)
    with pytest.raises(ValueError, match="duration must be > 0"):
        processes.sample_trial(model, key=0, duration=0.0)
    with pytest.raises(ValueError, match="r_on must be > 0"):
        processes.sample_trial(MMPPParams(-2.0, 2.0, Q, Q), key=0, duration=1.0)
    with pytest.raises(ValueError, match="q_on \\* dt and q_off \\* dt must be < 1"):
        processes.sample_binned(model, key=0, dt=0.1, n_steps=10, observation="bernoulli")
    with pytest.raises(ValueError, match="initial_state"):
        processes.sample_trial(model, key=0, duration=1.0, initial_state=2)
    with pytest.raises(ValueError, match="key"):
        processes.sample_trial(model, key=-1, duration=1.0)


def test_counts_runs_reject_bad_inputs_before_work():
    params = NeuronParams(2.0, 2.0, Q, Q[::-1])
    with pytest.raises(ValueError, match="Bernoulli bins"):
        filter_counts(params, np.zeros((5, 2), int), dt=0.1, observation="bernoulli")
    with pytest.raises(ValueError, match="counts must hold non-negative integers"):
        filter_counts(params, -np.ones((5, 2)), dt=1e-3)
    with pytest.raises(ValueError, match="counts must hold non-negative integers"):
        filter_counts(params, np.full((5, 2), 0.5), dt=1e-3)
    with pytest.raises(ValueError, match="counts must have shape"):
        filter_counts(params, np.zeros((5, 3), int), dt=1e-3)
    with pytest.raises(ValueError, match="dt must be > 0"):
        filter_counts(params, np.zeros((5, 2), int), dt=0.0)
    with pytest.raises(ValueError, match="method must be one of"):
        filter_counts(params, np.zeros((5, 2), int), dt=1e-3, method="exact")


def test_spike_runs_reject_bad_inputs_before_work():
    params = NeuronParams(2.0, 2.0, Q, Q[::-1])
    good = make_spikes([0.1], [0], n_senders=2)
    with pytest.raises(ValueError, match="inputs.senders must be < n_inputs"):
        simulate(params, raw_spikes([0.1], [2]), duration=1.0)
    with pytest.raises(ValueError, match="inputs.times must be sorted"):
        simulate(params, raw_spikes([0.2, 0.1], [0, 1]), duration=1.0)
    with pytest.raises(ValueError, match="inputs.times must be finite"):
        simulate(params, raw_spikes([np.nan], [0]), duration=1.0)
    with pytest.raises(ValueError, match="inputs.times must lie in"):
        simulate(params, raw_spikes([0.1, 1.5], [0, 1]), duration=1.0)
    with pytest.raises(ValueError, match="inputs.times must lie in"):
        simulate(params, raw_spikes([-0.1, 0.5], [0, 1]), duration=1.0)
    with pytest.raises(ValueError, match="inputs.senders must have shape"):
        simulate(params, raw_spikes([0.1, 0.2], [0]), duration=1.0)
    with pytest.raises(ValueError, match="inputs.senders must be integers"):
        simulate(params, Spikes(jnp.array([0.1]), jnp.array([0.5]), jnp.array([1]),
                                jnp.array(1)), duration=1.0)
    with pytest.raises(ValueError, match="inputs.counts must have shape"):
        simulate(params, raw_spikes([0.1, 0.2], [0, 1], counts=[1]), duration=1.0)
    with pytest.raises(ValueError, match="inputs.counts must be 1"):  # would be dropped
        simulate(params, make_spikes([0.1], [0], counts=[2], n_senders=2), duration=1.0)
    with pytest.raises(ValueError, match="inputs must be a bayesnn.core.Spikes"):
        simulate(params, (np.array([0.1]), np.array([0])), duration=1.0)
    with pytest.raises(ValueError, match="simulate_trials"):
        simulate(params, stack_spikes([good, good]), duration=1.0)
    with pytest.raises(ValueError, match="inputs.times must have shape"):
        simulate_trials(params, good, duration=1.0)
    with pytest.raises(ValueError, match="duration .* must be a positive multiple of dt"):
        simulate(params, good, method="euler", dt=0.3, duration=1.0)
    with pytest.raises(ValueError, match="method must be one of"):
        simulate(params, good, method="rk4", dt=0.1, duration=1.0)
    with pytest.raises(ValueError, match="duration must be > 0"):
        simulate(params, good, duration=0.0)
    with pytest.raises(ValueError, match="sample_times must lie in"):
        simulate(params, good, duration=1.0, sample_times=[0.5, 2.0])
    with pytest.raises(ValueError, match="sample_times must be sorted"):
        simulate(params, good, duration=1.0, sample_times=[0.5, 0.2])
    with pytest.raises(ValueError, match="record_every"):
        simulate(params, good, duration=1.0, record_every=0)
    with pytest.raises(ValueError, match="params must be a NeuronParams"):
        simulate(MMPPParams(2.0, 2.0, Q, Q[::-1]), good, duration=1.0)
    with pytest.raises(ValueError, match="stacked batch"):
        simulate(stack_params([params, params]), good, duration=1.0)


def test_decoder_rejects_bad_inputs():
    params = NeuronParams(2.0, 2.0, Q, Q[::-1])
    output = make_spikes([0.1, 0.3])
    with pytest.raises(ValueError, match="query_times must be sorted"):
        decode_prediction(params, output, [0.5, 0.2])
    with pytest.raises(ValueError, match="query_times must be finite"):
        decode_prediction(params, output, [0.5, np.nan])
    with pytest.raises(ValueError, match="trial="):
        decode_prediction(params, stack_spikes([output, output]), [0.5])
