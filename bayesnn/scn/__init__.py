"""Balanced spike-coding networks (Boerlin, Machens & Denève 2013) on the bayesnn core.

Rates are unit-increment traces r~ (a spike adds 1; x_hat = Gamma r~; B13's Hz rates
are lambda_d r~). See :mod:`bayesnn.scn.network` for the equations, and
:mod:`bayesnn.scn.dale` for the E/I (Dale's law) network of Barrett et al. 2016.
"""
from bayesnn.scn.dale import (
    DaleParams,
    DaleResult,
    barrett_signal,
    dale_closed_form_voltage,
    dale_rates,
    dale_spike_events,
    dale_weights,
    make_dale_network,
    simulate_dale,
)
from bayesnn.scn.network import (
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
from bayesnn.scn.simulate import (
    Perturbations,
    SCNResult,
    SCNState,
    SimOptions,
    initial_state,
    make_perturbations,
    simulate,
    simulate_trials,
    spike_events,
)
from bayesnn.scn.targets import autoencoder_input, lds_euler, lds_exact, pulse_input

__all__ = [
    "DriveMarginWarning", "SCNParams", "box_margin", "circular_decoder", "closed_form_voltage",
    "fast_weights", "instantaneous_loss", "make_autoencoder", "make_integrator", "make_network",
    "pm_decoder", "random_decoder", "slow_weights", "Perturbations", "SCNResult", "SCNState",
    "SimOptions", "initial_state", "make_perturbations", "simulate", "simulate_trials",
    "spike_events", "autoencoder_input", "lds_euler", "lds_exact", "pulse_input",
    "DaleParams", "DaleResult", "barrett_signal", "dale_closed_form_voltage", "dale_rates",
    "dale_spike_events", "dale_weights", "make_dale_network", "simulate_dale",
]
