"""Target systems, teachers and exploration inputs for learning dynamics.

- :func:`exploration_input`: smoothed white noise (Ornstein-Uhlenbeck, time constant
  ``tau`` s, stationary s.d. ``amplitude`` in units of x per s) that drives the teacher
  through the state space while learning (Bourdoukan & Denève 2015 train on random
  inputs).
- Nonlinear fields (units of x per s): :func:`van_der_pol` ``dx1 = w x2,
  dx2 = w (m (1 - x1^2) x2 - x1)`` and :func:`bistable` ``dx = w (x - x^3)`` (wells at
  +-1), the examples of Alemi et al. 2018 Sec. 5.
- :func:`rk4_trajectory`: the teacher of a nonlinear field under piecewise-constant
  input (classical RK4 per step; the linear teacher is :func:`bayesnn.scn.lds_exact`).
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from scipy.signal import lfilter

from bayesnn.core.validation import as_array, require_positive, require_shape

__all__ = ["exploration_input", "van_der_pol", "bistable", "rk4_trajectory",
           "limit_cycle_stats", "field_error"]


def exploration_input(n_steps: int, dt: float, n_dims: int, *, amplitude: float,
                      tau: float = 0.05, seed: int = 0) -> np.ndarray:
    """OU input (T, D): ``u_{k+1} = (1 - dt/tau) u_k + amplitude sqrt(2 dt/tau) xi_k``."""
    if n_steps < 1 or n_dims < 1:
        raise ValueError(f"n_steps and n_dims must be >= 1, got {n_steps}, {n_dims}")
    dt = float(require_positive("dt", dt, ndim=0))
    tau = float(require_positive("tau", tau, ndim=0))
    if dt >= tau:
        raise ValueError(f"tau must exceed dt, got tau = {tau}, dt = {dt}")
    amp = float(as_array("amplitude", amplitude, ndim=0))
    if amp < 0:
        raise ValueError(f"amplitude must be >= 0, got {amp}")
    a = dt / tau
    xi = np.random.default_rng(seed).standard_normal((n_steps, n_dims)) * amp * np.sqrt(2 * a)
    return lfilter([1.0], [1.0, -(1.0 - a)], xi, axis=0)


def _namespace(x):
    """jax.numpy for JAX arrays (and tracers, so the fields run inside
    :func:`rk4_trajectory`'s compiled scan), NumPy otherwise."""
    return jnp if isinstance(x, jax.Array) else np


def van_der_pol(x, *, omega: float = 10.0, m: float = 1.0) -> np.ndarray:
    """Van der Pol field (..., 2), s^-1 units: for m = 1 a limit cycle with x1 between
    about -2 and 2 (peak-to-peak ~4) and period ~6.66 / omega s. NumPy in, NumPy out;
    JAX in, JAX out."""
    xp = _namespace(x)
    x = xp.asarray(x)
    return omega * xp.stack([x[..., 1], m * (1 - x[..., 0]**2) * x[..., 1] - x[..., 0]], -1)


def bistable(x, *, omega: float = 5.0) -> np.ndarray:
    """Bistable field ``omega (x - x^3)`` (..., D), wells at +-1 in each coordinate.
    NumPy in, NumPy out; JAX in, JAX out."""
    x = _namespace(x).asarray(x)
    return omega * (x - x**3)


def rk4_trajectory(field: Callable, c, dt: float, x0) -> np.ndarray:
    """Classical RK4 solution of ``dx/dt = field(x) + c_k``, ``c`` held constant over
    each step of ``dt`` s:

        k1 = f(x_k) + c_k, k2 = f(x_k + dt/2 k1) + c_k, k3 = f(x_k + dt/2 k2) + c_k,
        k4 = f(x_k + dt k3) + c_k, x_{k+1} = x_k + dt/6 (k1 + 2 k2 + 2 k3 + k4).

    The steps run as one compiled ``lax.scan`` in float64 whatever JAX's global
    precision (a Python loop cost ~11 us per step: 9 s for the 8e5 steps of the
    ``scn_dynamics`` scenario's bistable teacher). Each call traces and compiles
    ``field`` afresh (~0.1 s; read back instead where JAX's persistent compilation cache
    is on, as in ``bayesnn validate``), so the values it reads from enclosing or global
    variables are always those of this call.

    Args:
        field: the vector field, x per s. It receives a float64 JAX array of shape (D,)
            and returns D values (an array, list or tuple), written with operators and
            ``jax.numpy`` (:func:`van_der_pol` and :func:`bistable` are): ``jnp.sin``,
            not ``np.sin`` or ``math.sin``; no ``np.asarray`` or ``float()`` of its
            argument and no Python ``if`` on its values (``jnp.where`` instead).
            Constants it builds with ``jax.numpy`` while JAX's x64 mode is off are
            float32: build them with NumPy.
        c: (T, D) input, x per s.
        dt: step, s.
        x0: (D,) initial state.

    Returns:
        (T + 1, D) float64 NumPy array, ``x_0`` first.

    Raises:
        ValueError: on bad ``c``, ``dt`` or ``x0``; when ``c`` and ``x0`` disagree on D;
            when JAX cannot trace ``field`` or it returns another shape; when the
            trajectory becomes non-finite (reduce ``dt``). Errors the field raises
            itself (JAX's ``TypeError`` for an in-place assignment, say) pass through.
    """
    c = as_array("c", c, ndim=2)
    x0 = as_array("x0", x0, ndim=1)
    if x0.shape[0] != c.shape[1]:
        raise ValueError(f"x0 has shape {x0.shape} but c has shape {c.shape}: both must "
                         f"have the state's dimension D")
    dt = float(require_positive("dt", dt, ndim=0))
    # A fresh jit per call: a program cached on the field object would keep the values
    # its closure had when first traced (a changed parameter would be silently ignored).
    with jax.enable_x64(True):
        try:
            path = jax.jit(partial(_rk4_scan, field))(
                jnp.asarray(c, jnp.float64), dt, jnp.asarray(x0, jnp.float64))
        except (jax.errors.ConcretizationTypeError,  # includes a Python `if` on x
                jax.errors.TracerArrayConversionError,
                jax.errors.TracerIntegerConversionError) as error:
            raise ValueError(_UNTRACEABLE + str(error)) from error
        path = np.asarray(path)
    finite = np.all(np.isfinite(path), axis=1)
    if not finite.all():
        step = int(np.argmin(finite))
        raise ValueError(f"the RK4 trajectory became non-finite at step {step} "
                         f"(t = {step * dt:g} s): reduce dt (= {dt:g} s) or check field")
    return path


_UNTRACEABLE = ("field cannot be traced by JAX: write it with operators and jax.numpy "
                "(jnp.sin, not np.sin or math.sin), with no np.asarray or float() of its "
                "argument and no Python `if` on its values (jnp.where instead). JAX said: ")


def _rk4_scan(field, c, dt, x0):
    f = lambda x: jnp.asarray(field(x))  # a field may return a list or tuple

    def step(x, ck):
        k1 = f(x) + ck
        k2 = f(x + dt / 2 * k1) + ck
        k3 = f(x + dt / 2 * k2) + ck
        k4 = f(x + dt * k3) + ck
        x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return x, x

    returned = f(x0).shape
    if returned != x0.shape:
        raise ValueError(f"field must return the state's shape {x0.shape}, got {returned}")
    _, path = jax.lax.scan(step, x0, c)
    return jnp.concatenate([x0[None], path])


def limit_cycle_stats(times, x, *, skip: float) -> tuple[float, float]:
    """(period s, peak-to-peak amplitude of x[:, 0]) after ``skip`` s. Periods come from
    upward crossings of 0 counted only after x[:, 0] went below -h since the last one
    (hysteresis h = a quarter of the half amplitude, so spike jitter of the readout
    near 0 adds no crossings); linear interpolation at the crossing. NaN if fewer than
    two crossings."""
    t = np.asarray(times)
    y = np.asarray(x)[:, 0]
    keep = t >= skip
    t, y = t[keep], y[keep]
    if y.size < 2:
        return float("nan"), float("nan")
    h = (y.max() - y.min()) / 8
    crossings, armed = [], False
    for k in range(1, y.size):
        if y[k] < -h:
            armed = True
        elif armed and y[k - 1] < 0 <= y[k]:
            crossings.append(t[k - 1] - y[k - 1] * (t[k] - t[k - 1]) / (y[k] - y[k - 1]))
            armed = False
    if len(crossings) < 2:
        return float("nan"), float("nan")
    return float(np.mean(np.diff(crossings))), float(y.max() - y.min())


def field_error(f_hat, f_true) -> float:
    """Relative vector-field error ``sqrt(sum |f_hat - f|^2 / sum |f|^2)`` on a grid."""
    f_hat, f_true = np.asarray(f_hat), np.asarray(f_true)
    return float(np.sqrt(np.sum((f_hat - f_true)**2) / np.sum(f_true**2)))
