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
from bayesnn.sweep.config import SweepConfig, load_config
from bayesnn.sweep.scenarios import SCENARIOS, Scenario, get_scenario
from bayesnn.sweep.tasks import SweepPlan, Task, TaskResult, combine, make_plan
from bayesnn.sweep.store import SweepStore, load_sweep
from bayesnn.sweep.distributed import IN_PROCESS, local_cluster, run_serial, run_sweep
from bayesnn.sweep.plotting import plot_sweep

__all__ = ["IN_PROCESS", "SCENARIOS", "Scenario", "SweepConfig", "SweepPlan", "SweepStore",
           "Task", "TaskResult", "combine", "get_scenario", "load_config", "load_sweep",
           "local_cluster", "make_plan", "plot_sweep", "run_serial", "run_sweep"]
