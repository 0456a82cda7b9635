"""Shared tiny sweep for the sweep tests: 8 points (g0) x 2 seeds in 4 tasks of 2 points,
N = 4 inputs, 0.25 s trials sampled every 10 ms. Every test uses this one config, so
the pytest process compiles the task program once (one static group, one batch shape)."""
from functools import lru_cache

TINY = {
    "scenario": "bayesian_neuron",
    "duration": 0.25,
    "dt": 0.01,
    "seed": 7,
    "n_seeds": 2,
    "batch_size": 2,
    "fixed": {"n_inputs": 4, "q_on": 30.0, "q_off": 8.0, "r_on": 1.0, "r_off": 3.0},
    "grid": {"g0": [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0]},
}
N_TASKS = 4


@lru_cache(maxsize=1)
def serial_reference():
    """TINY run in this process, task after task, no store (computed once)."""
    from bayesnn.sweep import run_serial
    return run_serial(TINY, progress=False)
