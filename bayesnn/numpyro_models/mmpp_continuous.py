r"""Continuous-time Markov-modulated Poisson spike train as a NumPyro ``Distribution``.

An independent reference (no ``bayesnn.exact``, ``neuron`` or ``scn`` code) for the
exact continuous-time filter. Parameters: :class:`bayesnn.processes.MMPPParams`; spike
trains: :class:`bayesnn.core.Spikes` (sender = input index).

Likelihood (Snyder 1972; Rydén 1996, Eq. 2). For events :math:`(t_j, i_j)` on
:math:`[0, D]`

.. math::

    p(\{(t_j, i_j)\}) = \mathbf{1}^\top e^{M (D - t_J)} \Lambda_{i_J} e^{M (t_J - t_{J-1})}
        \cdots \Lambda_{i_1} e^{M t_1} \pi_0,
    \quad
    M = \begin{pmatrix} -r_{on} - Q_{off} & r_{off} \\ r_{on} & -r_{off} - Q_{on}\end{pmatrix},
    \quad \Lambda_i = \mathrm{diag}(q^i_{off}, q^i_{on}),

with :math:`Q_{on|off} = \sum_i q^i_{on|off}` (state order OFF, ON), evaluated with the
closed-form :math:`2\times 2` exponential below and renormalisation after every event:
exact up to rounding, in nats with respect to Lebesgue measure on the event times.

**Filtered posterior** (:func:`continuous_filtered_prob_on`): with a terminal potential
:math:`\phi x(t)` on the prefix :math:`[0, t]`,
:math:`\partial_\phi \log p_\phi |_{\phi=0} = P(x(t) = 1 \mid \text{events} \le t)`.

**Closed-form exponential** of :math:`M = \begin{pmatrix} a & b \\ c & d\end{pmatrix}`
with :math:`b, c > 0`: with :math:`m = (a+d)/2`, :math:`h = (a-d)/2`,
:math:`s = \sqrt{h^2 + bc} > |h|`,

.. math::

    e^{M\tau} = e^{(m+s)\tau}\Bigl[\tfrac{1+\epsilon}{2} I + \tfrac{1-\epsilon}{2s}(M - mI)\Bigr],
    \qquad \epsilon = e^{-2s\tau},

with the diagonal entries written as :math:`\tfrac{1+\epsilon}{2} \pm \tfrac{1-\epsilon}{2}\tfrac{h}{s}`
and the cancellation-free :math:`\tfrac{1}{2}(1 - |h|/s) = \tfrac{bc}{2 s (s + |h|)}`.

Everything that depends on the parameters is JAX, so ``jax.grad`` of
:func:`continuous_log_likelihood` with respect to the record is exact (tested against
central finite differences).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import constraints

from bayesnn.core.params import is_traced, to_device
from bayesnn.core.precision import require_x64
from bayesnn.core.spikes import Spikes, next_power_of_two
from bayesnn.core.validation import as_array, check_spikes, require_in_range, require_positive
from bayesnn.numpyro_models.mmpp_binned import _as_model, _leaves

__all__ = ["MMPPSpikeTrain", "continuous_filtered_prob_on", "continuous_log_likelihood",
           "pack_spikes"]


def _bucket(size: int, minimum: int = 64) -> int:
    """Smallest power of two >= ``size`` (at least ``minimum``): padded lengths, so that
    inputs of similar size share one compiled function."""
    return next_power_of_two(size, minimum)


def _log_expm_2x2(matrix, tau):
    """``(log_scale, E)`` with ``expm(matrix * tau) = exp(log_scale) * E`` (module
    docstring); ``matrix`` (2, 2) with positive off-diagonal entries, ``tau >= 0`` s."""
    a, b = matrix[0, 0], matrix[0, 1]
    c, d = matrix[1, 0], matrix[1, 1]
    mean = 0.5 * (a + d)
    half = 0.5 * (a - d)
    s = jnp.sqrt(half * half + b * c)
    eps = jnp.exp(-2.0 * s * tau)
    plus = 0.5 * (1.0 + eps)
    minus = -0.5 * jnp.expm1(-2.0 * s * tau)  # (1 - eps) / 2, accurate for small tau
    ratio = jnp.abs(half) / s
    small = b * c / (2.0 * s * (s + jnp.abs(half)))  # (1 - |h|/s) / 2 without cancellation
    big_diag = plus + minus * ratio
    small_diag = eps + 2.0 * minus * small
    e00 = jnp.where(half >= 0, big_diag, small_diag)
    e11 = jnp.where(half >= 0, small_diag, big_diag)
    return (mean + s) * tau, jnp.stack([jnp.stack([e00, minus * b / s]),
                                        jnp.stack([minus * c / s, e11])])


def _continuous_loglik(params, times, channels, duration, p0, terminal_potential):
    """Exact log density of an event list, with a final log-factor ``phi * x(duration)``.
    Unnormalised forward vector (OFF, ON), renormalised after every event; channels < 0
    are padding (no jump, no propagation)."""
    r_on, r_off, q_on, q_off = params.r_on, params.r_off, params.q_on, params.q_off
    generator = jnp.stack([jnp.stack([-r_on - jnp.sum(q_off), r_off]),
                           jnp.stack([r_on, -r_off - jnp.sum(q_on)])])
    dtype = generator.dtype
    rho0 = jnp.stack([1.0 - p0, jnp.asarray(p0, dtype=dtype)])
    real = channels >= 0
    safe_channel = jnp.where(real, channels, 0)

    def step(carry, event):
        rho, log_scale, last_time = carry
        time, channel, is_real = event
        gap = jnp.where(is_real, time - last_time, 0.0)
        log_factor, propagator = _log_expm_2x2(generator, gap)
        rho = propagator @ rho
        rho = jnp.where(is_real, rho * jnp.stack([q_off[channel], q_on[channel]]), rho)
        norm = jnp.sum(rho)
        log_scale = log_scale + jnp.where(is_real, log_factor + jnp.log(norm), 0.0)
        rho = jnp.where(is_real, rho / norm, rho)
        return (rho, log_scale, jnp.where(is_real, time, last_time)), None

    init = (rho0, jnp.zeros((), dtype=dtype), jnp.zeros((), dtype=dtype))
    (rho, log_scale, last_time), _ = jax.lax.scan(step, init, (times, safe_channel, real))
    log_factor, propagator = _log_expm_2x2(generator, duration - last_time)
    rho = propagator @ rho
    weights = jnp.stack([jnp.zeros_like(terminal_potential), terminal_potential])
    return log_scale + log_factor + jax.scipy.special.logsumexp(jnp.log(rho) + weights)


class MMPPSpikeTrain(dist.Distribution):
    r"""Continuous-time Markov-modulated Poisson spike train on ``[0, duration]``.

    Value: (M, 2) array, column 0 the event times (s, non-decreasing over real events),
    column 1 the input index as a float (< 0 = padding, ignored); build it from a
    :class:`bayesnn.core.Spikes` with :func:`pack_spikes`. ``log_prob`` is the exact log
    density (module docstring), nats. The value is not validated inside ``log_prob``
    (it may be traced); :func:`continuous_log_likelihood` is the checked call.

    Args:
        params: :class:`bayesnn.processes.MMPPParams` (leaves may be traced).
        duration: observation window, s, > 0.
        initial_prob_on: P(x(0) = ON), default stationary ``r_on / (r_on + r_off)``.
        max_events: M, the padded length of values (sets ``event_shape``).
    """

    arg_constraints = {"duration": constraints.positive,
                       "initial_prob_on": constraints.unit_interval}
    support = constraints.independent(constraints.real, 2)
    pytree_data_fields = ("params", "duration", "initial_prob_on")
    pytree_aux_fields = ("max_events",)

    def __init__(self, params, duration, initial_prob_on=None, max_events: int = 1, *,
                 validate_args=None):
        self.params = _leaves(_as_model(params))
        self.duration = to_device(duration)
        self.initial_prob_on = (self.params.stationary_prob_on if initial_prob_on is None
                                else jnp.asarray(initial_prob_on))
        self.max_events = int(max_events)
        super().__init__(batch_shape=(), event_shape=(self.max_events, 2),
                         validate_args=validate_args)

    def log_prob(self, value):
        value = jnp.asarray(value)
        return _continuous_loglik(self.params, value[:, 0], value[:, 1].astype(jnp.int32),
                                  self.duration, self.initial_prob_on,
                                  jnp.zeros((), value.dtype))

    def sample(self, key, sample_shape=()):
        raise NotImplementedError(
            "MMPPSpikeTrain is a likelihood for observed spike trains; simulate with "
            "bayesnn.processes.sample_trial")


def _events(spikes: Spikes, n_inputs: int, duration: float | None):
    """Validated events of one trial, multiplicities expanded, padded to a bucket length
    with padding events (channel -1, time 0) that the likelihood ignores."""
    times, senders, counts = check_spikes(spikes, n_senders=n_inputs, duration=duration)
    times, senders = np.repeat(times, counts), np.repeat(senders, counts)
    n_pad = _bucket(times.size) - times.size
    return (np.concatenate([times, np.zeros(n_pad)]),
            np.concatenate([senders, np.full(n_pad, -1, dtype=senders.dtype)]))


def pack_spikes(spikes: Spikes, *, n_inputs: int, duration: float | None = None) -> jax.Array:
    """(M, 2) value for :class:`MMPPSpikeTrain` from one trial of spikes: columns (time
    in s, input index), multiplicities expanded, padded to a power of two (>= 64) with
    ignored padding rows.

    Raises:
        ValueError: for bad spikes (:func:`bayesnn.core.validation.check_spikes`).
    """
    times, channels = _events(spikes, int(n_inputs), duration)
    dtype = jnp.result_type(float)
    return to_device(np.stack([np.asarray(times, dtype), np.asarray(channels, dtype)], axis=1))


def _initial(initial_prob_on):
    if initial_prob_on is None or is_traced(initial_prob_on):
        return initial_prob_on
    return require_in_range("initial_prob_on", initial_prob_on, 0.0, 1.0, True, True)


def continuous_log_likelihood(params, spikes: Spikes, *, duration: float,
                              initial_prob_on=None) -> jax.Array:
    """Exact log density (nats) of one spike train under the continuous-time MMPP.

    Args:
        params: :class:`bayesnn.processes.MMPPParams` (may be traced: ``jax.grad`` of
            this with respect to the record is exact).
        spikes: :class:`bayesnn.core.Spikes` of one trial, senders in [0, N), times in
            ``[0, duration]``.
        duration: observation window, s, > 0.
        initial_prob_on: P(x(0) = ON) in [0, 1]; default stationary.

    Raises:
        ValueError: naming the argument. PrecisionError: in float32.
    """
    require_x64("continuous_log_likelihood")
    params = _as_model(params)
    duration = float(require_positive("duration", duration, ndim=0))
    value = pack_spikes(spikes, n_inputs=params.n_inputs, duration=duration)
    # duration and initial_prob_on are checked above (ValueError naming them); NumPyro's
    # own argument validation would check them again with six eager XLA programs
    distribution = MMPPSpikeTrain(params, duration, _initial(initial_prob_on),
                                  max_events=value.shape[0],
                                  validate_args=None if is_traced(initial_prob_on) else False)
    return _jit_log_prob(distribution, value)


_jit_log_prob = jax.jit(MMPPSpikeTrain.log_prob)


@jax.jit
def _filtered(params, times, channels, p0, query_times):
    def prob_on(query):
        prefix_channels = jnp.where(times <= query, channels, -1)  # later events: padding
        return jax.grad(lambda phi: _continuous_loglik(
            params, times, prefix_channels, query, p0, phi))(jnp.zeros((), dtype=times.dtype))

    return jax.lax.map(prob_on, query_times, batch_size=32)


def continuous_filtered_prob_on(params, spikes: Spikes, *, query_times,
                                initial_prob_on=None) -> jax.Array:
    r"""Exact continuous-time filtered P(x(t) = ON | events in [0, t]) at ``query_times``
    (s, (Q,), > 0; right-continuous: a spike at exactly t counts), from the likelihood of
    :class:`MMPPSpikeTrain` with a terminal potential (module docstring). Cost O(M) per
    query.

    Raises:
        ValueError: naming the argument. PrecisionError: in float32.
    """
    require_x64("continuous_filtered_prob_on")
    params = _as_model(params)
    query_times = as_array("query_times", query_times, ndim=1)
    if query_times.size == 0 or np.any(query_times <= 0):
        raise ValueError("query_times must be a non-empty array of times > 0 s")
    times, channels = _events(spikes, params.n_inputs, None)
    p0 = _initial(initial_prob_on)
    p0 = params.stationary_prob_on if p0 is None else p0
    # queries padded to a power of two >= 32 (repeats of the last one, dropped)
    n_queries = query_times.shape[0]
    padded = np.concatenate([query_times, np.full(_bucket(n_queries, 32) - n_queries,
                                                  query_times[-1])])
    f = jnp.result_type(float)
    filtered = _filtered(_leaves(params), to_device(times, f), to_device(channels),
                         to_device(p0, f), to_device(padded, f))
    return to_device(np.asarray(filtered)[:n_queries])  # cut on the host: no extra program
