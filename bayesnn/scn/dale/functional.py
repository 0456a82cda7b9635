r"""Pure step functions of the E/I (Dale's law) network of Barrett, Denève & Machens
2016 (eLife 5:e12454; equations in :mod:`bayesnn.scn.dale.params`): a documented state,
``dale_init_state(params, ...)``, ``dale_step_inputs(params, c, *, key)`` and
``dale_step(params, state, inputs_t) -> (state, record_t)``.
:func:`bayesnn.scn.simulate_dale` runs exactly these steps; one spike per population
and step, each spike of neuron p adds column p of ``W``. The B13 network's step
functions and the shared inputs record :class:`StepInputs` are in
:mod:`bayesnn.scn.network.functional`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from bayesnn.core.validation import as_array, require_shape
from bayesnn.scn.dale.params import DaleParams
from bayesnn.scn.network.functional import perturbed, split_inputs
from bayesnn.scn.network.kernels import (StepInputs, any_positive, draw_randomness, pick_max,
                                         run_key)
from bayesnn.scn.network.perturbations import Perturbations

__all__ = ["DaleState", "DaleStepRecord", "dale_init_state", "dale_step_inputs", "dale_step"]


class DaleState(NamedTuple):
    """State of an E/I network: V (N,) voltages (units of x^2), traces (N,) r~ (E first),
    step () int32 index of the next step."""

    V: jax.Array
    traces: jax.Array
    step: jax.Array


class DaleStepRecord(NamedTuple):
    """What one E/I step reports.

    Fields:
        time: () s.   readout_e: (D,) DE rE.   readout_i: (D,) DE DI rI.
        rate_error: () ||rE - DI rI||.   pop_rate_e, pop_rate_i: () lambda mean(r~), Hz.
        voltages, traces: (N,) after the step.
        spike_senders: (2,) int32 [E neuron, I neuron].   spike_margins: (2,) V - T.
        spike_mask: (2,) bool (which of the two fired).
        input_e, input_i: (N,) excitatory / inhibitory input during the step
            (feedforward and recurrent, self-reset excluded), units of V.
    """

    time: jax.Array
    readout_e: jax.Array
    readout_i: jax.Array
    rate_error: jax.Array
    pop_rate_e: jax.Array
    pop_rate_i: jax.Array
    voltages: jax.Array
    traces: jax.Array
    spike_senders: jax.Array
    spike_margins: jax.Array
    spike_mask: jax.Array
    input_e: jax.Array
    input_i: jax.Array


def dale_init_state(params: DaleParams, x0=None) -> DaleState:
    """State at t = 0 with no spikes: ``V_E = DE^T x0`` for target ``x0`` (D,) (default
    0), ``V_I = 0``, traces 0.

    Returns :class:`DaleState`; ValueError for a bad ``x0`` or params that are not a
    :class:`DaleParams`.
    """
    _check_params(params)
    f = jnp.result_type(float)
    V = jnp.zeros(params.n_neurons, f)
    if x0 is not None:
        x0 = require_shape("x0", as_array("x0", x0, ndim=1), (params.n_dims,))
        V = V.at[: params.n_e].set(jnp.asarray(x0, f) @ params.DE)
    return DaleState(V=V, traces=jnp.zeros(params.n_neurons, f), step=jnp.zeros((), jnp.int32))


def dale_step_inputs(params: DaleParams, c, *, key: Any = 0, start_step: int = 0,
                     perturbations: Perturbations | None = None) -> StepInputs:
    """The inputs :func:`bayesnn.scn.simulate_dale` feeds to :func:`dale_step` for input
    ``c`` (T, D) and ``key`` (int seed or JAX key): :class:`StepInputs` with a leading T
    axis (noise (T, N), or (T, 0) when neither sigma_v nor the perturbations add noise;
    offsets (T, 2), one per population). ``start_step``: absolute index of the first
    step. Memory O(T N): for long runs use ``simulate_dale``."""
    _check_params(params)
    c = jnp.asarray(as_array("c", c, ndim=2), jnp.result_type(float))
    noisy = any_positive(params.sigma_v, None if perturbations is None else perturbations.extra_sigma)
    noise, offsets = draw_randomness(run_key(key), jnp.asarray(start_step, jnp.int32),
                                     int(c.shape[0]), params.n_neurons if noisy else 0,
                                     (params.n_e, params.n_i), c.dtype)
    return StepInputs(c, noise, offsets)


def dale_step(params: DaleParams, state: DaleState, inputs: StepInputs, *,
              perturbations: Perturbations | None = None) -> tuple[DaleState, DaleStepRecord]:
    """Advance the E/I network one time step (pure; jit-, scan- and vmap-friendly).

    Args:
        params: :class:`DaleParams`.
        state: :class:`DaleState` (from :func:`dale_init_state`).
        inputs: one :class:`StepInputs` (c (D,), noise (N,) or (0,), offsets (2,)).
        perturbations: optional :class:`Perturbations` (knock-outs, thresholds, noise).

    Returns:
        ``(new_state, record)`` with :class:`DaleStepRecord`.
    """
    return _dale_step(params, state, inputs, perturbations)


def _check_params(params) -> None:
    if not isinstance(params, DaleParams):
        raise ValueError(f"params must be a DaleParams (see make_dale_network; the B13 "
                         f"network's step functions are init_state, step_inputs, step), "
                         f"got {type(params).__name__}")


def _dale_step(p: DaleParams, state: DaleState, inputs: StepInputs, pert):
    NE, N = p.n_e, p.n_neurons
    dt = p.dt
    k = state.step
    t = (k + 1).astype(dt.dtype) * dt
    T, alive, sigma = perturbed(p, k, p.sigma_v, pert)
    W = p.W
    feed = jnp.zeros(N, state.V.dtype).at[:NE].set(dt * (p.F_E @ inputs.c))
    V = state.V + dt * (-p.lambda_ * state.V) + feed
    if inputs.noise.shape[-1]:
        V = V + sigma * jnp.sqrt(dt) * inputs.noise
    r = state.traces * (1.0 - p.lambda_ * dt)
    z = jnp.where(alive, V - T, -jnp.inf)
    ie, me = pick_max(z[:NE], inputs.offsets[0])
    ii, mi = pick_max(z[NE:], inputs.offsets[1])
    ii = ii + NE
    fire_e, fire_i = me > 0, mi > 0
    fe, fi = fire_e.astype(V.dtype), fire_i.astype(V.dtype)
    col_e, col_i = fe * W[:, ie], fi * W[:, ii]
    V = V + col_e + col_i
    r = r.at[ie].add(fe).at[ii].add(fi)
    arange = jnp.arange(N)
    input_e, input_i = split_inputs((feed, jnp.where(arange == ie, 0.0, col_e),
                               jnp.where(arange == ii, 0.0, col_i)))
    rE, rI = r[:NE], r[NE:]
    # Products as multiply-then-sum: a batched matrix-vector product (under vmap) sums in
    # another order than the single-trial one, which made records depend on batch size.
    rE_hat = jnp.sum(p.DI * rI[None, :], axis=-1)
    return DaleState(V=V, traces=r, step=k + 1), DaleStepRecord(
        time=t, readout_e=jnp.sum(p.DE * rE[None, :], axis=-1),
        readout_i=jnp.sum(p.DE * rE_hat[None, :], axis=-1),
        rate_error=jnp.linalg.norm(rE - rE_hat), pop_rate_e=p.lambda_ * jnp.mean(rE),
        pop_rate_i=p.lambda_ * jnp.mean(rI), voltages=V, traces=r,
        spike_senders=jnp.stack([ie, ii]), spike_margins=jnp.stack([me, mi]),
        spike_mask=jnp.stack([fire_e, fire_i]), input_e=input_e, input_i=input_i)
