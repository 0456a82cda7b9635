r"""Binned Markov-modulated Poisson model of the Bayesian neuron, written in NumPyro.

An *independent* reference for bayesnn's filters: every number here is computed by
NumPyro (funsor variable elimination of the hidden state), never by ``bayesnn.exact``,
``bayesnn.neuron`` or ``bayesnn.scn``. Parameters come as the generative model's record
:class:`bayesnn.processes.MMPPParams` (r_on, r_off in Hz; q_on, q_off (N,) in Hz).

Model (Denève 2004, Sec. 1.1, binned as an HMM, Rabiner 1989; bin width ``dt`` s,
bins ``k = 1..T``, bin ``k`` covers ``[(k-1) dt, k dt)``):

.. math::

    x_0 &\sim \mathrm{Categorical}(\pi_0), \qquad
        \pi_0 = (1 - p_0, p_0),\ p_0 = r_{on}/(r_{on}+r_{off}) \text{ by default} \\
    x_k \mid x_{k-1} &\sim \mathrm{Categorical}(P[x_{k-1}]), \qquad
        a_{on|off} = \frac{r_{on|off}}{r_{on}+r_{off}}\bigl(1-e^{-(r_{on}+r_{off})dt}\bigr) \\
    n_{i,k} \mid x_k &\sim \mathrm{Poisson}(q^i_{x_k}\, dt)

written with :func:`numpyro.contrib.control_flow.scan`; each ``x_k`` is marked
``infer={"enumerate": "parallel"}`` so that :func:`numpyro.contrib.funsor.log_density`
sums it out exactly and returns :math:`\log p(n_{1:T})`.

**Posterior marginals by differentiation.** NumPyro 0.22 cannot run ``infer_discrete``
through ``scan``, and an unrolled ``markov`` loop needs memory growing like
:math:`2^T`. Each step carries an extra observed site whose log-density is a state
potential :math:`\phi_k x_k`; with
:math:`Z(\phi) = \sum_{x_{0:T}} p(x_{0:T}, n_{1:T}) \exp(\sum_k \phi_k x_k)`,
:math:`\partial \log Z / \partial \phi_k |_{\phi=0} = P(x_k = 1 \mid n_{1:T})`: one
reverse-mode gradient gives *all* smoothed marginals exactly ("forward-backward =
backpropagation through the forward algorithm"). Filtered marginals are the smoothed
marginal of the last bin of each prefix, several prefixes at once as copies in a
``plate`` whose later observations are masked (masked observations integrate to one).

Binned vs continuous time: ``log p(n) - J log dt + sum log n_{i,k}! -> log p({t_j, i_j})``
as ``dt -> 0`` with an O(dt) error (:func:`binned_to_density_correction`).
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

from bayesnn.core.binning import bin_index
from bayesnn.core.binning import bin_spikes as core_bin_spikes
from bayesnn.core.params import is_traced, to_device, unchecked
from bayesnn.core.precision import require_x64
from bayesnn.core.spikes import Spikes
from bayesnn.core.validation import (
    as_array,
    check_spikes,
    require_in_range,
    require_int,
    require_integer_counts,
    require_positive,
)
from bayesnn.processes.params import MMPPParams

__all__ = ["MMPPMarginals", "bin_spikes", "binned_to_density_correction", "check_binned",
           "enumerated_log_likelihood", "enumerated_marginals",
           "mmpp_hmm_model", "transition_matrix"]

# Plate nesting of mmpp_hmm_model: one plate ("copies", dim -1), so funsor may allocate
# enumeration dimensions from -2 leftwards.
_FIRST_ENUM_DIM = -2


class MMPPMarginals(NamedTuple):
    """Posterior marginals of the binned model, computed by NumPyro.

    Fields:
        smoothed: (T,) P(x_k = ON | all counts), bins k = 1..T.
        filtered: (K,) P(x_k = ON | counts of bins 1..k) at ``filter_bins``.
        filter_bins: (K,) int, 0-based bin indices (bin index j ends at (j + 1) dt s).
        log_likelihood: () log p(counts), nats.
    """

    smoothed: jax.Array
    filtered: jax.Array
    filter_bins: jax.Array
    log_likelihood: jax.Array


# --------------------------------------------------------------------------- checks
def _as_model(params) -> MMPPParams:
    if not isinstance(params, MMPPParams):
        raise ValueError("params must be a bayesnn.processes.MMPPParams record, got "
                         f"{type(params).__name__}")
    return params


def check_binned(params, counts, dt, initial_prob_on=None):
    """Validate binned-model arguments; return ``(params, counts, dt, initial_prob_on)``.

    ``counts`` must be (T, N) or (B, T, N) non-negative integers with N equal to
    ``params.n_inputs``; ``dt`` > 0 s; ``initial_prob_on`` in [0, 1] (or None). Checks
    of ``params`` and ``initial_prob_on`` are skipped when they are traced.

    Raises:
        ValueError: naming the offending argument.
    """
    params = _as_model(params)
    dt = float(require_positive("dt", dt, ndim=0))
    counts = require_integer_counts("counts", counts)
    if counts.ndim not in (2, 3):
        raise ValueError(f"counts must have shape (T, N) or (B, T, N), got {counts.shape}")
    if counts.shape[-1] != params.n_inputs:
        raise ValueError(f"counts must have N = len(q_on) = {params.n_inputs} columns, got "
                         f"shape {counts.shape}")
    if counts.shape[-2] == 0:
        raise ValueError(f"counts must hold at least one bin, got shape {counts.shape}")
    if not is_traced(params) and np.ndim(params.r_on) != 0:
        raise ValueError("params must be one parameter record, not a stacked batch")
    if initial_prob_on is not None and not is_traced(initial_prob_on):
        initial_prob_on = require_in_range("initial_prob_on", initial_prob_on, 0.0, 1.0,
                                           True, True)
    return params, counts, dt, initial_prob_on


def _check_pad_to(pad_to, n_bins: int) -> int:
    """Padded number of bins: ``n_bins`` when ``pad_to`` is None, else ``pad_to >= n_bins``."""
    if pad_to is None:
        return n_bins
    if int(pad_to) != pad_to or pad_to < n_bins:
        raise ValueError(f"pad_to must be an integer >= T = {n_bins}, got {pad_to!r}")
    return int(pad_to)


def _pad_bins(counts: np.ndarray, n_padded: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts padded along T with zero-count bins, and the (T_padded,) observation mask
    (False on the padding): masked bins drop their likelihood and transition rows sum to
    one, so padding changes no probability."""
    width = [(0, 0)] * counts.ndim
    width[-2] = (0, n_padded - counts.shape[-2])
    return np.pad(counts, width), np.arange(n_padded) < counts.shape[-2]


