"""Sweep plans and tasks: the design's points grouped into tasks, each task run as one
compiled, vectorised batch (:func:`bayesnn.sweep.scenarios.run_points`, built on the
sweep primitive :func:`bayesnn.core.grid.run_grid`), and the tasks' Datasets combined.

A plan depends on the config only: points keep their design order; points sharing the
values of the scenario's ``static`` parameters (e.g. N) form a group; each group is cut
into tasks of ``batch_size`` points (the last one padded when run, so every task of a
group has one shape and compiles once per process); each group's static options
(buffer sizes) come from all of its points. So a task computes the same numbers
whichever process runs it, in whatever order: a distributed sweep equals the serial run
of the same plan bit for bit.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, NamedTuple

import numpy as np
import xarray as xr

from bayesnn.sweep.config import SweepConfig
from bayesnn.sweep.scenarios import get_scenario, records_of, run_points


class Task(NamedTuple):
    """One unit of work: ``task_id``, the design indices ``point_ids`` it covers and its
    static ``group``."""

    task_id: int
    point_ids: tuple[int, ...]
    group: int


@dataclass(frozen=True)
class SweepPlan:
    """A config's points, tasks and per-group static options (:func:`make_plan`)."""

    config: SweepConfig
    points: tuple[dict, ...]
    tasks: tuple[Task, ...]
    statics: tuple[Any, ...]

    @property
    def n_points(self) -> int:
        return len(self.points)

    def payload(self, task: Task) -> dict[str, Any]:
        """Everything a worker needs to run ``task`` (plain, picklable)."""
        config = self.config
        return {"scenario": config.scenario, "settings": dict(config.settings),
                "points": [self.points[i] for i in task.point_ids],
                "point_ids": list(task.point_ids), "task_id": task.task_id,
                "statics": self.statics[task.group], "seed": config.seed,
                "n_seeds": config.n_seeds, "pad_to": config.batch_size,
                "swept": list(config.swept), "config_hash": config.hash}


def make_plan(config: SweepConfig) -> SweepPlan:
    """Group the design's points into tasks and validate every point.

    Raises:
        ValueError: ``"<design>: grid point {...}: <field> ..."`` for a point whose
            parameter record is invalid (before any task runs).
    """
    scenario = get_scenario(config.scenario)
    points = tuple(config.points())
    groups: dict[tuple, list[int]] = {}
    for index, point in enumerate(points):
        groups.setdefault(tuple(point[name] for name in scenario.static), []).append(index)
    tasks, statics = [], []
    for group, ids in enumerate(groups.values()):
        try:
            records = records_of(scenario, [points[i] for i in ids])
            statics.append(scenario.prepare(records, config.settings))
        except ValueError as error:
            raise ValueError(f"{config.design}: {error}") from error
        for start in range(0, len(ids), config.batch_size):
            tasks.append(Task(len(tasks), tuple(ids[start:start + config.batch_size]), group))
    return SweepPlan(config, points, tuple(tasks), tuple(statics))


class TaskResult(NamedTuple):
    """A finished task: its Dataset (dims point, seed), the wall seconds spent inside
    the worker (``compute_s``, compilation included), the CPU seconds of the worker
    process meanwhile (``cpu_s``; with thread workers the whole process's, other tasks'
    included), which process ran it (``worker``, host:pid) and in which thread
    (``thread``, ``threading.get_ident()``), the XLA programs its thread compiled or
    read from the persistent cache (``programs``) and how many of those were read from
    the cache (``cache_hits``)."""

    task_id: int
    dataset: xr.Dataset
    compute_s: float
    worker: str
    cpu_s: float = float("nan")
    programs: int = -1
    cache_hits: int = -1
    thread: int = -1


def prepare_process(compilation_cache: str | None = None) -> None:
    """Per-process setup before JAX work: float64 (sweeps compare against exact Bayes)
    and JAX's persistent compilation cache (``compilation_cache``, else
    :func:`bayesnn.core.compilation_cache.cache_dir`), so a worker loads a program
    another process compiled."""
    from bayesnn.core.compilation_cache import enable_compilation_cache
    from bayesnn.core.precision import enable_x64, x64_enabled

    if not x64_enabled():  # set once: thread workers share this process's JAX
        enable_x64()
    enable_compilation_cache(compilation_cache)


