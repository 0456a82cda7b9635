r"""Parameters of the Bayesian spiking neuron (Denève 2004; Denève 2008 I).

The neuron's parameters are the generative model's rates plus the output-spike jump:

* ``r_on``, ``r_off`` (Hz): switching rates of the hidden binary state;
* ``q_on``, ``q_off`` (N,) (Hz): rate of input i while x = 1 and while x = 0;
* ``g0`` (> 0, nats): jump of the prediction G per output spike.

Derived (fixed by the input statistics, not free): synaptic weights
:math:`w_i = \log(q^i_{on}/q^i_{off})` (jump of L per input spike), bias
:math:`\theta = \sum_i (q^i_{on} - q^i_{off})` (Hz, kept with its sign), prior
log-odds :math:`L^* = \log(r_{on}/r_{off})`, the initial value of L and G.
"""
from __future__ import annotations

import jax

from bayesnn.core.params import as_leaf, params_record
from bayesnn.core.validation import require_positive
from bayesnn.processes.params import _RatesMixin, check_mmpp_fields


@params_record
class NeuronParams(_RatesMixin):
    """Parameters of one Bayesian neuron (a JAX pytree: vmap over a stacked batch of
    records, differentiate with respect to its leaves).

    Fields:
        r_on, r_off: () switching rates, Hz, > 0.
        q_on, q_off: (N,) input rates in state 1 and 0, Hz, > 0.
        g0: () jump of G per output spike, nats, > 0 (default 1).

    Properties (derived, traceable): ``weights`` (N,), ``theta``, ``prior_log_odds``,
    ``stationary_prob_on``, ``evidence_rate_on``, ``n_inputs``, ``model`` (the
    :class:`bayesnn.processes.MMPPParams` part).

    Raises:
        ValueError: naming the field, if a rate or g0 is not finite and > 0, or q_on and
            q_off differ in shape.
    """

    r_on: jax.Array
    r_off: jax.Array
    q_on: jax.Array
    q_off: jax.Array
    g0: jax.Array = 1.0

    def _validate(self) -> dict:
        fields = check_mmpp_fields(self.r_on, self.r_off, self.q_on, self.q_off)
        fields["g0"] = as_leaf(require_positive("g0", self.g0, ndim=0))
        return fields

    @property
    def model(self):
        """The generative model's parameters (:class:`bayesnn.processes.MMPPParams`)."""
        from bayesnn.processes.params import model_of
        return model_of(self)


__all__ = ["NeuronParams"]
