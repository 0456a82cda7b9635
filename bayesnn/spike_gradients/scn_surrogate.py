r"""Surrogate-gradient BPTT through the *hard* spike-coding networks.

Two networks, each run by its own library step, unchanged:

* the B13 network (Boerlin, Machens & Denève 2013) stepped by
  :func:`bayesnn.scn.step` exactly as :func:`bayesnn.scn.simulate` steps it
  (``spike_mode="one"``); trainable: any float leaf of :class:`bayesnn.scn.SCNParams`
  (typically the decoder ``Gamma``, D x N);
* the learning network of Brendel et al. 2020 with frozen weights, stepped by
  :func:`bayesnn.scn.learning.plasticity.plastic_step` (``plastic=False``), the network that
  :func:`bayesnn.scn.learning.evaluation.evaluate_weights` measures; trainable: ``F`` (D, N),
  ``Omega`` (N, N) and a linear readout ``D`` (Dout, N) of the traces.

The step decides the spikes (the largest ``z_i = V_i - T_i > 0`` fires) and applies
them; the surrogate adds the zero-valued, gradient-carrying term of
:func:`bayesnn.spike_gradients.spike_fn.surrogate_zero` (``s~ = 0``, ``ds~/dz =
sigma'_w(z)``) to the post-spike state::

    V <- V_step + Omega s~        (B13: Omega = -(Gamma^T Gamma + mu lambda_d^2 I))
    r~ <- r~_step + s~,   x_hat <- x_hat_step + Gamma s~

so the forward values are the step's bit for bit (tested against ``simulate``) while
the backward pass sees ``ds_i/dV_i = sigma'_w(V_i - T_i)`` for every neuron (the usual
surrogate approximation; the "one spike per step" competition itself has no
derivative). The loss is the normalised readout error over a window of steps
``[start, stop)``::

    L = sum_k ||y_k - y_hat_k||^2 / sum_k ||y_k||^2

(B13: ``y = x`` the target, ``y_hat = x_hat``; Brendel: ``y = x``, ``y_hat = D r~``,
the loss of :func:`bayesnn.scn.learning.surrogate.gated_loss`). BPTT runs through
:func:`~bayesnn.spike_gradients.bptt.scan_checkpointed` (memory O(T / chunk + chunk)).
"""
from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.validation import as_array
from bayesnn.core.validation import require_int
from bayesnn.scn import SCNParams, SimOptions, init_state, step, step_inputs
from bayesnn.scn.learning.plasticity import (LearningParams, LearningState, check_weights,
                                    learning_inputs, plastic_step)
from bayesnn.spike_gradients.bptt import check_finite_weights, check_window, scan_checkpointed
from bayesnn.spike_gradients.spike_fn import check_width, surrogate_zero

__all__ = ["SurrogateResult", "scn_surrogate_run", "scn_surrogate_loss", "brendel_surrogate_run",
           "brendel_surrogate_loss", "brendel_inputs", "B13_TRAINABLE", "BRENDEL_TRAINABLE"]

B13_TRAINABLE = ("Gamma", "thresholds")
BRENDEL_TRAINABLE = ("F", "Omega", "D")


class SurrogateResult(NamedTuple):
    """readout (T, Dout) after each step;  target (T, D) x after each step;
    spikes (T, N) spike indicator (0/1) of each step."""

    readout: jax.Array
    target: jax.Array
    spikes: jax.Array


def _chunk(checkpoint_every, n_steps: int) -> int:
    chunk = require_int("checkpoint_every", checkpoint_every, 1)
    if n_steps % chunk:
        raise ValueError(f"checkpoint_every ({chunk}) must divide the number of steps ({n_steps})")
    return chunk


# --------------------------------------------------------------------------- B13
def _b13_run(params: SCNParams, inputs, state0, width, chunk: int) -> SurrogateResult:
    G = params.Gamma
    opts = SimOptions()
    dt = params.dt

    def body(carry, inp):
        state, x = carry
        new, rec = step(params, state, inp, options=opts)
        # z as the step sees it (step 1 recomputed; noise included): the surrogate's input
        V = state.V + dt * (-params.lambda_v * state.V + inp.c @ G
                            + (params.slow_matrix @ state.readout) @ G + params.kappa * state.rates)
        if inp.noise.shape[-1]:
            V = V + params.sigma_v * jnp.sqrt(dt) * inp.noise
        s0 = surrogate_zero(V - params.thresholds, width)
        omega_f = G.T @ G + (params.cost_quad + params.reset_extra) * jnp.eye(G.shape[1], dtype=G.dtype)
        new = new._replace(V=new.V - omega_f @ s0, rates=new.rates + s0,
                           readout=new.readout + G @ s0)
        x = x + dt * (params.A @ x + inp.c)
        s = jnp.zeros(G.shape[1], G.dtype).at[rec.spike_senders[0]].add(
            rec.spike_mask[0].astype(G.dtype))
        return (new, x), (new.readout, x, s)

    x0 = jnp.zeros(G.shape[0], G.dtype)
    _, (y, x, s) = scan_checkpointed(body, (state0, x0), inputs, chunk)
    return SurrogateResult(y, x, s)


