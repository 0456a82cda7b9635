"""Peak memory of a long time-stepped run of ONE Bayesian neuron: flat in the duration.

Workload: one neuron, 3 Poisson inputs at constant rates (0.2, 0.5, 1 Hz: the input
event buffer stays far below the runtime's own memory even at 10^4 s), stepped
"discrete" at dt = 1e-4 s for 10^6, 10^7 and 10^8 steps (100 s, 1000 s, 10,000 s),
keeping one record every ``--record-every`` steps (default 10^5) and the default
``chunk_steps``. Each length runs in its own subprocess, so each peak RSS (VmHWM,
:func:`memory.peak_rss_mib`) is that run's alone (runtime + compile + inputs + run).

The input events are drawn with NumPy (not the model's sampler, whose memory would
mask the neuron's). Their buffer grows with the duration (they are the given data),
so the table also prints its size; what must not grow is the rest.

    python benchmarks/bench_memory_stepped.py            # 1e6, 1e7, 1e8 steps
    python benchmarks/bench_memory_stepped.py --steps 1000000 10000000

The script reports; nothing is asserted (FLAT/GROWS is printed).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DT = 1e-4
RATES = (0.2, 0.5, 1.0)  # Hz, input channels (constant Poisson rates)


def child(n_steps: int, record_every: int, chunk_steps: int, seed: int) -> dict:
    sys.path[:0] = [ROOT, HERE]
    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np

    from bayesnn.core import make_spikes
    from bayesnn.neuron import NeuronParams, simulate
    from memory import peak_rss_mib

    start_rss = peak_rss_mib()
    duration = n_steps * DT
    rng = np.random.default_rng(seed)
    times, senders = [], []
    for channel, rate in enumerate(RATES):
        count = rng.poisson(rate * duration)
        times.append(np.sort(rng.uniform(0.0, duration, count)))
        senders.append(np.full(count, channel))
    times, senders = np.concatenate(times), np.concatenate(senders)
    order = np.argsort(times, kind="stable")
    inputs = make_spikes(times[order], senders[order], n_senders=len(RATES), duration=duration)
    input_mib = sum(np.asarray(a).nbytes for a in inputs[:3]) / 2**20
    params = NeuronParams(r_on=0.5, r_off=0.5, q_on=np.array([0.4, 1.0, 2.0]),
                          q_off=np.array([0.1, 0.25, 0.5]), g0=1.0)
    before = peak_rss_mib()
    clock = time.perf_counter()
    run = simulate(params, inputs, duration=duration, method="discrete", dt=DT,
                   record_every=record_every, chunk_steps=chunk_steps)
    jax.block_until_ready(run)
    seconds = time.perf_counter() - clock
    return {"n_steps": n_steps, "duration_s": duration, "input_events": int(times.size),
            "input_mib": input_mib, "records": int(run.log_odds.shape[0]),
            "output_events": int(run.spikes.n_events), "start_rss_mib": start_rss,
            "before_run_peak_mib": before, "peak_rss_mib": peak_rss_mib(),
            "wall_s": seconds, "ns_per_step": seconds / n_steps * 1e9,
            "final_log_odds": float(run.final.log_odds)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[10**6, 10**7, 10**8])
    parser.add_argument("--record-every", type=int, default=10**5)
    parser.add_argument("--chunk-steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child, args.record_every, args.chunk_steps, args.seed)))
        return {}
    rows = []
    for n_steps in args.steps:
        command = [sys.executable, os.path.abspath(__file__), "--child", str(n_steps),
                   "--record-every", str(args.record_every), "--chunk-steps",
                   str(args.chunk_steps), "--seed", str(args.seed)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{n_steps} steps failed:\n{done.stderr[-3000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"  measured {n_steps:.0e} steps", file=sys.stderr, flush=True)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"one neuron, {len(RATES)} inputs, dt = {DT:g} s, 'discrete', record_every = "
          f"{args.record_every}, chunk_steps = {args.chunk_steps}; load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    header = (f"{'steps':>8} {'sim s':>8} {'in events':>9} {'in MiB':>7} {'records':>7} "
              f"{'peak MiB':>9} {'pre-run MiB':>11} {'run s':>7} {'ns/step':>8}")
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['n_steps']:>8.0e} {row['duration_s']:>8g} {row['input_events']:>9d} "
              f"{row['input_mib']:>7.2f} {row['records']:>7d} {row['peak_rss_mib']:>9.1f} "
              f"{row['before_run_peak_mib']:>11.1f} {row['wall_s']:>7.2f} {row['ns_per_step']:>8.1f}")
    peaks = [row["peak_rss_mib"] for row in rows]
    inputs = [row["input_mib"] for row in rows]
    growth = peaks[-1] - peaks[0]
    allowed = 16.0 + 4 * (inputs[-1] - inputs[0])  # MiB: allocator noise + input buffers
    verdict = "FLAT" if growth <= allowed else "GROWS"
    print(f"peak RSS {peaks[0]:.1f} -> {peaks[-1]:.1f} MiB over {rows[0]['n_steps']:.0e} -> "
          f"{rows[-1]['n_steps']:.0e} steps (+{growth:.1f} MiB; input buffers "
          f"+{inputs[-1] - inputs[0]:.2f} MiB): {verdict}")
    result = {"rows": rows, "verdict": verdict, "load": load}
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)
    return result


if __name__ == "__main__":
    main()
