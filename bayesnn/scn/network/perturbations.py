"""Knock-outs and other perturbations of spike-coding networks: one record for both
the B13 network (:class:`bayesnn.scn.SCNParams`) and the E/I network
(:class:`bayesnn.scn.DaleParams`), passed to every simulate function as
``perturbations=``.

Times are in seconds and converted to steps by the package's one binning rule
(:func:`bayesnn.core.binning.grid_step`): a perturbation given at time ``t`` acts from
the step ``k`` whose interval ``[k dt, (k+1) dt)`` holds ``t`` (a grid time, up to
rounding, opens its own step), i.e. on every spike emitted after ``t`` (spikes of step
``k`` are emitted at ``(k + 1) dt``).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.binning import grid_step
from bayesnn.core.validation import as_array, require_shape

__all__ = ["Perturbations", "make_perturbations", "NEVER"]

NEVER = int(np.iinfo(np.int32).max)  # step index of a perturbation that never happens


class Perturbations(NamedTuple):
    """Perturbations applied from given steps on (a JAX pytree; build with
    :func:`make_perturbations`).

    Fields:
        silence_step: (N,) int32, neuron i never spikes at steps ``k >= silence_step[i]``
            (:data:`NEVER` for neurons that are not silenced).
        thresholds_after: (N,) thresholds used at steps ``k >= threshold_step``.
        threshold_step: () int32.
        extra_sigma: () extra voltage-noise amplitude per sqrt(s) from ``noise_step``,
            added in quadrature to sigma_v.
        noise_step: () int32.
    """

    silence_step: jax.Array
    thresholds_after: jax.Array
    threshold_step: jax.Array
    extra_sigma: jax.Array
    noise_step: jax.Array


def make_perturbations(
    params,
    *,
    silence=None,
    silence_time=None,
    thresholds=None,
    threshold_time: float | None = None,
    extra_noise: float = 0.0,
    noise_time: float | None = None,
) -> Perturbations:
    """Perturbations for robustness studies (Calaim 2022 Figs. 3-5; Barrett 2016 Fig. 2).

    Args:
        params: the network (:class:`SCNParams` or :class:`DaleParams`); neuron indices
            run over all N neurons (E/I network: E are 0..NE-1, I are NE..N-1).
        silence: integer neuron indices, or an (N,) bool mask, knocked out (they never
            spike again) from ``silence_time``.
        silence_time: knock-out time(s) in s >= 0: a scalar, or one per silenced
            neuron (default 0). Barrett 2016's two knock-outs are
            ``silence=[*range(60), *range(85, 100)], silence_time=[3.0] * 60 + [4.0] * 15``.
        thresholds: (N,) or scalar new thresholds (> 0) from ``threshold_time`` (s,
            default 0).
        extra_noise: extra voltage-noise amplitude per sqrt(s) (>= 0) from ``noise_time``
            (s, default 0).

    Returns:
        :class:`Perturbations`.

    Raises:
        ValueError: naming the argument: indices out of [0, N) or not integers, negative
            times, a time given without its perturbation, thresholds <= 0 or of the
            wrong shape, negative noise.
    """
    N = params.n_neurons
    dt = float(params.dt)

    def to_steps(name, times, shape=()):
        times = as_array(name, 0.0 if times is None else times)
        if times.ndim > len(shape) or (times.ndim and times.shape != shape):
            raise ValueError(f"{name} must be a scalar or have shape {shape}, got {times.shape}")
        if np.any(times < 0):
            raise ValueError(f"{name} must be >= 0 s, got {times.min()}")
        steps = grid_step(np.minimum(np.broadcast_to(times, shape), NEVER * dt), dt)
        return np.minimum(steps, NEVER)

    silence_step = np.full(N, NEVER, dtype=np.int64)
    if silence is not None:
        idx = np.asarray(silence)
        if idx.dtype == bool:
            idx = np.flatnonzero(require_shape("silence", idx, (N,)))
        elif not np.issubdtype(idx.dtype, np.integer) and idx.size:
            raise ValueError(f"silence must be integer neuron indices or an (N,) bool mask, "
                             f"got dtype {idx.dtype}")
        idx = idx.astype(np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= N):
            raise ValueError(f"silence indices must lie in [0, {N}), got {idx.min()}..{idx.max()}")
        silence_step[idx] = to_steps("silence_time", silence_time, idx.shape)
    elif silence_time is not None:
        raise ValueError("silence_time needs silence (the indices to knock out)")

    T_after = np.asarray(params.thresholds)
    threshold_step = NEVER
    if thresholds is not None:
        T_new = as_array("thresholds", thresholds)
        if np.any(T_new <= 0):
            raise ValueError("thresholds must be > 0")
        T_after = (np.full(N, float(T_new)) if T_new.ndim == 0
                   else require_shape("thresholds", T_new, (N,)))
        threshold_step = int(to_steps("threshold_time", threshold_time))
    elif threshold_time is not None:
        raise ValueError("threshold_time needs thresholds (the new values)")

    extra = float(as_array("extra_noise", extra_noise, ndim=0))
    if extra < 0:
        raise ValueError(f"extra_noise must be >= 0, got {extra}")
    noise_step = NEVER
    if extra > 0:
        noise_step = int(to_steps("noise_time", noise_time))
    elif noise_time is not None:
        raise ValueError("noise_time needs extra_noise > 0")
    f = jnp.result_type(float)
    return Perturbations(
        silence_step=jnp.asarray(silence_step, jnp.int32),
        thresholds_after=jnp.asarray(T_after, f),
        threshold_step=jnp.asarray(threshold_step, jnp.int32),
        extra_sigma=jnp.asarray(extra, f),
        noise_step=jnp.asarray(noise_step, jnp.int32),
    )


def check_perturbations(perturbations, n_neurons: int, n_steps: int | None = None) -> None:
    """Raise ``ValueError`` unless ``perturbations`` is None or a :class:`Perturbations`
    for ``n_neurons`` neurons, each of whose perturbations starts within the run's
    ``n_steps`` steps (a knock-out scheduled after the end would silently do nothing)."""
    if perturbations is None:
        return
    if not isinstance(perturbations, Perturbations):
        raise ValueError(f"perturbations must be built by make_perturbations, got "
                         f"{type(perturbations).__name__}")
    require_shape("perturbations.silence_step", np.asarray(perturbations.silence_step),
                  (n_neurons,))
    require_shape("perturbations.thresholds_after", np.asarray(perturbations.thresholds_after),
                  (n_neurons,))
    if n_steps is None:
        return
    for name, steps in (("silence_time", perturbations.silence_step),
                        ("threshold_time", perturbations.threshold_step),
                        ("noise_time", perturbations.noise_step)):
        steps = np.asarray(steps)
        late = (steps != NEVER) & (steps >= n_steps)
        if np.any(late):
            raise ValueError(f"perturbations.{name} lies after the end of the run (step "
                             f"{int(steps[late].min())} >= {n_steps} steps): it would "
                             "never act")
