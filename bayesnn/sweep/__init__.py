"""Parameter sweeps: grids of parameter values x trials as one compiled, vectorised
program (:mod:`bayesnn.sweep.grid`); each family builds its sweep on it (e.g.
:func:`bayesnn.neuron.sweep`).

Studies over many points and seeds (:func:`run_sweep`, ``bayesnn sweep CONFIG.toml``):
a TOML config (:mod:`bayesnn.sweep.config`) names a scenario
(:mod:`bayesnn.sweep.scenarios`) and a grid or random design; points are grouped into
tasks, each one compiled batch, run on Dask distributed
(:mod:`bayesnn.sweep.distributed`), stored one atomic NetCDF file per task and resumable
(:mod:`bayesnn.sweep.store`), plotted with :func:`plot_sweep`. See docs/sweeps.md.
"""
from bayesnn.sweep.grid import Grid, build_params, grid_coords, make_grid, reshape_points, run_grid
from bayesnn.sweep.config import SweepConfig, load_config
from bayesnn.sweep.scenarios import SCENARIOS, Scenario, get_scenario
from bayesnn.sweep.tasks import SweepPlan, Task, TaskResult, combine, make_plan
from bayesnn.sweep.store import SweepStore, load_sweep
from bayesnn.sweep.distributed import IN_PROCESS, local_cluster, run_serial, run_sweep
from bayesnn.sweep.plotting import plot_sweep

__all__ = ["Grid", "build_params", "grid_coords", "make_grid", "reshape_points", "run_grid",
           "IN_PROCESS", "SCENARIOS", "Scenario", "SweepConfig", "SweepPlan", "SweepStore",
           "Task", "TaskResult", "combine", "get_scenario", "load_config", "load_sweep",
           "local_cluster", "make_plan", "plot_sweep", "run_serial", "run_sweep"]
