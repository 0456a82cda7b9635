"""One set of fixtures for every model family and integrator (the Nengo habit).

Each :class:`Family` says how to build small parameters and per-trial inputs and how to
run one trial or a batch under bayesnn's one call convention
(``simulate(params, inputs, *, key=..., capacity=..., ...)`` and
``simulate_trials(params, batched_inputs, *, key=..., ...)``). tests/test_families.py
runs the same checks on all of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import jax
import numpy as np

from bayesnn import neuron, processes, scn
from bayesnn.posteriors import kalman, log_odds, log_odds_data, log_odds_params
from bayesnn.processes import linear_gaussian


@dataclass(frozen=True)
class Family:
    name: str
    build: Callable[[], tuple[Any, Any]]          # -> (params, batched inputs, 3 trials)
    run: Callable[..., Any]                        # (params, inputs, key, capacity) -> result
    run_trials: Callable[..., Any]                 # (params, batched inputs, key, capacity)
    uses_key: bool                                 # does the result depend on the key?


def _neuron_build():
    rng = np.random.default_rng(7)
    params = neuron.NeuronParams(1.0, 3.0, rng.uniform(5, 30, 8), rng.uniform(5, 30, 8), 0.5)
    trials = processes.sample_trials(params, key=3, n_trials=3, duration=2.0)
    return params, trials.inputs


def _neuron_family(method: str) -> Family:
    options = dict(duration=2.0, method=method, dt=1e-3 if method != "exact" else 1e-2)
    return Family(
        name=f"neuron-{method}",
        build=_neuron_build,
        run=lambda p, x, key, capacity=None: neuron.simulate(p, x, capacity=capacity, **options),
        run_trials=lambda p, x, key, capacity=None: neuron.simulate_trials(
            p, x, capacity=capacity, **options),
        uses_key=False,
    )


def _signals(n_trials: int, n_steps: int, dt: float, n_dims: int, seed: int) -> np.ndarray:
    """Per-trial smooth targets x(t) (different phase per trial)."""
    t = dt * np.arange(n_steps + 1)
    phases = np.random.default_rng(seed).uniform(0, 2 * np.pi, (n_trials, n_dims))
    return np.sin(2 * np.pi * 3.0 * t[None, :, None] + phases[:, None, :])


def _scn_build():
    params = scn.make_autoencoder(scn.random_decoder(2, 20, norm=0.2, seed=3), lambda_=10.0,
                                  sigma_v=0.05, dt=1e-4)
    x = _signals(3, 2000, 1e-4, 2, seed=4)
    c = np.stack([scn.autoencoder_input(trial, 1e-4, 10.0) for trial in x])
    return params, c


def _dale_build():
    params = scn.make_dale_network(n_e=16, n_i=4, n_dims=1, dt=5e-5, seed=2)
    x = 2.0 + _signals(3, 4000, 5e-5, 1, seed=5)
    c = np.stack([scn.autoencoder_input(trial, 5e-5, float(params.lambda_)) for trial in x])
    return params, c


def _log_odds_build():
    params = log_odds_params.default_population(n_variables=2, n_inputs=6, n_neurons=8,
                                                r_on=1.0, r_off=3.0, seed=3)
    trials = log_odds_data.sample_population_trials(params, key=4, n_trials=3, duration=0.3)
    return params, trials.inputs


def _kalman_build():
    params = kalman.make_spiking_kalman(linear_gaussian.ou_params(), n_neurons=20, dt=1e-4, seed=1)
    dy = np.stack([np.asarray(linear_gaussian.sample_linear_gaussian(
        linear_gaussian.ou_params(), key=k, dt=1e-4, n_steps=2000).dy) for k in range(3)])
    return params, dy


FAMILIES: list[Family] = [_neuron_family(m) for m in ("exact", "discrete", "euler")] + [
    Family("scn", _scn_build,
           run=lambda p, c, key, capacity=None: scn.simulate(p, c, key=key, capacity=capacity),
           run_trials=lambda p, c, key, capacity=None: scn.simulate_trials(
               p, c, key=key, capacity=capacity),
           uses_key=True),
    Family("scn-dale", _dale_build,
           run=lambda p, c, key, capacity=None: scn.simulate_dale(p, c, key=key,
                                                                  capacity=capacity),
           run_trials=lambda p, c, key, capacity=None: scn.simulate_dale_trials(
               p, c, key=key, capacity=capacity),
           uses_key=True),
    Family("log-odds-population", _log_odds_build,
           run=lambda p, x, key, capacity=None: log_odds.simulate(
               p, x, key=key, duration=0.3, capacity=capacity),
           run_trials=lambda p, x, key, capacity=None: log_odds.simulate_trials(
               p, x, key=key, duration=0.3, capacity=capacity),
           uses_key=False),
    Family("spiking-kalman", _kalman_build,
           run=lambda p, dy, key, capacity=None: kalman.simulate(p, dy, key=key,
                                                                 capacity=capacity),
           run_trials=lambda p, dy, key, capacity=None: kalman.simulate_trials(
               p, dy, key=key, capacity=capacity),
           uses_key=False),
]


def trial_of(batch: Any, index: int) -> Any:
    """Trial ``index`` of a batched pytree (inputs or results)."""
    return jax.tree_util.tree_map(
        lambda leaf: leaf[index] if getattr(leaf, "ndim", 0) >= 1 else leaf, batch)
