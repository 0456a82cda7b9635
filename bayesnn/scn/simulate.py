r"""Simulating spike-coding networks on the bayesnn core.

One step k (dt in seconds; ``r~`` traces, see :mod:`bayesnn.scn.network`)::

    1. integrate   V <- V + dt (-lambda_V V + Gamma^T c_k + Gamma^T M x_hat + kappa r~)
                         + sigma_V sqrt(dt) xi_k,            xi_k ~ N(0, I)
                   (slow input uses the traces *before* their decay: exact closed form)
    2. decay       r~ <- (1 - lambda_d dt) r~,   x_hat <- (1 - lambda_d dt) x_hat
    3. delayed     V <- V - Omega_f,offdiag s_{k - delay}       (only if delay_steps > 0)
    4. spikes      resolve candidates z = V - T (alive, not refractory) by spike_mode;
                   each spike of i: V <- V - Omega_f[:, i]  (self part only if delayed),
                   r~_i += 1, x_hat += Gamma_i; event (t = (k + 1) dt, i) recorded.

With ``x_{k+1} = x_k + dt (A x_k + c_k)`` and ``A = -lambda_V I`` (the integrator with
``lambda_V = 0``, or the autoencoder) this keeps ``V = Gamma^T (x - x_hat) - mu
lambda_d^2 r~`` to round-off, and every spike lowers the loss by ``2 (V_i - T_i)``.

Spike modes (``SimOptions.spike_mode``):

- ``"one"`` (default): at most one spike per step, the neuron with the largest
  ``V - T > 0``; exact ties are broken at random (random cyclic offset per step).
  Other candidates wait a step. Implemented as max + first index equal to it, which
  is faster than ``argmax`` inside ``lax.scan`` on CPU.
- ``"all"``: every supra-threshold neuron fires (demonstrates ping-pong).
- ``"greedy"``: sequential within the step: fire the max, apply its column, re-check
  (capped at ``greedy_cap`` spikes per step).

Recording scales with spikes, not N x T: spikes are events (:class:`EventBuffer`),
plus the readout and chosen neurons' voltages / traces / E and I input currents,
decimated by ``record_every``. Inputs (noise, tie-break draws) are generated chunk by
chunk with :func:`bayesnn.core.scan_steps_chunked`. Trials are batched with
:func:`bayesnn.core.run_trials`, one PRNG key per trial.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core import (
    EventBuffer,
    append_events,
    empty_buffer,
    run_trials,
    scan_steps_chunked,
    split_trial_keys,
)
from bayesnn.core.validation import as_array, require_shape
from bayesnn.scn.network import SCNParams, check_drive_margin

__all__ = [
    "SimOptions",
    "Perturbations",
    "SCNState",
    "SCNResult",
    "make_perturbations",
    "initial_state",
    "simulate",
    "simulate_trials",
    "spike_events",
]

SPIKE_MODES = ("one", "all", "greedy")
NEVER = np.iinfo(np.int32).max


class SimOptions(NamedTuple):
    """Static simulation options (hashable).

    Fields:
        spike_mode: "one" (default), "all" or "greedy".
        greedy_cap: most spikes per step in "greedy" mode (0: N).
        delay_steps: synaptic delay of the lateral fast connections, in steps (the
            self-reset stays instantaneous).
        refractory_steps: a neuron cannot spike within this many steps after a spike.
        record_voltages: neuron indices whose V (after each step) is recorded.
        record_rates: neuron indices whose trace r~ is recorded.
        record_currents: also record E and I input currents (per second) of the
            ``record_voltages`` neurons.
        record_every: keep every k-th record (must divide the number of steps).
        track_balance: accumulate per-neuron integrated E and I inputs (N,).
        capacity: spike-event slots per trial (0: number of steps).
        chunk_steps: steps per generated input chunk (0: automatic, bounded memory).
    """

    spike_mode: str = "one"
    greedy_cap: int = 0
    delay_steps: int = 0
    refractory_steps: int = 0
    record_voltages: tuple = ()
    record_rates: tuple = ()
    record_currents: bool = False
    record_every: int = 1
    track_balance: bool = False
    capacity: int = 0
    chunk_steps: int = 0


class Perturbations(NamedTuple):
    """Perturbations applied from a given step on (a pytree; build with
    :func:`make_perturbations`).

    Fields:
        silence_mask: (N,) bool, neurons that stop spiking from ``silence_step``.
        silence_step: () int32.
        thresholds_after: (N,) thresholds used from ``threshold_step``.
        threshold_step: () int32.
        extra_sigma: () extra voltage-noise amplitude from ``noise_step`` (added in
            quadrature to sigma_v).
        noise_step: () int32.
    """

    silence_mask: jnp.ndarray
    silence_step: jnp.ndarray
    thresholds_after: jnp.ndarray
    threshold_step: jnp.ndarray
    extra_sigma: jnp.ndarray
    noise_step: jnp.ndarray


class SCNState(NamedTuple):
    """Network state: V (N,), rates r~ (N,), readout x_hat (D,), step () int32,
    last_spike (N,) int32 step of the last spike, ring (delay, N) pending spikes."""

    V: jnp.ndarray
    rates: jnp.ndarray
    readout: jnp.ndarray
    step: jnp.ndarray
    last_spike: jnp.ndarray
    ring: jnp.ndarray


class SCNResult(NamedTuple):
    """Output of :func:`simulate` (leading trial axis for :func:`simulate_trials`).

    Fields:
        spikes: EventBuffer of spike events (times in s, senders = neuron index).
        margins: (capacity,) V_i - T_i just before each spike (NaN in unused slots);
            the loss change of that spike is ``-2 * margin``.
        times: (R,) record times in s (record r is after step (r + 1) * record_every - 1).
        readout: (R, D) x_hat.
        voltages: (R, len(record_voltages)).  rates: (R, len(record_rates)).
        currents_e, currents_i: (R, len(record_voltages)) E and I input (per second;
            empty unless record_currents).
        spike_counts: (N,) spikes per neuron.
        e_input, i_input: (N,) time-integrated excitatory / inhibitory input (zeros
            unless track_balance).
        max_spikes_per_step: () largest number of spikes in one step.
        n_bursts: () steps with > 10 spikes whose kernels sum to ~0 (net-zero burst).
        n_cap_hits: () steps where "greedy" hit greedy_cap.
        final: SCNState after the last step.
    """

    spikes: EventBuffer
    margins: jnp.ndarray
    times: jnp.ndarray
    readout: jnp.ndarray
    voltages: jnp.ndarray
    rates: jnp.ndarray
    currents_e: jnp.ndarray
    currents_i: jnp.ndarray
    spike_counts: jnp.ndarray
    e_input: jnp.ndarray
    i_input: jnp.ndarray
    max_spikes_per_step: jnp.ndarray
    n_bursts: jnp.ndarray
    n_cap_hits: jnp.ndarray
    final: SCNState


def make_perturbations(
    net: SCNParams,
    silence=None,
    silence_time: float | None = None,
    thresholds=None,
    threshold_time: float | None = None,
    extra_noise: float = 0.0,
    noise_time: float | None = None,
) -> Perturbations:
    """Perturbations for robustness studies (times in s, converted to steps).

    Args:
        silence: indices or (N,) bool mask of neurons silenced from ``silence_time``.
        thresholds: (N,) or scalar new thresholds (> 0) from ``threshold_time``.
        extra_noise: extra voltage-noise amplitude (>= 0) from ``noise_time``.
    """
    N = net.n_neurons
    dt = float(net.dt)

    def to_step(name, t):
        if t is None:
            return NEVER
        t = float(as_array(name, t, ndim=0))
        if t < 0:
            raise ValueError(f"{name} must be >= 0 s, got {t}")
        return int(round(t / dt))

    mask = np.zeros(N, bool)
    if silence is not None:
        s = np.asarray(silence)
        if s.dtype == bool:
            require_shape("silence", s, (N,))
            mask = s.copy()
        else:
            s = s.astype(int).ravel()
            if s.size and (s.min() < 0 or s.max() >= N):
                raise ValueError(f"silence indices must lie in [0, {N}), got {s.min()}..{s.max()}")
            mask[s] = True
        if silence_time is None:
            silence_time = 0.0
    T_after = np.asarray(net.thresholds)
    if thresholds is not None:
        T_new = as_array("thresholds", thresholds)
        if np.any(T_new <= 0):
            raise ValueError("thresholds must be > 0")
        T_after = np.broadcast_to(T_new, (N,)).astype(float) if T_new.ndim == 0 else \
            require_shape("thresholds", T_new, (N,))
        if threshold_time is None:
            threshold_time = 0.0
    extra = float(as_array("extra_noise", extra_noise, ndim=0))
    if extra < 0:
        raise ValueError(f"extra_noise must be >= 0, got {extra}")
    if extra > 0 and noise_time is None:
        noise_time = 0.0
    f = jnp.result_type(float)
    return Perturbations(
        silence_mask=jnp.asarray(mask),
        silence_step=jnp.asarray(to_step("silence_time", silence_time) if silence is not None else NEVER, jnp.int32),
        thresholds_after=jnp.asarray(T_after, f),
        threshold_step=jnp.asarray(to_step("threshold_time", threshold_time) if thresholds is not None else NEVER, jnp.int32),
        extra_sigma=jnp.asarray(extra, f),
        noise_step=jnp.asarray(to_step("noise_time", noise_time) if extra > 0 else NEVER, jnp.int32),
    )


def initial_state(net: SCNParams, x0=None, delay_steps: int = 0) -> SCNState:
    """State at t = 0 with no spikes yet: ``V = Gamma^T x0`` (the closed form), r~ = 0."""
    D, N = net.n_dims, net.n_neurons
    f = jnp.result_type(float)
    V = jnp.zeros(N, f)
    if x0 is not None:
        x0 = require_shape("x0", as_array("x0", x0, ndim=1), (D,))
        V = jnp.asarray(x0 @ np.asarray(net.Gamma), f)
    return SCNState(V=V, rates=jnp.zeros(N, f), readout=jnp.zeros(D, f),
                    step=jnp.zeros((), jnp.int32),
                    last_spike=jnp.full(N, -(10**6), jnp.int32),
                    ring=jnp.zeros((max(delay_steps, 0), N), f))


# ------------------------------------------------------------------------ step kernel
class _Carry(NamedTuple):
    state: SCNState
    buffer: EventBuffer
    margins: jnp.ndarray
    counts: jnp.ndarray
    e_acc: jnp.ndarray
    i_acc: jnp.ndarray
    max_step: jnp.ndarray
    n_bursts: jnp.ndarray
    n_cap: jnp.ndarray


def _append(buffer, margins, t, senders, values, mask):
    """append_events plus a parallel per-event value array (same slots)."""
    mask = jnp.asarray(mask, bool)
    positions = buffer.count + jnp.cumsum(mask.astype(jnp.int32)) - 1
    target = jnp.where(mask & (positions < margins.shape[0]), positions, margins.shape[0])
    margins = margins.at[target].set(jnp.broadcast_to(values, mask.shape).astype(margins.dtype), mode="drop")
    return append_events(buffer, t, senders, mask), margins


def _make_step(net: SCNParams, pert: Perturbations, opts: SimOptions, use_noise: bool):
    G = net.Gamma
    D, N = G.shape
    dt = net.dt
    decay = 1.0 - net.lambda_d * dt
    cq = net.cost_quad
    rx = net.reset_extra
    gsq = net.gamma_sq
    delay = opts.delay_steps
    refr = opts.refractory_steps
    cap = opts.greedy_cap or N
    arange = jnp.arange(N, dtype=jnp.int32)
    need_s = delay > 0 or opts.track_balance or opts.record_currents or opts.spike_mode != "one"
    min_norm = jnp.sqrt(jnp.min(gsq))
    sel_v = jnp.asarray(opts.record_voltages, jnp.int32)
    sel_r = jnp.asarray(opts.record_rates, jnp.int32)

    def pick(z, off):
        """Index of the max of z, random cyclic tie-break; and that max."""
        m = jnp.max(z)
        rank = jnp.where(arange >= off, arange - off, arange - off + N)
        j = jnp.min(jnp.where(z == m, rank, N))
        return jnp.where(j + off >= N, j + off - N, j + off), m

    def fire_one(V, r, xh, idx, fire):
        g = G[:, idx]
        firef = fire.astype(V.dtype)
        if delay > 0:
            V = V.at[idx].add(-firef * (gsq[idx] + cq + rx[idx]))
        else:
            V = V - firef * (g @ G)
            V = V.at[idx].add(-firef * (cq + rx[idx]))
        return V, r.at[idx].add(firef), xh + firef * g

    def step(carry: _Carry, inputs):
        c_k, noise_k, off = inputs
        st = carry.state
        k = st.step
        t = (k + 1).astype(dt.dtype) * dt
        T = jnp.where(k >= pert.threshold_step, pert.thresholds_after, net.thresholds)
        alive = ~(pert.silence_mask & (k >= pert.silence_step))
        V, r, xh = st.V, st.rates, st.readout
        ff = c_k @ G
        slow = (net.slow_matrix @ xh) @ G + net.kappa * r
        V = V + dt * (-net.lambda_v * V + ff + slow)
        if use_noise:
            sig = jnp.where(k >= pert.noise_step,
                            jnp.sqrt(net.sigma_v ** 2 + pert.extra_sigma ** 2), net.sigma_v)
            V = V + sig * jnp.sqrt(dt) * noise_k
        r = r * decay
        xh = xh * decay
        lat_delayed = None
        ring = st.ring
        if delay > 0:
            slot = k % delay
            s_del = ring[slot]
            lat_delayed = -(G @ s_del) @ G + gsq * s_del
            V = V + lat_delayed
        eligible = alive
        if refr > 0:
            eligible = eligible & (k - st.last_spike > refr)
        buffer, margins = carry.buffer, carry.margins
        n_cap = carry.n_cap
        if opts.spike_mode == "one":
            z = jnp.where(eligible, V - T, -jnp.inf)
            idx, m = pick(z, off)
            fire = m > 0
            V, r, xh = fire_one(V, r, xh, idx, fire)
            buffer, margins = _append(buffer, margins, t[None], idx[None], m[None], fire[None])
            s = jnp.zeros(N, V.dtype).at[idx].set(fire.astype(V.dtype)) if need_s else None
            counts = carry.counts.at[idx].add(fire.astype(carry.counts.dtype))
            n_step = fire.astype(jnp.int32)
            last = jnp.where(fire, st.last_spike.at[idx].set(k), st.last_spike) if refr > 0 else st.last_spike
        elif opts.spike_mode == "all":
            z = jnp.where(eligible, V - T, -jnp.inf)
            mask = z > 0
            s = mask.astype(V.dtype)
            g = G @ s
            if delay > 0:
                V = V - (gsq + cq + rx) * s
            else:
                V = V - g @ G - (cq + rx) * s
            r = r + s
            xh = xh + g
            buffer, margins = _append(buffer, margins, t, arange, z, mask)
            counts = carry.counts + mask.astype(carry.counts.dtype)
            n_step = jnp.sum(mask, dtype=jnp.int32)
            last = jnp.where(mask, k, st.last_spike)
        else:  # greedy
            def cond(loop):
                V_, r_, xh_, buf_, mar_, s_, n_ = loop
                z_ = jnp.where(eligible & (s_ == 0 if refr > 0 else True), V_ - T, -jnp.inf)
                return (jnp.max(z_) > 0) & (n_ < cap)

            def body(loop):
                V_, r_, xh_, buf_, mar_, s_, n_ = loop
                z_ = jnp.where(eligible & (s_ == 0 if refr > 0 else True), V_ - T, -jnp.inf)
                idx_, m_ = pick(z_, off)
                V_, r_, xh_ = fire_one(V_, r_, xh_, idx_, jnp.asarray(True))
                buf_, mar_ = _append(buf_, mar_, t[None], idx_[None], m_[None], jnp.ones(1, bool))
                return V_, r_, xh_, buf_, mar_, s_.at[idx_].add(1.0), n_ + 1

            V, r, xh, buffer, margins, s, n_step = jax.lax.while_loop(
                cond, body, (V, r, xh, buffer, margins, jnp.zeros(N, V.dtype), jnp.zeros((), jnp.int32)))
            counts = carry.counts + s.astype(carry.counts.dtype)
            n_cap = n_cap + (n_step >= cap).astype(jnp.int32)
            last = jnp.where(s > 0, k, st.last_spike)
        n_bursts = carry.n_bursts
        if opts.spike_mode != "one":
            burst = (n_step > 10) & (jnp.linalg.norm(G @ s) < 0.5 * min_norm)
            n_bursts = n_bursts + burst.astype(jnp.int32)
        if delay > 0:
            ring = ring.at[k % delay].set(s)
        e_acc, i_acc = carry.e_acc, carry.i_acc
        e_now = i_now = None
        if opts.track_balance or opts.record_currents:
            lat = lat_delayed if delay > 0 else -(G @ s) @ G + gsq * s
            parts = (ff * dt, slow * dt, lat)
            e_now = sum(jnp.maximum(p, 0) for p in parts)
            i_now = sum(jnp.maximum(-p, 0) for p in parts)
            if opts.track_balance:
                e_acc = e_acc + e_now
                i_acc = i_acc + i_now
        new_state = SCNState(V=V, rates=r, readout=xh, step=k + 1, last_spike=last, ring=ring)
        record = {"readout": xh, "voltages": V[sel_v], "rates": r[sel_r]}
        if opts.record_currents:
            record["currents_e"] = e_now[sel_v] / dt
            record["currents_i"] = i_now[sel_v] / dt
        new_carry = _Carry(new_state, buffer, margins, counts, e_acc, i_acc,
                           jnp.maximum(carry.max_step, n_step), n_bursts, n_cap)
        return new_carry, record

    return step


def _chunk_layout(n_steps: int, N: int, opts: SimOptions) -> tuple[int, int, int]:
    """(steps per chunk, number of full chunks, remainder steps)."""
    every = opts.record_every
    target = opts.chunk_steps or int(np.clip(2**19 // max(N, 1), 16, 2048))
    L = every * max(1, int(round(target / every)))
    L = min(L, every * (n_steps // every))
    return L, n_steps // L, n_steps - (n_steps // L) * L


@partial(jax.jit, static_argnames=("opts", "n_steps", "use_noise"))
def _simulate_core(net, c, key, pert, state0, *, opts: SimOptions, n_steps: int, use_noise: bool):
    N = net.n_neurons
    f = state0.V.dtype
    capacity = opts.capacity or n_steps
    L = _chunk_layout(n_steps, N, opts)[0]
    step = _make_step(net, pert, opts, use_noise)
    carry = _Carry(
        state=state0, buffer=empty_buffer(capacity, f),
        margins=jnp.full((capacity,), jnp.nan, f),
        counts=jnp.zeros(N, jnp.int32), e_acc=jnp.zeros(N, f), i_acc=jnp.zeros(N, f),
        max_step=jnp.zeros((), jnp.int32), n_bursts=jnp.zeros((), jnp.int32),
        n_cap=jnp.zeros((), jnp.int32))

    def inputs_for(chunk_index, length):
        start = chunk_index * L
        c_chunk = jax.lax.dynamic_slice(c, (start, 0), (length, c.shape[1]))
        k = jax.random.fold_in(key, chunk_index)
        noise = (jax.random.normal(jax.random.fold_in(k, 0), (length, N), f) if use_noise
                 else jnp.zeros((length, 0), f))
        off = jax.random.randint(jax.random.fold_in(k, 1), (length,), 0, N, jnp.int32)
        return c_chunk, noise, off

    every = opts.record_every
    carry, records = scan_steps_chunked(step, carry, inputs_for, n_steps, L, every)
    n_rec = n_steps // every
    times = (jnp.arange(n_rec, dtype=f) + 1) * every * net.dt
    empty = jnp.zeros((n_rec, 0), f)
    return SCNResult(
        spikes=carry.buffer, margins=carry.margins, times=times, readout=records["readout"],
        voltages=records["voltages"], rates=records["rates"],
        currents_e=records.get("currents_e", empty), currents_i=records.get("currents_i", empty),
        spike_counts=carry.counts, e_input=carry.e_acc, i_input=carry.i_acc,
        max_spikes_per_step=carry.max_step, n_bursts=carry.n_bursts, n_cap_hits=carry.n_cap,
        final=carry.state)


def _validate(net: SCNParams, c, opts: SimOptions, x0, state0, pert):
    if not isinstance(net, SCNParams):
        raise ValueError(f"net must be an SCNParams (see make_network), got {type(net).__name__}")
    D, N = net.n_dims, net.n_neurons
    c = as_array("c", c, ndim=2)
    if c.shape[0] < 1:
        raise ValueError("c must have at least one time step, got shape (0, D)")
    require_shape("c", c, (None, D))
    if opts.spike_mode not in SPIKE_MODES:
        raise ValueError(f"spike_mode must be one of {SPIKE_MODES}, got {opts.spike_mode!r}")
    for name in ("greedy_cap", "delay_steps", "refractory_steps", "capacity", "chunk_steps"):
        value = getattr(opts, name)
        if not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    if not isinstance(opts.record_every, (int, np.integer)) or opts.record_every < 1:
        raise ValueError(f"record_every must be an integer >= 1, got {opts.record_every!r}")
    if c.shape[0] % opts.record_every:
        raise ValueError(f"record_every must divide the number of steps {c.shape[0]}, got {opts.record_every}")
    for name in ("record_voltages", "record_rates"):
        idx = np.asarray(getattr(opts, name), int)
        if idx.size and (idx.min() < 0 or idx.max() >= N):
            raise ValueError(f"{name} indices must lie in [0, {N}), got {idx.min()}..{idx.max()}")
    if x0 is not None and state0 is not None:
        raise ValueError("x0 and state0 are exclusive: give one of them")
    if state0 is not None:
        require_shape("state0.V", np.asarray(state0.V), (N,))
        require_shape("state0.readout", np.asarray(state0.readout), (D,))
        require_shape("state0.ring", np.asarray(state0.ring), (opts.delay_steps, N))
    if pert is not None:
        require_shape("perturbations.silence_mask", np.asarray(pert.silence_mask), (N,))
    if opts.spike_mode != "one":
        check_drive_margin(net, c)
    return c


def _canon_opts(opts: SimOptions | None, kwargs) -> SimOptions:
    opts = (opts or SimOptions())._replace(**kwargs)
    return opts._replace(record_voltages=tuple(int(i) for i in opts.record_voltages),
                         record_rates=tuple(int(i) for i in opts.record_rates))


def simulate(net: SCNParams, c, key=None, *, x0=None, state0: SCNState | None = None,
             perturbations: Perturbations | None = None, options: SimOptions | None = None,
             allow_overflow: bool = False, **option_kwargs) -> SCNResult:
    """Simulate one trial of ``len(c)`` steps.

    Args:
        net: network from :func:`bayesnn.scn.make_network` (or make_autoencoder...).
        c: (T, D) input per step (units of x per second); the target obeys
            ``x_{k+1} = x_k + dt (A x_k + c_k)``.
        key: PRNG key (voltage noise, tie-breaking); default ``PRNGKey(0)``.
        x0: (D,) initial target (V starts at its closed form ``Gamma^T x0``).
        state0: continue from a previous :class:`SCNState` (exclusive with x0).
        perturbations: from :func:`make_perturbations`.
        options / option_kwargs: :class:`SimOptions` fields.
        allow_overflow: return even if more spikes than ``capacity`` were emitted
            (events past the capacity are dropped; counts stay exact).

    Returns:
        :class:`SCNResult`. Raises ValueError on bad input (before simulating) and
        RuntimeError if the event buffer overflowed and ``allow_overflow`` is False.
    """
    opts = _canon_opts(options, option_kwargs)
    c = _validate(net, c, opts, x0, state0, perturbations)
    pert = perturbations if perturbations is not None else make_perturbations(net)
    state = state0 if state0 is not None else initial_state(net, x0, opts.delay_steps)
    key = jax.random.PRNGKey(0) if key is None else key
    use_noise = float(net.sigma_v) > 0 or float(pert.extra_sigma) > 0
    f = jnp.result_type(float)
    result = _simulate_core(net, jnp.asarray(c, f), key, pert, state, opts=opts,
                            n_steps=int(c.shape[0]), use_noise=use_noise)
    _check_overflow(result, allow_overflow)
    return result


def simulate_trials(net: SCNParams, c, key, n_trials: int, *, x0=None,
                    perturbations: Perturbations | None = None,
                    options: SimOptions | None = None, allow_overflow: bool = False,
                    **option_kwargs) -> SCNResult:
    """``n_trials`` independent trials (vmap), trial k using key ``fold_in(key, k)``
    (:func:`bayesnn.core.split_trial_keys`): trial k is identical whatever ``n_trials``.
    Every field of the result gains a leading trial axis."""
    opts = _canon_opts(options, option_kwargs)
    c = _validate(net, c, opts, x0, None, perturbations)
    pert = perturbations if perturbations is not None else make_perturbations(net)
    state = initial_state(net, x0, opts.delay_steps)
    use_noise = float(net.sigma_v) > 0 or float(pert.extra_sigma) > 0
    keys = split_trial_keys(key, n_trials)
    f = jnp.result_type(float)
    result = _trials_core(keys, net, jnp.asarray(c, f), pert, state, opts=opts,
                          n_steps=int(c.shape[0]), use_noise=use_noise)
    _check_overflow(result, allow_overflow)
    return result


@partial(jax.jit, static_argnames=("opts", "n_steps", "use_noise"))
def _trials_core(keys, net, c, pert, state, *, opts, n_steps, use_noise):
    def one(key, net, c, pert, state):
        return _simulate_core(net, c, key, pert, state, opts=opts, n_steps=n_steps,
                              use_noise=use_noise)
    return run_trials(one, keys, net, c, pert, state)


def _check_overflow(result: SCNResult, allow: bool) -> None:
    if allow:
        return
    count = np.asarray(result.spikes.count)
    capacity = result.spikes.times.shape[-1]
    if np.any(count > capacity):
        raise RuntimeError(
            f"spike event buffer overflowed: {int(count.max())} spikes > capacity {capacity}; "
            "pass a larger capacity= (or allow_overflow=True to keep only counts)")


def spike_events(result: SCNResult, trial: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stored spikes as NumPy arrays (times in s, neuron indices, margins V - T)."""
    buf, margins = result.spikes, result.margins
    if trial is not None:
        buf = jax.tree_util.tree_map(lambda a: a[trial], buf)
        margins = margins[trial]
    n = int(min(int(buf.count), buf.times.shape[-1]))
    return np.asarray(buf.times[:n]), np.asarray(buf.senders[:n]), np.asarray(margins[:n])
