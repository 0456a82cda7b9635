"""Shared scenario builders for the Bayesian-neuron tests (science notes, Sec. 6.3)."""
import numpy as np

from bayesnn.neuron import NeuronParams

DEFAULT_SEED = 20261128


def default_rates(n_inputs: int = 20, low: float = 5.0, high: float = 30.0, seed: int = DEFAULT_SEED):
    """q_on, q_off ~ U(low, high) Hz independently (the default reference setting)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, n_inputs), rng.uniform(low, high, n_inputs)


def default_params(g0: float = 1.0, r_on: float = 2.0, r_off: float = 2.0, **kwargs) -> NeuronParams:
    q_on, q_off = default_rates(**kwargs)
    return NeuronParams(r_on, r_off, q_on, q_off, g0)
