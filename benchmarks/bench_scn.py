"""SCN benchmark (workload W2): bayesnn vs a numba loop doing the same work (benchmark-only dep).

W2: D = 2, N = 400, dt = 0.1 ms, at most one spike per step, NO voltage noise
(sigma_v = 0), 10^5 steps, in two regimes: "sparse" (a rotating drive of amplitude 5:
~1100 spikes per trial) and "dense" (amplitude 13: ~2900 spikes); one trial, then 100
trials, each with its own input (per-trial phase and speed); then N = 10,000 (peak memory).

The numba reference (``_nb_trial_d2``: the loop a competent user writes for D = 2, the
sums over D written out) does exactly bayesnn's work: the same model and the same
arithmetic order per step (``V + dt (-lambda_V V + Gamma^T c + Gamma^T (M x_hat) +
kappa r~)``, then decay, then the spike of the largest ``V - T > 0`` with bayesnn's tie
rule, reading bayesnn's per-step tie-break offsets, drawn before timing), and it keeps
the same outputs (spike times, senders and margins, spike counts, the readout at every
step, the final state). bayesnn's noise-free kernel computes the same model event by
event (closed form between spikes, ``bayesnn/scn/network/eventdriven.py``). Every
comparison CHECKS that both give the same spikes (times and senders, every trial) and
prints the largest readout difference (must stay below 1e-13: the two round differently).

Timing: each case's calls alternate bayesnn and numba (ratios of alternating runs are
the number to read on a shared machine); medians of ``--repeats`` runs after a first
call (compile time = first call - median); wall AND CPU seconds (``time.process_time``,
all threads) are reported. "1 core" rows run in a child process pinned to one core
(``taskset -c 0``: XLA and numba, numba with 1 thread); "unpinned" rows run on all cores:
numba ``prange`` over trials with ``--threads`` threads, XLA with its default CPU
threading. bayesnn's calls are the user's calls (``simulate`` / ``simulate_trials`` with
the default capacity); numba gets its capacity given. ``uptime`` load averages are
printed with each row: wall-time goals need an idle machine.

    python benchmarks/bench_scn.py [--steps 100000] [--trials 100] [--big-n 10000]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # repo root

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/
from memory import peak_rss_mib  # noqa: E402
from bayesnn.core import spike_arrays, trial_keys  # noqa: E402
from bayesnn.scn import (make_network, random_decoder, simulate, simulate_trials,  # noqa: E402
                         step_inputs)

try:
    import numba
except ImportError:  # benchmark-only dependency
    numba = None


def network(N, dt=1e-4, sigma_v=0.0):
    G = random_decoder(2, N, 0.1, seed=0)
    return make_network(G, A=np.zeros((2, 2)), lambda_d=10.0, lambda_v=20.0, mu=1e-6, nu=1e-5,
                        sigma_v=sigma_v, dt=dt)


REGIMES = {"sparse": 5.0, "dense": 13.0}  # drive amplitude: ~1100 / ~2900 spikes per 1e5 steps


def inputs(n, dt=1e-4, trials=None, amplitude=5.0):
    """(n, 2) drive; with ``trials``, (trials, n, 2): trial k has its own phase and speed."""
    t = np.arange(n) * dt
    if trials is None:
        return amplitude * np.stack([np.cos(2 * np.pi * t), np.sin(2 * np.pi * t)], 1)
    k = np.arange(trials)[:, None]
    angle = 2 * np.pi * ((1 + 0.01 * k) * t[None] + k / max(trials, 1))
    return amplitude * np.stack([np.cos(angle), np.sin(angle)], -1)


def numpy_loop(net, c):
    """Plain NumPy loop of the same model (spike count only; for the NumPy row)."""
    G = np.asarray(net.Gamma); T = np.asarray(net.thresholds); M = np.asarray(net.slow_matrix)
    dt = float(net.dt); lv = float(net.lambda_v); dec = 1 - float(net.lambda_d) * dt
    cq = float(net.cost_quad); kap = float(net.kappa)
    N = G.shape[1]; V = np.zeros(N); r = np.zeros(N); xh = np.zeros(2); n_sp = 0
    for k in range(c.shape[0]):
        V += dt * (-lv * V + c[k] @ G + (M @ xh) @ G + kap * r)
        r *= dec; xh *= dec
        z = V - T; i = int(np.argmax(z))
        if z[i] > 0:
            V -= G[:, i] @ G; V[i] -= cq; r[i] += 1; xh += G[:, i]; n_sp += 1
    return n_sp


if numba is not None:
    @numba.njit(cache=False)
    def _nb_trial(G, T, M, rx, dt, lv, dec, cq, kap, c, offsets, capacity):
        D, N = G.shape
        n_steps = c.shape[0]
        V = np.zeros(N); r = np.zeros(N); xh = np.zeros(D); Mx = np.zeros(D)
        times = np.full(capacity, np.inf); senders = np.full(capacity, -1, np.int32)
        margins = np.full(capacity, np.nan); counts = np.zeros(N, np.int32)
        readout = np.zeros((n_steps, D)); n_ev = 0
        for k in range(n_steps):
            for e in range(D):
                acc = M[e, 0] * xh[0]
                for d in range(1, D):
                    acc = acc + M[e, d] * xh[d]
                Mx[e] = acc
            off = offsets[k]
            best = -np.inf; idx = -1
            for j in range(N):
                ff = c[k, 0] * G[0, j]
                sl = Mx[0] * G[0, j]
                for d in range(1, D):
                    ff = ff + c[k, d] * G[d, j]
                    sl = sl + Mx[d] * G[d, j]
                sl = sl + kap * r[j]
                V[j] = V[j] + dt * (-lv * V[j] + ff + sl)
                r[j] = r[j] * dec
                z = V[j] - T[j]
                if z > best:
                    best = z; idx = j
                elif z == best:  # bayesnn's tie rule: first index at or after the offset
                    rank_j = j - off if j >= off else j - off + N
                    rank_i = idx - off if idx >= off else idx - off + N
                    if rank_j < rank_i:
                        idx = j
            for d in range(D):
                xh[d] = xh[d] * dec
            if best > 0:
                for j in range(N):
                    acc = G[0, idx] * G[0, j]
                    for d in range(1, D):
                        acc = acc + G[d, idx] * G[d, j]
                    V[j] = V[j] - acc
                V[idx] = V[idx] - (cq + rx[idx])
                r[idx] = r[idx] + 1.0
                for d in range(D):
                    xh[d] = xh[d] + G[d, idx]
                if n_ev < capacity:
                    times[n_ev] = (k + 1) * dt; senders[n_ev] = idx; margins[n_ev] = best
                counts[idx] += 1
                n_ev += 1
            for d in range(D):
                readout[k, d] = xh[d]
        return n_ev, times, senders, margins, counts, readout, V, r, xh

    @numba.njit(cache=False)
    def _nb_trial_d2(G, T, M, rx, dt, lv, dec, cq, kap, c, offsets, capacity):
        """:func:`_nb_trial` for D = 2 with the sums over D written out (the loop a
        competent user writes for a fixed D; issue 21: 1.55-1.61x faster than the loop
        over d). Same operations in the same order, so the same spikes to every digit."""
        N = G.shape[1]
        n_steps = c.shape[0]
        V = np.zeros(N); r = np.zeros(N)
        x0 = 0.0; x1 = 0.0
        times = np.full(capacity, np.inf); senders = np.full(capacity, -1, np.int32)
        margins = np.full(capacity, np.nan); counts = np.zeros(N, np.int32)
        readout = np.zeros((n_steps, 2)); n_ev = 0
        m00 = M[0, 0]; m01 = M[0, 1]; m10 = M[1, 0]; m11 = M[1, 1]
        for k in range(n_steps):
            mx0 = m00 * x0 + m01 * x1
            mx1 = m10 * x0 + m11 * x1
            c0 = c[k, 0]; c1 = c[k, 1]
            off = offsets[k]
            best = -np.inf; idx = -1
            for j in range(N):
                g0 = G[0, j]; g1 = G[1, j]
                ff = c0 * g0 + c1 * g1
                sl = mx0 * g0 + mx1 * g1
                sl = sl + kap * r[j]
                V[j] = V[j] + dt * (-lv * V[j] + ff + sl)
                r[j] = r[j] * dec
                z = V[j] - T[j]
                if z > best:
                    best = z; idx = j
                elif z == best:  # bayesnn's tie rule: first index at or after the offset
                    rank_j = j - off if j >= off else j - off + N
                    rank_i = idx - off if idx >= off else idx - off + N
                    if rank_j < rank_i:
                        idx = j
            x0 = x0 * dec; x1 = x1 * dec
            if best > 0:
                gi0 = G[0, idx]; gi1 = G[1, idx]
                for j in range(N):
                    V[j] = V[j] - (gi0 * G[0, j] + gi1 * G[1, j])
                V[idx] = V[idx] - (cq + rx[idx])
                r[idx] = r[idx] + 1.0
                x0 = x0 + gi0; x1 = x1 + gi1
                if n_ev < capacity:
                    times[n_ev] = (k + 1) * dt; senders[n_ev] = idx; margins[n_ev] = best
                counts[idx] += 1
                n_ev += 1
            readout[k, 0] = x0; readout[k, 1] = x1
        return n_ev, times, senders, margins, counts, readout, V, r, np.array([x0, x1])

    @numba.njit(parallel=True, cache=False)
    def _nb_trials(G, T, M, rx, dt, lv, dec, cq, kap, c, offsets, capacity):
        n_trials, n_steps, D = c.shape
        N = G.shape[1]
        n_ev = np.zeros(n_trials, np.int64)
        times = np.empty((n_trials, capacity)); senders = np.empty((n_trials, capacity), np.int32)
        margins = np.empty((n_trials, capacity)); counts = np.empty((n_trials, N), np.int32)
        readout = np.empty((n_trials, n_steps, D)); final = np.empty((n_trials, 2 * N + D))
        for t in numba.prange(n_trials):
            if D == 2:  # the written-out loop (see _nb_trial_d2)
                out = _nb_trial_d2(G, T, M, rx, dt, lv, dec, cq, kap, c[t], offsets[t], capacity)
            else:
                out = _nb_trial(G, T, M, rx, dt, lv, dec, cq, kap, c[t], offsets[t], capacity)
            n_ev[t] = out[0]; times[t] = out[1]; senders[t] = out[2]; margins[t] = out[3]
            counts[t] = out[4]; readout[t] = out[5]
            final[t, :N] = out[6]; final[t, N:2 * N] = out[7]; final[t, 2 * N:] = out[8]
        return n_ev, times, senders, margins, counts, readout, final


def _nb_params(net):
    dt = float(net.dt)
    return (np.asarray(net.Gamma), np.asarray(net.thresholds), np.asarray(net.slow_matrix),
            np.asarray(net.reset_extra), dt, float(net.lambda_v), 1 - float(net.lambda_d) * dt,
            float(net.cost_quad), float(net.kappa))


def _offsets(net, c, key):
    """bayesnn's tie-break offset of every step (drawn before timing, given to numba)."""
    return np.asarray(step_inputs(net, c, key=key).offsets[:, 0], np.int64)


