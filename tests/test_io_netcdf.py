"""NetCDF files (bayesnn.io): every attribute type a researcher puts in ``attrs``
round-trips with its value and type (NetCDF holds only numbers, strings and 1-D
arrays; the rest travels as JSON text), anything else is refused naming the attribute,
a non-mapping ``attrs`` is a ValueError, and a damaged file is named by the error."""
import numpy as np
import pytest

from bayesnn import io
from bayesnn.core import make_spikes
from bayesnn.neuron import NeuronParams, simulate

ATTRS = {"n_list": [1, 2, 3], "nested": {"a": 1, "b": [True, None, "x"]}, "nothing": None,
         "flag": True, "off": False, "grid": np.arange(6.0).reshape(2, 3),
         "ints": np.array([1, 2], np.int32), "n": np.int64(7), "x": 0.25, "label": "run 1",
         "pair": (1.5, 2.5)}


@pytest.fixture(scope="module")
def run():
    params = NeuronParams(r_on=1.0, r_off=1.0, q_on=[5.0], q_off=[1.0], g0=1.0)
    return simulate(params, make_spikes([0.5, 1.0]), duration=2.0,
                    sample_times=np.linspace(0.0, 2.0, 5))


def test_every_attribute_type_round_trips(run, tmp_path):
    dataset = run.to_xarray(attrs=ATTRS)
    dataset["log_odds"].attrs["window"] = [0.0, 2.0]  # variable attributes too
    loaded = io.load_dataset(io.write_netcdf(tmp_path / "run.nc", dataset))
    for key, value in ATTRS.items():
        back = loaded.attrs[key]
        if isinstance(value, np.ndarray):
            assert back.dtype == value.dtype and back.shape == value.shape
            np.testing.assert_array_equal(back, value)
        elif isinstance(value, tuple):
            assert back == list(value)  # JSON has no tuple: documented
        elif isinstance(value, (bool, type(None), str, list, dict)):
            assert back == value and type(back) is type(value), key
        else:  # numbers come back as numbers of the same kind (int stays int)
            assert back == value and np.asarray(back).dtype.kind == np.asarray(value).dtype.kind
    assert loaded.attrs["flag"] is True and loaded.attrs["nothing"] is None
    assert loaded["log_odds"].attrs["window"] == [0.0, 2.0]
    assert "_bayesnn_encoded_attrs" not in loaded.attrs


def test_bad_attrs_are_refused_naming_them(run, tmp_path):
    with pytest.raises(ValueError, match="attrs must be a mapping"):
        run.to_xarray(attrs="x")
    with pytest.raises(ValueError, match="attrs names must be strings"):
        run.to_xarray(attrs={1: "a"})
    with pytest.raises(ValueError, match="attribute 'thing' cannot be stored"):
        io.write_netcdf(tmp_path / "bad.nc", run.to_xarray(attrs={"thing": object()}))
    assert not (tmp_path / "bad.nc").exists()  # refused before anything was written


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
def test_damaged_file_is_named(run, tmp_path, damage):
    good = io.write_netcdf(tmp_path / "good.nc", run.to_xarray()).read_bytes()
    path = tmp_path / "damaged.nc"
    path.write_bytes({"empty": b"", "truncated": good[:400], "garbage": b"not netcdf" * 50}[damage])
    with pytest.raises(ValueError, match="damaged.nc is not a readable NetCDF file"):
        io.load_dataset(path)
    with pytest.raises(FileNotFoundError, match="missing.nc"):
        io.load_dataset(tmp_path / "missing.nc")
