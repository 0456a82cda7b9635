"""Run a sweep's tasks on Dask distributed: an embedded ``LocalCluster`` by default,
an existing cluster by scheduler address, or in this process.

Each task is one compiled, vectorised batch (:func:`bayesnn.sweep.tasks.run_task`).
Workers are processes with one thread each (one JAX process per worker, so XLA's
compiled programs never share a process lock); a lost worker's tasks are rerun
elsewhere by the Dask scheduler (up to ``distributed.scheduler.allowed-failures``
times). Only this process writes the store, one atomic file per finished task, so
workers need no shared file system. Progress: a tqdm bar over points on stderr.
"""
from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import xarray as xr

from bayesnn.core.compilation_cache import CACHE_ENV, cache_dir
from bayesnn.sweep.config import SweepConfig, load_config
from bayesnn.sweep.store import SweepStore
from bayesnn.sweep.tasks import SweepPlan, TaskResult, combine, make_plan, prepare_process, run_task

IN_PROCESS = "in-process"


def available_cores() -> int:
    """Cores this process may use (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def worker_env(compilation_cache: str | None = None) -> dict[str, str]:
    """Environment of embedded workers: float64, no GPU memory preallocation (workers
    may share a device), the persistent compilation cache when given (workers then load
    the program a first process compiled, rather than each compiling it)."""
    env = {"JAX_ENABLE_X64": "1", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    folder = cache_dir(compilation_cache)
    env[CACHE_ENV] = "off" if folder is None else str(folder)
    # one string-hash seed for every worker, so that programs built by funsor (which
    # orders operations by hashing names) have the same cache key in every process
    env["PYTHONHASHSEED"] = os.environ.get("PYTHONHASHSEED", "0")
    return env


def local_cluster(workers: int | None = None, compilation_cache: str | None = None,
                  silence_logs: int = logging.ERROR):
    """An embedded ``distributed.LocalCluster``: ``workers`` processes (default: the
    cores available), one thread each, on 127.0.0.1, no dashboard. Use it as a context
    manager so it is always closed::

        with local_cluster(2) as cluster:
            run_sweep(config, scheduler=cluster.scheduler_address)
    """
    from distributed import LocalCluster

    n_workers = available_cores() if workers is None else _workers(workers)
    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                        host="127.0.0.1", dashboard_address=None, silence_logs=silence_logs,
                        env=worker_env(compilation_cache))


def _workers(workers) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: must be an integer >= 1, got {workers!r}")
    return workers


@contextmanager
def _client(scheduler: str | None, workers: int | None, cache: str | None,
            meanwhile: Callable[[], None] | None = None) -> Iterator[Any]:
    """A client of ``scheduler``, or of an embedded cluster; ``meanwhile`` runs in this
    process while the embedded cluster starts (its processes start and import in the
    background), before the client is handed out."""
    from concurrent.futures import ThreadPoolExecutor

    from distributed import Client

    if scheduler is not None:
        if meanwhile is not None:
            meanwhile()
        with Client(scheduler, set_as_default=False) as client:
            yield client
        return
    with ThreadPoolExecutor(1) as pool:
        starting = pool.submit(local_cluster, workers, cache)
        try:
            if meanwhile is not None:
                meanwhile()
        except BaseException:
            starting.result().close()
            raise
        cluster = starting.result()
    with cluster, Client(cluster, set_as_default=False) as client:
        yield client


def _check_workers(client) -> None:
    """Refuse a cluster whose workers run another bayesnn version (or none)."""
    from bayesnn import __version__

    def version() -> str:
        import bayesnn
        return bayesnn.__version__

    try:
        versions = client.run(version)
    except ModuleNotFoundError as error:
        raise ValueError(f"scheduler: a worker cannot import bayesnn ({error}); install it there") from error
    wrong = {address: v for address, v in versions.items() if v != __version__}
    if wrong:
        raise ValueError(f"scheduler: workers run another bayesnn version {wrong}; this is {__version__}")


def _run_dask(client, plan: SweepPlan, payloads: list[dict], finish: Callable[[TaskResult], None]) -> None:
    from distributed import as_completed

    _check_workers(client)
    prefix = f"bayesnn-sweep-{plan.config.hash[:12]}"
    futures = [client.submit(run_task, payload, key=f"{prefix}-task-{payload['task_id']}", pure=False)
               for payload in payloads]
    try:
        for future in as_completed(futures, loop=client.loop):
            finish(future.result())
            future.release()
    finally:
        client.cancel([future for future in futures if not future.done()])


def _progress(plan: SweepPlan, done_points: int, progress: bool | None):
    from tqdm.auto import tqdm

    return tqdm(total=plan.n_points, initial=done_points, unit="point", file=sys.stderr,
                desc=f"sweep {plan.config.scenario}", disable=(None if progress is None else not progress),
                dynamic_ncols=True, smoothing=0.1)


def run_sweep(config: SweepConfig | Mapping | str | Path, *, out: str | Path | None = None,
              scheduler: str | None = None, workers: int | None = None,
              progress: bool | None = True, compilation_cache: str | None = None,
              on_task: Callable[[TaskResult], None] | None = None) -> xr.Dataset:
    """Run a sweep and return its combined Dataset.

    Args:
        config: a :class:`SweepConfig`, a TOML path or a mapping (:func:`load_config`).
        out: store folder (one NetCDF per finished task, resumable; the combined result
            goes to ``<out>/sweep.nc``); None keeps results in memory only.
        scheduler: None for an embedded ``LocalCluster`` (``workers`` processes, default
            the available cores); ``"tcp://HOST:PORT"`` for an existing Dask cluster
            (workers need the same bayesnn installed); ``"in-process"`` to run the tasks
            here, one after the other (the serial reference).
        workers: embedded cluster size only.
        progress: tqdm bar over points on stderr (True), off (False), auto (None: on a TTY).
        compilation_cache: folder of JAX's persistent compilation cache, shared with
            embedded workers (default: ``$BAYESNN_JAX_CACHE`` if set).
        on_task: called with each :class:`TaskResult` after it is stored.

    JAX in this process is switched to float64 (sweeps are measured against exact
    Bayes); with ``"in-process"`` it also gets ``compilation_cache``.

    Returns:
        ``xarray.Dataset``: a grid on dims (*swept, seed), a random design on (point,
        seed); outputs per scenario (e.g. ``kl`` in nats); config, its hash and the
        package version in attrs.

    Raises:
        ValueError: naming the field for a bad config, point, store (``out``),
            ``workers`` or ``scheduler``, before any task is submitted.
    """
    config = config if isinstance(config, SweepConfig) else load_config(config)
    if scheduler is not None and not isinstance(scheduler, str):
        raise ValueError(f"scheduler: must be an address string or {IN_PROCESS!r}, got {scheduler!r}")
    if workers is not None:
        _workers(workers)
        if scheduler is not None:
            raise ValueError("workers: sizes the embedded LocalCluster only; omit it with a scheduler")
    folder = cache_dir(compilation_cache)
    cache = None if folder is None else str(folder)
    # float64 here too (the plan's buffer sizes come from float64 records); in-process
    # tasks (and the first task of an embedded cluster's sweep, run here) also get the
    # compilation cache, set before anything compiles.
    prepare_process(cache if scheduler in (IN_PROCESS, None) else None)
    plan = make_plan(config)
    store = SweepStore.open(out, plan) if out is not None else None
    done = store.finished() if store is not None else set()
    pending = [task for task in plan.tasks if task.task_id not in done]
    kept: dict[int, xr.Dataset] = {}
    bar = _progress(plan, sum(len(plan.tasks[i].point_ids) for i in done), progress)

    def finish(result: TaskResult) -> None:
        if store is not None:
            store.write(result)
        else:
            kept[result.task_id] = result.dataset
        bar.update(len(plan.tasks[result.task_id].point_ids))
        if on_task is not None:
            on_task(result)

    payloads = [{**plan.payload(task), "compilation_cache": cache} for task in pending]
    try:
        if payloads and scheduler == IN_PROCESS:
            for payload in payloads:
                finish(run_task(payload))
        elif payloads:
            meanwhile = None
            if scheduler is None and cache is not None and len(payloads) > 1:
                # Embedded workers share this machine's cache folder. This process runs
                # the first task while the cluster starts: it compiles the sweep's
                # programs once (every task has the same shapes: pad_to) and writes them
                # to the cache, which the workers then read instead of each compiling.
                first, payloads = payloads[0], payloads[1:]

                def meanwhile():
                    finish(run_task(first))
            with _client(scheduler, workers, cache, meanwhile) as client:
                _run_dask(client, plan, payloads, finish)
    finally:
        bar.close()
    if store is None:
        return combine(plan, [kept[task.task_id] for task in plan.tasks])
    combined = store.combine()
    store.write_result(combined)
    return combined


def run_serial(config: SweepConfig | Mapping | str | Path, **kwargs) -> xr.Dataset:
    """The same sweep in this process, task after task (no Dask): the reference that a
    distributed run equals bit for bit."""
    return run_sweep(config, scheduler=IN_PROCESS, **kwargs)


__all__ = ["CACHE_ENV", "IN_PROCESS", "available_cores", "local_cluster", "run_serial",
           "run_sweep", "worker_env"]