def alternate(fns, repeats):
    """First call of each (compile + run), then ``repeats`` rounds calling them in turn.
    Returns per function {compile_s, wall_s, cpu_s (medians), walls, cpus} and the last
    outputs."""
    first, outs = [], []
    for fn in fns:
        t0 = time.perf_counter(); outs.append(fn()); first.append(time.perf_counter() - t0)
    walls = [[] for _ in fns]
    cpus = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0, c0 = time.perf_counter(), time.process_time()
            outs[i] = fn()
            walls[i].append(time.perf_counter() - t0); cpus[i].append(time.process_time() - c0)
    stats = []
    for f, ws, cs in zip(first, walls, cpus):
        med = statistics.median(ws) if ws else f
        stats.append({"compile_s": max(f - med, 0.0), "wall_s": med,
                      "cpu_s": statistics.median(cs) if cs else float("nan"),
                      "walls": ws, "cpus": cs})
    return stats, outs


def same_spikes(result, nb, trial=None):
    """(spikes equal?, n spikes, max |readout difference|)."""
    times, senders, _ = spike_arrays(result.spikes, trial)
    n = int(nb[0])
    ok = (len(times) == n and np.array_equal(senders, nb[2][:n])
          and np.array_equal(times, nb[1][:n]))
    readout = np.asarray(result.readout if trial is None else result.readout[trial])
    return ok, n, float(np.max(np.abs(readout - nb[5])))


