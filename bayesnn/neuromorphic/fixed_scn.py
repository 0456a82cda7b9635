r"""The spike-coding network (Boerlin et al. 2013) in exact integer arithmetic.

The float step (:func:`bayesnn.scn.step`, one spike per step) in explicit-weight form::

    V <- (1 - lambda_V dt) V + dt Gamma^T c_k + sigma_V sqrt(dt) xi_k + W_s r~
    r~ <- (1 - lambda_d dt) r~
    spike of i = argmax (V - T) if > 0:   V <- V - Omega_f[:, i],   r~_i += 1

with ``Omega_f = Gamma^T Gamma + mu lambda_d^2 I`` (+ the extra self-reset) and the slow
weights ``W_s = dt (Gamma^T (A + lambda_d I) Gamma + kappa I)`` acting on r~ before its
decay (:mod:`bayesnn.scn.network`). On the chip:

* ``V`` is an int64 word of ``state_bits`` bits with LSB ``2^e_V``, ``e_V`` chosen so
  that ``|V| < 16 max T`` (declared range) unless ``state_exp`` is given;
* ``r~`` is a ``state_bits`` word with LSB ``2^e_r``, declared range ``|r~| < 64``
  (a spike adds ``2^-e_r``; needs ``state_bits >= 8``);
* the self-reset ``Omega_f,ii`` is a neuron parameter (reset by subtraction) with
  ``threshold_bits`` significant bits;
* the lateral part of ``Omega_f`` (zero diagonal) and ``W_s`` are weight matrices with ``weight_bits`` mantissas and one
  exponent each (``weight_table`` applies per post-synaptic neuron, i.e. per row);
* decays are ``(2^b - d)/2^b`` multipliers, ``d = round(2^b lambda dt)``
  (``b = decay_bits``; Euler's factor ``1 - lambda dt`` of the float step, quantised);
* thresholds have ``threshold_bits`` significant bits;
* the input current ``dt Gamma^T c_k`` (+ noise) arrives from the input encoder as an
  integer per step (rounded to the V LSB): the chip's input, not its arithmetic;
* the readout ``x_hat = Gamma r~`` is decoded off chip from the integer traces.

Ties of ``V - T`` (frequent in integers) are broken by the same random offsets as the
float model (:func:`bayesnn.scn.step_inputs`). Units: s; x in the model's units.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.keys import as_key, trial_keys
from bayesnn.core.params import to_device
from bayesnn.core.validation import as_array
from bayesnn.scn import SCNParams, simulate, step_inputs
from bayesnn.scn.network.kernels import pick_max
from bayesnn.scn.network.params import host_derived
from bayesnn.neuromorphic.fixed_neuron import IntBits, neuron_bits
from bayesnn.neuromorphic.precision import (Precision, check_precision, codebook_weights,
                                            quantize_float, quantize_weights, random_words,
                                            round_shift, saturate, shift_by, pow2)

__all__ = ["FixedSCNResult", "simulate_fixed_scn", "scn_matrices", "scn_kernel",
           "TRACE_RANGE_BITS", "VOLTAGE_RANGE"]

TRACE_RANGE_BITS = 6   # declared |r~| < 64
VOLTAGE_RANGE = 16.0   # declared |V| < 16 max(T)


class FixedSCNResult(NamedTuple):
    """A fixed-point SCN run (trial axis first when batched).

    Fields:
        readout: (T, D) x_hat after each step (decoded from the integer traces).
        n_spikes: (T,) int32 spikes per step (0 or 1).
        senders: (T,) int32 neuron that fired (-1: none).
        n_saturated: () int64 state clips (or out-of-range states without saturation).
        weight_clips: () int64 clipped weight mantissas.
        voltage_lsb, trace_lsb: () LSBs of V (units of V) and r~.
        max_state: () int64 largest |V| or |r~| held, in LSB (<= state_limit).
        state_limit: () int64 2^(state_bits-1) - 1.
    """

    readout: jax.Array
    n_spikes: jax.Array
    senders: jax.Array
    n_saturated: jax.Array
    weight_clips: jax.Array
    voltage_lsb: jax.Array
    trace_lsb: jax.Array
    max_state: jax.Array
    state_limit: jax.Array


def scn_matrices(net: SCNParams, weight_table: str = "uniform"):
    """Float (lateral (N, N) with zero diagonal, slow (N, N) per step, thresholds (N,),
    self-resets (N,)) of ``net``, with the TrueNorth table applied per post-synaptic row
    (host side). The self-reset ``Omega_f,ii`` is a neuron parameter on both chips
    (reset by subtraction), not a synapse, so it is kept out of the weight table."""
    G = np.asarray(net.Gamma, float)
    N = G.shape[1]
    d = host_derived(net)  # on the host: no XLA program per derived quantity
    full = G.T @ G + np.diag(d["cost_quad"] + np.asarray(d["reset_extra"], float))
    reset = np.diag(full).copy()
    fast = full - np.diag(reset)
    slow = float(net.dt) * (G.T @ np.asarray(d["slow_matrix"], float) @ G + d["kappa"] * np.eye(N))
    if weight_table != "uniform":
        fast, slow = codebook_weights(fast, weight_table), codebook_weights(slow, weight_table)
    return fast, slow, np.asarray(net.thresholds, float), reset


def scn_kernel(net: SCNParams, fast, slow, thresholds, reset, inputs, bits: IntBits, key, *,
               rounding: str, auto_weight_exp: bool, auto_state_exp: bool):
    """The integer run of one trial (pure; traceable in ``bits``). ``inputs``:
    :class:`bayesnn.scn.StepInputs` with a leading T axis."""
    mode = rounding
    k_f, k_s, k_t, k_run = jax.random.split(key, 4)
    one = jnp.ones((), jnp.int64)
    top_v = float(VOLTAGE_RANGE) * jnp.max(thresholds)
    e_v = jnp.where(auto_state_exp,
                    jnp.ceil(jnp.log2(top_v)).astype(jnp.int64) - (bits.state_bits - 1),
                    bits.state_exp)
    e_r = TRACE_RANGE_BITS - (bits.state_bits - 1)
    unit = jnp.left_shift(one, jnp.maximum(-e_r, 0))
    wexp = None if auto_weight_exp else bits.weight_exp
    m_f, x_f, c_f = quantize_weights(fast, bits.weight_bits, wexp, mode, k_f)
    fast_int = shift_by(m_f, x_f - e_v, mode, random_words(k_f, m_f.shape))
    m_s, x_s, c_s = quantize_weights(slow, bits.weight_bits, wexp, mode, k_s)
    slow_shift = x_s + e_r - e_v
    # Thresholds and self-resets with threshold_bits significant bits, in V LSB.
    tv = thresholds * pow2(-e_v)
    rv = reset * pow2(-e_v)
    width = jnp.ceil(jnp.log2(jnp.maximum(jnp.max(rv), 1.0))).astype(jnp.int64)
    drop = jnp.maximum(width - bits.threshold_bits, 0)
    k_t1, k_t2 = jax.random.split(k_t)
    T_int = jnp.left_shift(quantize_float(tv, drop, mode, k_t1), drop)
    R_int = jnp.left_shift(quantize_float(rv, drop, mode, k_t2), drop)
    scale = jnp.left_shift(one, bits.decay_bits)
    d_v = quantize_float(net.lambda_v * net.dt, -bits.decay_bits, "nearest")
    d_r = quantize_float(net.lambda_d * net.dt, -bits.decay_bits, "nearest")
    G = jnp.asarray(net.Gamma)
    N = G.shape[1]
    sigma_step = net.sigma_v * jnp.sqrt(net.dt)

    def step(carry, xs):
        V, r, n_sat, held = carry
        k, inp = xs
        # Random words only for stochastic rounding (drawing them costs a hash per step).
        words = (random_words(jax.random.fold_in(k_run, k), (4, N)) if mode == "stochastic"
                 else jnp.zeros((4, N), jnp.int64))
        # Products as fixed-order sums: a batched matmul may sum in another order, and
        # the input encoder's rounding must not depend on the batch size.
        drive = inp.c[0] * G[0]
        for d in range(1, G.shape[0]):
            drive = drive + inp.c[d] * G[d]
        drive = net.dt * drive
        if inp.noise.shape[-1]:
            drive = drive + sigma_step * inp.noise
        ff = quantize_float(drive, e_v, "nearest")   # input encoder (nearest: no bias)
        slow_in = shift_by(jnp.sum(m_s * r[None, :], axis=-1), slow_shift, mode, words[0])
        V = round_shift(V * (scale - d_v), bits.decay_bits, mode, words[1]) + ff + slow_in
        r = round_shift(r * (scale - d_r), bits.decay_bits, mode, words[2])
        idx, m = pick_max(V - T_int, inp.offsets[0])
        fire = m > 0
        V = V - jnp.where(fire, fast_int[:, idx], 0)
        V = V.at[idx].add(-jnp.where(fire, R_int[idx], 0))
        r = r.at[idx].add(jnp.where(fire, unit, 0))
        V, out_v = saturate(V, bits.state_bits)
        r, out_r = saturate(r, bits.state_bits)
        xh = jnp.sum(G * (r * pow2(e_r))[None, :], axis=-1)
        held = jnp.maximum(held, jnp.maximum(jnp.max(jnp.abs(V)), jnp.max(jnp.abs(r))))
        return (V, r, n_sat + out_v + out_r, held), (xh, fire.astype(jnp.int32),
                                               jnp.where(fire, idx, -1))

    V0 = jnp.zeros(N, jnp.int64)
    steps = jnp.arange(inputs.c.shape[0], dtype=jnp.int64)
    zero = jnp.zeros((), jnp.int64)
    (_, _, n_sat, held), (xh, n, senders) = jax.lax.scan(step, (V0, V0, zero, zero),
                                                         (steps, inputs))
    limit = jnp.left_shift(one, bits.state_bits - 1) - 1
    return FixedSCNResult(xh, n, senders, n_sat, c_f + c_s, pow2(e_v),
                          pow2(e_r), held, limit)


@partial(jax.jit, static_argnames=("rounding", "auto_weight_exp", "auto_state_exp"))
def _run_batch(net, fast, slow, thresholds, reset, inputs, bits, keys, rounding,
               auto_weight_exp, auto_state_exp):
    run = lambda i, k: scn_kernel(net, fast, slow, thresholds, reset, i, bits, k, rounding=rounding,  # noqa: E731
                                  auto_weight_exp=auto_weight_exp, auto_state_exp=auto_state_exp)
    return jax.vmap(run)(inputs, keys)


def check_scn_precision(p: Precision, n_neurons: int) -> Precision:
    """Validated precision with the SCN's integer-path limits (``ValueError`` naming the
    field): ``state_bits`` in 8..40, ``decay_bits`` <= 20 and
    ``weight_bits + state_bits + log2 N <= 62`` (int64 sums of products)."""
    p = check_precision(p)
    if p.exact_float:
        return p
    if not 8 <= p.state_bits <= 40:
        raise ValueError(f"state_bits must be in 8..40 for the integer SCN (|r~| < 64 with a "
                         f"unit increment; int64 products), got {p.state_bits}")
    if p.decay_bits > 20:
        raise ValueError(f"decay_bits must be <= 20 for the integer SCN, got {p.decay_bits}")
    if p.weight_bits + p.state_bits + int(np.ceil(np.log2(max(n_neurons, 2)))) > 62:
        raise ValueError(f"weight_bits + state_bits + log2(N) must be <= 62 (int64 sums), got "
                         f"{p.weight_bits} + {p.state_bits} + log2({n_neurons})")
    return p


def simulate_fixed_scn(net: SCNParams, c, *, precision: Precision, key=0) -> FixedSCNResult:
    """Run a B13 network (one spike per step) in a chip's number formats.

    Args:
        net: :class:`bayesnn.scn.SCNParams`.
        c: (T, D) or (trials, T, D) input, x per second.
        precision: :class:`Precision`; :data:`~bayesnn.neuromorphic.FLOAT64` runs
            :func:`bayesnn.scn.simulate` itself (bit-identical).
        key: int seed or JAX key; trial k uses ``fold_in(key, k)`` (noise, tie-breaks,
            stochastic rounding), independent of the batch size.

    Returns:
        :class:`FixedSCNResult` (trial axis first for 3-D input).

    Raises:
        ValueError: naming the field for a bad precision or input; naming
            ``state_bits`` when a state leaves its range with ``saturate=False``.
    """
    if not isinstance(net, SCNParams):
        raise ValueError(f"net must be an SCNParams, got {type(net).__name__}")
    p = check_scn_precision(precision, net.n_neurons)
    c = as_array("c", c)
    if c.ndim not in (2, 3) or c.shape[-1] != net.n_dims or c.shape[-2] < 1:
        raise ValueError(f"c must have shape (T, {net.n_dims}) or (trials, T, {net.n_dims}), got {c.shape}")
    single = c.ndim == 2
    c = c[None] if single else c
    base = as_key(key)
    n_trials = c.shape[0]
    if p.exact_float:
        outs = []
        for t in range(n_trials):
            res = simulate(net, c[t], key=jax.random.fold_in(base, t))
            times, senders = _spike_lists(res)
            n = np.zeros(c.shape[1], np.int32)
            snd = np.full(c.shape[1], -1, np.int32)
            steps = np.rint(times / float(net.dt)).astype(int) - 1
            n[steps], snd[steps] = 1, senders
            outs.append(FixedSCNResult(np.asarray(res.readout), n, snd, np.int64(0), np.int64(0),
                                       np.float64(0), np.float64(0), np.int64(0), np.int64(0)))
        out = jax.tree_util.tree_map(lambda *a: np.stack(a), *outs)
    else:
        fast, slow, T, reset = scn_matrices(net, p.weight_table)
        # fold_in(key, t) by one program (core.trial_keys); keys cut and inputs stacked on
        # the host (indexing / jnp.stack / asarray compile a program per shape)
        keys = trial_keys(base, n_trials)
        host_keys = np.asarray(keys)
        per_trial = [step_inputs(net, c[t], key=to_device(host_keys[t])) for t in range(n_trials)]
        inputs = jax.tree_util.tree_map(
            lambda *a: to_device(np.stack([np.asarray(x) for x in a])), *per_trial)
        out = _run_batch(net, to_device(fast), to_device(slow), to_device(T),
                         to_device(reset), inputs,
                         neuron_bits(p), keys, p.rounding, p.weight_exp is None, p.state_exp is None)
        if not p.saturate and int(np.max(np.asarray(out.n_saturated))) > 0:
            raise ValueError(f"state_bits = {p.state_bits}: a voltage or trace left the declared "
                             f"range {int(np.max(np.asarray(out.n_saturated)))} times; enable saturate or "
                             f"widen the state")
    # the single trial cut on the host (indexing compiles a program per field shape)
    return (jax.tree_util.tree_map(_first, out) if single
            else out)


def _spike_lists(res):
    from bayesnn.core.spikes import spike_arrays
    times, senders, _ = spike_arrays(res.spikes)
    return np.asarray(times), np.asarray(senders)


def _first(a):
    """Trial 0 of a batched field, cut on the host (indexing a device array compiles a
    program per shape); NumPy fields stay NumPy, device fields go back to the device."""
    return a[0] if isinstance(a, np.ndarray) else to_device(np.asarray(a)[0])
