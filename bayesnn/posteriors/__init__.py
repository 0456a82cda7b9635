"""Balanced spiking networks that carry posteriors, measured against exact Bayes.

Log-odds populations (K binary hidden variables):

- :mod:`~bayesnn.posteriors.log_odds_params`: :class:`LogOddsPopulationParams` (pytree),
  :func:`make_log_odds_population`, :func:`default_population`;
- :mod:`~bayesnn.posteriors.log_odds_data`: sampling (:func:`sample_population`) and
  the exact references on a grid (:func:`reference_log_odds`);
- :mod:`~bayesnn.posteriors.log_odds`: ``simulate`` / ``simulate_trials`` in tracking or
  implementing mode -> :class:`LogOddsResult`;
- :mod:`~bayesnn.posteriors.accuracy`: :func:`population_accuracy`, one run against
  exact Bayes;
- :mod:`~bayesnn.posteriors.validation`: the ``log_odds`` / ``accuracy`` scenarios of
  ``bayesnn validate``;
- :mod:`~bayesnn.posteriors.compare`: accuracy against spikes (single Bayesian neuron vs
  populations) on the same input spikes.

Spiking Kalman filter (linear-Gaussian latent, :class:`bayesnn.processes.LinearGaussianParams`):

- :mod:`~bayesnn.posteriors.kalman`: :class:`SpikingKalmanParams`,
  :func:`make_spiking_kalman`, ``simulate`` / ``simulate_trials`` on observation
  increments -> :class:`SpikingKalmanResult`;
- :mod:`~bayesnn.posteriors.kalman_bounds`: the rigorous error bound (box radius x
  amplification);
- :mod:`~bayesnn.posteriors.kalman_validation`: accuracy against the exact Kalman-Bucy
  posterior (:mod:`bayesnn.exact.kalman_bucy`), z-score calibration, ``kalman_checks``.

The package exports the records, builders and measures a user calls; each family's
``simulate`` / ``simulate_trials`` is reached through its module
(``from bayesnn.posteriors import kalman, log_odds``; ``kalman.simulate(...)``), since
both families name their runner ``simulate``. Figures and studies (``compare``,
``kalman_validation``, ``plotting``) are imported by module name (they load matplotlib).
"""
from bayesnn.posteriors import kalman, log_odds
from bayesnn.posteriors.accuracy import PopulationAccuracy, population_accuracy
from bayesnn.posteriors.kalman import SpikingKalmanParams, SpikingKalmanResult, make_spiking_kalman
from bayesnn.posteriors.kalman_bounds import KalmanBound, error_bound
from bayesnn.posteriors.log_odds import LogOddsResult
from bayesnn.posteriors.log_odds_data import (
    LogOddsReference,
    PopulationTrial,
    reference_log_odds,
    sample_population,
    sample_population_trials,
)
from bayesnn.posteriors.log_odds_params import (
    LogOddsPopulationParams,
    default_population,
    make_log_odds_population,
)

__all__ = [
    "kalman", "log_odds",
    "LogOddsPopulationParams", "make_log_odds_population", "default_population",
    "PopulationTrial", "sample_population", "sample_population_trials", "LogOddsReference",
    "reference_log_odds", "LogOddsResult", "PopulationAccuracy", "population_accuracy",
    "SpikingKalmanParams", "make_spiking_kalman", "SpikingKalmanResult", "KalmanBound",
    "error_bound",
]