def load():
    return os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3


def compare(a, threads: int) -> dict:
    """The W2 cases in this process, per regime: 1 trial and ``a.trials`` trials,
    bayesnn vs numba, alternating."""
    out = {}
    net = network(400)
    prm = _nb_params(net)
    cap = min(a.steps, 1 << 15)
    if numba is not None:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    for regime in a.regimes:
        amp = REGIMES[regime]
        c = inputs(a.steps, amplitude=amp)
        fns = [lambda: jax.block_until_ready(simulate(net, c, key=0))]
        if numba is not None:
            off = _offsets(net, c, 0)
            one_trial = _nb_trial_d2 if c.shape[-1] == 2 else _nb_trial  # D sums written out
            fns.append(lambda: one_trial(*prm, c, off, cap))
        load0 = load()[0]
        stats, outs = alternate(fns, a.repeats)
        check = same_spikes(outs[0], outs[1]) if numba is not None else None
        out[f"{regime} single"] = {"bayesnn": stats[0], "numba": stats[1] if numba else None,
                                   "check": check, "load": (load0, load()[0])}
        if a.trials < 1:
            continue
        cs = inputs(a.steps, trials=a.trials, amplitude=amp)
        fns = [lambda: jax.block_until_ready(simulate_trials(net, cs, key=0))]
        if numba is not None:
            keys = trial_keys(0, a.trials)
            offs = np.stack([_offsets(net, cs[k], keys[k]) for k in range(a.trials)])
            fns.append(lambda: _nb_trials(*prm, cs, offs, cap))
        load0 = load()[0]
        stats, outs = alternate(fns, a.trial_repeats)
        check = None
        if numba is not None:
            checks = [same_spikes(outs[0], tuple(x[k] for x in outs[1][:6]), k)
                      for k in range(a.trials)]
            check = (all(x[0] for x in checks), int(sum(x[1] for x in checks)),
                     max(x[2] for x in checks))
        out[f"{regime} trials"] = {"bayesnn": stats[0], "numba": stats[1] if numba else None,
                                   "check": check, "load": (load0, load()[0])}
    return out