def _p0(params, initial_prob_on):
    return params.stationary_prob_on if initial_prob_on is None else initial_prob_on


# --------------------------------------------------------------------------- helpers
def transition_matrix(params, dt):
    """Exact one-bin transition matrix (2, 2), ``P[i, j] = P(x_k = j | x_{k-1} = i)``
    (the CTMC's matrix exponential over one bin; rates in Hz, ``dt`` in s). Traceable."""
    total = params.r_on + params.r_off
    decay = -jnp.expm1(-total * dt)
    a_on = params.r_on / total * decay
    a_off = params.r_off / total * decay
    return jnp.stack([jnp.stack([1.0 - a_on, a_on]), jnp.stack([a_off, 1.0 - a_off])])


def bin_spikes(spikes: Spikes, *, n_inputs: int, duration: float, dt: float) -> np.ndarray:
    """Counts (T, N) of spikes per bin, ``T = round(duration / dt)``, by the package's one
    binning rule (:func:`bayesnn.core.bin_index`): bin j covers ``[j dt, (j+1) dt)`` s,
    a time on the grid (to 1e-9 relative) goes to its own bin, a spike at exactly
    ``duration`` goes to the last bin, and an event of multiplicity c counts c spikes.

    Raises:
        ValueError: for bad spikes (:func:`bayesnn.core.validation.check_spikes`) or
            unless ``duration / dt`` is a positive integer (to 1e-9).
    """
    dt = float(require_positive("dt", dt, ndim=0))
    duration = float(require_positive("duration", duration, ndim=0))
    n_inputs = require_int("n_inputs", n_inputs, minimum=1)
    check_spikes(spikes, n_senders=n_inputs, duration=duration)
    return core_bin_spikes(spikes, n_senders=n_inputs, duration=duration, dt=dt)


