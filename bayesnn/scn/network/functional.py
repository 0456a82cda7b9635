r"""Pure step functions of the spike-coding networks (the Norse habit): a documented
state, ``init_state(params, ...)`` and ``step(params, state, inputs_t) -> (state,
record_t)``. :func:`bayesnn.scn.simulate` and :func:`bayesnn.scn.simulate_dale` run
exactly these steps through :func:`bayesnn.core.scan_steps_chunked`; write your own
loop to couple models or put a learning rule in the loop::

    @jax.jit
    def run(params, state, inputs):         # params as data: one program for all values
        return jax.lax.scan(lambda s, i: step(params, s, i), state, inputs)

    inputs = step_inputs(params, c, key=0)  # StepInputs with a leading T axis
    final, records = run(params, init_state(params, x0=x[0]), inputs)
    # == simulate(params, c, key=0, x0=x[0]) step for step, bit for bit

(Pass ``params`` as an argument of the jitted function, as above: closed over as a
constant, XLA may fold derived weights at compile time with a different rounding.)

**B13 step** k (:class:`SCNParams`; dt in s, ``r~`` traces, Boerlin et al. 2013 Eqs. 1-9)::

    1. integrate   V <- V + dt (-lambda_V V + Gamma^T c_k + Gamma^T M x_hat + kappa r~)
                         + sigma_V sqrt(dt) xi_k,            xi_k ~ N(0, I)
                   (slow input uses the traces *before* their decay: exact closed form)
    2. decay       r~ <- (1 - lambda_d dt) r~,   x_hat <- (1 - lambda_d dt) x_hat
    3. delayed     V <- V - Omega_f,offdiag s_{k - delay}       (only if delay_steps > 0)
    4. spikes      resolve candidates z = V - T (alive, not refractory) by spike_mode;
                   each spike of i: V <- V - Omega_f[:, i]  (self part only if delayed),
                   r~_i += 1, x_hat += Gamma_i; event (t = (k + 1) dt, i, margin z_i).

With ``x_{k+1} = x_k + dt (A x_k + c_k)`` and ``A = -lambda_V I`` (the integrator with
``lambda_V = 0``, or the autoencoder) this keeps ``V = Gamma^T (x - x_hat) - mu
lambda_d^2 r~`` to round-off, and every spike lowers the loss by ``2 (V_i - T_i)``.

Spike modes (``SimOptions.spike_mode``): ``"one"`` (default; at most one spike per
step, the largest ``V - T > 0``, exact ties broken at random), ``"all"`` (every
supra-threshold neuron fires: the ping-pong demonstration), ``"greedy"`` (sequential
within the step: fire the max, apply its column, re-check; at most ``greedy_cap``).

The E/I network (Barrett et al. 2016) has its own step functions in
:mod:`bayesnn.scn.dale.functional`.
"""
from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.params import to_device
from bayesnn.core.validation import as_array, require_shape
from bayesnn.scn.network.kernels import StepInputs, any_positive, draw_randomness, pick_max, run_key
from bayesnn.scn.network.params import SCNParams
from bayesnn.scn.network.perturbations import Perturbations

__all__ = ["SimOptions", "SPIKE_MODES", "SCNState", "SCNStepRecord", "StepInputs",
           "init_state", "step", "step_inputs"]

SPIKE_MODES = ("one", "all", "greedy")
_NO_SPIKE = -(10**6)  # last_spike of a neuron that has not spiked


class SimOptions(NamedTuple):
    """Static options of the B13 network (hashable; one compiled program per value).

    Fields read by :func:`step`: ``spike_mode`` ("one", "all", "greedy"),
    ``greedy_cap`` (most spikes per step in "greedy"; 0: N), ``delay_steps`` (delay of
    the lateral fast connections in steps; the self-reset stays instantaneous),
    ``refractory_steps`` (no spike within this many steps after one).
    Fields read by :func:`bayesnn.scn.simulate` only: ``record_voltages`` and
    ``record_rates`` (neuron indices recorded), ``record_currents`` (E and I input of
    the ``record_voltages`` neurons, per second, averaged over each record block),
    ``track_balance`` (time-integrated E and I input per neuron), ``chunk_steps``
    (steps per generated input chunk; 0: automatic; results do not depend on it).
    """

    spike_mode: str = "one"
    greedy_cap: int = 0
    delay_steps: int = 0
    refractory_steps: int = 0
    record_voltages: tuple = ()
    record_rates: tuple = ()
    record_currents: bool = False
    track_balance: bool = False
    chunk_steps: int = 0