def run_task(payload: Mapping[str, Any]) -> TaskResult:
    """Run one task (a worker's entry point; also used by the serial runner)."""
    from bayesnn.core.compile_meter import CompileMeter

    start, cpu, since = time.perf_counter(), time.process_time(), time.time()
    prepare_process(payload.get("compilation_cache"))
    meter = CompileMeter.get()
    scenario = get_scenario(payload["scenario"])
    out = run_points(scenario, payload["points"], payload["settings"], payload["statics"],
                     payload["seed"], payload["n_seeds"], pad_to=payload["pad_to"])
    dataset = task_dataset(scenario, payload, out)
    thread = threading.get_ident()
    compiled = meter.since(since, thread=thread)  # this task's (other workers may be threads)
    return TaskResult(payload["task_id"], dataset, time.perf_counter() - start,
                      f"{socket.gethostname()}:{os.getpid()}", time.process_time() - cpu,
                      compiled["programs"], compiled["hits"], thread)


def task_dataset(scenario, payload: Mapping[str, Any], out: Mapping[str, np.ndarray]) -> xr.Dataset:
    """One task's results on dims (point, seed); swept parameters as coordinates on
    ``point``."""
    coords: dict[str, Any] = {"point": np.asarray(payload["point_ids"], dtype=np.int64),
                              "seed": np.arange(payload["n_seeds"], dtype=np.int64)}
    for name in payload["swept"]:
        coords[name] = ("point", _column(scenario, name, [p[name] for p in payload["points"]]))
    dataset = xr.Dataset({name: (("point", "seed"), np.asarray(out[name])) for name in scenario.outputs},
                         coords=coords,
                         attrs={"task_id": int(payload["task_id"]), "config_hash": payload["config_hash"]})
    return dataset


def _column(scenario, name: str, values) -> np.ndarray:
    return np.asarray(values, dtype=np.int64 if scenario.parameters[name].integer else np.float64)


def combine(plan: SweepPlan, datasets: Iterable[xr.Dataset]) -> xr.Dataset:
    """Combine task Datasets into one: a grid on dims (*swept names, seed), a random
    design on (point, seed) with the swept parameters as coordinates on ``point``.

    Raises:
        ValueError: if a point is missing or present more than once.
    """
    config, scenario = plan.config, get_scenario(plan.config.scenario)
    parts = sorted(datasets, key=lambda ds: int(ds["point"].values[0]))
    if not parts:
        raise ValueError("no finished tasks to combine")
    ids = np.concatenate([ds["point"].values for ds in parts])
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    if ids.size != plan.n_points or np.any(ids != np.arange(plan.n_points)):
        missing = sorted(set(range(plan.n_points)) - set(ids.tolist()))
        repeated = sorted({int(i) for i in ids[1:][ids[1:] == ids[:-1]]})
        raise ValueError(f"results: points missing {missing[:10]} or repeated {repeated[:10]}")
    seeds = np.arange(config.n_seeds, dtype=np.int64)
    variables = {}
    for name, (units, description) in scenario.outputs.items():
        data = np.concatenate([ds[name].values for ds in parts])[order]
        if config.design == "grid":
            variable = xr.Variable(config.swept + ("seed",), data.reshape(config.shape + (config.n_seeds,)))
        else:
            variable = xr.Variable(("point", "seed"), data)
        variable.attrs.update(units=units, description=description)
        variables[name] = variable
    if config.design == "grid":
        coords = {name: _column(scenario, name, values) for name, values in config.axes.items()}
    else:
        coords = {"point": np.arange(plan.n_points, dtype=np.int64)}
        coords.update({name: ("point", _column(scenario, name, [p[name] for p in plan.points]))
                       for name in config.swept})
    dataset = xr.Dataset(variables, coords={**coords, "seed": seeds})
    for name in config.swept:
        spec = scenario.parameters[name]
        dataset[name].attrs.update(units=spec.units, description=spec.description)
    dataset["seed"].attrs["description"] = (f"seed index k: trial key fold_in(PRNGKey({config.seed}), k), "
                                            "the same at every point (common random numbers)")
    dataset.attrs.update(sweep_attrs(plan))
    return dataset


def sweep_attrs(plan: SweepPlan) -> dict[str, Any]:
    """Attributes recorded with every combined result: scenario, design, config hash,
    package version, the config as JSON, fixed parameters and settings."""
    from bayesnn import __version__

    config = plan.config
    attrs: dict[str, Any] = {"scenario": config.scenario, "design": config.design,
                             "config_hash": config.hash, "bayesnn_version": __version__,
                             "config": json.dumps(config.to_dict(), sort_keys=True),
                             "base_seed": config.seed, "n_tasks": len(plan.tasks)}
    attrs.update({f"fixed_{name}": value for name, value in config.fixed.items()})
    attrs.update({f"setting_{name}": value for name, value in config.settings.items()})
    return attrs


__all__ = ["SweepPlan", "Task", "TaskResult", "combine", "make_plan", "prepare_process",
           "run_task", "sweep_attrs", "task_dataset"]