def _check_scn(params, c, width, checkpoint_every, key):
    if not isinstance(params, SCNParams):
        raise ValueError(f"params must be an SCNParams, got {type(params).__name__}")
    check_finite_weights("params", params)
    c = as_array("c", c, ndim=2)
    if c.shape[1] != params.n_dims:
        raise ValueError(f"c must have shape (T, {params.n_dims}), got {c.shape}")
    width = check_width(width)
    chunk = _chunk(checkpoint_every, c.shape[0])
    inputs = step_inputs(params, c, key=key)
    return inputs, width, chunk


@partial(jax.jit, static_argnames=("chunk",))
def _b13_jit(params, inputs, state0, width, chunk):
    return _b13_run(params, inputs, state0, width, chunk)


def scn_surrogate_run(params: SCNParams, c, *, key: Any = 0, width: float = 0.1,
                      checkpoint_every: int = 100) -> SurrogateResult:
    """Run the B13 network from rest on ``c`` (T, D) (units of x per s) with the
    surrogate attached (forward values equal ``simulate(params, c, key=key)``'s).

    Args:
        params: :class:`bayesnn.scn.SCNParams` (finite leaves).
        c: (T, D) input.   key: as in :func:`bayesnn.scn.simulate`.
        width: surrogate width w (> 0, units of V).
        checkpoint_every: steps per checkpointed chunk (divides T).

    Returns:
        :class:`SurrogateResult` (readout x_hat, target x, spikes), one row per step.

    Raises:
        ValueError: naming the argument (width <= 0, shapes, non-finite parameters).
    """
    inputs, width, chunk = _check_scn(params, c, width, checkpoint_every, key)
    return _b13_jit(params, inputs, init_state(params), width, chunk)


def _window_loss(y, yhat, start, stop):
    keep = ((jnp.arange(y.shape[0]) >= start) & (jnp.arange(y.shape[0]) < stop))[:, None]
    return jnp.sum(jnp.where(keep, (y - yhat) ** 2, 0.0)) / jnp.sum(jnp.where(keep, y**2, 0.0))


def scn_surrogate_loss(params: SCNParams, c, *, key: Any = 0, width: float = 0.1,
                       checkpoint_every: int = 100, window=None):
    """``(loss_fn, params)``: ``loss_fn(params)`` is the normalised readout error of the
    B13 network over the step window ``[start, stop)`` (default: the whole run),
    differentiable (surrogate) in every float leaf of ``params``. Inputs and
    randomness are fixed when called (``ValueError`` for bad arguments)."""
    inputs, width, chunk = _check_scn(params, c, width, checkpoint_every, key)
    start, stop = check_window(window, int(np.shape(c)[0]))
    state0 = init_state(params)

    def loss(p):
        run = _b13_run(p, inputs, state0, width, chunk)
        return _window_loss(run.target, run.readout, start, stop)
    return loss, params


# ------------------------------------------------------------------------ Brendel
def brendel_inputs(params: LearningParams, c, n_neurons: int, *, key: Any = 0):
    """The noise, jitter and tie-break draws of the frozen evaluation run
    (:func:`bayesnn.scn.learning.plasticity.learning_inputs`) for ``c`` (T, D)."""
    return learning_inputs(params, c, n_neurons, key=key)


