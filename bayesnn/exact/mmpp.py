r"""Exact continuous-time filter for the Markov-modulated Poisson process (MMPP).

This is the *continuous* reference of bayesian-neuron.md Sec. 2.2-2.4 and 3.1 (Sec.
3.4, item 1): a two-state CTMC ``x_t`` (0 -> 1 at rate ``r_on``, 1 -> 0 at rate
``r_off``) modulates ``N`` conditionally independent Poisson inputs with rates
``q_on[i]`` (x = 1) and ``q_off[i]`` (x = 0). Written from the math; it shares no code
with ``bayesnn.neuron`` (which uses a closed-form Riccati/tanh propagator; this module
uses a generic matrix exponential).

Equations
---------
Unnormalised (Zakai/Snyder) filter, vector ordered ``rho = (rho_1, rho_0)`` (ON first,
as in bayesian-neuron.md Sec. 2.2), with ``Q_on = sum_i q_on[i]``,
``Q_off = sum_i q_off[i]``::

    between events:   d rho / dt = M rho,   M = [[-r_off - Q_on,  r_on        ],
                                                 [ r_off,         -r_on - Q_off]]
                      rho(t + g) = expm(M g) rho(t)
    at a spike of i:  rho_1 <- q_on[i] rho_1,   rho_0 <- q_off[i] rho_0

with ``rho(0) = (p_0, 1 - p_0)``. Then ``P(x_t = 1 | spikes on [0, t]) = rho_1 / (rho_1 +
rho_0)`` and ``L_t = log rho_1 - log rho_0``. Because ``M`` contains the ``-Q`` terms
(the Poisson "no spike" factor ``exp(-int lambda dt)``) and spikes multiply by rates in
Hz, ``rho_1(T) + rho_0(T)`` is the density of the spike train on ``[0, T]`` with respect
to Lebesgue measure on the event times (Sec. 2.4 convention)::

    log p(spikes on [0, T]) = log(rho_1(T) + rho_0(T)).

Numerically, ``rho`` is renormalised to sum 1 after every step and the logs of the
normalisers are accumulated. To keep ``expm`` far from under/overflow on long gaps the
propagator is evaluated as ``expm(M g) = exp(lambda_+ g) expm((M - lambda_+ I) g)``
where ``lambda_+ <= 0`` is the dominant eigenvalue of ``M``; this identity is exact for
any scalar shift, so the shift only affects scaling, never the result.

Innovations form (Sec. 2.4), computed by :func:`mmpp_log_likelihood_innovations` along a
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
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core import validation as v

__all__ = [
    "MMPPFilter",
    "mmpp_filter",
    "mmpp_filter_batch",
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


class _Params(NamedTuple):
    r_on: float
    r_off: float
    q_on: np.ndarray
    q_off: np.ndarray
    duration: float
    p0: float


class _Trial(NamedTuple):
    times: np.ndarray  # (K',) valid spike times
    channels: np.ndarray  # (K',) valid channels


# ----------------------------------------------------------------------------- checks


def _check_params(r_on, r_off, q_on, q_off, duration, initial_prob_on) -> _Params:
    r_on = float(v.require_positive("r_on", r_on, ndim=0))
    r_off = float(v.require_positive("r_off", r_off, ndim=0))
    q_on = v.require_positive("q_on", q_on, ndim=1)
    q_off = v.require_positive("q_off", q_off, ndim=1)
    v.require_shape("q_off", q_off, q_on.shape)
    if q_on.shape[0] < 1:
        raise ValueError("q_on must hold at least one channel, got shape (0,)")
    duration = float(v.require_positive("duration", duration, ndim=0))
    if initial_prob_on is None:
        p0 = r_on / (r_on + r_off)
    else:
        p0 = v.require_in_range("initial_prob_on", initial_prob_on, 0.0, 1.0,
                                low_inclusive=True, high_inclusive=True)
    return _Params(r_on, r_off, q_on, q_off, duration, p0)


def _check_spikes(spike_times, spike_channels, n_channels: int, duration: float,
                  ndim: int = 1) -> list[_Trial]:
    try:
        times = np.asarray(spike_times, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"spike_times must be numeric, got {spike_times!r}") from error
    try:
        channels = np.asarray(spike_channels).astype(np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"spike_channels must be numeric, got {spike_channels!r}") from error
    if times.ndim != ndim:
        raise ValueError(f"spike_times must have {ndim} dimension(s), got shape {times.shape}")
    if channels.shape != times.shape:
        raise ValueError(f"spike_channels must have the shape of spike_times {times.shape}, "
                         f"got {channels.shape}")
    if not np.all(np.isfinite(channels)) or np.any(channels != np.round(channels)):
        raise ValueError("spike_channels must hold integers")
    if np.any(channels >= n_channels):
        raise ValueError(f"spike_channels must be < number of channels {n_channels}, "
                         f"got max {int(channels.max())}")
    if ndim == 1:
        times, channels = times[None, :], channels[None, :]
    trials = []
    for t_row, c_row in zip(times, channels):
        valid = c_row >= 0
        t_valid = v.as_array("spike_times", t_row[valid])  # finiteness of non-padding entries
        if np.any(np.diff(t_valid) < 0):
            raise ValueError("spike_times must be sorted (non-decreasing) over non-padding entries")
        if t_valid.size and (t_valid[0] < 0 or t_valid[-1] > duration):
            raise ValueError(f"spike_times must lie in [0, duration={duration}], got range "
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


def _generator(params: _Params) -> tuple[np.ndarray, float]:
    """Generator M in (rho_1, rho_0) order and its dominant eigenvalue lambda_+ <= 0."""
    q_on_sum, q_off_sum = float(np.sum(params.q_on)), float(np.sum(params.q_off))
    a = params.r_off + q_on_sum  # -M[0, 0]
    d = params.r_on + q_off_sum  # -M[1, 1]
    generator = np.array([[-a, params.r_on], [params.r_off, -d]])
    # lambda_+ = det(M) / lambda_-, both computed without cancellation (det >= 0).
    det = params.r_off * q_off_sum + params.r_on * q_on_sum + q_on_sum * q_off_sum
    half_gap = np.hypot(0.5 * (a - d), np.sqrt(params.r_on * params.r_off))
    lambda_plus = -det / (0.5 * (a + d) + half_gap)
    return generator, lambda_plus


def _bucket(length: int) -> int:
    """Padded length (next power of two, >= 64) so jit compiles once per size class."""
    return max(64, 1 << (int(length) - 1).bit_length())


def _pad(dts: np.ndarray, factors: np.ndarray, length: int):
    """Append no-op items (zero gap, unit factors) up to ``length``."""
    extra = length - dts.size
    return (np.concatenate([dts, np.zeros(extra)]),
            np.concatenate([factors, np.ones((extra,) + factors.shape[1:])]))


def _merge(trial: _Trial, queries: np.ndarray, params: _Params):
    """Merge spikes, queries and the end point into one time-ordered item list.

    Returns (dts (n,), factors (n, 2) in (on, off) order, query positions (S,)).
    Order at equal times: spikes (in input order), then queries, then the end point.
    """
    n_spikes, n_queries = trial.times.size, queries.size
    times = np.concatenate([trial.times, queries, [params.duration]])
    kind = np.concatenate([np.zeros(n_spikes), np.ones(n_queries), [2.0]])
    order = np.lexsort((kind, times))  # stable: ties keep spike order
    factors = np.ones((times.size, 2))
    factors[:n_spikes, 0] = params.q_on[trial.channels]
    factors[:n_spikes, 1] = params.q_off[trial.channels]
    sorted_times = times[order]
    dts = np.diff(sorted_times, prepend=0.0)
    position = np.empty(times.size, dtype=np.int64)
    position[order] = np.arange(times.size)
    return dts, factors[order], position[n_spikes:n_spikes + n_queries]


@jax.jit
def _propagate(generator, lambda_plus, rho_init, dts, factors):
    shifted = generator - lambda_plus * jnp.eye(2, dtype=generator.dtype)
    propagators = jax.vmap(lambda g: jax.scipy.linalg.expm(shifted * g))(dts)  # (n, 2, 2)

    def step(carry, item):
        rho, log_norm = carry
        propagator, factor, gap = item
        unnorm = (propagator @ rho) * factor
        total = jnp.sum(unnorm)
        log_norm = log_norm + jnp.log(total) + lambda_plus * gap
        rho = unnorm / total
        return (rho, log_norm), rho

    (_, log_norm), rhos = jax.lax.scan(step, (rho_init, jnp.zeros((), rho_init.dtype)),
                                       (propagators, factors, dts))
    return rhos, log_norm


def _run(params: _Params, dts, factors):
    generator, lambda_plus = _generator(params)
    rho_init = jnp.array([params.p0, 1.0 - params.p0], dtype=float)
    rhos, log_norm = _propagate(jnp.asarray(generator, dtype=float), jnp.asarray(lambda_plus, dtype=float),
                                rho_init, jnp.asarray(dts, dtype=float), jnp.asarray(factors, dtype=float))
    return rhos, log_norm


def _readout(rhos, positions):
    picked = rhos[..., positions, :] if rhos.ndim == 2 else jnp.take_along_axis(
        rhos, positions[..., None], axis=-2)
    prob_on = picked[..., 0] / (picked[..., 0] + picked[..., 1])
    log_odds = jnp.log(picked[..., 0]) - jnp.log(picked[..., 1])
    return prob_on, log_odds


def mmpp_filter(r_on: float, r_off: float, q_on, q_off, spike_times, spike_channels,
                duration: float, query_times, initial_prob_on: float | None = None) -> MMPPFilter:
    """Exact continuous-time filter (matrix-exponential propagation) for one trial.

    Args:
        r_on: OFF -> ON rate, Hz, > 0.
        r_off: ON -> OFF rate, Hz, > 0.
        q_on: (N,) input rates when x = 1, Hz, > 0.
        q_off: (N,) input rates when x = 0, Hz, > 0.
        spike_times: (K,) input spike times, seconds, sorted, in ``[0, duration]``
            (padding entries may hold anything, e.g. ``+inf``).
        spike_channels: (K,) int channel of each spike in ``[0, N)``; < 0 = padding.
        duration: observation window ``[0, duration]``, seconds, > 0.
        query_times: (S,) times (seconds, in ``[0, duration]``, any order) at which to
            report the posterior.
        initial_prob_on: ``P(x_0 = 1)`` in ``[0, 1]``; default the stationary
            ``r_on / (r_on + r_off)``.

    Returns:
        :class:`MMPPFilter` with ``prob_on`` (S,), ``log_odds`` (S,), ``log_likelihood``
        () and ``n_events`` (). One ``vmap``-ed ``expm`` over all gaps plus one
        ``lax.scan``; for many trials use :func:`mmpp_filter_batch` (this function
        prepares inputs with NumPy and is not itself traceable).
    """
    params = _check_params(r_on, r_off, q_on, q_off, duration, initial_prob_on)
    (trial,) = _check_spikes(spike_times, spike_channels, params.q_on.size, params.duration)
    queries = _check_queries(query_times, params.duration)
    dts, factors, positions = _merge(trial, queries, params)
    dts, factors = _pad(dts, factors, _bucket(dts.size))
    rhos, log_norm = _run(params, dts, factors)
    prob_on, log_odds = _readout(rhos, jnp.asarray(positions))
    return MMPPFilter(prob_on, log_odds, log_norm, jnp.asarray(trial.times.size))


def mmpp_filter_batch(r_on: float, r_off: float, q_on, q_off, spike_times, spike_channels,
                      duration: float, query_times, initial_prob_on: float | None = None) -> MMPPFilter:
    """:func:`mmpp_filter` over a batch of B trials sharing parameters (``vmap`` inside).

    Args:
        spike_times: (B, K) spike times per trial (padding where the channel is < 0).
        spike_channels: (B, K) int channels; < 0 = padding.
        query_times: (S,) shared by all trials, or (B, S) per trial.
        The other arguments are as in :func:`mmpp_filter` (shared by all trials).

    Returns:
        :class:`MMPPFilter` with a leading trial axis: ``prob_on`` (B, S), ``log_odds``
        (B, S), ``log_likelihood`` (B,), ``n_events`` (B,). Trial ``b`` gives exactly the
        numbers :func:`mmpp_filter` gives on row ``b`` (up to the order of float
        operations in the batched kernels).
    """
    params = _check_params(r_on, r_off, q_on, q_off, duration, initial_prob_on)
    trials = _check_spikes(spike_times, spike_channels, params.q_on.size, params.duration, ndim=2)
    queries = _check_queries(query_times, params.duration, ndim_allowed=(1, 2))
    n_trials = len(trials)
    if queries.ndim == 2 and queries.shape[0] != n_trials:
        raise ValueError(f"query_times must have shape (S,) or ({n_trials}, S), got {queries.shape}")
    per_trial_queries = queries if queries.ndim == 2 else np.broadcast_to(queries, (n_trials, queries.size))
    merged = [_merge(trial, q, params) for trial, q in zip(trials, per_trial_queries)]
    length = _bucket(max(m[0].size for m in merged))
    dts = np.zeros((n_trials, length))  # padding items: zero gap, unit factors -> no-op
    factors = np.ones((n_trials, length, 2))
    positions = np.stack([m[2] for m in merged]).reshape(n_trials, -1)
    for b, (d, f, _) in enumerate(merged):
        dts[b, :d.size] = d
        factors[b, :d.size] = f
    generator, lambda_plus = _generator(params)
    rho_init = jnp.array([params.p0, 1.0 - params.p0], dtype=float)
    batched = jax.vmap(_propagate, in_axes=(None, None, None, 0, 0))
    rhos, log_norm = batched(jnp.asarray(generator, dtype=float), jnp.asarray(lambda_plus, dtype=float),
                             rho_init, jnp.asarray(dts, dtype=float), jnp.asarray(factors, dtype=float))
    prob_on, log_odds = _readout(rhos, jnp.asarray(positions))
    n_events = jnp.asarray([t.times.size for t in trials])
    return MMPPFilter(prob_on, log_odds, log_norm, n_events)


# ----------------------------------------------------------------------------- innovations


@jax.jit
def _innovations(r_on, r_off, q_on_sum, q_off_sum, p0, gaps, spike_on, spike_off):
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


def mmpp_log_likelihood_innovations(r_on: float, r_off: float, q_on, q_off, spike_times,
                                    spike_channels, duration: float,
                                    initial_prob_on: float | None = None) -> jax.Array:
    """Log density of the spike train by the innovations formula (Sec. 2.4).

    An independent route to :attr:`MMPPFilter.log_likelihood`: the filter ``p_t`` is
    carried in the probability domain with the closed-form Riccati solution between
    events (no matrix exponential), the compensator ``int sum_i lambda_i dt`` is
    integrated in closed form, and ``log lambda_{i_k}(t_k^-)`` is added at each spike.

    Args: as :func:`mmpp_filter` (without ``query_times``).

    Returns:
        () log density of the spike train on ``[0, duration]``.
    """
    params = _check_params(r_on, r_off, q_on, q_off, duration, initial_prob_on)
    (trial,) = _check_spikes(spike_times, spike_channels, params.q_on.size, params.duration)
    times = np.concatenate([trial.times, [params.duration]])
    gaps = np.diff(times, prepend=0.0)
    rate_on = np.concatenate([params.q_on[trial.channels], [1.0]])
    rate_off = np.concatenate([params.q_off[trial.channels], [1.0]])
    gaps, rates = _pad(gaps, np.stack([rate_on, rate_off], axis=1), _bucket(gaps.size))
    rate_on, rate_off = rates[:, 0], rates[:, 1]
    as_float = lambda x: jnp.asarray(x, dtype=float)  # noqa: E731
    return _innovations(as_float(params.r_on), as_float(params.r_off), as_float(params.q_on.sum()),
                        as_float(params.q_off.sum()), as_float(params.p0), as_float(gaps),
                        as_float(rate_on), as_float(rate_off))
