"""Bad input to the Bayesian-neuron slice raises a ValueError naming the parameter."""
import jax
import numpy as np
import pytest

from bayesnn import processes
from bayesnn.neuron import NeuronParams, decode_prediction, filter_counts, simulate

Q = np.array([10.0, 20.0])


@pytest.mark.parametrize("kwargs, message", [
    (dict(r_on=0.0), "r_on must be > 0"),
    (dict(r_off=-1.0), "r_off must be > 0"),
    (dict(q_on=np.array([10.0, -2.0])), "q_on must be > 0"),
    (dict(q_off=np.array([10.0, np.nan])), "q_off must be finite"),
    (dict(q_off=np.array([10.0, 20.0, 30.0])), "q_off must have shape"),
    (dict(g0=0.0), "g0 must be > 0"),
    (dict(r_on=np.inf), "r_on must be finite"),
    (dict(q_on=np.ones((2, 2))), "q_on must have 1 dimension"),
])
def test_neuron_params_reject_bad_values(kwargs, message):
    values = dict(r_on=2.0, r_off=2.0, q_on=Q, q_off=Q[::-1], g0=1.0)
    values.update(kwargs)
    with pytest.raises(ValueError, match=message):
        NeuronParams(**values)


def test_samplers_reject_bad_values():
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="duration must be > 0"):
        processes.sample_trial(key, 2.0, 2.0, Q, Q, 0.0)
    with pytest.raises(ValueError, match="r_on must be > 0"):
        processes.sample_trial(key, -2.0, 2.0, Q, Q, 1.0)
    with pytest.raises(ValueError, match="q_on \\* dt and q_off \\* dt must be < 1"):
        processes.sample_binned(key, 2.0, 2.0, Q, Q, 0.1, 10, observation="bernoulli")
    with pytest.raises(ValueError, match="initial_state"):
        processes.sample_trial(key, 2.0, 2.0, Q, Q, 1.0, initial_state=2)


def test_runs_reject_bad_inputs_before_work():
    params = NeuronParams(2.0, 2.0, Q, Q[::-1])
    with pytest.raises(ValueError, match="Bernoulli bins"):
        filter_counts(params, np.zeros((5, 2), int), 0.1, observation="bernoulli")
    with pytest.raises(ValueError, match="counts must hold non-negative integers"):
        filter_counts(params, -np.ones((5, 2)), 1e-3)
    with pytest.raises(ValueError, match="counts must hold non-negative integers"):
        filter_counts(params, np.full((5, 2), 0.5), 1e-3)
    with pytest.raises(ValueError, match="counts must have shape"):
        filter_counts(params, np.zeros((5, 3), int), 1e-3)
    with pytest.raises(ValueError, match="dt must be > 0"):
        filter_counts(params, np.zeros((5, 2), int), 0.0)
    with pytest.raises(ValueError, match="spike_channels must be < n_inputs"):
        simulate(params, (np.array([0.1]), np.array([2])), duration=1.0)
    with pytest.raises(ValueError, match="spike_times must be sorted"):
        simulate(params, (np.array([0.2, 0.1]), np.array([0, 1])), duration=1.0)
    with pytest.raises(ValueError, match="spike_times must be finite"):
        simulate(params, (np.array([np.nan]), np.array([0])), duration=1.0)
    with pytest.raises(ValueError, match="same shape|common shape"):
        simulate(params, (np.array([0.1, 0.2]), np.array([0])), duration=1.0)
    with pytest.raises(ValueError, match="duration .* must be a positive multiple of dt"):
        simulate(params, (np.array([0.1]), np.array([0])), "euler", dt=0.3, duration=1.0)
    with pytest.raises(ValueError, match="method must be one of"):
        simulate(params, (np.array([0.1]), np.array([0])), "rk4", dt=0.1, duration=1.0)
    with pytest.raises(ValueError, match="g0 must be > 0"):
        decode_prediction([0.1], [1], [0.2], 2.0, 2.0, -1.0)
