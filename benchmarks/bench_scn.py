"""SCN benchmark: bayesnn vs a plain NumPy loop vs a numba loop (benchmark-only dep).

Workload: D = 2, N = 400, dt = 0.1 ms, one spike per step, 10^5 steps; then 100
trials (per-trial inputs, here all the same drive so that numba runs the same work);
then N = 10,000. Use --steps / --trials / --big-n to reduce sizes.

    python benchmarks/bench_scn.py [--steps 100000] [--trials 100] [--big-n 10000]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # repo root

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/
from memory import peak_rss_mib  # noqa: E402
from bayesnn.scn import make_network, random_decoder, simulate, simulate_trials  # noqa: E402

try:
    import numba
except ImportError:  # benchmark-only dependency
    numba = None


def network(N, dt=1e-4):
    G = random_decoder(2, N, 0.1, seed=0)
    return make_network(G, A=np.zeros((2, 2)), lambda_d=10.0, lambda_v=20.0, mu=1e-6, nu=1e-5,
                        sigma_v=1e-3, dt=dt)


def inputs(n, dt=1e-4):
    t = np.arange(n) * dt
    return 5 * np.stack([np.cos(2 * np.pi * t), np.sin(2 * np.pi * t)], 1)


def numpy_loop(net, c, seed=0):
    G = np.asarray(net.Gamma); T = np.asarray(net.thresholds); M = np.asarray(net.slow_matrix)
    dt = float(net.dt); lv = float(net.lambda_v); dec = 1 - float(net.lambda_d) * dt
    cq = float(net.cost_quad); kap = float(net.kappa); sig = float(net.sigma_v) * np.sqrt(dt)
    N = G.shape[1]; V = np.zeros(N); r = np.zeros(N); xh = np.zeros(2)
    rng = np.random.default_rng(seed); n_sp = 0
    for k in range(c.shape[0]):
        V += dt * (-lv * V + (c[k] + M @ xh) @ G + kap * r) + sig * rng.standard_normal(N)
        r *= dec; xh *= dec
        z = V - T; i = int(np.argmax(z))
        if z[i] > 0:
            V -= G[:, i] @ G; V[i] -= cq; r[i] += 1; xh += G[:, i]; n_sp += 1
    return n_sp


if numba is not None:
    @numba.njit(cache=False)
    def _nb_trial(G, T, M, dt, lv, dec, cq, kap, sig, c, seed):
        np.random.seed(seed)
        D, N = G.shape
        V = np.zeros(N); r = np.zeros(N); xh = np.zeros(D); n_sp = 0
        for k in range(c.shape[0]):
            u = c[k] + M @ xh
            best = -1.0; idx = -1
            for j in range(N):
                ff = 0.0
                for d in range(D):
                    ff += u[d] * G[d, j]
                V[j] += dt * (-lv * V[j] + ff + kap * r[j]) + sig * np.random.standard_normal()
                r[j] *= dec
                z = V[j] - T[j]
                if z > best:
                    best = z; idx = j
            for d in range(D):
                xh[d] *= dec
            if best > 0:
                for j in range(N):
                    dot = 0.0
                    for d in range(D):
                        dot += G[d, idx] * G[d, j]
                    V[j] -= dot
                V[idx] -= cq; r[idx] += 1.0; n_sp += 1
                for d in range(D):
                    xh[d] += G[d, idx]
        return n_sp

    @numba.njit(parallel=True, cache=False)
    def _nb_trials(G, T, M, dt, lv, dec, cq, kap, sig, c, n_trials):
        out = np.zeros(n_trials, np.int64)
        for t in numba.prange(n_trials):
            out[t] = _nb_trial(G, T, M, dt, lv, dec, cq, kap, sig, c, t)
        return out


def _nb_args(net, c):
    dt = float(net.dt)
    return (np.asarray(net.Gamma), np.asarray(net.thresholds), np.asarray(net.slow_matrix), dt,
            float(net.lambda_v), 1 - float(net.lambda_d) * dt, float(net.cost_quad),
            float(net.kappa), float(net.sigma_v) * np.sqrt(dt), c)


def timed(fn, repeats):
    t0 = time.perf_counter(); fn(); first = time.perf_counter() - t0
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); runs.append(time.perf_counter() - t0)
    med = statistics.median(runs)
    return max(first - med, 0.0), med


def main(argv=None) -> dict:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--big-n", type=int, default=10_000)
    p.add_argument("--numpy-steps", type=int, default=10_000, help="NumPy loop steps (extrapolated)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--only-big", action="store_true",
                   help="run only the big-N case (its peak RSS is then this process's)")
    a = p.parse_args(argv)
    results = {}
    if a.only_big:
        big = network(a.big_n)
        c = inputs(a.steps)
        bn = timed(lambda: jax.block_until_ready(simulate(big, c, key=0, record_every=100)), 1)
        results["big"] = {"compile_s": bn[0], "run_s": bn[1], "peak_rss_mib": peak_rss_mib()}
        print(f"N={a.big_n}, {a.steps} steps: compile {bn[0]:.2f} s, run {bn[1]:.3f} s, "
              f"peak RSS {peak_rss_mib():.0f} MiB (this process: JAX runtime included)")
        return results
    print(f"numba: {'available ' + numba.__version__ if numba else 'MISSING (pip install numba)'}")
    print(f"{'case':<28}{'bayesnn compile':>16}{'bayesnn run':>13}{'numpy run':>12}{'numba compile':>15}{'numba run':>11}")
    net, c = network(400), inputs(a.steps)

    def row(name, bn, npy, nb):
        nb_s = (f"{nb[0]:>15.2f}{nb[1]:>11.3f}" if nb else f"{'-':>15}{'-':>11}")
        npy_s = f"{npy:>12.2f}" if npy is not None else f"{'-':>12}"
        print(f"{name:<28}{bn[0]:>16.2f}{bn[1]:>13.3f}{npy_s}{nb_s}", flush=True)
        results[name] = {"bayesnn": bn, "numpy_run_s": npy, "numba": nb}

    single = timed(lambda: jax.block_until_ready(simulate(net, c, key=0)), a.repeats)
    t0 = time.perf_counter(); numpy_loop(net, c[: a.numpy_steps]); npy = (time.perf_counter() - t0) * a.steps / a.numpy_steps
    nb_single = timed(lambda: _nb_trial(*_nb_args(net, c), 0), a.repeats) if numba else None
    row(f"N=400, {a.steps} steps", single, npy, nb_single)

    per_trial = np.broadcast_to(c, (a.trials,) + c.shape)  # one (T, D) input per trial
    batch = timed(lambda: jax.block_until_ready(simulate_trials(net, per_trial, key=0)), 1)
    nb_batch = timed(lambda: _nb_trials(*_nb_args(net, c), a.trials), 1) if numba else None
    row(f"N=400, {a.trials} trials", batch, None, nb_batch)

    # The big case runs in its own process so that its peak memory is its own.
    import subprocess
    done = subprocess.run([sys.executable, __file__, "--only-big", "--steps", str(a.steps),
                           "--big-n", str(a.big_n)], capture_output=True, text=True, check=True)
    print(done.stdout.strip())
    big_peak = float(done.stdout.split("peak RSS ")[1].split(" MiB")[0])
    print("goals (run times, compile apart):")
    print(f"  single trial vs NumPy loop: {npy / single[1]:.1f}x faster (goal >= 5x) -> "
          f"{'PASS' if npy / single[1] >= 5 else 'FAIL'}")
    if nb_single:
        print(f"  single trial vs numba: {single[1] / nb_single[1]:.2f}x its time (goal <= 2x) -> "
              f"{'PASS' if single[1] / nb_single[1] <= 2 else 'FAIL'}")
        print(f"  {a.trials} trials vs numba (parallel over trials): {batch[1] / nb_batch[1]:.2f}x its "
              f"time (goal <= 2x) -> {'PASS' if batch[1] / nb_batch[1] <= 2 else 'FAIL'}")
    print(f"  peak memory at N = {a.big_n}: {big_peak:.0f} MiB (goal < 1024 MiB) -> "
          f"{'PASS' if big_peak < 1024 else 'FAIL'}")
    return results


if __name__ == "__main__":
    main()
