"""``bayesnn validate``: the driver that runs each family's validation scenario.

A *scenario* simulates data, runs a family's spiking model on it, runs independent
exact references on the *same* spikes, and returns a :class:`bayesnn.report.
ScenarioResult`: :class:`bayesnn.report.Check` rows (exact agreement where exactness
is claimed, measured distances where it is not), reported numbers, figures and
labelled traces. Each family owns its scenario, next to its code; this module only
registers them (:data:`REGISTRY`: name -> ``"module:function"``, imported when the
scenario runs), checks the settings and dispatches.

A scenario function has the signature ``scenario(*, <settings>, progress=..., figures=
...) -> ScenarioResult`` (``progress`` and ``figures`` optional); its keyword
parameters are the settings a TOML table ``[name]`` may give (``--seed`` and
``--duration`` override ``seed`` and ``duration`` where the scenario has them). A
function returning ``(checks, numbers)`` or ``(checks, numbers, figures)`` is accepted
too.

Scenarios (``bayesnn scenarios`` lists them):

``neuron`` (default)
    Denève's Bayesian neuron against the exact continuous-time filter, the HMM forward
    filter and NumPyro (:mod:`bayesnn.neuron.validation`).
``scn``
    Balanced spike-coding networks (Boerlin et al. 2013): loss identity, voltage closed
    form, bounding box, ping-pong.
``log_odds``
    K binary posteriors carried by spike-coding populations, KL against N.
``accuracy``
    KL from the exact posterior against output spikes per second.
``kalman``
    Spiking Kalman filters against the exact Kalman-Bucy posterior.
``learning``, ``hierarchy``, ``scn_learning``, ``scn_dynamics``
    Parameter learning and hierarchical inference scenarios.
``stdp``
    The STDP winner-take-all circuit (Nessler et al. 2013) against batch and online EM.
``neuromorphic``
    Fixed-point (Loihi, TrueNorth) neuron and SCN: KL against bit width, spikes and
    energy per nat, NIR round trip (:mod:`bayesnn.neuromorphic.validation`).

Validation is an exactness claim: it refuses to run in float32
(:func:`bayesnn.core.require_x64`); the command line switches float64 on itself.
"""
from __future__ import annotations

import importlib
import inspect
import time
from typing import Any, Callable, Mapping, NamedTuple

from bayesnn.core.compile_meter import CompileMeter
from bayesnn.core.precision import require_x64
from bayesnn.report import Check, Progress, ScenarioResult, silent


class Scenario(NamedTuple):
    """A family's scenario and one line of description.

    ``target`` is the scenario function itself, or its ``"module:function"`` path,
    imported the first time :attr:`function` is read: a run imports only the families
    it runs (every family's scenario module together cost the main job ~1 s of imports:
    optax, scipy.signal, the networks), and ``bayesnn scenarios`` lists them all
    without importing any.
    """

    target: Callable[..., Any] | str
    description: str

    @property
    def function(self) -> Callable[..., Any]:
        """The scenario function (its module imported on first use)."""
        if not isinstance(self.target, str):
            return self.target
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)

    @property
    def where(self) -> str:
        """``module.function`` of the scenario (for ``bayesnn scenarios``)."""
        if isinstance(self.target, str):
            return self.target.replace(":", ".")
        return f"{self.target.__module__}.{self.target.__name__}"


