"""Spike-gradient benchmark: one gradient step of surrogate BPTT (discrete LIF network,
JAX, checkpointed scan) and of EventProp (event-driven LIF network, NumPy float64) on the
same network (64 inputs, 40 hidden, 10 outputs, tau_m = 10 ms) and the same batch (64
latency-coded 8x8 digits), against sequence length.

Sequence length = number of time steps of the surrogate's grid over a fixed 40-ms run
(dt = 40 ms / steps); EventProp has no grid: its work and memory follow the spikes only,
so its column is the same computation at every length (measured anyway, to show it).
Time: median of --repeats runs after one compile/warm-up run (compile reported apart);
peak memory: XLA's temporary buffer size of the compiled gradient program
(``compiled.memory_analysis()``) for the surrogate, ``tracemalloc``'s peak for EventProp.
Agreement: the first-output-spike losses of both networks (the discrete one quantises
spike times to dt, so they agree to O(dt)) and the cosine similarity of their gradients.

Reference implementations: ``jaxsnn`` (EventProp in JAX) is on PyPI but was not
installed here (its JAX pin was not checked against jax 0.10 in the time available);
``snntorch`` / ``norse`` need torch, which this project does not install. So there is no
third-party column.

    python benchmarks/bench_spike_gradients.py [--steps 80,320,1280] [--repeats 3] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # repo root

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from bayesnn.spike_gradients.digits import _to_k, init_weights, load_digits_spikes  # noqa: E402
from bayesnn.spike_gradients.eventprop import EventLIF, network_grad  # noqa: E402
from bayesnn.spike_gradients.lif import LIFNet, lif_first_spike_loss  # noqa: E402


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", default="80,320,1280")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    data = load_digits_spikes()
    w = init_weights(40)
    t, y = data.t_train[:args.batch], data.y_train[:args.batch]
    src = np.tile(np.arange(64), (len(y), 1))
    event = EventLIF(max_spikes=8)
    rows = []
    for n in (int(s) for s in args.steps.split(",")):
        dt = 40e-3 / n
        chunk = max(1, int(round(np.sqrt(n))))
        while n % chunk:
            chunk -= 1
        lif = LIFNet(dt=dt, n_steps=n, checkpoint_every=chunk)
        # EventProp on the same (grid-rounded) input times the surrogate sees
        tq = np.where(np.isfinite(t), np.round(t / dt) * dt, np.inf)
        s_in = jnp.asarray(_to_k(tq, lif))
        wj = [jnp.asarray(a) for a in w]
        vg = jax.jit(jax.value_and_grad(lambda w, s: lif_first_spike_loss(w, s, jnp.asarray(y), lif)))
        c0 = time.perf_counter()
        compiled = vg.lower(wj, s_in).compile()
        compile_s = time.perf_counter() - c0
        mem = compiled.memory_analysis()
        temp = getattr(mem, "temp_size_in_bytes", float("nan")) if mem is not None else float("nan")
        jax.block_until_ready(compiled(wj, s_in))
        times = []
        for _ in range(args.repeats):
            c0 = time.perf_counter()
            ls, gs = jax.block_until_ready(compiled(wj, s_in))
            times.append(time.perf_counter() - c0)
        ev_times = []
        for _ in range(args.repeats):
            c0 = time.perf_counter()
            le, ge, outs = network_grad(w, tq, src, y, event)
            ev_times.append(time.perf_counter() - c0)
        tracemalloc.start()                 # a separate run: tracing slows allocation
        network_grad(w, tq, src, y, event)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        cos = [float((a * np.asarray(b)).sum() / (np.linalg.norm(a) * np.linalg.norm(b)))
               for a, b in zip(ge, gs)]
        row = {"steps": n, "dt_ms": dt * 1e3, "surrogate_s": statistics.median(times),
               "surrogate_compile_s": compile_s, "surrogate_temp_bytes": temp,
               "eventprop_s": statistics.median(ev_times), "eventprop_peak_bytes": peak,
               "spikes": int(sum(np.isfinite(o.times).sum() for o in outs)),
               "loss_surrogate": float(ls), "loss_eventprop": float(le), "grad_cosine": cos}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return {"rows": rows}


if __name__ == "__main__":
    main()
