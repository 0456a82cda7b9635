r"""Targets for spike-coding networks: the signal x(t) a network's readout should track.

- Autoencoder: a given x(t) sampled at ``t_k = k dt`` (k = 0..T). The network input is
  the forward difference ``c_k = (x_{k+1} - x_k) / dt + lambda x_k``, which makes the
  Euler-discretised target ``x_{k+1} = x_k + dt (-lambda x_k + c_k)`` equal the samples
  exactly (and the network voltage equal its closed form to round-off).
- Linear dynamical system ``dx/dt = A x + c(t)``: :func:`lds_euler` is the target the
  network's discretisation tracks; :func:`lds_exact` is the independent exact solution
  for piecewise-constant ``c`` (matrix exponential, zero-order hold).

Shapes: ``c`` is (T, D) (per step, units of x per second); targets are (T + 1, D)
including ``x_0``. Readout record k (after step k) compares with ``x[k + 1]``.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import expm

from bayesnn.core.validation import as_array, require_positive, require_shape

__all__ = [
    "autoencoder_input",
    "lds_euler",
    "lds_exact",
    "pulse_input",
    "damped_oscillator_A",
]


def autoencoder_input(x, dt: float, lambda_: float) -> np.ndarray:
    """``c_k = (x_{k+1} - x_k)/dt + lambda x_k``, k = 0..T-1, for samples x (T+1, D)."""
    x = as_array("x", x, ndim=2)
    if x.shape[0] < 2:
        raise ValueError(f"x must have at least 2 time samples, got shape {x.shape}")
    dt = float(require_positive("dt", dt, ndim=0))
    lam = float(require_positive("lambda_", lambda_, ndim=0))
    return (x[1:] - x[:-1]) / dt + lam * x[:-1]


def lds_euler(A, c, dt: float, x0=None) -> np.ndarray:
    """Forward-Euler target ``x_{k+1} = x_k + dt (A x_k + c_k)``: (T+1, D)."""
    c = as_array("c", c, ndim=2)
    D = c.shape[1]
    A = require_shape("A", as_array("A", A, ndim=2), (D, D))
    dt = float(require_positive("dt", dt, ndim=0))
    x = np.zeros(D) if x0 is None else require_shape("x0", as_array("x0", x0, ndim=1), (D,))
    out = np.empty((c.shape[0] + 1, D))
    out[0] = x
    step = np.eye(D) + dt * A
    for k in range(c.shape[0]):
        x = step @ x + dt * c[k]
        out[k + 1] = x
    return out


def lds_exact(A, c, dt: float, x0=None) -> np.ndarray:
    """Exact solution of ``dx/dt = A x + c`` with ``c`` held constant over each step:
    ``x_{k+1} = e^{A dt} x_k + (integral_0^dt e^{A s} ds) c_k``, via one augmented
    matrix exponential (valid for singular A). (T+1, D)."""
    c = as_array("c", c, ndim=2)
    D = c.shape[1]
    A = require_shape("A", as_array("A", A, ndim=2), (D, D))
    dt = float(require_positive("dt", dt, ndim=0))
    x = np.zeros(D) if x0 is None else require_shape("x0", as_array("x0", x0, ndim=1), (D,))
    aug = np.zeros((2 * D, 2 * D))
    aug[:D, :D] = A
    aug[:D, D:] = np.eye(D)
    E = expm(aug * dt)
    Phi, Psi = E[:D, :D], E[:D, D:]
    out = np.empty((c.shape[0] + 1, D))
    out[0] = x
    forced = c @ Psi.T
    for k in range(c.shape[0]):
        x = Phi @ x + forced[k]
        out[k + 1] = x
    return out


def pulse_input(n_steps: int, dt: float, pulses, n_dims: int = 1, dim: int = 0) -> np.ndarray:
    """Piecewise-constant input (T, D): ``pulses`` is a list of (t_start, t_stop, value)
    in seconds, applied to dimension ``dim``."""
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    if not 0 <= dim < n_dims:
        raise ValueError(f"dim must lie in [0, {n_dims}), got {dim}")
    t = np.arange(n_steps) * dt
    c = np.zeros((n_steps, n_dims))
    for start, stop, value in pulses:
        c[(t >= start) & (t < stop), dim] += value
    return c


def damped_oscillator_A() -> np.ndarray:
    """B13 Fig. 6B damped oscillator ``A = [[-4.8, -22.4], [40, 0]]`` s^-1 (as given by
    a secondary source; unconfirmed against the paper)."""
    return np.array([[-4.8, -22.4], [40.0, 0.0]])
