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

The initial law is the stationary law of the current rates by default (it is then
part of what is differentiated), as in :mod:`bayesnn.exact`. Rates named in ``fixed``
are held at their starting values. The result is returned in bayesnn's labelling
(:func:`bayesnn.processes.canonical_labelling`): with exchangeable starting points L-BFGS
may land on the mirror of EM's optimum, which has the same likelihood.

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
import jax
import jax.numpy as jnp
import numpy as np
import optax

from bayesnn.core.params import is_traced, to_device, unchecked
from bayesnn.exact.mmpp_smoother import log_likelihood_kernel
from bayesnn.learning import checks
from bayesnn.learning.fit import FitResult, finish, stack
from bayesnn.processes.params import MMPPParams

__all__ = ["fit_gradient", "log_likelihood"]


def _p0(params, p0):
    return params.r_on / (params.r_on + params.r_off) if p0 is None else p0


def _log_likelihood(params, p0, times, senders, counts, duration):
    initial = _p0(params, p0)

    def one(t, s, c):
        return log_likelihood_kernel(params.r_on, params.r_off, params.q_on, params.q_off,
                                     initial, t, s, c, duration)

    if times.ndim == 1:
        return one(times, senders, counts)
    return jnp.sum(jax.vmap(one)(times, senders, counts))


def log_likelihood(params, inputs, *, duration: float, initial_prob_on: float | None = None
                   ) -> jax.Array:
    """Log density (nats) of the input spike trains under ``params`` (summed over a
    batch of trials), the objective of :func:`fit_gradient`; differentiable in
    ``params`` (an :class:`MMPPParams` pytree). The initial law defaults to the
    stationary law ``r_on / (r_on + r_off)``, as :func:`bayesnn.exact.mmpp_log_likelihood`
    (they agree to rounding, tested)."""
    model = params if is_traced(params) else checks.check_initial(params, "params", start=False)
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


def _loss(u, p0, times, senders, counts, duration, n_spikes, start, free):
    # fixed rates: their coordinates are taken from the start, so their gradient is 0
    u = jax.tree_util.tree_map(lambda a, s, f: jnp.where(f, a, s), u, start, free)
    rates = jax.tree_util.tree_map(jnp.exp, u)
    return -_log_likelihood(rates, p0, times, senders, counts, duration) / n_spikes


@partial(jax.jit, static_argnames=("transform", "fixed"))
def _start(params, low, high, *, transform, fixed):
    """The starting point as one program (eagerly: about ten small ones): log-rates
    ``u`` clipped to ``[log low, log high]``, the mask of free rates, the optimiser's
    state, the log bounds and the rates ``exp(u)``."""
    low, high = jnp.log(low), jnp.log(high)
    u = jax.tree_util.tree_map(lambda a: jnp.clip(jnp.log(a), low, high), params)
    free = unchecked(MMPPParams, **{name: jnp.full(jnp.shape(getattr(u, name)), name not in fixed)
                                    for name in MMPPParams.field_names})
    return u, free, transform.init(u), low, high, jax.tree_util.tree_map(jnp.exp, u)


# A fixed initial_prob_on is traced (p0; only whether the law is stationary is static),
# so a new value reuses the compiled programs.
@partial(jax.jit, static_argnames=("transform", "line_search", "stationary"))
def _step(u, state, data, low, high, p0, *, transform, line_search, stationary):
    loss = partial(_loss, p0=None if stationary else p0, **data)
    value, grad = jax.value_and_grad(loss)(u)
    extra = dict(value=value, grad=grad, value_fn=loss) if line_search else {}
    updates, state = transform.update(grad, state, u, **extra)
    u = jax.tree_util.tree_map(lambda a: jnp.clip(a, low, high), optax.apply_updates(u, updates))
    return u, state, value, optax.tree.norm(grad), jax.tree_util.tree_map(jnp.exp, u)


