"""Benchmark the NumPyro references.

Run: ``python benchmarks/bench_numpyro.py [--repeats K] [--warm] [--parallel] [--validate] [--json FILE]``

Measures, on T = 2000 bins of N = 10 inputs (dt = 10 ms, r_on = r_off = 2 Hz, q_on and
q_off drawn from U(5, 30) Hz, seed 0):

* the enumerated log-likelihood (NumPyro/funsor): first call (trace + XLA compile) and
  mean time per call afterwards;
* the gradient of the hand-written forward scan that NUTS differentiates: first call
  and per call;
* NUTS, 500 warm-up + 500 draws, **one chain** (``run_nuts(..., num_chains=1)``), the
  first call in a fresh process (what a user waits for): wall and CPU seconds, and the
  part of the wall time spent compiling (tracing, lowering, XLA; measured with
  ``bayesnn.validate.CompileMeter``); with ``--repeats K`` the median over K fresh
  subprocesses;
* with ``--warm``: the same one-chain run in fresh subprocesses sharing one new
  persistent compilation cache folder: the first fills it (cold), the next ``--repeats``
  read it (warm), and one more samples another data set of the same shape (warm: the
  sampler's data are arguments of its one program, so its cache entry serves it);
* NUTS, 500 warm-up + 500 draws, 2 chains, run_nuts defaults: wall time (compile
  included), divergences, R-hat, bulk ESS. ``--parallel`` calls
  ``numpyro.set_host_device_count(2)`` *before JAX starts* so the two chains run in
  parallel (``chain_method="parallel"``); without it they run sequentially;
* with ``--validate``: the whole default ``bayesnn validate --no-figures`` run, twice, as
  subprocesses sharing a fresh JAX compilation cache directory (``BAYESNN_JAX_CACHE``):
  cold cache, then warm cache.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # repo root

def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parallel", action="store_true",
                        help="run the 2 NUTS chains in parallel (2 host devices)")
    parser.add_argument("--validate", action="store_true",
                        help="also time `bayesnn validate --no-figures` cold and warm")
    parser.add_argument("--bins", type=int, default=2000)
    parser.add_argument("--inputs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=1,
                        help="one-chain NUTS: median over this many fresh subprocesses")
    parser.add_argument("--warm", action="store_true",
                        help="one-chain NUTS in fresh processes sharing a persistent cache")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the data set")
    parser.add_argument("--one-chain-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cache", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=str, default=None, help="write the numbers here")
    return parser.parse_args(argv)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (``uptime``), to print next to timings."""
    try:
        return "load average %.2f, %.2f, %.2f (%d CPUs)" % (*os.getloadavg(), os.cpu_count())
    except OSError:
        return "load average unavailable"


def _one_chain(nuts, counts, dt, args) -> dict:
    """One NUTS chain, timed: wall, CPU, compile (first call in this process)."""
    from bayesnn.core.compile_meter import CompileMeter

    meter = CompileMeter.get()
    import arviz  # noqa: F401  (imported by run_nuts; not part of the sampler's time)

    wall0, start, cpu = time.time(), time.perf_counter(), time.process_time()
    import numpy as np

    from bayesnn.core import spikes_from_counts
    result = nuts.run_nuts(spikes_from_counts(np.asarray(counts).reshape(-1, counts.shape[-1]), dt),
                           duration=counts.shape[-2] * dt, dt=dt, num_warmup=args.warmup,
                           num_samples=args.samples, num_chains=1, chain_method="sequential")
    wall = time.perf_counter() - start
    compiled = meter.since(wall0)
    return {"nuts1_wall_s": wall, "nuts1_cpu_s": time.process_time() - cpu,
            "nuts1_compile_s": compiled["compile_s"], "nuts1_programs": compiled["programs"],
            "nuts1_hits": compiled["hits"],
            "nuts1_run_s": wall - compiled["compile_s"],
            "nuts1_divergences": result.num_divergences,
            "nuts1_min_ess_bulk": result.min_ess_bulk}


