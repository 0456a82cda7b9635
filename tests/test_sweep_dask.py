"""Sweeps on a Dask LocalCluster: with worker threads (the embedded default) and with
worker processes the result equals the serial run bit for bit, whatever the number of
workers and the batch grouping; thread workers compile nothing (they share this
process's programs) and start no process; a worker process killed mid-sweep loses
nothing (every point present exactly once), and the cluster's processes are always gone
afterwards."""
import os
import signal
import threading
import time

import numpy as np
import psutil
import pytest
import xarray as xr

from bayesnn.sweep import local_cluster, run_sweep
from tests.sweep_setup import N_TASKS, TINY, serial_reference


def _children() -> set[int]:
    """Child processes, less multiprocessing's resource tracker (one per interpreter,
    started with the first spawned process, ends with this one)."""
    pids = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(child.cmdline()):
                pids.add(child.pid)
        except psutil.NoSuchProcess:
            pass
    return pids


def _wait_gone(pids: set[int], seconds: float = 20.0) -> set[int]:
    deadline = time.monotonic() + seconds
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if psutil.pid_exists(pid)
                 and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE}
        time.sleep(0.1)
    return alive


@pytest.mark.timeout(300)
def test_sweep_survives_a_killed_worker_and_equals_serial_run(tmp_path):
    from distributed import Client

    expected = serial_reference()  # compiled here first, while no cluster competes for the cores
    before = _children()
    finished, outcome = [], {}
    with local_cluster(2, compilation_cache=str(tmp_path / "jax-cache"), processes=True) as cluster, \
            Client(cluster, set_as_default=False) as client:
        pids = client.run(os.getpid)
        assert len(pids) == 2

        def sweep():
            try:
                outcome["result"] = run_sweep(TINY, out=tmp_path / "store", progress=False,
                                              scheduler=cluster.scheduler_address,
                                              on_task=finished.append)
            except BaseException as error:  # re-raised below, in the test's thread
                outcome["error"] = error

        thread = threading.Thread(target=sweep, daemon=True)
        thread.start()
        deadline = time.monotonic() + 120
        busy = []
        while not busy and time.monotonic() < deadline and thread.is_alive():
            busy = [address for address, keys in client.processing().items()
                    if keys and address in pids]
            time.sleep(0.02)
        assert busy, "no worker started a task"
        victim = pids[busy[0]]
        finished_at_kill = len(finished)
        os.kill(victim, signal.SIGKILL)  # the first task of a worker runs for seconds (compile)
        thread.join(timeout=240)
        assert not thread.is_alive(), "sweep did not finish after the worker was killed"
        if "error" in outcome:
            raise outcome["error"]
        workers_after = set(client.run(os.getpid).values())
        cluster_processes = _children() - before
    assert workers_after <= cluster_processes  # workers are child processes of this one
    assert finished_at_kill < N_TASKS
    assert victim not in workers_after  # the nanny started a fresh process
    assert victim not in {int(r.worker.rsplit(":", 1)[1]) for r in finished}
    # Each task stored once; every point exactly once (combine checks), bit for bit serial.
    assert sorted(r.task_id for r in finished) == list(range(N_TASKS))
    assert len(list((tmp_path / "store" / "tasks").glob("task-*.nc"))) == N_TASKS
    xr.testing.assert_identical(outcome["result"], expected)
    assert not _wait_gone(cluster_processes | set(pids.values())), "LocalCluster processes left running"
    assert not _children() - before


_EMBEDDED = """
import json, os, sys
sys.path.insert(0, os.getcwd())
from bayesnn.sweep import run_sweep
from tests.sweep_setup import TINY
tasks = []
result = run_sweep(TINY, workers=2, progress=False, on_task=tasks.append,
                   compilation_cache=sys.argv[1], worker_processes=True)
result.to_netcdf(sys.argv[2])
print(json.dumps({"pid": os.getpid(), "tasks": [
    [t.task_id, t.worker, t.programs, t.cache_hits] for t in tasks]}))
"""


