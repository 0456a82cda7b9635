r"""Parameters of the Bayesian spiking neuron (Denève 2004/2008).

The neuron's parameters are the generative model's rates plus the output-spike
jump ``g0``:

* ``r_on``, ``r_off`` (Hz): switching rates of the hidden binary state;
* ``q_on``, ``q_off`` (N,) (Hz): rate of input i while x = 1 and while x = 0;
* ``g0`` (> 0, dimensionless): jump of the prediction G per output spike.

Derived (fixed by the input statistics, not free):

* synaptic weights :math:`w_i = \log(q^i_{on} / q^i_{off})`: jump of L per input spike;
* bias :math:`\theta = \sum_i (q^i_{on} - q^i_{off})` (Hz), kept with its sign;
* prior log-odds :math:`L^* = \log(r_{on}/r_{off})`, the initial value of L and G.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bayesnn.core.validation import require_positive, require_shape


@dataclass(frozen=True)
class NeuronParams:
    """Validated parameters of one Bayesian neuron (or of a population sharing them).

    Raises ``ValueError`` naming the field if a rate is not finite and > 0, if
    ``q_on`` and ``q_off`` differ in shape, or if ``g0`` is not > 0.
    """

    r_on: float
    r_off: float
    q_on: np.ndarray
    q_off: np.ndarray
    g0: float = 1.0
    weights: np.ndarray = field(init=False, repr=False)
    theta: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        r_on = float(require_positive("r_on", self.r_on, ndim=0))
        r_off = float(require_positive("r_off", self.r_off, ndim=0))
        q_on = require_positive("q_on", self.q_on, ndim=1)
        q_off = require_positive("q_off", self.q_off, ndim=1)
        require_shape("q_off", q_off, q_on.shape)
        g0 = float(require_positive("g0", self.g0, ndim=0))
        q_on.setflags(write=False)
        q_off.setflags(write=False)
        weights = np.log(q_on / q_off)
        weights.setflags(write=False)
        for name, value in (("r_on", r_on), ("r_off", r_off), ("q_on", q_on),
                            ("q_off", q_off), ("g0", g0), ("weights", weights),
                            ("theta", float(np.sum(q_on - q_off)))):
            object.__setattr__(self, name, value)

    @property
    def n_inputs(self) -> int:
        return int(self.q_on.shape[0])

    @property
    def prior_log_odds(self) -> float:
        """L* = log(r_on / r_off), the fixed point of the prior leak."""
        return float(np.log(self.r_on / self.r_off))

    @property
    def stationary_prob_on(self) -> float:
        """r_on / (r_on + r_off)."""
        return self.r_on / (self.r_on + self.r_off)

    @property
    def evidence_rate_on(self) -> float:
        """Mean drift of L while x = 1: sum_i KL(Poisson q_on || q_off) rate, Hz (>= 0).

        Denève's rate prediction for the ON state is this divided by g0.
        """
        return float(np.sum(self.q_on * self.weights) - self.theta)

    def replace(self, **changes) -> "NeuronParams":
        """A copy with some fields changed (validated again)."""
        values = dict(r_on=self.r_on, r_off=self.r_off, q_on=self.q_on,
                      q_off=self.q_off, g0=self.g0)
        values.update(changes)
        return NeuronParams(**values)
