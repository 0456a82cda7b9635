r"""Balanced spike-coding populations that carry binary posteriors (log-odds).

Parameters: :class:`bayesnn.posteriors.log_odds_params.LogOddsPopulationParams` (K binary
hidden variables with M Poisson inputs each, and a +/- decoder); data and exact
references: :mod:`bayesnn.posteriors.log_odds_data`. A B13 network (Boerlin et al. 2013,
:mod:`bayesnn.scn`) with D = K readout dimensions carries the log-odds :math:`L_t` in one
of two modes:

**Tracking** (``mode="tracking"``). An autoencoder (A = -lambda I, lambda_V = lambda_d =
lambda = ``params.leak``) driven by :math:`c_n = (L_{n+1} - L_n)/dt + \lambda L_n` from the
exact log-odds, so its target equals the exact L at every grid point; the spike-based
posterior is :math:`\sigma(\hat x)`. It re-encodes the exact answer: its error is spike
coding alone.

**Implementing** (``mode="implementing"``). The network's own dynamics do the inference.
Linearised at the prior log-odds :math:`L^* = \log(r_{on}/r_{off})`, where the prior flow
vanishes and its slope is :math:`r_{on} + r_{off}`, the filter is the linear system
:math:`\dot y = -(r_{on} + r_{off}) y - \theta + \sum_i w_i \sum_j \delta(t - t_{ij})`,
``y = L - L*``; a network with A = -(r_on + r_off) I and lambda_d = lambda_V = r_on + r_off
implements it in the exact autoencoder form, input spikes arriving as impulses
(:math:`c_n` = -theta + jumps in step n / dt). The posterior is :math:`\sigma(L^* + \hat x)`.
Its error splits into linearisation (linearised vs exact filter), time step (the Euler
target vs the exact linearised filter) and spike coding (network vs its own target).

Input spikes make L jump by up to max|w| (about 1.8 at the defaults), far more than the
box, so both modes resolve spikes sequentially within a step (``spike_mode="greedy"``);
a tiny linear cost ``nu = 1e-3 gamma^2 / lambda`` opens a margin between opposite
kernels' thresholds, which keeps the greedy loop free of net-zero +/- bursts.

Error against N: the readout error is uniform in a box of width ∝ gamma ∝ 1/N, so the
RMSE falls as 1/N and, since KL(σ(L) ‖ σ(L + ε)) ≈ ½ σ'(L) ε², the KL falls as 1/N²;
spikes per second grow as N.

Call convention: ``simulate(params, inputs, *, key, duration, dt, mode, record_every,
capacity)`` with ``inputs`` the population's input spikes (sender = k M + i);
:func:`simulate_trials` with per-trial inputs. The step is
:func:`bayesnn.scn.network.functional.step` on :func:`network_of` with input :func:`drive_of`.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.keys import KeyLike
from bayesnn.core.spikes import Spikes
from bayesnn.posteriors.log_odds_data import (
    LogOddsReference,
    _check_params,
    grid_steps,
    reference_log_odds,
)
from bayesnn.posteriors.log_odds_params import LogOddsPopulationParams

__all__ = ["MODES", "LogOddsResult", "drive_of", "network_of", "simulate", "simulate_trials"]

MODES = ("tracking", "implementing")


class LogOddsResult(NamedTuple):
    """Output of :func:`simulate` (a leading trial axis for :func:`simulate_trials`).
    R = T / record_every records at ``times[r] = (r + 1) record_every dt``.

    Fields:
        times: (R,) record times, s.
        log_odds: (R, K) spike-based log-odds (sigmoid of it is the posterior), nats.
        target: (R, K) what the network tracks: the exact L (tracking) or the exact
            linearised filter (implementing), nats.
        network_target: (R, K) the Euler-discretised target the network integrates
            step by step, nats (the spike-coding error is measured against it).
        exact_log_odds: (R, K) exact posterior log-odds, nats.
        spikes: :class:`bayesnn.core.Spikes` (sender = neuron index).
        spike_counts: (N,) spikes per neuron.
        max_spikes_per_step: () most spikes in one step.
    """

    times: jax.Array
    log_odds: jax.Array
    target: jax.Array
    network_target: jax.Array
    exact_log_odds: jax.Array
    spikes: Spikes
    spike_counts: jax.Array
    max_spikes_per_step: jax.Array

    def to_xarray(self, attrs: dict | None = None):
        """An ``xarray.Dataset`` (dims ``trial`` when batched, ``time`` (s),
        ``variable``, ``neuron``, ``spikes_event``), units and descriptions in
        attributes; reload from NetCDF with :func:`bayesnn.io.load_dataset`."""
        from bayesnn.io import record_to_dataset

        spec = {"log_odds": (("time", "variable"), "nats", "spike-based log-odds"),
                "target": (("time", "variable"), "nats", "log-odds the network tracks"),
                "network_target": (("time", "variable"), "nats", "Euler target of the network"),
                "exact_log_odds": (("time", "variable"), "nats", "exact posterior log-odds"),
                "spikes": ((), "s", "spike events (sender = neuron)"),
                "spike_counts": (("neuron",), "1", "spikes per neuron"),
                "max_spikes_per_step": ((), "1", "most spikes in one step")}
        times = np.asarray(self.times)
        return record_to_dataset(self, spec, {"time": times[0] if times.ndim == 2 else times},
                                 {"family": "posteriors.log_odds (log-odds population)",
                                  **(attrs or {})})


def network_of(params: LogOddsPopulationParams, mode: str, dt: float):
    """The :class:`bayesnn.scn.SCNParams` autoencoder of ``mode`` (leak ``params.leak``
    for tracking, ``r_on + r_off`` for implementing; ``nu = 1e-3 gamma^2 / leak``)."""
    from bayesnn.scn.network.params import make_autoencoder

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    leak = float(params.leak if mode == "tracking" else params.linear_leak)
    gamma = params.decoder_weight
    return make_autoencoder(np.asarray(params.decoder), lambda_=leak, nu=1e-3 * gamma**2 / leak,
                            dt=dt)


def drive_of(params: LogOddsPopulationParams, reference: LogOddsReference, mode: str
             ) -> tuple[np.ndarray, np.ndarray, float]:
    """``(c (T, K), x0 (K,), offset)``: the network input per step, its initial target
    and the log-odds offset of the readout (0 tracking, L* implementing)."""
    dt = float(reference.times[1] - reference.times[0])
    if mode == "tracking":
        from bayesnn.scn.network.targets import autoencoder_input

        return autoencoder_input(reference.exact, dt, float(params.leak)), reference.exact[0], 0.0
    if mode == "implementing":
        c = reference.jumps / dt - np.asarray(params.theta)[None, :]
        return c, np.zeros(params.n_variables), float(params.prior_log_odds)
    raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def _check(params, duration, dt, mode, record_every, reference, inputs):
    _check_params(params)
    n_steps = grid_steps(duration, dt)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if isinstance(record_every, bool) or int(record_every) != record_every or record_every < 1 \
            or n_steps % int(record_every):
        raise ValueError(f"record_every ({record_every}) must divide the number of steps ({n_steps})")
    if reference is None:
        return reference_log_odds(params, inputs, duration=duration, dt=dt)
    if not isinstance(reference, LogOddsReference) or reference.exact.shape != (
            n_steps + 1, params.n_variables):
        raise ValueError(f"reference must be a LogOddsReference of shape ({n_steps + 1}, "
                         f"{params.n_variables}) for these inputs (see reference_log_odds)")
    return reference


def _outputs(params, reference, mode, net, c, x0, offset, record_every):
    """(target, network_target, exact) at the record times."""
    from bayesnn.scn.network.targets import lds_euler

    dt = float(reference.times[1] - reference.times[0])
    recorded = slice(record_every, c.shape[0] + 1, record_every)  # record r is x_{(r+1) e}
    network_target = offset + lds_euler(np.asarray(net.A), c, dt, x0)
    target = reference.exact if mode == "tracking" else reference.linear
    return target[recorded], network_target[recorded], reference.exact[recorded]


def _run(simulate_fn, net, c, **kwargs):
    from bayesnn.scn.network.params import DriveMarginWarning

    # Greedy resolution absorbs an input spike's jump within its step, so the per-step
    # drive may exceed the box margin by design: silence that warning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DriveMarginWarning)
        return simulate_fn(net, c, spike_mode="greedy", **kwargs)


def simulate(params: LogOddsPopulationParams, inputs: Spikes, *, key: KeyLike = 0,
             duration: float, dt: float = 1e-4, mode: str = "tracking", record_every: int = 10,
             capacity: int | None = None, reference: LogOddsReference | None = None
             ) -> LogOddsResult:
    """Run a log-odds population on one trial's input spikes (module docstring).

    Args:
        params: :class:`LogOddsPopulationParams`.
        inputs: :class:`bayesnn.core.Spikes`, sender = k M + i (e.g.
            ``sample_population(...).inputs``), times in [0, duration].
        key: int seed or JAX key (tie-breaks).
        duration: s, a multiple of ``dt`` (>= 2 steps).
        dt: network step and grid of the exact references, s.
        mode: "tracking" or "implementing".
        record_every: keep every k-th readout (must divide T).
        capacity: initial spike-event slots (grown and rerun on overflow).
        reference: :func:`reference_log_odds` of these inputs, if already computed.

    Returns:
        :class:`LogOddsResult`.

    Raises:
        ValueError: naming the argument, before any simulation.
    """
    from bayesnn.scn.network.simulation import simulate as simulate_scn

    reference = _check(params, duration, dt, mode, record_every, reference, inputs)
    net = network_of(params, mode, dt)
    c, x0, offset = drive_of(params, reference, mode)
    res = _run(simulate_scn, net, c, key=key, x0=x0, record_every=int(record_every),
               capacity=capacity)
    target, network_target, exact = _outputs(params, reference, mode, net, c, x0, offset,
                                             int(record_every))
    f = jnp.result_type(float)
    put = jax.device_put  # host arrays in without an XLA program each (jnp.asarray)
    return LogOddsResult(res.times, put(offset + np.asarray(res.readout)),
                         put(np.asarray(target, f)), put(np.asarray(network_target, f)),
                         put(np.asarray(exact, f)), res.spikes, res.spike_counts,
                         res.max_spikes_per_step)


def simulate_trials(params: LogOddsPopulationParams, inputs: Spikes, *, key: KeyLike = 0,
                    duration: float, dt: float = 1e-4, mode: str = "tracking",
                    record_every: int = 10, capacity: int | None = None,
                    references: list[LogOddsReference] | None = None) -> LogOddsResult:
    """:func:`simulate` over trials with per-trial inputs (``inputs`` with a leading
    trial axis, e.g. ``sample_population_trials(...).inputs``), one vectorised network
    program; trial k uses ``fold_in(as_key(key), k)`` and equals ``simulate(params,
    inputs[k], key=fold_in(as_key(key), k), ...)`` bit for bit."""
    from bayesnn.scn.network.simulation import simulate_trials as simulate_scn_trials

    if not isinstance(inputs, Spikes) or np.ndim(inputs.times) != 2:
        raise ValueError("inputs must be a bayesnn.core.Spikes with a leading trial axis")
    n_trials = int(inputs.times.shape[0])
    if references is not None and len(references) != n_trials:
        raise ValueError(f"references must hold one LogOddsReference per trial ({n_trials})")
    refs = [_check(params, duration, dt, mode, record_every,
                   None if references is None else references[k],
                   jax.tree_util.tree_map(lambda a: a[k], inputs)) for k in range(n_trials)]
    net = network_of(params, mode, dt)
    drives = [drive_of(params, ref, mode) for ref in refs]
    res = _run(simulate_scn_trials, net, np.stack([d[0] for d in drives]), key=key,
               x0=np.stack([d[1] for d in drives]), record_every=int(record_every),
               capacity=capacity)
    outs = [_outputs(params, ref, mode, net, *d, int(record_every)) for ref, d in zip(refs, drives)]
    f = jnp.result_type(float)
    stacked = [jax.device_put(np.stack([o[i] for o in outs]).astype(f)) for i in range(3)]
    return LogOddsResult(res.times, jax.device_put(drives[0][2] + np.asarray(res.readout)),
                         *stacked, res.spikes,
                         res.spike_counts, res.max_spikes_per_step)
