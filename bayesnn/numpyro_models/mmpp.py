r"""Markov-modulated Poisson model of the Bayesian neuron, written in NumPyro.

This module is the *independent* reference for bayesnn's filters: every number it
returns is computed by NumPyro (funsor variable elimination of the hidden state) or by a
NumPyro :class:`~numpyro.distributions.Distribution`, never by ``bayesnn.exact``,
``bayesnn.neuron`` or ``bayesnn.scn``.

Generative model (science note, Sec. 1.1 and 3.2)
-------------------------------------------------
Hidden state :math:`x \in \{0 = \text{OFF}, 1 = \text{ON}\}`, a continuous-time Markov
chain with rates ``r_on`` (0 -> 1) and ``r_off`` (1 -> 0), in Hz. Given the state,
``N`` inputs are independent Poisson processes with rates ``q_on[i]`` / ``q_off[i]``
(Hz).

**Binned model** (bin width ``dt`` seconds, bins ``k = 1..T``; bin ``k`` covers
``[(k-1) dt, k dt)``):

.. math::

    x_0 &\sim \mathrm{Categorical}(\pi_0), \qquad
        \pi_0 = (1 - p_0, p_0),\ p_0 = r_{on}/(r_{on}+r_{off}) \text{ by default} \\
    x_k \mid x_{k-1} &\sim \mathrm{Categorical}(P[x_{k-1}]), \qquad
        P = \begin{pmatrix} 1-a_{on} & a_{on} \\ a_{off} & 1-a_{off}\end{pmatrix},\quad
        a_{on|off} = \frac{r_{on|off}}{r_{on}+r_{off}}\bigl(1-e^{-(r_{on}+r_{off})dt}\bigr) \\
    n_{i,k} \mid x_k &\sim \mathrm{Poisson}(q^i_{x_k}\, dt)

The model is written with :func:`numpyro.contrib.control_flow.scan`; each ``x_k`` is
marked ``infer={"enumerate": "parallel"}`` so that
:func:`numpyro.contrib.funsor.log_density` sums it out exactly (a forward pass of
variable elimination, done by funsor) and returns
:math:`\log p(n_{1:T}) = \log \sum_{x_{0:T}} p(x_{0:T}, n_{1:T})`.

**Posterior marginals by differentiation.** NumPyro 0.22 cannot run
``infer_discrete`` through ``scan`` (its docstring says so), and an unrolled ``markov``
loop needs memory growing like :math:`2^T`. Instead, each step carries an extra
observed site whose log-density is a *state potential* :math:`\phi_k x_k`. With

.. math::

    Z(\phi) = \sum_{x_{0:T}} p(x_{0:T}, n_{1:T}) \exp\Bigl(\sum_k \phi_k x_k\Bigr),
    \qquad
    \frac{\partial \log Z}{\partial \phi_k}\Big|_{\phi=0} = P(x_k = 1 \mid n_{1:T}),

one reverse-mode gradient of NumPyro's enumerated log-likelihood gives *all* smoothed
marginals exactly (this is the classical identity "forward-backward = backpropagation
through the forward algorithm"). Filtered marginals :math:`P(x_k = 1 \mid n_{1:k})` are
the smoothed marginal of the last bin of the prefix :math:`n_{1:k}`; we evaluate
several prefixes at once as copies in a ``plate`` whose observations after bin ``k`` are
masked out (masked future observations integrate to one, so they do not change the
prefix posterior). Cost: one pass of length ``T`` per requested filtered bin.

**Continuous-time likelihood** (science note Sec. 2.2 and 2.4). For events
:math:`(t_j, i_j)` on :math:`[0, D]` the density of the spike train is

.. math::

    p(\{(t_j, i_j)\}) = \mathbf{1}^\top\, e^{M (D - t_J)}\, \Lambda_{i_J}\, e^{M (t_J - t_{J-1})}
        \cdots \Lambda_{i_1}\, e^{M t_1}\, \pi_0,
    \qquad
    M = \begin{pmatrix} -r_{on} - Q_{off} & r_{off} \\ r_{on} & -r_{off} - Q_{on}\end{pmatrix},
    \quad \Lambda_i = \mathrm{diag}(q^i_{off}, q^i_{on}),

with :math:`Q_{on|off} = \sum_i q^i_{on|off}` (state order OFF, ON). It is evaluated by
:class:`MMPPSpikeTrain` with the closed-form :math:`2\times 2` matrix exponential below
and renormalisation after every event; it is exact up to rounding. As ``dt -> 0`` the
binned probability satisfies
:math:`\log p(n) - J\log dt + \sum \log n_{i,k}! \to \log p(\{t_j, i_j\})` with an
:math:`O(dt)` error (:func:`binned_to_density_correction`).

Closed-form exponential of a real :math:`2\times2` matrix
:math:`M = \begin{pmatrix} a & b \\ c & d\end{pmatrix}` with :math:`b, c > 0`: with
:math:`m = (a+d)/2`, :math:`h = (a-d)/2`, :math:`s = \sqrt{h^2 + bc} > |h|`,

.. math::

    e^{M\tau} = e^{(m+s)\tau}\Bigl[\tfrac{1+\epsilon}{2} I + \tfrac{1-\epsilon}{2s}(M - mI)\Bigr],
    \qquad \epsilon = e^{-2s\tau},

and the diagonal entries are written as
:math:`\tfrac{1+\epsilon}{2} \pm \tfrac{1-\epsilon}{2}\tfrac{h}{s}` with the
cancellation-free form :math:`\tfrac{1}{2}(1 - |h|/s) = \tfrac{bc}{2 s (s + |h|)}`.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro import handlers
from numpyro.contrib.control_flow import scan
from numpyro.contrib.funsor import enum, log_density
from numpyro.distributions import constraints

from bayesnn.core.validation import (
    require_rates,
    as_array,
    require_in_range,
    require_integer_counts,
    require_positive,
)

__all__ = [
    "MMPPMarginals",
    "MMPPSpikeTrain",
    "binned_to_density_correction",
    "bin_spike_train",
    "continuous_filtered_prob_on",
    "continuous_log_likelihood",
    "enumerated_log_likelihood",
    "enumerated_marginals",
    "forward_log_likelihood",
    "mmpp_hmm_model",
    "pack_spike_train",
    "stationary_prob_on",
    "transition_matrix",
    "validate_binned_inputs",
    "validate_rates",
    "validate_spike_train",
]

# Plate nesting of :func:`mmpp_hmm_model`: one plate ("copies", dim -1), so funsor may
# allocate enumeration dimensions from -2 leftwards.
_FIRST_ENUM_DIM = -2


class MMPPMarginals(NamedTuple):
    """Posterior marginals of the binned model, computed by NumPyro.

    Fields:
        smoothed: ``(T,)`` P(x_k = ON | all counts), bins k = 1..T.
        filtered: ``(K,)`` P(x_k = ON | counts of bins 1..k) at ``filter_bins``.
        filter_bins: ``(K,)`` int, 0-based bin indices (bin index j is bin k = j + 1,
            ending at time ``(j + 1) * dt`` seconds).
        log_likelihood: log p(counts) (nats), the enumerated log marginal likelihood.
    """

    smoothed: jax.Array
    filtered: jax.Array
    filter_bins: jax.Array
    log_likelihood: jax.Array


# --------------------------------------------------------------------------- checks
def validate_rates(r_on, r_off, q_on, q_off) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Check switching rates (Hz, scalars > 0) and input rates (Hz, ``(N,)`` > 0)."""
    return require_rates(r_on, r_off, q_on, q_off)


