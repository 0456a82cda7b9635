r"""Simulating B13 spike-coding networks: one trial (:func:`simulate`) or a batch of
trials with per-trial inputs (:func:`simulate_trials`).

Both run the public step :func:`bayesnn.scn.network.functional.step` (equations there) through
:func:`bayesnn.core.scan_steps_chunked`. Recording scales with spikes, not N x T:
spikes are events in a :class:`bayesnn.core.Spikes` buffer (plus the per-event
margins), the readout and chosen neurons' voltages / traces / currents are kept every
``record_every`` steps, and the random inputs are generated chunk by chunk.

Event capacity: bayesnn's one overflow policy (:func:`bayesnn.core.run_growing`): a
run whose spikes do not fit is rerun with a larger buffer (identical spikes, the
draws depend on the key only), never truncated. The default capacity
(:func:`default_capacity`) is a power of two above the spike count a tracking network
needs, so nearby parameter values share one compiled program.

One concern: running the public step over a whole input (the noise-free one-spike
case event by event, :mod:`bayesnn.scn.network.eventdriven`: the same spikes, voltages
to round-off).

Call path (one direction, simulation -> functional -> kernels -> core)::

    simulate / simulate_trials          argument checks, capacity, run_growing
      -> _simulate_core / _trials_core  the one jitted program per setting
        -> _run                         event storage and records around the step
          -> kernels.scan_network       bayesnn.core.scan_steps_chunked over input chunks
            -> functional.step          the public step (equations there)
        -> eventdriven.run_event_driven (noise-free "one" mode only) the same model,
                                        jumping from spike to spike in closed form
"""
from __future__ import annotations

import math
import os
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core import bucket_capacity, empty_spikes, run_growing, trial_keys, warn_if_float32
from bayesnn.core.params import to_device
from bayesnn.core.validation import require_shape
from bayesnn.scn.network import kernels as K
from bayesnn.scn.network.eventdriven import run_event_driven
from bayesnn.scn.network.functional import SPIKE_MODES, SCNState, SimOptions, init_state, step
from bayesnn.scn.network.params import SCNParams, _host_gamma_sq, check_drive_margin
from bayesnn.scn.network.perturbations import Perturbations, check_perturbations
from bayesnn.scn.network.results import SCNResult

__all__ = ["simulate", "simulate_trials", "default_capacity"]


def simulate(params: SCNParams, c, *, key: Any = 0, duration: float | None = None,
             record_every: int = 1, perturbations: Perturbations | None = None,
             capacity: int | None = None, x0=None, state0: SCNState | None = None,
             spike_mode: str = "one", greedy_cap: int = 0, delay_steps: int = 0,
             refractory_steps: int = 0, record_voltages=(), record_rates=(),
             record_currents: bool = False, track_balance: bool = False,
             chunk_steps: int = 0) -> SCNResult:
    """Simulate one trial of a B13 network (Boerlin et al. 2013) for ``len(c)`` steps.

    Args:
        params: :class:`SCNParams` (:func:`make_network`, :func:`make_autoencoder`, ...).
        c: (T, D) input per step (units of x per second); the target obeys
            ``x_{k+1} = x_k + dt (A x_k + c_k)``.
        key: int seed or JAX key (voltage noise and tie-breaks; step k's draws come
            from ``fold_in(key, k)``).
        duration: optional, s; must equal ``T * dt`` (a check, not a setting).
        record_every: keep every k-th record (must divide T).
        perturbations: from :func:`make_perturbations` (knock-outs, thresholds, noise).
        capacity: initial number of spike-event slots (default
            :func:`default_capacity`); grown and rerun if exceeded.
        x0: (D,) initial target (V starts at its closed form ``Gamma^T x0``).
        state0: continue from a previous :class:`SCNState` (``result.final``; exclusive
            with x0): spike and record times continue from ``state0.step``.
        spike_mode, greedy_cap, delay_steps, refractory_steps: :class:`SimOptions`
            fields.
        record_voltages, record_rates, record_currents, track_balance, chunk_steps:
            the other :class:`SimOptions` fields.

    Returns:
        :class:`SCNResult` (record r after step (r + 1) record_every - 1; align a
        (T + 1, D) target with :func:`target_at`).

    Raises:
        ValueError: naming the argument, before any simulation (shapes, options,
            record_every not dividing T, duration != T dt, bad key, x0 with state0).
    """
    net, c, opts, every, capacity, pert = _prepare(params, c, False, locals())
    warn_if_float32("bayesnn.scn.simulate")  # stacklevel: the caller's line
    x0 = K.check_x0(x0, net.n_dims, None)
    if x0 is not None and state0 is not None:
        raise ValueError("x0 and state0 are exclusive: give one of them")
    f = jnp.result_type(float)
    v_x0 = None  # x0 for V = Gamma^T x0, computed inside the run's program
    if state0 is None:
        # init_state's V = x0 Gamma is an XLA dot per shape when eager: the run's
        # program computes it instead (the same dot), so no extra program is compiled
        state0 = init_state(net, None, delay_steps=opts.delay_steps)
        v_x0 = None if x0 is None else to_device(x0, f)
    else:
        _check_state(state0, net, opts)
    key = K.run_key(key)
    noisy = K.any_positive(net.sigma_v, None if pert is None else pert.extra_sigma)
    capacity = capacity or default_capacity(net, c, x0=x0, spike_mode=opts.spike_mode,
                                            perturbations=pert)
    c = to_device(c, f)
    run = lambda cap: _simulate_core(net, c, key, pert, state0, v_x0, opts=opts,
                                     capacity=cap, every=every, noisy=noisy)
    return _untracked(run_growing(run, capacity, lambda result: result.spikes.n_events), opts)


