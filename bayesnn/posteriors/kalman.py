r"""A spiking Kalman filter: a B13 network whose readout is the Kalman-Bucy posterior mean.

Generative model: :class:`bayesnn.processes.LinearGaussianParams` (time in s)::

    dz = A z dt + dW,  E[dW dW^T] = Q dt;     dy = C z dt + dV,  E[dV dV^T] = R dt,

observed through the increments ``dy_k`` over ``(t_{k-1}, t_k]``, ``t_k = k dt``. The exact
posterior (:func:`bayesnn.exact.kalman_bucy.kalman_bucy_posterior`) has the stationary
covariance ``P`` (Riccati), gain ``K = P C^T R^{-1}``, ``F = A - K C`` and mean
``mu_k = e^{F dt} mu_{k-1} + K dy_k``.

**Network** (Boerlin et al. 2013, :mod:`bayesnn.scn`). A B13 network tracks
``x_{k+1} = x_k + dt (A_net x_k + c_k)``. With::

    A_net = (e^{F dt} - I) / dt      (= F + O(dt F^2))
    c_k   = K dy_{k+1} / dt          (:func:`network_input`: the increments themselves)

the network's own target *is* ``mu_k`` to round-off (plain ``A_net = F`` would add an
O(dt |F|) Euler error). Its readout ``x_hat`` estimates the posterior mean; the
stationary ``P`` is its (data-independent) uncertainty. The error is bounded by the box
radius times an amplification factor (:mod:`bayesnn.posteriors.kalman_bounds`), rigorous
in the ``"greedy"`` spike mode with ``mu = sigma_v = 0``.

**Pitfall 6 (white-noise increments).** ``K dy_k`` has standard deviation
``||K R^{1/2}|| sqrt(dt)`` per step, far above the box margin ``nu lambda_d``: with one
spike per step (``spike_mode="one"``) a large increment may leave several neurons above
threshold and the bound fails; ``"greedy"`` (default) absorbs each increment within its
step, and cannot ping-pong (each spike lowers the loss by ``2 (V_i - T_i) > 0``).

Call convention: :func:`make_spiking_kalman` builds a :class:`SpikingKalmanParams`;
``simulate(params, dy, *, key, ...)`` runs one trial, :func:`simulate_trials` a batch with
per-trial increments. The step is :func:`bayesnn.scn.network.functional.step` on
``params.network`` with input :func:`network_input`.
"""
from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import jax
import numpy as np
import scipy.linalg

from bayesnn.core.keys import KeyLike
from bayesnn.core.params import as_leaf, is_traced, params_record
from bayesnn.core.spikes import Spikes
from bayesnn.core.validation import (
    require_hurwitz,
    require_matrix,
    require_nonnegative,
    require_positive,
)
from bayesnn.exact.kalman import steady_state_kalman_bucy
from bayesnn.processes.linear_gaussian import LinearGaussianParams

__all__ = ["SpikingKalmanParams", "SpikingKalmanResult", "make_spiking_kalman",
           "network_input", "simulate", "simulate_trials"]

SPIKE_MODES = ("greedy", "one")


def _net_drift(generator: np.ndarray, dt: float) -> np.ndarray:
    """A_net = (e^{F dt} - I) / dt."""
    return (scipy.linalg.expm(generator * dt) - np.eye(generator.shape[0])) / dt


