r"""Backpropagation through time with bounded memory, and the optax training loop shared
by the surrogate-gradient networks.

:func:`scan_checkpointed` runs ``lax.scan`` over chunks of ``chunk`` steps, each chunk
wrapped in :func:`jax.checkpoint`: the backward pass stores the carry at chunk
boundaries only (T / chunk carries) and recomputes one chunk's steps (chunk carries)
at a time, so memory is O((T / chunk + chunk) * state) instead of O(T * state)
(Griewank & Walther 2000, "Algorithm 799: revolve", ACM TOMS 26(1); chunk ~ sqrt(T)
minimises it).

:func:`fit` is the optimiser loop (optax; Adam by default) with the family's stop rule:
a loss or gradient that is not finite stops training and returns the **last finite
weights** with ``stopped=True`` and the iteration it happened at; NaN weights are never
returned.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.validation import require_int, require_positive

__all__ = ["scan_checkpointed", "check_window", "FitResult", "fit", "check_finite_weights"]


def scan_checkpointed(step: Callable, carry, xs, chunk: int):
    """``lax.scan(step, carry, xs)`` with :func:`jax.checkpoint` on chunks of ``chunk``
    steps (the leading axis of every leaf of ``xs`` must be a multiple of ``chunk``).
    Returns ``(carry, ys)`` exactly as the plain scan would (same arithmetic per step)."""
    n = jax.tree_util.tree_leaves(xs)[0].shape[0]
    if n % chunk:
        raise ValueError(f"checkpoint_every ({chunk}) must divide the number of steps ({n})")
    blocks = jax.tree_util.tree_map(lambda a: a.reshape((n // chunk, chunk) + a.shape[1:]), xs)

    @jax.checkpoint
    def run_chunk(c, x):
        return jax.lax.scan(step, c, x)

    carry, ys = jax.lax.scan(run_chunk, carry, blocks)
    return carry, jax.tree_util.tree_map(lambda a: a.reshape((n,) + a.shape[2:]), ys)


def check_window(window, n_steps: int) -> tuple[int, int]:
    """A loss window (start, stop) of steps with ``0 <= start < stop <= n_steps``
    (``ValueError`` naming ``window`` otherwise); ``None`` is the whole run."""
    if window is None:
        return 0, n_steps
    try:
        start, stop = (int(v) for v in window)
    except (TypeError, ValueError):
        raise ValueError(f"window must be (start, stop) step indices, got {window!r}") from None
    if not 0 <= start < stop <= n_steps:
        raise ValueError(f"window must satisfy 0 <= start < stop <= {n_steps} (the run's "
                         f"steps), got ({start}, {stop})")
    return start, stop


def check_finite_weights(name: str, tree) -> None:
    """``ValueError`` naming ``name`` if any leaf of ``tree`` is not finite."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        if not np.all(np.isfinite(np.asarray(leaf))):
            raise ValueError(f"{name}{jax.tree_util.keystr(path)} must be finite (got NaN or inf)")


class FitResult(NamedTuple):
    """weights: the trained pytree (last finite weights if stopped);  loss: (I,) loss
    per completed iteration;  stopped: training hit a non-finite loss or gradient;
    stop_iteration: where (-1 if not stopped);  seconds: CPU time of the loop."""

    weights: Any
    loss: np.ndarray
    stopped: bool
    stop_iteration: int
    seconds: float


def fit(loss: Callable, weights, *, n_iterations: int, learning_rate: float = 1e-2,
        optimizer: Any = None, batch: Callable[[int], Any] = lambda i: i) -> FitResult:
    """Minimise ``loss(weights, batch(i))`` by an optax optimiser (default
    ``optax.adam(learning_rate)``), one jitted program per iteration.

    Args:
        loss: ``(weights, data) -> ()`` differentiable loss.
        weights: pytree of the trainable arrays (float, finite, at least one leaf).
        n_iterations: >= 1.   learning_rate: > 0 (used when ``optimizer`` is None).
        optimizer: an ``optax.GradientTransformation``.
        batch: iteration index -> data passed to ``loss``.

    Returns:
        :class:`FitResult`; a non-finite loss or gradient at iteration i stops the loop
        and returns the weights of iteration i - 1, the last whose loss was finite
        (``stopped=True``, ``stop_iteration = i``).

    Raises:
        ValueError: no trainable leaf, non-finite weights, bad iteration count or rate,
            a loss that is not finite at the initial weights.
    """
    import time

    import optax

    leaves = jax.tree_util.tree_leaves(weights)
    if not leaves:
        raise ValueError("weights must hold at least one trainable array (got no leaf)")
    check_finite_weights("weights", weights)
    n_iterations = require_int("n_iterations", n_iterations, 1)
    if optimizer is None:
        optimizer = optax.adam(float(require_positive("learning_rate", learning_rate, ndim=0)))
    value_grad = jax.value_and_grad(loss)

    @jax.jit
    def update(w, state, data):
        value, grad = value_grad(w, data)
        ok = jnp.isfinite(value) & jnp.all(jnp.stack(
            [jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(grad)]))
        updates, state = optimizer.update(grad, state, w)
        new = optax.apply_updates(w, updates)
        # the new weights' finiteness in the same program (checked eagerly, it cost an
        # XLA program per weight shape)
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(a))
                                    for a in jax.tree_util.tree_leaves(new)]))
        return new, state, value, ok, finite

    started = time.process_time()
    state = optimizer.init(weights)
    losses = []
    for i in range(n_iterations):
        new, new_state, value, ok, finite = update(weights, state, batch(i))
        if not bool(ok):
            # the loss or gradient at ``weights`` is not finite: keep the weights of the
            # previous iteration, whose loss was finite
            if i == 0:
                raise ValueError("loss or gradient is not finite at the initial weights")
            return FitResult(previous, np.asarray(losses), True, i, time.process_time() - started)
        previous, weights, state = weights, new, new_state
        losses.append(float(value))
        if not bool(finite):
            return FitResult(previous, np.asarray(losses), True, i + 1, time.process_time() - started)
    return FitResult(weights, np.asarray(losses), False, -1, time.process_time() - started)
