"""Fixed-point (integer) execution vs the float64 models, same work.

Neuron (W1-like): the Bayesian neuron with 20 Poisson inputs, binned at 1 ms, ``--trials``
trials (independent neurons) of ``--bins`` bins, as one batch: the plain float64 model
(``bayesnn.neuron.filter_counts``, method "discrete") against the Loihi preset
(``bayesnn.neuromorphic.simulate_fixed_neuron``: int64 state, leak table); the FLOAT64
preset is checked to give the plain model's bits.

SCN (W2-like): D = 2, N = ``--neurons`` (random decoders of norm 0.1), dt = 0.1 ms,
one spike per step, no noise, ``--steps`` steps: ``bayesnn.scn.simulate`` against
``simulate_fixed_scn`` with the Loihi preset (dense int64 N x N lateral and slow
matrices: the explicit-weight form a chip holds; the float model applies the recurrence
through Gamma, O(N D) per step), and the FLOAT64 preset checked identical.

Timing: medians of ``--repeats`` calls after a first call (compile = first - median);
the calls alternate float and fixed. CPU seconds (``time.process_time``) are printed
beside wall seconds, with ``uptime``'s load.

    python benchmarks/bench_fixed_point.py [--bins 20000] [--trials 100] [--neurons 400] [--steps 20000]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # repo root

import jax  # noqa: E402
import numpy as np  # noqa: E402

import bayesnn  # noqa: E402
from bayesnn import processes  # noqa: E402
from bayesnn.neuron import NeuronParams, filter_counts  # noqa: E402
from bayesnn.neuromorphic import FLOAT64, LOIHI, simulate_fixed_neuron  # noqa: E402
from bayesnn.neuromorphic.fixed_scn import simulate_fixed_scn  # noqa: E402
from bayesnn.scn import make_network, random_decoder, simulate  # noqa: E402


def _timed(fn, repeats):
    t0, c0 = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn())
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    med = statistics.median(walls)
    return {"median_s": med, "cpu_median_s": statistics.median(cpus), "compile_s": max(first - med, 0.0)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bins", type=int, default=20000)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--neurons", type=int, default=400)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    bayesnn.enable_x64()
    print("load:", os.getloadavg())
    rng = np.random.default_rng(0)
    params = NeuronParams(1.0, 3.0, rng.uniform(5, 30, 20), rng.uniform(5, 30, 20), 1.0)
    counts = np.stack([np.asarray(processes.sample_binned(params, key=k, dt=1e-3, n_steps=args.bins).counts)
                       for k in range(args.trials)])
    preset = simulate_fixed_neuron(params, counts, dt=1e-3, precision=FLOAT64)
    plain = filter_counts(params, counts, dt=1e-3, method="discrete")
    assert np.array_equal(np.asarray(preset.log_odds), np.asarray(plain.log_odds)), "FLOAT64 preset differs"
    out = {"neuron": {"bins": args.bins, "trials": args.trials}}
    for rep in range(1):
        out["neuron"]["float64"] = _timed(lambda: filter_counts(params, counts, dt=1e-3, method="discrete").log_odds,
                                          args.repeats)
        out["neuron"]["loihi"] = _timed(lambda: simulate_fixed_neuron(params, counts, dt=1e-3,
                                                                      precision=LOIHI).log_odds, args.repeats)
    out["neuron"]["ratio_fixed_over_float"] = out["neuron"]["loihi"]["median_s"] / out["neuron"]["float64"]["median_s"]
    net = make_network(random_decoder(2, args.neurons, 0.1, seed=0), A=np.zeros((2, 2)), lambda_d=10.0,
                       lambda_v=20.0, mu=1e-6, nu=1e-5, dt=1e-4)
    t = np.arange(args.steps) * 1e-4
    c = np.stack([10 * np.cos(2 * np.pi * t), 10 * np.sin(2 * np.pi * 1.5 * t)], 1)
    s64 = simulate_fixed_scn(net, c, precision=FLOAT64, key=0)
    ref = simulate(net, c, key=jax.random.fold_in(jax.random.PRNGKey(0), 0))
    assert np.array_equal(s64.readout, np.asarray(ref.readout)), "FLOAT64 preset differs"
    key0 = jax.random.fold_in(jax.random.PRNGKey(0), 0)
    out["scn"] = {"neurons": args.neurons, "steps": args.steps,
                  "float64": _timed(lambda: simulate(net, c, key=key0).readout, args.repeats),
                  "loihi": _timed(lambda: simulate_fixed_scn(net, c, precision=LOIHI, key=0).readout,
                                  args.repeats)}
    out["scn"]["ratio_fixed_over_float"] = out["scn"]["loihi"]["median_s"] / out["scn"]["float64"]["median_s"]
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