@pytest.mark.slow  # a fresh process and a 2-worker cluster: ~25 s of CPU
@pytest.mark.timeout(300)
def test_embedded_worker_processes_compile_once_and_read_the_cache(tmp_path):
    """With embedded worker processes and a cache folder, the calling process runs the first
    task (compiling the sweep's programs into the empty cache) while the cluster starts;
    the workers then compile nothing: every program they need is read from the shared
    cache. The result equals the serial run bit for bit. (A fresh process: one that has
    compiled the programs before holds them in memory and writes nothing to the cache.)"""
    import json
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", _EMBEDDED, str(tmp_path / "jax-cache"),
                           str(tmp_path / "sweep.nc")], cwd=root, capture_output=True,
                          text=True, timeout=280,
                          env={**os.environ, "PYTHONPATH": root})
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads(done.stdout.strip().splitlines()[-1])
    xr.testing.assert_identical(xr.load_dataset(tmp_path / "sweep.nc"), serial_reference())
    tasks = info["tasks"]
    assert len(tasks) == N_TASKS
    here = [task for task in tasks if task[1].endswith(f":{info['pid']}")]
    assert [task[0] for task in here] == [0] and here[0][2] > 0 and here[0][3] == 0
    on_workers = [task for task in tasks if task not in here]
    assert all(hits == programs for _, _, programs, hits in on_workers), on_workers
    assert sum(hits for _, _, _, hits in on_workers) > 0


def test_worker_threads_equal_serial_run_and_compile_nothing():
    """The embedded default: workers are threads of this process. The calling thread
    runs the first task (compiling the sweep's programs, or reading them from the
    suite's persistent cache, once); the worker threads find them in memory, so they
    compile and read nothing; no process is started; the result equals the serial run
    bit for bit."""
    import jax

    from bayesnn.core.compile_meter import CompileMeter

    expected = serial_reference()
    jax.clear_caches()  # so that the first task compiles (or reads) the programs again
    before, here = _children(), threading.get_ident()
    meter, start = CompileMeter.get(), time.time()
    tasks = []
    result = run_sweep(TINY, workers=2, progress=False, on_task=tasks.append)
    xr.testing.assert_identical(result, expected)
    assert sorted(t.task_id for t in tasks) == list(range(N_TASKS))
    assert {t.worker for t in tasks} == {tasks[0].worker} and tasks[0].worker.endswith(f":{os.getpid()}")
    first = [t for t in tasks if t.thread == here]
    assert [t.task_id for t in first] == [0] and first[0].programs > 0
    on_workers = [t for t in tasks if t.thread != here]
    assert len(on_workers) == N_TASKS - 1
    assert all(t.programs == 0 and t.cache_hits == 0 for t in on_workers), on_workers
    # no thread but the caller compiled or read a program (the caller's count also holds
    # the plan's programs, compiled before the first task)
    everywhere, caller = meter.since(start), meter.since(start, thread=here)
    assert everywhere["programs"] == caller["programs"] >= first[0].programs
    assert everywhere["hits"] == caller["hits"]
    assert not _children() - before


def test_result_does_not_depend_on_worker_count_or_batch_grouping():
    """One worker thread, and tasks of 3 points instead of 2 (another compiled batch
    shape, the last task padded): every trial's numbers equal the serial run's bit for
    bit (a trial's key is fold_in(PRNGKey(seed), k), whatever its batch); only the
    config's record (hash, batch size, task count) differs."""
    expected = serial_reference()
    one = run_sweep(TINY, workers=1, progress=False)
    xr.testing.assert_identical(one, expected)
    regrouped = run_sweep({**TINY, "batch_size": 3}, workers=2, progress=False)
    assert regrouped.attrs["n_tasks"] == 3 and expected.attrs["n_tasks"] == N_TASKS
    for name in expected.data_vars:
        np.testing.assert_array_equal(regrouped[name].values, expected[name].values, err_msg=name)
    xr.testing.assert_identical(regrouped.drop_attrs(), expected.drop_attrs())


@pytest.mark.parametrize("bad, match", [
    ({"worker_processes": 1}, "^worker_processes: must be True"),
    ({"worker_processes": True, "scheduler": "tcp://127.0.0.1:9"}, "^worker_processes: chooses"),
])
def test_bad_worker_processes_is_refused_before_any_work(bad, match):
    before = _children()
    with pytest.raises(ValueError, match=match):
        run_sweep(TINY, progress=False, **bad)
    assert not _children() - before
    with pytest.raises(ValueError, match="^processes: must be True"):
        local_cluster(1, processes="yes")


def test_cache_off_reaches_this_process_and_every_worker(monkeypatch):
    """``compilation_cache="off"`` turns the persistent cache off for this process and
    every task (it once fell back to the default folder downstream, None meaning
    "default" there); the cluster's workers are threads here, so every call is seen."""
    from bayesnn.core import compilation_cache

    seen = []
    monkeypatch.setenv("BAYESNN_JAX_CACHE", "/nonexistent/default-folder")
    monkeypatch.setattr(compilation_cache, "enable_compilation_cache",
                        lambda explicit=None: seen.append(compilation_cache.cache_dir(explicit)))
    xr.testing.assert_identical(run_sweep(TINY, workers=2, progress=False, compilation_cache="off"),
                                serial_reference())
    assert len(seen) == 1 + N_TASKS and set(seen) == {None}