@partial(jax.jit, static_argnames=("stationary",))
def _value_and_grad(u, data, p0, *, stationary):
    value, grad = jax.value_and_grad(partial(_loss, p0=None if stationary else p0, **data))(u)
    return value, optax.tree.norm(grad)


def _check_fixed(fixed) -> tuple[str, ...]:
    if isinstance(fixed, str):
        fixed = (fixed,)
    fixed = tuple(fixed)
    unknown = [name for name in fixed if name not in MMPPParams.field_names]
    if unknown:
        raise ValueError(f"fixed must name rates among {MMPPParams.field_names}, got {unknown}")
    return fixed


def fit_gradient(initial, inputs, *, duration: float, optimizer="lbfgs",
                 learning_rate: float = 0.05, max_steps: int = 500, tol: float = 1e-9,
                 initial_prob_on: float | None = None, min_rate: float = checks.MIN_RATE,
                 max_rate: float = checks.MAX_RATE, fixed=(),
                 reference: MMPPParams | None = None) -> FitResult:
    """Maximise the exact log-likelihood by gradient ascent in log-rate space.

    Args:
        initial: starting :class:`MMPPParams` (Hz, q_on != q_off).
        inputs: :class:`bayesnn.core.Spikes`, one trial (C,) or a batch (B, C).
        duration: trial length, s, > 0.
        optimizer: ``"lbfgs"`` (default; step sizes from a line search), ``"adam"``,
            ``"sgd"`` (both with ``learning_rate``), or any ``optax.GradientTransformation``.
        learning_rate: > 0, step size of Adam/SGD on ``log p / K``.
        max_steps: most optimiser steps (>= 1).
        tol: stop when the gradient norm of ``log p / K`` w.r.t. the log-rates is < tol.
        initial_prob_on: ``None`` (stationary law, default) or a fixed P(x_0 = 1).
        min_rate, max_rate: projection box for every rate, Hz.
        fixed: names of rates held at their value in ``initial`` (e.g. ``("r_on",
            "r_off")``); then the labels are those of the fixed rates (no relabelling).
        reference: optional :class:`MMPPParams` fixing the labelling
            (:func:`bayesnn.processes.canonical_labelling`).

    Returns:
        :class:`bayesnn.learning.FitResult` (``n_iterations`` = optimiser steps).

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
    fixed = _check_fixed(fixed)
    reference = checks.check_reference(reference, params.n_inputs)
    transform, line_search = _optimizer(optimizer, learning_rate)
    n_spikes = float(np.sum(np.where(np.asarray(inputs.senders) >= 0, np.asarray(inputs.counts), 0)))
    start = time.perf_counter()
    u, free, state, low, high, rates = _start(params, low, high, transform=transform,
                                              fixed=fixed)
    data = dict(times=inputs.times, senders=inputs.senders, counts=inputs.counts,
                duration=to_device(np.float64(duration)), n_spikes=to_device(np.float64(n_spikes)),
                start=u, free=free)
    p0_value = np.float64(0.0 if p0 is None else p0)
    # history holds the rates exp(u) of each iterate (computed by the programs that make
    # the iterates), stacked on the host at the end
    values, history, converged, norm = [], [rates], False, np.inf
    for _ in range(max_steps):
        new_u, state, value, norm, new_rates = _step(u, state, data, low, high, p0_value,
                                                     transform=transform,
                                                     line_search=line_search,
                                                     stationary=p0 is None)
        values.append(float(value))
        if float(norm) < tol:
            converged = True
            break
        u = new_u
        history.append(new_rates)
    else:
        value, norm = _value_and_grad(u, data, p0_value, stationary=p0 is None)
        values.append(float(value))
        converged = bool(norm < tol)
    final = history[-1]
    trace = stack(history)
    final, trace, swapped = finish(final, trace, reference=reference, fixed=fixed)
    return FitResult(final, -np.asarray(values) * n_spikes, trace, None, len(values) - 1,
                     converged, float(norm), swapped, time.perf_counter() - start,
                     "fit_gradient", {})
