"""W1 in Brian2 (cpp_standalone, dt = 0.1 ms): the reference for ``bench_w1.py``.

Same model and rates as ``bench_w1.py``: N neurons, each with its own hidden state x
(switching 0 -> 1 at r_on = 2 Hz, 1 -> 0 at r_off = 2 Hz, tested every step) and 20
Poisson inputs of rate q_on (x = 1) or q_off (x = 0), q ~ U(5, 30) Hz from the same
NumPy seed; the neuron integrates Denève's equations with forward Euler,

    dL/dt = r_on (1 + e^-L) - r_off (1 + e^L) - theta,   L += w_i at an input spike,
    dG/dt = r_on (1 + e^-G) - r_off (1 + e^G),           G += g0 at an output spike,

spiking when L > G + g0/2 (at most one output spike per step), w_i = log(q_on/q_off),
theta = sum(q_on - q_off), g0 = 1. Inputs are N x 20 neurons firing with probability
q dt per step (Brian2's Poisson threshold), the state linked from their target neuron.

Run in its own environment (Brian2 is not a bayesnn dependency):

    python -m venv /tmp/brian2env && /tmp/brian2env/bin/pip install brian2 "numpy<2.3"
    /tmp/brian2env/bin/python benchmarks/w1_brian2.py --neurons 1000 --duration 10

Prints one JSON line: end-to-end wall time (code generation + C++ compilation + run),
the simulation binary's own time and peak RSS (a second execution of the compiled
binary, measured with wait4), and the output rate.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time

import numpy as np

SEED = 20261128
N_INPUTS = 20


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=10.0, help="s")
    parser.add_argument("--g0", type=float, default=1.0,
                        help="output spike size (1: ~68 Hz output; 0.22: ~300 Hz)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    import brian2 as b2

    directory = tempfile.mkdtemp(prefix="w1_brian2_")
    b2.set_device("cpp_standalone", directory=directory, build_on_run=True)
    b2.defaultclock.dt = 0.1 * b2.ms
    rng = np.random.default_rng(SEED)
    q_on, q_off = rng.uniform(5.0, 30.0, N_INPUTS), rng.uniform(5.0, 30.0, N_INPUTS)
    n = args.neurons
    namespace = {"r_on": 2.0 * b2.Hz, "r_off": 2.0 * b2.Hz, "g0": args.g0,
                 "theta": float(np.sum(q_on - q_off)) * b2.Hz}
    neurons = b2.NeuronGroup(
        n, """dL/dt = r_on*(1 + exp(-L)) - r_off*(1 + exp(L)) - theta : 1
              dG/dt = r_on*(1 + exp(-G)) - r_off*(1 + exp(G)) : 1
              x : 1""",
        threshold="L > G + g0/2", reset="G += g0", method="euler", namespace=namespace)
    neurons.x = "int(rand() < 0.5)"  # stationary law, r_on = r_off
    neurons.run_regularly("x = x + (1 - 2*x)*int(rand() < dt*(r_on*(1 - x) + r_off*x))",
                          when="start")
    inputs = b2.NeuronGroup(n * N_INPUTS, """qon : Hz (constant)
                                             qoff : Hz (constant)
                                             xt : 1 (linked)""",
                            threshold="rand() < (qon*xt + qoff*(1 - xt))*dt")
    target = np.repeat(np.arange(n), N_INPUTS)
    inputs.xt = b2.linked_var(neurons, "x", index=target)
    inputs.qon = np.tile(q_on, n) * b2.Hz
    inputs.qoff = np.tile(q_off, n) * b2.Hz
    synapses = b2.Synapses(inputs, neurons, "w : 1 (constant)", on_pre="L_post += w")
    synapses.connect(i=np.arange(n * N_INPUTS), j=target)
    synapses.w = np.tile(np.log(q_on / q_off), n)
    monitor = b2.SpikeMonitor(neurons, record=False)
    b2.run(args.duration * b2.second)
    n_spikes = int(monitor.num_spikes)
    end_to_end = time.perf_counter() - start

    # The compiled binary alone, run again: its own time and peak memory.
    binary = os.path.join(directory, "main")
    begin = time.perf_counter()
    process = subprocess.Popen([binary], cwd=directory, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    binary_s = time.perf_counter() - begin
    print(json.dumps({
        "neurons": n, "duration": args.duration, "dt_s": 1e-4, "brian2": b2.__version__,
        "end_to_end_s": end_to_end, "binary_run_s": binary_s, "binary_status": status,
        "binary_peak_mib": usage.ru_maxrss / 1024,
        "binary_cpu_s": usage.ru_utime + usage.ru_stime, "g0": args.g0,
        "children_peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "rate_hz": n_spikes / (n * args.duration), "load": os.getloadavg()}))
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
