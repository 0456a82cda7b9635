r"""Gradient ascent on the exact continuous-time log-likelihood (optax).

The objective is the log density of the input spike trains under the MMPP (the
normaliser of the exact continuous-time filter, :func:`bayesnn.exact.mmpp_smoother.
log_likelihood_kernel`), differentiated by ``jax.grad`` through the filter's scan. The
parameters are optimised in the unconstrained space ``u = log(rate)`` (rates in Hz), so
every iterate is a valid, positive parameter set; iterates are also projected onto
``[log min_rate, log max_rate]`` and non-finite updates are skipped
(``optax.apply_if_finite``), so no step size can produce NaN or a non-positive rate.
The loss is ``-log p / K`` (K = number of input spikes) so that step sizes do not depend
on the amount of data.

By Fisher's identity the gradient is ``d log p / d log q^i_on = E[N^i_on] - q^i_on
E[T_on]`` (and likewise for the other rates; :mod:`bayesnn.exact.mmpp_smoother`), so the
maximiser found here is a fixed point of EM: :func:`fit_gradient` and
:func:`bayesnn.learning.em.em_continuous` reach the same point (tested).

This is the "learning by gradient descent" of Huh & Sejnowski, "Gradient descent for
spiking neural networks", NeurIPS 2018 (arXiv:1706.04698, 2017), with exact gradients of
the exact likelihood instead of a surrogate. Optimisers: L-BFGS (Liu & Nocedal 1989,
default, with optax's zoom line search) or Adam (Kingma & Ba 2015).
"""
from __future__ import annotations

import functools
import time
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bayesnn.core.params import is_traced, unchecked
from bayesnn.exact.mmpp_smoother import log_likelihood_kernel
from bayesnn.learning import checks
from bayesnn.processes.params import MMPPParams

__all__ = ["GradientResult", "fit_gradient", "log_likelihood"]


class GradientResult(NamedTuple):
    """Result of :func:`fit_gradient`.

    Fields:
        params: final :class:`MMPPParams` (Hz).
        log_likelihoods: (I + 1,) log density (nats) at each iterate, starting point first.
        n_steps: I, optimiser steps taken.
        converged: whether the gradient norm (per spike, in log-rate space) fell below
            ``tol``.
        gradient_norm: final gradient norm of ``log p / K`` w.r.t. the log-rates.
        wall_time: seconds (including compilation).
    """

    params: MMPPParams
    log_likelihoods: np.ndarray
    n_steps: int
    converged: bool
    gradient_norm: float
    wall_time: float


def _log_likelihood(params, p0, times, senders, counts, duration):
    def one(t, s, c):
        return log_likelihood_kernel(params.r_on, params.r_off, params.q_on, params.q_off, p0,
                                     t, s, c, duration)

    if times.ndim == 1:
        return one(times, senders, counts)
    return jnp.sum(jax.vmap(one)(times, senders, counts))


def log_likelihood(params, inputs, duration: float, *, initial_prob_on: float = 0.5) -> jax.Array:
    """Log density (nats) of the input spike trains under ``params`` (summed over a
    batch of trials), the objective of :func:`fit_gradient`; differentiable in
    ``params`` (an :class:`MMPPParams` pytree)."""
    model = params if is_traced(params) else checks.check_initial(params, "params")
    inputs, duration, _ = checks.check_spikes(inputs, duration, model.n_inputs)
    p0 = checks.check_initial_prob_on(initial_prob_on)
    return _log_likelihood(model, p0, inputs.times, inputs.senders, inputs.counts, duration)


@functools.lru_cache(maxsize=32)
def _named_optimizer(name: str, learning_rate: float):
    """Cached, so that repeated fits share one compiled step (optax builds new closures
    on every call)."""
    if name == "lbfgs":
        transform = optax.lbfgs()  # zoom line search (strong Wolfe conditions)
    elif name == "adam":
        transform = optax.adam(learning_rate)
    else:
        transform = optax.sgd(learning_rate)
    return optax.apply_if_finite(transform, max_consecutive_errors=10**9)


