r"""Running the dynamics-learning network: :func:`learn` (error feedback on, slow rule
on) and :func:`simulate` (any combination; the autonomous network has both off), one
``lax.scan`` over blocks of ``record_every`` steps of
:func:`~bayesnn.scn.dynamics.step.dynamics_step`. Records cost O(T / record_every):
per block the readout and teacher at its end, the mean squared error
``|x - x_hat|^2``, the relative distance ``||W_s - W_s*||_F / ||W_s*||_F`` to the
closed form (linear targets), the spike count and ``max |W_s|``.

Knock-outs, threshold changes and extra noise are the SCN record
:func:`bayesnn.scn.make_perturbations` (built on a :class:`DynamicsParams`).
"""
from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core import as_key
from bayesnn.core.validation import as_array, require_int, require_shape
from bayesnn.scn import Perturbations, make_perturbations
from bayesnn.scn.dynamics.params import DynamicsParams, closed_form_slow_weights
from bayesnn.scn.dynamics.step import (
    DynamicsState, DynamicsStepInputs, dynamics_step, init_dynamics_state,
)
from bayesnn.scn.learning import LearningDivergedError
from bayesnn.scn.network.perturbations import check_perturbations

__all__ = ["DynamicsResult", "learn", "simulate", "relative_distance", "weight_limit"]


class DynamicsResult(NamedTuple):
    """Output of :func:`learn` / :func:`simulate`; R = T / record_every records.

    Fields:
        times: (R,) end of each record block, s.
        readout: (R, D) x_hat at the block ends.   target: (R, D) teacher x there.
        sq_error: (R,) mean over the block of ``|x - x_hat|^2`` (before each step).
        weight_distance: (R,) ``||W_s - W_s*||_F / ||W_s*||_F`` (NaN without a linear A).
        n_spikes: (R,) spikes in the block.   max_weight: (R,) max |W_s| (NaN: diverged).
        spike_counts: (N,) spikes per neuron over the run.
        W: (N, P) final slow weights.   final: :class:`DynamicsState` (continue with
        ``state0=``).
    """

    times: jax.Array
    readout: jax.Array
    target: jax.Array
    sq_error: jax.Array
    weight_distance: jax.Array
    n_spikes: jax.Array
    max_weight: jax.Array
    spike_counts: jax.Array
    W: jax.Array
    final: DynamicsState

    def to_xarray(self, attrs: dict | None = None):
        """The records as an ``xarray.Dataset`` (dims ``time`` (s), ``dim``, ``neuron``,
        ``feature``); ``final`` is left out."""
        from bayesnn.io import record_to_dataset

        spec = {
            "readout": (("time", "dim"), "x", "network readout x_hat"),
            "target": (("time", "dim"), "x", "teacher / reference x"),
            "sq_error": (("time",), "x^2", "block mean of |x - x_hat|^2"),
            "weight_distance": (("time",), "1", "||W_s - W_s*||_F / ||W_s*||_F"),
            "n_spikes": (("time",), "1", "spikes in the block"),
            "max_weight": (("time",), "1", "max |W_s|"),
            "spike_counts": (("neuron",), "1", "spikes per neuron"),
            "W": (("neuron", "feature"), "1", "final slow weights"),
        }
        return record_to_dataset(self, spec, {"time": np.asarray(self.times)}, {
            "family": "scn dynamics learning (Bourdoukan & Deneve 2015; Alemi et al. 2018)",
            **(attrs or {})})


def relative_distance(W, W_star) -> float:
    """``||W - W*||_F / ||W*||_F``."""
    W_star = np.asarray(W_star)
    return float(np.linalg.norm(np.asarray(W) - W_star) / np.linalg.norm(W_star))


def weight_limit(params: DynamicsParams):
    """``10 (lambda_d + 1/dt) max_i ||Gamma_i||^2``: ten times the largest entry of
    ``Gamma^T (A + lambda_d I) Gamma`` for any A with ``max|eig A| dt < 1`` (and, for
    bump features, of the same order as any field an Euler step can follow); learned
    weights beyond it mean the rule diverged."""
    g2 = jnp.max(jnp.sum(params.Gamma**2, axis=0))
    return 10.0 * (params.lambda_d + 1.0 / params.dt) * g2