def validate_binned_inputs(counts, r_on, r_off, q_on, q_off, dt, initial_prob_on=None):
    """Validate binned-model arguments; return them as NumPy arrays / floats.

    ``counts`` must be ``(T, N)`` or ``(B, T, N)`` non-negative integers with ``N`` equal
    to ``len(q_on)``; ``dt`` > 0 seconds; rates > 0 Hz; ``initial_prob_on`` in [0, 1].
    Raises ``ValueError`` naming the offending parameter.
    """
    r_on, r_off, q_on, q_off = validate_rates(r_on, r_off, q_on, q_off)
    dt = float(require_positive("dt", dt, ndim=0))
    counts = require_integer_counts("counts", counts)
    if counts.ndim not in (2, 3):
        raise ValueError(f"counts must have shape (T, N) or (B, T, N), got {counts.shape}")
    if counts.shape[-1] != q_on.shape[0]:
        raise ValueError(
            f"counts must have N = len(q_on) = {q_on.shape[0]} columns, got shape {counts.shape}"
        )
    if counts.shape[-2] == 0:
        raise ValueError(f"counts must hold at least one bin, got shape {counts.shape}")
    if initial_prob_on is not None:
        initial_prob_on = require_in_range(
            "initial_prob_on", initial_prob_on, 0.0, 1.0, True, True
        )
    return counts, r_on, r_off, q_on, q_off, dt, initial_prob_on


