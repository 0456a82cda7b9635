"""Run a sweep's tasks on Dask distributed: an embedded ``LocalCluster`` by default,
an existing cluster by scheduler address, or in this process.

Each task is one compiled, vectorised batch (:func:`bayesnn.sweep.tasks.run_task`).
The embedded cluster's workers are, by default, threads of this process, one task at a
time each: nothing is started or imported again, and every compiled program is shared
in memory (this thread runs the first task while the cluster starts, compiling the
sweep's programs once; the workers then find them compiled). XLA releases the GIL while
a program runs, so k workers run k tasks at once on k cores. With
``worker_processes=True`` the workers are processes with one thread each (one JAX
process per worker, loading programs from the shared persistent compilation cache):
they cost a process start and imports (~5 CPU-s each) but isolate the sweep from a
worker that crashes (a lost worker's tasks are rerun elsewhere by the Dask scheduler, up
to ``distributed.scheduler.allowed-failures`` times) and suit tasks that hold the GIL.
Only this process writes the store, one atomic file per finished task, so workers need
no shared file system. Progress: a tqdm bar over points on stderr.
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
                  silence_logs: int = logging.ERROR, *, processes: bool = False):
    """An embedded ``distributed.LocalCluster`` of ``workers`` workers (default: the
    cores available) running one task at a time each, no dashboard. Use it as a context
    manager so it is always closed::

        with local_cluster(2) as cluster:
            run_sweep(config, scheduler=cluster.scheduler_address)

    Args:
        workers: number of workers, an integer >= 1 (default :func:`available_cores`).
        compilation_cache: persistent compilation cache folder of process workers
            (:func:`worker_env`; thread workers share this process's JAX).
        silence_logs: level below which Dask's log records are dropped.
        processes: False (default): workers are threads of this process (no start-up
            cost, programs shared in memory; JAX and this process must be set up by the
            caller, e.g. :func:`bayesnn.sweep.tasks.prepare_process`). True: worker
            processes with nannies on 127.0.0.1 (a crashing worker is restarted and
            cannot take this process down; for tasks that hold the GIL).

    Raises:
        ValueError: ``workers`` not an integer >= 1, or ``processes`` not a bool.
    """
    from distributed import LocalCluster

    n_workers = available_cores() if workers is None else _workers(workers)
    _processes(processes)
    # No dashboard; the scheduler's remaining HTTP routes (health, metrics) on a free
    # loopback port, not on port 8787 (busy whenever another cluster runs here).
    common = dict(n_workers=n_workers, threads_per_worker=1, dashboard_address=None,
                  scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, silence_logs=silence_logs)
    if not processes:
        # memory_limit=0: a thread worker's memory monitor would measure this whole
        # process (other workers and the caller included) and pause the worker at 80 %
        # of its share; results are small and there is nothing to spill or restart.
        return LocalCluster(processes=False, memory_limit=0, **common)
    return LocalCluster(processes=True, host="127.0.0.1", env=worker_env(compilation_cache), **common)


def _workers(workers) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: must be an integer >= 1, got {workers!r}")
    return workers


def _processes(processes, name: str = "processes") -> bool:
    if not isinstance(processes, bool):
        raise ValueError(f"{name}: must be True (worker processes) or False (worker threads), "
                         f"got {processes!r}")
    return processes


@contextmanager
def _client(scheduler: str | None, workers: int | None, cache: str | None,
            meanwhile: Callable[[], None] | None = None, processes: bool = False) -> Iterator[Any]:
    """A client of ``scheduler``, or of an embedded cluster (worker ``processes`` or
    threads); ``meanwhile`` runs in this thread while the embedded cluster starts in
    another (Dask's import, the scheduler, and worker processes starting and importing),
    before the client is handed out."""
    from concurrent.futures import ThreadPoolExecutor

    if scheduler is not None:
        if meanwhile is not None:
            meanwhile()
        from distributed import Client

        with Client(scheduler, set_as_default=False) as client:
            yield client
        return
    # Dask is imported in the pool's thread (about 1 s), so meanwhile starts at once
    with ThreadPoolExecutor(1) as pool:
        starting = pool.submit(local_cluster, workers, cache, processes=processes)
        try:
            if meanwhile is not None:
                meanwhile()
        except BaseException:
            starting.result().close()
            raise
        cluster = starting.result()
    from distributed import Client

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
              on_task: Callable[[TaskResult], None] | None = None,
              worker_processes: bool = False) -> xr.Dataset:
    """Run a sweep and return its combined Dataset.

    Args:
        config: a :class:`SweepConfig`, a TOML path or a mapping (:func:`load_config`).
        out: store folder (one NetCDF per finished task, resumable; the combined result
            goes to ``<out>/sweep.nc``); None keeps results in memory only.
        scheduler: None for an embedded ``LocalCluster`` (``workers`` workers, default
            the available cores); ``"tcp://HOST:PORT"`` for an existing Dask cluster
            (workers need the same bayesnn installed); ``"in-process"`` to run the tasks
            here, one after the other (the serial reference).
        workers: embedded cluster size only.
        progress: tqdm bar over points on stderr (True), off (False), auto (None: on a TTY).
        compilation_cache: folder of JAX's persistent compilation cache, shared with
            embedded worker processes, or ``"off"`` (default:
            :func:`bayesnn.core.compilation_cache.cache_dir`, i.e.
            ``$BAYESNN_JAX_CACHE`` if set, else the user cache folder).
        on_task: called with each :class:`TaskResult` after it is stored.
        worker_processes: embedded cluster only. False (default): its workers are
            threads of this process, which start at once and share every compiled
            program in memory (fastest on one machine: XLA releases the GIL while a task
            runs). True: worker processes, one thread each, loading programs from the
            persistent cache; prefer them when a crashing worker must not take this
            process down (the nanny restarts it and Dask reruns its tasks) or for tasks
            that hold the GIL.

    JAX in this process is switched to float64 (sweeps are measured against exact
    Bayes); with ``"in-process"`` it also gets ``compilation_cache``.

    Returns:
        ``xarray.Dataset``: a grid on dims (*swept, seed), a random design on (point,
        seed); outputs per scenario (e.g. ``kl`` in nats); config, its hash and the
        package version in attrs.

    Raises:
        ValueError: naming the field for a bad config, point, store (``out``),
            ``workers``, ``worker_processes`` or ``scheduler``, before any task is
            submitted.
    """
    config = config if isinstance(config, SweepConfig) else load_config(config)
    if scheduler is not None and not isinstance(scheduler, str):
        raise ValueError(f"scheduler: must be an address string or {IN_PROCESS!r}, got {scheduler!r}")
    if workers is not None:
        _workers(workers)
        if scheduler is not None:
            raise ValueError("workers: sizes the embedded LocalCluster only; omit it with a scheduler")
    if _processes(worker_processes, "worker_processes") and scheduler is not None:
        raise ValueError("worker_processes: chooses the embedded LocalCluster's workers only; "
                         "omit it with a scheduler")
    folder = cache_dir(compilation_cache)
    # "off" (not None, which would mean "the default folder" downstream) when it is off
    cache = "off" if folder is None else str(folder)
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
            if scheduler is None and len(payloads) > 1 and (folder is not None or not worker_processes):
                # This process runs the first task while the embedded cluster starts
                # (Dask's import and start, and for worker processes their start and
                # imports, on the other core while XLA compiles here): it compiles the
                # sweep's programs once (every task of a group has the same shapes:
                # pad_to). Thread workers then find them in this process's memory;
                # worker processes read them from the shared cache folder, to which this
                # process wrote them, instead of each compiling them.
                first, payloads = payloads[0], payloads[1:]

                def meanwhile():
                    finish(run_task(first))
            with _client(scheduler, workers, cache, meanwhile, worker_processes) as client:
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
