r"""Simulating the E/I (Dale's law) network of Barrett, Denève & Machens 2016: one trial
(:func:`simulate_dale`) or a batch with per-trial inputs (:func:`simulate_dale_trials`),
with the call convention, event storage, overflow policy and random inputs of
:func:`bayesnn.scn.simulate`. Equations: :mod:`bayesnn.scn.dale.params`; the step:
:func:`bayesnn.scn.dale.functional.dale_step`. Knock-outs go through
:func:`bayesnn.scn.make_perturbations` (``perturbations=``).
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core import bucket_capacity, empty_spikes, run_growing, trial_keys, warn_if_float32
from bayesnn.core.validation import require_shape
from bayesnn.scn.network import kernels as K
from bayesnn.scn.dale.params import DaleParams
from bayesnn.scn.dale.functional import DaleState, dale_init_state, dale_step
from bayesnn.scn.network.perturbations import Perturbations, check_perturbations
from bayesnn.scn.dale.results import DaleResult

__all__ = ["simulate_dale", "simulate_dale_trials", "default_dale_capacity"]


def simulate_dale(params: DaleParams, c, *, key: Any = 0, duration: float | None = None,
                  record_every: int = 1, perturbations: Perturbations | None = None,
                  capacity: int | None = None, x0=None, state0: DaleState | None = None,
                  record_neurons=(), record_traces: bool = False,
                  chunk_steps: int = 0) -> DaleResult:
    """Simulate one trial of the E/I network for ``len(c)`` steps (Barrett et al. 2016).

    Args:
        params: :class:`DaleParams` from :func:`make_dale_network`.
        c: (T, D) input per step, units of x per second; the target obeys
            ``x_{k+1} = x_k + dt (c_k - lambda x_k)`` (use ``autoencoder_input``).
        key: int seed or JAX key (voltage noise, tie-breaks; step k uses fold_in(key, k)).
        duration: optional, s; must equal ``T * dt``.
        record_every: keep every k-th record (must divide T); currents are averaged
            over each block.
        perturbations: from :func:`make_perturbations` (neuron indices E: 0..NE-1,
            I: NE..N-1). The reference's E knock-out is
            ``make_perturbations(params, silence=range(60), silence_time=3.0)``.
        capacity: initial spike-event slots (default :func:`default_dale_capacity`);
            grown and rerun if exceeded, never truncated.
        x0: (D,) initial target (V_E starts at its closed form DE^T x0); default 0.
        state0: continue from ``result.final`` (exclusive with x0).
        record_neurons: indices whose voltage and E / I input currents are recorded.
        record_traces: also record all traces r~ (R x N floats; small runs only).
        chunk_steps: steps per generated input chunk (0: automatic; results do not
            depend on it).

    Returns:
        :class:`DaleResult`.

    Raises:
        ValueError: naming the argument, before any simulation.
    """
    p, c, every, capacity, sel, pert = _prepare(params, c, False, locals())
    warn_if_float32("bayesnn.scn.simulate_dale")  # stacklevel: the caller's line
    x0 = K.check_x0(x0, p.n_dims, None)
    if x0 is not None and state0 is not None:
        raise ValueError("x0 and state0 are exclusive: give one of them")
    state0 = dale_init_state(p, x0) if state0 is None else _check_state(state0, p)
    key = K.run_key(key)
    noisy = K.any_positive(p.sigma_v, None if pert is None else pert.extra_sigma)
    f = jnp.result_type(float)
    capacity = capacity or default_dale_capacity(p, c, x0=x0, perturbations=pert)
    run = lambda cap: _dale_core(p, jnp.asarray(c, f), key, pert, state0, jnp.asarray(sel),
                                 capacity=cap, every=every, chunk_steps=int(chunk_steps),
                                 noisy=noisy, traces=bool(record_traces))
    return run_growing(run, capacity, lambda result: result.spikes.n_events)


def simulate_dale_trials(params: DaleParams, c, *, key: Any, duration: float | None = None,
                         record_every: int = 1, perturbations: Perturbations | None = None,
                         capacity: int | None = None, x0=None, state0: DaleState | None = None,
                         record_neurons=(), record_traces: bool = False,
                         chunk_steps: int = 0) -> DaleResult:
    """Independent E/I trials with per-trial inputs ``c`` (trials, T, D), one program.

    Trial k uses key ``fold_in(as_key(key), k)`` and equals
    ``simulate_dale(params, c[k], key=fold_in(as_key(key), k), ...)`` bit for bit.
    ``x0``: (D,) shared or (trials, D); ``state0``: a :class:`DaleState` with a leading
    trial axis. Other arguments as in :func:`simulate_dale`; every result field gains a
    leading trial axis.
    """
    p, c, every, capacity, sel, pert = _prepare(params, c, True, locals())
    warn_if_float32("bayesnn.scn.simulate_dale")
    n_trials = c.shape[0]
    x0 = K.check_x0(x0, p.n_dims, n_trials)
    if x0 is not None and state0 is not None:
        raise ValueError("x0 and state0 are exclusive: give one of them")
    if state0 is None:
        states = [dale_init_state(p, None if x0 is None else x0[k]) for k in range(n_trials)]
        state0 = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *states)
    else:
        _check_state(jax.tree_util.tree_map(lambda a: a[0], state0), p)
        require_shape("state0.V", np.asarray(state0.V), (n_trials, p.n_neurons))
    keys = trial_keys(key, n_trials)
    noisy = K.any_positive(p.sigma_v, None if pert is None else pert.extra_sigma)
    f = jnp.result_type(float)
    if capacity is None:
        capacity = max(default_dale_capacity(p, c[k], x0=None if x0 is None else x0[k],
                                             perturbations=pert) for k in range(n_trials))
    run = lambda cap: _trials_core(p, jnp.asarray(c, f), keys, pert, state0, jnp.asarray(sel),
                                   capacity=cap, every=every, chunk_steps=int(chunk_steps),
                                   noisy=noisy, traces=bool(record_traces))
    return run_growing(run, capacity, lambda result: result.spikes.n_events)


def default_dale_capacity(params: DaleParams, c, *, x0=None,
                          perturbations: Perturbations | None = None) -> int:
    """Default event capacity for input ``c`` (T, D): a power of two above twice the
    expected E and I spike counts. E: the autoencoder demand ``sum_k ||c_k||_1 dt /
    min_i ||DE_i||`` (plus ``||x0||_1 / min_i ||DE_i||``); I: each E spike moves rE by a
    unit vector, of which the I population follows the part along its decoders,
    ``max_ij DI_ij / ||DI_j||^2`` I spikes per E spike. Noisy runs get at least T / 8
    slots (as :func:`bayesnn.scn.default_capacity`); at most 2 T (one spike per
    population and step). A heuristic; more spikes cost one rerun, never a truncation."""
    c = np.asarray(c, float)
    lam = float(params.lambda_)
    demand = K.expected_demand(-lam * np.eye(params.n_dims), c, float(params.dt), lam, x0)
    DE, DI = np.asarray(params.DE), np.asarray(params.DI)
    e_spikes = demand / float(np.min(np.linalg.norm(DE, axis=0)))
    per_e = float(np.max(DI / np.sum(DI**2, axis=0, keepdims=True)))
    expected = 2.0 * e_spikes * (1.0 + per_e)
    if not math.isfinite(expected):
        expected = 2.0 * c.shape[0]
    if K.any_positive(params.sigma_v, None if perturbations is None else perturbations.extra_sigma):
        expected = max(expected, c.shape[0] / 8)
    return bucket_capacity(min(expected, 2.0 * c.shape[0]))


def _prepare(params, c, batched: bool, args: dict):
    if not isinstance(params, DaleParams):
        raise ValueError(f"params must be a DaleParams (see make_dale_network), got "
                         f"{type(params).__name__}")
    N = params.n_neurons
    c = K.check_input(c, params.n_dims, batched)
    every, capacity = K.check_run(c.shape[-2], float(params.dt), args["duration"],
                                  args["record_every"], args["capacity"])
    K.check_int("chunk_steps", args["chunk_steps"], 0)
    sel = np.asarray(args["record_neurons"], dtype=int).ravel()
    if sel.size and (sel.min() < 0 or sel.max() >= N):
        raise ValueError(f"record_neurons indices must lie in [0, {N}), got {sel.min()}..{sel.max()}")
    pert = args["perturbations"]
    check_perturbations(pert, N, c.shape[-2])
    return params, c, every, capacity, sel.astype(np.int32), pert


def _check_state(state, p: DaleParams) -> DaleState:
    if not isinstance(state, DaleState):
        raise ValueError(f"state0 must be a DaleState (result.final), got {type(state).__name__}")
    require_shape("state0.V", np.asarray(state.V), (p.n_neurons,))
    require_shape("state0.traces", np.asarray(state.traces), (p.n_neurons,))
    return state


def _run(p: DaleParams, c, key, pert, state0: DaleState, sel, *, capacity: int, every: int,
         chunk_steps: int, noisy: bool, traces: bool) -> DaleResult:
    """One trial (traceable): the E/I step with event storage and block-averaged currents."""
    NE, N = p.n_e, p.n_neurons
    f = state0.V.dtype
    n_steps = c.shape[0]
    step0 = state0.step

    def body(carry, inputs):
        state, spikes, margins, counts, cur = carry
        index = state.step - step0
        state, rec = dale_step(p, state, inputs, perturbations=pert)
        spikes, margins = K.append_events(spikes, margins, rec.time, rec.spike_senders,
                                          rec.spike_margins, rec.spike_mask)
        counts = counts.at[rec.spike_senders].add(rec.spike_mask.astype(jnp.int32))
        now = jnp.stack([rec.input_e[sel], rec.input_i[sel]]) / p.dt
        cur, currents = K.block_mean(cur, now, index, every)
        out = {"readout_e": rec.readout_e, "readout_i": rec.readout_i,
               "rate_error": rec.rate_error, "pop_rate_e": rec.pop_rate_e,
               "pop_rate_i": rec.pop_rate_i, "voltages": rec.voltages[sel],
               "currents": currents}
        if traces:
            out["traces"] = rec.traces
        return (state, spikes, margins, counts, cur), out

    carry = (state0, empty_spikes(capacity, f), jnp.full((capacity,), jnp.nan, f),
             jnp.zeros(N, jnp.int32), jnp.zeros((2, sel.shape[0]), f))
    chunk = K.chunk_layout(n_steps, N, every, chunk_steps)
    carry, rec = K.scan_network(body, carry, c, key, step0, every=every, chunk=chunk,
                                n_noise=N if noisy else 0, sizes=(NE, p.n_i))
    state, spikes, margins, counts, _ = carry
    n_rec = n_steps // every
    all_traces = rec.get("traces", jnp.zeros((n_rec, 0), f))
    return DaleResult(
        spikes=spikes, margins=margins,
        times=(step0 + (jnp.arange(n_rec) + 1) * every).astype(f) * p.dt,
        readout_e=rec["readout_e"], readout_i=rec["readout_i"], rate_error=rec["rate_error"],
        pop_rate_e=rec["pop_rate_e"], pop_rate_i=rec["pop_rate_i"], voltages=rec["voltages"],
        currents_e=rec["currents"][:, 0], currents_i=rec["currents"][:, 1],
        traces_e=all_traces[:, :NE] if traces else all_traces,
        traces_i=all_traces[:, NE:] if traces else all_traces,
        spike_counts_e=counts[:NE], spike_counts_i=counts[NE:], recorded_neurons=sel,
        final=state)


_STATIC = ("capacity", "every", "chunk_steps", "noisy", "traces")


@partial(jax.jit, static_argnames=_STATIC)
def _dale_core(p, c, key, pert, state0, sel, *, capacity, every, chunk_steps, noisy, traces):
    # XLA on CPU contracts multiply-adds into fused instructions differently in an
    # unbatched program than in a vmapped one, which made a lone trial differ from the
    # same trial in a batch in the last bits of V. A lone trial therefore runs as a batch
    # of two copies (lane 0 kept): the same program shape as simulate_dale_trials.
    def one(c_k, key_k, state_k):
        return _run(p, c_k, key_k, pert, state_k, sel, capacity=capacity, every=every,
                    chunk_steps=chunk_steps, noisy=noisy, traces=traces)
    twice = lambda x: jnp.stack([x, x])
    pair = jax.vmap(one)(twice(c), twice(key), jax.tree_util.tree_map(twice, state0))
    return jax.tree_util.tree_map(lambda leaf: leaf[0], pair)


@partial(jax.jit, static_argnames=_STATIC)
def _trials_core(p, c, keys, pert, state0, sel, *, capacity, every, chunk_steps, noisy, traces):
    def one(c_k, key_k, state_k):
        return _run(p, c_k, key_k, pert, state_k, sel, capacity=capacity, every=every,
                    chunk_steps=chunk_steps, noisy=noisy, traces=traces)
    return jax.vmap(one)(c, keys, state0)
