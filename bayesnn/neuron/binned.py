"""Time-stepped runs of the Bayesian neuron on dense counts per bin
(:func:`filter_counts`), with the per-bin normalisers log Z_k of the binned model.

The per-bin sums of the counts (evidence and the log-likelihood of the counts in state
0) are formed on the host, over the nonzero counts only; the compiled scan
(:func:`bayesnn.neuron.kernels.stepped_counts_kernel`) then runs the "discrete" HMM
forward recursion or Euler's method (see :mod:`bayesnn.neuron.runs`).
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from bayesnn.core.params import to_device
from bayesnn.core.precision import warn_if_float32
from bayesnn.core.spikes import next_power_of_two, run_growing
from bayesnn.core.validation import require_integer_counts, require_positive, require_shape
from bayesnn.neuron.checks import check_params, default_capacity, initial_values
from bayesnn.neuron.kernels import stepped_counts_kernel
from bayesnn.neuron.params import NeuronParams
from bayesnn.neuron.runs import NeuronResult, as_run
from bayesnn.neuron.stepped import METHODS


@partial(jax.jit, static_argnames=("method", "record_every", "capacity", "batched"))
def _counts(params, evidence, log_lik_off, dt, bias, log_odds, prediction, *, method,
            record_every, capacity, batched):
    run = partial(stepped_counts_kernel, params, dt=dt, bias=bias, initial_log_odds=log_odds,
                  initial_prediction=prediction, method=method, record_every=record_every,
                  capacity=capacity)
    return jax.vmap(run)(evidence, log_lik_off) if batched else run(evidence, log_lik_off)


def _per_bin_sums(counts: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """``sum_i counts[..., i] * coefficients[k, i]`` per bin, for each row k.

    Counts per bin are mostly zero: the sums then run over the nonzero counts only (one
    pass to find them, then ``bincount``), else one ``einsum`` pass (several times
    faster than matmul on integer counts). The two differ by rounding only."""
    flat = counts.reshape(-1)
    where = np.flatnonzero(flat)
    if where.size > flat.size // 8:
        return np.einsum("...n,kn->k...", counts, coefficients)
    rows, channels = np.divmod(where, counts.shape[-1])
    values = flat[where].astype(np.float64)
    n_bins = flat.size // counts.shape[-1]
    return np.stack([np.bincount(rows, weights=values * row[channels], minlength=n_bins)
                     for row in coefficients]).reshape((len(coefficients),) + counts.shape[:-1])


@jax.jit
def _log_factorials(counts):
    """log(n!) = gammaln(n + 1), one compiled program (eager: two)."""
    return gammaln(counts + 1.0)


def _log_factorial_sums(counts: np.ndarray, largest: int) -> np.ndarray:
    """sum_i log(n_i!) per bin. log 0! = log 1! = 0, so only counts >= 2 contribute:
    their values come from one table of ``gammaln`` (the same values as gammaln on the
    whole array) and are summed per bin, instead of gammaln on every count."""
    flat = counts.reshape(-1, counts.shape[-1])
    if largest >= 1 << 20:  # a table would be large: gammaln on every count
        return np.asarray(_log_factorials(np.asarray(counts, np.float64))).sum(-1)
    # strictly above ``largest`` (the table needs index ``largest``); bucketed: few
    # compiled shapes of gammaln
    size = next_power_of_two(int(largest) + 1)
    table = np.asarray(_log_factorials(np.arange(size, dtype=np.float64)))
    where = np.flatnonzero(flat.reshape(-1) >= 2)
    values = table[flat.reshape(-1)[where].astype(np.int64)]
    rows = where // flat.shape[1]
    return np.bincount(rows, weights=values, minlength=flat.shape[0]).reshape(counts.shape[:-1])


def filter_counts(params: NeuronParams, counts, *, dt: float, method: str = "discrete",
                  observation: str = "poisson", record_every: int = 1,
                  capacity: int | None = None, initial_log_odds: float | None = None,
                  initial_prediction: float | None = None) -> NeuronResult:
    """Time-stepped run on dense counts per bin, with the per-bin normalisers.

    Args:
        counts: (T, N) or (trials, T, N) non-negative integer input counts per bin.
        dt: bin width, s.
        method: "discrete" (exact for the binned model) or "euler".
        observation: "poisson" (counts ~ Poisson(q dt)) or "bernoulli" (0/1 per bin,
            needs q dt < 1).

    ``log_normalizers`` (discrete method) holds log Z_k; their sum is the log marginal
    likelihood of the counts under the binned model (nats).
    """
    params = check_params(params)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if observation not in ("poisson", "bernoulli"):
        raise ValueError(f"observation must be 'poisson' or 'bernoulli', got {observation!r}")
    dt = float(require_positive("dt", dt, ndim=0))
    counts = require_integer_counts("counts", counts, keep_integer=True)
    if counts.ndim not in (2, 3):
        raise ValueError(f"counts must have shape (T, N) or (trials, T, N), got {counts.shape}")
    largest = int(counts.max()) if counts.size else 0
    require_shape("counts", counts, counts.shape[:-1] + (params.n_inputs,))
    n_steps = counts.shape[-2]
    if n_steps < 1:
        raise ValueError("counts must hold at least one bin, got T = 0")
    if not isinstance(record_every, (int, np.integer)) or record_every < 1 or n_steps % record_every:
        raise ValueError(f"record_every must be an integer >= 1 dividing the number of bins "
                         f"({n_steps}), got {record_every!r}")
    warn_if_float32("bayesnn.neuron.filter_counts")
    q_on, q_off = np.asarray(params.q_on), np.asarray(params.q_off)
    weights = np.asarray(params.weights)
    if observation == "bernoulli":
        if np.max(np.maximum(q_on, q_off)) * dt >= 1:
            raise ValueError("q_on * dt and q_off * dt must be < 1 for Bernoulli bins "
                             f"(max q * dt = {np.max(np.maximum(q_on, q_off)) * dt:.3g})")
        if largest > 1:
            raise ValueError("counts must be 0 or 1 for Bernoulli bins")
        correction = np.log1p(-q_on * dt) - np.log1p(-q_off * dt)
        weights, bias = weights - correction, float(correction.sum())
        # sum_i n log(q dt) + (1 - n) log(1 - q dt), as one product with the counts.
        per_count = np.log(q_off * dt) - np.log1p(-q_off * dt)
        offset = float(np.log1p(-q_off * dt).sum())
    else:
        bias = -float(params.theta) * dt
        per_count, offset = np.log(q_off * dt), -float(q_off.sum() * dt)
    evidence, log_lik_off = _per_bin_sums(counts, np.stack([weights, per_count]))
    log_lik_off = log_lik_off + offset
    if observation == "poisson" and largest > 1:
        log_lik_off = log_lik_off - _log_factorial_sums(counts, largest)
    log_odds, prediction = initial_values(params, initial_log_odds, initial_prediction)
    capacity = capacity or default_capacity(params, n_steps * dt, int(counts.sum(axis=(-1, -2)).max()))
    run = lambda c: _counts(params, to_device(evidence), to_device(log_lik_off), dt, bias,
                            log_odds, prediction, method=method, record_every=int(record_every),
                            capacity=c, batched=counts.ndim == 3)
    out = run_growing(run, capacity, lambda o: o.spikes.n_events)
    times = dt * np.arange(record_every, n_steps + 1, record_every)
    return as_run(times, out, method == "discrete")




__all__ = ["filter_counts"]
