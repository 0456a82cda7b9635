"""The one time loop, and trial batching.

Every time-stepped model in bayesnn is a pure step function
``step(state, inputs_t) -> (state, record_t)`` handed to :func:`scan_steps` (inputs
known in advance) or :func:`scan_chunked` (inputs built chunk by chunk, so that a long
run never holds a steps x neurons input array). Trials are batched with
:func:`run_trials`, which maps a per-trial function over one PRNG key per trial: trial
``k`` sees the same key, hence the same random bits, whatever the batch size.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

PyTree = Any


def scan_steps(
    step: Callable[[PyTree, PyTree], tuple[PyTree, PyTree]],
    state: PyTree,
    inputs: PyTree,
    record_every: int = 1,
) -> tuple[PyTree, PyTree]:
    """Run ``step`` over the leading axis of ``inputs`` with ``lax.scan``.

    Args:
        step: pure function ``(state, inputs_t) -> (state, record_t)``.
        state: initial state (pytree of arrays).
        inputs: pytree of arrays with a common leading time axis of length T.
        record_every: keep only every ``record_every``-th record (the record at the
            last step of each block), so a trace costs T / record_every entries.
            T must be a multiple of ``record_every``.

    Returns:
        ``(final_state, records)``; ``records`` has leading length T / record_every.
    """
    if record_every < 1:
        raise ValueError(f"record_every must be >= 1, got {record_every}")
    if record_every == 1:
        return jax.lax.scan(step, state, inputs)
    n_steps = jax.tree_util.tree_leaves(inputs)[0].shape[0]
    if n_steps % record_every:
        raise ValueError(
            f"record_every must divide the number of steps ({n_steps}), got {record_every}"
        )
    blocks = jax.tree_util.tree_map(
        lambda a: a.reshape((n_steps // record_every, record_every) + a.shape[1:]), inputs
    )

    def run_block(carry, block_inputs):
        carry, records = jax.lax.scan(step, carry, block_inputs)
        return carry, jax.tree_util.tree_map(lambda r: r[-1], records)

    return jax.lax.scan(run_block, state, blocks)


def scan_chunked(
    step: Callable[[PyTree, PyTree], tuple[PyTree, PyTree]],
    state: PyTree,
    chunk_inputs: Callable[[jax.Array], PyTree],
    n_chunks: int,
    reduce_records: Callable[[PyTree], PyTree] | None = None,
    after_chunk: Callable[[PyTree, PyTree, jax.Array], tuple[PyTree, PyTree]] | None = None,
) -> tuple[PyTree, PyTree]:
    """Run ``step`` over ``n_chunks`` chunks whose inputs are made on the fly.

    ``chunk_inputs(chunk_index)`` returns the inputs of one chunk (leading axis = steps
    in the chunk); they exist only while that chunk runs, so memory is one chunk of
    inputs, not the whole run. ``reduce_records`` maps a chunk's stacked records to
    what is kept per chunk (default: keep the last record of the chunk).
    ``after_chunk(state, records, chunk_index) -> (state, kept)``, if given, replaces
    ``reduce_records`` and may also update the state once per chunk, e.g. to move the
    chunk's spikes into an event buffer with one scatter instead of one per step.
    """
    if n_chunks < 1:
        raise ValueError(f"n_chunks must be >= 1, got {n_chunks}")
    keep = reduce_records or (lambda records: jax.tree_util.tree_map(lambda r: r[-1], records))

    def run_chunk(carry, chunk_index):
        carry, records = jax.lax.scan(step, carry, chunk_inputs(chunk_index))
        if after_chunk is not None:
            return after_chunk(carry, records, chunk_index)
        return carry, keep(records)

    return jax.lax.scan(run_chunk, state, jnp.arange(n_chunks))


def scan_steps_chunked(
    step: Callable[[PyTree, PyTree], tuple[PyTree, PyTree]],
    state: PyTree,
    inputs_for: Callable[[int | jax.Array, int], PyTree],
    n_steps: int,
    chunk: int,
    record_every: int = 1,
) -> tuple[PyTree, PyTree]:
    """Run ``n_steps`` steps as ``n_steps // chunk`` chunks plus a remainder.

    ``inputs_for(chunk_index, length)`` builds the inputs of ``length`` steps starting
    at step ``chunk_index * chunk`` (the remainder is chunk ``n_steps // chunk``).
    ``chunk`` and ``n_steps`` must be multiples of ``record_every``; records are kept
    every ``record_every`` steps and returned with one leading axis of length
    ``n_steps // record_every``.
    """
    if chunk < 1 or chunk % record_every or n_steps % record_every:
        raise ValueError(f"chunk ({chunk}) and n_steps ({n_steps}) must be positive multiples "
                         f"of record_every ({record_every})")
    n_chunks, remainder = divmod(n_steps, chunk)
    parts = []
    if n_chunks > 0:
        def keep(records):
            return jax.tree_util.tree_map(lambda r: r[record_every - 1::record_every], records)

        state, records = scan_chunked(step, state, lambda index: inputs_for(index, chunk),
                                      n_chunks, keep)
        # Explicit sizes: a record may have a zero-length axis, where -1 is ambiguous.
        parts.append(jax.tree_util.tree_map(
            lambda r: r.reshape((r.shape[0] * r.shape[1],) + r.shape[2:]), records))
    if remainder > 0:
        state, records = scan_steps(step, state, inputs_for(n_chunks, remainder),
                                    record_every=record_every)
        parts.append(records)
    if len(parts) == 1:
        return state, parts[0]
    return state, jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), *parts)


def split_trial_keys(key, n_trials: int) -> jax.Array:
    """One independent key per trial: ``keys[k]`` is ``jax.random.fold_in(key, k)``.

    Folding in the trial index (rather than splitting into ``n_trials`` keys) makes
    trial ``k``'s key independent of how many trials are requested.
    """
    from bayesnn.core.keys import trial_keys
    return trial_keys(key, n_trials)


def run_trials(trial_fn: Callable[..., PyTree], keys: jax.Array, *shared: Any) -> PyTree:
    """Vectorise ``trial_fn(key, *shared)`` over a batch of per-trial keys."""
    return jax.vmap(trial_fn, in_axes=(0,) + (None,) * len(shared))(keys, *shared)


__all__ = ["scan_steps", "scan_chunked", "scan_steps_chunked", "split_trial_keys",
           "run_trials"]