def _one_chain_process(args, cache=None, data_seed=0) -> dict:
    """One-chain NUTS in a fresh subprocess (persistent cache folder ``cache`` or none);
    adds the process's wall and CPU seconds from launch to result."""
    import resource

    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "one.json")
        command = [sys.executable, os.path.abspath(__file__), "--one-chain-only",
                   "--bins", str(args.bins), "--inputs", str(args.inputs), "--warmup",
                   str(args.warmup), "--samples", str(args.samples), "--json", out,
                   "--data-seed", str(data_seed)] + (["--cache", cache] if cache else [])
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open(out) as handle:
            run = json.load(handle)
    run["nuts1_process_wall_s"] = wall
    run["nuts1_process_cpu_s"] = ((after.ru_utime - before.ru_utime)
                                  + (after.ru_stime - before.ru_stime))
    return run


def _one_chain_medians(args) -> dict:
    """Medians of one-chain NUTS over ``args.repeats`` fresh subprocesses."""
    import statistics

    runs = [_one_chain_process(args) for _ in range(args.repeats)]
    keys = [key for key in runs[0] if key.startswith("nuts1_")]
    return {key: statistics.median(run[key] for run in runs) for key in keys}


def _one_chain_warm(args) -> dict:
    """Fresh processes sharing one new cache folder: cold (fills it), ``args.repeats``
    warm, and warm on another data set of the same shape."""
    import statistics

    out = {}
    with tempfile.TemporaryDirectory() as cache:
        rows = [("cold (fills the cache)", _one_chain_process(args, cache))]
        warm = [_one_chain_process(args, cache) for _ in range(args.repeats)]
        rows.append((f"warm (median of {args.repeats})",
                     {key: statistics.median(run[key] for run in warm) for key in warm[0]}))
        rows.append(("warm, another data set", _one_chain_process(args, cache, data_seed=1)))
    for label, run in rows:
        print(f"NUTS 1 chain, fresh process, {label}: {run['nuts1_process_wall_s']:.1f} s wall, "
              f"{run['nuts1_process_cpu_s']:.1f} s CPU launch to result (run_nuts "
              f"{run['nuts1_wall_s']:.1f} s wall, {run['nuts1_cpu_s']:.1f} s CPU, compile "
              f"{run['nuts1_compile_s']:.1f} s, {run['nuts1_programs']:.0f} programs, "
              f"{run['nuts1_hits']:.0f} cache hits); {load_average()}")
        out[label] = run
    return out


def _time_validate() -> dict:
    """Cold then warm `bayesnn validate --no-figures` with a fresh compilation cache."""
    out = {}
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out_dir:
        env = dict(os.environ, BAYESNN_JAX_CACHE=cache)
        command = [sys.executable, "-m", "bayesnn.cli", "validate", "--out", out_dir,
                   "--no-figures", "--quiet"]
        for label in ("cold_cache", "warm_cache"):
            start = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            out[f"validate_{label}_s"] = time.perf_counter() - start
            out[f"validate_{label}_rc"] = done.returncode
            print(f"bayesnn validate --no-figures ({label.replace('_', ' ')}): "
                  f"{out[f'validate_{label}_s']:.1f} s, exit code {done.returncode}")
    return out


