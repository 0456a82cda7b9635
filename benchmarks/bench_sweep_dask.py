"""A 64-point sweep on a Dask LocalCluster (2 workers) vs one process: wall-time ratio
and scheduler overhead per task.

Workload: the ``bayesian_neuron`` scenario, g0 (8 values) x q_on (8 values) = 64 points,
N = 20 inputs, ``--seeds`` seeds per point, ``--duration`` s trials sampled every
``--dt`` s, ``--batch-size`` points per task. Timed:

* one process: :func:`bayesnn.sweep.run_serial` in this process, cold (includes the one
  compilation) and warm (again, program compiled);
* LocalCluster (``--workers`` processes, one thread each; started apart and timed
  apart): :func:`bayesnn.sweep.run_sweep` on it, cold (each worker compiles), warm
  (same cluster again, no store) and "cold, cached program" (a fresh cluster whose
  workers load the program the one-process run left in JAX's persistent compilation
  cache, as ``bayesnn sweep`` does from the second run on; its one-process row is a
  fresh process loading the same cached program);
* scheduler overhead per task = (workers x sweep wall - sum of the tasks' compute time
  inside the workers) / tasks: the time a worker slot is not computing, per task
  (scheduling, transfer of arguments and results, storing, idle tail);
* no-op round trip: 64 empty tasks on the same cluster, wall / 64;
* CPU seconds inside the tasks (process time), to tell work from waiting on a loaded
  machine.

Every run's combined Dataset is checked equal (bit for bit) to the first one. Nothing is
asserted about speed; the script reports.

    python benchmarks/bench_sweep_dask.py [--workers 2] [--seeds 8] [--duration 2]

``--cold`` measures only what a user waits for the first time, process launch to
result, each side a fresh process with its own **empty** persistent-cache folder, the
sides alternating ``--repeats`` times: ``run_serial`` (one process) against
``run_sweep(..., workers=W)`` on the embedded LocalCluster with worker threads (the
default) and with worker processes (``worker_processes=True``: cluster start, worker
imports and compilation included). Reported: wall and CPU seconds launch to result (the
CPU of the process and its workers, from ``RUSAGE_CHILDREN``), medians, the ratios to
one process, and the programs each task's thread compiled or read from the cache; the
combined Datasets are checked identical bit for bit. ``--tree DIR`` runs another
checkout's bayesnn (a before/after comparison; a tree without worker threads runs the
process side only). ``--sides`` picks sides (default all three). ``--n-inputs 10 20``
adds N as a grid axis: one static group, so one program to compile, per N (worker
threads then compile the later groups' programs at the same time).

    python benchmarks/bench_sweep_dask.py --cold [--repeats 3] [--tree DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # repo root


def config(args) -> dict:
    n_inputs = list(getattr(args, "n_inputs", None) or [20])
    fixed = {"q_off": 10.0, "r_on": 2.0, "r_off": 2.0, "rate_spread": 0.5}
    grid = {"g0": [0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8],
            "q_on": [12.0, 14.0, 16.0, 18.0, 20.0, 25.0, 30.0, 40.0]}
    if len(n_inputs) == 1:
        fixed["n_inputs"] = n_inputs[0]
    else:  # one static group (one compiled program) per N
        grid = {"n_inputs": n_inputs, **grid}
    return {"scenario": "bayesian_neuron", "duration": args.duration, "dt": args.dt, "seed": 0,
            "n_seeds": args.seeds, "batch_size": args.batch_size, "fixed": fixed, "grid": grid}


_COLD = """
import inspect, json, sys, time
sys.path.insert(0, {tree!r})
from bayesnn.sweep import run_serial, run_sweep
config, results = json.loads({config!r}), []
kind = {kind!r}
start = time.perf_counter()
if kind == "serial":
    dataset = run_serial(config, progress=False, compilation_cache={cache!r},
                         on_task=results.append)
