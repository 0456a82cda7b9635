r"""Pure step function of the dynamics-learning network (Bourdoukan & Denève 2015;
Alemi et al. 2018): :func:`init_dynamics_state` and :func:`dynamics_step`.

Step k (dt in s; the equations are in :mod:`bayesnn.scn.dynamics.params`)::

    1. error       e_k = x_k - x_hat                (teacher x_k; ignored without feedback)
    2. features    phi = r~  or  [x_hat; bumps(x_hat)]
    3. integrate   V <- V + dt (-lambda_V V + Gamma^T c_k + W_s phi + kappa r~
                              [+ lambda_d Gamma^T x_hat, nonlinear features]
                              + K Gamma^T e_k) + sigma sqrt(dt) xi_k
    4. learn       W_s <- W_s + eta_k dt (Gamma^T e_k) phi^T      (only if plastic;
                   eta_k = eta / (1 + k dt / tau_eta))
    5. decay       r~ <- (1 - lambda_d dt) r~,  x_hat <- (1 - lambda_d dt) x_hat
    6. spike       at most one: i = argmax (V - T) over living neurons, if > 0:
                   V <- V - Omega_f[:, i],  r~_i += 1,  x_hat += Gamma_i

With ``W_s = Gamma^T (A + lambda_d I) Gamma``, ``K = 0`` and ``lambda_V = 0`` this is
the B13 step of :func:`bayesnn.scn.step` (slow input through the dense matrix instead
of ``Gamma^T M x_hat``), which the tests check.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesnn.scn.dynamics.params import DynamicsParams, features_of

__all__ = ["DynamicsState", "DynamicsStepInputs", "DynamicsStepRecord",
           "init_dynamics_state", "dynamics_step"]


class DynamicsState(NamedTuple):
    """State of the network.

    Fields:
        V: (N,) voltages (units of x^2).   rates: (N,) traces r~.
        readout: (D,) x_hat = Gamma r~.    W: (N, P) slow weights.
        step: () int32 index of the next step (time ``step * dt`` s).
    """

    V: jax.Array
    rates: jax.Array
    readout: jax.Array
    W: jax.Array
    step: jax.Array


class DynamicsStepInputs(NamedTuple):
    """One step's inputs: ``c`` (D,) drive in units of x per s, ``x`` (D,) the teacher
    at the step's start, ``xi`` (N,) standard normal voltage noise."""

    c: jax.Array
    x: jax.Array
    xi: jax.Array


class DynamicsStepRecord(NamedTuple):
    """What one step reports: ``sender`` () int32 (-1: no spike), ``sq_error`` ()
    ``|x_k - x_hat|^2`` before the step."""

    sender: jax.Array
    sq_error: jax.Array


def init_dynamics_state(params: DynamicsParams, *, W=None, x0=None) -> DynamicsState:
    """Rest state (V = 0, r~ = 0) with slow weights ``W`` (default ``params.W0``); with
    ``x0`` (D,) the traces start at the non-negative least-squares rates of ``x0`` so
    that ``x_hat(0) ~ x0`` (scipy's NNLS on Gamma)."""
    import numpy as np

    N, D = params.n_neurons, params.n_dims
    f = np.asarray(params.Gamma).dtype
    r = np.zeros(N, f)            # NumPy here: no eager XLA programs per call
    if x0 is not None:
        from scipy.optimize import nnls

        from bayesnn.core.validation import as_array, require_shape
        x0 = require_shape("x0", as_array("x0", x0, ndim=1), (D,))
        r = nnls(np.asarray(params.Gamma), x0)[0].astype(f)
    W = params.W0 if W is None else W
    if np.shape(W) != (N, params.n_features):
        raise ValueError(f"W must have shape {(N, params.n_features)}, got {np.shape(W)}")
    return DynamicsState(V=np.zeros(N, f), rates=r, readout=np.asarray(params.Gamma) @ r,
                         W=np.asarray(W, f), step=np.int32(0))


def dynamics_step(params: DynamicsParams, state: DynamicsState, inputs: DynamicsStepInputs,
                  *, plastic: bool = True, feedback: bool = True, alive=None, thresholds=None,
                  sigma=None) -> tuple[DynamicsState, DynamicsStepRecord]:
    """One Euler step (module docstring). Pure; ``plastic`` and ``feedback`` are static.

    Args:
        params: :class:`DynamicsParams`.
        state: :class:`DynamicsState`.
        inputs: :class:`DynamicsStepInputs` of this step.
        plastic: apply the slow rule.  feedback: feed back ``K Gamma^T e`` (the error
            feedback is switched off after learning).
        alive: (N,) bool, neurons allowed to spike (default all; knock-outs).
        thresholds: (N,) thresholds (default ``params.thresholds``).
        sigma: () voltage-noise amplitude per sqrt(s) (default ``params.sigma_v``).

    Returns:
        ``(state, record)``.
    """
    G = params.Gamma
    dt = params.dt
    T = params.thresholds if thresholds is None else thresholds
    sigma = params.sigma_v if sigma is None else sigma
    e = inputs.x - state.readout
    proj = G.T @ e                                   # (N,) error current / K
    phi = features_of(params, state.rates, state.readout)
    drive = (-params.lambda_v * state.V + G.T @ inputs.c + state.W @ phi
             + params.kappa * state.rates)
    if not params.linear:
        drive = drive + params.lambda_d * (G.T @ state.readout)   # fixed B13 leak part
    if feedback:
        drive = drive + params.feedback_gain * proj
    V = state.V + dt * drive + sigma * jnp.sqrt(dt) * inputs.xi
    if plastic:
        eta = params.learning_rate / (1 + state.step * dt / params.learning_decay_time)
        W = state.W + (eta * dt) * jnp.outer(proj, phi)
    else:
        W = state.W
    decay = 1 - params.lambda_d * dt
    r = decay * state.rates
    xh = decay * state.readout
    z = V - T
    if alive is not None:
        z = jnp.where(alive, z, -jnp.inf)
    i = jnp.argmax(z)
    fire = z[i] > 0
    gi = G[:, i]
    col = G.T @ gi + params.cost_quad * (jnp.arange(z.shape[0]) == i)
    V = jnp.where(fire, V - col, V)
    r = r.at[i].add(fire.astype(r.dtype))
    xh = jnp.where(fire, xh + gi, xh)
    new = DynamicsState(V=V, rates=r, readout=xh, W=W, step=state.step + 1)
    return new, DynamicsStepRecord(sender=jnp.where(fire, i, -1).astype(jnp.int32),
                                   sq_error=jnp.sum(e**2))