def binned_to_density_correction(counts) -> float:
    r"""``sum_{i,k} log(n_{i,k}!)``: with it, ``log p_binned(n) - J log dt + sum log n! =
    log p_cont(events) + O(dt)`` (``J = sum n``; callers subtract ``J log dt``)."""
    counts = require_integer_counts("counts", counts)
    from scipy.special import gammaln

    return float(np.sum(gammaln(counts + 1.0)))


# --------------------------------------------------------------------------- model
def mmpp_hmm_model(params, counts, dt, initial_prob_on=None, obs_mask=None,
                   state_potentials=None) -> None:
    """NumPyro model of the binned MMPP with the hidden state enumerated.

    Args:
        params: :class:`MMPPParams` (leaves may be traced, e.g. NUTS samples).
        counts: (B, T, N) observed counts (B independent copies: trials, or prefixes of
            one trial when ``obs_mask`` is used).
        dt: bin width, s.
        initial_prob_on: P(x_0 = ON); default the stationary ``r_on / (r_on + r_off)``.
        obs_mask: optional (B, T) bool; False drops the count likelihood of that bin.
        state_potentials: optional (B, T); adds the log-factor ``phi_{b,k} x_k``
            (differentiate at zero to get marginals).

    Sites: ``x_0`` and the scanned ``x`` (enumerated), ``counts`` (observed),
    ``potential``. Call through :func:`numpyro.contrib.funsor.enum`
    (``first_available_dim=-2``).
    """
    counts = jnp.asarray(counts)
    n_copies, n_bins, _ = counts.shape
    transition = transition_matrix(params, dt)
    p0 = _p0(params, initial_prob_on)
    initial = jnp.stack([1.0 - p0, jnp.asarray(p0, dtype=transition.dtype)])
    if obs_mask is None:
        obs_mask = jnp.ones((n_copies, n_bins), dtype=bool)
    if state_potentials is None:
        state_potentials = jnp.zeros((n_copies, n_bins), dtype=transition.dtype)
    rate_on = jnp.asarray(params.q_on) * dt
    rate_off = jnp.asarray(params.q_off) * dt

    with numpyro.plate("copies", n_copies, dim=-1):
        x_0 = numpyro.sample("x_0", dist.Categorical(initial), infer={"enumerate": "parallel"})

    def step(x_prev, inputs):
        counts_k, mask_k, potential_k = inputs
        with numpyro.plate("copies", n_copies, dim=-1):
            x = numpyro.sample("x", dist.Categorical(transition[x_prev]),
                               infer={"enumerate": "parallel"})
            rate = jnp.where((x == 1)[..., None], rate_on, rate_off)
            with handlers.mask(mask=mask_k):
                numpyro.sample("counts", dist.Poisson(rate).to_event(1), obs=counts_k)
            # State potential phi_k x_k as an observed Delta site (numpyro.factor inside
            # scan fails under enumeration in NumPyro 0.22).
            log_factor = potential_k * x
            numpyro.sample("potential",
                           dist.Delta(jnp.broadcast_to(potential_k, jnp.shape(log_factor)),
                                      log_density=log_factor),
                           obs=potential_k)
        return x, None

    scan(step, x_0, (jnp.swapaxes(counts, 0, 1), jnp.swapaxes(obs_mask, 0, 1),
                     jnp.swapaxes(state_potentials, 0, 1)))


def _enumerated_log_density(params, counts, dt, p0, obs_mask, state_potentials):
    """Summed (over copies) enumerated log p(counts) + potentials, from NumPyro/funsor."""
    model = enum(mmpp_hmm_model, first_available_dim=_FIRST_ENUM_DIM)
    value, _ = log_density(model, (params, counts, dt, p0, obs_mask, state_potentials), {}, {})
    return value


@jax.jit
def _loglik_one(params, counts, dt, p0, mask):
    return _enumerated_log_density(params, counts[None], dt, p0, mask[None], None)


def _leaves(params):
    """The record with its leaves as float arrays (a traced record passes through)."""
    f = jnp.result_type(float)
    return unchecked(MMPPParams, **{n: jnp.asarray(getattr(params, n), f)
                                    for n in MMPPParams.field_names})


