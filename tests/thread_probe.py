"""Run every model family (tests/families.py) plus larger workloads on fixed seeds and
save every result leaf to an .npz file. tests/test_thread_invariance.py runs it under
one and two XLA CPU threads and compares the files bit for bit.

    BAYESNN_PROBE_CORES=0 python tests/thread_probe.py OUT.npz

``BAYESNN_PROBE_CORES`` (comma-separated CPU indices) pins the process before JAX starts
(set here rather than in a ``preexec_fn``, which would fork a process whose parent runs
JAX's threads).
"""
from __future__ import annotations

import os
import sys

if os.environ.get("BAYESNN_PROBE_CORES"):
    os.sched_setaffinity(0, {int(core) for core in os.environ["BAYESNN_PROBE_CORES"].split(",")})

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # repo root
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tests/

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import numpy as np  # noqa: E402

from bayesnn import exact, neuron, processes, scn  # noqa: E402
from families import FAMILIES  # noqa: E402


def leaves(prefix: str, tree, out: dict) -> None:
    for index, leaf in enumerate(jax.tree_util.tree_leaves(tree)):
        out[f"{prefix}/{index}"] = np.asarray(leaf)


def main(path: str) -> None:
    out: dict[str, np.ndarray] = {}
    for family in FAMILIES:
        params, inputs = family.build()
        leaves(family.name, family.run_trials(params, inputs, jax.random.PRNGKey(11)), out)
    # Larger shapes, where XLA's CPU backend splits matrix products and big fusions
    # across its threads: a 400-neuron SCN over 8 trials, 64 neurons' exact filter.
    rng = np.random.default_rng(3)
    net = scn.make_autoencoder(scn.random_decoder(2, 400, norm=0.1, seed=0), lambda_=10.0,
                               sigma_v=1e-3, dt=1e-4)
    t = 1e-4 * np.arange(2001)
    x = np.stack([np.sin(2 * np.pi * (3 * t[:, None] + rng.uniform(size=2))) for _ in range(8)])
    c = np.stack([scn.autoencoder_input(trial, 1e-4, 10.0) for trial in x])
    leaves("scn-400", scn.simulate_trials(net, c, key=jax.random.PRNGKey(5)), out)
    params = neuron.NeuronParams(1.0, 3.0, rng.uniform(5, 30, 20), rng.uniform(5, 30, 20), 0.5)
    trials = processes.sample_trials(params, key=9, n_trials=64, duration=2.0)
    leaves("sample-64", trials, out)
    grid = np.linspace(0.0, 2.0, 41)
    leaves("neuron-exact-64", neuron.simulate_trials(params, trials.inputs, duration=2.0,
                                                     sample_times=grid), out)
    first = jax.tree_util.tree_map(lambda a: a[0], trials.inputs)
    leaves("mmpp-filter", exact.mmpp_filter(params, first, duration=2.0, query_times=grid), out)
    np.savez(path, **out)


if __name__ == "__main__":
    main(sys.argv[1])
