"""W1 side by side with Brian2 2.9 (cpp_standalone): alternated, end to end, both regimes.

Workload W1 (``bench_w1.py``'s model): N Bayesian neurons x 20 Poisson inputs, r_on =
r_off = 2 Hz, q ~ U(5, 30) Hz (NumPy seed 20261128), float64. Two regimes: sparse
(g0 = 1, ~68 Hz output) and dense (g0 = 0.22, ~300 Hz output).

Every measurement is a fresh subprocess, launched by this script, and the sides
alternate (bayesnn, Brian2, bayesnn, Brian2, ...), so both see the same load:

* ``bayesnn exact``: the child imports bayesnn, draws the inputs
  (:func:`bayesnn.processes.sample_trials`) and integrates them exactly
  (:func:`bayesnn.neuron.simulate_trials`); its *run* is the integration (a second
  call, compiled);
* ``bayesnn generative``: :func:`bayesnn.neuron.simulate_generative` (inputs drawn
  inside); its *run* is a second, compiled call;
* ``Brian2``: ``w1_brian2.py`` in its own Python (``--brian2-python``: Brian2 is not a
  bayesnn dependency): code generation + g++ + run; its *run* is a second execution of
  the compiled binary (which draws its inputs inside, forward Euler at dt = 0.1 ms).

Reported per side: end to end = launch of the process to its result (wall, and CPU of
the process and its children from ``wait4``), run wall and run CPU (bayesnn:
``time.process_time`` around the call; Brian2: ``wait4`` of the binary). Ratios are
wall/wall and CPU/CPU, medians over the alternations.

What is compared for agreement: the output rate (spikes per neuron-second). The two
sides are different integrators (exact event-driven vs forward Euler with at most one
spike per 0.1 ms step), so the rates are expected to differ by Euler's O(dt) error;
the table prints the relative difference, and bayesnn's exact and generative rates
must agree within 5 standard errors (same model, independent draws).

    python -m venv /tmp/b2 && /tmp/b2/bin/pip install "brian2==2.9.*" "numpy<2.3"
    python benchmarks/w1_vs_brian2.py --brian2-python /tmp/b2/bin/python           # 1000 x 10 s
    python benchmarks/w1_vs_brian2.py --brian2-python /tmp/b2/bin/python --neurons 50 \\
        --duration 1 --repeats 1                                                 # smoke
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SEED = 20261128
N_INPUTS = 20
N_SAMPLES = 10
REGIMES = {"sparse": 1.0, "dense": 0.22}


def child(mode: str, neurons: int, duration: float, g0: float) -> dict:
    """Runs in a fresh process: import, compile + first call, second (timed) call."""
    sys.path.insert(0, ROOT)
    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    from bayesnn.neuron import NeuronParams, simulate_generative, simulate_trials
    from bayesnn.processes import sample_trials

    rng = np.random.default_rng(SEED)
    params = NeuronParams(r_on=2.0, r_off=2.0, q_on=rng.uniform(5.0, 30.0, N_INPUTS),
                          q_off=rng.uniform(5.0, 30.0, N_INPUTS), g0=g0)
    sample_times = np.linspace(duration / N_SAMPLES, duration, N_SAMPLES)
    if mode == "exact":
        inputs = jax.block_until_ready(sample_trials(params, key=SEED, n_trials=neurons,
                                                     duration=duration)).inputs
        call = lambda: jax.block_until_ready(simulate_trials(
            params, inputs, duration=duration, sample_times=sample_times))
    else:
        call = lambda: jax.block_until_ready(simulate_generative(
            params, key=SEED, duration=duration, n_trials=neurons, sample_times=sample_times))
    result = call()  # the end-to-end result (compile included)
    done = time.time()
    cpu, wall = time.process_time(), time.perf_counter()
    result = call()
    run_cpu, run_wall = time.process_time() - cpu, time.perf_counter() - wall
    counts = np.asarray(result.spikes.counts).reshape(neurons, -1).sum(-1) / duration
    return {"result_at": done, "run_wall_s": run_wall, "run_cpu_s": run_cpu,
            "rate_hz": float(counts.mean()),
            "rate_se_hz": float(counts.std(ddof=1) / np.sqrt(neurons)) if neurons > 1 else 0.0}


def launch(command: list[str]) -> tuple[dict, float, float]:
    """(child's JSON, wall from launch to its result line, CPU of the child tree)."""
    start_epoch, start = time.time(), time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    end = time.perf_counter()
    out, err = process.stdout.read(), process.stderr.read()
    if status != 0:
        raise RuntimeError(f"{command[:3]} failed: {err.strip().splitlines()[-3:]}")
    row = json.loads(out.strip().splitlines()[-1])
    # bayesnn: launch to the first result; Brian2: its own end to end (measured from
    # its start, so add the interpreter's launch: launch-to-exit minus the re-run)
    if "result_at" in row:
        wall = row["result_at"] - start_epoch
    else:
        wall = (end - start) - row["binary_run_s"]
    return row, wall, usage.ru_utime + usage.ru_stime


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brian2-python", required=False, default=None,
                        help="a Python with Brian2 2.9 (none: bayesnn sides only)")
    parser.add_argument("--neurons", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3, help="alternations")
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES))
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--g0", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.neurons, args.duration, args.g0)))
        return
    env_load = os.getloadavg()
    rows = {}
    size = ["--neurons", str(args.neurons), "--duration", str(args.duration)]
    for _ in range(args.repeats):
        for regime in args.regimes:
            g0 = REGIMES[regime]
            sides = {"bayesnn exact": [sys.executable, __file__, "--child", "exact", *size,
                                       "--g0", str(g0)],
                     "bayesnn generative": [sys.executable, __file__, "--child", "generative",
                                            *size, "--g0", str(g0)]}
            if args.brian2_python:
                sides["Brian2"] = [args.brian2_python, os.path.join(HERE, "w1_brian2.py"),
                                   *size, "--g0", str(g0)]
            for side, command in sides.items():
                row, wall, cpu = launch(command)
                if side == "Brian2":
                    run_wall, run_cpu = row["binary_run_s"], row["binary_cpu_s"]
                    rate, se = row["rate_hz"], 0.0
                else:
                    run_wall, run_cpu = row["run_wall_s"], row["run_cpu_s"]
                    rate, se = row["rate_hz"], row["rate_se_hz"]
                entry = rows.setdefault((regime, side), {"e2e_wall": [], "e2e_cpu": [],
                                                         "run_wall": [], "run_cpu": [],
                                                         "rate": rate, "se": se})
                entry["e2e_wall"].append(wall)
                entry["e2e_cpu"].append(cpu)
                entry["run_wall"].append(run_wall)
                entry["run_cpu"].append(run_cpu)
                print(json.dumps({"regime": regime, "side": side, "e2e_wall": wall,
                                  "e2e_cpu": cpu, "run_wall": run_wall, "run_cpu": run_cpu,
                                  "rate_hz": rate}), file=sys.stderr, flush=True)
    med = {key: {k: statistics.median(v) for k, v in entry.items()
                 if isinstance(v, list)} | {"rate": entry["rate"], "se": entry["se"]}
           for key, entry in rows.items()}
    print(f"W1 {args.neurons} neurons x {args.duration:g} s, medians of {args.repeats} "
          f"alternations; load average at start {tuple(round(x, 1) for x in env_load)}, "
          f"end {tuple(round(x, 1) for x in os.getloadavg())}")
    print(f"{'regime':<7} {'side':<19} {'e2e wall':>9} {'e2e CPU':>8} {'run wall':>9} "
          f"{'run CPU':>8} {'rate Hz':>8}")
    for (regime, side), m in med.items():
        print(f"{regime:<7} {side:<19} {m['e2e_wall']:9.2f} {m['e2e_cpu']:8.2f} "
              f"{m['run_wall']:9.3f} {m['run_cpu']:8.3f} {m['rate']:8.2f}")
    goals = {"bayesnn exact": ("run", 30.0), "bayesnn generative": ("run", 20.0)}
    for regime in args.regimes:
        exact, gen = med.get((regime, "bayesnn exact")), med.get((regime, "bayesnn generative"))
        z = (exact["rate"] - gen["rate"]) / max((exact["se"] ** 2 + gen["se"] ** 2) ** 0.5,
                                                1e-300)
        print(f"{regime}: bayesnn exact vs generative rate z = {z:+.2f} "
              f"({'PASS' if abs(z) < 5 else 'FAIL'} |z| < 5)")
        brian = med.get((regime, "Brian2"))
        if not brian:
            continue
        for side, (what, goal) in goals.items():
            ours = med[(regime, side)]
            wall = brian["run_wall"] / ours["run_wall"]
            cpu = brian["run_cpu"] / ours["run_cpu"]
            print(f"{regime}: {side} run vs Brian2 run: {wall:.1f}x faster wall, {cpu:.1f}x "
                  f"CPU (goal >= {goal:g}x: {'PASS' if wall >= goal else 'FAIL'} wall); "
                  f"rate {ours['rate']:.2f} vs Brian2 {brian['rate']:.2f} Hz "
                  f"({100 * (brian['rate'] / ours['rate'] - 1):+.1f} %: Euler, dt = 0.1 ms)")
            e2e_wall = brian["e2e_wall"] / ours["e2e_wall"]
            e2e_cpu = brian["e2e_cpu"] / ours["e2e_cpu"]
            print(f"{regime}: {side} end to end vs Brian2: {e2e_wall:.1f}x faster wall, "
                  f"{e2e_cpu:.1f}x CPU (goal >= 10x: {'PASS' if e2e_wall >= 10 else 'FAIL'})")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({f"{r}|{s}": v for (r, s), v in rows.items()}, handle, indent=1)


if __name__ == "__main__":
    main()
