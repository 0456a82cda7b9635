"""One seed convention: every entry point that draws random numbers takes ``key``,
either an int seed or a JAX PRNG key; trial k of a batch uses ``fold_in(key, k)``.

Folding in the trial index (rather than splitting into n keys) makes trial k's key,
hence its random bits, independent of how many trials are run together.
"""
from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

KeyLike = Any  # int seed or JAX PRNG key


def as_key(key: KeyLike, name: str = "key") -> jax.Array:
    """A JAX PRNG key from an int seed (``PRNGKey(seed)``) or an existing key.

    Raises:
        ValueError: naming ``name`` if it is neither a non-negative int nor one key.
    """
    if isinstance(key, (bool, np.bool_)):
        raise ValueError(f"{name} must be an int seed or a JAX PRNG key, got {key!r}")
    if isinstance(key, (int, np.integer)):
        if key < 0:
            raise ValueError(f"{name} must be a seed >= 0 or a JAX PRNG key, got {key}")
        if (key < 2**63 and jax.config.jax_default_prng_impl == "threefry2x32"
                and not jax.config.jax_enable_custom_prng):
            # PRNGKey(seed) is [seed >> 32, seed & 0xFFFFFFFF] as uint32 (threefry_seed);
            # built on the host it compiles no programs (PRNGKey compiles two per process)
            seed = int(key)
            return jax.device_put(np.array([seed >> 32, seed & 0xFFFFFFFF], dtype=np.uint32))
        return jax.random.PRNGKey(int(key))
    try:
        array = jnp.asarray(key)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be an int seed or a JAX PRNG key, got {key!r}") from error
    if jnp.issubdtype(array.dtype, jax.dtypes.prng_key):
        if array.ndim != 0:
            raise ValueError(f"{name} must be one key, got a batch of shape {array.shape}")
        return array
    if array.shape == (2,) and array.dtype == jnp.uint32:
        return array
    raise ValueError(f"{name} must be an int seed or a JAX PRNG key (shape (2,) uint32 or "
                     f"a typed key), got dtype {array.dtype} and shape {array.shape}")


def trial_keys(key: KeyLike, n_trials: int) -> jax.Array:
    """One independent key per trial: ``keys[k] = fold_in(key, k)``."""
    if (isinstance(n_trials, (bool, np.bool_)) or not isinstance(n_trials, (int, np.integer))
            or n_trials < 1):
        raise ValueError(f"n_trials must be an integer >= 1, got {n_trials!r}")
    return _fold_in_range(as_key(key), n_trials=int(n_trials))


@partial(jax.jit, static_argnames=("n_trials",))
def _fold_in_range(base, *, n_trials):
    return jax.vmap(lambda index: jax.random.fold_in(base, index))(jnp.arange(n_trials))


__all__ = ["KeyLike", "as_key", "trial_keys"]
