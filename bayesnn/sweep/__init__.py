"""Parameter sweeps: studies over many points and seeds (:func:`run_sweep`, ``bayesnn sweep CONFIG.toml``):
a TOML config (:mod:`bayesnn.sweep.config`) names a scenario
(:mod:`bayesnn.sweep.scenarios`) and a grid or random design; points are grouped into
tasks, each one compiled batch, run on Dask distributed
(:mod:`bayesnn.sweep.distributed`), stored one atomic NetCDF file per task and resumable
(:mod:`bayesnn.sweep.store`), plotted with :func:`plot_sweep`. See docs/sweeps.md.

Each task runs the in-process grid primitive (:mod:`bayesnn.core.grid`: a grid of
parameter values x trials as one compiled, vectorised program; e.g.
:func:`bayesnn.neuron.simulate_grid`). "Sweep" names only the study; "grid" the
primitive.
"""
from typing import TYPE_CHECKING

from bayesnn.core.lazy_exports import lazy_names

if TYPE_CHECKING:  # the names, for readers and type checkers; bound on first use below
    from bayesnn.sweep.config import SweepConfig, load_config
    from bayesnn.sweep.scenarios import SCENARIOS, Scenario, get_scenario
    from bayesnn.sweep.tasks import SweepPlan, Task, TaskResult, combine, make_plan
    from bayesnn.sweep.store import SweepStore, load_sweep
    from bayesnn.sweep.distributed import IN_PROCESS, local_cluster, run_serial, run_sweep
    from bayesnn.sweep.plotting import plot_sweep

# Imported on first use (PEP 562): ``bayesnn`` builds its command line parser from
# bayesnn.sweep.cli, and importing Dask, xarray and matplotlib there would slow every
# command (``bayesnn validate`` included) by seconds.
_WHERE = {
    "SweepConfig": "config", "load_config": "config",
    "SCENARIOS": "scenarios", "Scenario": "scenarios", "get_scenario": "scenarios",
    "SweepPlan": "tasks", "Task": "tasks", "TaskResult": "tasks", "combine": "tasks",
    "make_plan": "tasks",
    "SweepStore": "store", "load_sweep": "store",
    "IN_PROCESS": "distributed", "local_cluster": "distributed", "run_serial": "distributed",
    "run_sweep": "distributed",
    "plot_sweep": "plotting",
}


__getattr__, __dir__ = lazy_names(
    __name__, {name: f"{__name__}.{module}" for name, module in _WHERE.items()}, globals())


__all__ = ["IN_PROCESS", "SCENARIOS", "Scenario", "SweepConfig", "SweepPlan", "SweepStore",
           "Task", "TaskResult", "combine", "get_scenario", "load_config", "load_sweep",
           "local_cluster", "make_plan", "plot_sweep", "run_serial", "run_sweep"]
