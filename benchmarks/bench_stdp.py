"""Speed benchmark of the STDP WTA circuit (bayesnn.stdp) against a plain numba loop.

Workload (defaults): sklearn digits (898 training images, M = 64, 128 input neurons),
K = 100 output neurons, one epoch (898 presentations) of 50 ms at dt = 1 ms (44,900
steps), eta = 5e-3, float64.

Modes, side by side in one process:

* ``jax``    :func:`bayesnn.stdp.simulate` (one compiled ``lax.scan`` program; random
             draws made inside, per presentation from ``fold_in(key, p)``);
* ``numba``  the same circuit as a plain ``@numba.njit`` loop over presentations and
             steps, fed the *same* uniforms (drawn beforehand with
             :func:`bayesnn.stdp.wta.presentation_uniforms`; their drawing time is
             reported apart). Checked: identical output spikes (winner counts per
             presentation) and final weights to 1e-9.
* ``batch``  (``--circuits B``) B circuits in one ``vmap`` (:func:`simulate_trials`): the
             GPU workload.
* ``em``     exact batch EM's wall time to reach the circuit's held-out log-likelihood
             (iterations from U(0.25, 0.75) starts, seed 0).

Compile = first call minus the steady-state median; run = median of ``--repeats``.
The script reports; it asserts nothing.

    python benchmarks/bench_stdp.py [--components 100] [--epochs 1] [--circuits 8]
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
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from bayesnn.stdp import data, mixture, wta  # noqa: E402
from bayesnn.stdp.params import WTAParams  # noqa: E402


def _numba_loop():
    import numba

    @numba.njit(cache=False)
    def run(codes, order, weights, log_prior, uniforms, eta, c, mu_min, p_input, p_fire, window):
        n_pres, n_steps = uniforms.shape[0], uniforms.shape[1]
        n_k, n_in = weights.shape
        wins = np.zeros((n_pres, n_k), np.int64)
        age = np.empty(n_in)
        y = np.empty(n_in)
        u = np.empty(n_k)
        lo, hi = np.log(c) + np.log(mu_min), np.log(c)
        for p in range(n_pres):
            code = codes[order[p]]
            age[:] = np.inf
            for s in range(n_steps):
                row = uniforms[p, s]
                for i in range(n_in):
                    if code[i] > 0 and row[i] < p_input:
                        age[i] = 0.0
                    else:
                        age[i] += 1.0
                    y[i] = 1.0 if age[i] < window else 0.0
                for k in range(n_k):
                    acc = 0.0
                    for i in range(n_in):
                        acc += weights[k, i] * y[i]
                    u[k] = log_prior[k] + acc
                if row[n_in] < p_fire:
                    top = u.max()
                    e = np.exp(u - top)
                    cdf = np.cumsum(e / e.sum())
                    target = row[n_in + 1] * cdf[-1]
                    k = 0
                    while k < n_k - 1 and cdf[k] <= target:
                        k += 1
                    wins[p, k] += 1
                    for i in range(n_in):
                        w = weights[k, i]
                        w += eta * (c * np.exp(-w) - 1.0) if y[i] > 0 else -eta
                        weights[k, i] = min(max(w, lo), hi)
        return weights, wins

    return run


def _time(function, repeats):
    begin = time.perf_counter()
    first = function()
    first_s = time.perf_counter() - begin
    runs = []
    for _ in range(repeats):
        begin = time.perf_counter()
        result = function()
        runs.append(time.perf_counter() - begin)
    median = statistics.median(runs) if runs else first_s
    return result, max(first_s - median, 0.0), median


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--images", type=int, default=None, help="use the first N training images")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--circuits", type=int, default=0, help="also time B vmapped circuits")
    parser.add_argument("--no-em", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    d = data.digits()
    train = d.train if args.images is None else d.train[:args.images]
    k = args.components
    params = WTAParams.create(k, train.shape[1], eta=5e-3)
    order = data.presentation_order(train.shape[0], args.epochs, seed=0)
    start = data.initial_means(train, k, seed=0)
    n_steps, n_in = params.n_steps(), 2 * train.shape[1]
    presentations = order.size
    rows = {}

    def run_jax():
        return wta.simulate(params, train, key=0, order=order, initial_means=start)

    result, compile_s, run_s = _time(run_jax, args.repeats)
    rows["jax"] = dict(compile_s=compile_s, run_s=run_s, presentations_per_s=presentations / run_s)

    draw = jax.jit(jax.vmap(lambda p: wta.presentation_uniforms(jax.random.PRNGKey(0), p, n_steps, n_in)))
    uniforms, _, draw_s = _time(lambda: np.asarray(draw(jnp.arange(presentations))), 1)
    loop = _numba_loop()
    codes = data.population_code(train)
    w0 = wta.weights_from_means(start, float(params.c))
    lp0 = np.full(k, -np.log(k))
    consts = (float(params.eta), float(params.c), float(params.mu_min),
              float(-np.expm1(-float(params.input_rate) * float(params.dt))),
              float(-np.expm1(-float(params.total_rate) * float(params.dt))),
              float(np.round(float(params.sigma) / float(params.dt))))
    (weights_nb, wins_nb), compile_nb, run_nb = _time(
        lambda: loop(codes, order, w0.copy(), lp0, uniforms, *consts), args.repeats)
    rows["numba"] = dict(compile_s=compile_nb, run_s=run_nb, draws_s=draw_s,
                         presentations_per_s=presentations / run_nb,
                         presentations_per_s_with_draws=presentations / (run_nb + draw_s))
    agreement = dict(winners_identical=bool(np.array_equal(wins_nb, result.wins)),
                     presentations_differing=int(np.sum(np.any(wins_nb != result.wins, axis=1))),
                     max_abs_weight_difference=float(np.abs(weights_nb - result.weights).max()))

    if args.circuits:
        def run_batch():
            return wta.simulate_trials(params, train, key=0, n_trials=args.circuits, order=order,
                                       initial_means=start)
        _, compile_b, run_b = _time(run_batch, args.repeats)
        rows["batch"] = dict(circuits=args.circuits, compile_s=compile_b, run_s=run_b,
                             presentations_per_s=args.circuits * presentations / run_b)

    if not args.no_em:
        means, prior = result.mixture()
        target = float(mixture.log_likelihood(means, prior, d.test).mean())
        m = np.random.default_rng(0).uniform(0.25, 0.75, (k, train.shape[1]))
        pi = np.full(k, 1.0 / k)
        begin, reached, iterations = time.perf_counter(), None, 0
        while iterations < 500:
            m, pi = mixture.em_update(m, pi, train)
            iterations += 1
            if float(mixture.log_likelihood(m, pi, d.test).mean()) >= target:
                reached = time.perf_counter() - begin
                break
        rows["em"] = dict(target_test_ll=target, iterations=iterations, seconds_to_target=reached,
                          note="test LL evaluated every iteration (included in the time)")

    device = jax.devices()[0]
    results = dict(workload=dict(components=k, images=train.shape[0], epochs=args.epochs,
                                 presentations=presentations, steps_per_presentation=n_steps,
                                 device=f"{device.platform}: {device.device_kind}"),
                   rows=rows, agreement=agreement,
                   ratio_jax_over_numba=rows["numba"]["run_s"] / rows["jax"]["run_s"])
    print(f"workload: K = {k}, {presentations} presentations x {n_steps} steps, {results['workload']['device']}")
    for mode, row in rows.items():
        print(mode.ljust(6), " ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                                     for key, value in row.items()))
    print("agreement:", agreement)
    ok = results["ratio_jax_over_numba"] >= 1.0
    print(f"GOAL jax no slower than numba: {'PASS' if ok else 'FAIL'} "
          f"(numba/jax run time = {results['ratio_jax_over_numba']:.3g})")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2, default=float)
    return results


if __name__ == "__main__":
    main()
