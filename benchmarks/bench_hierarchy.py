"""Exact joint filter on 2^(K+1) states vs the spiking hierarchy, on the same spikes.

Workload (issue 14): the scenario's tree (bayesnn.hierarchy.validation.default_tree:
N = 20 inputs per child, q ~ U(5, 30) Hz, r_on = r_off = 1 Hz, follow = 10 Hz, stray =
0.5 Hz) for K = 2..6 children, one trial of ``--duration`` s sampled once per K (key 0),
posteriors recorded every 1 ms. Modes, each in its own subprocess by default (so peak
memory and JIT caches are per mode):

* ``exact``: :func:`bayesnn.exact.hierarchy.tree_filter` (uniformization on the dense
  2^(K+1)-state propagator; P(y), P(x_j) and the log-likelihood);
* ``spiking``: :func:`bayesnn.hierarchy.simulate` (K layer-1 neurons, two readers
  "y" and "not y", the log-odds-fed reader), g0 = 2 on layer 1 and 1 on the readers;
  the readers' rates are fixed nominal values (30 Hz / 5 Hz): the cost does not depend
  on them beyond the spike count.

Per (K, mode): compile time (first call minus the steady-state median), steady-state run
time (median of ``--repeats``), peak RSS (VmHWM of the mode's process, XLA compilation
included) and, unless ``--in-process``, the warm peak RSS: the same worker rerun in a
fresh process that loads its compiled programs from a persistent JAX compilation cache
filled by the first run, so the peak is the runtime's, not the compiler's. For the exact
filter the dense propagator's size 8 S^2 bytes is listed too. Reported: the
exact filter's growth per extra child (run-time ratios and the log2 slope against K;
the dense propagator predicts x4 per child once its O(S^2) matrix-vector products
dominate) and the goal: the spiking hierarchy costs less than the exact filter from
K = 4 upwards (time and memory). The script reports; nothing is asserted.

    python benchmarks/bench_hierarchy.py                        # K = 2..6, 10 s
    python benchmarks/bench_hierarchy.py --children 2 3 --duration 1 --in-process
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # repo root
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from memory import peak_rss_mib  # noqa: E402

MODES = ("exact", "spiking")


def _timed(fn, repeats: int) -> tuple[float, float]:
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    median = statistics.median(runs)
    return max(first - median, 0.0), median


def run_mode(mode: str, n_children: int, n_inputs: int, duration: float,
             repeats: int) -> dict:
    """Time one mode for one K in this process."""
    from bayesnn.exact.hierarchy import tree_filter
    from bayesnn.hierarchy import (SpikingHierarchy, layer1_params, reader_params,
                                   sample_tree, simulate)
    from bayesnn.hierarchy.validation import default_tree

    tree = default_tree(n_children, n_inputs, seed=0)
    trial = sample_tree(tree, key=0, duration=duration)
    grid = 1e-3 * np.arange(1, int(round(duration / 1e-3)) + 1)
    if mode == "exact":
        def fn():
            jax.block_until_ready(tree_filter(tree, trial.inputs, duration=duration,
                                              sample_times=grid).prob)
    elif mode == "spiking":
        readers = reader_params(tree, np.tile([5.0, 30.0], (n_children, 1)), 1.0,
                                ("y", "not_y"))
        network = SpikingHierarchy(tree, layer1_params(tree, 2.0), readers)

        def fn():
            jax.block_until_ready(simulate(network, trial.inputs, duration=duration).fed_log_odds)
    else:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    compile_s, run_s = _timed(fn, repeats)
    return {"mode": mode, "n_children": n_children, "states": 2 ** (n_children + 1),
            "input_spikes": int(trial.inputs.n_events), "compile_s": compile_s,
            "run_s": run_s, "peak_rss_mib": peak_rss_mib(),
            "propagator_mib": 8 * 4 ** (n_children + 1) / 2 ** 20 if mode == "exact" else 0.0}


def _in_subprocess(mode, n_children, n_inputs, duration, repeats, cache: str) -> dict:
    command = [sys.executable, os.path.abspath(__file__), "--worker", mode,
               "--children", str(n_children), "--inputs", str(n_inputs),
               "--duration", str(duration), "--repeats", str(repeats)]
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=cache,
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    rows = []
    for _ in range(2):  # cold (compiles, fills the cache), then warm (loads from it)
        out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    rows[0]["warm_peak_rss_mib"] = rows[1]["peak_rss_mib"]
    return rows[0]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, nargs="+", default=[2, 3, 4, 5, 6])
    parser.add_argument("--inputs", type=int, default=20)
    parser.add_argument("--duration", type=float, default=10.0, help="simulated seconds")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--in-process", action="store_true",
                        help="run every mode in this process (peak memory is cumulative)")
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    if args.worker:
        row = run_mode(args.worker, args.children[0], args.inputs, args.duration, args.repeats)
        print(json.dumps(row))
        return row

    rows = []
    print(f"{'K':>2} {'states':>6} {'mode':>8} {'spikes':>7} {'compile_s':>9} {'run_s':>9} "
          f"{'peak_MiB':>9} {'warm_MiB':>9} {'P_MiB':>8}")
    with tempfile.TemporaryDirectory(prefix="bench_hierarchy_cache_") as cache:
        for k in args.children:
            for mode in MODES:
                row = (run_mode(mode, k, args.inputs, args.duration, args.repeats)
                       if args.in_process else
                       _in_subprocess(mode, k, args.inputs, args.duration, args.repeats, cache))
                rows.append(row)
                print(f"{k:>2} {row['states']:>6} {mode:>8} {row['input_spikes']:>7} "
                      f"{row['compile_s']:>9.3f} {row['run_s']:>9.4f} "
                      f"{row['peak_rss_mib']:>9.1f} {row.get('warm_peak_rss_mib', float('nan')):>9.1f} "
                      f"{row['propagator_mib']:>8.3f}", flush=True)
    exact = {row["n_children"]: row for row in rows if row["mode"] == "exact"}
    spiking = {row["n_children"]: row for row in rows if row["mode"] == "spiking"}
    sizes = sorted(exact)
    growth = {f"{a}->{b}": exact[b]["run_s"] / exact[a]["run_s"] for a, b in zip(sizes, sizes[1:])}
    slope = (float(np.polyfit(sizes, np.log2([exact[k]["run_s"] for k in sizes]), 1)[0])
             if len(sizes) > 1 else float("nan"))
    print("exact filter run-time growth per extra child:",
          ", ".join(f"{key}: x{value:.2f}" for key, value in growth.items()),
          f"(log2 slope {slope:.2f}; dense O(S^2) predicts 2.0)")
    ratios = {k: exact[k]["run_s"] / spiking[k]["run_s"] for k in sizes}
    print("exact / spiking run time:", ", ".join(f"K={k}: {v:.2f}" for k, v in ratios.items()))
    big = [k for k in sizes if k >= 4]
    goal_time = bool(big) and all(spiking[k]["run_s"] < exact[k]["run_s"] for k in big)
    memory_key = "peak_rss_mib" if args.in_process else "warm_peak_rss_mib"
    goal_memory = bool(big) and all(spiking[k][memory_key] <= exact[k][memory_key]
                                    for k in big)
    label = lambda ok: "PASS" if ok else ("FAIL" if big else "n/a (no K >= 4)")  # noqa: E731
    print(f"GOAL time: spiking faster than exact for K >= 4: {label(goal_time)}")
    print(f"GOAL memory: spiking {memory_key} <= exact for K >= 4: {label(goal_memory)}"
          + (" (in-process: cumulative, not meaningful)" if args.in_process else ""))
    results = {"rows": rows, "exact_growth": growth, "exact_log2_slope": slope,
               "exact_over_spiking": ratios, "goal_time": goal_time, "goal_memory": goal_memory,
               "settings": {"inputs": args.inputs, "duration": args.duration,
                            "repeats": args.repeats, "in_process": args.in_process}}
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)
    return results


if __name__ == "__main__":
    main()