@params_record
class SpikingKalmanParams:
    """A spiking Kalman filter (a JAX pytree; build with :func:`make_spiking_kalman`).

    Fields:
        model: :class:`bayesnn.processes.LinearGaussianParams`, the filtered model.
        network: :class:`bayesnn.scn.SCNParams` with ``A = (e^{F dt} - I) / dt``.
        gain: (D, M) gain K fed as ``c_k = K dy_{k+1} / dt`` ([z] / [y]).

    Properties: ``generator`` F = A - K C (1/s), ``dt`` (s), ``n_neurons``, ``n_dims``,
    ``n_obs``.

    Raises:
        ValueError: naming the field: ``gain`` of the wrong shape or with A - K C not
            Hurwitz (message starts with ``gain``), a network of the wrong dimension or
            whose A is not ``(e^{F dt} - I) / dt`` (relative 1e-9).
    """

    model: LinearGaussianParams
    network: Any
    gain: jax.Array

    def _validate(self) -> dict:
        from bayesnn.scn.network.params import SCNParams

        if not isinstance(self.model, LinearGaussianParams):
            raise ValueError(f"model must be a LinearGaussianParams, got {type(self.model).__name__}")
        if not isinstance(self.network, SCNParams):
            raise ValueError(f"network must be an SCNParams, got {type(self.network).__name__}")
        D, M = self.model.n_dims, self.model.n_obs
        K = require_matrix("gain", self.gain, (D, M))
        F = np.asarray(self.model.A) - K @ np.asarray(self.model.C)
        try:
            require_hurwitz("A - K C", F)
        except ValueError as error:
            raise ValueError(f"gain: {error}") from error
        if self.network.n_dims != D:
            raise ValueError(f"network must have D = {D} readout dimensions, got "
                             f"{self.network.n_dims}")
        want = _net_drift(F, float(self.network.dt))
        if np.max(np.abs(np.asarray(self.network.A) - want)) > 1e-9 * max(1.0, np.max(np.abs(want))):
            raise ValueError("network.A must equal (e^{(A - K C) dt} - I) / dt (build the "
                             "record with make_spiking_kalman)")
        return {"gain": as_leaf(K)}

    @property
    def generator(self) -> jax.Array:
        """(D, D) F = A - K C, 1/s."""
        return self.model.A - self.gain @ self.model.C

    @property
    def dt(self) -> float:
        """Time step, s (the network's)."""
        return float(self.network.dt)

    @property
    def n_neurons(self) -> int:
        return self.network.n_neurons

    @property
    def n_dims(self) -> int:
        return self.model.n_dims

    @property
    def n_obs(self) -> int:
        return self.model.n_obs


def make_spiking_kalman(model: LinearGaussianParams, *, n_neurons: int = 100,
                        decoder_norm: float = 0.1, dt: float = 1e-4, lambda_d: float = 10.0,
                        lambda_v: float | None = None, mu: float = 0.0, nu: float = 1e-5,
                        sigma_v: float = 0.0, decoder: str = "auto", seed: int = 0,
                        gain=None) -> SpikingKalmanParams:
    """B13 network whose readout is the Kalman-Bucy posterior mean (module docstring).

    Args:
        model: :class:`bayesnn.processes.LinearGaussianParams`.
        n_neurons: N (even for the 1-D "pm" decoder).
        decoder_norm: ||Gamma_i||, [z]; the box half-width is about decoder_norm / 2.
        dt: step, s. lambda_d: readout leak, 1/s. lambda_v: membrane leak, 1/s
            (default ``-trace(A_net)/D``, which makes the 1-D network exact).
        mu, nu: B13 costs (mu = 0 keeps the error bound rigorous; nu > 0 sets the box
            margin nu lambda_d that stops greedy ping-pong). sigma_v: voltage noise.
        decoder: "pm" (+/-, 1-D), "circular" (2-D, evenly spaced), "random" (Gaussian
            directions, ``seed``) or "auto" (pm for D = 1, circular for D = 2, else random).
        gain: (D, M) gain instead of the steady-state K (e.g. a mis-tuned filter);
            ``A - gain C`` must be Hurwitz.

    Raises:
        ValueError: before any simulation: bad shapes, a gain that makes A - K C unstable
            (message names ``gain``), bad network parameters (via ``make_network``).
    """
    from bayesnn.scn.network.params import circular_decoder, make_network, pm_decoder, random_decoder

    if not isinstance(model, LinearGaussianParams) or is_traced(model):
        raise ValueError(f"model must be a concrete LinearGaussianParams, got {type(model).__name__}")
    D, M = model.n_dims, model.n_obs
    if isinstance(n_neurons, bool) or not isinstance(n_neurons, (int, np.integer)) or n_neurons < 2:
        raise ValueError(f"n_neurons must be an integer >= 2, got {n_neurons!r}")
    decoder_norm = float(require_positive("decoder_norm", decoder_norm, ndim=0))
    dt = float(require_positive("dt", dt, ndim=0))
    if decoder not in ("auto", "pm", "circular", "random"):
        raise ValueError(f"decoder must be 'auto', 'pm', 'circular' or 'random', got {decoder!r}")
    A, C = np.asarray(model.A), np.asarray(model.C)
    if gain is None:
        K = np.asarray(steady_state_kalman_bucy(A, model.Q, C, model.R).gain)
    else:
        K = require_matrix("gain", gain, (D, M))
    F = A - K @ C
    try:
        require_hurwitz("A - K C", F)
    except ValueError as error:
        raise ValueError(f"gain: {error}") from error
    A_net = _net_drift(F, dt)
    lam_v = -float(np.trace(A_net)) / D if lambda_v is None else float(
        require_nonnegative("lambda_v", lambda_v, ndim=0))
    kind = decoder if decoder != "auto" else ("pm" if D == 1 else "circular" if D == 2 else "random")
    if kind in ("pm", "circular") and D != (1 if kind == "pm" else 2):
        raise ValueError(f"decoder {kind!r} needs D = {1 if kind == 'pm' else 2}, got D = {D}")
    if kind == "pm":
        Gamma = pm_decoder(int(n_neurons), decoder_norm)
    elif kind == "circular":
        Gamma = circular_decoder(int(n_neurons), decoder_norm)
    else:
        Gamma = random_decoder(D, int(n_neurons), decoder_norm, seed=seed)
    net = make_network(Gamma, A=A_net, lambda_d=lambda_d, lambda_v=lam_v, mu=mu, nu=nu,
                       sigma_v=sigma_v, dt=dt)
    return SpikingKalmanParams(model=model, network=net, gain=K)