class SCNState(NamedTuple):
    """State of a B13 network.

    Fields:
        V: (N,) membrane voltages (units of Gamma^T x).
        rates: (N,) unit-increment traces r~ (a spike adds 1).
        readout: (D,) x_hat = Gamma r~.
        step: () int32 index of the next step (time ``step * dt`` s).
        last_spike: (N,) int32 step of each neuron's last spike (-10^6: none).
        ring: (delay_steps, N) spikes in flight on the delayed lateral connections.
    """

    V: jax.Array
    rates: jax.Array
    readout: jax.Array
    step: jax.Array
    last_spike: jax.Array
    ring: jax.Array


class SCNStepRecord(NamedTuple):
    """What one B13 step reports (K = 1 in "one", N in "all", greedy_cap or N in "greedy").

    Fields:
        time: () end of the step, s.   readout: (D,).   voltages, rates: (N,) after it.
        spike_senders: (K,) int32 neuron of each spike (in order; -1 unused).
        spike_margins: (K,) V_i - T_i just before each spike (loss change -2 margin).
        spike_mask: (K,) bool, valid entries.   n_spikes: () int32.
        input_e, input_i: (N,) excitatory / inhibitory input during the step
            (feedforward, slow and lateral parts, self-reset excluded), units of V.
        burst: () bool, > 10 spikes whose kernels sum to ~0 (net-zero burst).
        cap_hit: () bool, "greedy" reached its cap.
    """

    time: jax.Array
    readout: jax.Array
    voltages: jax.Array
    rates: jax.Array
    spike_senders: jax.Array
    spike_margins: jax.Array
    spike_mask: jax.Array
    n_spikes: jax.Array
    input_e: jax.Array
    input_i: jax.Array
    burst: jax.Array
    cap_hit: jax.Array


def init_state(params: SCNParams, x0=None, *, delay_steps: int = 0) -> SCNState:
    """State at t = 0 with no spikes: voltages at their closed form for target ``x0``
    (D,) (default 0) with r~ = 0, i.e. ``V = Gamma^T x0``. ``delay_steps`` sizes the
    ring of delayed spikes.

    Returns :class:`SCNState`; ValueError for a bad ``x0`` or params that are not an
    :class:`SCNParams` (the E/I network: :func:`bayesnn.scn.dale_init_state`).
    """
    f = jnp.result_type(float)
    _check_params(params)
    D, N = params.n_dims, params.n_neurons
    # constant fields built by NumPy and transferred by device_put (jnp.zeros, jnp.full
    # and jnp.asarray each compile a small XLA program per shape); V = x0 Gamma stays an
    # XLA dot (NumPy's BLAS rounds differently)
    put = jax.device_put
    V = put(np.zeros(N, f))
    if x0 is not None:
        x0 = require_shape("x0", as_array("x0", x0, ndim=1), (D,))
        V = put(np.asarray(x0, f)) @ params.Gamma
    return SCNState(V=V, rates=put(np.zeros(N, f)), readout=put(np.zeros(D, f)),
                    step=put(np.zeros((), np.int32)),
                    last_spike=put(np.full(N, _NO_SPIKE, np.int32)),
                    ring=put(np.zeros((max(int(delay_steps), 0), N), f)))


def step_inputs(params: SCNParams, c, *, key: Any = 0, start_step: int = 0,
                perturbations: Perturbations | None = None) -> StepInputs:
    """The inputs :func:`bayesnn.scn.simulate` / :func:`~bayesnn.scn.simulate_dale`
    feed to :func:`step` for input ``c`` (T, D) and ``key`` (int seed or JAX key):
    :class:`StepInputs` with a leading T axis (noise (T, N), or (T, 0) when neither
    sigma_v nor the perturbations add noise). ``start_step``: absolute index of the
    first step (for continuing a run). Memory O(T N): for long runs use ``simulate``."""
    _check_params(params)
    c = to_device(as_array("c", c, ndim=2), jnp.result_type(float))
    noisy = any_positive(params.sigma_v, None if perturbations is None else perturbations.extra_sigma)
    sizes = (params.n_neurons,)
    noise, offsets = _draw_jit(run_key(key), np.asarray(start_step, np.int32),
                               length=int(c.shape[0]), n_noise=params.n_neurons if noisy else 0,
                               sizes=sizes, dtype=c.dtype)
    return StepInputs(c, noise, offsets)


