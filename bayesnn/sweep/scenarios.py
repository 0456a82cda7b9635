r"""Registry of sweepable scenarios: what a sweep config may name as ``scenario``.

A :class:`Scenario` declares its parameters (with defaults, units and a check), the
settings shared by every point (e.g. trial length), which parameters fix array shapes
(``static``: points are grouped by them, since one compiled program needs one shape),
its outputs, and how to run a task: a batch of points x seeds as ONE compiled,
vectorised program through the sweep primitive :func:`bayesnn.core.grid.run_grid`.

``bayesian_neuron`` (Denève 2004; Denève 2008 I)
    Per point and seed k (key ``fold_in(PRNGKey(seed), k)``, shared by all points:
    common random numbers), inputs are sampled from the point's generative model
    (:func:`bayesnn.processes.sample_kernel`) and the exact event-driven neuron runs on
    them (:func:`bayesnn.neuron.kernels.event_kernel`). Its membrane potential L equals
    the exact filter's log-odds (tested in ``tests/test_neuron_exactness.py``), so with
    sample times :math:`t_j = j\,dt`, :math:`j = 1..S`:

    * ``kl`` (nats): :math:`\frac1S\sum_j \mathrm{KL}(\mathrm{Bern}(\sigma(L_j))\,\|\,
      \mathrm{Bern}(\sigma(G_j)))`, the decoded posterior :math:`\sigma(G)` against the
      exact posterior :math:`\sigma(L)`, time-averaged;
    * ``rate`` (Hz): output spikes / duration;
    * ``log_loss`` (nats): :math:`-\frac1S\sum_j \log P_G(x_{t_j})` with
      :math:`P_G(x=1) = \sigma(G)`, against the hidden state x;
    * ``log_loss_exact`` (nats): the same for :math:`\sigma(L)` (the Bayes floor);
    * ``n_input_spikes``, ``n_output_spikes``: counts over the trial.

    Parameters: ``g0`` (nats), ``n_inputs`` N (static), ``q_on``, ``q_off`` (Hz, mean
    input rates in x = 1 / x = 0), ``rate_spread`` s in [0, 1), ``r_on``, ``r_off``
    (Hz, switching rates). Input i has :math:`q^i_{on} = q_{on}(1 + s\,u_i)`,
    :math:`q^i_{off} = q_{off}(1 - s\,u_i)` with :math:`u_i` evenly spaced in [-1, 1]
    (0 for N = 1): s = 0 gives identical inputs, s > 0 spreads their weights.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.keys import as_key
from bayesnn.core.spikes import next_power_of_two
from bayesnn.core.grid import Grid, build_params, run_grid


@dataclass(frozen=True)
class ParamSpec:
    """One sweepable parameter: ``default``, ``units``, ``description``, ``integer``
    (values must be whole numbers; stored as int) and ``check(value) -> str | None``
    (a message saying what is wrong, or None)."""

    default: float
    units: str
    description: str
    integer: bool = False
    check: Callable[[float], str | None] = lambda value: None


def _positive(value: float) -> str | None:
    return None if value > 0 else f"must be > 0, got {value}"


def _at_least_one(value: float) -> str | None:
    return None if value >= 1 else f"must be an integer >= 1, got {value}"


def _spread(value: float) -> str | None:
    return None if 0 <= value < 1 else f"must lie in [0, 1), got {value}"


@dataclass(frozen=True)
class Scenario:
    """A sweepable scenario (see the module docstring for the registered ones).

    Fields:
        name, description: registry name and one line for listings.
        parameters: name -> :class:`ParamSpec` (what ``grid``/``random``/``fixed`` may name).
        settings: name -> ParamSpec for run settings shared by every point (top-level
            config keys, e.g. ``duration``).
        static: parameters that fix array shapes; tasks never mix their values.
        outputs: variable -> (units, description) of the per (point, seed) results.
        prepare: ``prepare(records, settings) -> statics`` (hashable static options for
            the compiled program, e.g. buffer sizes) from the stacked records of every
            point sharing one static group (so they depend on the config only).
        run: ``run(records, settings, statics, seed, n_seeds) -> {output: (P, n_seeds)}``.
        make_params: ``make_params(**point) -> record`` (validated parameter record).
        check_settings: raises ValueError naming the setting if settings conflict.
    """

    name: str
    description: str
    parameters: Mapping[str, ParamSpec]
    settings: Mapping[str, ParamSpec]
    static: tuple[str, ...]
    outputs: Mapping[str, tuple[str, str]]
    make_params: Callable[..., Any]
    prepare: Callable[[Any, Mapping[str, float]], Any]
    run: Callable[..., dict[str, np.ndarray]]
    check_settings: Callable[[Mapping[str, float]], None] = lambda settings: None


# ------------------------------------------------------------------ Bayesian neuron
def neuron_params(*, g0, n_inputs, q_on, q_off, rate_spread, r_on, r_off):
    """:class:`bayesnn.neuron.NeuronParams` at one point of the ``bayesian_neuron``
    scenario (input rates as in the module docstring). Raises the record's ValueError
    naming the field for invalid values."""
    from bayesnn.neuron.params import NeuronParams

    n = int(n_inputs)
    if n != n_inputs or n < 1:
        raise ValueError(f"n_inputs must be an integer >= 1, got {n_inputs}")
    u = np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1)
    return NeuronParams(r_on=r_on, r_off=r_off, q_on=q_on * (1.0 + rate_spread * u),
                        q_off=q_off * (1.0 - rate_spread * u), g0=g0)


class NeuronSweepStatics(NamedTuple):
    """Static options of the compiled neuron sweep (buffer sizes, drift search)."""

    switch_capacity: int
    spike_capacity: int
    capacity: int
    drift_spikes: bool


class NeuronPointTrial(NamedTuple):
    """Per (point, seed) output of the compiled neuron sweep (units in the module
    docstring); the last three are buffer use, for the overflow check."""

    kl: jax.Array
    rate: jax.Array
    log_loss: jax.Array
    log_loss_exact: jax.Array
    n_input_spikes: jax.Array
    n_output_spikes: jax.Array
    switch_draws: jax.Array
    sample_draws: jax.Array
    output_events: jax.Array


def _log_loss(log_odds, state):
    return -jnp.mean(jnp.where(state == 1, jax.nn.log_sigmoid(log_odds),
                               jax.nn.log_sigmoid(-log_odds)))


@partial(jax.jit, static_argnames=("statics",))
def _neuron_kernel(params, keys, sample_times, duration, *, statics: NeuronSweepStatics):
    from bayesnn.neuron.kernels import event_kernel
    from bayesnn.processes.sampling import sample_kernel, state_at

    def one(params, key):
        trial, switches, candidates = sample_kernel(key, params, duration, -1,
                                                    statics.switch_capacity,
                                                    statics.spike_capacity)
        out = event_kernel(params, trial.inputs, sample_times, params.prior_log_odds,
                           params.prior_log_odds, capacity=statics.capacity,
                           drift_spikes=statics.drift_spikes)
        state = state_at(trial.initial_state, trial.switch_times, sample_times)
        L, G = out.log_odds, out.prediction
        kl = jnp.mean(jax.nn.sigmoid(L) * (jax.nn.log_sigmoid(L) - jax.nn.log_sigmoid(G))
                      + jax.nn.sigmoid(-L) * (jax.nn.log_sigmoid(-L) - jax.nn.log_sigmoid(-G)))
        n_out = jnp.sum(out.spikes.counts)
        return NeuronPointTrial(kl, n_out / duration, _log_loss(G, state), _log_loss(L, state),
                                trial.inputs.n_events, n_out, switches, candidates,
                                out.spikes.n_events)

    return jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None))(params, keys)


def _neuron_times(settings: Mapping[str, float]) -> np.ndarray:
    from bayesnn.neuron.checks import record_times
    return record_times(float(settings["duration"]), float(settings["dt"]), None, 1)


def _neuron_check_settings(settings: Mapping[str, float]) -> None:
    duration, dt = float(settings["duration"]), float(settings["dt"])
    steps = round(duration / dt)
    if steps < 1 or abs(steps * dt - duration) > 1e-9 * max(duration, 1.0):
        raise ValueError(f"dt: duration ({duration} s) must be a whole multiple of dt ({dt} s)")


def _neuron_prepare(records, settings: Mapping[str, float]) -> NeuronSweepStatics:
    from bayesnn.neuron.event_driven import drift_can_fire
    from bayesnn.neuron.checks import default_capacity
    from bayesnn.processes.sampling import sample_capacities

    duration = float(settings["duration"])
    _neuron_times(settings)  # checks that duration is a multiple of dt
    switch_capacity, spike_capacity = sample_capacities(records.model, duration)
    expected_inputs = float(np.max(np.asarray(records.max_input_rate))) * duration
    return NeuronSweepStatics(switch_capacity, spike_capacity,
                              default_capacity(records, duration, int(expected_inputs)),
                              drift_can_fire(records))


def _grow(capacity: int, used) -> int:
    largest = int(np.max(np.asarray(used)))
    return capacity if largest <= capacity else next_power_of_two(largest)


def _neuron_run(records, settings: Mapping[str, float], statics: NeuronSweepStatics,
                seed: int, n_seeds: int) -> dict[str, np.ndarray]:
    """Run stacked records (P points) x n_seeds in one compiled call (one chunk); on a
    buffer overflow rerun with larger buffers (identical results: buffers only store
    and the sampler's draws are prefix-stable)."""
    times = jnp.asarray(_neuron_times(settings))
    duration = float(settings["duration"])
    n_points = jax.tree_util.tree_leaves(records)[0].shape[0]
    while True:
        compiled = partial(_neuron_kernel, sample_times=times, duration=duration,
                           statics=statics)
        result = run_grid(compiled, records, as_key(seed, "seed"), n_seeds, n_points)
        grown = statics._replace(switch_capacity=_grow(statics.switch_capacity, result.switch_draws),
                                 spike_capacity=_grow(statics.spike_capacity, result.sample_draws),
                                 capacity=_grow(statics.capacity, result.output_events))
        if grown == statics:
            break
        statics = grown
    return {name: np.asarray(getattr(result, name)) for name in NEURON_OUTPUTS}


NEURON_OUTPUTS = {
    "kl": ("nats", "time-averaged KL(Bern(sigmoid(L)) || Bern(sigmoid(G))): decoded vs exact posterior"),
    "rate": ("Hz", "output spike rate"),
    "log_loss": ("nats", "time-averaged -log P_G(x) of the hidden state, P_G(x=1) = sigmoid(G)"),
    "log_loss_exact": ("nats", "time-averaged -log P_L(x) of the hidden state (exact posterior, the Bayes floor)"),
    "n_input_spikes": ("1", "input spikes in the trial"),
    "n_output_spikes": ("1", "output spikes in the trial"),
}

BAYESIAN_NEURON = Scenario(
    name="bayesian_neuron",
    description="Denève's Bayesian neuron: KL of sigmoid(G) from exact sigmoid(L), rate, log-loss",
    parameters={
        "g0": ParamSpec(1.0, "nats", "jump of the prediction G per output spike", check=_positive),
        "n_inputs": ParamSpec(20, "1", "number of Poisson inputs N", integer=True, check=_at_least_one),
        "q_on": ParamSpec(20.0, "Hz", "mean input rate while x = 1", check=_positive),
        "q_off": ParamSpec(10.0, "Hz", "mean input rate while x = 0", check=_positive),
        "rate_spread": ParamSpec(0.0, "1", "spread s of the input rates around their means", check=_spread),
        "r_on": ParamSpec(2.0, "Hz", "switching rate 0 -> 1 of the hidden state", check=_positive),
        "r_off": ParamSpec(2.0, "Hz", "switching rate 1 -> 0 of the hidden state", check=_positive),
    },
    settings={
        "duration": ParamSpec(2.0, "s", "length of each trial", check=_positive),
        "dt": ParamSpec(1e-3, "s", "spacing of the posterior samples averaged over", check=_positive),
    },
    static=("n_inputs",),
    outputs=NEURON_OUTPUTS,
    make_params=neuron_params,
    prepare=_neuron_prepare,
    run=_neuron_run,
    check_settings=_neuron_check_settings,
)

SCENARIOS: dict[str, Scenario] = {BAYESIAN_NEURON.name: BAYESIAN_NEURON}


def get_scenario(name: str) -> Scenario:
    """The registered scenario ``name``.

    Raises:
        ValueError: naming the ``scenario`` field and listing the known ones.
    """
    if name not in SCENARIOS:
        raise ValueError(f"scenario: unknown scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}")
    return SCENARIOS[name]


def records_of(scenario: Scenario, points) -> Any:
    """Validated records at ``points`` (list of dicts of every parameter), stacked.
    Uses :func:`bayesnn.core.grid.build_params` (names the bad point)."""
    return build_params(lambda **point: scenario.make_params(**point),
                        Grid(tuple(scenario.parameters), (), tuple(points)))


def run_points(scenario: Scenario, points, settings: Mapping[str, float], statics,
               seed: int, n_seeds: int, pad_to: int | None = None) -> dict[str, np.ndarray]:
    """Run ``points`` x ``n_seeds`` as one compiled, vectorised batch; with ``pad_to``,
    the batch is padded to that many points by repeating the last one (so every task of
    a static group has one shape and compiles once per process), padding dropped."""
    points = list(points)
    padded = points + [points[-1]] * max(0, (pad_to or 0) - len(points))
    records = records_of(scenario, padded)
    out = scenario.run(records, settings, statics, seed, n_seeds)
    return {name: value[:len(points)] for name, value in out.items()}


__all__ = ["BAYESIAN_NEURON", "NeuronPointTrial", "NeuronSweepStatics", "ParamSpec", "SCENARIOS",
           "Scenario", "get_scenario", "neuron_params", "records_of", "run_points"]
