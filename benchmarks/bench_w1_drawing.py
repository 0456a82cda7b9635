"""W1: what drawing the inputs inside the run costs, in CPU seconds, alternated.

Same model as ``bench_w1.py`` (N neurons x 20 inputs, float64, 10 samples per trial), in
one process, compile apart, medians of alternating calls:

* integration: :func:`bayesnn.neuron.simulate_trials` (exact) on input events drawn
  beforehand by :func:`bayesnn.processes.sample_trials` (the drawing is not timed);
* generative: :func:`bayesnn.neuron.simulate_generative` (inputs drawn inside the run).

drawing cost = (generative - integration) / integration; the goal is <= 0.5. Both the
sparse (g0 = 1, ~68 Hz output) and dense (g0 = 0.22, ~300 Hz) regimes. The two runs use
independent draws of the same model, so their output rates are compared (|z| < 5).

    python benchmarks/bench_w1_drawing.py                         # 1000 x 10 s
    python benchmarks/bench_w1_drawing.py --neurons 200 --repeats 3
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # repo root


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=10.0, help="s")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--g0", type=float, nargs="+", default=[1.0, 0.22])
    args = parser.parse_args(argv)
    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    from bayesnn.neuron import NeuronParams, simulate_generative, simulate_trials
    from bayesnn.processes import sample_trials

    n, duration = args.neurons, args.duration
    sample_times = np.linspace(duration / 10, duration, 10)
    rows = []
    for g0 in args.g0:
        rng = np.random.default_rng(20261128)
        params = NeuronParams(r_on=2.0, r_off=2.0, q_on=rng.uniform(5.0, 30.0, 20),
                              q_off=rng.uniform(5.0, 30.0, 20), g0=g0)
        inputs = jax.block_until_ready(sample_trials(params, key=1, n_trials=n,
                                                     duration=duration)).inputs
        integrate = lambda: jax.block_until_ready(simulate_trials(
            params, inputs, duration=duration, sample_times=sample_times))
        generate = lambda: jax.block_until_ready(simulate_generative(
            params, key=1, duration=duration, n_trials=n, sample_times=sample_times))
        outs = {"integration": integrate(), "generative": generate()}  # compile
        cpu = {"integration": [], "generative": []}
        wall = {"integration": [], "generative": []}
        for _ in range(args.repeats):
            for name, fn in (("integration", integrate), ("generative", generate)):
                start_cpu, start = time.process_time(), time.perf_counter()
                fn()
                cpu[name].append(time.process_time() - start_cpu)
                wall[name].append(time.perf_counter() - start)
        med = {k: statistics.median(v) for k, v in cpu.items()}
        med_wall = {k: statistics.median(v) for k, v in wall.items()}
        rates = {}
        for name, out in outs.items():
            per = np.asarray(out.spikes.counts).reshape(n, -1).sum(-1) / duration
            rates[name] = (per.mean(), per.std(ddof=1) / np.sqrt(n))
        z = (rates["generative"][0] - rates["integration"][0]) / np.hypot(
            rates["generative"][1], rates["integration"][1])
        cost = (med["generative"] - med["integration"]) / med["integration"]
        cost_wall = (med_wall["generative"] - med_wall["integration"]) / med_wall["integration"]
        rows.append(cost)
        print(f"g0 = {g0:g}, {n} x {duration:g} s: integration {med['integration']:.3f} s CPU "
              f"({med_wall['integration']:.3f} wall), generative {med['generative']:.3f} s CPU "
              f"({med_wall['generative']:.3f} wall); drawing = {cost:+.2f} x integration CPU "
              f"({cost_wall:+.2f} wall) -> {'PASS' if cost <= 0.5 else 'FAIL'} (<= 0.5); "
              f"rates {rates['integration'][0]:.2f} / {rates['generative'][0]:.2f} Hz, "
              f"z = {z:+.2f} ({'PASS' if abs(z) < 5 else 'FAIL'} |z| < 5)")
    print(f"load average {tuple(round(x, 1) for x in os.getloadavg())}")
    return rows


if __name__ == "__main__":
    main()
