r"""What every learner of :mod:`bayesnn.learning` shares: the one result type
(:class:`FitResult`), the one binning of input spikes (:func:`bin_inputs`, by
:func:`bayesnn.core.bin_index`'s rule), the one labelling applied at the end of every
fit (:func:`bayesnn.processes.canonical_labelling`) and the convergence test of the
EM learners.

**Convergence on flat likelihoods.** A change of the log-likelihood below a tolerance
says nothing when the likelihood is flat: EM then moves by tiny steps that shrink by a
factor ``lambda`` close to 1, and stops far from the maximiser (and the change can be
exactly 0 in float64 while the parameters still move). EM converges linearly, so with
``d_k`` the largest change of a log-rate at iteration k and ``lambda = d_k / d_{k-1}``
the distance to the fixed point is about ``d_k lambda / (1 - lambda)`` (the geometric
tail; Aitken's estimate, Dempster, Laird & Rubin 1977 Sec. 3; McLachlan & Krishnan,
"The EM Algorithm and Extensions", 2nd ed. 2008, Sec. 3.9). EM reports ``converged``
only when both ``d_k`` and that estimate are below ``xtol`` (log-rate units, i.e.
relative). Every result also carries the norm of the gradient of ``log p / K`` (K input
spikes) with respect to the log-rates at the returned parameters, so that a reader can
check stationarity directly.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np
import xarray as xr

from bayesnn.core.binning import bin_spikes, spikes_from_counts
from bayesnn.core.params import unchecked
from bayesnn.core.spikes import Spikes
from bayesnn.processes.labelling import canonical_labelling
from bayesnn.processes.params import MMPPParams

__all__ = ["FitResult", "bin_inputs", "spikes_from_counts"]

FIELDS = ("r_on", "r_off", "q_on", "q_off")


class FitResult(NamedTuple):
    """Result of every learner of :mod:`bayesnn.learning` (rates in Hz, log-likelihoods
    in nats).

    Fields:
        params: :class:`MMPPParams`, the fitted parameters, in bayesnn's labelling (ON =
            the state with the larger total input rate, or closest to ``reference``).
        log_likelihoods: (I + 1,) log-likelihood of the data at ``history[k]`` (batch
            learners), or (2,) at the start and at the end (streaming learners, whose
            every recorded point would cost a pass over the stream): the
            learner's objective (the continuous-time log density for
            :func:`~bayesnn.learning.em_continuous` and
            :func:`~bayesnn.learning.fit_gradient`; the binned log-likelihood without
            ``-sum log n!`` for the binned learners).
        history: :class:`MMPPParams` with a leading axis (I + 1): the starting point and
            each iterate (batch learners) or the parameters in force at ``times``
            (streaming learners), in the same labelling as ``params``.
        times: (I + 1,) end time of each recorded bin, s (streaming learners), else
            ``None``.
        n_iterations: I, iterations (or optimiser steps, or bins) run.
        converged: the learner's convergence test held (EM: module docstring;
            gradient: gradient norm < tol); always False for the streaming learners,
            which run through their data once.
        gradient_norm: Euclidean norm of the gradient of ``log p / K`` w.r.t. the
            log-rates at ``params`` (K = input spikes; the learner's objective).
        relabelled: whether ON and OFF were exchanged at the end of the fit.
        wall_time: seconds spent (including compilation on a first call).
        method: the learner's name.
        extra: learner-specific outputs (the local rule's log-odds, prediction and
            state; online EM's statistics), documented by each learner.
    """

    params: MMPPParams
    log_likelihoods: np.ndarray
    history: MMPPParams
    times: np.ndarray | None
    n_iterations: int
    converged: bool
    gradient_norm: float
    relabelled: bool
    wall_time: float
    method: str
    extra: dict

    def to_xarray(self) -> xr.Dataset:
        """The fit as a Dataset: ``r_on``, ``r_off`` (step), ``q_on``, ``q_off`` (step,
        input) in Hz, ``log_likelihood`` (step, or start/end ``endpoint`` for the
        streaming learners) in nats, with ``time`` (s) on the step
        axis for the streaming learners; the fitted values and the flags in attributes."""
        history = {name: np.asarray(getattr(self.history, name)) for name in FIELDS}
        data = {name: (("step",) if name.startswith("r") else ("step", "input"), value,
                       {"units": "Hz"}) for name, value in history.items()}
        trace = np.asarray(self.log_likelihoods, float)
        data["log_likelihood"] = (("step",) if trace.shape[0] == history["r_on"].shape[0]
                                  else ("endpoint",), trace, {"units": "nats"})
        coords = {"step": np.arange(history["r_on"].shape[0])}
        if self.times is not None:
            coords["time"] = ("step", np.asarray(self.times, float), {"units": "s"})
        attrs = dict(method=self.method, converged=int(self.converged),
                     gradient_norm=float(self.gradient_norm), relabelled=int(self.relabelled),
                     n_iterations=int(self.n_iterations), wall_time_s=float(self.wall_time),
                     labelling="ON = the state with the larger total input rate sum_i q_i "
                               "(or closest to the reference)")
        return xr.Dataset(data, coords=coords, attrs=attrs)


def bin_inputs(inputs: Spikes, *, duration: float, dt: float, n_inputs: int) -> np.ndarray:
    """(B, T, N) float64 counts of checked input spikes (one trial or a batch), by the one
    binning helper :func:`bayesnn.core.bin_spikes` (:func:`bayesnn.core.bin_index`'s
    rule: a spike at exactly ``duration`` goes to the last bin), events weighted by
    their multiplicity; ``ValueError`` unless ``duration`` is a whole number of bins."""
    counts = bin_spikes(inputs, n_senders=n_inputs, duration=duration, dt=dt)
    return counts[None] if counts.ndim == 2 else counts


def finish(params, history, *, reference, fixed=()) -> tuple[MMPPParams, MMPPParams, bool]:
    """Apply the canonical labelling to the fitted ``params`` and, with the same
    decision, to ``history``. Rates held fixed pin the labels (no relabelling)."""
    if fixed:
        return params, history, False
    params, swapped = canonical_labelling(params, reference)
    if swapped:
        history = unchecked(MMPPParams, r_on=history.r_off, r_off=history.r_on,
                            q_on=history.q_off, q_off=history.q_on)
    return params, history, swapped


def stack(history: list) -> MMPPParams:
    """The iterates as one record with a leading axis, stacked on the host (NumPy): a
    device ``jnp.stack`` would compile one program per history length."""
    return jax.tree_util.tree_map(lambda *a: np.stack([np.asarray(x) for x in a]), *history)


def log_rate_change(new, old) -> float:
    """Largest |log new - log old| over all rates."""
    return max(float(np.max(np.abs(np.log(np.asarray(getattr(new, n)))
                                   - np.log(np.asarray(getattr(old, n)))))) for n in FIELDS)


class Convergence:
    """The EM convergence test of the module docstring."""

    def __init__(self, xtol: float):
        self.xtol, self.previous = xtol, None

    def update(self, change: float) -> bool:
        previous, self.previous = self.previous, change
        if change == 0.0:
            return True  # an exact fixed point
        if previous is None or previous == 0.0 or change > self.xtol:
            return False
        ratio = change / previous
        return ratio < 1.0 and change * ratio / (1.0 - ratio) <= self.xtol
