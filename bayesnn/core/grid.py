"""The grid primitive: a grid of parameter values x trials in one compiled program
(in process; the Dask study over many such grids is :mod:`bayesnn.sweep`).

A family supplies a pure, fixed-shape ``trial_fn(params, key) -> record`` (a pytree of
arrays) and a function ``make_params(**point) -> record`` that builds a validated
parameter record at one grid point. :func:`run_grid` builds every record (validation
happens here, on concrete values, before any simulation), stacks them, and runs
``vmap(points) o vmap(trials)`` in one ``jit`` over chunks of ``batch_size`` points (the
last chunk padded by repeating a point, so every chunk has the same shape and the
program compiles once). Memory is bounded by one chunk's results plus the kept records.

Trials use common random numbers: trial k uses ``fold_in(key, k)`` at every grid point,
so differences between points are not blurred by different input draws, and a point's
trial k equals the same point run alone with that key, bit for bit.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import numpy as np

from bayesnn.core.keys import KeyLike, trial_keys
from bayesnn.core.params import stack_params


class Grid(NamedTuple):
    """A rectangular grid: ``names`` (axis names), ``values`` (one 1-D array per axis),
    ``points`` (P dicts name -> value, C order: the last axis varies fastest)."""

    names: tuple[str, ...]
    values: tuple[np.ndarray, ...]
    points: tuple[dict[str, float], ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.values)


def make_grid(grid: Mapping[str, Sequence[float]]) -> Grid:
    """Validate ``{name: values}`` (non-empty 1-D finite sequences, unique names)."""
    if not isinstance(grid, Mapping) or len(grid) == 0:
        raise ValueError("grid must be a non-empty mapping {parameter name: values}")
    names, values = [], []
    for name, axis in grid.items():
        array = np.asarray(axis, dtype=float)
        if array.ndim != 1 or array.size == 0:
            raise ValueError(f"grid[{name!r}] must be a non-empty 1-D sequence, got shape {array.shape}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"grid[{name!r}] must be finite")
        names.append(str(name))
        values.append(array)
    points = tuple(dict(zip(names, combo)) for combo in itertools.product(*values))
    return Grid(tuple(names), tuple(values), points)


def build_params(make_params: Callable[..., Any], grid: Grid) -> Any:
    """Validated records at every grid point, stacked (leading axis P). A bad point
    raises the record's ``ValueError`` with the point named."""
    records = []
    for point in grid.points:
        try:
            records.append(make_params(**point))
        except ValueError as error:
            raise ValueError(f"grid point {point}: {error}") from error
    return stack_params(records)


def run_grid(compiled: Callable[[Any, jax.Array], Any], params_batch: Any, key: KeyLike,
             n_trials: int, batch_size: int | None = None) -> Any:
    """Run ``compiled(params_chunk, keys)`` (a jitted ``vmap`` over points of a ``vmap``
    over trials) over the stacked records in chunks of ``batch_size`` points and
    concatenate the results (leading axes (P, n_trials))."""
    keys = trial_keys(key, n_trials)
    n_points = jax.tree_util.tree_leaves(params_batch)[0].shape[0]
    size = n_points if batch_size is None else int(batch_size)
    if size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    size = min(size, n_points)
    parts = []
    for start in range(0, n_points, size):
        index = np.minimum(np.arange(start, start + size), n_points - 1)  # pad by repeating
        chunk = jax.tree_util.tree_map(lambda leaf: leaf[index], params_batch)
        result = compiled(chunk, keys)
        keep = min(size, n_points - start)
        parts.append(jax.tree_util.tree_map(lambda leaf: np.asarray(leaf[:keep]), result))
    return jax.tree_util.tree_map(lambda *leaves: np.concatenate(leaves), *parts)


def grid_coords(grid: Grid) -> dict[str, np.ndarray]:
    return {name: values for name, values in zip(grid.names, grid.values)}


def reshape_points(array: np.ndarray, grid: Grid) -> np.ndarray:
    """(P, ...) -> (*grid.shape, ...)."""
    return np.reshape(array, grid.shape + array.shape[1:])


__all__ = ["Grid", "make_grid", "build_params", "run_grid", "grid_coords", "reshape_points"]
