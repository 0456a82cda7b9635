"""SCN benchmark: bayesnn vs a plain NumPy loop vs a numba loop (benchmark-only dep).

Workload: D = 2, N = 400, dt = 0.1 ms, one spike per step, 10^5 steps; then 100
trials; then N = 10,000. Use --steps / --trials / --big-n to reduce sizes.

    python benchmarks/bench_scn.py [--steps 100000] [--trials 100] [--big-n 10000]
"""
from __future__ import annotations

import argparse
import resource
import statistics
import time

import jax

jax.config.update("jax_enable_x64", True)
import numpy as np  # noqa: E402

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


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--big-n", type=int, default=10_000)
    p.add_argument("--numpy-steps", type=int, default=10_000, help="NumPy loop steps (extrapolated)")
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    print(f"numba: {'available ' + numba.__version__ if numba else 'MISSING (pip install numba)'}")
    print(f"{'case':<28}{'bayesnn compile':>16}{'bayesnn run':>13}{'numpy run':>12}{'numba compile':>15}{'numba run':>11}")
    net, c = network(400), inputs(a.steps)

    def row(name, bn, npy, nb):
        nb_s = (f"{nb[0]:>15.2f}{nb[1]:>11.3f}" if nb else f"{'-':>15}{'-':>11}")
        npy_s = f"{npy:>12.2f}" if npy is not None else f"{'-':>12}"
        print(f"{name:<28}{bn[0]:>16.2f}{bn[1]:>13.3f}{npy_s}{nb_s}", flush=True)

    bn = timed(lambda: jax.block_until_ready(simulate(net, c, jax.random.PRNGKey(0))), a.repeats)
    t0 = time.perf_counter(); numpy_loop(net, c[: a.numpy_steps]); npy = (time.perf_counter() - t0) * a.steps / a.numpy_steps
    nb = timed(lambda: _nb_trial(*_nb_args(net, c), 0), a.repeats) if numba else None
    row(f"N=400, {a.steps} steps", bn, npy, nb)

    cap = max(1000, a.steps // 5)
    bn = timed(lambda: jax.block_until_ready(simulate_trials(net, c, jax.random.PRNGKey(0), a.trials, capacity=cap)), 1)
    nb = timed(lambda: _nb_trials(*_nb_args(net, c), a.trials), 1) if numba else None
    row(f"N=400, {a.trials} trials", bn, None, nb)

    big = network(a.big_n)
    bn = timed(lambda: jax.block_until_ready(simulate(big, c, jax.random.PRNGKey(0), record_every=100)), 1)
    nb = timed(lambda: _nb_trial(*_nb_args(big, c), 0), 1) if numba else None
    row(f"N={a.big_n}, {a.steps} steps", bn, None, nb)
    print(f"peak RSS of this process: {peak_rss_mib():.0f} MiB (all cases; includes JAX/XLA)")


if __name__ == "__main__":
    main()
