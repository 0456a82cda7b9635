"""Spike-coding networks that learn dynamics with local rules (Bourdoukan & Denève 2015;
Alemi, Machens, Denève & Slotine 2018): slow weights learned from a fed-back error
``e = x - x_hat`` that is switched off after learning. Equations in
:mod:`bayesnn.scn.dynamics.params`; docs/scn_dynamics.md derives the fixed points."""
from bayesnn.scn.dynamics.params import (
    DynamicsParams, bump_features, bump_values, closed_form_slow_weights, learned_field,
    make_dynamics_network,
)
from bayesnn.scn.dynamics.run import DynamicsResult, learn, relative_distance, simulate
from bayesnn.scn.dynamics.step import (
    DynamicsState, DynamicsStepInputs, DynamicsStepRecord, dynamics_step, init_dynamics_state,
)

__all__ = [
    "DynamicsParams", "make_dynamics_network", "closed_form_slow_weights", "bump_features",
    "bump_values",
    "learned_field",
    "DynamicsState", "DynamicsStepInputs", "DynamicsStepRecord", "init_dynamics_state",
    "dynamics_step", "DynamicsResult", "learn", "simulate", "relative_distance",
]