# ----------------------------------------------------------------------------- simulate
class SpikingKalmanResult(NamedTuple):
    """Output of :func:`simulate` (a leading trial axis on every field for
    :func:`simulate_trials`). R = T / record_every records, C event slots.

    Fields:
        times: (R,) record times ``(r + 1) record_every dt``, s.
        readout: (R, D) x_hat, the spiking posterior-mean estimate, [z]; record r
            estimates ``mu`` at ``times[r]`` (index ``(r + 1) record_every - 1`` of the
            exact means).
        spikes: :class:`bayesnn.core.Spikes` (senders = neuron index).
        spike_counts: (N,) spikes per neuron.
        max_spikes_per_step: () most spikes in one step.
        n_cap_hits: () steps where the greedy loop hit its cap (bound not guaranteed).
    """

    times: jax.Array
    readout: jax.Array
    spikes: Spikes
    spike_counts: jax.Array
    max_spikes_per_step: jax.Array
    n_cap_hits: jax.Array

    def to_xarray(self, attrs: dict | None = None):
        """An ``xarray.Dataset`` (dims ``trial`` when batched, ``time`` (s), ``dim``,
        ``neuron``, ``spikes_event``), units and descriptions in attributes; reload
        from NetCDF with :func:`bayesnn.io.load_dataset`."""
        from bayesnn.io import record_to_dataset

        spec = {"readout": (("time", "dim"), "[z]", "readout x_hat (posterior-mean estimate)"),
                "spikes": ((), "s", "spike events (sender = neuron)"),
                "spike_counts": (("neuron",), "1", "spikes per neuron"),
                "max_spikes_per_step": ((), "1", "most spikes in one step"),
                "n_cap_hits": ((), "1", "steps where the greedy loop hit its cap")}
        times = np.asarray(self.times)
        return record_to_dataset(self, spec, {"time": times[0] if times.ndim == 2 else times},
                                 {"family": "posteriors.kalman (spiking Kalman filter)",
                                  **(attrs or {})})


def network_input(params: SpikingKalmanParams, dy) -> np.ndarray:
    """(T, D) network drive ``c_k = K dy_{k+1} / dt`` from increments dy (T, M) (or a
    batch (trials, T, M))."""
    dy = np.asarray(dy, float)
    return dy @ np.asarray(params.gain).T / params.dt


