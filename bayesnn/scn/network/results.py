"""Results of the spike-coding-network simulations, their conversion to xarray, and
the alignment of a target with the recorded times.

Recording convention (both networks; the E/I result is
:class:`bayesnn.scn.dale.results.DaleResult`): record r is taken after step
``(r + 1) * record_every - 1`` of the run, at ``times[r]`` (s); a run of T steps from
target samples ``x_0..x_T`` (T + 1 rows) compares record r with
``x[(r + 1) * record_every]``: :func:`target_at` does that indexing.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np

from bayesnn.core import Spikes
from bayesnn.scn.network.functional import SCNState

__all__ = ["SCNResult", "target_at"]

_V = "x^2 (units of Gamma^T x)"


class SCNResult(NamedTuple):
    """Output of :func:`bayesnn.scn.simulate` (one trial); :func:`simulate_trials`
    adds a leading trial axis to every field. R = T / record_every records, C event
    slots, K recorded neurons.

    Fields:
        spikes: :class:`bayesnn.core.Spikes` (times in s, senders = neuron index,
            counts = 1), extracted with :func:`bayesnn.core.spike_arrays`.
        margins: (C,) V_i - T_i just before each spike, parallel to ``spikes`` (NaN in
            unused slots; ``margins[:n]`` pairs with ``spike_arrays(spikes)``); the loss
            change of that spike is ``-2 * margin``.
        times: (R,) record times, s.
        readout: (R, D) x_hat, units of x.
        voltages: (R, K) V of ``voltage_neurons``.   rates: (R, Kr) r~ of ``rate_neurons``.
        currents_e, currents_i: (R, K) E and I input of ``voltage_neurons``, per second,
            averaged over each record block (empty unless record_currents).
        spike_counts: (N,) spikes per neuron.
        e_input, i_input: (N,) time-integrated E / I input; None unless track_balance
            (not measured, so ``to_xarray`` writes nothing for them).
        max_spikes_per_step: () largest number of spikes in one step.
        n_bursts: () steps with > 10 spikes whose kernels sum to ~0 (net-zero burst).
        n_cap_hits: () steps where "greedy" hit greedy_cap.
        voltage_neurons: (K,) int32, rate_neurons: (Kr,) int32 recorded indices.
        final: :class:`SCNState` after the last step (continue with ``state0=``).
    """

    spikes: Spikes
    margins: jax.Array
    times: jax.Array
    readout: jax.Array
    voltages: jax.Array
    rates: jax.Array
    currents_e: jax.Array
    currents_i: jax.Array
    spike_counts: jax.Array
    e_input: jax.Array
    i_input: jax.Array
    max_spikes_per_step: jax.Array
    n_bursts: jax.Array
    n_cap_hits: jax.Array
    voltage_neurons: jax.Array
    rate_neurons: jax.Array
    final: SCNState

    def spike_margins(self, trial: int | None = None) -> np.ndarray:
        """Margins ``V - T`` of the stored spikes, NumPy, aligned with
        ``bayesnn.core.spike_arrays(result.spikes, trial)``."""
        return _valid_margins(self, trial)

    def to_xarray(self, attrs: dict[str, Any] | None = None):
        """The result as an ``xarray.Dataset`` (dims ``trial`` (batched results),
        ``time`` (s), ``dim``, ``neuron``, ``voltage_neuron``, ``rate_neuron``,
        ``spikes_event``; units and descriptions in attributes); save with
        :func:`bayesnn.io.write_netcdf`, reload with :func:`bayesnn.io.load_dataset`.
        ``final`` is not included."""
        spec = {
            "spikes": ((), "s", "spike events"),
            "margins": (("spikes_event",), _V, "V_i - T_i before each spike (NaN: unused)"),
            "readout": (("time", "dim"), "x", "readout x_hat = Gamma r~"),
            "voltages": (("time", "voltage_neuron"), _V, "membrane voltage V after the step"),
            "rates": (("time", "rate_neuron"), "1", "unit-increment trace r~"),
            "currents_e": (("time", "voltage_neuron"), _V + " per s", "excitatory input"),
            "currents_i": (("time", "voltage_neuron"), _V + " per s", "inhibitory input"),
            "spike_counts": (("neuron",), "1", "spikes per neuron"),
            "e_input": (("neuron",), _V, "time-integrated excitatory input"),
            "i_input": (("neuron",), _V, "time-integrated inhibitory input"),
            "max_spikes_per_step": ((), "1", "largest number of spikes in one step"),
            "n_bursts": ((), "1", "steps with a net-zero burst of > 10 spikes"),
            "n_cap_hits": ((), "1", "steps where greedy resolution hit its cap"),
        }
        coords = {"voltage_neuron": self.voltage_neurons, "rate_neuron": self.rate_neurons}
        return _to_dataset(self, spec, coords, {"family": "scn (Boerlin et al. 2013)",
                                                **(attrs or {})})


def _valid_margins(result, trial):
    from bayesnn.core import spike_arrays

    spikes, margins = result.spikes, result.margins
    if trial is not None:
        spikes = jax.tree_util.tree_map(lambda a: a[trial], spikes)
        margins = margins[trial]
    spike_arrays(spikes)  # the same checks (batch without trial, overflow)
    return np.asarray(margins[: int(spikes.n_events)])


def _to_dataset(result, spec, index_coords, attrs):
    from bayesnn.io import record_to_dataset

    times = np.asarray(result.times)
    batched = times.ndim == 2
    time_coord = times[0] if batched else times
    if batched and not np.all(times == time_coord):
        raise ValueError("the trials of this result have different record times (state0 at "
                         "different steps); convert them one by one")
    # Zero-length recordings (e.g. no voltages recorded) are left out of the file.
    keep = {name: entry for name, entry in spec.items() if name == "spikes"
            or np.asarray(getattr(result, name)).size > 0}
    coords = {"time": time_coord}
    for name, value in index_coords.items():
        value = np.asarray(value)
        coords[name] = value[0] if batched else value
    return record_to_dataset(result, keep, coords, attrs)


def target_at(result, target) -> np.ndarray:
    """The target at the result's record times.

    Args:
        result: :class:`SCNResult` or :class:`~bayesnn.scn.DaleResult` (single or batched) of a run of
            T steps with R records.
        target: (T + 1, D) samples ``x_0..x_T`` at ``k dt`` (as returned by
            :func:`bayesnn.scn.lds_euler`, :func:`~bayesnn.scn.lds_exact` or fed to
            :func:`~bayesnn.scn.autoencoder_input`), or (trials, T + 1, D) for a batch.

    Returns:
        (R, D) (or (trials, R, D)): ``target[(r + 1) * record_every]``, the sample that
        record r (taken after step (r + 1) record_every - 1, at ``times[r]``) tracks.

    Raises:
        ValueError: if T is not a multiple of R (the target does not belong to the run).
    """
    x = np.asarray(target, dtype=float)
    n_records = np.asarray(result.times).shape[-1]
    if x.ndim < 2:
        raise ValueError(f"target must have shape (T + 1, D), got {x.shape}")
    n_steps = x.shape[-2] - 1
    if n_records < 1 or n_steps < n_records or n_steps % n_records:
        raise ValueError(f"target must have T + 1 rows for a run of T steps with {n_records} "
                         f"records (T a multiple of {n_records}), got {x.shape[-2]} rows")
    every = n_steps // n_records
    return x[..., every::every, :]
