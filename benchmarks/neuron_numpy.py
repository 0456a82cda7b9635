"""The NumPy reference loop of ``bench_neuron.py``: the Bayesian neuron as a researcher
would first write it (vectorised over neurons, one time step at a time)."""
from __future__ import annotations

import math

import numpy as np

SEED = 20261128


def numpy_reference(params, n_neurons: int, duration: float, dt: float,
                    seed: int = SEED) -> dict:
    """The naive loop: vectorised over neurons, one time step at a time (``params``: a
    :class:`bayesnn.neuron.NeuronParams`; duration and dt in s).

    Each step draws the hidden-state flips (prob 1 - exp(-r dt)) and one Bernoulli
    (q dt) per input, updates L by the discrete log-space recursion (Poisson-count
    form, as the "discrete" mode), G by its exact prior flow, and counts output spikes.
    """
    rng = np.random.default_rng(seed)
    r_on, r_off, g0 = float(params.r_on), float(params.r_off), float(params.g0)
    q_on, q_off = np.asarray(params.q_on), np.asarray(params.q_off)
    weights = np.asarray(params.weights)
    p_flip_on, p_flip_off = -math.expm1(-r_on * dt), -math.expm1(-r_off * dt)
    total = r_on + r_off
    relaxed = -math.expm1(-total * dt)
    log_a_on, log_a_off = math.log(r_on / total * relaxed), math.log(r_off / total * relaxed)
    log_stay_on, log_stay_off = math.log1p(-r_off / total * relaxed), math.log1p(-r_on / total * relaxed)
    bias = -float(params.theta) * dt
    p_in_on, p_in_off = q_on * dt, q_off * dt

    x = rng.random(n_neurons) < r_on / total
    log_odds = np.full(n_neurons, float(params.prior_log_odds))
    prediction = log_odds.copy()
    n_out = np.zeros(n_neurons, np.int64)
    for _ in range(int(round(duration / dt))):
        flip = rng.random(n_neurons) < np.where(x, p_flip_off, p_flip_on)
        x ^= flip
        spikes = rng.random((n_neurons, weights.shape[0])) < np.where(x[:, None], p_in_on, p_in_off)
        evidence = spikes @ weights
        log_odds = (np.logaddexp(log_stay_on + log_odds, log_a_on)
                    - np.logaddexp(log_a_off + log_odds, log_stay_off)) + evidence + bias
        prediction = (np.logaddexp(log_stay_on + prediction, log_a_on)
                      - np.logaddexp(log_a_off + prediction, log_stay_off))
        excess = log_odds - prediction - 0.5 * g0
        fired = np.where(excess > 0, np.ceil(excess / g0), 0.0)
        prediction += g0 * fired
        n_out += fired.astype(np.int64)
    return {"log_odds": log_odds, "n_spikes": n_out}
