r"""Parameters of a log-odds population: K binary hidden variables and a decoder.

Problem: K independent binary hidden variables :math:`x^k_t`, each a two-state Markov
chain (rates ``r_on``, ``r_off``, Hz) observed through its own M Poisson inputs (rates
``q_on[k, i]``, ``q_off[k, i]``, Hz): K copies of the Bayesian neuron's generative model
(Denève 2004, Sec. 1). Input spikes of the population come as one
:class:`bayesnn.core.Spikes` whose sender is the *global* input index ``k M + i``.

Decoder: for each variable ``N / K`` neurons, half with kernel :math:`+\gamma e_k` and
half with :math:`-\gamma e_k`, :math:`\gamma` = ``decoder_span / (N / K)``: in each
dimension the readout stays in a box of half-width :math:`T/\gamma \approx \gamma/2`
around the network's target (Boerlin et al. 2013).
"""
from __future__ import annotations

import jax
import numpy as np

from bayesnn.core.params import as_leaf, is_traced, params_record, to_device, unchecked
from bayesnn.core.validation import as_array, require_positive, require_shape
from bayesnn.processes.params import MMPPParams, _RatesMixin

__all__ = ["LogOddsPopulationParams", "decoder", "default_population",
           "make_log_odds_population", "with_population_size"]