def print_block(name, res, trials):
    print(name)
    print(f"  {'case':<18}{'bn compile':>11}{'bn wall':>9}{'bn cpu':>8}{'nb compile':>11}"
          f"{'nb wall':>9}{'nb cpu':>8}{'wall ratio':>11}{'cpu ratio':>10}  "
          f"same spikes (n, max |readout diff|)  load before/after")
    for case, r in res.items():
        label = case.replace("single", "1 trial").replace("trials", f"{trials} trials")
        bn, nb = r["bayesnn"], r["numba"]
        head = f"  {label:<18}{bn['compile_s']:>11.2f}{bn['wall_s']:>9.3f}{bn['cpu_s']:>8.3f}"
        if nb:
            chk = r["check"]
            print(head + f"{nb['compile_s']:>11.2f}{nb['wall_s']:>9.3f}{nb['cpu_s']:>8.3f}"
                  f"{bn['wall_s'] / nb['wall_s']:>11.2f}{bn['cpu_s'] / nb['cpu_s']:>10.2f}  "
                  f"{'YES' if chk[0] else 'NO'} ({chk[1]}, {chk[2]:.1e})"
                  f"   {r['load'][0]:.1f}/{r['load'][1]:.1f}")
        else:
            print(head)
    sys.stdout.flush()