REGISTRY: dict[str, Scenario] = {
    "neuron": Scenario("bayesnn.neuron.validation:neuron_scenario",
                       "Bayesian neuron vs exact continuous-time filter, HMM, NumPyro"),
    "scn": Scenario("bayesnn.scn.network.validation:scn_scenario",
                    "spike-coding networks: loss identity, voltage, box, ping-pong"),
    "log_odds": Scenario("bayesnn.posteriors.validation:log_odds_scenario",
                         "posteriors carried by spiking populations, KL against N"),
    "accuracy": Scenario("bayesnn.posteriors.validation:accuracy_scenario",
                         "KL from the exact posterior against output spikes per second"),
    "kalman": Scenario("bayesnn.posteriors.kalman_validation:kalman_scenario",
                       "spiking Kalman filters vs exact Kalman-Bucy"),
    "learning": Scenario("bayesnn.learning.validation:learning_scenario",
                         "learning the generative model's rates from spikes"),
    "hierarchy": Scenario("bayesnn.hierarchy.validation:hierarchy_scenario",
                          "hierarchical inference against its exact reference"),
    "scn_learning": Scenario("bayesnn.scn.learning.validation:scn_learning_scenario",
                             "SCN learning: Brendel rules vs the optimum, E/I signs, gated gradients"),
    "spike_gradients": Scenario("bayesnn.spike_gradients.validation:spike_gradients_scenario",
                                "surrogate gradients and EventProp on the hard spiking network"),
    "stdp": Scenario("bayesnn.stdp.validation:stdp_scenario",
                     "WTA circuit with STDP (Nessler 2013) vs batch and online EM on digits"),
    "neuromorphic": Scenario("bayesnn.neuromorphic.validation:neuromorphic_scenario",
                             "fixed-point neuron and SCN: KL vs bits, spikes per nat, NIR"),
    "scn_dynamics": Scenario("bayesnn.scn.dynamics.validation:scn_dynamics_scenario",
                             "SCN learning dynamics: slow weights vs closed form, fields, knock-outs"),
}
SCENARIOS = tuple(REGISTRY)
DEFAULT_SCENARIO = "neuron"
_CALL_OPTIONS = ("progress", "figures")  # passed by the driver, never settings


def available_scenarios() -> tuple[str, ...]:
    """Registered scenarios, in registry order (each is imported when it runs)."""
    return tuple(REGISTRY)


def scenario_function(name: str) -> Callable[..., Any]:
    """The family's scenario function for ``name``.

    Raises:
        ValueError: for an unknown name.
    """
    if name not in REGISTRY:
        raise ValueError(f"scenario must be one of {SCENARIOS} or 'all', got {name!r}")
    return REGISTRY[name].function


def settings_of(function: Callable[..., Any]) -> dict[str, Any]:
    """The settings a scenario function takes: its keyword parameters and defaults."""
    return {name: parameter.default
            for name, parameter in inspect.signature(function).parameters.items()
            if name not in _CALL_OPTIONS
            and parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)}


def resolve(names: list[str] | tuple[str, ...]) -> list[str]:
    """Expand ``all`` (every available scenario) and check the names; order kept,
    duplicates dropped."""
    resolved: list[str] = []
    for name in names:
        for item in (available_scenarios() if name == "all" else (name,)):
            if item not in REGISTRY:
                raise ValueError(f"scenario must be one of {SCENARIOS} or 'all', got {item!r}")
            if item not in resolved:
                resolved.append(item)
    return resolved


def _settings_for(name: str, function, config: Mapping[str, Any], seed, duration) -> dict:
    known = settings_of(function)
    settings = dict(config.get(name, {}))
    extra = set(settings) - set(known)
    if extra:
        raise ValueError(f"[{name}] has unknown settings {sorted(extra)}; known: {sorted(known)}")
    for option, value in (("seed", seed), ("duration", duration)):
        if value is not None and option in known:
            settings[option] = value
    return settings


def _as_result(name: str, value: Any) -> ScenarioResult:
    """A scenario's return value as a ScenarioResult: one already, or a tuple
    ``(checks, numbers)`` / ``(checks, numbers, figures)``."""
    if isinstance(value, ScenarioResult):
        return value._replace(scenario=name)
    if (isinstance(value, tuple) and len(value) in (2, 3) and isinstance(value[1], dict)
            and all(isinstance(check, Check) for check in value[0])):
        figures = value[2] if len(value) == 3 else {}
        return ScenarioResult(name, list(value[0]), value[1], dict(figures or {}), None)
    raise TypeError(f"scenario {name!r} returned {type(value).__name__}; expected a "
                    "bayesnn.report.ScenarioResult")