@partial(jax.jit, static_argnames=("length", "n_noise", "sizes", "dtype"))
def _draw_jit(key, start, *, length, n_noise, sizes, dtype):
    """:func:`draw_randomness` as one program (eagerly, its ~35 jnp calls compiled a
    program each); the draws are those the simulation's jitted loop makes."""
    return draw_randomness(key, start, length, n_noise, sizes, dtype)


def step(params: SCNParams, state: SCNState, inputs: StepInputs, *,
         options: SimOptions = SimOptions(), perturbations: Perturbations | None = None
         ) -> tuple[SCNState, SCNStepRecord]:
    """Advance the B13 network one time step (pure; jit-, scan- and vmap-friendly);
    the E/I network's step is :func:`bayesnn.scn.dale_step`.

    Args:
        params: :class:`SCNParams`.
        state: :class:`SCNState` (from :func:`init_state`).
        inputs: one :class:`StepInputs` (c (D,), noise (N,) or (0,), offsets (1,)).
        options: :class:`SimOptions` (spike_mode, greedy_cap, delay_steps,
            refractory_steps).
        perturbations: optional :class:`Perturbations` (knock-outs, thresholds, noise).

    Returns:
        ``(new_state, record)`` with :class:`SCNStepRecord`.
    """
    return _b13_step(params, state, inputs, options, perturbations)


def _check_params(params) -> None:
    if not isinstance(params, SCNParams):
        raise ValueError(f"params must be an SCNParams (see make_network; the E/I network's "
                         f"step functions are dale_init_state, dale_step_inputs, dale_step), "
                         f"got {type(params).__name__}")


def perturbed(params, k, sigma, pert):
    """(thresholds, alive mask or True, noise amplitude) at step k."""
    if pert is None:
        return params.thresholds, True, sigma
    T = jnp.where(k >= pert.threshold_step, pert.thresholds_after, params.thresholds)
    sigma = jnp.where(k >= pert.noise_step, jnp.sqrt(sigma**2 + pert.extra_sigma**2), sigma)
    return T, k < pert.silence_step, sigma


def mat_vec(u, G):
    """``u @ G`` for u (D,) and G (D, N) as a D-term elementwise sum in a fixed order
    (d = 0, 1, ...): the same rounding in every context (one step, a vmapped batch, the
    multi-step kernel of :func:`bayesnn.scn.simulate`); a D = 2 ``dot`` is also a
    separate library call per step on CPU, this fuses with its neighbours."""
    out = u[..., 0, None] * G[0]
    for d in range(1, G.shape[0]):
        out = out + u[..., d, None] * G[d]
    return out


def integrate(net: SCNParams, V, r, xh, c, G=None):
    """Step 1 of the B13 step without noise: ``(V_new, r, xh, ff, slow)`` (r and xh not
    yet decayed; ff = Gamma^T c, slow = Omega_s-part + kappa r, per neuron). ``G``:
    columns of Gamma for a subset of neurons (V, r of that subset); default all."""
    G = net.Gamma if G is None else G
    M = net.slow_matrix
    Mx = M[:, 0] * xh[..., 0, None]
    for d in range(1, M.shape[1]):
        Mx = Mx + M[:, d] * xh[..., d, None]
    ff = mat_vec(c, G)
    slow = mat_vec(Mx, G) + net.kappa * r
    return V + net.dt * (-net.lambda_v * V + ff + slow), r, xh, ff, slow


def fire_instant(net: SCNParams, V, r, xh, idx, fire):
    """Apply one spike of neuron ``idx`` (if ``fire``) with instantaneous lateral
    connections: ``V <- V - Omega_f[:, idx]`` (self-reset extra included), r~ and x_hat
    updated."""
    G = net.Gamma
    g, firef = G[:, idx], fire.astype(V.dtype)
    V = V - firef * mat_vec(g, G)
    V = V.at[idx].add(-firef * (net.cost_quad + net.reset_extra[idx]))
    return V, r.at[idx].add(firef), xh + firef * g


def split_inputs(parts):
    """Excitatory and inhibitory totals of a tuple of signed inputs."""
    return (sum(jnp.maximum(p, 0) for p in parts), sum(jnp.maximum(-p, 0) for p in parts))