def validate_spike_train(spike_times, spike_channels, n_inputs: int, duration):
    """Validate an event list; return (times (M,), channels (M,) int, duration).

    Times in seconds must lie in [0, duration]; channels must be integers < ``n_inputs``
    (negative channels mark padding, their times are ignored); the times of real events
    must be non-decreasing.
    """
    duration = float(require_positive("duration", duration, ndim=0))
    channels = as_array("spike_channels", spike_channels, ndim=1)
    try:
        times = np.array(spike_times, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"spike_times must be numeric, got {spike_times!r}") from error
    if times.ndim != 1:
        raise ValueError(f"spike_times must have 1 dimension(s), got shape {times.shape}")
    if times.shape != channels.shape:
        raise ValueError(
            f"spike_times and spike_channels must have the same shape, got {times.shape} "
            f"and {channels.shape}"
        )
    if np.any(channels != np.round(channels)):
        raise ValueError("spike_channels must hold integers")
    channels = channels.astype(np.int64)
    if np.any(channels >= n_inputs):
        raise ValueError(f"spike_channels must be < N = {n_inputs}, got max {channels.max()}")
    real = channels >= 0
    if not np.all(np.isfinite(times[real])):
        raise ValueError("spike_times of real events (channel >= 0) must be finite")
    if np.any(times[real] < 0) or np.any(times[real] > duration):
        raise ValueError(f"spike_times must lie in [0, duration = {duration}] seconds")
    if np.any(np.diff(times[real]) < 0):
        raise ValueError("spike_times of real events (channel >= 0) must be non-decreasing")
    times[~real] = 0.0  # padding: any value (e.g. +inf) is replaced, then ignored
    return times, channels, duration


# --------------------------------------------------------------------------- helpers
def _bucket(size: int, minimum: int = 64) -> int:
    """Smallest power of two >= ``size`` (at least ``minimum``): a padded length, so
    that inputs of similar size share one compiled function."""
    return max(int(minimum), 1 << max(int(size) - 1, 0).bit_length())


def _check_pad_to(pad_to, n_bins: int) -> int:
    """Padded number of bins: ``n_bins`` when ``pad_to`` is None, else ``pad_to >= n_bins``."""
    if pad_to is None:
        return n_bins
    if int(pad_to) != pad_to or pad_to < n_bins:
        raise ValueError(f"pad_to must be an integer >= T = {n_bins}, got {pad_to!r}")
    return int(pad_to)