def simulate_trials(params: SCNParams, c, *, key: Any, duration: float | None = None,
                    record_every: int = 1, perturbations: Perturbations | None = None,
                    capacity: int | None = None, x0=None, state0: SCNState | None = None,
                    spike_mode: str = "one", greedy_cap: int = 0, delay_steps: int = 0,
                    refractory_steps: int = 0, record_voltages=(), record_rates=(),
                    record_currents: bool = False, track_balance: bool = False,
                    chunk_steps: int = 0) -> SCNResult:
    """Independent trials with per-trial inputs, run as one vectorised program.

    Trial k uses key ``fold_in(as_key(key), k)`` and equals
    ``simulate(params, c[k], key=fold_in(as_key(key), k), x0=x0[k], ...)`` bit for bit.

    Args:
        c: (trials, T, D) input of each trial.
        x0: (D,) shared or (trials, D) per-trial initial targets.
        state0: optional :class:`SCNState` with a leading trial axis.
        Other arguments as in :func:`simulate`.

    Returns:
        :class:`SCNResult` with a leading trial axis on every field.
    """
    net, c, opts, every, capacity, pert = _prepare(params, c, True, locals())
    warn_if_float32("bayesnn.scn.simulate")
    n_trials = c.shape[0]
    x0 = K.check_x0(x0, net.n_dims, n_trials)
    if x0 is not None and state0 is not None:
        raise ValueError("x0 and state0 are exclusive: give one of them")
    if state0 is None:
        states = [init_state(net, None if x0 is None else x0[k], delay_steps=opts.delay_steps)
                  for k in range(n_trials)]
        # stacked on the host (jnp.stack compiles a program per shape)
        state0 = jax.tree_util.tree_map(
            lambda *a: to_device(np.stack([np.asarray(v) for v in a])), *states)
    else:
        _check_state(jax.tree_util.tree_map(lambda a: a[0], state0), net, opts)
        require_shape("state0.V", np.asarray(state0.V), (n_trials, net.n_neurons))
    keys = trial_keys(key, n_trials)
    noisy = K.any_positive(net.sigma_v, None if pert is None else pert.extra_sigma)
    f = jnp.result_type(float)
    if capacity is None:
        capacity = default_capacity(net, c, x0=x0, spike_mode=opts.spike_mode,
                                    perturbations=pert)  # the largest trial's
    lanes = (_cpu_lanes(n_trials) if multistep_applies(opts, pert, noisy)
             and jax.default_backend() == "cpu" else 1)
    c = to_device(c, f)
    run = lambda cap: _trials_core(net, c, keys, pert, state0, opts=opts,
                                   capacity=cap, every=every, noisy=noisy, lanes=lanes)
    return _untracked(run_growing(run, capacity, lambda result: result.spikes.n_events), opts)


def _untracked(result: SCNResult, opts: SimOptions) -> SCNResult:
    """Quantities that were not tracked are None, not zeros (a zero E/I balance would be
    read as a measurement; to_xarray writes nothing for them)."""
    if not opts.track_balance:
        result = result._replace(e_input=None, i_input=None)
    return result


def default_capacity(params: SCNParams, c, *, x0=None, spike_mode: str = "one",
                     perturbations: Perturbations | None = None) -> int:
    """Default event capacity for input ``c`` (T, D): a power of two
    (:func:`bayesnn.core.bucket_capacity`) above twice the spike count a network
    tracking its target needs, ``sum_k ||(A + lambda_d I) x_k + c_k||_1 dt /
    min_i ||Gamma_i||`` (:func:`bayesnn.scn.network.kernels.expected_demand`). Voltage noise
    adds spikes the target does not predict (measured: 0.05 per step at N = 400,
    sigma_v = 1e-3, 5x the tracking count), so noisy runs get at least T / 8 slots;
    at most T slots when one spike per step. A heuristic: more spikes (e.g. ping-pong
    in "all" mode) cost one rerun with a larger buffer, never a truncation. A batch ``c``
    (trials, T, D) (``x0`` (trials, D)) gets the capacity of its largest trial."""
    c = np.asarray(c, float)
    n_steps = c.shape[-2]
    demand = float(np.max(K.expected_demand(np.asarray(params.A), c, float(params.dt),
                                            float(params.lambda_d), x0)))
    kernel = float(np.sqrt(np.min(_host_gamma_sq(params))))
    expected = 2.0 * demand / kernel if math.isfinite(demand) else float(n_steps)
    if K.any_positive(params.sigma_v, None if perturbations is None else perturbations.extra_sigma):
        expected = max(expected, n_steps / 8)
    if spike_mode == "one":
        expected = min(expected, float(n_steps))
    return bucket_capacity(expected)