def _brendel_run(params: LearningParams, w: dict, inputs, width, chunk: int) -> SurrogateResult:
    F, Omega, Dec = w["F"], w["Omega"], w["D"]
    Dm, N = F.shape
    p = params
    dt = p.dt

    def body(state, inp):
        new, rec = plastic_step(p, state, inp, plastic=False)
        V = state.V + dt * (-p.lambda_ * state.V + inp.c @ state.F)
        if inp.noise.shape[-1]:
            V = V + p.sigma_v * jnp.sqrt(dt) * inp.noise
        z = V - p.thresholds
        if inp.jitter.shape[-1]:
            z = z - p.jitter * inp.jitter
        s0 = surrogate_zero(z, width)
        new = new._replace(V=new.V + s0 @ new.OmegaT, rates=new.rates + s0)
        s = jnp.zeros(N, F.dtype).at[rec.sender].add(rec.fired.astype(F.dtype))
        return new, (Dec @ new.rates, new.x, s)

    f = F.dtype
    state = LearningState(V=jnp.zeros(N, f), rates=jnp.zeros(N, f), x=jnp.zeros(Dm, f), F=F,
                          OmegaT=Omega.T, step=jnp.zeros((), jnp.int32))
    _, (y, x, s) = scan_checkpointed(body, state, inputs, chunk)
    return SurrogateResult(y, x, s)


def _check_brendel(params, weights, c, width, checkpoint_every):
    if not isinstance(params, LearningParams):
        raise ValueError(f"params must be a LearningParams, got {type(params).__name__}")
    if not isinstance(weights, dict) or set(weights) - set(BRENDEL_TRAINABLE) or \
            set(BRENDEL_TRAINABLE) - set(weights):
        raise ValueError(f"weights must be a dict with keys {BRENDEL_TRAINABLE}, got "
                         f"{sorted(weights) if isinstance(weights, dict) else type(weights)}")
    F, Omega = check_weights(params, weights["F"], weights["Omega"])
    Dec = as_array("D", weights["D"], ndim=2)
    if Dec.shape[1] != F.shape[1]:
        raise ValueError(f"D must have shape (Dout, N = {F.shape[1]}), got {Dec.shape}")
    check_finite_weights("weights", weights)
    c = as_array("c", c, ndim=2)
    if c.shape[1] != F.shape[0]:
        raise ValueError(f"c must have shape (T, {F.shape[0]}), got {c.shape}")
    return check_width(width), _chunk(checkpoint_every, c.shape[0])


@partial(jax.jit, static_argnames=("chunk",))
def _brendel_jit(params, w, inputs, width, chunk):
    return _brendel_run(params, w, inputs, width, chunk)


def brendel_surrogate_run(params: LearningParams, weights: dict, c, *, key: Any = 0,
                          width: float = 0.1, checkpoint_every: int = 100) -> SurrogateResult:
    """Run the frozen Brendel network (weights ``F``, ``Omega``, readout ``D``) from
    rest on ``c`` (T, D) with the surrogate attached; spikes and traces equal those of
    scanning :func:`bayesnn.scn.learning.plasticity.plastic_step` (``plastic=False``) on
    :func:`brendel_inputs` bit for bit. ``ValueError`` naming the argument for bad
    input (width <= 0, shapes, non-finite weights)."""
    width, chunk = _check_brendel(params, weights, c, width, checkpoint_every)
    w = {k: jnp.asarray(v, jnp.result_type(float)) for k, v in weights.items()}
    inputs = brendel_inputs(params, c, w["F"].shape[1], key=key)
    return _brendel_jit(params, w, inputs, width, chunk)


def brendel_surrogate_loss(params: LearningParams, weights: dict, c, *, key: Any = 0,
                           width: float = 0.1, checkpoint_every: int = 100, window=None,
                           train=BRENDEL_TRAINABLE):
    """``(loss_fn, trainable)``: ``loss_fn(trainable, c)`` is the normalised readout
    error ``sum ||x - D r~||^2 / sum ||x||^2`` over ``window`` for input ``c`` (same
    shape as the checked one; the draws of ``key``), differentiable in the ``train``
    subset of F, Omega, D; ``trainable`` is that subset."""
    width, chunk = _check_brendel(params, weights, c, width, checkpoint_every)
    train = tuple(train)
    if not train or set(train) - set(BRENDEL_TRAINABLE):
        raise ValueError(f"train must be a non-empty subset of {BRENDEL_TRAINABLE}, got {train}")
    n = int(np.shape(c)[0])
    start, stop = check_window(window, n)
    w = {k: jnp.asarray(v, jnp.result_type(float)) for k, v in weights.items()}
    N = w["F"].shape[1]
    fixed = {k: v for k, v in w.items() if k not in train}

    def loss(trainable, c_now, key_now=key):
        inputs = learning_inputs(params, c_now, N, key=key_now,
                                 noisy=bool(np.any(np.asarray(params.sigma_v) > 0)),
                                 jittery=bool(np.any(np.asarray(params.jitter) > 0)))
        run = _brendel_run(params, {**fixed, **trainable}, inputs, width, chunk)
        return _window_loss(run.target, run.readout, start, stop)
    return loss, {k: w[k] for k in train}
