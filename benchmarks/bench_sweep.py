"""Benchmark: a parameter sweep of the Bayesian neuron, one call per value vs one sweep.

Workload (defaults, issue 8): 20 values of g0 (log-spaced 0.25-4 nats) x 4 trials x
10 s of the exact event-driven Bayesian neuron, N = 20 Poisson inputs with q_on, q_off
~ U(5, 30) Hz (NumPy seed 20261128), r_on = 1 Hz, r_off = 3 Hz, float64; L and G
recorded every 10 ms. Trial k uses key ``fold_in(PRNGKey(seed), k)`` at every value
(common random numbers), so all modes see the same input spikes.

Modes, side by side (each in its own subprocess by default: fresh JIT caches, so the
compilations counted are the mode's own):

* ``per_value``    the old way: for each value, sample the 4 trials
                   (:func:`bayesnn.processes.sample_trials`) and run
                   :func:`bayesnn.neuron.simulate_trials` with its default capacity
                   (a fresh capacity each call; bucketed to powers of two, so values
                   with nearby expected counts share a program);
* ``unbucketed``   the same, but with the output capacity derived from each value
                   without bucketing (what a per-value shape costs: one compilation per
                   value);
* ``sweep``        :func:`bayesnn.neuron.simulate_grid`: the whole grid x trials in one call.

Per mode: XLA compilations (:class:`bayesnn.validate.CompileMeter`, the
``jax.monitoring`` listener that ``bayesnn validate`` reports with; "kernel" counts the
neuron and sampler programs, "all" includes small eager helper ops), compile time
(tracing + lowering + XLA compile, overlapping spans merged), run time (total minus compile), total
wall time, and the CPU time of the process (all threads; less sensitive than wall
time to other jobs on the machine). The driver checks that the modes give the same L (exact posterior
log-odds, independent of g0) and G (decoded prediction, depends on g0) at every value,
trial and record time. Only reports: goals print PASS/FAIL, nothing is asserted.

    python benchmarks/bench_sweep.py                 # full workload, one subprocess per mode
    python benchmarks/bench_sweep.py --in-process    # all modes in this process
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # repo root

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

from bayesnn import neuron, processes  # noqa: E402
from bayesnn.core.compile_meter import CompileMeter  # noqa: E402

MODES = ("per_value", "unbucketed", "sweep")
SEED = 20261128
KERNELS = ("_exact", "_grid_kernel", "_sample_jit")  # jitted programs of the workload
GOAL_TOTAL_S = 15.0


def make_base(n_inputs: int) -> neuron.NeuronParams:
    rng = np.random.default_rng(SEED)
    return neuron.NeuronParams(r_on=1.0, r_off=3.0, q_on=rng.uniform(5, 30, n_inputs),
                               q_off=rng.uniform(5, 30, n_inputs), g0=1.0)


def g0_values(n_values: int) -> np.ndarray:
    return np.geomspace(0.25, 4.0, n_values)


def unbucketed_capacity(params: neuron.NeuronParams, duration: float, n_input_events: int) -> int:
    """The default capacity's expected count, sized to the value without rounding to a
    power of two: a different compiled shape for (almost) every value."""
    rate = 1.5 * max(float(params.evidence_rate_on), 1.0) / float(params.g0) + 10.0
    expected = rate * duration + 0.05 * n_input_events
    return int(math.ceil(expected + 10 * math.sqrt(expected) + 16))


def run_mode(mode: str, args) -> tuple[dict, dict]:
    """Run one mode in this process: (timings, arrays L, G, output spike counts)."""
    base = make_base(args.inputs)
    values = g0_values(args.values)
    times = args.record_dt * np.arange(1, int(round(args.duration / args.record_dt)) + 1)
    meter, wall_start = CompileMeter.get(), time.time()
    start, cpu_start = time.perf_counter(), time.process_time()
    if mode == "sweep":
        result = neuron.simulate_grid(lambda g0: base.replace(g0=g0), {"g0": values}, key=SEED,
                              n_trials=args.trials, duration=args.duration, sample_times=times)
        log_odds, prediction = result["log_odds"].values, result["prediction"].values
        n_spikes = result["spikes_count"].values.sum(-1)
    elif mode in ("per_value", "unbucketed"):
        log_odds, prediction, n_spikes = [], [], []
        for g0 in values:
            params = base.replace(g0=g0)
            trials = processes.sample_trials(params, key=SEED, n_trials=args.trials,
                                             duration=args.duration)
            capacity = None
            if mode == "unbucketed":
                events = int(np.max(np.asarray(trials.inputs.n_events)))
                capacity = unbucketed_capacity(params, args.duration, events)
            run = neuron.simulate_trials(params, trials.inputs, duration=args.duration,
                                         sample_times=times, capacity=capacity)
            log_odds.append(np.asarray(run.log_odds))
            prediction.append(np.asarray(run.prediction))
            n_spikes.append(np.asarray(run.spikes.n_spikes))
        log_odds, prediction, n_spikes = map(np.stack, (log_odds, prediction, n_spikes))
    else:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    compiled = meter.since(wall_start)
    names = compiled["program_names"]
    row = {"mode": mode, "total_s": total, "cpu_s": cpu, "compile_s": compiled["compile_s"],
           "run_s": max(total - compiled["compile_s"], 0.0), "compilations": len(names),
           "kernel_compilations": sum(any(kernel in name for kernel in KERNELS)
                                      for name in names),
           "mean_output_rate_hz": float(np.mean(n_spikes)) / args.duration}
    return row, {"log_odds": log_odds, "prediction": prediction, "n_spikes": n_spikes}


def _in_subprocess(mode: str, args, folder: str) -> tuple[dict, dict]:
    arrays = os.path.join(folder, f"{mode}.npz")
    command = [sys.executable, os.path.abspath(__file__), "--only", mode, "--arrays", arrays,
               "--values", str(args.values), "--trials", str(args.trials),
               "--duration", str(args.duration), "--inputs", str(args.inputs),
               "--record-dt", str(args.record_dt)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    row = json.loads(done.stdout.strip().splitlines()[-1])
    with np.load(arrays) as saved:
        return row, {name: saved[name] for name in saved.files}


def compare(reference: dict, other: dict) -> dict:
    """Largest differences of L and G (nats) and of output spike counts."""
    return {"max_abs_dL": float(np.max(np.abs(reference["log_odds"] - other["log_odds"]))),
            "max_abs_dG": float(np.max(np.abs(reference["prediction"] - other["prediction"]))),
            "spike_counts_equal": bool(np.array_equal(reference["n_spikes"], other["n_spikes"]))}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=20, help="number of g0 values")
    parser.add_argument("--trials", type=int, default=4, help="trials per value")
    parser.add_argument("--duration", type=float, default=10.0, help="trial length, s")
    parser.add_argument("--inputs", type=int, default=20, help="Poisson inputs N")
    parser.add_argument("--record-dt", type=float, default=0.01, help="record spacing, s")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated modes")
    parser.add_argument("--in-process", action="store_true",
                        help="run every mode in this process (compile counts then share "
                             "the small helper ops between modes)")
    parser.add_argument("--json", default=None, help="write the results to this file")
    parser.add_argument("--only", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--arrays", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.only:  # child process: one mode, JSON row on stdout, arrays to --arrays
        row, arrays = run_mode(args.only, args)
        np.savez(args.arrays, **arrays)
        print(json.dumps(row))
        return row

    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES)
    if unknown:
        raise SystemExit(f"unknown modes {sorted(unknown)}; choose from {MODES}")
    print(f"g0 sweep: {args.values} values x {args.trials} trials x {args.duration:g} s, "
          f"N = {args.inputs}, r_on = 1 Hz, r_off = 3 Hz, records every {args.record_dt:g} s; "
          f"jax {jax.__version__}, {os.cpu_count()} CPU(s), float64")
    rows, arrays = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        for mode in modes:
            rows[mode], arrays[mode] = (run_mode(mode, args) if args.in_process
                                        else _in_subprocess(mode, args, folder))
    header = (f"{'mode':12s} {'XLA compiles':>12s} {'(kernel)':>9s} {'compile s':>10s} "
              f"{'run s':>8s} {'total s':>8s} {'CPU s':>8s} {'rate Hz':>8s}")
    print(header)
    for mode, row in rows.items():
        print(f"{mode:12s} {row['compilations']:12d} {row['kernel_compilations']:9d} "
              f"{row['compile_s']:10.2f} {row['run_s']:8.2f} {row['total_s']:8.2f} "
              f"{row['cpu_s']:8.2f} {row['mean_output_rate_hz']:8.2f}")
    results = {"rows": rows, "agreement": {}, "args": vars(args)}
    reference = modes[0]
    for mode in modes[1:]:
        agreement = compare(arrays[reference], arrays[mode])
        results["agreement"][f"{mode}_vs_{reference}"] = agreement
        print(f"{mode} vs {reference}: max |dL| = {agreement['max_abs_dL']:.3g} nats, "
              f"max |dG| = {agreement['max_abs_dG']:.3g} nats, output spike counts "
              f"{'equal' if agreement['spike_counts_equal'] else 'DIFFER'}")
    if "sweep" in rows:
        sweep = rows["sweep"]
        print(f"GOAL sweep compiles the neuron once: {sweep['kernel_compilations']} kernel "
              f"compilation(s) -> {'PASS' if sweep['kernel_compilations'] == 1 else 'FAIL'}")
        print(f"GOAL sweep total < {GOAL_TOTAL_S:g} s: {sweep['total_s']:.2f} s -> "
              f"{'PASS' if sweep['total_s'] < GOAL_TOTAL_S else 'FAIL'}")
        for mode in ("per_value", "unbucketed"):
            if mode in rows:
                print(f"speed-up of the sweep over {mode}: "
                      f"{rows[mode]['total_s'] / sweep['total_s']:.1f}x (total time)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return results


if __name__ == "__main__":
    main()
