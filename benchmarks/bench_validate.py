"""Benchmark ``bayesnn validate``: per stage wall, CPU and compile seconds, without and
with JAX's persistent compilation cache.

Run: ``python benchmarks/bench_validate.py [--repeats K] [--no-figures] [--json FILE] [--tree DIR]``

Each repeat runs ``python -m bayesnn.cli validate --out TMP`` (the default scenario,
figures on unless ``--no-figures``) as subprocesses of the working tree:

* ``cold``: ``BAYESNN_JAX_CACHE`` set to a fresh empty folder (everything compiled, the
  cache written);
* ``warm``: the same command again with that folder (every program the cache holds is
  read instead of compiled).

The CLI prints one line per stage and, after it (:class:`bayesnn.validate.StageTimer`),
the stage's XLA programs, wall and CPU seconds, compile seconds (tracing, lowering and XLA, merged
spans from ``jax.monitoring``) and persistent-cache hits and misses; those lines are
parsed here. ``--hash-seeds A,B`` runs cold with ``PYTHONHASHSEED=A`` and warm with
``B`` (an explicit seed switches the CLI's fixed seed off: this shows what a varying
hash seed costs the cache). ``--tree DIR`` runs another checkout's bayesnn (its
``PYTHONPATH`` and working folder), for a before/after comparison; the process CPU
seconds from launch to result are the number to compare on a loaded machine. Reported per stage: programs, wall, CPU, compile and run
(wall - compile) seconds, cache hits/misses; then totals, and the process's wall and
CPU seconds from launch to result. Medians over the repeats, with the load average,
because the machine is shared.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGE = re.compile(r"^\[\s*(\d+)\]\s+[\d.]+ s  (.*)$")
DETAIL = re.compile(r"^\s+\^ ([\d.]+) s wall, ([\d.]+) s CPU, compile ([\d.]+) s \((\d+) XLA "
                    r"programs; persistent cache (\d+) hits, (\d+) misses\)$")
FIELDS = ("wall_s", "cpu_s", "compile_s", "programs", "hits", "misses")


def load_average() -> str:
    try:
        return "load average %.2f, %.2f, %.2f (%d CPUs)" % (*os.getloadavg(), os.cpu_count())
    except OSError:
        return "load average unavailable"


def parse_stages(stderr: str) -> list[dict]:
    """Stage records from the CLI's progress lines."""
    stages, message = [], None
    for line in stderr.splitlines():
        if (match := STAGE.match(line)):
            message = match.group(2)
        elif (match := DETAIL.match(line)) and message is not None:
            values = [float(v) for v in match.groups()]
            stages.append({"stage": message, **dict(zip(FIELDS, values))})
            message = None
    return stages


def run_validate(cache: str, out: str, figures: bool, hash_seed: str | None,
                 tree: str = ROOT) -> dict:
    # PYTHONPATH: that tree's bayesnn, never an installed copy
    env = dict(os.environ, BAYESNN_JAX_CACHE=cache, PYTHONPATH=tree)
    env.pop("PYTHONHASHSEED", None)
    if hash_seed is not None:
        env["PYTHONHASHSEED"] = hash_seed
    command = [sys.executable, "-m", "bayesnn.cli", "validate", "--out", out]
    if not figures:
        command.append("--no-figures")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"total_wall_s": wall, "total_cpu_s": cpu, "returncode": done.returncode,
            "stages": parse_stages(done.stderr), "load": load_average()}


def _median_stages(runs: list[dict]) -> list[dict]:
    rows = []
    for index, stage in enumerate(runs[0]["stages"]):
        row = {"stage": stage["stage"]}
        for field in FIELDS:
            row[field] = statistics.median(run["stages"][index][field] for run in runs
                                           if index < len(run["stages"]))
        rows.append(row)
    return rows


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument("--hash-seeds", default=None,
                        help="A,B: PYTHONHASHSEED of the cold and the warm run")
    parser.add_argument("--json", default=None)
    parser.add_argument("--tree", default=ROOT,
                        help="the checkout whose bayesnn runs (default: this one)")
    args = parser.parse_args(argv)
    tree = os.path.abspath(args.tree)
    seeds = args.hash_seeds.split(",") if args.hash_seeds else [None, None]
    print(f"tree {tree}; before: {load_average()}", flush=True)
    runs: dict[str, list[dict]] = {"cold": [], "warm": []}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
            for mode, seed in zip(("cold", "warm"), seeds):
                result = run_validate(cache, out, not args.no_figures, seed, tree)
                runs[mode].append(result)
                print(f"{mode}: {result['total_wall_s']:.1f} s wall, "
                      f"{result['total_cpu_s']:.1f} s CPU, exit code {result['returncode']}, "
                      f"{result['load']}", flush=True)
    summary = {}
    for mode, results in runs.items():
        summary[mode] = {
            "total_wall_s": statistics.median(r["total_wall_s"] for r in results),
            "total_cpu_s": statistics.median(r["total_cpu_s"] for r in results),
            "stages": _median_stages(results), "runs": results}
    print(f"\nmedians over {args.repeats} repeat(s); hash seeds "
          f"{args.hash_seeds or 'fixed by the CLI'}; after: {load_average()}")
    header = f"{'stage':44s} " + "  ".join(
        f"{m + ' progs wall/CPU/compile/run s, hit/miss':>46s}" for m in runs)
    print(header)
    print("-" * len(header))
    for index, stage in enumerate(summary["cold"]["stages"]):
        cells = []
        for mode in runs:
            rows = summary[mode]["stages"]
            if index >= len(rows):
                cells.append(f"{'-':>46s}")
                continue
            row = rows[index]
            cells.append(f"{row['programs']:5.0f} {row['wall_s']:7.1f} {row['cpu_s']:6.1f} "
                         f"{row['compile_s']:7.1f} {row['wall_s'] - row['compile_s']:6.1f} "
                         f"{row['hits']:4.0f}/{row['misses']:<4.0f}".rjust(46))
        print(f"{stage['stage'][:44]:44s} " + "  ".join(cells))
    for mode in runs:
        stages = summary[mode]["stages"]
        total = {field: sum(stage[field] for stage in stages) for field in FIELDS}
        summary[mode]["stage_totals"] = total
        print(f"{mode}: {total['programs']:.0f} programs, stages {total['wall_s']:.1f} s wall "
              f"({total['compile_s']:.1f} s compile, {total['wall_s'] - total['compile_s']:.1f} s "
              f"run), {total['cpu_s']:.1f} s CPU; process launch to result "
              f"{summary[mode]['total_wall_s']:.1f} s wall, {summary[mode]['total_cpu_s']:.1f} s "
              f"CPU; cache {total['hits']:.0f} hits / {total['misses']:.0f} misses")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(summary, handle, indent=2)
    return summary


if __name__ == "__main__":
    main()
