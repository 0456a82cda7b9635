"""Saving results: JSON for the check table and numbers, NetCDF (xarray) for traces.

xarray gives labelled, self-describing files (time coordinate in seconds, units in
attributes) that researchers open with ``xarray.open_dataset``.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr


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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, write) -> Path:
    """Call ``write(temporary_path)``, then rename the temporary file onto ``path``
    (same folder, so the rename is atomic): an interrupted run never leaves a truncated
    file behind. The file gets the usual permissions (0666 less the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(temporary))
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` as JSON (atomically)."""
    text = json.dumps(jsonable(payload), indent=2) + "\n"
    return write_atomic(path, lambda target: target.write_text(text))


# NetCDF attributes hold numbers, strings and 1-D numeric arrays only. Everything else a
# researcher puts in attrs (bool, None, list, dict, tuple, N-D arrays) is written as JSON
# text, and this attribute records which names were encoded and how, so load_dataset
# returns the same values and types (tuples come back as lists).
_ENCODED = "_bayesnn_encoded_attrs"


def _encode_attrs(attrs: Mapping[str, Any], where: str) -> dict[str, Any]:
    out, kinds = {}, {}
    for key, value in attrs.items():
        if not isinstance(key, str):
            raise ValueError(f"{where} attribute names must be strings, got {key!r}")
        if isinstance(value, (bool, np.bool_)):
            out[key], kinds[key] = json.dumps(bool(value)), "json"
        elif isinstance(value, (str, int, float, np.integer, np.floating)):
            out[key] = value
        elif isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            out[key] = json.dumps(value.tolist())
            kinds[key] = f"ndarray:{value.dtype.str}:{json.dumps(list(value.shape))}"
        else:
            try:
                out[key] = json.dumps(jsonable_strict(value))
            except (TypeError, ValueError) as error:
                raise ValueError(f"{where} attribute {key!r} cannot be stored in NetCDF: "
                                 f"{type(value).__name__} ({error}); use numbers, strings, "
                                 "bools, None, lists, dicts or numeric arrays") from None
            kinds[key] = "json"
    if kinds:
        out[_ENCODED] = json.dumps(kinds)
    return out


def jsonable_strict(value: Any) -> Any:
    """Like :func:`jsonable` but keeps NaN and refuses objects JSON cannot hold."""
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise ValueError("dict keys must be strings")
        return {key: jsonable_strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable_strict(item) for item in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"{type(value).__name__} is not JSON")


def _decode_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    attrs = dict(attrs)
    kinds = json.loads(attrs.pop(_ENCODED, "{}"))
    for key, kind in kinds.items():
        value = json.loads(attrs[key])
        if kind.startswith("ndarray:"):
            _, dtype, shape = kind.split(":", 2)
            value = np.asarray(value, dtype=np.dtype(dtype)).reshape(json.loads(shape))
        attrs[key] = value
    return attrs


def write_netcdf(path: str | Path, dataset: xr.Dataset) -> Path:
    """Write ``dataset`` as NetCDF-4 (h5netcdf engine, atomically). Attributes NetCDF
    cannot hold (bool, None, lists, dicts, N-D arrays) are written as JSON text and
    restored by :func:`load_dataset`; anything JSON cannot hold raises ``ValueError``
    naming the attribute, before anything is written."""
    encoded = dataset.copy()
    encoded.attrs = _encode_attrs(dataset.attrs, "dataset")
    for name, variable in dataset.variables.items():
        encoded[name].attrs = _encode_attrs(variable.attrs, f"variable {name!r}")
    return write_atomic(path, lambda target: encoded.to_netcdf(target, engine="h5netcdf"))


def load_dataset(path: str | Path) -> xr.Dataset:
    """Load a NetCDF file written by bayesnn into memory (no pickle involved), with its
    attributes decoded (:func:`write_netcdf`).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: naming ``path``, if it is not a readable NetCDF file (empty,
            truncated or damaged).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with xr.open_dataset(path, engine="h5netcdf") as dataset:
            loaded = dataset.load()
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not a readable NetCDF file (empty, truncated or "
                         f"damaged): {type(error).__name__}: {error}") from error
    loaded.attrs = _decode_attrs(loaded.attrs)
    for name in loaded.variables:
        loaded[name].attrs = _decode_attrs(loaded[name].attrs)
    return loaded


# A field spec: field name -> (dims of one trial, units, description).
FieldSpec = Mapping[str, tuple[Sequence[str], str, str]]


def _plain_attrs(attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of the caller's ``attrs`` (kept as given in memory; :func:`write_netcdf`
    encodes what NetCDF cannot hold); ``ValueError`` unless a mapping with string keys."""
    if attrs is None:
        return {}
    if not isinstance(attrs, Mapping):
        raise ValueError(f"attrs must be a mapping name -> value, got {type(attrs).__name__}")
    for key in attrs:
        if not isinstance(key, str):
            raise ValueError(f"attrs names must be strings, got {key!r}")
    return dict(attrs)


def spikes_to_dataset(spikes, trial_dim: str = "trial", prefix: str = "spike_") -> xr.Dataset:
    """A :class:`bayesnn.core.Spikes` container as a Dataset on dims (..., ``event``):
    ``spike_time`` (s, NaN in padding slots), ``spike_sender``, ``spike_count`` and
    ``spike_n_events`` (events emitted). Padding is kept so trials align."""
    times = np.asarray(spikes.times, dtype=float)
    batch = [f"{trial_dim}" if i == 0 else f"{trial_dim}_{i}" for i in range(times.ndim - 1)]
    dims = tuple(batch) + ("event",)
    dataset = xr.Dataset({
        f"{prefix}time": (dims, np.where(np.isfinite(times), times, np.nan)),
        f"{prefix}sender": (dims, np.asarray(spikes.senders, dtype=np.int32)),
        f"{prefix}count": (dims, np.asarray(spikes.counts, dtype=np.int32)),
        f"{prefix}n_events": (tuple(batch), np.asarray(spikes.n_events, dtype=np.int32)),
    })
    dataset[f"{prefix}time"].attrs.update(units="s", description="spike event time (NaN = unused slot)")
    dataset[f"{prefix}sender"].attrs.update(description="input channel or neuron index (-1 = unused)")
    dataset[f"{prefix}count"].attrs.update(description="spikes at the event (multiplicity)")
    dataset[f"{prefix}n_events"].attrs.update(description="number of valid events")
    return dataset


def record_to_dataset(record: Any, spec: FieldSpec, coords: Mapping[str, Any] | None = None,
                      attrs: Mapping[str, Any] | None = None,
                      batch_dims: Sequence[str] = ("trial",)) -> xr.Dataset:
    """Convert a result record (NamedTuple or dataclass of arrays) to a Dataset.

    Each field in ``spec`` becomes a variable with the spec's dims, prefixed by as many
    of ``batch_dims`` as the array has extra leading axes (e.g. a trial axis); units and
    descriptions go to attributes. Fields that are :class:`bayesnn.core.Spikes` become
    ``<field>_time``/``_sender``/``_count``/``_n_events`` on an event dim. ``None``
    fields are skipped. ``coords`` (e.g. ``time`` in s) are attached with units "s" for
    names ending in "time".
    """
    from bayesnn.core.spikes import Spikes

    variables: dict[str, Any] = {}
    parts = []
    for name, (dims, units, description) in spec.items():
        value = getattr(record, name)
        if value is None:
            continue
        if isinstance(value, Spikes):
            extra = np.asarray(value.times).ndim - 1
            part = spikes_to_dataset(value, prefix=f"{name}_")
            part = part.rename({old: new for old, new in zip(
                [d for d in part.dims if d != "event"],
                list(batch_dims)[:extra])} if extra else {})
            part = part.rename({"event": f"{name}_event"})
            parts.append(part)
            continue
        array = np.asarray(value)
        extra = array.ndim - len(dims)
        if extra < 0 or extra > len(batch_dims):
            raise ValueError(f"field {name} has shape {array.shape}, which does not fit "
                             f"dims {tuple(dims)} with up to {len(batch_dims)} batch dims")
        full_dims = tuple(batch_dims[:extra]) + tuple(dims)
        variable = xr.Variable(full_dims, array)
        variable.attrs.update({"units": units, "description": description})
        variables[name] = variable
    dataset = xr.Dataset(variables)
    for part in parts:
        dataset = dataset.merge(part)
    for name, value in (coords or {}).items():
        if name in dataset.dims or any(name in v.dims for v in dataset.variables.values()):
            dataset = dataset.assign_coords({name: np.asarray(value)})
            if name.endswith("time"):
                dataset[name].attrs["units"] = "s"
    dataset.attrs.update(_plain_attrs(attrs))
    return dataset


__all__ = ["jsonable", "write_atomic", "write_json", "write_netcdf", "load_dataset",
           "FieldSpec", "spikes_to_dataset", "record_to_dataset"]
