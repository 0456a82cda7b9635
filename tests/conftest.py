"""Shared pytest fixtures. The whole suite runs in float64."""
import os
import tempfile

import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

# Tests that run the CLI in-process switch on JAX's persistent compilation cache. Give the
# session a cache of its own: executables left in the user's cache by processes with other
# XLA flags (or by concurrent writers) can crash the process when they are loaded.
os.environ["BAYESNN_JAX_CACHE"] = tempfile.mkdtemp(prefix="bayesnn-test-jax-cache-")


@pytest.fixture
def rng():
    """A NumPy generator with a fixed seed (tests must be reproducible)."""
    return np.random.default_rng(20261128)


@pytest.fixture
def key():
    """A JAX PRNG key with a fixed seed."""
    return jax.random.PRNGKey(20261128)
