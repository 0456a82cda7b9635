"""Benchmark learning (bayesnn.learning) against inference and against each other.

Run: ``python benchmarks/bench_learning.py [--duration S] [--inputs N] [--json FILE]``

On one data set of the default learning problem extended to N inputs (r_on = r_off =
2 Hz; q_on, q_off drawn from U(5, 30) Hz, ON the busier state; seed 0):

1. **Cost per input spike** on the same bins (dt = 1 ms), compile excluded (each timed
   on its second call): the neuron's inference (``bayesnn.neuron.filter_counts``,
   ``"discrete"``), the local rule (the neuron *plus* its learning traces and updates,
   ``bayesnn.learning.local_rule``) and exact online EM (``online_em``). Goal of the
   issue: learning at most 3x inference.
2. **Time to the same accuracy** from the 4x-wrong start: batch EM (continuous time),
   gradient ascent (optax L-BFGS) and, on the spikes binned at 10 ms, binned EM and
   NUTS (2 chains x (500 + 500), sequential). The accuracy is the largest relative
   distance of the rates from the maximum-likelihood point (a tight L-BFGS run); NUTS
   is reported with the distance of its posterior mean from the binned ML point in
   posterior sds. Wall times include compilation (first call) and, separately, a
   second, compiled call.
"""
from __future__ import annotations

import argparse
import json
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

from bayesnn.learning import em_binned, em_continuous, fit_gradient, local_rule, online_em  # noqa: E402
from bayesnn.learning import experiments as ex  # noqa: E402
from bayesnn.neuron import NeuronParams, filter_counts  # noqa: E402
from bayesnn.processes import MMPPParams  # noqa: E402


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=200.0, help="seconds of input")
    parser.add_argument("--inputs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=500, help="NUTS warm-up per chain")
    parser.add_argument("--samples", type=int, default=500, help="NUTS draws per chain")
    parser.add_argument("--nuts-duration", type=float, default=20.0, help="seconds for NUTS")
    parser.add_argument("--json", type=str, default=None, help="write the numbers here")
    return parser.parse_args(argv)


def _timed(function, repeat: int = 2):
    """(first call s, last call s, result): the first includes compilation."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        jax.block_until_ready(jax.tree_util.tree_leaves(result))
        times.append(time.perf_counter() - start)
    return times[0], times[-1], result


def problem(n_inputs: int) -> MMPPParams:
    rng = np.random.default_rng(0)
    q_on, q_off = rng.uniform(5, 30, n_inputs), rng.uniform(5, 30, n_inputs)
    if q_on.sum() < q_off.sum():
        q_on, q_off = q_off, q_on
    return MMPPParams(r_on=2.0, r_off=2.0, q_on=q_on, q_off=q_off)


def per_spike(true, spikes, duration, dt=0.001) -> dict:
    counts = ex.bin_counts(spikes, true.n_inputs, duration, dt)
    n_spikes = int(counts.sum())
    neuron = NeuronParams(r_on=true.r_on, r_off=true.r_off, q_on=true.q_on, q_off=true.q_off, g0=1.0)
    start = ex.mis_initialised(true)
    # diagnostics off: time the learner itself (not its two log-likelihood passes)
    settings = dict(duration=duration, dt=dt, discount=1 - dt / 60.0, update_every=100,
                    warmup=5000, record_every=1000, diagnostics=False)
    rows = {
        "inference_filter_counts": _timed(lambda: filter_counts(neuron, counts, dt=dt, record_every=1000).log_odds),
        "local_rule": _timed(lambda: local_rule(start, spikes, **settings).params),
        "online_em": _timed(lambda: online_em(start, spikes, **settings).params),
    }
    out = {"n_input_spikes": n_spikes, "n_bins": counts.shape[0], "dt_s": dt}
    for name, (first, last, _) in rows.items():
        out[name] = {"first_call_s": first, "compiled_s": last, "us_per_input_spike": 1e6 * last / n_spikes}
    base = out["inference_filter_counts"]["compiled_s"]
    out["local_rule_over_inference"] = out["local_rule"]["compiled_s"] / base
    out["online_em_over_inference"] = out["online_em"]["compiled_s"] / base
    out["goal_learning_at_most_3x_inference"] = out["local_rule_over_inference"] <= 3.0
    return out


def to_accuracy(true, spikes, duration, args) -> dict:
    start = ex.mis_initialised(true)
    reference = fit_gradient(start, spikes, duration=duration, tol=1e-11, max_steps=2000).params
    ref = ex.flat(reference)
    out = {}
    for name, run in (
            ("em_continuous", lambda: em_continuous(start, spikes, duration=duration, xtol=1e-9).params),
            ("gradient_lbfgs", lambda: fit_gradient(start, spikes, duration=duration, tol=1e-7).params),
            ("gradient_adam", lambda: fit_gradient(start, spikes, duration=duration, optimizer="adam",
                                                   learning_rate=0.02, max_steps=3000, tol=1e-6).params)):
        first, last, params = _timed(run)
        out[name] = {"first_call_s": first, "compiled_s": last,
                     "max_rel_error_vs_ml": float(np.max(np.abs(ex.flat(params) / ref - 1)))}
    # binned data for binned EM and NUTS (shorter: NUTS cost grows with the bins)
    from bayesnn.numpyro_models.nuts import run_nuts
    nuts_spikes = ex.sample_data(true, 1, args.nuts_duration, 1)[0]
    counts = ex.bin_counts(nuts_spikes, true.n_inputs, args.nuts_duration, 0.01)
    binned = dict(duration=args.nuts_duration, dt=0.01)
    binned_ref = ex.flat(em_binned(start, nuts_spikes, xtol=1e-12, max_iterations=5000,
                                   **binned).params)
    first, last, params = _timed(lambda: em_binned(start, nuts_spikes, xtol=1e-9, **binned).params)
    out["em_binned"] = {"first_call_s": first, "compiled_s": last, "duration_s": args.nuts_duration,
                        "max_rel_error_vs_ml": float(np.max(np.abs(ex.flat(params) / binned_ref - 1)))}
    begin = time.perf_counter()
    nuts = run_nuts(nuts_spikes, duration=args.nuts_duration, dt=0.01, n_inputs=true.n_inputs,
                    key=0, num_warmup=args.warmup, num_samples=args.samples,
                    num_chains=2, chain_method="sequential")
    wall = time.perf_counter() - begin
    draws = {n: np.asarray(nuts.samples[n]).reshape(-1, *np.shape(nuts.samples[n])[2:]) for n in ex.PARAMETERS}
    mean = np.concatenate([np.atleast_1d(draws[n].mean(axis=0)) for n in ex.PARAMETERS])
    sd = np.concatenate([np.atleast_1d(draws[n].std(axis=0)) for n in ex.PARAMETERS])
    out["nuts"] = {"wall_s": wall, "duration_s": args.nuts_duration, "max_rhat": nuts.max_rhat,
                   "min_ess_bulk": nuts.min_ess_bulk,
                   "max_abs_mean_minus_ml_in_sd": float(np.max(np.abs(mean - binned_ref) / sd))}
    return out


def main(argv=None) -> dict:
    args = _parse(argv)
    true = problem(args.inputs)
    spikes = ex.sample_data(true, 0, args.duration, 1)[0]
    results = {"setting": vars(args), "per_input_spike": per_spike(true, spikes, args.duration),
               "to_accuracy": to_accuracy(true, spikes, args.duration, args)}
    print(json.dumps(results, indent=2, default=float))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2, default=float)
    return results


if __name__ == "__main__":
    main()
