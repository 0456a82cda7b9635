"""Saving results: JSON for the check table and numbers, NetCDF (xarray) for traces.

xarray gives labelled, self-describing files (time coordinate in seconds, units in
attributes) that researchers open with ``xarray.open_dataset``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr


def neuron_traces(times, states, exact_log_odds, log_odds, prediction, spike_times,
                  spike_counts, attrs: dict[str, Any] | None = None) -> xr.Dataset:
    """Labelled traces of one Bayesian-neuron trial.

    Variables on ``time`` (s): ``state`` (true x), ``exact_log_odds``, ``log_odds`` (L),
    ``prediction`` (G); on ``spike``: ``spike_time`` (s) and ``spike_count``.
    """
    dataset = xr.Dataset(
        {
            "state": ("time", np.asarray(states, dtype=np.int8)),
            "exact_log_odds": ("time", np.asarray(exact_log_odds, dtype=float)),
            "log_odds": ("time", np.asarray(log_odds, dtype=float)),
            "prediction": ("time", np.asarray(prediction, dtype=float)),
            "spike_time": ("spike", np.asarray(spike_times, dtype=float)),
            "spike_count": ("spike", np.asarray(spike_counts, dtype=np.int32)),
        },
        coords={"time": np.asarray(times, dtype=float)},
        attrs={key: value for key, value in (attrs or {}).items() if isinstance(value, (int, float, str))},
    )
    dataset["time"].attrs["units"] = "s"
    dataset["spike_time"].attrs["units"] = "s"
    dataset["log_odds"].attrs["long_name"] = "neuron log-odds L"
    dataset["prediction"].attrs["long_name"] = "prediction G decoded from output spikes"
    return dataset


def jsonable(value: Any) -> Any:
    """Convert NumPy/JAX scalars and arrays (recursively) to JSON types; NaN -> None."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return jsonable(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(payload), indent=2) + "\n")
    return path


def write_netcdf(path: str | Path, dataset: xr.Dataset) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.to_netcdf(path, engine="h5netcdf")
    return path
