"""On-disk store of a sweep: one atomic NetCDF write per finished task, an index written
before any task, resumable.

Layout of a store folder::

    sweep.json          index: format, config (canonical), config hash, bayesnn version,
                        batch size, every point and which task covers it (written once,
                        atomically, before any task runs)
    tasks/task-00012.nc one file per finished task (dims point, seed), written atomically
                        (temporary file + rename) by the one process that talks to the
                        scheduler, so workers need no shared file system
    sweep.nc            the combined Dataset, written when every task is present

A task is finished iff its file exists and holds that task (a rename is atomic, so our
own writes are never partial, but a disk or a copy can still damage a file). On resume
every task file is opened and checked (readable NetCDF, this config's hash, this task's
points): a damaged (unreadable) file is set aside as ``task-00012.nc.damaged`` with a
warning naming it, and its task runs again; a readable file that holds another config's
or another task's results is refused with a ``ValueError`` naming the file (a mixed
store, not damage). Files that are not task files are ignored. Rerunning the same config
on the same folder skips finished tasks. A folder holding
another config's results (other hash, package version, batch size or points) is refused
with a ``ValueError`` naming the field, before any task is submitted.
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from bayesnn import io
from bayesnn.sweep.tasks import SweepPlan, TaskResult, combine

FORMAT = "bayesnn-sweep/1"
MANIFEST = "sweep.json"
RESULT = "sweep.nc"
_TASK_FILE = re.compile(r"^task-(\d+)\.nc$")


class _Damaged(ValueError):
    """A task file that cannot be read (empty, truncated, damaged); names the file."""


def _plain(value):
    return json.loads(json.dumps(io.jsonable(value)))


class SweepStore:
    """A sweep's results folder for one plan (open with :meth:`open`)."""

    def __init__(self, path: Path, plan: SweepPlan):
        self.path = Path(path)
        self.plan = plan

    @property
    def tasks_dir(self) -> Path:
        return self.path / "tasks"

    def task_path(self, task_id: int) -> Path:
        return self.tasks_dir / f"task-{task_id:05d}.nc"

    @classmethod
    def open(cls, path, plan: SweepPlan) -> "SweepStore":
        """Open (or create) the store at ``path`` for ``plan``.

        Raises:
            ValueError: ``out: ...`` if ``path`` is a file, a non-empty folder that is
                not a sweep store, or a store of another config (hash, version, points),
                ``batch_size: ...`` if it was planned with another batch size.
        """
        path = Path(path)
        store = cls(path, plan)
        manifest = store.manifest()
        if path.exists() and not path.is_dir():
            raise ValueError(f"out: {path} is a file, not a sweep store folder")
        index = path / MANIFEST
        if index.is_file():
            store._check(json.loads(index.read_text()))
        elif path.is_dir() and any(path.iterdir()):
            raise ValueError(f"out: {path} is not empty and holds no sweep store ({MANIFEST}); "
                             "choose a new folder")
        else:
            io.write_json(index, manifest)
        store.tasks_dir.mkdir(parents=True, exist_ok=True)
        return store

    def manifest(self) -> dict:
        from bayesnn import __version__

        config = self.plan.config
        return _plain({
            "format": FORMAT, "config_hash": config.hash, "bayesnn_version": __version__,
            "scenario": config.scenario, "batch_size": config.batch_size,
            "n_points": self.plan.n_points, "config": config.to_dict(),
            "points": list(self.plan.points),
            "tasks": [{"task_id": t.task_id, "points": list(t.point_ids)} for t in self.plan.tasks],
        })

    def _check(self, stored: dict) -> None:
        mine = self.manifest()
        where = f"out: {self.path}"
        if stored.get("format") != FORMAT:
            raise ValueError(f"{where} holds {stored.get('format')!r}, not a {FORMAT} store")
        if stored.get("config_hash") != mine["config_hash"]:
            raise ValueError(
                f"{where} holds results of a different config (hash {stored.get('config_hash', '?')[:12]}, "
                f"scenario {stored.get('scenario')!r}; this config has hash {mine['config_hash'][:12]}); "
                "use another --out folder or delete that one")
        if stored.get("bayesnn_version") != mine["bayesnn_version"]:
            raise ValueError(f"{where} was written by bayesnn {stored.get('bayesnn_version')}, this is "
                             f"{mine['bayesnn_version']}; results would mix versions: use another --out")
        if stored.get("batch_size") != mine["batch_size"]:
            raise ValueError(f"batch_size: the store at {self.path} was planned with batch_size = "
                             f"{stored.get('batch_size')}; rerun with that or use another --out")
        if stored.get("points") != mine["points"] or stored.get("tasks") != mine["tasks"]:
            raise ValueError(f"{where} lists other points or tasks than this config's plan; "
                             "use another --out")

    def finished(self) -> set[int]:
        """Ids of the tasks whose file is present and holds that task (module
        docstring): damaged files are set aside (``.damaged``, with a warning naming
        the file) so that their task reruns.

        Raises:
            ValueError: naming the file, if a task file is not a task of this plan or
                holds another config's or task's results.
        """
        done = set()
        if not self.tasks_dir.is_dir():
            return done
        for entry in sorted(self.tasks_dir.iterdir()):
            match = _TASK_FILE.match(entry.name)
            if not match:
                continue
            task_id = int(match.group(1))
            if task_id >= len(self.plan.tasks):
                raise ValueError(f"out: {entry} is not a task of this plan")
            try:
                self.load_task(task_id)
            except _Damaged as error:
                aside = entry.with_name(entry.name + ".damaged")
                entry.replace(aside)
                warnings.warn(f"out: {entry} is damaged ({error.__cause__}); moved to "
                              f"{aside.name}, task {task_id} runs again", stacklevel=2)
                continue
            done.add(task_id)
        return done

    def write(self, result: TaskResult) -> Path:
        """Write one finished task atomically (its compute time and worker in attrs)."""
        dataset = result.dataset.copy()
        dataset.attrs.update(compute_s=float(result.compute_s), cpu_s=float(result.cpu_s),
                             worker=str(result.worker))
        return io.write_netcdf(self.task_path(result.task_id), dataset)

    def load_task(self, task_id: int) -> xr.Dataset:
        """One task's Dataset, checked against the plan (hash and points)."""
        path = self.task_path(task_id)
        try:
            dataset = io.load_dataset(path)
        except ValueError as error:  # unreadable: names the file
            raise _Damaged(f"out: {error}") from error
        task = self.plan.tasks[task_id]
        if (dataset.attrs.get("config_hash") != self.plan.config.hash
                or "point" not in dataset.variables
                or not np.array_equal(dataset["point"].values, task.point_ids)):
            raise ValueError(f"out: {path} does not hold task {task_id} of this config "
                             f"(config hash {str(dataset.attrs.get('config_hash'))[:12]}); "
                             "it was put there from another sweep: remove it or use another "
                             "--out")
        dataset.attrs = {key: dataset.attrs[key] for key in ("task_id", "config_hash")}
        return dataset

    def combine(self) -> xr.Dataset:
        """Every task combined (:func:`bayesnn.sweep.tasks.combine`)."""
        return combine(self.plan, [self.load_task(t.task_id) for t in self.plan.tasks])

    def write_result(self, dataset: xr.Dataset) -> Path:
        """Write the combined Dataset to ``sweep.nc`` (atomically)."""
        return io.write_netcdf(self.path / RESULT, dataset)


def load_sweep(path) -> xr.Dataset:
    """Load a finished sweep's combined Dataset (``<store>/sweep.nc``)."""
    path = Path(path)
    return io.load_dataset(path / RESULT if path.is_dir() else path)


__all__ = ["FORMAT", "MANIFEST", "RESULT", "SweepStore", "load_sweep"]
