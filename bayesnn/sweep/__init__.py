"""Parameter sweeps: grids of parameter values x trials as one compiled, vectorised
program (:mod:`bayesnn.sweep.grid`); each family builds its sweep on it (e.g.
:func:`bayesnn.neuron.sweep`)."""
from bayesnn.sweep.grid import Grid, build_params, grid_coords, make_grid, reshape_points, run_grid

__all__ = ["Grid", "build_params", "grid_coords", "make_grid", "reshape_points", "run_grid"]
