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

Modules are imported by name (``from bayesnn.posteriors import kalman``); the package
itself imports nothing, so using one family never loads the other.
"""
