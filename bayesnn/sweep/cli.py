"""``bayesnn sweep CONFIG.toml [--scheduler ADDRESS] [--workers N] [--worker-processes] [--out DIR]``.

:func:`add_sweep_parser` adds the subcommand to ``bayesnn``'s argument parser;
:func:`run_sweep_command` runs it (exit status 0, or 2 for a bad config or store).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

EPILOG = """\
config format (TOML; example: examples/sweep_g0.toml):

  scenario = "bayesian_neuron"  # see --list-scenarios
  duration = 1.0                # s, each trial (scenario setting)
  dt = 0.001                    # s, posterior samples averaged over
  seed = 0                      # seed k of every point uses fold_in(PRNGKey(seed), k)
  n_seeds = 20                  # seeds per point (dim `seed`)
  batch_size = 8                # points per task = one compiled, vectorised batch

  [fixed]                       # parameters held fixed (others: defaults)
  r_on = 2.0

  [grid]                        # rectangular grid ...
  g0 = [0.5, 1.0, 2.0, 4.0]
  n_inputs = [10, 20, 40]

  # [random]                    # ... or a random design instead of [grid]
  # n_points = 64
  # seed = 1
  # g0 = { low = 0.25, high = 4.0, scale = "log" }
  # n_inputs = { low = 5, high = 40 }

bayesian_neuron parameters: g0 (nats), n_inputs, q_on, q_off (Hz), rate_spread,
r_on, r_off (Hz). Outputs per point and seed: kl, log_loss, log_loss_exact (nats),
rate (Hz), n_input_spikes, n_output_spikes.

Results go to --out (default sweep-<config name>): tasks/*.nc (one per finished task),
sweep.json (index: config, hash, version), sweep.nc (combined). Rerunning the same
config with the same --out skips finished tasks; a folder of another config is refused.

The embedded LocalCluster's workers are threads of this process (they start at once and
share every compiled program); --worker-processes makes them processes (slower to
start; a worker that crashes cannot take the sweep down, and it suits tasks that hold
the GIL).

On an existing Dask cluster (workers with bayesnn installed):
  dask scheduler --port 8786 &   dask worker tcp://HOST:8786 --nthreads 1 --nworkers 4 &
  bayesnn sweep examples/sweep_g0.toml --scheduler tcp://HOST:8786
"""


def add_sweep_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``sweep`` subcommand to ``subparsers`` (from ``add_subparsers``)."""
    parser = subparsers.add_parser(
        "sweep", help="parameter sweep (grid or random design x seeds) on Dask, resumable",
        description="Run a scenario over a grid or random design of its parameters x seeds. "
                    "Points are grouped into tasks (one compiled, vectorised batch each) run on "
                    "Dask distributed: an embedded LocalCluster by default, or an existing "
                    "cluster with --scheduler.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path, nargs="?", help="TOML sweep config (format below)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="existing Dask scheduler, e.g. tcp://10.0.0.5:8786; 'in-process' runs "
                             "the tasks here one by one; default: an embedded LocalCluster")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="embedded LocalCluster workers (default: available cores)")
    parser.add_argument("--worker-processes", action="store_true",
                        help="embedded LocalCluster workers as processes (isolated from a crashing "
                             "worker; for tasks that hold the GIL) instead of threads of this "
                             "process (default: they start at once and share compiled programs)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="results store (default: sweep-<config name>); rerun to resume")
    parser.add_argument("--plot", action="store_true",
                        help="also write <out>/<first output>.png (lines or heat map)")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate the config and print the plan; run nothing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--list-scenarios", action="store_true", help="list sweepable scenarios")
    return parser


def _setup_jax() -> str | None:
    import jax

    jax.config.update("jax_enable_x64", True)
    # The same persistent compilation cache as `bayesnn validate` (on by default; off with
    # BAYESNN_JAX_CACHE=off); embedded worker processes share it, so a worker loads a
    # program another process compiled instead of compiling it
    # (bayesnn.core.compilation_cache). Worker threads share this process's programs.
    from bayesnn.core.compilation_cache import enable_compilation_cache
    folder = enable_compilation_cache()
    return None if folder is None else str(folder)


def _summary(dataset, config, out: Path) -> str:
    lines = [f"wrote {out / 'sweep.nc'}: {dict(dataset.sizes)}, config hash {config.hash[:12]}"]
    for name in list(dataset.data_vars)[:4]:
        mean = dataset[name].mean("seed")
        lines.append(f"  {name} ({dataset[name].attrs.get('units', '')}), mean over seeds: "
                     f"min {float(mean.min()):.4g}, max {float(mean.max()):.4g}")
    return "\n".join(lines)


def _plot(dataset, config, out: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    from bayesnn.sweep.plotting import plot_sweep

    variable = next(iter(dataset.data_vars))
    swept = config.swept
    if config.design == "grid" and len(swept) >= 2:
        extra = {name: dataset[name].values[0] for name in swept[2:]}
        figure = plot_sweep(dataset.sel(extra), variable, x=swept[0], hue=swept[1],
                            kind="heatmap" if len(dataset[swept[1]]) > 4 else "lines")
    else:
        figure = plot_sweep(dataset, variable, x=swept[0])
    path = out / f"{variable}.png"
    figure.savefig(path, dpi=120)
    return path


def run_sweep_command(args: argparse.Namespace) -> int:
    """Run ``bayesnn sweep`` with parsed ``args``; returns the exit status (2 and a
    one-line message on stderr for a bad config, store, scheduler, workers or
    worker processes)."""
    from bayesnn.sweep.scenarios import SCENARIOS

    if args.list_scenarios:
        for name, scenario in SCENARIOS.items():
            print(f"{name}: {scenario.description}\n  parameters: {', '.join(scenario.parameters)}")
        return 0
    if args.config is None:
        print("bayesnn sweep: error: config: a TOML file is required (see bayesnn sweep --help)",
              file=sys.stderr)
        return 2
    cache = _setup_jax()
    from bayesnn.sweep.config import load_config
    from bayesnn.sweep.distributed import run_sweep
    from bayesnn.sweep.tasks import make_plan

    out = args.out if args.out is not None else Path(f"sweep-{args.config.stem}")
    try:
        config = load_config(args.config)
        if args.dry_run:
            plan = make_plan(config)
            print(f"{config.scenario}: {plan.n_points} points x {config.n_seeds} seeds in "
                  f"{len(plan.tasks)} tasks of <= {config.batch_size} points; hash {config.hash[:12]}")
            return 0
        dataset = run_sweep(config, out=out, scheduler=args.scheduler, workers=args.workers,
                            progress=not args.no_progress, compilation_cache=cache,
                            worker_processes=args.worker_processes)
    except ValueError as error:
        print(f"bayesnn sweep: error: {error}", file=sys.stderr)
        return 2
    print(_summary(dataset, config, out))
    if args.plot:
        print(f"figure: {_plot(dataset, config, out)}")
    return 0


__all__ = ["EPILOG", "add_sweep_parser", "run_sweep_command"]