def _pad_bins(counts: np.ndarray, n_padded: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts padded along T with zero-count bins, and the ``(T_padded,)`` observation
    mask (False on the padding). Masked bins drop their count likelihood and the hidden
    chain's transition rows sum to one, so padding changes no probability."""
    n_bins = counts.shape[-2]
    width = [(0, 0)] * counts.ndim
    width[-2] = (0, n_padded - n_bins)
    return np.pad(counts, width), np.arange(n_padded) < n_bins


def stationary_prob_on(r_on, r_off):
    """Stationary P(x = ON) = r_on / (r_on + r_off) (dimensionless)."""
    return r_on / (r_on + r_off)


def transition_matrix(r_on, r_off, dt):
    """Exact one-bin transition matrix ``(2, 2)``, ``P[i, j] = P(x_k = j | x_{k-1} = i)``.

    ``a_on = r_on/(r_on+r_off) (1 - exp(-(r_on+r_off) dt))`` and likewise ``a_off``
    (science note Sec. 3.2); rates in Hz, ``dt`` in seconds. Works on traced values.
    """
    total = r_on + r_off
    decay = -jnp.expm1(-total * dt)
    a_on = r_on / total * decay
    a_off = r_off / total * decay
    return jnp.stack([jnp.stack([1.0 - a_on, a_on]), jnp.stack([a_off, 1.0 - a_off])])


def bin_spike_train(spike_times, spike_channels, n_inputs: int, duration: float, dt: float):
    """Counts ``(T, N)`` of events per bin, ``T = round(duration / dt)``.

    Bin ``j`` (0-based) covers ``[j dt, (j+1) dt)`` seconds; an event at exactly
    ``duration`` goes to the last bin. Padding events (channel < 0) are dropped.
    Raises ``ValueError`` unless ``duration / dt`` is an integer (to 1e-9).
    """
    dt = float(require_positive("dt", dt, ndim=0))
    times, channels, duration = validate_spike_train(spike_times, spike_channels,
                                                      n_inputs, duration)
    n_bins = int(round(duration / dt))
    if n_bins < 1 or abs(n_bins * dt - duration) > 1e-9 * duration:
        raise ValueError(f"duration / dt must be a positive integer, got {duration / dt}")
    real = channels >= 0
    index = np.minimum(np.floor(times[real] / dt).astype(np.int64), n_bins - 1)
    counts = np.zeros((n_bins, n_inputs), dtype=np.float64)
    np.add.at(counts, (index, channels[real]), 1.0)
    return counts


def binned_to_density_correction(counts) -> float:
    r"""``-J log dt``-free part of the binned-to-density conversion: ``sum log n!``.

    The binned probability of counts ``n`` and the continuous density of the event
    times satisfy ``log p_binned(n) = log p_cont(events) + J log dt - sum_{i,k} log n_{i,k}!
    + O(dt)`` with ``J = sum n``. This returns ``sum_{i,k} log(n_{i,k}!)``; callers add
    ``- J log dt`` themselves.
    """
    counts = require_integer_counts("counts", counts)
    from scipy.special import gammaln

    return float(np.sum(gammaln(counts + 1.0)))


# --------------------------------------------------------------------------- binned model
def mmpp_hmm_model(counts, r_on, r_off, q_on, q_off, dt, initial_prob_on=None,
                   obs_mask=None, state_potentials=None) -> None:
    """NumPyro model of the binned MMPP with the hidden state enumerated.

    Args:
        counts: ``(B, T, N)`` observed counts (B independent copies: trials, or prefixes
            of one trial when ``obs_mask`` is used).
        r_on, r_off: switching rates (Hz), scalars (may be traced, e.g. NUTS samples).
        q_on, q_off: ``(N,)`` input rates (Hz) in state ON / OFF.
        dt: bin width (s).
        initial_prob_on: P(x_0 = ON); default the stationary ``r_on / (r_on + r_off)``.
        obs_mask: optional ``(B, T)`` bool; False drops the count likelihood of that bin.
        state_potentials: optional ``(B, T)``; adds the log-factor ``phi_{b,k} x_k``
            (zero by default; differentiate at zero to get marginals).

    Sites: ``x_0`` and the scanned ``x`` (enumerated), ``counts`` (observed), ``potential``.
    Call it through :func:`numpyro.contrib.funsor.enum` (``first_available_dim=-2``).
    """
    counts = jnp.asarray(counts)
    n_copies, n_bins, _ = counts.shape
    transition = transition_matrix(r_on, r_off, dt)
    p0 = stationary_prob_on(r_on, r_off) if initial_prob_on is None else initial_prob_on
    initial = jnp.stack([1.0 - p0, jnp.asarray(p0, dtype=transition.dtype)])
    if obs_mask is None:
        obs_mask = jnp.ones((n_copies, n_bins), dtype=bool)
    if state_potentials is None:
        state_potentials = jnp.zeros((n_copies, n_bins), dtype=transition.dtype)
    rate_on = jnp.asarray(q_on) * dt
    rate_off = jnp.asarray(q_off) * dt

    with numpyro.plate("copies", n_copies, dim=-1):
        x_0 = numpyro.sample("x_0", dist.Categorical(initial),
                             infer={"enumerate": "parallel"})

    def step(x_prev, inputs):
        counts_k, mask_k, potential_k = inputs
        with numpyro.plate("copies", n_copies, dim=-1):
            x = numpyro.sample("x", dist.Categorical(transition[x_prev]),
                               infer={"enumerate": "parallel"})
            rate = jnp.where((x == 1)[..., None], rate_on, rate_off)
            with handlers.mask(mask=mask_k):
                numpyro.sample("counts", dist.Poisson(rate).to_event(1), obs=counts_k)
            # State potential phi_k * x_k as an observed Delta site (log-density only).
            # (numpyro.factor inside scan fails under enumeration in NumPyro 0.22; an
            # observed site whose value comes from the scanned inputs works.)
            log_factor = potential_k * x
            numpyro.sample("potential",
                           dist.Delta(jnp.broadcast_to(potential_k, jnp.shape(log_factor)),
                                      log_density=log_factor),
                           obs=potential_k)
        return x, None

    scan(step, x_0, (jnp.swapaxes(counts, 0, 1), jnp.swapaxes(obs_mask, 0, 1),
                     jnp.swapaxes(state_potentials, 0, 1)))


def _enumerated_log_density(counts, r_on, r_off, q_on, q_off, dt, initial_prob_on,
                            obs_mask, state_potentials):
    """Summed (over copies) enumerated log p(counts) + potentials, from NumPyro/funsor."""
    model = enum(mmpp_hmm_model, first_available_dim=_FIRST_ENUM_DIM)
    value, _ = log_density(
        model, (counts, r_on, r_off, q_on, q_off, dt, initial_prob_on, obs_mask,
                state_potentials), {}, {})
    return value


@jax.jit
def _loglik_one(counts, r_on, r_off, q_on, q_off, dt, p0, mask):
    return _enumerated_log_density(counts[None], r_on, r_off, q_on, q_off, dt, p0,
                                   mask[None], None)



def enumerated_log_likelihood(counts, r_on, r_off, q_on, q_off, dt,
                              initial_prob_on=None, pad_to=None) -> jax.Array:
    """Log marginal likelihood log p(counts) (nats) of the binned model, from NumPyro.

    Args:
        counts: ``(T, N)`` or ``(B, T, N)`` non-negative integer counts per bin.
        r_on, r_off: switching rates (Hz, > 0). q_on, q_off: ``(N,)`` input rates (Hz, > 0).
        dt: bin width (s, > 0).
        initial_prob_on: P(x_0 = ON), default stationary.
        pad_to: optional number of bins ``>= T``: the counts are padded with masked bins
            to this length (the value is unchanged: masked bins integrate to one), so
            that calls with different ``T`` share one compiled function. The function
            is compiled once per ``(padded T, N)`` shape (and batch size).

    Returns:
        scalar for ``(T, N)`` input, ``(B,)`` per-trial values for ``(B, T, N)`` (one call
        of the single-trial compiled function per trial, so batches share its compile;
        each call costs one pass of ``T`` steps).
    Raises ``ValueError`` on bad input, before any computation.
    """
    counts, r_on, r_off, q_on, q_off, dt, p0 = validate_binned_inputs(
        counts, r_on, r_off, q_on, q_off, dt, initial_prob_on)
    counts, mask = _pad_bins(counts, _check_pad_to(pad_to, counts.shape[-2]))
    p0 = stationary_prob_on(r_on, r_off) if p0 is None else p0
    args = (jnp.asarray(r_on), jnp.asarray(r_off), jnp.asarray(q_on), jnp.asarray(q_off),
            jnp.asarray(dt), jnp.asarray(p0), jnp.asarray(mask))
    if counts.ndim == 2:
        return _loglik_one(jnp.asarray(counts), *args)
    return jnp.stack([_loglik_one(jnp.asarray(trial), *args) for trial in counts])


@jax.jit
def _prefix_value_and_grad(counts, r_on, r_off, q_on, q_off, dt, p0, ends):
    """For each prefix end ``e`` (0-based bin): log p(counts[:e+1]) and its gradient.

    Returns ``(values (K,), grads (K, T))``; ``grads[k, j] = P(x_{j+1} = ON | bins up to
    ends[k])`` for ``j <= ends[k]`` (bins after the prefix carry their prior predictive
    marginal and are not used).
    """
    n_bins = counts.shape[0]

    def one(end):
        mask = (jnp.arange(n_bins) <= end)[None]

        def total(potentials):
            return _enumerated_log_density(counts[None], r_on, r_off, q_on, q_off, dt, p0,
                                           mask, potentials[None])

        return jax.value_and_grad(total)(jnp.zeros(n_bins, dtype=counts.dtype))

    return jax.vmap(one)(ends)


def enumerated_marginals(counts, r_on, r_off, q_on, q_off, dt, initial_prob_on=None,
                         filter_bins=None, chunk: int = 32, pad_to=None) -> MMPPMarginals:
    """Smoothed and filtered P(x_k = ON) of the binned model, from NumPyro.

    Smoothed marginals of all ``T`` bins come from one gradient of the enumerated log
    likelihood with respect to per-bin state potentials; filtered marginals at
    ``filter_bins`` from the same gradient on masked prefixes (module docstring). The
    prefixes are evaluated ``chunk`` at a time (``jax.vmap``); the full trial is the
    prefix ending at bin ``T - 1`` and gives ``smoothed`` and ``log_likelihood``.

    Args:
        counts: ``(T, N)`` counts of one trial. Rates in Hz, ``dt`` in seconds.
        filter_bins: 0-based bin indices for the filtered marginals; default all ``T``
            bins (cost grows like ``T * len(filter_bins)``: pass a subset for long runs).
        chunk: number of prefixes per compiled call (memory ~ chunk * T). The compiled
            function is keyed on ``(padded T, N, min(chunk, len(filter_bins) + 1))``.
        pad_to: optional number of bins ``>= T``; the trial is padded with masked bins
            (every prefix mask already drops bins after the prefix end, so no marginal
            changes) so that trials of different ``T`` share one compiled function.
    """
    counts, r_on, r_off, q_on, q_off, dt, p0 = validate_binned_inputs(
        counts, r_on, r_off, q_on, q_off, dt, initial_prob_on)
    if counts.ndim != 2:
        raise ValueError(f"counts must have shape (T, N) for marginals, got {counts.shape}")
    n_bins = counts.shape[0]
    if filter_bins is None:
        filter_bins = np.arange(n_bins)
    filter_bins = as_array("filter_bins", filter_bins, ndim=1)
    if np.any(filter_bins != np.round(filter_bins)) or np.any(filter_bins < 0) or np.any(
            filter_bins >= n_bins):
        raise ValueError(f"filter_bins must be integers in [0, T = {n_bins})")
    filter_bins = filter_bins.astype(np.int64)
    chunk = int(chunk)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    padded, _ = _pad_bins(counts, _check_pad_to(pad_to, n_bins))
    p0 = stationary_prob_on(r_on, r_off) if p0 is None else p0
    args = (jnp.asarray(padded), jnp.asarray(r_on), jnp.asarray(r_off), jnp.asarray(q_on),
            jnp.asarray(q_off), jnp.asarray(dt), jnp.asarray(p0))
    ends = np.concatenate([filter_bins, [n_bins - 1]])
    size = min(chunk, ends.size)
    values, rows = [], []
    for start in range(0, ends.size, size):
        part = ends[start:start + size]
        padded = np.concatenate([part, np.full(size - part.size, part[-1])])
        value, grad = _prefix_value_and_grad(*args, jnp.asarray(padded))
        values.append(np.asarray(value)[:part.size])
        rows.append(np.asarray(grad[jnp.arange(size), jnp.asarray(padded)])[:part.size])
        if start + size >= ends.size:
            smoothed = grad[part.size - 1, :n_bins]
    filtered = np.concatenate(rows)[:-1]
    log_likelihood = np.concatenate(values)[-1]
    return MMPPMarginals(smoothed=smoothed, filtered=jnp.asarray(filtered),
                         filter_bins=jnp.asarray(filter_bins),
                         log_likelihood=jnp.asarray(log_likelihood))


def forward_log_likelihood(counts, r_on, r_off, q_on, q_off, dt, initial_prob_on=None):
    r"""Per-trial log p(counts) by a log-space forward scan (no checks; traceable).

    The same quantity as :func:`enumerated_log_likelihood`, computed with a hand-written
    ``jax.lax.scan`` instead of funsor's variable elimination, so that NUTS can
    differentiate it cheaply (about 10x faster per gradient and no eager funsor
    initialisation). The tests require the two to agree to 1e-9 relative.

    .. math::

        \log\alpha_k(j) = \operatorname{logsumexp}_i(\log\alpha_{k-1}(i) + \log P_{ij})
            + \ell_k(j) - \log c_k, \qquad
        \ell_k(j) = \sum_i n_{k,i}\log(q^i_j dt) - q^i_j dt - \log n_{k,i}!

    Args:
        counts: ``(B, T, N)`` counts (float or int). Rates in Hz, ``dt`` in seconds.
    Returns:
        ``(B,)`` log-likelihoods (nats).
    """
    counts = jnp.asarray(counts)
    dtype = jnp.result_type(float)
    counts = counts.astype(dtype)
    log_transition = jnp.log(transition_matrix(r_on, r_off, dt))
    p0 = stationary_prob_on(r_on, r_off) if initial_prob_on is None else initial_prob_on
    log_initial = jnp.log(jnp.stack([1.0 - p0, jnp.asarray(p0, dtype=dtype)]))
    log_rates = jnp.log(jnp.stack([jnp.asarray(q_off), jnp.asarray(q_on)]) * dt)  # (2, N)
    # (B, T, 2): emission log-likelihood of each bin in each state
    emission = (jnp.einsum("btn,sn->bts", counts, log_rates)
                - jnp.stack([jnp.sum(jnp.asarray(q_off)), jnp.sum(jnp.asarray(q_on))]) * dt
                - jnp.sum(jax.scipy.special.gammaln(counts + 1.0), axis=-1)[..., None])

    def step(carry, emission_k):
        log_alpha, total = carry
        predicted = jax.scipy.special.logsumexp(log_alpha[..., :, None] + log_transition,
                                                axis=-2)
        joint = predicted + emission_k
        log_norm = jax.scipy.special.logsumexp(joint, axis=-1)
        return (joint - log_norm[..., None], total + log_norm), None

    batch = counts.shape[0]
    init = (jnp.broadcast_to(log_initial, (batch, 2)), jnp.zeros(batch, dtype=dtype))
    (_, total), _ = jax.lax.scan(step, init, jnp.swapaxes(emission, 0, 1))
    return total


# --------------------------------------------------------------------------- continuous time
def _log_expm_2x2(matrix, tau):
    """``(log_scale, E)`` with ``expm(matrix * tau) = exp(log_scale) * E``, closed form.

    ``matrix`` is ``(2, 2)`` with positive off-diagonal entries; ``tau >= 0`` seconds.
    ``E`` has entries in [0, 1] (module docstring for the formula).
    """
    a, b = matrix[0, 0], matrix[0, 1]
    c, d = matrix[1, 0], matrix[1, 1]
    mean = 0.5 * (a + d)
    half = 0.5 * (a - d)
    s = jnp.sqrt(half * half + b * c)
    eps = jnp.exp(-2.0 * s * tau)
    plus = 0.5 * (1.0 + eps)
    minus = -0.5 * jnp.expm1(-2.0 * s * tau)  # (1 - eps) / 2, accurate for small tau
    ratio = jnp.abs(half) / s
    small = b * c / (2.0 * s * (s + jnp.abs(half)))  # = (1 - |h|/s) / 2 without cancellation
    # diagonal: plus + minus * (+-h/s); for the entry with sign(h) negative use
    # eps + (1 - eps) * (1 - |h|/s) / 2 written via `small`.
    big_diag = plus + minus * ratio
    small_diag = eps + 2.0 * minus * small
    e00 = jnp.where(half >= 0, big_diag, small_diag)
    e11 = jnp.where(half >= 0, small_diag, big_diag)
    e01 = minus * b / s
    e10 = minus * c / s
    return (mean + s) * tau, jnp.stack([jnp.stack([e00, e01]), jnp.stack([e10, e11])])


def _continuous_loglik(r_on, r_off, q_on, q_off, times, channels, duration, p0,
                       terminal_potential):
    """Exact log density of an event list, with a final log-factor ``phi * x(duration)``.

    Unnormalised forward vector rho (order OFF, ON), renormalised after every event.
    ``channels < 0`` are padding (no jump, no propagation).
    """
    dtype = jnp.result_type(float)
    generator = jnp.array([[0.0, 0.0], [0.0, 0.0]], dtype=dtype)
    generator = generator.at[0, 0].set(-r_on - jnp.sum(q_off)).at[0, 1].set(r_off)
    generator = generator.at[1, 0].set(r_on).at[1, 1].set(-r_off - jnp.sum(q_on))
    rho0 = jnp.stack([1.0 - p0, jnp.asarray(p0, dtype=dtype)])
    real = channels >= 0
    safe_channel = jnp.where(real, channels, 0)

    def step(carry, event):
        rho, log_scale, last_time = carry
        time, channel, is_real = event
        gap = jnp.where(is_real, time - last_time, 0.0)
        log_factor, propagator = _log_expm_2x2(generator, gap)
        rho = propagator @ rho
        jump = jnp.stack([q_off[channel], q_on[channel]])
        rho = jnp.where(is_real, rho * jump, rho)
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

    Value: ``(M, 2)`` array, column 0 the event times (s, non-decreasing over real
    events), column 1 the input index as a float (``< 0`` = padding, ignored); build it
    with :func:`pack_spike_train`. ``log_prob`` is the exact log density (module
    docstring) with respect to Lebesgue measure on the event times and counting measure
    on the input indices (nats). The value is not validated inside ``log_prob`` (it may
    be traced); use :func:`continuous_log_likelihood` for a checked call.

    Args:
        r_on, r_off: switching rates (Hz, > 0). q_on, q_off: ``(N,)`` input rates (Hz).
        duration: observation window (s, > 0).
        initial_prob_on: P(x(0) = ON), default stationary ``r_on / (r_on + r_off)``.
        max_events: ``M``, the padded length of values (sets ``event_shape``).
    """

    arg_constraints = {
        "r_on": constraints.positive,
        "r_off": constraints.positive,
        "q_on": constraints.independent(constraints.positive, 1),
        "q_off": constraints.independent(constraints.positive, 1),
        "duration": constraints.positive,
        "initial_prob_on": constraints.unit_interval,
    }
    support = constraints.independent(constraints.real, 2)
    pytree_data_fields = ("r_on", "r_off", "q_on", "q_off", "duration", "initial_prob_on")
    pytree_aux_fields = ("max_events",)

    def __init__(self, r_on, r_off, q_on, q_off, duration, initial_prob_on=None,
                 max_events: int = 1, *, validate_args=None):
        self.r_on = jnp.asarray(r_on)
        self.r_off = jnp.asarray(r_off)
        self.q_on = jnp.asarray(q_on)
        self.q_off = jnp.asarray(q_off)
        self.duration = jnp.asarray(duration)
        self.initial_prob_on = (stationary_prob_on(self.r_on, self.r_off)
                                if initial_prob_on is None else jnp.asarray(initial_prob_on))
        self.max_events = int(max_events)
        super().__init__(batch_shape=(), event_shape=(self.max_events, 2),
                         validate_args=validate_args)

    def log_prob(self, value):
        value = jnp.asarray(value)
        return _continuous_loglik(self.r_on, self.r_off, self.q_on, self.q_off,
                                  value[:, 0], value[:, 1].astype(jnp.int32), self.duration,
                                  self.initial_prob_on, jnp.zeros((), value.dtype))

    def sample(self, key, sample_shape=()):
        raise NotImplementedError(
            "MMPPSpikeTrain is a likelihood for observed spike trains; simulate with "
            "bayesnn.processes.sample_trial")


def pack_spike_train(spike_times, spike_channels) -> jax.Array:
    """``(M, 2)`` value for :class:`MMPPSpikeTrain`: columns (time in s, channel)."""
    times = as_array("spike_times", spike_times, ndim=1)
    channels = as_array("spike_channels", spike_channels, ndim=1)
    if times.shape != channels.shape:
        raise ValueError(
            f"spike_times and spike_channels must have the same shape, got {times.shape} "
            f"and {channels.shape}")
    return jnp.stack([jnp.asarray(times), jnp.asarray(channels, dtype=jnp.asarray(times).dtype)],
                     axis=1)


def continuous_log_likelihood(r_on, r_off, q_on, q_off, spike_times, spike_channels,
                              duration, initial_prob_on=None) -> jax.Array:
    """Exact log density (nats) of a spike train under the continuous MMPP.

    Validated front end to ``MMPPSpikeTrain(...).log_prob``. ``spike_times`` ``(M,)`` in
    seconds on [0, duration], ``spike_channels`` ``(M,)`` ints (< 0 = padding).
    """
    r_on, r_off, q_on, q_off = validate_rates(r_on, r_off, q_on, q_off)
    times, channels, duration = validate_spike_train(spike_times, spike_channels,
                                                      q_on.shape[0], duration)
    if initial_prob_on is not None:
        initial_prob_on = require_in_range("initial_prob_on", initial_prob_on, 0.0, 1.0,
                                           True, True)
    times, channels = _pad_events(times, channels)
    distribution = MMPPSpikeTrain(r_on, r_off, q_on, q_off, duration, initial_prob_on,
                                  max_events=times.shape[0])
    return _jit_log_prob(distribution, pack_spike_train(times, channels))


def _pad_events(times: np.ndarray, channels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pad an event list to :func:`_bucket` length with padding events (channel -1,
    time 0), which the likelihood ignores; trials with similar event counts then share
    one compiled function."""
    n_pad = _bucket(times.shape[0]) - times.shape[0]
    return (np.concatenate([times, np.zeros(n_pad)]),
            np.concatenate([channels, np.full(n_pad, -1, dtype=channels.dtype)]))


_jit_log_prob = jax.jit(MMPPSpikeTrain.log_prob)


@jax.jit
def _continuous_filtered(r_on, r_off, q_on, q_off, times, channels, p0, query_times):
    def prob_on(query):
        # prefix [0, query]: events after the query become padding.
        prefix_channels = jnp.where(times <= query, channels, -1)
        return jax.grad(lambda phi: _continuous_loglik(
            r_on, r_off, q_on, q_off, times, prefix_channels, query, p0, phi))(
                jnp.zeros((), dtype=times.dtype))

    return jax.lax.map(prob_on, query_times, batch_size=32)


def continuous_filtered_prob_on(r_on, r_off, q_on, q_off, spike_times, spike_channels,
                                query_times, initial_prob_on=None) -> jax.Array:
    r"""Exact continuous-time filtered P(x(t) = ON | events in [0, t]) at ``query_times``.

    Computed from the likelihood of :class:`MMPPSpikeTrain` on the prefix ``[0, t]`` with
    a terminal potential ``phi x(t)``: :math:`\partial_\phi \log p_\phi|_{\phi=0} =
    P(x(t) = 1 \mid \text{events} \le t)` (right-continuous: an event at exactly ``t``
    counts). Cost ``O(M)`` per query time (seconds; ``(Q,)`` array).
    """
    r_on, r_off, q_on, q_off = validate_rates(r_on, r_off, q_on, q_off)
    query_times = as_array("query_times", query_times, ndim=1)
    if query_times.size == 0 or np.any(query_times <= 0):
        raise ValueError("query_times must be a non-empty array of times > 0 seconds")
    raw_times = np.asarray(spike_times, dtype=np.float64)
    raw_real = np.asarray(spike_channels) >= 0
    horizon = max(float(query_times.max()),
                  float(np.max(raw_times[raw_real], initial=0.0)) if raw_times.shape == raw_real.shape
                  else 0.0)
    times, channels, _ = validate_spike_train(raw_times, spike_channels, q_on.shape[0],
                                              horizon)
    p0 = stationary_prob_on(r_on, r_off) if initial_prob_on is None else require_in_range(
        "initial_prob_on", initial_prob_on, 0.0, 1.0, True, True)
    # padded shapes (events: ignored padding; queries: repeats of the last one, dropped)
    # so that similar-sized calls share one compiled function
    times, channels = _pad_events(times, channels)
    n_queries = query_times.shape[0]
    padded_queries = np.concatenate(
        [query_times, np.full(_bucket(n_queries, 32) - n_queries, query_times[-1])])
    return _continuous_filtered(jnp.asarray(r_on), jnp.asarray(r_off), jnp.asarray(q_on),
                                jnp.asarray(q_off), jnp.asarray(times), jnp.asarray(channels),
                                jnp.asarray(p0), jnp.asarray(padded_queries))[:n_queries]
