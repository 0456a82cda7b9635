"""Simulation core shared by every model family.

- :mod:`bayesnn.core.params`: parameter records as JAX pytrees, validated when built.
- :mod:`bayesnn.core.spikes`: the one spike-event container (:class:`Spikes`), its
  extraction helper and the one overflow policy (:func:`run_growing`).
- :mod:`bayesnn.core.binning`: the one binning rule (grid times to their own bin, the
  end point to the last bin).
- :mod:`bayesnn.core.keys`: the seed convention (int seed or JAX key; one key per trial).
- :mod:`bayesnn.core.stepping`: the one time loop (``lax.scan``) with decimated
  recording and chunking, and trial batching.
- :mod:`bayesnn.core.grid`: the in-process grid primitive (parameter grid x trials in
  one compiled, vectorised program; the Dask study over grids is :mod:`bayesnn.sweep`).
- :mod:`bayesnn.core.precision`: float64 policy (exact claims refuse float32).
- :mod:`bayesnn.core.validation`: argument checks raising ``ValueError`` naming the
  parameter and the constraint, before any simulation work.
"""
from typing import TYPE_CHECKING

from bayesnn.core.lazy_exports import lazy_names

if TYPE_CHECKING:  # the names, for readers and type checkers; bound on first use below
    from bayesnn.core.binning import (GRID_TOLERANCE, bin_counts, bin_index, bin_spikes,
                                      spikes_from_counts)
    from bayesnn.core.grid import (Grid, build_params, grid_coords, make_grid, reshape_points,
                                   run_grid)
    from bayesnn.core.keys import KeyLike, as_key, trial_keys
    from bayesnn.core.params import as_leaf, is_traced, params_record, stack_params, unstack_params
    from bayesnn.core.precision import (
        TIME_RESOLUTION,
        PrecisionError,
        PrecisionWarning,
        enable_x64,
        require_distinct_in_float32,
        require_time_resolution,
        require_x64,
        warn_if_float32,
        x64_enabled,
    )
    from bayesnn.core.spikes import (
        Spikes,
        append_spikes,
        bucket_capacity,
        empty_spikes,
        make_spikes,
        next_power_of_two,
        run_growing,
        spike_arrays,
        spike_times_of,
        stack_spikes,
    )
    from bayesnn.core.stepping import (
        run_trials,
        scan_chunked,
        scan_steps,
        scan_steps_chunked,
        split_trial_keys,
    )

# Bound on first use (PEP 562): a module of the core that needs no JAX (the
# compilation cache's folder, read by ``bayesnn`` before it decides to re-execute
# itself) must be importable without starting JAX (1-3 s).
_EXPORTS = {
    "binning": ("GRID_TOLERANCE", "bin_counts", "bin_index", "bin_spikes", "spikes_from_counts"),
    "grid": ("Grid", "build_params", "grid_coords", "make_grid", "reshape_points", "run_grid"),
    "keys": ("KeyLike", "as_key", "trial_keys"),
    "params": ("as_leaf", "is_traced", "params_record", "stack_params", "unstack_params"),
    "precision": ("TIME_RESOLUTION", "PrecisionError", "PrecisionWarning", "enable_x64",
                  "require_distinct_in_float32", "require_time_resolution", "require_x64",
                  "warn_if_float32", "x64_enabled"),
    "spikes": ("Spikes", "append_spikes", "bucket_capacity", "empty_spikes", "make_spikes",
               "next_power_of_two", "run_growing", "spike_arrays", "spike_times_of",
               "stack_spikes"),
    "stepping": ("run_trials", "scan_chunked", "scan_steps", "scan_steps_chunked",
                 "split_trial_keys"),
}
_WHERE = {name: f"bayesnn.core.{module}" for module, names in _EXPORTS.items() for name in names}


__getattr__, __dir__ = lazy_names(__name__, _WHERE, globals())


__all__ = [
    "GRID_TOLERANCE", "bin_counts", "bin_index", "bin_spikes", "spikes_from_counts",
    "Grid", "build_params", "grid_coords", "make_grid", "reshape_points", "run_grid",
    "KeyLike", "as_key", "trial_keys",
    "as_leaf", "is_traced", "params_record", "stack_params", "unstack_params",
    "TIME_RESOLUTION", "PrecisionError", "PrecisionWarning", "enable_x64",
    "require_distinct_in_float32", "require_time_resolution", "require_x64", "warn_if_float32",
    "x64_enabled",
    "Spikes", "append_spikes", "bucket_capacity", "empty_spikes", "make_spikes", "next_power_of_two",
    "run_growing", "spike_arrays", "spike_times_of", "stack_spikes",
    "run_trials", "scan_chunked", "scan_steps", "scan_steps_chunked", "split_trial_keys",
]
