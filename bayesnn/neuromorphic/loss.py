r"""Posterior loss against bit width: one compiled program per sweep.

For the Bayesian neuron the loss is the time-averaged

.. math::  \overline{KL} = \frac1T \sum_k KL\big(\mathrm{Bern}(\sigma(L^{ex}_k)) \,\|\,
           \mathrm{Bern}(\sigma(G_k))\big)

between the exact binned filter :math:`L^{ex}` (float64, :func:`bayesnn.neuron.filter_counts`)
and the posterior a reader decodes from the output spikes, :math:`\sigma(G)`
(the *spiking posterior*); also the KL of the neuron's own state :math:`\sigma(L)` and the
log-loss :math:`-\frac1T\sum_k \log P(x_k \mid \cdot)` when the hidden states are given.
For the spike-coding network it is the RMSE of the readout :math:`\hat x` against the
target ``x`` (per step, all dimensions).

The grid of bit widths (weight_bits x state_bits) enters as traced integers: the sweep
is ``jit(vmap(points) . vmap(trials))``, one compilation for the whole grid.
The float64 run and the exact filter are the references. The knee is the smallest
weight width from which on every wider one stays within ``tolerance`` (default 10 %)
of the float64 value.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from bayesnn.core.keys import as_key, trial_keys
from bayesnn.core.params import to_device
from bayesnn.neuron import NeuronParams, filter_counts
from bayesnn.scn import SCNParams, simulate, step_inputs
from bayesnn.neuromorphic.fixed_neuron import (IntBits, check_neuron_precision, neuron_bits,
                                               neuron_kernel, table_weights)
from bayesnn.neuromorphic.fixed_scn import check_scn_precision, scn_kernel, scn_matrices
from bayesnn.neuromorphic.precision import LOIHI, Precision

__all__ = ["bernoulli_kl_jax", "neuron_bit_sweep", "scn_bit_sweep", "knee", "monotone_within_noise"]


def bernoulli_kl_jax(a, b):
    """KL(Bern(sigmoid a) || Bern(sigmoid b)) elementwise, nats (traceable)."""
    return (jax.nn.sigmoid(a) * (jax.nn.log_sigmoid(a) - jax.nn.log_sigmoid(b))
            + jax.nn.sigmoid(-a) * (jax.nn.log_sigmoid(-a) - jax.nn.log_sigmoid(-b)))


def _log_loss(L, x):
    return -jnp.mean(jnp.where(x == 1, jax.nn.log_sigmoid(L), jax.nn.log_sigmoid(-L)), axis=-1)


def _grid(weight_bits, state_bits, base: Precision, check):
    wb = np.repeat(np.asarray(weight_bits, int), len(state_bits))
    sb = np.tile(np.asarray(state_bits, int), len(weight_bits))
    for w, s in zip(wb, sb):
        check(base._replace(weight_bits=int(w), state_bits=int(s), state_exp=None))
    b = neuron_bits(base)
    n = wb.size
    # built on the host and transferred: no XLA program per field (jnp.full / asarray)
    full = lambda v: to_device(np.full(n, v, np.int64), jnp.int64)  # noqa: E731
    return IntBits(to_device(wb, jnp.int64), full(b.weight_exp), to_device(sb, jnp.int64),
                   full(0), full(b.decay_bits), full(b.threshold_bits)), wb, sb


@partial(jax.jit, static_argnames=("rounding",))
def _neuron_grid(params, weights, counts, exact, states, dt, bits, keys, rounding):
    def point(b):
        def trial(c, ex, x, k):
            r = neuron_kernel(params, weights, c, dt, b, k, rounding=rounding, saturate_states=True,
                              auto_weight_exp=True, auto_state_exp=True)
            return (jnp.mean(bernoulli_kl_jax(ex, r.prediction)),
                    jnp.mean(bernoulli_kl_jax(ex, r.log_odds)),
                    _log_loss(r.prediction, x), jnp.sum(r.n_spikes), r.n_saturated)
        return jax.vmap(trial)(counts, exact, states, keys)
    return jax.vmap(point)(bits)


def neuron_bit_sweep(params: NeuronParams, counts, states, *, dt: float,
                     weight_bits=tuple(range(2, 17)), state_bits=(16, 24, 32),
                     base: Precision = LOIHI._replace(rounding="nearest"), key=0) -> xr.Dataset:
    """Time-averaged KL and log-loss of the fixed-point neuron over a grid of widths.

    Args:
        params: :class:`bayesnn.neuron.NeuronParams`.
        counts: (trials, T, N) integer input counts per bin.  states: (trials, T) hidden x.
        dt: bin width, s.
        weight_bits, state_bits: the grid (every pair is run).
        base: the other formats (decay, threshold, rounding; exponents automatic).
        key: int seed or JAX key; trial k uses ``fold_in(key, k)`` at every point.

    Returns:
        ``xarray.Dataset`` with dims (weight_bits, state_bits, trial): ``kl_spiking``
        (KL(exact || sigma(G)), nats), ``kl_state`` (KL(exact || sigma(L))),
        ``log_loss`` (of sigma(G), nats), ``spikes``, ``saturated``; and per trial the
        references ``kl_spiking_float64``, ``kl_state_float64`` (= 0: the exact filter is
        the float64 state), ``log_loss_float64``, ``log_loss_exact``, ``spikes_float64``.

    Raises:
        ValueError: naming the field for widths the integer neuron cannot run.
    """
    counts = np.asarray(counts)
    states = np.asarray(states)
    if counts.ndim != 3 or states.shape != counts.shape[:2]:
        raise ValueError(f"counts must be (trials, T, N) and states (trials, T), got "
                         f"{counts.shape} and {states.shape}")
    bits, wb, sb = _grid(weight_bits, state_bits, base, check_neuron_precision)
    ref = filter_counts(params, counts, dt=dt, method="discrete")
    exact = np.asarray(ref.log_odds)
    g_float = np.asarray(ref.prediction)
    base_key = as_key(key)
    keys = trial_keys(base_key, counts.shape[0])  # fold_in(key, k), one program
    weights = to_device(table_weights(params, base))
    kl_g, kl_l, ll, n, sat = _neuron_grid(params, weights, to_device(counts, jnp.int64),
                                          to_device(exact), to_device(states), dt, bits, keys,
                                          base.rounding)
    shape = (len(weight_bits), len(state_bits), counts.shape[0])
    dims = ("weight_bits", "state_bits", "trial")
    v = lambda a: (dims, np.asarray(a).reshape(shape))  # noqa: E731
    counts_f, senders_f = np.asarray(ref.spikes.counts), np.asarray(ref.spikes.senders)
    n_float = np.array([int(np.sum(counts_f[t] * (senders_f[t] >= 0)))  # on the host
                        for t in range(counts.shape[0])])
    return xr.Dataset(
        {"kl_spiking": v(kl_g), "kl_state": v(kl_l), "log_loss": v(ll), "spikes": v(n),
         "saturated": v(sat),
         "kl_spiking_float64": ("trial", np.asarray(bernoulli_kl_jax(exact, g_float)).mean(-1)),
         "log_loss_float64": ("trial", np.asarray(_log_loss(g_float, states))),
         "log_loss_exact": ("trial", np.asarray(_log_loss(exact, states))),
         "spikes_float64": ("trial", n_float)},
        coords={"weight_bits": list(weight_bits), "state_bits": list(state_bits),
                "trial": np.arange(counts.shape[0])},
        attrs={"dt": dt, "duration": counts.shape[1] * dt, "rounding": base.rounding,
               "decay_bits": base.decay_bits, "threshold_bits": base.threshold_bits,
               "units": "nats; spikes per trial"})


@partial(jax.jit, static_argnames=("rounding",))
def _scn_grid(net, fast, slow, thresholds, reset, inputs, target, bits, keys, rounding):
    def point(b):
        def trial(inp, x, k):
            r = scn_kernel(net, fast, slow, thresholds, reset, inp, b, k, rounding=rounding,
                           auto_weight_exp=True, auto_state_exp=True)
            return (jnp.sqrt(jnp.mean((r.readout - x) ** 2)), jnp.sum(r.n_spikes), r.n_saturated)
        return jax.vmap(trial)(inputs, target, keys)
    return jax.vmap(point)(bits)


def scn_bit_sweep(net: SCNParams, c, target, *, weight_bits=tuple(range(2, 17)),
                  state_bits=(16, 24, 32), base: Precision = LOIHI._replace(rounding="nearest"),
                  key=0) -> xr.Dataset:
    """Readout RMSE of the fixed-point SCN over a grid of widths (one compilation).

    Args:
        net: :class:`bayesnn.scn.SCNParams`.
        c: (trials, T, D) input, x per s.  target: (trials, T, D) x after each step.
        weight_bits, state_bits, base, key: as :func:`neuron_bit_sweep`.

    Returns:
        ``xarray.Dataset`` with dims (weight_bits, state_bits, trial): ``rmse`` (units
        of x), ``spikes``, ``saturated``; per trial ``rmse_float64`` and
        ``spikes_float64`` (:func:`bayesnn.scn.simulate`, same keys).
    """
    c = np.asarray(c, float)
    target = np.asarray(target, float)
    if c.ndim != 3 or target.shape != c.shape:
        raise ValueError(f"c and target must both be (trials, T, D), got {c.shape}, {target.shape}")
    bits, wb, sb = _grid(weight_bits, state_bits, base,
                         lambda p: check_scn_precision(p, net.n_neurons))
    base_key = as_key(key)
    keys = [jax.random.fold_in(base_key, t) for t in range(c.shape[0])]
    per_trial = [step_inputs(net, c[t], key=keys[t]) for t in range(c.shape[0])]
    # stacked on the host and transferred (jnp.stack / asarray compile a program each)
    stack = lambda *a: to_device(np.stack([np.asarray(x) for x in a]))  # noqa: E731
    inputs = jax.tree_util.tree_map(stack, *per_trial)
    fast, slow, T, reset = (to_device(a) for a in scn_matrices(net, base.weight_table))
    rmse, n, sat = _scn_grid(net, fast, slow, T, reset, inputs, to_device(target), bits,
                             stack(*keys), base.rounding)
    floats = [simulate(net, c[t], key=keys[t]) for t in range(c.shape[0])]
    rmse_f = np.array([np.sqrt(np.mean((np.asarray(f.readout) - target[t]) ** 2))
                       for t, f in enumerate(floats)])
    n_f = np.array([int(f.spikes.n_events) for f in floats])
    shape = (len(weight_bits), len(state_bits), c.shape[0])
    dims = ("weight_bits", "state_bits", "trial")
    v = lambda a: (dims, np.asarray(a).reshape(shape))  # noqa: E731
    return xr.Dataset({"rmse": v(rmse), "spikes": v(n), "saturated": v(sat),
                       "rmse_float64": ("trial", rmse_f), "spikes_float64": ("trial", n_f)},
                      coords={"weight_bits": list(weight_bits), "state_bits": list(state_bits),
                              "trial": np.arange(c.shape[0])},
                      attrs={"dt": float(net.dt), "rounding": base.rounding, "units": "x"})


def knee(bits, values, reference, tolerance: float = 0.10):
    """Smallest width from which on every wider width has ``value <= (1 + tolerance)
    reference``; None if even the widest misses."""
    bits, values = np.asarray(bits), np.asarray(values, float)
    ok = values <= (1 + tolerance) * reference
    for i in range(len(bits)):
        if ok[i:].all():
            return int(bits[i])
    return None


def monotone_within_noise(values, n_se: float = 3.0) -> float:
    """Largest rise of a per-trial mean from one width to the next, in units of the
    standard error of the paired per-trial difference (<= n_se: monotone within noise).

    ``values``: (widths, trials), widths increasing."""
    v = np.asarray(values, float)
    d = v[1:] - v[:-1]
    se = d.std(axis=1, ddof=1) / np.sqrt(v.shape[1]) if v.shape[1] > 1 else np.zeros(len(d))
    # A rise smaller than 1e-12 nats is rounding, whatever its standard error.
    rise = np.maximum(d.mean(axis=1) - 1e-12, 0.0)
    return float(np.max(np.where(rise > 0, rise / np.maximum(se, 1e-300), 0.0), initial=0.0))
