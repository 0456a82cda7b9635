"""Shared pytest fixtures. The whole suite runs in float64."""
import os

import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

# No persistent compilation cache in tests: JAX 0.10's CPU cache segfaulted the suite both
# when loading executables other processes had left and when writing new ones.
os.environ["BAYESNN_JAX_CACHE"] = ""


@pytest.fixture
def rng():
    """A NumPy generator with a fixed seed (tests must be reproducible)."""
    return np.random.default_rng(20261128)


@pytest.fixture
def key():
    """A JAX PRNG key with a fixed seed."""
    return jax.random.PRNGKey(20261128)
