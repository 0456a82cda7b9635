"""Command line: ``bayesnn validate`` (the main job) and ``bayesnn scenarios``.

``bayesnn validate`` runs scenarios (default: ``neuron``; ``--scenario all`` runs every
installed one), prints a table of checks (name, measured value, tolerance, PASS/FAIL),
writes ``results.json``, traces as NetCDF and PNG figures to ``--out`` (each file
atomically), and exits with status 1 if any check failed, 2 for bad arguments or
settings. JAX runs in float64 here (validation is never done in float32).
"""
from __future__ import annotations

import argparse
import os
import sys
import tomllib
from pathlib import Path
from typing import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bayesnn", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="run spike-based inference next to exact Bayes")
    validate.add_argument("--scenario", action="append", default=None,
                          help="scenario to run (repeatable): see `bayesnn scenarios`, or all; "
                               "default neuron")
    validate.add_argument("--seed", type=int, default=None, help="seed for rates and trials")
    validate.add_argument("--duration", type=float, default=None,
                          help="trial length in seconds, for scenarios that take one")
    validate.add_argument("--config", type=Path, default=None,
                          help="TOML file with one table per scenario, e.g. [neuron] n_inputs = 50")
    validate.add_argument("--out", type=Path, default=Path("bayesnn-out"),
                          help="folder for results.json, traces (NetCDF) and figures (PNG)")
    validate.add_argument("--json", action="store_true",
                          help="print the results as JSON on stdout instead of the table")
    validate.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    validate.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    validate.add_argument("--no-jax-cache", action="store_true",
                          help="do not use JAX's persistent compilation cache (same as "
                               "BAYESNN_JAX_CACHE=off; see `bayesnn cache-dir`)")
    commands.add_parser("scenarios", help="list the validation scenarios")
    commands.add_parser("cache-dir", help="print the persistent compilation cache's folder "
                                          "(delete it to clear the cache)")
    from bayesnn.sweep.cli import add_sweep_parser
    add_sweep_parser(commands)
    return parser


def _load_config(path: Path | None) -> dict:
    if path is None:
        return {}
    if not path.is_file():
        raise ValueError(f"--config file {path} does not exist")
    with path.open("rb") as handle:
        return tomllib.load(handle)


def _fixed_hash_seed_for_cache(argv: Sequence[str] | None) -> None:
    """With the persistent compilation cache on, run validate under a fixed
    ``PYTHONHASHSEED`` (re-executing the same command line once, before JAX starts).

    funsor, which eliminates the NumPyro models' hidden states, orders some operations
    by iterating sets of variable names, so the enumerated model's XLA program (and with
    it its cache key) changes with Python's per-process string-hash seed: the NumPyro
    stage missed the cache on every run. Only for the ``bayesnn`` command itself
    (``argv`` None), only when the cache is on (the default,
    :func:`bayesnn.core.compilation_cache.cache_dir`) and the caller has not chosen a
    seed; string hashing has no effect on any result of validate.
    """
    from bayesnn.core.compilation_cache import cache_dir

    if (argv is not None or cache_dir() is None
            or "PYTHONHASHSEED" in os.environ or not hasattr(os, "execve")):
        return
    command = list(getattr(sys, "orig_argv", []))
    if not command or not sys.argv or sys.argv[0] in ("", "-c"):
        return  # not a re-runnable command line (python -c, interactive)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *command[1:]],
              dict(os.environ, PYTHONHASHSEED="0"))


def _setup_jax() -> None:
    from bayesnn.core.precision import enable_x64
    import jax
    enable_x64()  # validation is an exactness claim: never float32
    # The persistent compilation cache (on by default, in the user's cache folder; off
    # with BAYESNN_JAX_CACHE=off or --no-jax-cache): a warm validate reads its programs
    # instead of compiling them (bayesnn.core.compilation_cache). (Segfaults once blamed
    # on the cache were the test process passing Linux's limit on memory mappings after
    # thousands of compilations: see tests/conftest.py.)
    from bayesnn.core.compilation_cache import enable_compilation_cache
    del jax
    enable_compilation_cache()


def _list_scenarios() -> int:
    from bayesnn.validate import REGISTRY
    width = max(len(name) for name in REGISTRY)
    for name, entry in REGISTRY.items():
        print(f"{name:{width}s}  {entry.description} ({entry.where})")
    return 0


def _write_outputs(results, out: Path) -> tuple[dict, Path]:
    """results.json, <scenario>_traces.nc and <scenario>_<figure>.png under ``out``,
    every file written atomically (bayesnn.io); returns the JSON payload and the path
    of results.json."""
    from bayesnn import io

    payload = {"passed": all(result.passed for result in results), "scenarios": {}}
    for result in results:
        files = []
        if result.figures:  # matplotlib only when there are figures (not --no-figures)
            from bayesnn.plotting import save_figure

            files = [str(save_figure(figure, out / f"{result.scenario}_{name}.png"))
                     for name, figure in result.figures.items()]
        if result.traces is not None:
            files.append(str(io.write_netcdf(out / f"{result.scenario}_traces.nc", result.traces)))
        payload["scenarios"][result.scenario] = {
            "passed": result.passed,
            "checks": [check.as_dict() for check in result.checks],
            "numbers": result.numbers,
            "files": files,
        }
    return payload, io.write_json(out / "results.json", payload)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bayesnn`` command; returns the exit status (0 all checks
    passed, 1 a check failed, 2 bad arguments or settings)."""
    args = _parser().parse_args(argv)
    if args.command == "scenarios":
        return _list_scenarios()
    if args.command == "cache-dir":
        from bayesnn.core.compilation_cache import cache_dir
        folder = cache_dir()
        print(folder if folder is not None else "off (BAYESNN_JAX_CACHE)")
        return 0
    if getattr(args, "no_jax_cache", False):
        os.environ["BAYESNN_JAX_CACHE"] = "off"  # also for the re-executed command
    if args.command == "sweep":  # sets up JAX itself (float64, compilation cache)
        from bayesnn.sweep.cli import run_sweep_command
        return run_sweep_command(args)
    _fixed_hash_seed_for_cache(argv)
    _setup_jax()
    import json

    from bayesnn import io, validate
    from bayesnn.report import format_table

    try:
        config = _load_config(args.config)
        timer = validate.StageTimer(lambda line: print(line, file=sys.stderr, flush=True))
        results = validate.run(args.scenario or [validate.DEFAULT_SCENARIO], config,
                               seed=args.seed, duration=args.duration,
                               progress=(lambda message: None) if args.quiet else timer,
                               figures=not args.no_figures)
        if not args.quiet:
            timer.finish()
    except (ValueError, tomllib.TOMLDecodeError) as error:
        print(f"bayesnn validate: error: {error}", file=sys.stderr)
        return 2

    payload, results_path = _write_outputs(results, args.out)
    if args.json:
        print(json.dumps(io.jsonable(payload), indent=2))
    else:
        for result in results:
            print(f"\nscenario: {result.scenario}")
            print(format_table(result.checks))
        print(f"\n{'PASSED' if payload['passed'] else 'FAILED'}: "
              f"{sum(c.passed for r in results for c in r.checks)} of "
              f"{sum(len(r.checks) for r in results)} checks; results in {results_path}")
    return 0 if payload["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main"]