def run(names: list[str] | tuple[str, ...] = (DEFAULT_SCENARIO,),
        config: Mapping[str, Mapping[str, Any]] | None = None, seed: int | None = None,
        duration: float | None = None, progress: Progress = silent,
        figures: bool = True) -> list[ScenarioResult]:
    """Run the named scenarios (``"all"`` expands to every available one).

    Args:
        names: scenario names, in order.
        config: a parsed TOML file: one table of settings per scenario.
        seed, duration: command-line overrides of ``seed`` and ``duration`` (s) for the
            scenarios that take them.
        progress: called with one line per stage.
        figures: whether scenarios draw their figures.

    Returns:
        One :class:`bayesnn.report.ScenarioResult` per scenario.

    Raises:
        ValueError: for an unknown scenario, config table or setting (before any
            scenario runs), or a bad setting value (raised by the family, naming it,
            when its scenario starts).
        bayesnn.core.PrecisionError: in float32.
    """
    require_x64("bayesnn validate")
    config = dict(config or {})
    for name, table in config.items():
        if name not in REGISTRY:
            raise ValueError(f"config has unknown scenario table [{name}]; known: {SCENARIOS}")
        if not isinstance(table, Mapping):
            raise ValueError(f"config entry {name!r} must be a table of settings")
    names = resolve(names)
    plans = []
    for name in names:  # every setting is checked before the first scenario runs
        function = scenario_function(name)
        plans.append((name, function, _settings_for(name, function, config, seed, duration)))
    results = []
    for name, function, settings in plans:
        accepted = inspect.signature(function).parameters
        options = {key: value for key, value in (("progress", progress), ("figures", figures))
                   if key in accepted}
        progress(f"scenario {name}")
        results.append(_as_result(name, function(**settings, **options)))
    return results


class StageTimer:
    """Progress printer: numbered stages with elapsed wall time, for runs of seconds.

    Each line after the first also reports the stage that just ended: wall and CPU
    seconds of this process, and how much of the wall time was JAX compilation
    (tracing, lowering, XLA; :class:`CompileMeter`), with the number of programs compiled
    and the persistent compilation cache's hits and misses (only counted when the cache
    is on, ``BAYESNN_JAX_CACHE``). :meth:`finish` reports the last stage and the totals.
    ``stages`` keeps the numbers (one dict per finished stage).
    """

    def __init__(self, write: Callable[[str], None]):
        self.write = write
        self.start = time.perf_counter()
        self.stage = 0
        self.stages: list[dict] = []
        self._meter = CompileMeter.get()
        self._open = None  # (message, wall clock, perf counter, process time)

    def _close(self) -> None:
        if self._open is None:
            return
        message, wall_start, perf_start, cpu_start = self._open
        record = {"stage": self.stage, "message": message,
                  "wall_s": time.perf_counter() - perf_start,
                  "cpu_s": time.process_time() - cpu_start,
                  **self._meter.since(wall_start)}
        self.stages.append(record)
        self._open = None
        self.write(f"     ^ {_describe(record)}")

    def __call__(self, message: str) -> None:
        self._close()
        self.stage += 1
        self.write(f"[{self.stage:2d}] {time.perf_counter() - self.start:6.1f} s  {message}")
        self._open = (message, time.time(), time.perf_counter(), time.process_time())

    def finish(self) -> None:
        """Report the last stage and the totals over all stages."""
        self._close()
        if self.stages:
            total = {key: sum(stage[key] for stage in self.stages)
                     for key in ("wall_s", "cpu_s", "compile_s", "programs", "hits", "misses")}
            self.write(f"all stages: {_describe(total)}")


def _describe(record: dict) -> str:
    return (f"{record['wall_s']:.1f} s wall, {record['cpu_s']:.1f} s CPU, compile "
            f"{record['compile_s']:.1f} s ({record['programs']} XLA programs; persistent "
            f"cache {record['hits']} hits, {record['misses']} misses)")


__all__ = ["REGISTRY", "SCENARIOS", "DEFAULT_SCENARIO", "Scenario",
           "available_scenarios", "resolve", "run", "scenario_function",
           "settings_of", "StageTimer", "CompileMeter"]
