"""Log-odds population vs the exact filter it approximates, side by side.

Workload (issue 5): K = 4 binary hidden variables, 20 inputs each, N = 200 neurons,
10 s at dt = 0.1 ms. Timed in one process, compile apart from run (median of
``--repeats``): the exact continuous-time filter on the grid for the K variables
(``mmpp_filter``, the reference), and the tracking and implementing populations
(``bayesnn.posteriors.log_odds.simulate`` with the grid reference precomputed, i.e. the
network run itself). Peak memory: VmHWM of this process after each row (cumulative).

    python benchmarks/bench_posteriors_log_odds.py [--neurons 200] [--duration 10]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # repo root

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/
from memory import peak_rss_mib  # noqa: E402
from bayesnn.core import make_spikes  # noqa: E402
from bayesnn.exact.mmpp import mmpp_filter  # noqa: E402
from bayesnn.posteriors.log_odds import simulate  # noqa: E402
from bayesnn.posteriors.log_odds_data import (  # noqa: E402
    reference_log_odds,
    sample_population,
    split_inputs,
)
from bayesnn.posteriors.log_odds_params import default_population  # noqa: E402


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


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=200)
    parser.add_argument("--variables", type=int, default=4)
    parser.add_argument("--duration", type=float, default=10.0, help="simulated seconds")
    parser.add_argument("--dt", type=float, default=1e-4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    params = default_population(n_variables=args.variables, n_neurons=args.neurons)
    trial = sample_population(params, key=0, duration=args.duration)
    reference = reference_log_odds(params, trial.inputs, duration=args.duration, dt=args.dt)
    grid = reference.times[1:]
    per_variable = [make_spikes(t, c, n_senders=params.n_inputs, duration=args.duration)
                    for t, c in split_inputs(params, trial.inputs)]

    def exact_filter():
        for variable, spikes in enumerate(per_variable):
            result = mmpp_filter(params.variable(variable), spikes, duration=args.duration,
                                 query_times=grid)
            jax.block_until_ready(result.log_odds)

    def population(mode):
        result = simulate(params, trial.inputs, duration=args.duration, dt=args.dt, mode=mode,
                          reference=reference)
        jax.block_until_ready(result.log_odds)

    rows = {"exact filter (K variables)": _timed(exact_filter, args.repeats) + (peak_rss_mib(),)}
    for mode in ("tracking", "implementing"):
        timing = _timed(lambda: population(mode), args.repeats)
        rows[f"{mode} population"] = timing + (peak_rss_mib(),)
    print(f"K = {args.variables}, N = {args.neurons}, {args.duration:g} s at dt = {args.dt:g} s "
          f"({int(round(args.duration / args.dt))} steps); float64; jax {jax.__version__}")
    print(f"{'row':<28}{'compile s':>10}{'run s':>9}{'peak RSS MiB':>14}")
    for name, (compile_s, run_s, peak) in rows.items():
        print(f"{name:<28}{compile_s:>10.2f}{run_s:>9.3f}{peak:>14.0f}")
    exact_run = rows["exact filter (K variables)"][1]
    for mode in ("tracking", "implementing"):
        ratio = rows[f"{mode} population"][1] / exact_run
        print(f"GOAL {mode} population <= 10x the exact filter: {ratio:.1f}x -> "
              f"{'PASS' if ratio <= 10 else 'FAIL'}")
    return {name: {"compile_s": c, "run_s": r, "peak_rss_mib": p} for name, (c, r, p) in rows.items()}


if __name__ == "__main__":
    main()