@partial(jax.jit, static_argnames=("plastic", "feedback", "noisy"))
def _run_blocks(params, state, c_blocks, x_blocks, key, W_star, pert, *, plastic, feedback,
                noisy):
    N = params.n_neurons
    f = state.V.dtype
    star_norm = jnp.linalg.norm(W_star)

    def inner(carry, inp):
        st, sq, spikes, counts = carry
        c, x = inp
        k = st.step
        xi = jax.random.normal(jax.random.fold_in(key, k), (N,), f) if noisy else jnp.zeros(N, f)
        extra = jnp.where(k >= pert.noise_step, pert.extra_sigma**2, 0.0)
        st, rec = dynamics_step(
            params, st, DynamicsStepInputs(c, x, xi), plastic=plastic, feedback=feedback,
            alive=k < pert.silence_step, sigma=jnp.sqrt(params.sigma_v**2 + extra),
            thresholds=jnp.where(k >= pert.threshold_step, pert.thresholds_after,
                                 params.thresholds))
        fired = rec.sender >= 0
        counts = counts.at[jnp.maximum(rec.sender, 0)].add(fired.astype(counts.dtype))
        return (st, sq + rec.sq_error, spikes + fired.astype(jnp.int32), counts), None

    def block(carry, inp):
        st, counts, W_keep, t_keep = carry
        (st, sq, spikes, counts), _ = jax.lax.scan(
            inner, (st, jnp.zeros((), f), jnp.zeros((), jnp.int32), counts), inp)
        t = st.step.astype(f) * params.dt
        # beyond weight_limit the weights are no closed form of any Euler-stable A:
        # count them as diverged (they may stay finite for a long time before inf)
        finite = (jnp.all(jnp.isfinite(st.W)) & jnp.all(jnp.isfinite(st.V))
                  & (jnp.max(jnp.abs(st.W)) <= weight_limit(params)))
        wmax = jnp.where(finite, jnp.max(jnp.abs(st.W)), jnp.nan)
        dist = jnp.linalg.norm(st.W - W_star) / star_norm
        W_keep = jnp.where(finite, st.W, W_keep)
        t_keep = jnp.where(finite, t, t_keep)
        n = inp[0].shape[0]
        return (st, counts, W_keep, t_keep), (t, st.readout, sq / n, dist, spikes, wmax)

    carry0 = (state, jnp.zeros(N, jnp.int32), state.W, state.step.astype(f) * params.dt)
    return jax.lax.scan(block, carry0, (c_blocks, x_blocks))


def _check_run(params, c, x, record_every, need_teacher):
    if not isinstance(params, DynamicsParams):
        raise ValueError(f"params must be a DynamicsParams, got {type(params).__name__}")
    D = params.n_dims
    c = as_array("c", c, ndim=2)
    require_shape("c", c, (None, D))
    n = c.shape[0]
    if n < 1:
        raise ValueError("c must hold at least one step")
    every = require_int("record_every", record_every, 1)
    if n % every:
        raise ValueError(f"record_every must divide the number of steps {n}, got {every}")
    if x is None:
        if need_teacher:
            raise ValueError("x (the teacher trajectory, (T + 1, D)) is needed while the "
                             "error feedback is on")
        x = np.zeros((n + 1, D))
    x = as_array("x", x, ndim=2)
    require_shape("x", x, (n + 1, D))
    return c, x, every


