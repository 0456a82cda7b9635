"""JAX's persistent compilation cache, on by default for bayesnn's commands.

XLA compilation dominates bayesnn's run time (``bayesnn validate`` compiles tens of
programs and spends most of its first run compiling them). With the persistent cache,
a compiled program is written to disk once and read back by every later process with
the same program, JAX version and backend: a second ``bayesnn validate``, the workers of
a Dask sweep (each worker process would otherwise compile the same programs) and the
test suite's xdist workers when they share a folder.

Where: ``$BAYESNN_JAX_CACHE`` if set to a folder, else ``<user cache dir>/bayesnn/jax``
(``platformdirs.user_cache_dir``, e.g. ``~/.cache/bayesnn/jax`` on Linux). Disable with
``BAYESNN_JAX_CACHE=off`` (or ``0``, ``false``, ``no``, or the empty string) or
``bayesnn validate --no-jax-cache``. Clear it by deleting the folder (``bayesnn
cache-dir`` prints it): entries are only ever read by an identical program, so deleting
it costs one cold start and never changes a result.

Every program is stored (minimum compile time 0 s and minimum entry size 0 bytes): the
many small programs are where a cold start spends its time, and JAX's default threshold
(1 s) skipped them all. Cache keys are stable across runs; the one source of instability
found (funsor ordering operations by Python's per-process string hash) is removed by
running bayesnn's commands under a fixed ``PYTHONHASHSEED`` (:mod:`bayesnn.cli`) and
giving embedded Dask workers the same seed (:func:`bayesnn.sweep.distributed.worker_env`).
"""
from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "BAYESNN_JAX_CACHE"
_OFF = ("", "0", "off", "false", "no", "none")


def cache_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The persistent cache folder to use: ``explicit`` if given, else from
    ``$BAYESNN_JAX_CACHE`` (a folder, or an "off" value: None), else the user cache
    folder ``platformdirs.user_cache_dir("bayesnn") / "jax"``."""
    if explicit is not None:
        value = str(explicit)
    elif CACHE_ENV in os.environ:
        value = os.environ[CACHE_ENV]
    else:
        from platformdirs import user_cache_dir

        return Path(user_cache_dir("bayesnn")) / "jax"
    return None if value.strip().lower() in _OFF else Path(value).expanduser()


def enable_compilation_cache(explicit: str | os.PathLike | None = None) -> Path | None:
    """Point JAX's persistent compilation cache at :func:`cache_dir` (created if
    missing) and store every program (thresholds 0). Returns the folder, or None when
    the cache is off (then JAX's settings are left alone). Call before the first
    compilation; calling again with the same folder does nothing."""
    folder = cache_dir(explicit)
    if folder is None:
        return None
    import jax

    folder.mkdir(parents=True, exist_ok=True)
    if jax.config.jax_compilation_cache_dir != str(folder):
        jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder


__all__ = ["CACHE_ENV", "cache_dir", "enable_compilation_cache"]