def main(argv=None) -> dict:
    args = _parse(argv)
    import numpyro

    if args.parallel:
        numpyro.set_host_device_count(2)  # must precede JAX's first use
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    if args.cache:
        from bayesnn.core.compilation_cache import enable_compilation_cache

        enable_compilation_cache(args.cache)
    from bayesnn.numpyro_models import mmpp_binned, mmpp_forward, nuts
    from bayesnn.processes import MMPPParams

    results: dict = {"bins": args.bins, "inputs": args.inputs, "devices": jax.device_count()}
    if not args.one_chain_only:
        print(load_average())
    rng = np.random.default_rng(args.data_seed)
    n_inputs, n_bins, dt = args.inputs, args.bins, 1e-2
    q_on, q_off = rng.uniform(5, 30, n_inputs), rng.uniform(5, 30, n_inputs)
    a = 2.0 / 4.0 * -np.expm1(-4.0 * dt)  # r_on = r_off = 2 Hz
    x, states = rng.random() < 0.5, []
    for _ in range(n_bins):
        x = rng.random() < ((1 - a) if x else a)
        states.append(x)
    counts = rng.poisson(np.where(np.array(states)[:, None], q_on, q_off) * dt).astype(float)
    params = MMPPParams(2.0, 2.0, q_on, q_off)

    # first, so that it is the first sampler this process compiles (as for a user)
    if args.one_chain_only:
        results.update(_one_chain(nuts, counts, dt, args))
        with open(args.json, "w") as handle:
            json.dump(results, handle)
        return results
    if args.warm:
        results["warm"] = _one_chain_warm(args)
        if args.json:
            with open(args.json, "w") as handle:
                json.dump(results, handle, indent=2)
        return results
    if args.repeats > 1:
        results.update(_one_chain_medians(args))
        label = f"median of {args.repeats} fresh processes"
    else:
        results.update(_one_chain(nuts, counts, dt, args))
        label = "first call in this process"
    print(f"NUTS {args.warmup}+{args.samples} x 1 chain ({label}): "
          f"{results['nuts1_wall_s']:.1f} s wall = {results['nuts1_compile_s']:.1f} s compile "
          f"({results['nuts1_programs']:.0f} XLA programs) + {results['nuts1_run_s']:.1f} s "
          f"run; {results['nuts1_cpu_s']:.1f} s CPU; divergences "
          f"{results['nuts1_divergences']:.0f}; {load_average()}")

    start = time.perf_counter()
    jax.block_until_ready(mmpp_binned.enumerated_log_likelihood(params, counts, dt=dt))
    results["enum_loglik_first_call_s"] = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(20):
        value = mmpp_binned.enumerated_log_likelihood(params, counts, dt=dt)
    jax.block_until_ready(value)
    results["enum_loglik_per_call_ms"] = (time.perf_counter() - start) / 20 * 1e3
    print(f"enumerated log-lik T={n_bins} N={n_inputs}: first call (trace+compile) "
          f"{results['enum_loglik_first_call_s']:.2f} s, per call "
          f"{results['enum_loglik_per_call_ms']:.2f} ms")

    # gradient with respect to the whole MMPPParams record (what NUTS needs)
    grad = jax.jit(jax.grad(lambda p: mmpp_forward.forward_log_likelihood(p, counts[None], dt)[0]))
    start = time.perf_counter()
    jax.block_until_ready(grad(params))
    results["forward_grad_first_call_s"] = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(50):
        value = grad(params)
    jax.block_until_ready(value)
    results["forward_grad_per_call_ms"] = (time.perf_counter() - start) / 50 * 1e3
    print(f"forward-scan gradient (what NUTS uses): first call "
          f"{results['forward_grad_first_call_s']:.2f} s, per call "
          f"{results['forward_grad_per_call_ms']:.2f} ms")

    method = "parallel" if args.parallel else "sequential"
    start = time.perf_counter()
    import numpy as np

    from bayesnn.core import spikes_from_counts
    result = nuts.run_nuts(spikes_from_counts(np.asarray(counts).reshape(-1, counts.shape[-1]), dt),
                           duration=counts.shape[-2] * dt, dt=dt, num_warmup=args.warmup,
                           num_samples=args.samples, num_chains=2, chain_method=method)
    results.update(nuts_chain_method=method, nuts_s=time.perf_counter() - start,
                   nuts_divergences=result.num_divergences, nuts_max_rhat=result.max_rhat,
                   nuts_min_ess_bulk=result.min_ess_bulk)
    print(f"NUTS {args.warmup}+{args.samples} x 2 chains ({method}, "
          f"{jax.device_count()} device(s)): {results['nuts_s']:.1f} s, divergences "
          f"{result.num_divergences}, max R-hat {result.max_rhat:.4f}, min bulk ESS "
          f"{result.min_ess_bulk:.0f}")

    if args.validate:
        results.update(_time_validate())
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return results


if __name__ == "__main__":
    main()
