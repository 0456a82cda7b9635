"""Shared scenario builders for the Bayesian-neuron tests (model of Denève 2004, Sec. 1.1).

The default switching rates are asymmetric (r_on = 1 Hz, r_off = 3 Hz, P(x = 1) = 1/4),
so that a swap of r_on and r_off anywhere changes the numbers and fails the exact
checks; r_on + r_off = 4 Hz as in the notes' symmetric setting (2 + 2 Hz), so the
state's correlation time 1/(r_on + r_off) = 0.25 s, on which some sampling choices
rest, is unchanged.
"""
import numpy as np

from bayesnn.core import make_spikes
from bayesnn.neuron import NeuronParams

DEFAULT_SEED = 20261128
R_ON, R_OFF = 1.0, 3.0


def default_rates(n_inputs: int = 20, low: float = 5.0, high: float = 30.0, seed: int = DEFAULT_SEED):
    """q_on, q_off ~ U(low, high) Hz independently (the default reference setting)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, n_inputs), rng.uniform(low, high, n_inputs)


def default_params(g0: float = 1.0, r_on: float = R_ON, r_off: float = R_OFF, **kwargs) -> NeuronParams:
    q_on, q_off = default_rates(**kwargs)
    return NeuronParams(r_on, r_off, q_on, q_off, g0)


def input_spikes(params: NeuronParams, times=(), channels=(), duration: float | None = None):
    """Input spikes (:class:`bayesnn.core.Spikes`) on the params' N channels; empty by
    default (no input)."""
    return make_spikes(np.asarray(times, float), np.asarray(channels, int),
                       n_senders=params.n_inputs, duration=duration)