def main(argv=None) -> dict:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--regimes", default="sparse,dense", help="comma list of " + ",".join(REGIMES))
    p.add_argument("--threads", type=int, default=2, help="numba prange threads, unpinned rows")
    p.add_argument("--big-n", type=int, default=10_000, help="0: skip the peak-memory case")
    p.add_argument("--numpy-steps", type=int, default=10_000,
                   help="NumPy loop steps (extrapolated); 0: skip")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per single-trial case")
    p.add_argument("--trial-repeats", type=int, default=3, help="timed runs per batch case")
    p.add_argument("--no-one-core", action="store_true", help="skip the 1-core child process")
    p.add_argument("--only-big", action="store_true",
                   help="run only the big-N case (its peak RSS is then this process's)")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--child-json", help=argparse.SUPPRESS)  # the pinned 1-thread child
    a = p.parse_args(argv)
    a.regimes = [r for r in a.regimes.split(",") if r]
    for r in a.regimes:
        if r not in REGIMES:
            p.error(f"--regimes: unknown regime {r!r} (choose from {', '.join(REGIMES)})")
    results = {}
    if a.child_json:
        with open(a.child_json, "w") as fh:
            json.dump(compare(a, 1), fh)
        return results
    if a.only_big:
        big = network(a.big_n)
        c = inputs(a.steps)
        stats, _ = alternate([lambda: jax.block_until_ready(simulate(big, c, key=0,
                                                                    record_every=100))], 1)
        bn = stats[0]
        results["big"] = {"compile_s": bn["compile_s"], "run_s": bn["wall_s"],
                          "peak_rss_mib": peak_rss_mib()}
        print(f"N={a.big_n}, {a.steps} steps: compile {bn['compile_s']:.2f} s, run "
              f"{bn['wall_s']:.3f} s, peak RSS {peak_rss_mib():.0f} MiB (this process: JAX "
              f"runtime included)")
        return results
    t_start = time.perf_counter()
    print(f"numba: {'available ' + numba.__version__ if numba else 'MISSING (pip install numba)'}")
    print(f"W2: D=2, N=400, dt=0.1 ms, {a.steps} steps, one spike per step, sigma_v=0; "
          f"regimes {', '.join(f'{r} (amplitude {REGIMES[r]:g})' for r in a.regimes)}; "
          f"{a.trials} trials with per-trial inputs; {os.cpu_count()} CPUs")
    one_core = None
    if not a.no_one_core and numba is not None and shutil.which("taskset"):
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "one.json")
            args = [sys.executable, os.path.abspath(__file__), "--child-json", path,
                    "--steps", str(a.steps), "--trials", str(a.trials),
                    "--regimes", ",".join(a.regimes),
                    "--repeats", str(a.repeats), "--trial-repeats", str(a.trial_repeats)]
            env = dict(os.environ, NUMBA_NUM_THREADS="1")
            subprocess.run(["taskset", "-c", "0"] + args, check=True, env=env)
            with open(path) as fh:
                one_core = json.load(fh)
        print_block("1 core (taskset -c 0): XLA on 1 core, numba 1 thread", one_core, a.trials)
        results["1 core"] = one_core
    unpinned = compare(a, a.threads)
    print_block(f"unpinned ({os.cpu_count()} CPUs): XLA default CPU threading, numba prange "
                f"over trials with {a.threads} threads", unpinned, a.trials)
    results["unpinned"] = unpinned
    # rows kept for older readers of the results
    first = a.regimes[0]
    results[f"N=400, {a.steps} steps"] = {"bayesnn": unpinned[f"{first} single"]["bayesnn"],
                                          "numba": unpinned[f"{first} single"]["numba"]}
    if a.trials:
        results[f"N=400, {a.trials} trials"] = {
            "bayesnn": unpinned[f"{first} trials"]["bayesnn"],
            "numba": unpinned[f"{first} trials"]["numba"]}

    print("goals (ratio = bayesnn / numba, medians of alternated runs, compile apart; "
          "same spikes checked; wall-time goals need an idle machine):")
    if a.numpy_steps:
        net, c = network(400), inputs(a.steps, amplitude=REGIMES[first])
        t0 = time.perf_counter(); numpy_loop(net, c[: a.numpy_steps])
        npy = (time.perf_counter() - t0) * a.steps / a.numpy_steps
        results[f"N=400, {a.steps} steps"]["numpy_run_s"] = npy
        single = unpinned[f"{first} single"]["bayesnn"]["wall_s"]
        print(f"  single trial vs NumPy loop (extrapolated from {a.numpy_steps} steps): "
              f"{npy / single:.1f}x faster (goal >= 5x) -> "
              f"{'PASS' if npy / single >= 5 else 'FAIL'}")
    blocks = ([("1 core", one_core)] if one_core else []) + [("unpinned", unpinned)]
    for name, res in blocks:
        for case, r in res.items():
            if r["numba"]:
                label = case.replace("single", "1 trial").replace("trials", f"{a.trials} trials")
                wall = r["bayesnn"]["wall_s"] / r["numba"]["wall_s"]
                cpu = r["bayesnn"]["cpu_s"] / r["numba"]["cpu_s"]
                ok = wall <= 1.0 and r["check"][0] and r["check"][2] < 1e-13
                print(f"  {label}, {name}: {wall:.2f}x numba's wall time ({cpu:.2f}x its CPU "
                      f"time), same spikes {'YES' if r['check'][0] else 'NO'}, readout within "
                      f"{r['check'][2]:.0e} (goal <= 1x, same spikes, < 1e-13) -> "
                      f"{'PASS' if ok else 'FAIL'}")
    if a.big_n:
        # The big case runs in its own process so that its peak memory is its own.
        done = subprocess.run([sys.executable, __file__, "--only-big", "--steps", str(a.steps),
                               "--big-n", str(a.big_n)], capture_output=True, text=True,
                              check=True)
        print(done.stdout.strip())
        big_peak = float(done.stdout.split("peak RSS ")[1].split(" MiB")[0])
        results["big_peak_rss_mib"] = big_peak
        print(f"  peak memory at N = {a.big_n}: {big_peak:.0f} MiB (goal < 1024 MiB) -> "
              f"{'PASS' if big_peak < 1024 else 'FAIL'}")
    print(f"benchmark wall time {time.perf_counter() - t_start:.0f} s; load average now "
          f"{load()[0]:.2f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(results, fh, indent=1, default=float)
    return results


if __name__ == "__main__":
    main()
