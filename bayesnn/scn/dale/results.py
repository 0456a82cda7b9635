"""The result of the E/I (Dale's law) network's simulation and its conversion to xarray
(recording convention: :mod:`bayesnn.scn.network.results`)."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np

from bayesnn.core import Spikes
from bayesnn.scn.dale.functional import DaleState
from bayesnn.scn.network.results import _V, _to_dataset, _valid_margins

__all__ = ["DaleResult"]


class DaleResult(NamedTuple):
    """Output of :func:`bayesnn.scn.simulate_dale` (one trial);
    :func:`simulate_dale_trials` adds a leading trial axis to every field.

    Fields:
        spikes: :class:`bayesnn.core.Spikes` (times in s; senders 0..NE-1 = E,
            NE..N-1 = I; counts = 1).
        margins: (C,) V - T before each spike, parallel to ``spikes`` (NaN unused).
        times: (R,) record times, s.
        readout_e: (R, D) x_hat_E = DE rE.
        readout_i: (R, D) x_hat_I = DE DI rI (the I population's estimate of x).
        rate_error: (R,) ||rE - DI rI|| (the I population's error on the E traces).
        pop_rate_e, pop_rate_i: (R,) population-mean filtered rate lambda * mean(r~), Hz.
        voltages: (R, K) V of ``recorded_neurons`` (after the step's spikes).
        currents_e, currents_i: (R, K) excitatory / inhibitory input (feedforward and
            recurrent, self-reset excluded) of ``recorded_neurons``, averaged over each
            record block, per second (units of V / s); both >= 0.
        traces_e: (R, NE), traces_i: (R, NI) all traces r~ (empty unless record_traces).
        spike_counts_e: (NE,), spike_counts_i: (NI,) spikes per neuron.
        recorded_neurons: (K,) int32 indices.
        final: :class:`DaleState` after the last step (continue with ``state0=``).
    """

    spikes: Spikes
    margins: jax.Array
    times: jax.Array
    readout_e: jax.Array
    readout_i: jax.Array
    rate_error: jax.Array
    pop_rate_e: jax.Array
    pop_rate_i: jax.Array
    voltages: jax.Array
    currents_e: jax.Array
    currents_i: jax.Array
    traces_e: jax.Array
    traces_i: jax.Array
    spike_counts_e: jax.Array
    spike_counts_i: jax.Array
    recorded_neurons: jax.Array
    final: DaleState

    def spike_margins(self, trial: int | None = None) -> np.ndarray:
        """Margins ``V - T`` of the stored spikes, NumPy, aligned with
        ``bayesnn.core.spike_arrays(result.spikes, trial)``."""
        return _valid_margins(self, trial)

    def to_xarray(self, attrs: dict[str, Any] | None = None):
        """The result as an ``xarray.Dataset`` (dims ``trial`` (batched), ``time`` (s),
        ``dim``, ``recorded_neuron``, ``e_neuron``, ``i_neuron``, ``spikes_event``; units
        and descriptions in attributes); reload from NetCDF with
        :func:`bayesnn.io.load_dataset`. ``final`` is not included."""
        spec = {
            "spikes": ((), "s", "spike events (senders: E 0..NE-1, then I)"),
            "margins": (("spikes_event",), _V, "V - T before each spike (NaN: unused)"),
            "readout_e": (("time", "dim"), "x", "E readout DE rE"),
            "readout_i": (("time", "dim"), "x", "I readout DE DI rI"),
            "rate_error": (("time",), "1", "||rE - DI rI||"),
            "pop_rate_e": (("time",), "Hz", "E population-mean filtered rate"),
            "pop_rate_i": (("time",), "Hz", "I population-mean filtered rate"),
            "voltages": (("time", "recorded_neuron"), _V, "membrane voltage"),
            "currents_e": (("time", "recorded_neuron"), _V + " per s", "excitatory input"),
            "currents_i": (("time", "recorded_neuron"), _V + " per s", "inhibitory input"),
            "traces_e": (("time", "e_neuron"), "1", "E traces r~"),
            "traces_i": (("time", "i_neuron"), "1", "I traces r~"),
            "spike_counts_e": (("e_neuron",), "1", "spikes per E neuron"),
            "spike_counts_i": (("i_neuron",), "1", "spikes per I neuron"),
        }
        coords = {"recorded_neuron": self.recorded_neurons}
        return _to_dataset(self, spec, coords, {"family": "scn.dale (Barrett et al. 2016)",
                                                **(attrs or {})})
