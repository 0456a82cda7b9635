r"""Bounded-memory statistics accumulated inside the learning scans: spike counts,
inter-spike intervals (ISI CV = std/mean, ddof 0, as :func:`bayesnn.metrics.isi_cv`),
voltage moments, and the moments ``sum r r^T``, ``sum x r^T``, ``sum x x^T`` from which
the optimal linear decoder and its error follow (Brendel et al. 2020: error =
``sum_d var_t(x_d - x_hat_d) / sum_d var_t(x_d)``).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.params import to_device

__all__ = ["add_spike", "accumulate", "block_summary", "reset_block", "empty_acc",
           "Moments", "zero_moments", "add_moments", "decoding_error", "optimal_decoder",
           "in_sample_error"]


class _Acc(NamedTuple):
    """Per-block accumulators: spikes (N,), last spike step (N,), ISI n/sum/sumsq (N,),
    voltage sum/sumsq (N,)."""

    spikes: jax.Array
    last: jax.Array
    n_isi: jax.Array
    s1: jax.Array
    s2: jax.Array
    v1: jax.Array
    v2: jax.Array


def add_spike(acc: _Acc, k, sender, fired) -> _Acc:
    """Add the spike of ``sender`` at step k if ``fired`` (counts and ISI sums)."""
    dtype = acc.s1.dtype
    firef = fired.astype(dtype)
    prev = acc.last[sender]
    hasf = (fired & (prev >= 0)).astype(dtype)
    isi = (k - prev).astype(dtype)
    return acc._replace(spikes=acc.spikes.at[sender].add(firef),
                        last=acc.last.at[sender].set(jnp.where(fired, k, prev)),
                        n_isi=acc.n_isi.at[sender].add(hasf),
                        s1=acc.s1.at[sender].add(hasf * isi),
                        s2=acc.s2.at[sender].add(hasf * isi * isi))


def accumulate(acc: _Acc, k, V, sender, fired) -> _Acc:
    """Add one step (index k, voltages V, spike of ``sender`` if ``fired``)."""
    acc = add_spike(acc, k, sender, fired)
    return acc._replace(v1=acc.v1 + V, v2=acc.v2 + V * V)


def block_summary(acc: _Acc, n: int, seconds):
    """(rate Hz, median CV, mean voltage variance) of a block of n steps."""
    N = acc.spikes.shape[0]
    rate = jnp.sum(acc.spikes) / (N * seconds)
    ok = acc.n_isi >= 2
    m = acc.s1 / jnp.maximum(acc.n_isi, 1)
    var = jnp.maximum(acc.s2 / jnp.maximum(acc.n_isi, 1) - m * m, 0.0)
    cv = jnp.where(ok, jnp.sqrt(var) / jnp.where(ok, m, 1.0), jnp.nan)
    cv_med = jnp.where(jnp.any(ok), jnp.nanmedian(cv), jnp.nan)
    vm = acc.v1 / n
    return rate, cv_med, jnp.mean(acc.v2 / n - vm * vm)


def reset_block(acc: _Acc) -> _Acc:
    zero = jnp.zeros_like(acc.v1)
    return _Acc(jnp.zeros_like(acc.spikes), acc.last, zero, zero, zero, zero, zero)


def empty_acc(N: int, dtype) -> _Acc:
    # built by NumPy: a host value reaches the device without a compiled program
    zero = to_device(np.zeros(N, dtype))
    return _Acc(zero, to_device(np.full(N, -1, np.int32)), zero, zero, zero, zero, zero)


class Moments(NamedTuple):
    """Sums over samples: RR (n, n) r r^T, XR (D, n) x r^T, XX (D, D) x x^T, sr (n,),
    sx (D,), count ()."""

    RR: jax.Array
    XR: jax.Array
    XX: jax.Array
    sr: jax.Array
    sx: jax.Array
    count: jax.Array


def zero_moments(D: int, n: int, dtype) -> Moments:
    return Moments(jnp.zeros((n, n), dtype), jnp.zeros((D, n), dtype), jnp.zeros((D, D), dtype),
                   jnp.zeros(n, dtype), jnp.zeros(D, dtype), jnp.zeros((), dtype))


def add_moments(m: Moments, x: jax.Array, r: jax.Array) -> Moments:
    return Moments(m.RR + jnp.outer(r, r), m.XR + jnp.outer(x, r), m.XX + jnp.outer(x, x),
                   m.sr + r, m.sx + x, m.count + 1)


def optimal_decoder(m: Moments) -> jax.Array:
    """Least-squares decoder ``D = XR (RR + eps I)^-1`` (D, n) (no intercept; the ridge
    ``eps = 1e-12 max(diag RR)`` only keeps silent neurons' rows solvable, where it gives
    them a zero decoder, and changes nothing measurable otherwise)."""
    n = m.RR.shape[0]
    ridge = 1e-12 * jnp.maximum(jnp.max(jnp.diagonal(m.RR), initial=0.0), 1e-300)
    return jnp.linalg.solve(m.RR + ridge * jnp.eye(n, dtype=m.RR.dtype), m.XR.T).T


def decoding_error(m: Moments, D: jax.Array) -> jax.Array:
    """``sum_d var(x_d - (D r~)_d) / sum_d var(x_d)`` over the samples of ``m``."""
    n = jnp.maximum(m.count, 1)
    mx, mr = m.sx / n, m.sr / n
    see = (jnp.trace(m.XX) - 2 * jnp.sum(D * m.XR) + jnp.sum((D @ m.RR) * D)) / n
    me = mx - D @ mr
    return (see - jnp.sum(me**2)) / (jnp.trace(m.XX) / n - jnp.sum(mx**2))


def in_sample_error(m: Moments) -> jax.Array:
    """Error of the optimal decoder fitted on the same samples (NaN without samples)."""
    return jnp.where(m.count > 0, decoding_error(m, optimal_decoder(m)), jnp.nan)