def _prepare(params, dy, batched: bool, dt, spike_mode, x0):
    if not isinstance(params, SpikingKalmanParams) or is_traced(params):
        raise ValueError("params must be a concrete SpikingKalmanParams (see "
                         f"make_spiking_kalman), got {type(params).__name__}")
    shape = (None, None, params.n_obs) if batched else (None, params.n_obs)
    dy = require_matrix("inputs", dy, shape)
    if dt is not None and abs(float(require_positive("dt", dt, ndim=0)) - params.dt) > 1e-12 * params.dt:
        raise ValueError(f"dt must equal the network's step {params.dt} s, got {dt}")
    if spike_mode not in SPIKE_MODES:
        raise ValueError(f"spike_mode must be one of {SPIKE_MODES}, got {spike_mode!r}")
    x0 = np.asarray(params.model.m0) if x0 is None else require_matrix("x0", x0, (params.n_dims,))
    return network_input(params, dy), x0


def _result(res) -> SpikingKalmanResult:
    return SpikingKalmanResult(res.times, res.readout, res.spikes, res.spike_counts,
                               res.max_spikes_per_step, res.n_cap_hits)


def _run(simulate_fn, params, c, **kwargs):
    from bayesnn.scn.network.params import DriveMarginWarning

    with warnings.catch_warnings():
        if kwargs["spike_mode"] == "greedy":  # greedy absorbs large increments in the step
            warnings.simplefilter("ignore", DriveMarginWarning)
        return _result(simulate_fn(params.network, c, **kwargs))


def simulate(params: SpikingKalmanParams, inputs, *, key: KeyLike = 0,
             duration: float | None = None, dt: float | None = None, record_every: int = 1,
             capacity: int | None = None, spike_mode: str = "greedy",
             x0=None) -> SpikingKalmanResult:
    """Run the spiking Kalman filter on one trial's observation increments.

    Args:
        params: :class:`SpikingKalmanParams`.
        inputs: (T, M) observation increments dy_k over ``(t_{k-1}, t_k]``, [y] (e.g.
            ``sample_linear_gaussian(...).dy``).
        key: int seed or JAX key (voltage noise, tie-breaks).
        duration: optional, s; must equal T dt (a check).
        dt: optional, s; must equal the network's step (a check).
        record_every: keep every k-th readout (must divide T).
        capacity: initial spike-event slots (grown and rerun on overflow,
            :func:`bayesnn.core.run_growing`).
        spike_mode: "greedy" (default; rigorous box) or "one" (pitfall 6).
        x0: (D,) initial target (default ``model.m0``, the mean at t = 0).

    Returns:
        :class:`SpikingKalmanResult`.

    Raises:
        ValueError: naming the argument, before any simulation.
    """
    from bayesnn.scn.network.simulation import simulate as simulate_scn

    c, x0 = _prepare(params, inputs, False, dt, spike_mode, x0)
    return _run(simulate_scn, params, c, key=key, duration=duration, record_every=record_every,
                capacity=capacity, spike_mode=spike_mode, x0=x0)


def simulate_trials(params: SpikingKalmanParams, inputs, *, key: KeyLike = 0,
                    duration: float | None = None, dt: float | None = None,
                    record_every: int = 1, capacity: int | None = None,
                    spike_mode: str = "greedy", x0=None) -> SpikingKalmanResult:
    """:func:`simulate` over trials with per-trial increments ``inputs`` (trials, T, M),
    one vectorised program; trial k uses ``fold_in(as_key(key), k)`` and equals
    ``simulate(params, inputs[k], key=fold_in(as_key(key), k), ...)`` bit for bit."""
    from bayesnn.scn.network.simulation import simulate_trials as simulate_scn_trials

    c, x0 = _prepare(params, inputs, True, dt, spike_mode, x0)
    return _run(simulate_scn_trials, params, c, key=key, duration=duration,
                record_every=record_every, capacity=capacity, spike_mode=spike_mode, x0=x0)


def _repr(self) -> str:
    return (f"SpikingKalmanParams(D={self.n_dims}, M={self.n_obs}, N={self.n_neurons}, "
            f"dt={self.dt:g} s)")


SpikingKalmanParams.__repr__ = _repr  # nested records: params_record's repr shows arrays only