def decoder(n_variables: int, n_neurons: int, decoder_span: float = 8.0) -> np.ndarray:
    """(K, N) decoder: per variable N/K neurons, half +gamma, half -gamma on that axis,
    gamma = decoder_span / (N / K) (log-odds units per spike).

    Raises:
        ValueError: unless N is a multiple of 2K and decoder_span > 0.
    """
    if int(n_variables) < 1 or int(n_neurons) < 1 or n_neurons % (2 * n_variables):
        raise ValueError(f"n_neurons must be a multiple of 2 * n_variables = {2 * n_variables}, "
                         f"got {n_neurons}")
    per_variable = n_neurons // n_variables
    gamma = float(require_positive("decoder_span", decoder_span, ndim=0)) / per_variable
    kernels = np.zeros((n_variables, n_neurons))
    for variable in range(n_variables):
        block = slice(variable * per_variable, (variable + 1) * per_variable)
        kernels[variable, block] = np.repeat([gamma, -gamma], per_variable // 2)
    return kernels


@params_record
class LogOddsPopulationParams(_RatesMixin):
    """A population carrying K binary posteriors (a JAX pytree; module docstring).

    Fields:
        r_on, r_off: () switching rates shared by the K variables, Hz, > 0.
        q_on, q_off: (K, M) input rates in state 1 and state 0, Hz, > 0.
        decoder: (K, N) readout kernels (log-odds units per spike), no zero column.
        leak: () readout/membrane leak of the tracking network, Hz, > 0 (the
            implementing network uses r_on + r_off).

    Properties: ``n_variables`` K, ``n_neurons`` N, the rate-derived quantities every
    rate record shares (:class:`bayesnn.processes.MMPPParams`: ``n_inputs`` M per
    variable, ``weights`` (K, M) = log(q_on / q_off) (nats), ``theta`` (K,) =
    sum(q_on - q_off) (Hz), ``prior_log_odds`` L* = log(r_on / r_off), ...),
    ``linear_leak`` r_on + r_off (Hz),
    ``decoder_weight`` gamma = max |decoder|, ``decoder_span`` gamma N / K.

    Raises:
        ValueError: naming the field (non-positive or non-finite rates, shapes that do
            not agree, a zero decoder column).
    """

    r_on: jax.Array
    r_off: jax.Array
    q_on: jax.Array
    q_off: jax.Array
    decoder: jax.Array
    leak: jax.Array = 10.0

    def _validate(self) -> dict:
        r_on = require_positive("r_on", self.r_on, ndim=0)
        r_off = require_positive("r_off", self.r_off, ndim=0)
        q_on = require_positive("q_on", self.q_on, ndim=2)
        q_off = require_shape("q_off", require_positive("q_off", self.q_off, ndim=2), q_on.shape)
        kernels = require_shape("decoder", as_array("decoder", self.decoder, ndim=2),
                                (q_on.shape[0], None))
        if kernels.shape[1] < 1 or np.any(np.linalg.norm(kernels, axis=0) == 0):
            raise ValueError("decoder must have N >= 1 columns, none of them zero")
        leak = require_positive("leak", self.leak, ndim=0)
        return {name: as_leaf(value) for name, value in (
            ("r_on", r_on), ("r_off", r_off), ("q_on", q_on), ("q_off", q_off),
            ("decoder", kernels), ("leak", leak))}

    @property
    def n_variables(self) -> int:
        return int(self.q_on.shape[-2])

    @property
    def n_neurons(self) -> int:
        return int(self.decoder.shape[-1])

    @property
    def linear_leak(self) -> jax.Array:
        """k(L*) = r_on + r_off, Hz: the leak of the filter linearised at the prior."""
        if is_traced(self.r_on, self.r_off):
            return self.r_on + self.r_off
        return to_device(np.asarray(self.r_on) + np.asarray(self.r_off))  # no XLA program

    @property
    def decoder_weight(self) -> float:
        """gamma, the readout jump per spike (log-odds units)."""
        return float(np.max(np.abs(np.asarray(self.decoder))))

    @property
    def decoder_span(self) -> float:
        return self.decoder_weight * self.n_neurons / self.n_variables

    def variable(self, k: int) -> MMPPParams:
        """The generative model of variable k (:class:`bayesnn.processes.MMPPParams`)."""
        if is_traced(self.q_on, self.q_off):
            return unchecked(MMPPParams, r_on=self.r_on, r_off=self.r_off, q_on=self.q_on[k],
                             q_off=self.q_off[k])
        # rows cut on the host (indexing a device array compiles a program per shape)
        return unchecked(MMPPParams, r_on=self.r_on, r_off=self.r_off,
                         q_on=to_device(np.asarray(self.q_on)[k]),
                         q_off=to_device(np.asarray(self.q_off)[k]))


def make_log_odds_population(r_on, r_off, q_on, q_off, *, n_neurons: int,
                             decoder_span: float = 8.0, leak: float = 10.0
                             ) -> LogOddsPopulationParams:
    """:class:`LogOddsPopulationParams` with the +/- decoder of :func:`decoder`.

    Args:
        r_on, r_off: switching rates, Hz. q_on, q_off: (K, M) input rates, Hz.
        n_neurons: N, a multiple of 2K.
        decoder_span: gamma N / K, log-odds units.
        leak: tracking network leak, Hz.
    """
    q_on = as_array("q_on", q_on, ndim=2)
    return LogOddsPopulationParams(r_on, r_off, q_on, q_off,
                                   decoder(q_on.shape[0], int(n_neurons), decoder_span), leak)


def with_population_size(params: LogOddsPopulationParams, n_neurons: int
                         ) -> LogOddsPopulationParams:
    """The same problem, decoder span and leak with N = ``n_neurons`` neurons."""
    return params.replace(decoder=decoder(params.n_variables, int(n_neurons),
                                          params.decoder_span))


def default_population(n_variables: int = 4, n_inputs: int = 20, n_neurons: int = 40,
                       q_low: float = 5.0, q_high: float = 30.0, r_on: float = 2.0,
                       r_off: float = 2.0, seed: int = 0, decoder_span: float = 8.0,
                       leak: float = 10.0) -> LogOddsPopulationParams:
    """The Bayesian neuron's setting, K times: q_on, q_off ~ U(q_low, q_high) Hz drawn
    with ``numpy.random.default_rng(seed)``; r_on = r_off = 2 Hz."""
    if int(n_variables) < 1 or int(n_inputs) < 1:
        raise ValueError(f"n_variables and n_inputs must be >= 1, got {n_variables}, {n_inputs}")
    rng = np.random.default_rng(seed)
    shape = (int(n_variables), int(n_inputs))
    return make_log_odds_population(r_on, r_off, rng.uniform(q_low, q_high, shape),
                                    rng.uniform(q_low, q_high, shape), n_neurons=n_neurons,
                                    decoder_span=decoder_span, leak=leak)