else:  # a tree from before worker threads takes no worker_processes (its workers: processes)
    known = "worker_processes" in inspect.signature(run_sweep).parameters
    if kind == "threads" and not known:
        sys.exit("this tree has no worker threads: run it with --sides serial processes")
    extra = {{"worker_processes": kind == "processes"}} if known else {{}}
    dataset = run_sweep(config, workers={workers}, progress=False,
                        compilation_cache={cache!r}, on_task=results.append, **extra)
wall = time.perf_counter() - start
dataset.to_netcdf({out!r})
print(json.dumps({{"sweep_s": wall, "programs": [getattr(r, "programs", -1) for r in results],
                  "hits": [getattr(r, "cache_hits", -1) for r in results],
                  "task_cpu_s": [round(r.cpu_s, 2) for r in results],
                  "task_s": [round(r.compute_s, 2) for r in results],
                  "workers": len({{(r.worker, getattr(r, "thread", -1)) for r in results}})}}))
"""


SIDES = ("serial", "threads", "processes")


def cold_processes(args) -> dict:
    """Fresh processes, empty cache folders: one process against the embedded cluster's
    worker threads and worker processes, the sides alternating (their order rotated each
    repeat, so no side always follows another); wall and CPU from launch to result,
    medians over ``args.repeats``."""
    import resource
    import tempfile

    import xarray as xr

    tree = os.path.abspath(args.tree)
    labels = {"serial": "one process", "threads": f"{args.workers} threads",
              "processes": f"{args.workers} processes"}
    sides = [side for side in SIDES if side in args.sides]
    rows: dict = {labels[side]: [] for side in sides}
    reference = None
    for repeat in range(args.repeats):
        turn = repeat % len(sides)
        for side in sides[turn:] + sides[:turn]:
            label = labels[side]
            with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(tmp, "sweep.nc")
                script = _COLD.format(tree=tree, config=json.dumps(config(args)), kind=side,
                                      workers=args.workers, cache=cache, out=out)
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                done = subprocess.run([sys.executable, "-c", script], cwd=tree,
                                      capture_output=True, text=True,
                                      env={k: v for k, v in os.environ.items()
                                           if k != "BAYESNN_JAX_CACHE"})
                wall = time.perf_counter() - start
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                if done.returncode:
                    raise SystemExit(f"{label} failed:\n{done.stderr[-3000:]}")
                info = json.loads(done.stdout.strip().splitlines()[-1])
                dataset = xr.load_dataset(out)
                if reference is None:
                    reference = dataset
                else:
                    xr.testing.assert_identical(dataset, reference)
                rows[label].append({"wall_s": wall, "cpu_s": (after.ru_utime - before.ru_utime)
                                    + (after.ru_stime - before.ru_stime), **info,
                                    "load": os.getloadavg()[0]})
    report = {}
    print(f"cold, process launch to result, empty cache folder each ({args.repeats} "
          f"alternating repeat(s); tree {tree}; load average at start of each run):")
    for label, runs in rows.items():
        wall = statistics.median(r["wall_s"] for r in runs)
        cpu = statistics.median(r["cpu_s"] for r in runs)
        report[label] = {"wall_s": wall, "cpu_s": cpu, "runs": runs}
        print(f"  {label:12s} {wall:7.1f} s wall {cpu:7.1f} s CPU (runs: wall "
              f"{[round(r['wall_s'], 1) for r in runs]}, CPU {[round(r['cpu_s'], 1) for r in runs]}); "
              f"sweep part {statistics.median(r['sweep_s'] for r in runs):6.1f} s; programs per task "
              f"{runs[0]['programs']}, cache hits {runs[0]['hits']}; tasks ran in "
              f"{runs[0]['workers']} thread(s)/process(es); load {[round(r['load'], 1) for r in runs]}")
    one = report.get("one process")
    for label, row in report.items():
        if one is not None and row is not one:
            row["wall_ratio"], row["cpu_ratio"] = row["wall_s"] / one["wall_s"], row["cpu_s"] / one["cpu_s"]
            print(f"  {label} / one process: wall {row['wall_ratio']:.2f}x, CPU {row['cpu_ratio']:.2f}x "
                  f"(<= 1: no slower)")
    print("  datasets: identical bit for bit across all runs and sides")
    return report


def _timed(run):
    results = []
    start = time.perf_counter()
    dataset = run(results.append)
    return dataset, time.perf_counter() - start, results


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--duration", type=float, default=2.0, help="s per trial")
    parser.add_argument("--dt", type=float, default=1e-3, help="s between posterior samples")
    parser.add_argument("--batch-size", type=int, default=4, help="points per task")
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    parser.add_argument("--cold", action="store_true",
                        help="only the cold fresh-process comparison (see above)")
    parser.add_argument("--repeats", type=int, default=1, help="--cold: alternating repeats")
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES),
                        help="--cold: which sides to run (default all)")
    parser.add_argument("--n-inputs", type=int, nargs="+", default=[20], metavar="N",
                        help="--cold: N values; several make a grid axis, one static group "
                             "(one program to compile) per N (default: 20 only)")
    parser.add_argument("--tree", default=os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), help="--cold: checkout whose bayesnn to run")
    args = parser.parse_args(argv)
    if args.cold:
        report = cold_processes(args)
        if args.json:
            with open(args.json, "w") as handle:
                json.dump(report, handle, indent=2)
        return report

    import tempfile

    import jax
    import xarray as xr
    from distributed import Client

    cache = tempfile.mkdtemp(prefix="bench-sweep-jax-cache-")
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_compilation_cache_dir", cache)  # before anything compiles
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    from bayesnn.sweep import load_config, local_cluster, make_plan, run_serial, run_sweep

    sweep = load_config(config(args))
    n_tasks = len(make_plan(sweep).tasks)
    n_points = 64
    report: dict = {"points": n_points, "tasks": n_tasks, "seeds": args.seeds,
                    "duration_s": args.duration, "dt_s": args.dt, "batch_size": args.batch_size,
                    "workers": args.workers, "jax": jax.__version__, "cpus": os.cpu_count(),
                    "load_average_1min": os.getloadavg()[0]}
    quiet = {"progress": False}

    # every run names its cache folder: without one, run_sweep would use the user's
    # default folder (possibly filled by earlier runs: not cold)
    quiet_cached = {**quiet, "compilation_cache": cache}
    reference, serial_cold, serial_tasks = _timed(
        lambda hook: run_serial(sweep, on_task=hook, **quiet_cached))
    again, serial_warm, serial_warm_tasks = _timed(
        lambda hook: run_serial(sweep, on_task=hook, **quiet_cached))
    xr.testing.assert_identical(again, reference)
    report.update(serial_cold_s=serial_cold, serial_warm_s=serial_warm,
                  serial_warm_cpu_s=sum(r.cpu_s for r in serial_warm_tasks),
                  serial_compile_s=serial_tasks[0].compute_s - statistics.median(
                      r.compute_s for r in serial_warm_tasks))

    def on_cluster(labels, compilation_cache=None):
        # no folder given: a new empty one (cold: each worker compiles)
        folder = compilation_cache or tempfile.mkdtemp(prefix="bench-sweep-cold-cache-")
        start = time.perf_counter()
        with local_cluster(args.workers, folder, processes=True) as cluster, \
                Client(cluster, set_as_default=False) as client:
            client.wait_for_workers(args.workers)
            report.setdefault("cluster_start_s", time.perf_counter() - start)
            address = cluster.scheduler_address
            for label in labels:
                dataset, wall, tasks = _timed(
                    lambda hook: run_sweep(sweep, scheduler=address, on_task=hook,
                                           compilation_cache=folder, **quiet))
                xr.testing.assert_identical(dataset, reference)
                compute = sum(r.compute_s for r in tasks)
                report[f"dask_{label}_s"] = wall
                report[f"dask_{label}_compute_s"] = compute
                report[f"dask_{label}_cpu_s"] = sum(r.cpu_s for r in tasks)
                report[f"dask_{label}_overhead_per_task_s"] = (args.workers * wall - compute) / len(tasks)
                report[f"dask_{label}_tasks_per_worker"] = sorted(
                    [sum(r.worker == w for r in tasks) for w in {r.worker for r in tasks}])
            if "warm" in labels:
                start = time.perf_counter()
                client.gather(client.map(lambda i: i, range(n_points), pure=False))
                report["noop_round_trip_per_task_s"] = (time.perf_counter() - start) / n_points

    # One fresh process with the cached program (as the cached cluster run below).
    script = ("import json, sys, time; sys.path.insert(0, '.'); import jax; "
              "jax.config.update('jax_enable_x64', True); "
              f"jax.config.update('jax_compilation_cache_dir', {cache!r}); "
              "jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.5); "
              "from bayesnn.sweep import run_serial; start = time.perf_counter(); "
              f"run_serial(json.loads({json.dumps(json.dumps(config(args)))}), progress=False); "
              "print(time.perf_counter() - start)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    output = subprocess.run([sys.executable, "-c", script], cwd=root, check=True,
                            capture_output=True, text=True).stdout
    report["serial_cached_s"] = float(output.strip().splitlines()[-1])
    on_cluster(("cold", "warm"))
    on_cluster(("cached",), compilation_cache=cache)  # fresh workers load the program
    report["ratio_cold"] = serial_cold / report["dask_cold_s"]
    report["ratio_warm"] = serial_warm / report["dask_warm_s"]
    report["ratio_cached"] = report["serial_cached_s"] / report["dask_cached_s"]

    print(f"workload: {n_points} points x {args.seeds} seeds = {n_points * args.seeds} trials of "
          f"{args.duration} s (dt {args.dt} s), N = 20, {n_tasks} tasks of {args.batch_size} points; "
          f"jax {jax.__version__}, {os.cpu_count()} CPUs, load average {report['load_average_1min']:.1f}")
    print(f"{'':24}{'one process':>14}{f'{args.workers} workers':>14}{'ratio':>8}")
    print(f"{'cold (with compile)':24}{serial_cold:13.2f}s{report['dask_cold_s']:13.2f}s"
          f"{report['ratio_cold']:8.2f}")
    print(f"{'cold, cached program':24}{report['serial_cached_s']:13.2f}s{report['dask_cached_s']:13.2f}s"
          f"{report['ratio_cached']:8.2f}")
    print(f"{'warm (compiled)':24}{serial_warm:13.2f}s{report['dask_warm_s']:13.2f}s"
          f"{report['ratio_warm']:8.2f}")
    print(f"compile (one process): {report['serial_compile_s']:.2f} s; cluster start: "
          f"{report['cluster_start_s']:.2f} s (not in the walls above)")
    print(f"scheduler overhead per task: cold {report['dask_cold_overhead_per_task_s'] * 1e3:.1f} ms, "
          f"warm {report['dask_warm_overhead_per_task_s'] * 1e3:.1f} ms; no-op task round trip "
          f"{report['noop_round_trip_per_task_s'] * 1e3:.2f} ms; tasks per worker (warm) "
          f"{report['dask_warm_tasks_per_worker']}")
    print(f"CPU seconds in tasks (warm): one process {report['serial_warm_cpu_s']:.2f} s, workers "
          f"{report['dask_warm_cpu_s']:.2f} s; process CPU share: one process "
          f"{report['serial_warm_cpu_s'] / serial_warm:.2f}, workers "
          f"{report['dask_warm_cpu_s'] / report['dask_warm_s']:.2f} cores")
    print("combined Datasets: identical to the one-process run (bit for bit)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)
    return report


if __name__ == "__main__":
    main()
