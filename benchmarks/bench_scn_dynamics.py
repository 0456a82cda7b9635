"""Benchmark the dynamics-learning network (bayesnn.scn.dynamics).

Run: ``python benchmarks/bench_scn_dynamics.py [--duration S] [--neurons N] [--json FILE]``

On the damped oscillator (D = 2, dt = 0.1 ms, K = 10 s^-1, eta = 10 s^-2, no voltage
noise so every path makes the same spikes), simulated seconds per wall second of:

1. ``learn`` (feedback and the slow rule on),
2. the same network frozen (``simulate(..., feedback=True, plastic=False)``: everything
   but the weight update), goal of the issue: learning costs at most 2x frozen,
3. a plain numba loop of the learning network (same equations, same inputs, same
   initial weights), checked to give the same spike counts per neuron and the same
   final weights (max |difference| reported).

Compilation is timed apart (first call); the runs are the median of ``--repeat``
compiled calls. CPU times are reported beside wall times (the machine is shared).
"""
from __future__ import annotations

import argparse
import json
import time

import jax

jax.config.update("jax_enable_x64", True)

import numba  # noqa: E402
import numpy as np  # noqa: E402

from bayesnn.scn import lds_exact, random_decoder  # noqa: E402
from bayesnn.scn.dynamics import learn, make_dynamics_network, simulate  # noqa: E402
from bayesnn.scn.dynamics.experiments import DAMPED_OSCILLATOR  # noqa: E402
from bayesnn.scn.dynamics.systems import exploration_input  # noqa: E402


@numba.njit(cache=False)
def numba_learn(G, T, c, x, W, dt, lambda_d, lambda_v, kappa, cq, K, eta):
    """The learning network, one loop (step of bayesnn.scn.dynamics.step)."""
    D, N = G.shape
    V = np.zeros(N)
    r = np.zeros(N)
    xh = np.zeros(D)
    counts = np.zeros(N, np.int64)
    GtG = G.T @ G
    for k in range(c.shape[0]):
        e = x[k] - xh
        proj = G.T @ e
        drive = -lambda_v * V + G.T @ c[k] + W @ r + kappa * r + K * proj
        V = V + dt * drive
        for i in range(N):
            for j in range(N):
                W[i, j] += eta * dt * proj[i] * r[j]
        r *= 1 - lambda_d * dt
        xh *= 1 - lambda_d * dt
        i = np.argmax(V - T)
        if V[i] - T[i] > 0:
            V -= GtG[:, i]
            V[i] -= cq
            r[i] += 1.0
            xh += G[:, i]
            counts[i] += 1
    return W, counts


def _median_time(function, repeat):
    cpu, wall, out = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = function()
        jax.block_until_ready(jax.tree_util.tree_leaves(out))
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return float(np.median(wall)), float(np.median(cpu)), out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="simulated seconds")
    parser.add_argument("--neurons", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args(argv)
    dt, A = 1e-4, DAMPED_OSCILLATOR
    p = make_dynamics_network(random_decoder(2, args.neurons, 0.2, seed=0), A, dt=dt,
                              feedback_gain=10.0, learning_rate=10.0)
    n = int(round(args.duration / dt))
    c = exploration_input(n, dt, 2, amplitude=30.0, seed=1)
    x = lds_exact(A, c, dt)
    x0 = np.zeros(2)
    runs = {
        "learning": lambda: learn(p, c, x, x0=x0, record_every=1000),
        "frozen": lambda: simulate(p, c, x=x, x0=x0, record_every=1000, feedback=True),
    }
    out = {"duration_s": args.duration, "neurons": args.neurons}
    results = {}
    for name, run in runs.items():
        t0 = time.perf_counter()
        run()
        out[f"{name}_first_call_s"] = time.perf_counter() - t0
        wall, cpu, results[name] = _median_time(run, args.repeat)
        out[f"{name}_sim_s_per_wall_s"] = args.duration / wall
        out[f"{name}_sim_s_per_cpu_s"] = args.duration / cpu
    G, T = np.asarray(p.Gamma), np.asarray(p.thresholds)
    nargs = (G, T, c, x, None, dt, float(p.lambda_d), float(p.lambda_v), float(p.kappa),
             float(p.cost_quad), float(p.feedback_gain), float(p.learning_rate))

    def numba_run():
        return numba_learn(*nargs[:4], np.zeros((args.neurons, args.neurons)), *nargs[5:])

    t0 = time.perf_counter()
    numba_run()
    out["numba_first_call_s"] = time.perf_counter() - t0
    wall, cpu, (W_nb, counts_nb) = _median_time(numba_run, args.repeat)
    out["numba_sim_s_per_wall_s"] = args.duration / wall
    out["numba_sim_s_per_cpu_s"] = args.duration / cpu
    ours = results["learning"]
    out["same_spike_counts"] = bool(np.array_equal(np.asarray(ours.spike_counts), counts_nb))
    out["max_abs_weight_difference"] = float(np.max(np.abs(np.asarray(ours.W) - W_nb)))
    out["learning_cost_over_frozen"] = (out["frozen_sim_s_per_cpu_s"]
                                        / out["learning_sim_s_per_cpu_s"])
    out["jax_over_numba_cpu"] = out["numba_sim_s_per_cpu_s"] / out["learning_sim_s_per_cpu_s"]
    for key, value in out.items():
        print(f"{key:36s} {value}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=2)
    return out


if __name__ == "__main__":
    main()
