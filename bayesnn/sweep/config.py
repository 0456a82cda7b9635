"""Sweep configs: a scenario, a design (grid or random) over its parameters, seeds and a
batch size, read from TOML (or a dict) and validated before any work.

Format (``examples/sweep_g0.toml``)::

    scenario = "bayesian_neuron"   # a name from bayesnn.sweep.SCENARIOS
    duration = 1.0                 # scenario settings (top level): trial length, s
    dt = 0.001                     # spacing of posterior samples, s
    seed = 0                       # seed k of a point uses key fold_in(PRNGKey(seed), k)
    n_seeds = 20                   # seeds (trials) per point, the `seed` dim 0..n_seeds-1
    batch_size = 8                 # points per task: one compiled, vectorised batch

    [fixed]                        # parameters held fixed (others: scenario defaults)
    r_on = 2.0

    [grid]                         # a rectangular grid (C order: last name fastest) ...
    g0 = [0.5, 1.0, 2.0, 4.0]
    n_inputs = [10, 20, 40]

    # ... or a random design (instead of [grid]):
    # [random]
    # n_points = 64
    # seed = 1                     # seeds the design (NumPy), not the trials
    # g0 = { low = 0.25, high = 4.0, scale = "log" }
    # n_inputs = { low = 5, high = 40 }   # integers: uniform on low..high

Every error is a ``ValueError`` whose message starts with the field it is about
(``grid.g0``, ``random.n_inputs.low``, ``n_seeds``, ``scenario``, ...).
"""
from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from bayesnn.core.grid import make_grid
from bayesnn.sweep.scenarios import ParamSpec, Scenario, get_scenario

_TOP = ("scenario", "seed", "n_seeds", "batch_size", "fixed", "grid", "random")
DEFAULT_BATCH_SIZE = 8


def _number(field: str, value: Any, spec: ParamSpec) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{field}: must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{field}: must be finite, got {value}")
    if spec.integer:
        if value != round(value):
            raise ValueError(f"{field}: must be a whole number, got {value}")
        value = int(round(value))
    problem = spec.check(value)
    if problem:
        raise ValueError(f"{field}: {problem}")
    return value


