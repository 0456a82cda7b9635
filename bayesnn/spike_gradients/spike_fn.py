r"""The surrogate spike nonlinearity (Neftci, Mostafa & Zenke 2019, IEEE Signal
Process. Mag. 36(6), Sec. "Surrogate gradients"; Zenke & Ganguli 2018, Neural Comput.
30(6): the fast sigmoid of SuperSpike).

The forward pass keeps the hard spike ``s = H(z)``, ``z = V - T`` (units of V); only
its derivative, zero almost everywhere, is replaced in the backward pass by the
derivative of a fast sigmoid of width ``w`` (units of V), normalised to unit area like
the Dirac delta it stands for::

    dH/dz  ->  sigma'_w(z) = 1 / (2 w (1 + |z| / w)^2),      int sigma'_w dz = 1.

Two forms, both through :func:`jax.custom_jvp` (so forward- and reverse-mode agree):

* :func:`spike` returns ``H(z)`` (1.0 where z > 0, the networks' strict rule);
* :func:`surrogate_zero` returns exact zeros with tangent ``sigma'_w(z) dz``. A network
  whose step already decided its spikes (e.g. :func:`bayesnn.scn.step`, one spike per
  step) adds ``Omega @ surrogate_zero(z, w)`` to the post-spike state: the forward
  values are unchanged bit for bit (``V + 0 = V``) and the backward pass sees
  ``ds/dz = sigma'_w(z)``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["fast_sigmoid_grad", "spike", "surrogate_zero", "check_width"]


def check_width(width) -> float:
    """The surrogate width as a float > 0 (``ValueError`` naming ``width`` otherwise)."""
    try:
        w = float(np.asarray(width))
    except (TypeError, ValueError):
        raise ValueError(f"width must be a finite number > 0 (units of V), got {width!r}") from None
    if not (np.isfinite(w) and w > 0):
        raise ValueError(f"width must be a finite number > 0 (units of V), got {w}")
    return w


def fast_sigmoid_grad(z: jax.Array, width: float) -> jax.Array:
    """``sigma'_w(z) = 1 / (2 w (1 + |z|/w)^2)`` (unit area; z and w in units of V)."""
    return 1.0 / (2.0 * width * (1.0 + jnp.abs(z) / width) ** 2)


@jax.custom_jvp
def _spike(z, width):
    return (z > 0).astype(z.dtype)


@_spike.defjvp
def _spike_jvp(primals, tangents):
    z, width = primals
    dz, _ = tangents
    return _spike(z, width), fast_sigmoid_grad(z, width) * dz


def spike(z: jax.Array, width: float) -> jax.Array:
    """Hard spike ``H(z)`` (float, 1 where z > 0) with the fast-sigmoid surrogate
    derivative of width ``width`` (V) in the backward pass. Shapes: any; width ()."""
    return _spike(z, jnp.asarray(width, z.dtype))


@jax.custom_jvp
def _zero(z, width):
    return jnp.zeros_like(z)


@_zero.defjvp
def _zero_jvp(primals, tangents):
    z, width = primals
    dz, _ = tangents
    return jnp.zeros_like(z), fast_sigmoid_grad(z, width) * dz


def surrogate_zero(z: jax.Array, width: float) -> jax.Array:
    """Exact zeros shaped like ``z`` whose derivative is ``sigma'_w(z)``: the surrogate
    part of a spike whose hard value a step has already applied."""
    return _zero(z, jnp.asarray(width, z.dtype))