def _execute(params, c, x, *, key, record_every, W, state0, x0, perturbations, plastic,
             feedback):
    c, x, every = _check_run(params, c, x, record_every, feedback)
    check_perturbations(perturbations, params.n_neurons)
    pert = make_perturbations(params) if perturbations is None else perturbations
    if state0 is None:
        state = init_dynamics_state(params, W=W, x0=x[0] if x0 is None else x0)
    else:
        state = state0 if W is None else state0._replace(W=np.asarray(W))
    n_blocks = c.shape[0] // every
    D = params.n_dims
    W_star = (closed_form_slow_weights(params) if params.A is not None
              else np.zeros((params.n_neurons, params.n_features)))
    noisy = bool(float(params.sigma_v) > 0 or float(pert.extra_sigma) > 0)
    (final, counts, W_keep, t_keep), recs = _run_blocks(
        params, state, c.reshape(n_blocks, every, D), x[:-1].reshape(n_blocks, every, D),
        as_key(key), W_star, pert,
        plastic=plastic, feedback=feedback, noisy=noisy)
    times, readout, sq, dist, spikes, wmax = (np.asarray(r) for r in recs)
    if params.A is None:
        dist = np.full_like(dist, np.nan)
    if not np.all(np.isfinite(np.asarray(wmax))):
        bad = int(np.argmax(~np.isfinite(np.asarray(wmax))))
        error = LearningDivergedError(
            f"learning diverged: slow weights or voltages non-finite or beyond "
            f"{float(weight_limit(params)):.3g} (weight_limit) by t = "
            f"{float(times[bad]):.6g} s; lower learning_rate (or raise feedback_gain)")
        error.last_finite_weights = np.asarray(W_keep)
        error.last_finite_time = float(t_keep)
        raise error
    return DynamicsResult(times=times, readout=readout, target=x[every::every],
                          sq_error=sq, weight_distance=dist, n_spikes=spikes, max_weight=wmax,
                          spike_counts=counts, W=final.W, final=final)


def learn(params: DynamicsParams, c, x, *, key: Any = 0, record_every: int = 100, W=None,
          state0: DynamicsState | None = None, x0=None,
          perturbations: Perturbations | None = None) -> DynamicsResult:
    """Learn the slow weights with error feedback ``K Gamma^T (x - x_hat)`` and the local
    rule ``dW_s/dt = eta (Gamma^T e) phi^T`` (Bourdoukan & Denève 2015; Alemi et al.
    2018 Sec. 3; module docstring of :mod:`bayesnn.scn.dynamics.params`).

    Args:
        params: :class:`DynamicsParams`.
        c: (T, D) input, units of x per s (piecewise constant over steps).
        x: (T + 1, D) teacher: the target system's trajectory under ``c`` (e.g.
            :func:`bayesnn.scn.lds_exact`).
        key: int seed or JAX key (voltage noise of step k uses ``fold_in(key, k)``).
        record_every: steps per record block (divides T).
        W: (N, P) initial slow weights (default ``params.W0``).
        state0: continue from a previous result's ``final`` state.
        x0: (D,) initial readout (default ``x[0]``).
        perturbations: :func:`bayesnn.scn.make_perturbations` record (knock-outs...).

    Returns:
        :class:`DynamicsResult`.

    Raises:
        ValueError: naming the argument (shapes of c and x against Gamma, record_every).
        LearningDivergedError: weights or voltages became non-finite, or a weight
            exceeded :func:`weight_limit`; the exception
            carries ``last_finite_weights`` and ``last_finite_time`` (s, block ends).
    """
    return _execute(params, c, x, key=key, record_every=record_every, W=W, state0=state0,
                    x0=x0, perturbations=perturbations, plastic=True, feedback=True)


def simulate(params: DynamicsParams, c, *, x=None, key: Any = 0, record_every: int = 10,
             W=None, state0: DynamicsState | None = None, x0=None,
             perturbations: Perturbations | None = None, plastic: bool = False,
             feedback: bool = False) -> DynamicsResult:
    """Run the network; by default autonomously (feedback and learning off), the
    test of a learned network.

    Args:
        params, c, key, record_every, W, state0, x0, perturbations: as :func:`learn`.
        x: (T + 1, D) reference trajectory (needed with ``feedback``; otherwise only
            recorded as ``target`` and used for ``sq_error``; default zeros).
        plastic: apply the slow rule.  feedback: feed the error back.

    Returns:
        :class:`DynamicsResult`.

    Raises:
        ValueError: naming the argument.
        LearningDivergedError: as :func:`learn`.
    """
    return _execute(params, c, x, key=key, record_every=record_every, W=W, state0=state0,
                    x0=x0, perturbations=perturbations, plastic=plastic, feedback=feedback)