# ----------------------------------------------------------------------------- checks
def _prepare(params, c, batched: bool, args: dict):
    """Checked (params, c, SimOptions, record_every, capacity, perturbations)."""
    if not isinstance(params, SCNParams):
        raise ValueError(f"params must be an SCNParams (see make_network), got "
                         f"{type(params).__name__}")
    N = params.n_neurons
    c = K.check_input(c, params.n_dims, batched)
    every, capacity = K.check_run(c.shape[-2], float(params.dt), args["duration"],
                                  args["record_every"], args["capacity"])
    if args["spike_mode"] not in SPIKE_MODES:
        raise ValueError(f"spike_mode must be one of {SPIKE_MODES}, got {args['spike_mode']!r}")
    for name in ("greedy_cap", "delay_steps", "refractory_steps", "chunk_steps"):
        K.check_int(name, args[name], 0)
    chosen = {}
    for name in ("record_voltages", "record_rates"):
        idx = np.asarray(args[name], dtype=int).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= N):
            raise ValueError(f"{name} indices must lie in [0, {N}), got {idx.min()}..{idx.max()}")
        chosen[name] = tuple(int(i) for i in idx)
    opts = SimOptions(spike_mode=args["spike_mode"], greedy_cap=int(args["greedy_cap"]),
                      delay_steps=int(args["delay_steps"]),
                      refractory_steps=int(args["refractory_steps"]),
                      record_currents=bool(args["record_currents"]),
                      track_balance=bool(args["track_balance"]),
                      chunk_steps=int(args["chunk_steps"]), **chosen)
    pert = args["perturbations"]
    check_perturbations(pert, N, c.shape[-2])
    if opts.spike_mode != "one":
        check_drive_margin(params, c.reshape(-1, params.n_dims))
    return params, c, opts, every, capacity, pert


def _check_state(state, net: SCNParams, opts: SimOptions) -> None:
    if not isinstance(state, SCNState):
        raise ValueError(f"state0 must be an SCNState (result.final), got {type(state).__name__}")
    N, D = net.n_neurons, net.n_dims
    require_shape("state0.V", np.asarray(state.V), (N,))
    require_shape("state0.readout", np.asarray(state.readout), (D,))
    require_shape("state0.ring", np.asarray(state.ring), (opts.delay_steps, N))


# ------------------------------------------------------------------------------ kernel
def _run(net: SCNParams, c, key, pert, state0: SCNState, *, opts: SimOptions, capacity: int,
         every: int, noisy: bool) -> SCNResult:
    """One trial (traceable): the step wrapped with event storage and accumulators."""
    N = net.n_neurons
    f = state0.V.dtype
    n_steps = c.shape[0]
    sel_v = jnp.asarray(opts.record_voltages, jnp.int32)
    sel_r = jnp.asarray(opts.record_rates, jnp.int32)
    step0 = state0.step

    def body(carry, inputs):
        state, spikes, margins, counts, e_acc, i_acc, cur, max_n, bursts, caps = carry
        index = state.step - step0
        state, rec = step(net, state, inputs, options=opts, perturbations=pert)
        spikes, margins = K.append_events(spikes, margins, rec.time, rec.spike_senders,
                                          rec.spike_margins, rec.spike_mask)
        target = jnp.where(rec.spike_mask, rec.spike_senders, N)
        counts = counts.at[target].add(rec.spike_mask.astype(jnp.int32), mode="drop")
        if opts.track_balance:
            e_acc, i_acc = e_acc + rec.input_e, i_acc + rec.input_i
        out = {"readout": rec.readout, "voltages": rec.voltages[sel_v], "rates": rec.rates[sel_r]}
        if opts.record_currents:
            now = jnp.stack([rec.input_e[sel_v], rec.input_i[sel_v]]) / net.dt
            cur, out["currents"] = K.block_mean(cur, now, index, every)
        carry = (state, spikes, margins, counts, e_acc, i_acc, cur,
                 jnp.maximum(max_n, rec.n_spikes), bursts + rec.burst.astype(jnp.int32),
                 caps + rec.cap_hit.astype(jnp.int32))
        return carry, out

    zero = jnp.zeros((), jnp.int32)
    carry = (state0, empty_spikes(capacity, f), jnp.full((capacity,), jnp.nan, f),
             jnp.zeros(N, jnp.int32), jnp.zeros(N, f), jnp.zeros(N, f),
             jnp.zeros((2, sel_v.shape[0]), f), zero, zero, zero)
    chunk = K.chunk_layout(n_steps, N, every, opts.chunk_steps)
    carry, rec = K.scan_network(body, carry, c, key, step0, every=every, chunk=chunk,
                                n_noise=N if noisy else 0, sizes=(N,))
    state, spikes, margins, counts, e_acc, i_acc, _, max_n, bursts, caps = carry
    n_rec = n_steps // every
    times = (step0 + (jnp.arange(n_rec) + 1) * every).astype(f) * net.dt
    currents = rec.get("currents", jnp.zeros((n_rec, 2, 0), f))
    return SCNResult(
        spikes=spikes, margins=margins, times=times, readout=rec["readout"],
        voltages=rec["voltages"], rates=rec["rates"], currents_e=currents[:, 0],
        currents_i=currents[:, 1], spike_counts=counts, e_input=e_acc, i_input=i_acc,
        max_spikes_per_step=max_n, n_bursts=bursts, n_cap_hits=caps, voltage_neurons=sel_v,
        rate_neurons=sel_r, final=state)


