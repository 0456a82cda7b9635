"""Balanced spike-coding networks (Boerlin, Machens & Denève 2013) on the bayesnn core.

Rates are unit-increment traces r~ (a spike adds 1; x_hat = Gamma r~; B13's Hz rates
are lambda_d r~). Three sub-packages, each readable without the others:

- :mod:`bayesnn.scn.network`: the one-population network (equations in
  :mod:`bayesnn.scn.network.params`, the public step in
  :mod:`bayesnn.scn.network.functional`), its kernels, simulation, results,
  perturbations, targets, metrics, experiments, scenario and plots;
- :mod:`bayesnn.scn.dale`: the E/I (Dale's law) network of Barrett et al. 2016, built
  on the network's kernels and perturbations;
- :mod:`bayesnn.scn.learning`: learning in both networks (Brendel et al. 2020).

This package exports what a user calls for the two networks; learning is imported as
``bayesnn.scn.learning``. A :func:`simulate` call runs one way:
``network.simulation`` (checks, capacity, one jitted program) -> ``network.kernels``
(``scan_network``) -> ``network.functional.step`` (the public step).

One call convention for both networks::

    simulate(params, c, *, key=0, duration=None, record_every=1, perturbations=None,
             capacity=None, x0=None, state0=None, <options>)            -> SCNResult
    simulate_trials(params, c_per_trial, *, key, ...)                  -> SCNResult (trial axis)
    simulate_dale(params, c, *, key=0, ...) / simulate_dale_trials(...)  -> DaleResult

Spikes come back as :class:`bayesnn.core.Spikes` (extract with
:func:`bayesnn.core.spike_arrays`), records align with a target through
:func:`target_at`, and results convert with ``result.to_xarray()``.
"""
from bayesnn.scn.dale.params import (
    DaleParams,
    barrett_signal,
    dale_closed_form_voltage,
    dale_rates,
    dale_weights,
    make_dale_network,
)
from bayesnn.scn.dale.simulation import default_dale_capacity, simulate_dale, simulate_dale_trials
from bayesnn.scn.dale.functional import (
    DaleState,
    DaleStepRecord,
    dale_init_state,
    dale_step,
    dale_step_inputs,
)
from bayesnn.scn.dale.results import DaleResult
from bayesnn.scn.network.functional import (
    SCNState,
    SCNStepRecord,
    SimOptions,
    StepInputs,
    init_state,
    step,
    step_inputs,
)
from bayesnn.scn.network.params import (
    DriveMarginWarning,
    SCNParams,
    box_margin,
    circular_decoder,
    closed_form_voltage,
    fast_weights,
    instantaneous_loss,
    make_autoencoder,
    make_integrator,
    make_network,
    pm_decoder,
    random_decoder,
    slow_weights,
)
from bayesnn.scn.network.perturbations import Perturbations, make_perturbations
from bayesnn.scn.network.results import SCNResult, target_at
from bayesnn.scn.network.simulation import default_capacity, simulate, simulate_trials
from bayesnn.scn.network.targets import autoencoder_input, lds_euler, lds_exact, pulse_input

__all__ = [
    "DriveMarginWarning", "SCNParams", "box_margin", "circular_decoder", "closed_form_voltage",
    "fast_weights", "instantaneous_loss", "make_autoencoder", "make_integrator", "make_network",
    "pm_decoder", "random_decoder", "slow_weights",
    "Perturbations", "make_perturbations",
    "SCNResult", "DaleResult", "target_at",
    "SimOptions", "SCNState", "SCNStepRecord", "DaleState", "DaleStepRecord", "StepInputs",
    "init_state", "step", "step_inputs", "dale_init_state", "dale_step", "dale_step_inputs",
    "simulate", "simulate_trials", "default_capacity",
    "autoencoder_input", "lds_euler", "lds_exact", "pulse_input",
    "DaleParams", "barrett_signal", "dale_closed_form_voltage", "dale_rates", "dale_weights",
    "make_dale_network", "simulate_dale", "simulate_dale_trials", "default_dale_capacity",
]
