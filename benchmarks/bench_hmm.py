"""HMM forward filter, T = 1e6 bins, 20 channels: ``bayesnn.exact.hmm_forward`` against a
plain scaled forward filter doing the same work (issue 21).

dynamax (the reference the issue names) is not installed here; the reference is what
its ``hmm_filter`` does for two states, written plainly: a jitted ``lax.scan`` of the
scaled linear-space recursion (predict with the 2 x 2 transition matrix, multiply by the
likelihoods shifted by their per-bin maximum, normalise), returning the filtered
probabilities and log normalisers. Also timed: the log-space recursion that
``hmm_forward`` used for every input before issue 21 (it still runs it when the initial
law or the transition matrix has a hard zero), and a NumPy loop for scale.

Same inputs (Poisson counts of a sampled chain, log-likelihoods computed once, outside
the timing), one process, sides alternated, first call (compile) apart, medians of
``--repeats``; outputs checked to agree (filtered to 1e-13, log normalisers to 1e-13
relative). Nothing is asserted beyond agreement; CPU and wall seconds are both printed
(the machine is shared: compare ratios).

Run: ``python benchmarks/bench_hmm.py [--bins 1000000] [--repeats 5]``
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # repo root


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bins", type=int, default=1_000_000)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--numpy-bins", type=int, default=100_000,
                        help="bins for the NumPy loop (scaled to --bins)")
    args = parser.parse_args(argv)

    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from bayesnn.exact import ctmc_transition_matrix, hmm_forward, poisson_log_likelihoods
    from bayesnn.exact.hmm import _forward

    rng = np.random.default_rng(20261128)
    dt, r_on, r_off = 1e-3, 1.0, 3.0
    q_on, q_off = rng.uniform(5, 30, args.channels), rng.uniform(5, 30, args.channels)
    P = np.asarray(ctmc_transition_matrix(r_on, r_off, dt))
    flips = rng.uniform(size=args.bins)
    state = np.empty(args.bins, np.int64)
    x = 0
    for k in range(args.bins):  # the chain, once (not timed)
        x = int(flips[k] < P[x, 1]) if x == 0 else int(flips[k] >= P[1, 0])
        state[k] = x
    counts = rng.poisson(np.where(state[:, None] == 1, q_on, q_off) * dt)
    log_lik = np.asarray(poisson_log_likelihoods(counts, q_on, q_off, dt))
    initial = np.array([r_off, r_on]) / (r_on + r_off)

    @jax.jit
    def reference(initial, transition, log_lik):
        shift = jnp.max(log_lik, axis=1)
        lik = jnp.exp(log_lik - shift[:, None])

        def step(alpha, l):
            u = (alpha @ transition) * l
            c = u.sum()
            return u / c, (u / c, c)
        _, (filtered, c) = jax.lax.scan(step, initial, lik)
        return filtered, jnp.log(c) + shift

    log_space = jax.jit(lambda i, t, l: _forward(i, t, l))
    device = [jnp.asarray(a) for a in (initial, P, log_lik)]
    sides = {
        "hmm_forward": lambda: hmm_forward(initial, P, log_lik).log_marginal_likelihood,
        "reference (scaled, JAX)": lambda: reference(*device)[1],
        "log-space (pre-issue-21)": lambda: log_space(*device)[1],
    }
    first = {}
    for name, call in sides.items():
        start = time.perf_counter()
        jax.block_until_ready(call())
        first[name] = time.perf_counter() - start
    wall = {name: [] for name in sides}
    cpu = {name: [] for name in sides}
    for _ in range(args.repeats):
        for name, call in sides.items():  # alternated
            start, start_cpu = time.perf_counter(), time.process_time()
            jax.block_until_ready(call())
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)

    ours = hmm_forward(initial, P, log_lik)
    ref_filtered, ref_norms = reference(*device)
    log_filtered, log_norms = log_space(*device)
    agree_ref = float(np.max(np.abs(np.asarray(ours.filtered) - np.asarray(ref_filtered))))
    agree_log = float(np.max(np.abs(np.asarray(ours.filtered) - np.exp(np.asarray(log_filtered)))))
    norms = float(np.max(np.abs(np.asarray(ours.log_normalizers) - np.asarray(log_norms))
                         / np.maximum(1.0, np.abs(np.asarray(log_norms)))))

    # NumPy loop, same recursion, on the first numpy_bins bins (scaled)
    n = min(args.numpy_bins, args.bins)
    start_np = time.process_time()
    shift = log_lik[:n].max(axis=1)
    lik = np.exp(log_lik[:n] - shift[:, None])
    alpha = initial.copy()
    for k in range(n):
        u = (alpha @ P) * lik[k]
        alpha = u / u.sum()
    numpy_cpu = (time.process_time() - start_np) * args.bins / n

    print(f"HMM forward: T = {args.bins} bins, {args.channels} channels, float64; "
          f"jax {jax.__version__} on {jax.default_backend()}; {args.repeats} alternating "
          f"repeats; load average {os.getloadavg()}")
    base = statistics.median(cpu["reference (scaled, JAX)"])
    print(f"{'side':28s} {'first call s':>12s} {'median wall s':>13s} {'median CPU s':>12s} "
          f"{'CPU x reference':>15s}")
    for name in sides:
        print(f"{name:28s} {first[name]:12.3f} {statistics.median(wall[name]):13.4f} "
              f"{statistics.median(cpu[name]):12.4f} {statistics.median(cpu[name]) / base:15.2f}")
    print(f"{'NumPy loop (scaled)':28s} {'-':>12s} {'-':>13s} {numpy_cpu:12.2f} "
          f"{numpy_cpu / base:15.2f}")
    print(f"agreement: max |filtered - reference| = {agree_ref:.1e}, max |filtered - "
          f"log-space| = {agree_log:.1e}, log normalisers vs log-space {norms:.1e} relative")
    ratio = statistics.median(cpu["hmm_forward"]) / base
    print(f"GOAL hmm_forward no slower than the scaled reference (CPU): {ratio:.2f}x -> "
          f"{'PASS' if ratio <= 1.1 else 'FAIL'} (within 10 % counts as no slower)")


if __name__ == "__main__":
    main()
