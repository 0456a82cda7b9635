"""One log-odds population run measured against exact Bayes: KL, log-loss and the
parts of the error (:func:`population_accuracy`), shared by the validate scenarios
(:mod:`bayesnn.posteriors.validation`) and the accuracy-vs-spikes comparison
(:mod:`bayesnn.posteriors.compare`)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bayesnn.metrics import log_loss, mean_kl
from bayesnn.posteriors.log_odds import LogOddsResult, network_of
from bayesnn.posteriors.log_odds_data import PopulationTrial
from bayesnn.posteriors.log_odds_params import LogOddsPopulationParams

__all__ = ["PopulationAccuracy", "population_accuracy"]


class PopulationAccuracy(NamedTuple):
    """A log-odds population run measured against exact Bayes (log-odds in nats).

    Fields:
        n_neurons: N.  decoder_weight: gamma, the readout jump per spike.
        spikes_per_second: population spikes per second (all K variables), Hz.
        kl_from_exact: time-averaged KL(exact || spike-based), nats, mean over K.
        kl_linearisation: KL(exact || exact linearised), nats (0 in tracking mode).
        log_loss: mean -log P(true x | spike-based posterior), nats.
        max_error_to_target, rmse_to_target: of log_odds - target after the transient.
        box_half_width: T / gamma, the box half-width.
        max_error_to_network_target: max |log_odds - Euler target| after the transient:
            the spike-coding error alone, bounded by the box.
        discretisation_gap: max |Euler target - target| after the transient (the time-step
            part; 0 in tracking mode, where the input reproduces the target exactly).
    """

    n_neurons: int
    decoder_weight: float
    spikes_per_second: float
    kl_from_exact: float
    kl_linearisation: float
    log_loss: float
    max_error_to_target: float
    rmse_to_target: float
    box_half_width: float
    max_error_to_network_target: float
    discretisation_gap: float


def population_accuracy(params: LogOddsPopulationParams, result: LogOddsResult,
                        trial: PopulationTrial, *, mode: str, dt: float = 1e-4,
                        transient: float = 0.05) -> PopulationAccuracy:
    """Measure one run on ``trial.inputs`` (``mode`` and ``dt`` as given to simulate;
    ``transient`` seconds excluded from the max / RMSE errors, the initial catch-up)."""
    times = np.asarray(result.times)
    log_odds, target = np.asarray(result.log_odds), np.asarray(result.target)
    network_target, exact = np.asarray(result.network_target), np.asarray(result.exact_log_odds)
    error = log_odds - target
    after = times > transient
    net = network_of(params, mode, dt)
    gamma = params.decoder_weight
    return PopulationAccuracy(
        params.n_neurons, gamma, float(np.sum(np.asarray(result.spike_counts))) / float(trial.duration),
        mean_kl(exact, log_odds), mean_kl(exact, target), log_loss(log_odds, trial.state_at(times)),
        float(np.max(np.abs(error[after]))), float(np.sqrt(np.mean(error[after] ** 2))),
        float(np.max(np.asarray(net.thresholds))) / gamma,
        float(np.max(np.abs(log_odds - network_target)[after])),
        float(np.max(np.abs(network_target - target)[after])))
