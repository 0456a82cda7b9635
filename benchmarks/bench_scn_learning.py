"""SCN learning benchmark: Brendel et al. 2020 plasticity in bayesnn (learn, plastic)
against the same network without plasticity (learn, plastic=False) and against a plain
numba loop of the same rule doing the same work, at N = 20 and N = 400 (D = 2, Fig. 2
parameters, dt = 1 ms), in one run.

Both sides step the same network on the same input array c (Gaussian-smoothed noise,
Brendel's input) and draw 2N normals (voltage noise, threshold jitter) and one tie-break
offset per step; both keep, per 1-s block, the weight distance, the rate, the median ISI
CV, the voltage variance and the largest weight (learn's records; the in-sample decoder
is off: decode_every = 0). Throughput = simulated s / wall s of the steady-state run
(compile apart). Agreement: numba replays bayesnn's own random draws
(bayesnn.scn.learning.plasticity.learning_inputs) for --check-steps steps; spikes must be
identical and the weights equal to 1e-9.

    python benchmarks/bench_scn_learning.py [--duration 60] [--sizes 20,400] [--json out.json]
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

jax.config.update("jax_enable_x64", True)
import numpy as np  # noqa: E402

from bayesnn.scn.learning.training import learn  # noqa: E402
from bayesnn.scn.learning.signals import SmoothedNoise, smoothed_noise  # noqa: E402
from bayesnn.scn.learning.plasticity import (  # noqa: E402
    brendel_fig2_params, brendel_fig2_weights, learning_inputs,
)

try:
    import numba
except ImportError:  # benchmark-only dependency
    numba = None

BLOCK = 1000

if numba is not None:
    @numba.njit(cache=False)
    def _nb_run(F, Om, c, T, lam, dt, sig, jit, alpha, beta, mu, eps_f, eps_r, plastic,
                noise, jitter, offsets, seed):
        """The rule loop; replays (noise, jitter, offsets) when given (len > 0), else
        draws its own. Returns (F, Om, V, senders (-1: none), records (blocks, 5))."""
        np.random.seed(seed)
        D, N = F.shape
        n_steps = c.shape[0]
        replay = noise.shape[0] > 0
        V = np.zeros(N); r = np.zeros(N); x = np.zeros(D)
        nz = np.zeros(N); jz = np.zeros(N)
        senders = np.full(n_steps, -1, np.int64)
        last = np.full(N, -1, np.int64)
        n_blocks = n_steps // BLOCK
        rec = np.zeros((n_blocks, 5))
        spikes = np.zeros(N); n_isi = np.zeros(N); s1 = np.zeros(N); s2 = np.zeros(N)
        v1 = np.zeros(N); v2 = np.zeros(N)
        decay = 1.0 - lam * dt
        for k in range(n_steps):
            if replay:
                nz[:] = noise[k]; jz[:] = jitter[k]; off = offsets[k]
            else:
                for j in range(N):
                    nz[j] = np.random.standard_normal()
                    jz[j] = np.random.standard_normal()
                off = np.random.randint(0, N)
            for j in range(N):
                ff = 0.0
                for d in range(D):
                    ff += c[k, d] * F[d, j]
                V[j] = V[j] + dt * (-lam * V[j] + ff) + sig * nz[j]
                r[j] *= decay
            for d in range(D):
                x[d] = x[d] + dt * (-lam * x[d] + c[k, d])
            best = -np.inf
            for j in range(N):
                z = V[j] - T - jit * jz[j]
                if z > best:
                    best = z
            idx = -1
            for q in range(N):
                j = (q + off) % N
                if V[j] - T - jit * jz[j] == best:
                    idx = j
                    break
            if best > 0:
                if plastic:
                    for d in range(D):
                        F[d, idx] = F[d, idx] + eps_f * (alpha * x[d] - F[d, idx])
                    for j in range(N):
                        t = beta * (V[j] + mu * r[j]) + (mu if j == idx else 0.0)
                        Om[j, idx] = Om[j, idx] - eps_r * (t + Om[j, idx])
                for j in range(N):
                    V[j] += Om[j, idx]
                r[idx] += 1.0
                senders[k] = idx
                spikes[idx] += 1
                if last[idx] >= 0:
                    isi = k - last[idx]
                    n_isi[idx] += 1; s1[idx] += isi; s2[idx] += isi * isi
                last[idx] = k
            for j in range(N):
                v1[j] += V[j]; v2[j] += V[j] * V[j]
            if (k + 1) % BLOCK == 0:
                b = k // BLOCK
                W = -(F.T @ F)
                s = np.sum(Om * W) / np.sum(W * W)
                rec[b, 0] = np.sum((Om - s * W) ** 2) / np.sum(Om * Om)
                rec[b, 1] = np.sum(spikes) / (N * BLOCK * dt)
                cvs = []
                for j in range(N):
                    if n_isi[j] >= 2:
                        m = s1[j] / n_isi[j]
                        cvs.append(np.sqrt(max(s2[j] / n_isi[j] - m * m, 0.0)) / m)
                rec[b, 2] = np.median(np.array(cvs)) if len(cvs) else np.nan
                vm = v1 / BLOCK
                rec[b, 3] = np.mean(v2 / BLOCK - vm * vm)
                rec[b, 4] = max(np.max(np.abs(Om)), np.max(np.abs(F)))
                spikes[:] = 0; n_isi[:] = 0; s1[:] = 0; s2[:] = 0; v1[:] = 0; v2[:] = 0
        return F, Om, V, senders, rec


def _nb_args(p, F, Om, c, plastic, replay=None):
    empty2, empty1 = np.zeros((0, F.shape[1])), np.zeros(0, np.int64)
    noise, jitter, offsets = replay if replay is not None else (empty2, empty2, empty1)
    dt = float(p.dt)
    return (F.copy(), Om.copy(), c, float(np.asarray(p.thresholds)), float(p.lambda_), dt,
            float(p.sigma_v) * np.sqrt(dt), float(p.jitter), float(p.alpha), float(p.beta),
            float(p.mu), float(p.eps_f), float(p.eps_r), plastic, noise, jitter, offsets, 0)


def timed(fn, repeats):
    t0 = time.perf_counter(); fn(); first = time.perf_counter() - t0
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); runs.append(time.perf_counter() - t0)
    med = statistics.median(runs)
    return max(first - med, 0.0), med


def agreement(p, F, Om, c, n_steps):
    """bayesnn learn vs numba replaying learn's own draws: spikes and weights."""
    n_steps = BLOCK * max(1, n_steps // BLOCK)
    cc = c[:n_steps]
    res = learn(p, cc, F=F, Omega=Om, key=0, snapshots=None, decode_every=0)
    inp = learning_inputs(p, cc, F.shape[1], key=0)
    replay = (np.asarray(inp.noise), np.asarray(inp.jitter), np.asarray(inp.offsets)[:, 0])
    Fn, On, Vn, senders, rec = _nb_run(*_nb_args(p, F, Om, cc, True, replay))
    counts = np.bincount(senders[senders >= 0], minlength=F.shape[1])
    return {"steps": n_steps,
            "same_spikes": bool(np.array_equal(counts, np.asarray(res.spike_counts))),
            "max_abs_dOmega": float(np.max(np.abs(On - np.asarray(res.final.Omega)))),
            "max_abs_dF": float(np.max(np.abs(Fn - np.asarray(res.final.F)))),
            "max_abs_dV": float(np.max(np.abs(Vn - np.asarray(res.final.V)))),
            "max_abs_d_distance": float(np.max(np.abs(rec[:, 0] - np.asarray(res.weight_distance))))}


def main(argv=None) -> dict:
    a = argparse.ArgumentParser(description=__doc__)
    a.add_argument("--duration", type=float, default=60.0, help="simulated s per timed run")
    a.add_argument("--sizes", default="20,400")
    a.add_argument("--check-steps", type=int, default=5000)
    a.add_argument("--repeats", type=int, default=3)
    a.add_argument("--json", default=None)
    args = a.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    p = brendel_fig2_params()
    n_steps = BLOCK * max(1, int(round(args.duration / float(p.dt))) // BLOCK)
    sim_s = n_steps * float(p.dt)
    c = smoothed_noise(SmoothedNoise(2), n_steps, key=1)
    print(f"numba: {'available ' + numba.__version__ if numba else 'MISSING (pip install numba)'}; "
          f"jax {jax.__version__} on {jax.devices()[0].platform} ({os.cpu_count()} CPUs); "
          f"{sim_s:g} s simulated per run (dt = {float(p.dt)} s), D = 2, float64")
    print(f"{'case':<8}{'mode':<16}{'compile s':>10}{'run s':>9}{'sim s/s':>10}")
    results = {"rows": {}, "agreement": {}, "numba": numba is not None, "sim_s": sim_s}
    for N in sizes:
        F, Om = brendel_fig2_weights(2, N, key=0)
        row = {}
        for mode, plastic in (("bayesnn plastic", True), ("bayesnn frozen", False)):
            comp, run = timed(lambda: jax.block_until_ready(learn(
                p, c, F=F, Omega=Om, key=0, snapshots=None, decode_every=0,
                plastic=plastic).final), args.repeats)
            row["plastic" if plastic else "frozen"] = (comp, run)
            print(f"N={N:<6}{mode:<16}{comp:>10.2f}{run:>9.3f}{sim_s / run:>10.1f}", flush=True)
        if numba:
            for mode, plastic in (("numba plastic", True), ("numba frozen", False)):
                comp, run = timed(lambda: _nb_run(*_nb_args(p, F, Om, c, plastic)), args.repeats)
                row["numba_" + ("plastic" if plastic else "frozen")] = (comp, run)
                print(f"N={N:<6}{mode:<16}{comp:>10.2f}{run:>9.3f}{sim_s / run:>10.1f}", flush=True)
            results["agreement"][f"N={N}"] = agreement(p, F, Om, c, args.check_steps)
        results["rows"][f"N={N}"] = {
            "plastic_sim_s_per_s": sim_s / row["plastic"][1],
            "frozen_sim_s_per_s": sim_s / row["frozen"][1],
            **{k: {"compile_s": v[0], "run_s": v[1]} for k, v in row.items()}}
    print("agreement (numba replaying bayesnn's draws):")
    for case, ag in results["agreement"].items():
        print(f"  {case}: {ag['steps']} steps, same spikes {ag['same_spikes']}, max |dOmega| "
              f"{ag['max_abs_dOmega']:.1e}, |dF| {ag['max_abs_dF']:.1e}, |dV| {ag['max_abs_dV']:.1e}")
    for case, row in results["rows"].items():
        cost = row["plastic"]["run_s"] / row["frozen"]["run_s"]
        print(f"GOAL {case} plasticity costs <= 2x the frozen network: {cost:.2f}x -> "
              f"{'PASS' if cost <= 2 else 'FAIL'}")
        if "numba_plastic" in row:
            ratio = row["plastic"]["run_s"] / row["numba_plastic"]["run_s"]
            print(f"     {case} bayesnn plastic / numba plastic run time: {ratio:.2f}x "
                  f"(numba plasticity cost {row['numba_plastic']['run_s'] / row['numba_frozen']['run_s']:.2f}x)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)
    return results


if __name__ == "__main__":
    main()