def multistep_applies(opts: SimOptions, pert, noisy: bool) -> bool:
    """True when the event-driven kernel (:func:`bayesnn.scn.network.eventdriven.
    run_event_driven`) runs the simulation: one spike per step, no noise, no delays, no
    refractory period, no perturbations, no current or balance records. It computes the
    same model as stepping :func:`step`, in closed form between spikes (the same spikes;
    voltages to round-off)."""
    return (opts.spike_mode == "one" and not noisy and pert is None and opts.delay_steps == 0
            and opts.refractory_steps == 0 and not opts.record_currents
            and not opts.track_balance)


def _run_events(net, c, key, state0, *, opts, capacity, every):
    return run_event_driven(net, c, key, state0, sel_v=opts.record_voltages,
                            sel_r=opts.record_rates, capacity=capacity, every=every)


def _run_any(net, c, key, pert, state0, *, opts, capacity, every, noisy, multistep):
    if multistep and multistep_applies(opts, pert, noisy):
        return _run_events(net, c, key, state0, opts=opts, capacity=capacity, every=every)
    return _run(net, c, key, pert, state0, opts=opts, capacity=capacity, every=every,
                noisy=noisy)


_STATIC = ("opts", "capacity", "every", "noisy", "multistep")


@partial(jax.jit, static_argnames=_STATIC)
def _simulate_core(net, c, key, pert, state0, x0=None, *, opts, capacity, every, noisy,
                   multistep=True):
    if x0 is not None:  # the closed form at rest, V = Gamma^T x0 (init_state)
        state0 = state0._replace(V=x0 @ net.Gamma)
    return _run_any(net, c, key, pert, state0, opts=opts, capacity=capacity, every=every,
                    noisy=noisy, multistep=multistep)


@partial(jax.jit, static_argnames=_STATIC + ("lanes",))
def _trials_core(net, c, keys, pert, state0, *, opts, capacity, every, noisy, multistep=True,
                 lanes=1):
    if multistep and multistep_applies(opts, pert, noisy):
        # Trials one after another (lax.map) in ``lanes`` independent loops over
        # contiguous groups of trials, which XLA's CPU runtime runs on concurrent threads.
        # Vmapped instead, the trials' different spike times made the batched loop run
        # every trial's iterations (11x slower, W2). Each trial runs the same program
        # body whatever the grouping: results do not depend on ``lanes``.
        one = lambda a: _run_events(net, a[0], a[1], a[2], opts=opts, capacity=capacity,
                                    every=every)
        bounds = [len(keys) * g // lanes for g in range(lanes + 1)]
        parts = [jax.lax.map(one, jax.tree_util.tree_map(lambda x, lo=lo, hi=hi: x[lo:hi],
                                                          (c, keys, state0)))
                 for lo, hi in zip(bounds[:-1], bounds[1:])]
        return jax.tree_util.tree_map(lambda *x: jnp.concatenate(x), *parts)

    def one(c_k, key_k, state_k):
        return _run(net, c_k, key_k, pert, state_k, opts=opts, capacity=capacity,
                    every=every, noisy=noisy)
    return jax.vmap(one)(c, keys, state0)


def _cpu_lanes(n_trials: int) -> int:
    """Concurrent trial loops for a batch: the CPU cores this process may use (its
    affinity, so ``taskset -c 0`` gives 1), at most the number of trials."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(n_trials, cores))
