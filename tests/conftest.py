"""Shared pytest fixtures. The whole suite runs in float64.

Tolerances state their basis. Where two float64 code paths compute the same exact
quantity over many operations, tightening stops at 1e-13 (relative, or absolute on
quantities of order one): the errors measured here are 1e-16..1e-14, a modelling or
indexing error is >= 1e-9, and the margin absorbs other CPUs' vector widths and FMA
contraction, which reorder float64 roundings. Older bounds that were already tighter, on
closed forms of a few operations, stay as they were.
"""
import gc
import os
import shutil
import tempfile

import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

# One persistent compilation cache per suite run, shared by every process of the run.
# conftest.py clears JAX's in-memory caches after each module (below), so without it each
# module (and each xdist worker, and each subprocess a test starts) compiles again the
# programs that earlier modules compiled; with it they read them back from disk. The
# folder is created fresh by the process that starts the run (the xdist controller, or
# the single pytest process), passed on through the environment (xdist workers and
# subprocesses inherit it) and deleted when the run ends, so no entry outlives its run
# and a stale entry cannot hide a compile-time problem. BAYESNN_TEST_JAX_CACHE=DIR uses
# (and keeps) DIR instead; BAYESNN_TEST_JAX_CACHE=off runs without a persistent cache.
# Tests that count compiled programs run their code in a fresh subprocess with this
# cache (tests/compile_counts.py: a cache read counts as one program, as a compilation)
# or count in-memory cache misses only (CompileMeter deltas after a first run in the
# same process), so they see what a cold process compiles either way.
_OWN_CACHE = None
if "BAYESNN_TEST_JAX_CACHE" not in os.environ and "PYTEST_XDIST_WORKER" not in os.environ:
    _OWN_CACHE = tempfile.mkdtemp(prefix="bayesnn-test-jax-cache-")
    os.environ["BAYESNN_TEST_JAX_CACHE"] = _OWN_CACHE
_TEST_CACHE = os.environ.get("BAYESNN_TEST_JAX_CACHE", "")
if _TEST_CACHE.strip().lower() in ("", "0", "off", "false", "no", "none"):
    _TEST_CACHE = ""
os.environ["BAYESNN_JAX_CACHE"] = _TEST_CACHE or "off"
if _TEST_CACHE:
    from bayesnn.core.compilation_cache import enable_compilation_cache

    enable_compilation_cache(_TEST_CACHE)


def pytest_unconfigure(config):
    """Delete the run's compilation cache (only the folder this process created)."""
    if _OWN_CACHE is not None:
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)


# Scheduling (``-n 2 --dist loadfile``): a file runs on one worker, so the run ends when
# the worker holding the last long file finishes. Files are handed out longest first
# (longest-processing-time-first balancing): the seconds below are one file's run time
# on one core, from a full ``-n 2`` run's ``--junitxml`` (halved: that run shared the
# machine with other work; benchmarks/README.md, issue 21); files not listed count as 30 s if they hold a slow test,
# else 5 s. The numbers only order the files: a stale number costs balance, never a
# result. xdist's own reordering (most tests first) is turned off so this order holds.
_FILE_SECONDS = {
    "test_validate_all.py": 250, "test_figures.py": 30, "test_families.py": 130,
    "test_scn_learning_runs.py": 120, "test_docs_snippets.py": 115, "test_result_shapes.py": 90,
    "test_notebooks.py": 80, "test_failure_kinds.py": 70, "test_scn_api.py": 65,
    "test_posteriors_log_odds.py": 65, "test_learning_trust.py": 60, "test_neuromorphic.py": 60,
    "test_benchmarks_smoke.py": 55, "test_neuron_exactness.py": 55, "test_thread_invariance.py": 45,
    "test_learning_slow.py": 45, "test_scn_core.py": 45, "test_sweep_dask.py": 45,
    "test_numpyro_speed_paths.py": 40, "test_posteriors_kalman.py": 40, "test_neuron_time_convention.py": 40,
    "test_numpyro_mmpp_binned.py": 35, "test_stdp_runs.py": 35, "test_fuzz_inputs.py": 35,
}


def pytest_configure(config):
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def _file_seconds(path, slow_files):
    return _FILE_SECONDS.get(path.name, 30 if path in slow_files else 5)


def pytest_collection_modifyitems(config, items):
    """Order the tests file by file, longest file first (stable: a file's tests keep
    their order, and files of equal weight keep the collection order)."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: -_file_seconds(item.path, slow_files))


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Free every compiled XLA program after each test module.

    Each CPU executable keeps a few memory mappings alive for as long as JAX caches it.
    A process that compiles the suite's thousands of distinct programs passes Linux's
    ``vm.max_map_count`` (65,530) after ~15 minutes, and the next compilation then
    segfaults inside LLVM; that was the crash "late in the run". Clearing the caches
    between modules keeps every worker far below the limit.
    """
    yield
    jax.clear_caches()
    gc.collect()


@pytest.fixture
def rng():
    """A NumPy generator with a fixed seed (tests must be reproducible)."""
    return np.random.default_rng(20261128)


@pytest.fixture
def key():
    """A JAX PRNG key with a fixed seed."""
    return jax.random.PRNGKey(20261128)
