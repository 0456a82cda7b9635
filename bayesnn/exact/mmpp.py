r"""Exact continuous-time filter for the Markov-modulated Poisson process (MMPP).

The continuous-time reference (Snyder 1972; Rudemo 1973; Denève 2004, Sec. 1): a two-state CTMC ``x_t`` (0 -> 1 at rate ``r_on``, 1 -> 0 at rate
``r_off``) modulates ``N`` conditionally independent Poisson inputs with rates
``q_on[i]`` (x = 1) and ``q_off[i]`` (x = 0). Written from the math; it shares no code
with ``bayesnn.neuron`` (which uses a closed-form Riccati/tanh propagator for L; this
module propagates the linear Zakai equation by the matrix exponential of its 2 x 2
generator).

One concern (the exact continuous-time filter of one model and its likelihood, with
the innovations route that checks it side by side), hence a little over 400 lines.

Equations
---------
Unnormalised (Zakai/Snyder) filter, vector ordered ``rho = (rho_1, rho_0)`` (ON first), with ``Q_on = sum_i q_on[i]``,
``Q_off = sum_i q_off[i]``::

    between events:   d rho / dt = M rho,   M = [[-r_off - Q_on,  r_on        ],
                                                 [ r_off,         -r_on - Q_off]]
                      rho(t + g) = expm(M g) rho(t)
    at a spike of i:  rho_1 <- q_on[i] rho_1,   rho_0 <- q_off[i] rho_0

with ``rho(0) = (p_0, 1 - p_0)``. Then ``P(x_t = 1 | spikes on [0, t]) = rho_1 / (rho_1 +
rho_0)`` and ``L_t = log rho_1 - log rho_0``. Because ``M`` contains the ``-Q`` terms
(the Poisson "no spike" factor ``exp(-int lambda dt)``) and spikes multiply by rates in
Hz, ``rho_1(T) + rho_0(T)`` is the density of the spike train on ``[0, T]`` with respect
to Lebesgue measure on the event times::

    log p(spikes on [0, T]) = log(rho_1(T) + rho_0(T)).

Numerically, ``rho`` is renormalised to sum 1 after every step and the logs of the
normalisers are accumulated. To keep ``expm`` far from under/overflow on long gaps the
propagator is evaluated as ``expm(M g) = exp(lambda_+ g) expm((M - lambda_+ I) g)``
where ``lambda_+ <= 0`` is the dominant eigenvalue of ``M``; this identity is exact for
any scalar shift, so the shift only affects scaling, never the result. The shifted
exponential is taken in closed form from the spectral projectors of ``M``
(:func:`_shifted_propagators`), accurate entry by entry for any stiffness and any gap.

Innovations form (Snyder 1975, Ch. 6), computed by :func:`mmpp_log_likelihood_innovations` along a
different route (closed-form Riccati solution for ``p_t`` between events)::

    log p(spikes) = sum_k log lambda_{i_k}(t_k^-) - int_0^T sum_i lambda_i(t) dt,
    lambda_i(t) = p_t q_on[i] + (1 - p_t) q_off[i]

Between events ``p`` obeys ``dp/dt = theta p^2 - (s + theta) p + r_on`` (``s = r_on +
r_off``, ``theta = Q_on - Q_off``). With ``kappa = sqrt((r_off - r_on + theta)^2 + 4
r_on r_off)``, stable root ``p_* = 2 r_on / (s + theta + kappa)`` and ``e = p - p_*``
(a Bernoulli equation ``de/dt = -kappa e + theta e^2``)::

    D(g)     = 1 - (theta / kappa) e_0 (1 - exp(-kappa g))
    p(g)     = p_* + e_0 exp(-kappa g) / D(g)
    int_0^g sum_i lambda_i dt = (Q_off + theta p_*) g - log D(g)

and at a spike ``p <- p q_on[i] / lambda_i``.

Conventions
-----------
Seconds and Hz. Spike times sorted (non-decreasing); entries whose channel is < 0 are
padding and ignored (their times may be ``+inf``). Spike times and query times lie in
``[0, duration]``. A query at the time of a spike sees the state *after* the spike
(filter "up to and including t"). Simultaneous spikes are applied one after the other.
Parameters come as a :class:`bayesnn.processes.MMPPParams` record (or any record with
r_on, r_off, q_on, q_off), spikes as :class:`bayesnn.core.Spikes`. The spike and query
times only fix the order of the computation (NumPy); everything that depends on the
parameters is JAX, so ``jax.grad`` of :func:`mmpp_log_likelihood` with respect to the
record is exact (tested against finite differences).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core import validation as v
from bayesnn.core.params import is_traced, to_device
from bayesnn.core.precision import require_x64
from bayesnn.core.spikes import Spikes, next_power_of_two
from bayesnn.processes.params import model_of

__all__ = [
    "MMPPFilter",
    "mmpp_filter",
    "mmpp_filter_batch",
    "mmpp_log_likelihood",
    "mmpp_log_likelihood_innovations",
]


class MMPPFilter(NamedTuple):
    """Result of :func:`mmpp_filter` (leading trial axis B for :func:`mmpp_filter_batch`).

    Fields:
        prob_on: (S,) ``P(x_t = 1 | spikes on [0, t])`` at the query times (after any
            spike at exactly ``t``).
        log_odds: (S,) ``log P(x_t = 1 | .) - log P(x_t = 0 | .)`` at the query times
            (computed from the two unnormalised components, accurate in the tails).
        log_likelihood: () log density of the whole spike train on ``[0, duration]``
            (w.r.t. Lebesgue measure on the event times; units of log(Hz^K)).
        n_events: () int, number of (non-padding) spikes used.
    """

    prob_on: jax.Array
    log_odds: jax.Array
    log_likelihood: jax.Array
    n_events: jax.Array


class _Trial(NamedTuple):
    times: np.ndarray  # (K',) valid spike times
    channels: np.ndarray  # (K',) valid channels


# ----------------------------------------------------------------------------- checks


def _check_model(params, duration, initial_prob_on):
    require_x64("bayesnn.exact.mmpp")
    model = model_of(params)
    if not is_traced(model) and np.asarray(model.r_on).ndim != 0:
        raise ValueError("params must be one parameter record, not a stacked batch")
    duration = float(v.require_positive("duration", duration, ndim=0))
    if initial_prob_on is None:
        # (p, 1 - p) of the stationary law, each component to full relative precision
        # (1 - p as a difference loses it: r_on / r_off = e^19 gave L off by 1e-8).
        if is_traced(model):
            total = model.r_on + model.r_off
            p0 = jnp.stack([model.r_on / total, model.r_off / total])
        else:  # on the host: no eager XLA programs
            r_on, r_off = float(model.r_on), float(model.r_off)
            p0 = np.array([r_on / (r_on + r_off), r_off / (r_on + r_off)])
    elif is_traced(initial_prob_on):
        p0 = jnp.stack([initial_prob_on, 1.0 - initial_prob_on])
    else:
        p0 = v.require_in_range("initial_prob_on", initial_prob_on, 0.0, 1.0,
                                low_inclusive=True, high_inclusive=True)
        p0 = jnp.asarray([p0, 1.0 - p0])
    return model, duration, p0


def _check_spikes(inputs, n_channels: int, duration: float, batched: bool) -> list[_Trial]:
    if not isinstance(inputs, Spikes):
        raise ValueError(f"inputs must be a bayesnn.core.Spikes, got {type(inputs).__name__}")
    times = np.asarray(inputs.times, dtype=np.float64)
    channels = np.asarray(inputs.senders)
    counts = np.asarray(inputs.counts)
    for field, values in (("senders", channels), ("counts", counts)):
        if values.shape != times.shape:
            raise ValueError(f"inputs.{field} must have shape {times.shape} like "
                             f"inputs.times, got {values.shape}")
    if not np.issubdtype(channels.dtype, np.integer):
        raise ValueError(f"inputs.senders must be integers, got dtype {channels.dtype}")
    if np.any(counts[channels >= 0] != 1):
        # Each event is one spike here; a multiplicity would be dropped silently.
        raise ValueError("inputs.counts must be 1 for every valid event (give simultaneous "
                         "spikes as separate events)")
    ndim = 2 if batched else 1
    if times.ndim != ndim:
        raise ValueError(f"inputs.times must have {ndim} dimension(s) here, got shape {times.shape}")
    if np.any(np.asarray(inputs.n_events) > times.shape[-1]):
        raise ValueError("inputs overflowed their capacity: the stored events are incomplete")
    if np.any(channels >= n_channels):
        raise ValueError(f"inputs.senders must be < number of channels {n_channels}, "
                         f"got max {int(channels.max())}")
    if not batched:
        times, channels = times[None, :], channels[None, :]
    trials = []
    for t_row, c_row in zip(times, channels):
        valid = c_row >= 0
        t_valid = v.as_array("inputs.times", t_row[valid])  # finiteness of real events
        if np.any(np.diff(t_valid) < 0):
            raise ValueError("inputs.times must be sorted (non-decreasing) over valid events")
        if t_valid.size and (t_valid[0] < 0 or t_valid[-1] > duration):
            raise ValueError(f"inputs.times must lie in [0, duration={duration}], got range "
                             f"[{t_valid[0]}, {t_valid[-1]}]")
        trials.append(_Trial(t_valid, c_row[valid].astype(np.int64)))
    return trials


def _check_queries(query_times, duration: float, ndim_allowed=(1,)) -> np.ndarray:
    queries = v.as_array("query_times", query_times)
    if queries.ndim not in ndim_allowed:
        raise ValueError(f"query_times must have {' or '.join(map(str, ndim_allowed))} "
                         f"dimension(s), got shape {queries.shape}")
    if queries.size and (queries.min() < 0 or queries.max() > duration):
        raise ValueError(f"query_times must lie in [0, duration={duration}], got range "
                         f"[{queries.min()}, {queries.max()}]")
    return queries


# ----------------------------------------------------------------------------- core


def _generator(model):
    """Generator M in (rho_1, rho_0) order and its dominant eigenvalue lambda_+ <= 0."""
    q_on_sum, q_off_sum = jnp.sum(model.q_on), jnp.sum(model.q_off)
    r_on, r_off = model.r_on, model.r_off
    a = r_off + q_on_sum  # -M[0, 0]
    d = r_on + q_off_sum  # -M[1, 1]
    generator = jnp.array([[-a, r_on], [r_off, -d]])
    # lambda_+ = det(M) / lambda_-, both computed without cancellation (det >= 0).
    det = r_off * q_off_sum + r_on * q_on_sum + q_on_sum * q_off_sum
    half_gap = jnp.hypot(0.5 * (a - d), jnp.sqrt(r_on * r_off))
    lambda_plus = -det / (0.5 * (a + d) + half_gap)
    return generator, lambda_plus


def _bucket(length: int) -> int:
    """Padded length (next power of two, >= 64) so jit compiles once per size class."""
    return next_power_of_two(length, 64)


def _merge(trial: _Trial, queries: np.ndarray, duration: float, length: int):
    """Merge spikes, queries and the end point into one time-ordered item list, padded
    with no-op items (zero gap, channel -1) to ``length``.

    Returns (dts (length,), channels (length,) with -1 for non-spike items, query
    positions (S,)). Order at equal times: spikes (in input order), then queries, then
    the end point.
    """
    n_spikes, n_queries = trial.times.size, queries.size
    times = np.concatenate([trial.times, queries, [duration]])
    kind = np.concatenate([np.zeros(n_spikes), np.ones(n_queries), [2.0]])
    order = np.lexsort((kind, times))  # stable: ties keep spike order
    channels = np.concatenate([trial.channels, np.full(n_queries + 1, -1)])[order]
    dts = np.diff(times[order], prepend=0.0)
    position = np.empty(times.size, dtype=np.int64)
    position[order] = np.arange(times.size)
    extra = length - dts.size
    return (np.concatenate([dts, np.zeros(extra)]),
            np.concatenate([channels, np.full(extra, -1)]),
            position[n_spikes:n_spikes + n_queries])


def _shifted_propagators(generator, gaps):
    """``expm((M - lambda_+ I) g)`` for every gap, by the spectral projectors of the 2 x 2
    generator ``M = [[A, B], [C, D]]`` (B, C > 0): with ``h = (A - D)/2``,
    ``root = sqrt(h^2 + BC)``, ``kappa = 2 root`` (the eigenvalue gap) and
    ``expm((M - lambda_+ I) g) = P_+ + e^{-kappa g} P_-``::

        kappa P_+ = [[root + h, B], [C, root - h]],   kappa P_- = [[root - h, -B], [-C, root + h]]

    ``root - |h|`` is evaluated as ``BC / (root + |h|)``, the diagonals are sums of
    non-negative terms and the off-diagonals ``B (1 - e^{-kappa g}) / kappa`` use expm1,
    so every entry has a small relative error however stiff M is (a Pade expm loses
    ~1e-9 on rates of 1e5 Hz, and JAX's stops at 16 squarings: NaN on day-long gaps)."""
    a, b = generator[0, 0], generator[0, 1]
    c, d = generator[1, 0], generator[1, 1]
    half = 0.5 * (a - d)
    root = jnp.hypot(half, jnp.sqrt(b * c))
    big = root + jnp.abs(half)
    small = b * c / big
    plus_h = jnp.where(half >= 0, big, small)    # root + h
    minus_h = jnp.where(half >= 0, small, big)   # root - h
    kappa = 2.0 * root
    decay = jnp.exp(-kappa * gaps)
    rise = -jnp.expm1(-kappa * gaps)             # 1 - e^{-kappa g}
    return jnp.stack([jnp.stack([plus_h + decay * minus_h, b * rise], -1),
                      jnp.stack([c * rise, minus_h + decay * plus_h], -1)], -2) / kappa


@jax.jit
def _propagate(model, p0, dts, channels):
    generator, lambda_plus = _generator(model)
    valid = channels >= 0
    index = jnp.maximum(channels, 0)
    factors = jnp.stack([jnp.where(valid, model.q_on[index], 1.0),
                         jnp.where(valid, model.q_off[index], 1.0)], axis=-1)
    propagators = _shifted_propagators(generator, dts)  # (n, 2, 2) expm((M - lambda_+ I) g)
    rho_init = p0  # (P(x_0 = 1), P(x_0 = 0))

    def step(carry, item):
        rho, log_norm = carry
        propagator, factor, gap = item
        unnorm = (propagator @ rho) * factor
        total = jnp.sum(unnorm)
        log_norm = log_norm + jnp.log(total) + lambda_plus * gap
        rho = unnorm / total
        return (rho, log_norm), rho

    (_, log_norm), rhos = jax.lax.scan(step, (rho_init, jnp.zeros((), dts.dtype)),
                                       (propagators, factors, dts))
    return rhos, log_norm


# one program for a batch (an eager vmap of the jitted function adds a transpose program)
_propagate_batch = jax.jit(jax.vmap(_propagate, in_axes=(None, None, 0, 0)))


@jax.jit
def _readout(rhos, positions):
    picked = rhos[..., positions, :] if rhos.ndim == 2 else jnp.take_along_axis(
        rhos, positions[..., None], axis=-2)
    prob_on = picked[..., 0] / (picked[..., 0] + picked[..., 1])
    log_odds = jnp.log(picked[..., 0]) - jnp.log(picked[..., 1])
    return prob_on, log_odds


def mmpp_filter(params, inputs: Spikes, *, duration: float, query_times,
                initial_prob_on: float | None = None) -> MMPPFilter:
    """Exact continuous-time filter (matrix-exponential propagation) for one trial.

    Args:
        params: :class:`bayesnn.processes.MMPPParams` (or a record holding r_on, r_off
            (Hz), q_on, q_off (N,) (Hz)); may be traced (grad, vmap).
        inputs: input spikes, :class:`bayesnn.core.Spikes` (capacity,), senders in
            [0, N), times sorted in ``[0, duration]``; padding (sender < 0) ignored.
        duration: observation window ``[0, duration]``, s, > 0.
        query_times: (S,) times (s, in ``[0, duration]``, any order) at which to report
            the posterior; a query at a spike time sees the spike.
        initial_prob_on: ``P(x_0 = 1)`` in ``[0, 1]``; default r_on / (r_on + r_off).

    Returns:
        :class:`MMPPFilter`.

    Raises:
        ValueError: naming the argument, for bad input; PrecisionError in float32.
    """
    model, duration, p0 = _check_model(params, duration, initial_prob_on)
    (trial,) = _check_spikes(inputs, model.n_inputs, duration, batched=False)
    queries = _check_queries(query_times, duration)
    dts, channels, positions = _merge(trial, queries, duration,
                                      _bucket(trial.times.size + queries.size + 1))
    rhos, log_norm = _propagate(model, to_device(p0, float), to_device(dts, float),
                                to_device(channels))
    prob_on, log_odds = _readout(rhos, to_device(positions))
    return MMPPFilter(prob_on, log_odds, log_norm, to_device(trial.times.size))


def mmpp_log_likelihood(params, inputs: Spikes, *, duration: float,
                        initial_prob_on: float | None = None) -> jax.Array:
    """Log density of one spike train on ``[0, duration]`` (log(Hz^K)), by the
    matrix-exponential filter; differentiable with respect to ``params`` (``jax.grad``
    of this with respect to an :class:`bayesnn.processes.MMPPParams` record)."""
    return mmpp_filter(params, inputs, duration=duration, query_times=np.zeros(0),
                       initial_prob_on=initial_prob_on).log_likelihood


def mmpp_filter_batch(params, inputs: Spikes, *, duration: float, query_times,
                      initial_prob_on: float | None = None) -> MMPPFilter:
    """:func:`mmpp_filter` over a batch of B trials sharing parameters (``vmap`` inside).

    Args:
        inputs: :class:`bayesnn.core.Spikes` with a leading trial axis (B, capacity).
        query_times: (S,) shared by all trials, or (B, S) per trial.
        The other arguments are as in :func:`mmpp_filter`.

    Returns:
        :class:`MMPPFilter` with a leading trial axis: ``prob_on`` (B, S), ``log_odds``
        (B, S), ``log_likelihood`` (B,), ``n_events`` (B,).
    """
    model, duration, p0 = _check_model(params, duration, initial_prob_on)
    trials = _check_spikes(inputs, model.n_inputs, duration, batched=True)
    queries = _check_queries(query_times, duration, ndim_allowed=(1, 2))
    n_trials = len(trials)
    if queries.ndim == 2 and queries.shape[0] != n_trials:
        raise ValueError(f"query_times must have shape (S,) or ({n_trials}, S), got {queries.shape}")
    per_trial = queries if queries.ndim == 2 else np.broadcast_to(queries, (n_trials, queries.size))
    length = _bucket(max(t.times.size for t in trials) + per_trial.shape[1] + 1)
    merged = [_merge(trial, q, duration, length) for trial, q in zip(trials, per_trial)]
    dts = to_device(np.stack([m[0] for m in merged]), float)
    channels = to_device(np.stack([m[1] for m in merged]))
    positions = np.stack([m[2] for m in merged]).reshape(n_trials, -1)
    rhos, log_norm = _propagate_batch(model, to_device(p0, float), dts, channels)
    prob_on, log_odds = _readout(rhos, to_device(positions))
    n_events = to_device([t.times.size for t in trials])
    return MMPPFilter(prob_on, log_odds, log_norm, n_events)


# ----------------------------------------------------------------------------- innovations


@jax.jit
def _innovations(model, p0, gaps, channels):
    r_on, r_off = model.r_on, model.r_off
    q_on_sum, q_off_sum = jnp.sum(model.q_on), jnp.sum(model.q_off)
    valid = channels >= 0
    index = jnp.maximum(channels, 0)
    spike_on = jnp.where(valid, model.q_on[index], 1.0)
    spike_off = jnp.where(valid, model.q_off[index], 1.0)
    s = r_on + r_off
    theta = q_on_sum - q_off_sum
    kappa = jnp.sqrt((r_off - r_on + theta) ** 2 + 4.0 * r_on * r_off)
    p_star = 2.0 * r_on / (s + theta + kappa)

    def step(carry, item):
        p, log_lik = carry
        gap, rate_on, rate_off = item
        e0 = p - p_star
        denom = 1.0 - (theta / kappa) * e0 * (-jnp.expm1(-kappa * gap))
        p = p_star + e0 * jnp.exp(-kappa * gap) / denom
        integral = (q_off_sum + theta * p_star) * gap - jnp.log(denom)
        intensity = p * rate_on + (1.0 - p) * rate_off  # lambda_i(t^-); 1 for the end item
        p = p * rate_on / intensity
        return (p, log_lik + jnp.log(intensity) - integral), None

    (_, log_lik), _ = jax.lax.scan(step, (p0, jnp.zeros_like(p0)), (gaps, spike_on, spike_off))
    return log_lik


def mmpp_log_likelihood_innovations(params, inputs: Spikes, *, duration: float,
                                    initial_prob_on: float | None = None) -> jax.Array:
    """Log density of the spike train by the innovations formula.

    An independent route to :attr:`MMPPFilter.log_likelihood`: the filter ``p_t`` is
    carried in the probability domain with the closed-form Riccati solution between
    events (no matrix exponential), the compensator ``int sum_i lambda_i dt`` is
    integrated in closed form, and ``log lambda_{i_k}(t_k^-)`` is added at each spike.

    Args: as :func:`mmpp_filter` (without ``query_times``).

    Returns:
        () log density of the spike train on ``[0, duration]``.
    """
    model, duration, p0 = _check_model(params, duration, initial_prob_on)
    (trial,) = _check_spikes(inputs, model.n_inputs, duration, batched=False)
    times = np.concatenate([trial.times, [duration]])
    gaps = np.diff(times, prepend=0.0)
    channels = np.concatenate([trial.channels, [-1]])
    extra = _bucket(gaps.size) - gaps.size
    gaps = np.concatenate([gaps, np.zeros(extra)])
    channels = np.concatenate([channels, np.full(extra, -1)])
    return _innovations(model, jnp.asarray(p0[0], float), jnp.asarray(gaps, float),
                        jnp.asarray(channels))
