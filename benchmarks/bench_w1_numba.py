"""W1 exact run: bayesnn's event kernel vs a plain numba loop of the same algorithm.

Workload W1 (the model of ``bench_w1.py``): N Bayesian neurons x 20 Poisson inputs,
r_on = r_off = 2 Hz, q_on, q_off ~ U(5, 30) Hz (NumPy seed 20261128), g0 = 1, float64,
10 sample times per trial. The input events are drawn once
(:func:`bayesnn.processes.sample_trials`) and both sides integrate the *same* events:

* ``bayesnn``: :func:`bayesnn.neuron.simulate_trials` (method "exact"), one compiled
  program, XLA's default CPU threading;
* ``numba``: a plain loop (``prange`` over neurons, ``--threads`` threads) of bayesnn's
  exact algorithm (:mod:`bayesnn.neuron.event_driven`): for every input event in time
  order, the closed-form flow of L (:func:`bayesnn.neuron.flows.log_odds_flow`, same
  formula, same operation order), the jump w_i, G from its anchor
  (:func:`bayesnn.neuron.output.prediction_at`) and ``ceil((L - G - g0/2)/g0)`` output
  spikes; simultaneous inputs summed before firing; samples right-continuous. W1 has
  theta > 0, so drift cannot fire (``drift_can_fire`` is False, checked) and neither
  side searches for drift crossings.

Both are timed as medians of alternating calls (compile apart), in wall and CPU
seconds (``time.process_time``: what to compare on a loaded machine). Outputs are
checked: identical output spikes (times and counts, every neuron) and samples of L and
G equal to ``--tolerance`` (XLA's and libm's exp/log differ by an ulp at most, and XLA
contracts multiply-adds into FMAs).

    python benchmarks/bench_w1_numba.py                       # 1000 x 10 s, 5 alternations
    python benchmarks/bench_w1_numba.py --neurons 100 --repeats 2   # smoke
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # repo root

SEED = 20261128
N_INPUTS = 20
N_SAMPLES = 10


def build_numba(threads: int):
    import numba
    from numba import njit, prange
    numba.set_num_threads(threads)

    @njit(inline="always")
    def logaddexp(a, b):
        amax = max(a, b)
        return amax + math.log1p(math.exp(-abs(a - b)))

    @njit(inline="always")
    def flow(log_odds, elapsed, r_on, r_off, theta):
        if not elapsed > 0:
            return log_odds
        half_gap = 0.5 * (r_on - r_off - theta)
        s = math.sqrt(half_gap * half_gap + r_on * r_off)
        u = math.tanh(s * elapsed)
        one_minus_u = 2.0 / (1.0 + math.exp(2.0 * s * elapsed))
        small = r_on * r_off / (s + abs(half_gap)) + abs(half_gap) * one_minus_u
        grow = s + half_gap * u if half_gap >= 0 else small
        shrink = s - half_gap * u if half_gap <= 0 else small
        numerator = logaddexp(math.log(grow) + log_odds, math.log(r_on * u))
        denominator = logaddexp(math.log(r_off * u) + log_odds, math.log(shrink))
        return numerator - denominator

    @njit(inline="always")
    def prediction_at(anchor_time, anchor_value, t, r_on, r_off):
        elapsed = t - anchor_time
        if not elapsed > 0:
            return anchor_value
        total = r_on + r_off
        decay = math.exp(-total * elapsed)
        relaxed = -math.expm1(-total * elapsed)
        small = math.exp(-abs(anchor_value))
        large_side = 1.0 / (1.0 + small)
        small_side = small * large_side
        prob_on = large_side if anchor_value >= 0 else small_side
        prob_off = small_side if anchor_value >= 0 else large_side
        numerator = (r_on / total) * relaxed + prob_on * decay
        denominator = (r_off / total) * relaxed + prob_off * decay
        return math.log(numerator / denominator)

    @njit(parallel=True, cache=False)
    def run(times, senders, sample_times, weights, r_on, r_off, theta, g0, start,
            out_l, out_g, out_t, out_c, out_n, out_final):
        n_trials, n_inputs = times.shape
        n_samples = sample_times.shape[0]
        capacity = out_t.shape[1]
        for k in prange(n_trials):
            now, log_odds, anchor_t, anchor_v = 0.0, start, 0.0, start
            n_out = 0
            i, j = 0, 0

            while i < n_inputs and senders[k, i] >= 0:
                i += 1
            n_valid = i
            horizon = max(times[k, n_valid - 1] if n_valid > 0 else 0.0,
                          sample_times[n_samples - 1] if n_samples > 0 else 0.0)
            horizon = max(horizon, 0.0)
            i = 0
            while i < n_valid or j < n_samples:
                if i < n_valid and (j >= n_samples or times[k, i] <= sample_times[j]):
                    t = times[k, i]
                    log_odds = flow(log_odds, t - now, r_on, r_off, theta)
                    now = t
                    log_odds += weights[senders[k, i]]
                    defer = i + 1 < n_valid and times[k, i + 1] == t
                    if not defer:
                        g = prediction_at(anchor_t, anchor_v, t, r_on, r_off)
                        excess = log_odds - g - 0.5 * g0
                        if excess > 0:
                            n = math.ceil(excess / g0)
                            if n_out < capacity:
                                out_t[k, n_out] = t
                                out_c[k, n_out] = n
                            n_out += 1
                            anchor_t, anchor_v = t, g + g0 * n
                    i += 1
                else:
                    t = sample_times[j]
                    log_odds = flow(log_odds, t - now, r_on, r_off, theta)
                    now = t
                    out_l[k, j] = log_odds
                    out_g[k, j] = prediction_at(anchor_t, anchor_v, t, r_on, r_off)
                    j += 1
            if now < horizon:
                log_odds = flow(log_odds, horizon - now, r_on, r_off, theta)
            out_n[k] = n_out
            out_final[k] = log_odds


    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=10.0, help="s")
    parser.add_argument("--repeats", type=int, default=5, help="alternations")
    parser.add_argument("--threads", type=int, default=2, help="numba threads")
    parser.add_argument("--tolerance", type=float, default=1e-12,
                        help="largest |difference| of sampled L and G, nats")
    args = parser.parse_args(argv)

    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    from bayesnn.neuron import NeuronParams, simulate_trials
    from bayesnn.neuron.event_driven import drift_can_fire
    from bayesnn.processes import sample_trials

    rng = np.random.default_rng(SEED)
    params = NeuronParams(r_on=2.0, r_off=2.0, q_on=rng.uniform(5.0, 30.0, N_INPUTS),
                          q_off=rng.uniform(5.0, 30.0, N_INPUTS), g0=1.0)
    assert not drift_can_fire(params), "the numba loop has no drift-crossing search"
    duration = args.duration
    sample_times = np.linspace(duration / N_SAMPLES, duration, N_SAMPLES)
    trial = jax.block_until_ready(sample_trials(params, key=SEED, n_trials=args.neurons,
                                                duration=duration))
    inputs = trial.inputs
    times_np = np.ascontiguousarray(np.asarray(inputs.times, dtype=np.float64))
    senders_np = np.ascontiguousarray(np.asarray(inputs.senders, dtype=np.int64))
    n_events = np.asarray(inputs.n_events)
    weights = np.log(np.asarray(params.q_on) / np.asarray(params.q_off))
    # the weights bayesnn uses (params.weights), so both sides add the same numbers
    weights = np.asarray(params.weights, dtype=np.float64)
    r_on, r_off = float(params.r_on), float(params.r_off)
    theta, g0 = float(params.theta), float(params.g0)
    start = float(params.prior_log_odds)

    def bayesnn_run():
        result = simulate_trials(params, inputs, duration=duration, sample_times=sample_times)
        return jax.block_until_ready(result)

    kernel = build_numba(args.threads)
    capacity = int(times_np.shape[1])
    n = args.neurons
    buffers = lambda: (np.zeros((n, N_SAMPLES)), np.zeros((n, N_SAMPLES)),
                       np.full((n, capacity), np.inf), np.zeros((n, capacity), np.int64),
                       np.zeros(n, np.int64), np.zeros(n))

    def numba_run():
        out = buffers()
        kernel(times_np, senders_np, sample_times, weights, r_on, r_off, theta, g0, start,
               *out)
        return out

    timed = {}
    for name, fn in (("bayesnn", bayesnn_run), ("numba", numba_run)):
        wall = time.perf_counter()
        fn()
        timed[name] = {"compile_wall": time.perf_counter() - wall, "wall": [], "cpu": []}
    for _ in range(args.repeats):
        for name, fn in (("bayesnn", bayesnn_run), ("numba", numba_run)):
            cpu, wall = time.process_time(), time.perf_counter()
            out = fn()
            timed[name]["wall"].append(time.perf_counter() - wall)
            timed[name]["cpu"].append(time.process_time() - cpu)
            if name == "bayesnn":
                ours = out
            else:
                theirs = out

    # ---- agreement
    l_n, g_n, t_n, c_n, n_n, final_n = theirs
    n_b = np.asarray(ours.spikes.n_events)
    t_b = np.asarray(ours.spikes.times)
    c_b = np.asarray(ours.spikes.counts)
    same_counts = np.array_equal(n_b, n_n)
    same_spikes = same_counts and all(
        np.array_equal(t_b[k, :n_b[k]], t_n[k, :n_n[k]])
        and np.array_equal(c_b[k, :n_b[k]], c_n[k, :n_n[k]]) for k in range(n))
    diff_l = float(np.max(np.abs(np.asarray(ours.log_odds) - l_n)))
    diff_g = float(np.max(np.abs(np.asarray(ours.prediction) - g_n)))
    diff_final = float(np.max(np.abs(np.asarray(ours.final.log_odds) - final_n)))
    load = os.getloadavg()
    med = {name: {k: statistics.median(v[k]) for k in ("wall", "cpu")}
           for name, v in timed.items()}
    print(f"W1 exact run, {n} neurons x {duration:g} s, {float(n_events.mean()):.0f} input "
          f"events per neuron ({int(n_events.sum())} in all), input capacity {capacity}; "
          f"numba {args.threads} threads; load average {tuple(round(x, 1) for x in load)}")
    print(f"{'side':<8} {'compile s':>9} {'run wall s':>10} {'run CPU s':>9}  (medians of "
          f"{args.repeats} alternations)")
    for name in ("bayesnn", "numba"):
        print(f"{name:<8} {timed[name]['compile_wall']:9.2f} {med[name]['wall']:10.3f} "
              f"{med[name]['cpu']:9.3f}")
    print(f"all runs (wall): bayesnn {[round(x, 3) for x in timed['bayesnn']['wall']]}, "
          f"numba {[round(x, 3) for x in timed['numba']['wall']]}")
    print(f"agreement: same output spikes (times, counts, every neuron): "
          f"{'YES' if same_spikes else 'NO'} ({int(n_b.sum())} events); max |dL| at "
          f"samples {diff_l:.2g}, |dG| {diff_g:.2g}, final L {diff_final:.2g}")
    ratio_wall = med["bayesnn"]["wall"] / med["numba"]["wall"]
    ratio_cpu = med["bayesnn"]["cpu"] / med["numba"]["cpu"]
    ok = ratio_wall <= 1.5
    print(f"GOAL bayesnn <= 1.5x the numba loop: wall {ratio_wall:.2f}x, CPU {ratio_cpu:.2f}x "
          f"-> {'PASS' if ok else 'FAIL'} (wall; CPU for a loaded machine)")
    agree = same_spikes and max(diff_l, diff_g, diff_final) <= args.tolerance
    if not agree:
        raise SystemExit("outputs disagree")
    return {"median": med, "same_spikes": same_spikes, "diff": (diff_l, diff_g, diff_final)}


if __name__ == "__main__":
    main()