def _b13_step(net: SCNParams, state: SCNState, inputs: StepInputs, opts: SimOptions, pert):
    G = net.Gamma
    D, N = G.shape
    dt = net.dt
    decay = 1.0 - net.lambda_d * dt
    cq, rx, gsq = net.cost_quad, net.reset_extra, net.gamma_sq
    delay, refr, mode = opts.delay_steps, opts.refractory_steps, opts.spike_mode
    if mode not in SPIKE_MODES:
        raise ValueError(f"spike_mode must be one of {SPIKE_MODES}, got {mode!r}")
    if state.ring.shape[0] != delay:
        raise ValueError(f"state.ring must have {delay} rows (delay_steps), got {state.ring.shape[0]}")
    k = state.step
    t = (k + 1).astype(dt.dtype) * dt
    T, alive, sigma = perturbed(net, k, net.sigma_v, pert)
    V, r, xh, ff, slow = integrate(net, state.V, state.rates, state.readout, inputs.c)
    if inputs.noise.shape[-1]:
        V = V + sigma * jnp.sqrt(dt) * inputs.noise
    r, xh = r * decay, xh * decay
    ring = state.ring
    if delay > 0:
        pending = ring[k % delay]
        lat_delayed = -(G @ pending) @ G + gsq * pending
        V = V + lat_delayed
    eligible = jnp.broadcast_to(alive, (N,))
    if refr > 0:
        eligible = eligible & (k - state.last_spike > refr)
    offset = inputs.offsets[0]

    def fire_one(V, r, xh, idx, fire):
        if delay > 0:
            firef = fire.astype(V.dtype)
            return (V.at[idx].add(-firef * (gsq[idx] + cq + rx[idx])), r.at[idx].add(firef),
                    xh + firef * G[:, idx])
        return fire_instant(net, V, r, xh, idx, fire)

    cap_hit = jnp.zeros((), bool)
    if mode == "one":
        idx, m = pick_max(jnp.where(eligible, V - T, -jnp.inf), offset)
        fire = m > 0
        V, r, xh = fire_one(V, r, xh, idx, fire)
        senders, margins, mask = idx[None], m[None], fire[None]
        s = jnp.zeros(N, V.dtype).at[idx].set(fire.astype(V.dtype))
        n_step = fire.astype(jnp.int32)
    elif mode == "all":
        z = jnp.where(eligible, V - T, -jnp.inf)
        mask = z > 0
        s = mask.astype(V.dtype)
        g = G @ s
        V = V - (gsq + cq + rx) * s if delay > 0 else V - g @ G - (cq + rx) * s
        r, xh = r + s, xh + g
        senders, margins = jnp.arange(N, dtype=jnp.int32), z
        n_step = jnp.sum(mask, dtype=jnp.int32)
    else:  # greedy
        cap = opts.greedy_cap or N

        def candidates(V_, s_):
            ok = eligible & (s_ == 0) if refr > 0 else eligible
            return jnp.where(ok, V_ - T, -jnp.inf)

        def cond(loop):
            V_, _, _, s_, _, _, n_ = loop
            return (jnp.max(candidates(V_, s_)) > 0) & (n_ < cap)

        def body(loop):
            V_, r_, xh_, s_, snd_, mar_, n_ = loop
            idx_, m_ = pick_max(candidates(V_, s_), offset)
            V_, r_, xh_ = fire_one(V_, r_, xh_, idx_, jnp.asarray(True))
            return (V_, r_, xh_, s_.at[idx_].add(1.0), snd_.at[n_].set(idx_),
                    mar_.at[n_].set(m_), n_ + 1)

        V, r, xh, s, senders, margins, n_step = jax.lax.while_loop(cond, body, (
            V, r, xh, jnp.zeros(N, V.dtype), jnp.full(cap, -1, jnp.int32),
            jnp.zeros(cap, V.dtype), jnp.zeros((), jnp.int32)))
        mask = jnp.arange(cap) < n_step
        cap_hit = n_step >= cap
    if mode == "one":
        burst = jnp.zeros((), bool)
    else:
        burst = (n_step > 10) & (jnp.linalg.norm(G @ s) < 0.5 * jnp.sqrt(jnp.min(gsq)))
    if refr > 0:
        last = jnp.where(s > 0, k, state.last_spike)
    else:
        last = state.last_spike
    if delay > 0:
        lateral = lat_delayed
        ring = ring.at[k % delay].set(s)
    else:
        lateral = -(G @ s) @ G + gsq * s
    input_e, input_i = split_inputs((ff * dt, slow * dt, lateral))
    new_state = SCNState(V=V, rates=r, readout=xh, step=k + 1, last_spike=last, ring=ring)
    return new_state, SCNStepRecord(
        time=t, readout=xh, voltages=V, rates=r, spike_senders=senders,
        spike_margins=margins, spike_mask=mask, n_spikes=n_step, input_e=input_e,
        input_i=input_i, burst=burst, cap_hit=cap_hit)
