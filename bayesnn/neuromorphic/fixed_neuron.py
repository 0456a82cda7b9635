r"""The Bayesian neuron (stepped, binned model) in exact integer arithmetic.

The float model (``method="discrete"`` of :func:`bayesnn.neuron.filter_counts`; Denève
2004 Sec. 1.1-1.3, the exact binned filter) is, per bin k of width dt,

.. math::
    L_k = f(L_{k-1}) + \sum_i n_{ik} w_i - \theta\,dt, \qquad
    G_k = f(G_{k-1}) + g_0\,n^{out}_k, \qquad
    n^{out}_k = \lceil (L_k - G_k - g_0/2)/g_0 \rceil^+

with the exact one-bin predict map :math:`f` (:mod:`bayesnn.neuron.stepped`). The integer
version holds :math:`L, G` as int64 words of ``state_bits`` bits with least significant
bit :math:`2^{e_s}` (default :math:`e_s = -(\text{state\_bits} - 7)`: a declared range of
:math:`|L| < 64` nats):

* weights :math:`w_i \approx m_i 2^{e_w}` (:func:`~bayesnn.neuromorphic.precision.quantize_weights`,
  one exponent for the input vector) added as :math:`m_i 2^{e_w - e_s}` per input spike;
* bias :math:`-\theta dt`, threshold :math:`g_0/2` (``threshold_bits`` significant bits)
  and jump :math:`g_0` (twice the threshold, so :math:`L - G \le g_0/2` holds exactly)
  as integers;
* the leak :math:`f(L) - L` has no form on a fixed-function chip (Loihi 1's LIF decays
  linearly); it is a programmed table (Loihi 2-style microcode) of
  :math:`\Delta_j = f(L_j) - L_j` at :math:`L_j = -64 + j/16` nats, interpolated
  linearly with the fractional position quantised to ``decay_bits`` bits:
  :math:`\Delta(L) = \Delta_j + \mathrm{round}((\Delta_{j+1} - \Delta_j) \phi / 2^{b})`;
* every quantisation uses the precision's rounding mode; states are saturated (and
  the clips counted) or, without saturation, an out-of-range state raises.

Units: s, Hz, nats. The :data:`~bayesnn.neuromorphic.precision.FLOAT64` preset runs the
plain float64 model (:func:`bayesnn.neuron.filter_counts`, ``method="discrete"``) bit for bit.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.keys import as_key, trial_keys
from bayesnn.core.params import to_device
from bayesnn.core.validation import require_integer_counts, require_positive
from bayesnn.core.spikes import spike_arrays
from bayesnn.neuron import NeuronParams, filter_counts
from bayesnn.neuron.stepped import discrete_predict, transition_probabilities
from bayesnn.neuromorphic.precision import (Precision, check_precision, codebook_weights,
                                            quantize_float, quantize_weights, random_words,
                                            round_shift, saturate, shift_by, pow2)

__all__ = ["IntBits", "FixedNeuronResult", "simulate_fixed_neuron", "neuron_bits",
           "neuron_kernel", "INT_BITS", "TABLE_STEP_BITS"]

INT_BITS = 6          # declared log-odds range |L| < 2^6 = 64 nats
TABLE_STEP_BITS = 4   # leak table spacing 2^-4 nats
_TABLE = np.arange(-(2**INT_BITS) * 2**TABLE_STEP_BITS, 2**INT_BITS * 2**TABLE_STEP_BITS + 2)


class IntBits(NamedTuple):
    """The integer fields of a :class:`Precision` as int64 arrays (traceable: a sweep
    vmaps over them). ``weight_exp`` / ``state_exp`` are used only when the static
    ``auto_*`` flags of the kernel are False."""

    weight_bits: jax.Array
    weight_exp: jax.Array
    state_bits: jax.Array
    state_exp: jax.Array
    decay_bits: jax.Array
    threshold_bits: jax.Array


def neuron_bits(p: Precision) -> IntBits:
    """:class:`IntBits` of a validated precision (None exponents as 0; see the flags)."""
    a = lambda v: jnp.asarray(0 if v is None else v, jnp.int64)  # noqa: E731
    return IntBits(a(p.weight_bits), a(p.weight_exp), a(p.state_bits), a(p.state_exp),
                   a(p.decay_bits), a(p.threshold_bits))


class FixedNeuronResult(NamedTuple):
    """One (or a batch of) fixed-point neuron run(s); trial axis first when batched.

    Fields:
        log_odds: (T,) L at the end of each bin, nats (integer state x its LSB).
        prediction: (T,) G at the end of each bin, nats.
        n_spikes: (T,) int32 output spikes at the end of each bin.
        n_saturated: () int64 state clips (saturation on) or out-of-range states (off).
        weight_clips: () int64 weight mantissas clipped (explicit exponent too small).
        state_lsb: () the state's least significant bit, nats.
        weights: (N,) the weights as run (mantissa x 2^exponent), nats.
        g0: () the output jump as run, nats.
        max_state: () int64 largest |L| or |G| held, in LSB (<= state_limit).
        state_limit: () int64 2^(state_bits-1) - 1.
    """

    log_odds: jax.Array
    prediction: jax.Array
    n_spikes: jax.Array
    n_saturated: jax.Array
    weight_clips: jax.Array
    state_lsb: jax.Array
    weights: jax.Array
    g0: jax.Array
    max_state: jax.Array
    state_limit: jax.Array

    @property
    def spike_count(self):
        """Total output spikes (per trial)."""
        return jnp.sum(self.n_spikes, axis=-1)


def _table_values(params: NeuronParams, dt: float) -> np.ndarray:
    """Delta_j = f(L_j) - L_j at the table nodes (float64, host)."""
    a_on, a_off = transition_probabilities(params, dt)
    nodes = jnp.asarray(_TABLE, jnp.float64) * 2.0**-TABLE_STEP_BITS
    return discrete_predict(nodes, a_on, a_off) - nodes


def neuron_kernel(params: NeuronParams, weights: jax.Array, counts: jax.Array, dt: float,
                  bits: IntBits, key: jax.Array, *, rounding: str, saturate_states: bool,
                  auto_weight_exp: bool, auto_state_exp: bool) -> FixedNeuronResult:
    """The integer run of one trial (pure, traceable in ``bits``, ``weights``, ``key``).

    ``weights`` (N,) are the float weights to quantise (already mapped to a TrueNorth
    table where asked); ``counts`` (T, N) integer input counts per bin.
    """
    mode = rounding
    k_w, k_b, k_run = jax.random.split(key, 3)
    state_exp = jnp.where(auto_state_exp, -(bits.state_bits - 1 - INT_BITS), bits.state_exp)
    m, e_w, clips = quantize_weights(weights, bits.weight_bits, None if auto_weight_exp
                                     else bits.weight_exp, mode, k_w)
    w_int = shift_by(m, e_w - state_exp, mode, random_words(k_w, m.shape))
    kb = jax.random.split(k_b, 3)
    bias = quantize_float(-params.theta * dt, state_exp, mode, kb[0])
    # Threshold g0/2 with threshold_bits significant bits (in state LSB).
    half = params.g0 / 2 * pow2(-state_exp)
    width = jnp.ceil(jnp.log2(jnp.maximum(half, 1.0))).astype(jnp.int64)
    drop = jnp.maximum(width - bits.threshold_bits, 0)
    th = jnp.left_shift(quantize_float(half, drop, mode, kb[1]), drop)
    th = jnp.maximum(th, 1)
    g0_int = 2 * th
    table = quantize_float(_table_values(params, dt), state_exp, mode, kb[2])
    frac_bits = -state_exp - TABLE_STEP_BITS          # LSBs per table interval (log2)
    drop_frac = jnp.maximum(frac_bits - bits.decay_bits, 0)
    interp_bits = frac_bits - drop_frac
    origin = jnp.left_shift(jnp.ones((), jnp.int64), -state_exp + INT_BITS)  # 64 nats in LSB
    n_nodes = _TABLE.size

    def leak(x, words):
        y = x + origin
        j = jnp.clip(jnp.right_shift(y, frac_bits), 0, n_nodes - 2)
        phi = jnp.right_shift(y - jnp.left_shift(j, frac_bits), drop_frac)
        slope = table[j + 1] - table[j]
        return x + table[j] + round_shift(slope * phi, interp_bits, mode, words)

    def step(carry, inputs):
        L, G, n_sat = carry
        k, n = inputs
        words = (random_words(jax.random.fold_in(k_run, k), (2,)) if mode == "stochastic"
                 else jnp.zeros(2, jnp.int64))
        L = leak(L, words[0]) + jnp.sum(n.astype(jnp.int64) * w_int) + bias
        G = leak(G, words[1])
        # Without saturation the wrapper raises on any count (never a silent wrap).
        L, out_l = saturate(L, bits.state_bits)
        excess = L - G - th
        n_out = jnp.where(excess > 0, (excess + g0_int - 1) // g0_int, 0)
        G, out_g = saturate(G + n_out * g0_int, bits.state_bits)
        return (L, G, n_sat + out_l + out_g), (L, G, n_out.astype(jnp.int32))

    L0 = quantize_float(params.prior_log_odds, state_exp, "nearest")
    steps = jnp.arange(counts.shape[0], dtype=jnp.int64)
    (_, _, n_sat), (Ls, Gs, n_out) = jax.lax.scan(step, (L0, L0, jnp.zeros((), jnp.int64)),
                                                  (steps, counts))
    lsb = pow2(state_exp)
    held = jnp.maximum(jnp.max(jnp.abs(Ls)), jnp.max(jnp.abs(Gs)))
    limit = jnp.left_shift(jnp.ones((), jnp.int64), bits.state_bits - 1) - 1
    return FixedNeuronResult(Ls * lsb, Gs * lsb, n_out, n_sat, clips, lsb,
                             m * pow2(e_w), g0_int * lsb, held, limit)


@partial(jax.jit, static_argnames=("rounding", "saturate_states", "auto_weight_exp",
                                   "auto_state_exp"))
def _run_batch(params, weights, counts, dt, bits, keys, rounding, saturate_states,
               auto_weight_exp, auto_state_exp):
    run = lambda c, k: neuron_kernel(params, weights, c, dt, bits, k, rounding=rounding,  # noqa: E731
                                     saturate_states=saturate_states,
                                     auto_weight_exp=auto_weight_exp,
                                     auto_state_exp=auto_state_exp)
    return jax.vmap(run)(counts, keys)


def check_neuron_precision(p: Precision) -> Precision:
    """Validated precision with the neuron's integer-path limits (``ValueError`` naming
    the field): ``state_bits`` in 11..40 (a table spacing of 1/16 nat needs 4 fraction
    bits; products stay within int64), a ``state_exp`` that keeps those bits, and
    ``decay_bits`` <= 20."""
    p = check_precision(p)
    if p.exact_float:
        return p
    if not 11 <= p.state_bits <= 40:
        raise ValueError(f"state_bits must be in 11..40 for the integer neuron (|L| < 64 nats "
                         f"with >= 4 fraction bits; int64 products), got {p.state_bits}")
    if p.state_exp is not None and not -(p.state_bits - 1 - INT_BITS) <= p.state_exp <= -TABLE_STEP_BITS:
        raise ValueError(f"state_exp must lie in [{-(p.state_bits - 1 - INT_BITS)}, "
                         f"{-TABLE_STEP_BITS}] for state_bits = {p.state_bits} (range |L| < 64 "
                         f"nats, 1/16-nat table), got {p.state_exp}")
    if p.decay_bits > 20:
        raise ValueError(f"decay_bits must be <= 20 for the integer neuron (int64 products), "
                         f"got {p.decay_bits}")
    if p.weight_exp is not None and p.state_exp is None and p.weight_exp < -(p.state_bits - 1 - INT_BITS) - 62:
        raise ValueError(f"weight_exp {p.weight_exp} is outside the state format")
    return p


def table_weights(params: NeuronParams, p: Precision) -> np.ndarray:
    """The neuron's weights after the precision's weight table (host side)."""
    w = np.asarray(params.weights, float)
    return codebook_weights(w, p.weight_table) if p.weight_table != "uniform" else w


def simulate_fixed_neuron(params: NeuronParams, counts, *, dt: float, precision: Precision,
                          key=0) -> FixedNeuronResult:
    """Run the Bayesian neuron (binned, Poisson counts) in a chip's number formats.

    Args:
        params: :class:`bayesnn.neuron.NeuronParams`.
        counts: (T, N) or (trials, T, N) non-negative integer input counts per bin.
        dt: bin width, s.
        precision: a :class:`Precision` (e.g. :data:`~bayesnn.neuromorphic.LOIHI`).
        key: int seed or JAX key (stochastic rounding); trial k uses ``fold_in(key, k)``
            and does not depend on the batch size.

    Returns:
        :class:`FixedNeuronResult` (trial axis first for 3-D counts).

    Raises:
        ValueError: naming the field for a bad precision, counts or dt; naming
            ``state_bits`` when a state leaves its range with ``saturate=False``.
    """
    p = check_neuron_precision(precision)
    dt = float(require_positive("dt", dt, ndim=0))
    c = require_integer_counts("counts", counts, keep_integer=True)
    if c.ndim not in (2, 3) or c.shape[-1] != params.n_inputs or c.shape[-2] < 1:
        raise ValueError(f"counts must have shape (T, {params.n_inputs}) or (trials, T, "
                         f"{params.n_inputs}) with T >= 1, got {c.shape}")
    single = c.ndim == 2
    # host arrays in by device_put (jnp.asarray compiles a program per shape); the keys
    # fold_in(key, k) by one jitted program (core.trial_keys)
    c = to_device(c[None] if single else c, jnp.int64)
    base = as_key(key)
    keys = trial_keys(base, c.shape[0])
    weights = to_device(table_weights(params, p))
    if p.exact_float:
        # The plain model's own entry point: bit-identical by construction (its
        # evidence sums run on the host, so a re-implementation could round apart).
        run = filter_counts(params, np.asarray(c), dt=dt, method="discrete")
        L, G = run.log_odds, run.prediction
        n = np.zeros(L.shape, np.int32)
        for t in range(c.shape[0]):
            times, _, mult = spike_arrays(run.spikes, t)
            np.add.at(n[t], np.rint(np.asarray(times) / dt).astype(int) - 1, mult)
        zero = to_device(np.zeros(c.shape[0], np.int64), jnp.int64)
        w_host = np.asarray(weights)
        res = FixedNeuronResult(L, G, n, zero, zero, to_device(np.zeros(c.shape[0])),
                                to_device(np.broadcast_to(w_host, (c.shape[0],) + w_host.shape)),
                                to_device(np.full(c.shape[0], float(params.g0))), zero, zero)
    else:
        res = _run_batch(params, weights, c, dt, neuron_bits(p), keys, p.rounding, p.saturate,
                         p.weight_exp is None, p.state_exp is None)
        if not p.saturate and int(np.max(np.asarray(res.n_saturated))) > 0:
            raise ValueError(f"state_bits = {p.state_bits}: the log-odds left the declared range "
                             f"{int(np.max(np.asarray(res.n_saturated)))} times; enable saturate or widen "
                             f"the state")
    # the single trial cut on the host (indexing compiles a program per field shape)
    return (jax.tree_util.tree_map(_first, res) if single
            else res)


def _first(a):
    """Trial 0 of a batched field, cut on the host (indexing a device array compiles a
    program per shape); NumPy fields stay NumPy, device fields go back to the device."""
    return a[0] if isinstance(a, np.ndarray) else to_device(np.asarray(a)[0])