def _optimizer(optimizer, learning_rate):
    if isinstance(optimizer, optax.GradientTransformation):
        return optax.apply_if_finite(optimizer, max_consecutive_errors=10**9), False
    if optimizer not in ("lbfgs", "adam", "sgd"):
        raise ValueError(f"optimizer must be 'lbfgs', 'adam', 'sgd' or an "
                         f"optax.GradientTransformation, got {optimizer!r}")
    return _named_optimizer(optimizer, float(learning_rate)), optimizer == "lbfgs"


def _loss(u, p0, times, senders, counts, duration, n_spikes):
    rates = jax.tree_util.tree_map(jnp.exp, u)
    return -_log_likelihood(rates, p0, times, senders, counts, duration) / n_spikes


@partial(jax.jit, static_argnames=("transform", "line_search"))
def _step(u, state, data, low, high, *, transform, line_search):
    loss = partial(_loss, **data)
    value, grad = jax.value_and_grad(loss)(u)
    extra = dict(value=value, grad=grad, value_fn=loss) if line_search else {}
    updates, state = transform.update(grad, state, u, **extra)
    u = jax.tree_util.tree_map(lambda a: jnp.clip(a, low, high), optax.apply_updates(u, updates))
    return u, state, value, optax.tree.norm(grad)


@jax.jit
def _value_and_grad(u, data):
    value, grad = jax.value_and_grad(partial(_loss, **data))(u)
    return value, optax.tree.norm(grad)


def fit_gradient(initial, inputs, duration: float, *, optimizer="lbfgs",
                 learning_rate: float = 0.05, max_steps: int = 500, tol: float = 1e-9,
                 initial_prob_on: float = 0.5, min_rate: float = checks.MIN_RATE,
                 max_rate: float = checks.MAX_RATE) -> GradientResult:
    """Maximise the exact log-likelihood by gradient ascent in log-rate space.

    Args:
        initial: starting :class:`MMPPParams` (Hz).
        inputs: :class:`bayesnn.core.Spikes`, one trial (C,) or a batch (B, C).
        duration: trial length, s, > 0.
        optimizer: ``"lbfgs"`` (default; step sizes from a line search), ``"adam"``,
            ``"sgd"`` (both with ``learning_rate``), or any ``optax.GradientTransformation``.
        learning_rate: > 0, step size of Adam/SGD on ``log p / K``.
        max_steps: most optimiser steps (>= 1).
        tol: stop when the gradient norm of ``log p / K`` w.r.t. the log-rates is < tol.
        initial_prob_on: P(x_0 = 1), fixed, in [0, 1].
        min_rate, max_rate: projection box for every rate, Hz.

    Returns:
        :class:`GradientResult`.

    Raises:
        ValueError: naming the argument, before any work.
    """
    params = checks.check_initial(initial)
    inputs, duration, _ = checks.check_spikes(inputs, duration, params.n_inputs)
    p0 = checks.check_initial_prob_on(initial_prob_on)
    low, high = checks.check_rate_bounds(min_rate, max_rate)
    max_steps = checks.check_positive_int("max_steps", max_steps)
    tol = checks.check_tolerance(tol)
    checks.check_learning_rate(learning_rate)
    transform, line_search = _optimizer(optimizer, learning_rate)
    n_spikes = float(np.sum(np.where(np.asarray(inputs.senders) >= 0, np.asarray(inputs.counts), 0)))
    data = dict(p0=jnp.asarray(p0, float), times=inputs.times, senders=inputs.senders,
                counts=inputs.counts, duration=jnp.asarray(duration, float),
                n_spikes=jnp.asarray(n_spikes))
    low, high = jnp.log(low), jnp.log(high)

    start = time.perf_counter()
    u = jax.tree_util.tree_map(lambda a: jnp.clip(jnp.log(a), low, high), params)
    state = transform.init(u)
    values, converged, norm = [], False, np.inf
    for _ in range(max_steps):
        new_u, state, value, norm = _step(u, state, data, low, high, transform=transform,
                                          line_search=line_search)
        values.append(float(value))
        if float(norm) < tol:
            converged = True
            break
        u = new_u
    else:
        value, norm = _value_and_grad(u, data)
        values.append(float(value))
        converged = bool(norm < tol)
    final = unchecked(MMPPParams, **{name: jnp.exp(getattr(u, name)) for name in MMPPParams.field_names})
    return GradientResult(final, -np.asarray(values) * n_spikes, len(values) - 1, converged,
                          float(norm), time.perf_counter() - start)