def _integer(field: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{field}: must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _table(field: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{field}: must be a table (mapping), got {type(value).__name__}")
    return value


def _parameter(scenario: Scenario, field: str, name: str) -> ParamSpec:
    if name not in scenario.parameters:
        raise ValueError(f"{field}.{name}: unknown parameter of scenario {scenario.name!r}; "
                         f"known: {', '.join(scenario.parameters)}")
    return scenario.parameters[name]


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep config (build with :func:`load_config`).

    Fields:
        scenario: registered scenario name.
        settings: every scenario setting (defaults filled in), e.g. duration (s), dt (s).
        fixed: every parameter that is not swept (defaults filled in).
        design: "grid" or "random".
        axes: grid: name -> tuple of values; random: name -> (low, high, scale).
        n_points, design_seed: random design only (0 for a grid).
        seed: base seed of the trials; n_seeds: seeds per point.
        batch_size: points per task.
    """

    scenario: str
    settings: dict[str, float]
    fixed: dict[str, float]
    design: str
    axes: dict[str, tuple]
    n_points: int
    design_seed: int
    seed: int
    n_seeds: int
    batch_size: int

    @property
    def swept(self) -> tuple[str, ...]:
        """Names of the swept parameters, in config order."""
        return tuple(self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        """Grid shape (one entry per swept name) or (n_points,) for a random design."""
        if self.design == "grid":
            return tuple(len(values) for values in self.axes.values())
        return (self.n_points,)

    def points(self) -> list[dict[str, float]]:
        """Every point of the design (all parameters), in design order (a grid in C
        order via :func:`bayesnn.core.grid.make_grid`, the last name fastest)."""
        spec = get_scenario(self.scenario).parameters
        if self.design == "grid":
            grid = make_grid({name: list(values) for name, values in self.axes.items()})
            swept = [{name: (int(v) if spec[name].integer else float(v)) for name, v in point.items()}
                     for point in grid.points]
        else:
            swept = self._random_points(spec)
        return [{**self.fixed, **point} for point in swept]

    def _random_points(self, spec) -> list[dict[str, float]]:
        rng = np.random.default_rng(self.design_seed)
        columns = {}
        for name, (low, high, scale) in self.axes.items():
            if spec[name].integer:
                if scale == "log":
                    draw = np.exp(rng.uniform(math.log(low), math.log(high + 1), self.n_points))
                    columns[name] = [int(v) for v in np.clip(np.floor(draw), low, high)]
                else:
                    columns[name] = [int(v) for v in rng.integers(low, high + 1, self.n_points)]
            elif scale == "log":
                columns[name] = [float(v) for v in np.exp(rng.uniform(math.log(low), math.log(high),
                                                                      self.n_points))]
            else:
                columns[name] = [float(v) for v in rng.uniform(low, high, self.n_points)]
        return [{name: columns[name][i] for name in self.axes} for i in range(self.n_points)]

    def to_dict(self) -> dict[str, Any]:
        """Canonical plain form (JSON/TOML-able); what the hash covers, plus batch_size."""
        out: dict[str, Any] = {"scenario": self.scenario, **self.settings, "seed": self.seed,
                               "n_seeds": self.n_seeds, "batch_size": self.batch_size,
                               "fixed": dict(self.fixed)}
        if self.design == "grid":
            out["grid"] = {name: list(values) for name, values in self.axes.items()}
        else:
            out["random"] = {"n_points": self.n_points, "seed": self.design_seed,
                             **{name: {"low": low, "high": high, "scale": scale}
                                for name, (low, high, scale) in self.axes.items()}}
        return out

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical config without ``batch_size`` (what the results
        depend on); a store refuses results of another hash."""
        content = {key: value for key, value in self.to_dict().items() if key != "batch_size"}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _grid(scenario: Scenario, table: Mapping[str, Any]) -> dict[str, tuple]:
    if not table:
        raise ValueError("grid: must name at least one parameter, e.g. g0 = [0.5, 1.0]")
    axes = {}
    for name, values in table.items():
        spec = _parameter(scenario, "grid", name)
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) == 0:
            raise ValueError(f"grid.{name}: must be a non-empty list of numbers, got {values!r}")
        parsed = tuple(_number(f"grid.{name}", value, spec) for value in values)
        if len(set(parsed)) != len(parsed):
            raise ValueError(f"grid.{name}: values must be distinct, got {list(parsed)}")
        axes[name] = parsed
    return axes


def _random(scenario: Scenario, table: Mapping[str, Any]) -> tuple[dict[str, tuple], int, int]:
    if "n_points" not in table:
        raise ValueError("random.n_points: required (number of points to draw)")
    n_points = _integer("random.n_points", table["n_points"], 1)
    design_seed = _integer("random.seed", table.get("seed", 0), 0)
    axes = {}
    for name, entry in table.items():
        if name in ("n_points", "seed"):
            continue
        spec = _parameter(scenario, "random", name)
        entry = _table(f"random.{name}", entry)
        unknown = set(entry) - {"low", "high", "scale"}
        if unknown:
            raise ValueError(f"random.{name}.{sorted(unknown)[0]}: unknown field; use low, high, scale")
        for bound in ("low", "high"):
            if bound not in entry:
                raise ValueError(f"random.{name}.{bound}: required")
        low = _number(f"random.{name}.low", entry["low"], spec)
        high = _number(f"random.{name}.high", entry["high"], spec)
        if not low <= high:
            raise ValueError(f"random.{name}.high: must be >= low ({low}), got {high}")
        scale = entry.get("scale", "linear")
        if scale not in ("linear", "log"):
            raise ValueError(f"random.{name}.scale: must be 'linear' or 'log', got {scale!r}")
        if scale == "log" and low <= 0:
            raise ValueError(f"random.{name}.low: must be > 0 for scale = 'log', got {low}")
        axes[name] = (low, high, scale)
    if not axes:
        raise ValueError("random: must name at least one parameter, e.g. g0 = {low = 0.5, high = 4}")
    return axes, n_points, design_seed


def load_config(source: str | Path | Mapping[str, Any]) -> SweepConfig:
    """Read and validate a sweep config from a TOML file or a mapping (format in the
    module docstring).

    Raises:
        ValueError: starting with the offending field (unknown scenario, parameter or
            field; negative rates, g0 <= 0, non-integer N, ...), before any work.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"config: file {path} does not exist")
        try:
            with path.open("rb") as handle:
                raw = tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"config: {path} is not valid TOML: {error}") from error
    else:
        raw = _table("config", source)
    if "scenario" not in raw:
        raise ValueError("scenario: required, e.g. scenario = \"bayesian_neuron\"")
    if not isinstance(raw["scenario"], str):
        raise ValueError(f"scenario: must be a string, got {raw['scenario']!r}")
    scenario = get_scenario(raw["scenario"])
    for key in raw:
        if key not in _TOP and key not in scenario.settings:
            raise ValueError(f"{key}: unknown field; allowed: {', '.join(_TOP + tuple(scenario.settings))}")
    settings = {name: _number(name, raw.get(name, spec.default), spec)
                for name, spec in scenario.settings.items()}
    scenario.check_settings(settings)
    if ("grid" in raw) == ("random" in raw):
        raise ValueError("grid: give exactly one design, a [grid] or a [random] table")
    if "grid" in raw:
        axes, n_points, design_seed, design = _grid(scenario, _table("grid", raw["grid"])), 0, 0, "grid"
    else:
        axes, n_points, design_seed = _random(scenario, _table("random", raw["random"]))
        design = "random"
    fixed_table = _table("fixed", raw.get("fixed", {}))
    for name in fixed_table:
        _parameter(scenario, "fixed", name)
    fixed = {}
    for name, spec in scenario.parameters.items():
        if name in axes:
            if name in fixed_table:
                raise ValueError(f"fixed.{name}: is also swept in [{design}]; give it in one place")
            continue
        fixed[name] = _number(f"fixed.{name}", fixed_table.get(name, spec.default), spec)
    return SweepConfig(
        scenario=scenario.name, settings=settings, fixed=fixed, design=design, axes=axes,
        n_points=n_points, design_seed=design_seed,
        seed=_integer("seed", raw.get("seed", 0), 0),
        n_seeds=_integer("n_seeds", raw.get("n_seeds", 1), 1),
        batch_size=_integer("batch_size", raw.get("batch_size", DEFAULT_BATCH_SIZE), 1))


__all__ = ["DEFAULT_BATCH_SIZE", "SweepConfig", "load_config"]
