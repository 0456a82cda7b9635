"""The NumPy reference loops of ``bench_neuron.py``: the Bayesian neuron as a competent
researcher writes it in plain NumPy (vectorised over neurons, one time step at a time).

Two loops, one per comparison, so that each side does the same work:

* :func:`numpy_reference` draws its inputs itself (hidden-state flips and one
  Bernoulli(q dt) per input per step): compared with bayesnn's event sampling plus its
  stepped run ("+inputs" columns). Its random numbers are its own, so only statistics
  (the output rate) can be compared.
* :func:`numpy_events_reference` runs on bayesnn's own input events: it bins them per
  chunk and steps the same "discrete" recursion, so its records and spike counts are
  checked against bayesnn's "discrete" mode ("run only" columns).

Both use the cheapest exact form of the one-bin predict, one exp and one log,
:math:`L^- = \\log[((1 - a_{off}) e^L + a_{on}) / (a_{off} e^L + 1 - a_{on})]` (the
form of :func:`bayesnn.neuron.stepped.discrete_predict`), for L and for G: G's one-bin
prior flow is the same predict (the binned chain's exact transition over dt), so G
costs two transcendental operations per step here against four in bayesnn, whose G is
evaluated from its last output spike (the decoder's form, exact to rounding at any
elapsed time).
"""
from __future__ import annotations

import math

import numpy as np

SEED = 20261128


def _constants(params, dt: float) -> dict:
    r_on, r_off = float(params.r_on), float(params.r_off)
    total = r_on + r_off
    relaxed = -math.expm1(-total * dt)
    a_on, a_off = r_on / total * relaxed, r_off / total * relaxed
    return {"a_on": a_on, "a_off": a_off, "stay_on": 1.0 - a_off, "stay_off": 1.0 - a_on,
            "bias": -float(params.theta) * dt, "g0": float(params.g0),
            "prior": float(params.prior_log_odds), "p_on": r_on / total}


def _predict(log_odds: np.ndarray, c: dict) -> np.ndarray:
    odds = np.exp(log_odds)
    return np.log((c["stay_on"] * odds + c["a_on"]) / (c["a_off"] * odds + c["stay_off"]))


def numpy_reference(params, n_neurons: int, duration: float, dt: float,
                    seed: int = SEED) -> dict:
    """The loop that draws its own inputs (``params``: a
    :class:`bayesnn.neuron.NeuronParams`; duration and dt in s).

    Each step draws the hidden-state flips (prob 1 - exp(-r dt)) and one Bernoulli
    (q dt) per input, updates L by the discrete recursion (Poisson-count form, as the
    "discrete" mode), G by its one-bin prior flow, and counts output spikes.
    """
    rng = np.random.default_rng(seed)
    c = _constants(params, dt)
    r_on, r_off = float(params.r_on), float(params.r_off)
    q_on, q_off = np.asarray(params.q_on), np.asarray(params.q_off)
    weights = np.asarray(params.weights)
    p_flip_on, p_flip_off = -math.expm1(-r_on * dt), -math.expm1(-r_off * dt)
    p_in_on, p_in_off = q_on * dt, q_off * dt

    x = rng.random(n_neurons) < c["p_on"]
    log_odds = np.full(n_neurons, c["prior"])
    prediction = log_odds.copy()
    n_out = np.zeros(n_neurons, np.int64)
    for _ in range(int(round(duration / dt))):
        flip = rng.random(n_neurons) < np.where(x, p_flip_off, p_flip_on)
        x ^= flip
        spikes = rng.random((n_neurons, weights.shape[0])) < np.where(x[:, None], p_in_on, p_in_off)
        log_odds = _predict(log_odds, c) + spikes @ weights + c["bias"]
        prediction = _predict(prediction, c)
        excess = log_odds - prediction - 0.5 * c["g0"]
        fired = np.where(excess > 0, np.ceil(excess / c["g0"]), 0.0)
        prediction += c["g0"] * fired
        n_out += fired.astype(np.int64)
    return {"log_odds": log_odds, "n_spikes": n_out}


def numpy_events_reference(params, times: np.ndarray, senders: np.ndarray, duration: float,
                           dt: float, record_every: int, chunk: int = 2000) -> dict:
    """The loop on given input events: ``times``, ``senders`` (n_neurons, slots), one row
    per neuron (padding: sender -1), the ``inputs`` of
    :func:`bayesnn.processes.sample_trials`.

    Events are binned by bayesnn's rule (bin k = [k dt, (k+1) dt), grid times within
    1e-9 to the grid point, :func:`bayesnn.core.binning.bin_index`), ``chunk`` steps at
    a time (memory O(events + chunk x neurons)); each step updates L by the "discrete"
    recursion and G by its one-bin prior flow, fires ``ceil((L - G - g0/2)/g0)`` spikes
    where positive. Returns L and G every ``record_every`` steps (n_neurons, S) and the
    spike counts per neuron.
    """
    from bayesnn.core.binning import bin_index  # the host (NumPy) path for NumPy arrays

    c = _constants(params, dt)
    weights = np.asarray(params.weights)
    n_neurons = times.shape[0]
    n_steps = int(round(duration / dt))
    valid = senders >= 0
    bins = np.asarray(bin_index(np.where(valid, times, np.inf), dt, n_steps))
    neuron = np.broadcast_to(np.arange(n_neurons)[:, None], times.shape)
    order = np.argsort(bins[valid], kind="stable")  # by bin; per neuron in time order
    event_bins = bins[valid][order]
    event_cells = event_bins.astype(np.int64) * n_neurons + neuron[valid][order]
    event_weights = weights[senders[valid]][order]

    log_odds = np.full(n_neurons, c["prior"])
    prediction = log_odds.copy()
    n_out = np.zeros(n_neurons, np.int64)
    records_l, records_g = [], []
    for first in range(0, n_steps, chunk):
        length = min(chunk, n_steps - first)
        lo, hi = np.searchsorted(event_bins, [first, first + length])
        evidence = np.bincount(event_cells[lo:hi] - first * n_neurons,
                               weights=event_weights[lo:hi],
                               minlength=length * n_neurons).reshape(length, n_neurons)
        evidence += c["bias"]
        for k in range(length):
            log_odds = _predict(log_odds, c) + evidence[k]
            prediction = _predict(prediction, c)
            excess = log_odds - prediction - 0.5 * c["g0"]
            fired = np.where(excess > 0, np.ceil(excess / c["g0"]), 0.0)
            prediction += c["g0"] * fired
            n_out += fired.astype(np.int64)
            if (first + k + 1) % record_every == 0:
                records_l.append(log_odds)
                records_g.append(prediction.copy())
    return {"log_odds": np.stack(records_l, axis=1), "prediction": np.stack(records_g, axis=1),
            "n_spikes": n_out}