def enumerated_log_likelihood(params, counts, *, dt: float, initial_prob_on=None,
                              pad_to=None) -> jax.Array:
    """log p(counts), nats, of the binned model, from NumPyro's enumeration.

    Args:
        params: :class:`MMPPParams` (may be traced: ``jax.grad`` with respect to it works).
        counts: (T, N) or (B, T, N) non-negative integer counts per bin.
        dt: bin width, s, > 0.
        initial_prob_on: P(x_0 = ON), default stationary.
        pad_to: optional number of bins >= T: counts are padded with masked bins (value
            unchanged) so that calls with different T share one compiled function.

    Returns:
        scalar for (T, N) input, (B,) per-trial values for (B, T, N) (one call of the
        single-trial compiled function per trial).

    Raises:
        ValueError: on bad input, before any computation. PrecisionError: in float32.
    """
    require_x64("enumerated_log_likelihood")
    params, counts, dt, p0 = check_binned(params, counts, dt, initial_prob_on)
    counts, mask = _pad_bins(counts, _check_pad_to(pad_to, counts.shape[-2]))
    args = (jnp.asarray(dt), jnp.asarray(_p0(params, p0)), jnp.asarray(mask))
    params = _leaves(params)
    if counts.ndim == 2:
        return _loglik_one(params, jnp.asarray(counts), *args)
    return jnp.stack([_loglik_one(params, jnp.asarray(trial), *args) for trial in counts])


@jax.jit
def _prefix_value_and_grad(params, counts, dt, p0, ends):
    """For each prefix end e (0-based bin): log p(counts[:e+1]) and its gradient with
    respect to the state potentials, ``grads[k, j] = P(x_{j+1} = ON | bins <= ends[k])``
    for ``j <= ends[k]``."""
    n_bins = counts.shape[0]

    def one(end):
        mask = (jnp.arange(n_bins) <= end)[None]

        def total(potentials):
            return _enumerated_log_density(params, counts[None], dt, p0, mask, potentials[None])

        return jax.value_and_grad(total)(jnp.zeros(n_bins, dtype=counts.dtype))

    return jax.vmap(one)(ends)


def enumerated_marginals(params, counts, *, dt: float, initial_prob_on=None, filter_bins=None,
                         chunk: int = 32, pad_to=None) -> MMPPMarginals:
    """Smoothed and filtered P(x_k = ON) of the binned model, from NumPyro (gradient
    identity, module docstring).

    Args:
        params: :class:`MMPPParams`. counts: (T, N) counts of one trial. dt: bin width, s.
        filter_bins: 0-based bins for the filtered marginals (default all T; each costs
            one pass over the trial).
        chunk: prefixes per compiled call (memory ~ chunk * T); the compiled function is
            keyed on (padded T, N, min(chunk, len(filter_bins) + 1)).
        pad_to: optional number of bins >= T (masked padding; no marginal changes).

    Returns:
        :class:`MMPPMarginals`.

    Raises:
        ValueError: on bad input. PrecisionError: in float32.
    """
    require_x64("enumerated_marginals")
    params, counts, dt, p0 = check_binned(params, counts, dt, initial_prob_on)
    if counts.ndim != 2:
        raise ValueError(f"counts must have shape (T, N) for marginals, got {counts.shape}")
    n_bins = counts.shape[0]
    filter_bins = np.arange(n_bins) if filter_bins is None else as_array(
        "filter_bins", filter_bins, ndim=1)
    if np.any(filter_bins != np.round(filter_bins)) or np.any(filter_bins < 0) or np.any(
            filter_bins >= n_bins):
        raise ValueError(f"filter_bins must be integers in [0, T = {n_bins})")
    filter_bins = filter_bins.astype(np.int64)
    if int(chunk) < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    padded, _ = _pad_bins(counts, _check_pad_to(pad_to, n_bins))
    args = (_leaves(params), to_device(padded), to_device(dt), to_device(_p0(params, p0)))
    ends = np.concatenate([filter_bins, [n_bins - 1]])
    size = min(int(chunk), ends.size)
    values, rows = [], []
    for start in range(0, ends.size, size):
        part = ends[start:start + size]
        block = np.concatenate([part, np.full(size - part.size, part[-1])])
        value, grad = _prefix_value_and_grad(*args, to_device(block))
        values.append(np.asarray(value)[:part.size])
        grad = np.asarray(grad)  # indexed on the host: no eager XLA programs
        rows.append(grad[np.arange(size), block][:part.size])
        if start + size >= ends.size:
            smoothed = to_device(grad[part.size - 1, :n_bins])
    return MMPPMarginals(smoothed=smoothed, filtered=to_device(np.concatenate(rows)[:-1]),
                         filter_bins=to_device(filter_bins),
                         log_likelihood=to_device(np.concatenate(values)[-1]))
