"""GPU scaling run (issue 21), a prepared script: one command on a machine with a GPU.

Workloads:

* the Bayesian neuron with inputs drawn inside the exact run
  (``bayesnn.neuron.simulate_generative``): 1e4, 1e5 and 1e6 neurons x 20 inputs x 10 s
  (W1's model: r_on = r_off = 2 Hz, q_on, q_off ~ U(5, 30) Hz from NumPy seed 20261128,
  g0 = 1 nat), in float64 and float32 (each precision in its own subprocess, since x64
  is process-wide);
* 1000 SCN trials of W2 (D = 2, N = 400, dt = 0.1 ms, per-trial inputs,
  ``bayesnn.scn.simulate_trials``).

Reported per case: compile seconds (first call minus the second), run seconds (second
call, ``block_until_ready``), input events per second (the generated input spikes over
the run time), real-time factor (simulated seconds / run seconds; > 1 is faster than real
time) and peak device memory (``device.memory_stats()["peak_bytes_in_use"]``, where the
backend reports it). Goal for 1e6 neurons: faster than real time, about 3.5e8 input
events/s (the order of GeNN's and NEST GPU's event throughput).

Run (GPU machine, repo root; results also written to ``$OUT/gpu_scale.json`` when
``$OUT`` is set)::

    python benchmarks/gpu_scale.py
    python benchmarks/gpu_scale.py --smoke     # tiny sizes, any machine (CPU check)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _peak_device_mib():
    import jax
    stats = jax.devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return None if peak is None else peak / 2**20


def _timed(call):
    import jax
    start = time.perf_counter()
    first = jax.block_until_ready(call())
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    out = jax.block_until_ready(call())
    run_s = time.perf_counter() - start
    return out, max(first_s - run_s, 0.0), run_s, first


def child(precision: str, neurons: list[int], duration: float, scn_trials: int,
          scn_steps: int) -> list[dict]:
    import jax
    jax.config.update("jax_enable_x64", precision == "float64")
    import numpy as np

    from bayesnn import neuron

    rows = []
    rng = np.random.default_rng(20261128)
    q_on, q_off = rng.uniform(5, 30, 20), rng.uniform(5, 30, 20)
    params = neuron.NeuronParams(r_on=2.0, r_off=2.0, q_on=q_on, q_off=q_off, g0=1.0)
    for n in neurons:
        call = lambda: neuron.simulate_generative(params, key=0, duration=duration, n_trials=n,
                                                  sample_times=[duration], batch_trials=n)
        out, compile_s, run_s, _ = _timed(call)
        events = float(np.sum(np.asarray(out.input_counts)))
        rows.append({"workload": "simulate_generative", "precision": precision, "neurons": n,
                     "inputs": 20, "duration_s": duration, "compile_s": compile_s,
                     "run_s": run_s, "input_events": events,
                     "input_events_per_s": events / run_s,
                     "real_time_factor": duration / run_s,
                     "output_spikes": int(np.sum(np.asarray(out.spikes.n_events))),
                     "peak_device_mib": _peak_device_mib()})
        print(json.dumps(rows[-1]), flush=True)
    if scn_trials:
        from bayesnn.scn import make_network, random_decoder, simulate_trials
        dt = 1e-4
        net = make_network(random_decoder(2, 400, 0.1, seed=0), A=np.zeros((2, 2)),
                           lambda_d=10.0, lambda_v=20.0, mu=1e-6, nu=1e-5, sigma_v=0.0, dt=dt)
        t = np.arange(scn_steps) * dt
        k = np.arange(scn_trials)[:, None]
        angle = 2 * np.pi * ((1 + 0.01 * k) * t[None] + k / scn_trials)
        c = 5 * np.stack([np.cos(angle), np.sin(angle)], -1)
        out, compile_s, run_s, _ = _timed(lambda: simulate_trials(net, c, key=0))
        rows.append({"workload": "scn.simulate_trials", "precision": precision,
                     "trials": scn_trials, "neurons": 400, "steps": scn_steps,
                     "compile_s": compile_s, "run_s": run_s,
                     "steps_per_s": scn_trials * scn_steps / run_s,
                     "real_time_factor": scn_steps * dt * scn_trials / run_s,
                     "peak_device_mib": _peak_device_mib()})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--neurons", default="10000,100000,1000000")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--precisions", default="float64,float32")
    parser.add_argument("--scn-trials", type=int, default=1000)
    parser.add_argument("--scn-steps", type=int, default=100_000)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CPU check)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.neurons, args.duration, args.scn_trials, args.scn_steps = "16", 0.5, 4, 200
    neurons = [int(n) for n in args.neurons.split(",")]
    if args.child:
        rows = child(args.child, neurons, args.duration, args.scn_trials, args.scn_steps)
        print("ROWS " + json.dumps(rows))
        return rows
    import jax
    print(f"devices: {jax.devices()}; jax {jax.__version__}", flush=True)
    rows = []
    for precision in args.precisions.split(","):
        command = [sys.executable, os.path.abspath(__file__), "--child", precision,
                   "--neurons", args.neurons, "--duration", str(args.duration),
                   "--scn-trials", str(args.scn_trials), "--scn-steps", str(args.scn_steps)]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        sys.stdout.write(done.stdout)
        if done.returncode:
            print(f"{precision}: exit code {done.returncode}\n{done.stderr[-3000:]}", flush=True)
        rows += [row for line in done.stdout.splitlines() if line.startswith("ROWS ")
                 for row in json.loads(line[5:])]
    print(f"{'workload':22s} {'prec':8s} {'size':>9s} {'compile s':>9s} {'run s':>8s} "
          f"{'events/s':>10s} {'x real time':>11s} {'peak MiB':>9s}")
    for row in rows:
        size = row.get("neurons") if row["workload"] == "simulate_generative" else row["trials"]
        rate = row.get("input_events_per_s", row.get("steps_per_s"))
        peak = row["peak_device_mib"]
        print(f"{row['workload']:22s} {row['precision']:8s} {size:>9} {row['compile_s']:9.2f} "
              f"{row['run_s']:8.3f} {rate:10.3g} {row['real_time_factor']:11.3g} "
              f"{'-' if peak is None else f'{peak:.0f}':>9s}")
    big = [r for r in rows if r["workload"] == "simulate_generative" and r["neurons"] >= 10**6]
    for row in big:
        print(f"GOAL 1e6 neurons faster than real time ({row['precision']}): "
              f"{row['real_time_factor']:.2f}x real time, {row['input_events_per_s']:.3g} "
              f"input events/s -> {'PASS' if row['real_time_factor'] >= 1 else 'FAIL'}")
    if os.environ.get("OUT"):
        with open(os.path.join(os.environ["OUT"], "gpu_scale.json"), "w") as handle:
            json.dump(rows, handle, indent=2)
    return rows


if __name__ == "__main__":
    main()
