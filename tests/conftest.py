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

import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

# No persistent compilation cache in tests by default: each test compiles what it runs (a
# stale cache entry must not hide a compile-time problem). BAYESNN_TEST_JAX_CACHE=DIR
# turns one on for a run (e.g. CI re-runs): the xdist workers inherit the variable, so
# they share the folder, and the per-module jax.clear_caches() below then reloads
# programs from disk instead of recompiling them. Subprocesses started by tests see the
# same setting through BAYESNN_JAX_CACHE.
_TEST_CACHE = os.environ.get("BAYESNN_TEST_JAX_CACHE", "")
os.environ["BAYESNN_JAX_CACHE"] = _TEST_CACHE or "off"
if _TEST_CACHE:
    from bayesnn.core.compilation_cache import enable_compilation_cache

    enable_compilation_cache(_TEST_CACHE)


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
