r"""Parameters of the Markov-modulated Poisson model (Denève 2004, Sec. 1).

* hidden state :math:`x_t \in \{0, 1\}`: a two-state Markov chain switching 0 -> 1 at
  rate ``r_on`` and 1 -> 0 at rate ``r_off`` (Hz); dwell times are exponential with
  means ``1/r_on`` (state 0) and ``1/r_off`` (state 1);
* N inputs, conditionally independent Poisson processes with rate ``q_on[i]`` while
  x = 1 and ``q_off[i]`` while x = 0 (Hz).

Derived quantities (not free): synaptic weights :math:`w_i = \log(q^i_{on}/q^i_{off})`
(jump of the log-odds per input spike, nats), bias
:math:`\theta = \sum_i (q^i_{on} - q^i_{off})` (Hz), prior log-odds
:math:`L^* = \log(r_{on}/r_{off})` (nats).

This record is shared by the samplers (:mod:`bayesnn.processes`), the exact references
(:mod:`bayesnn.exact`) and the models built on the same generative model: it holds data
and checks, no simulation code, so sharing it never lets a reference share an error
with the model it checks.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from bayesnn.core.params import as_leaf, params_record, unchecked
from bayesnn.core.validation import require_positive, require_shape


def check_mmpp_fields(r_on, r_off, q_on, q_off) -> dict:
    """Validated MMPP fields as leaves; ``ValueError`` naming the field otherwise."""
    r_on = require_positive("r_on", r_on, ndim=0)
    r_off = require_positive("r_off", r_off, ndim=0)
    q_on = require_positive("q_on", q_on, ndim=1)
    q_off = require_positive("q_off", q_off, ndim=1)
    if q_on.shape[0] < 1:
        raise ValueError("q_on must hold at least one input rate, got shape (0,)")
    require_shape("q_off", q_off, q_on.shape)
    return dict(r_on=as_leaf(r_on), r_off=as_leaf(r_off), q_on=as_leaf(q_on),
                q_off=as_leaf(q_off))


# The derived quantities, one jitted program each: as eager jax.numpy on concrete records
# they dispatched two or three tiny XLA programs per property (inside a trace they inline).
@jax.jit
def _log_ratio(a, b):
    return jnp.log(a / b)


@jax.jit
def _sum_difference(q_on, q_off):
    return jnp.sum(q_on - q_off, axis=-1)


@jax.jit
def _evidence_rate(q_on, q_off):
    return jnp.sum(q_on * jnp.log(q_on / q_off), axis=-1) - jnp.sum(q_on - q_off, axis=-1)


@jax.jit
def _share(a, b):
    return a / (a + b)


@jax.jit
def _sum_maximum(q_on, q_off):
    return jnp.sum(jnp.maximum(q_on, q_off), axis=-1)


class _RatesMixin:
    """Derived quantities shared by every record holding (r_on, r_off, q_on, q_off)."""

    r_on: jax.Array
    r_off: jax.Array
    q_on: jax.Array
    q_off: jax.Array

    @property
    def n_inputs(self) -> int:
        """N, the number of inputs (static)."""
        return int(self.q_on.shape[-1])

    @property
    def weights(self) -> jax.Array:
        """(N,) w_i = log(q_on[i] / q_off[i]), nats per input spike."""
        return _log_ratio(self.q_on, self.q_off)

    @property
    def theta(self) -> jax.Array:
        """theta = sum_i (q_on[i] - q_off[i]), Hz."""
        return _sum_difference(self.q_on, self.q_off)

    @property
    def prior_log_odds(self) -> jax.Array:
        """L* = log(r_on / r_off), nats: the fixed point of the prior leak."""
        return _log_ratio(self.r_on, self.r_off)

    @property
    def stationary_prob_on(self) -> jax.Array:
        """r_on / (r_on + r_off)."""
        return _share(self.r_on, self.r_off)

    @property
    def evidence_rate_on(self) -> jax.Array:
        """Mean drift of L while x = 1, Hz: sum_i [q_on w_i - (q_on - q_off)] >= 0."""
        return _evidence_rate(self.q_on, self.q_off)

    @property
    def max_input_rate(self) -> jax.Array:
        """sum_i max(q_on[i], q_off[i]), Hz (the thinning majorant)."""
        return _sum_maximum(self.q_on, self.q_off)


@params_record
class MMPPParams(_RatesMixin):
    """The generative model's parameters (a JAX pytree).

    Fields:
        r_on, r_off: () switching rates of the hidden state, Hz, > 0.
        q_on, q_off: (N,) input rates while x = 1 and x = 0, Hz, > 0, N >= 1.

    Raises:
        ValueError: naming the field, if a rate is not finite and > 0 or the shapes of
            q_on and q_off differ.
    """

    r_on: jax.Array
    r_off: jax.Array
    q_on: jax.Array
    q_off: jax.Array

    def _validate(self) -> dict:
        return check_mmpp_fields(self.r_on, self.r_off, self.q_on, self.q_off)


def model_of(params) -> MMPPParams:
    """The MMPP part of any record holding r_on, r_off, q_on, q_off (no re-validation:
    the record was validated when built)."""
    if isinstance(params, MMPPParams):
        return params
    for name in ("r_on", "r_off", "q_on", "q_off"):
        if not hasattr(params, name):
            raise ValueError(f"params must hold r_on, r_off, q_on, q_off (an MMPPParams, "
                             f"NeuronParams...), got {type(params).__name__}")
    return unchecked(MMPPParams, r_on=params.r_on, r_off=params.r_off, q_on=params.q_on,
                     q_off=params.q_off)


__all__ = ["check_mmpp_fields", "MMPPParams", "model_of"]
