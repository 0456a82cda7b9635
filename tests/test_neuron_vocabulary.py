"""The Bayesian neuron and the exact MMPP filter as JAX programs of their parameter
records: gradients (against finite differences), vmap over stacked records (against
one-by-one runs) and the grid sweep (compiled once, equal to one-by-one runs).

Default setting: tests/neuron_setup.py (asymmetric switching, r_on = 1 Hz, r_off = 3 Hz).
Finite differences are the fourth-order central stencil
f'(x) ~ [-f(x + 2h) + 8 f(x + h) - 8 f(x - h) + f(x - 2h)] / (12 h), h = 1e-3 |x|:
truncation O(h^4 f^(5)) and rounding ~ eps |f| / h are both below 1e-9 of the
gradients here, so a relative 1e-6 leaves a wide margin.
"""
import importlib
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesnn import exact, neuron, processes
from bayesnn.core import spike_arrays, stack_params
from bayesnn.core.params import unchecked
from bayesnn.neuron.event_driven import drift_can_fire
from bayesnn.neuron.kernels import event_kernel, stepped_event_kernel
from bayesnn.processes import MMPPParams
from bayesnn.core.compile_meter import CompileMeter
from tests.neuron_setup import default_params, default_rates

from bayesnn.neuron import grid as grid_module


def central_difference(f, record, name, index=None, relative=1e-3):
    """Fourth-order central difference of f(record) in one field (element ``index``).

    Error basis (theory): truncation ~ h^4 f^(5) with h = 1e-3 x (relative ~1e-12) plus
    rounding ~ eps |f| / h (~1e-13 |f| / |x|), so the checks' 1e-6 relative is a wide
    bound; the measured worst cases are noted at each check."""
    base = np.array(getattr(record, name), float)
    step = relative * abs(base if index is None else base[index])

    def at(delta):
        value = base.copy()
        if index is None:
            value = value + delta
        else:
            value[index] += delta
        return float(f(record.replace(**{name: value})))

    return (-at(2 * step) + 8 * at(step) - 8 * at(-step) + at(-2 * step)) / (12 * step)


def components(record, n_inputs):
    """(field, index) of every scalar parameter of an MMPP-like record."""
    return ([("r_on", None), ("r_off", None)]
            + [(name, i) for name in ("q_on", "q_off") for i in range(n_inputs)])


def pick(gradient, name, index):
    value = getattr(gradient, name)
    return float(value if index is None else value[index])


# ------------------------------------------------------------------------- (a) MMPP
def test_grad_of_exact_log_likelihood_matches_finite_differences():
    q_on, q_off = default_rates(n_inputs=5)
    params = MMPPParams(1.0, 3.0, q_on, q_off)
    inputs = processes.sample_trial(params, key=41, duration=5.0).inputs
    assert int(inputs.n_events) > 100  # measured 543 (key 41): a non-trivial likelihood

    def log_likelihood(record):
        return exact.mmpp_log_likelihood(record, inputs, duration=5.0)

    gradient = jax.grad(log_likelihood)(params)
    assert isinstance(gradient, MMPPParams)
    # The innovations route (closed-form Riccati, no matrix exponential) differentiated
    # independently: both are exact, so they agree to rounding.
    innovations = jax.grad(lambda record: exact.mmpp_log_likelihood_innovations(
        record, inputs, duration=5.0))(params)
    for name, index in components(params, 5):
        value = pick(gradient, name, index)
        reference = central_difference(log_likelihood, params, name, index)
        # measured (key 41): vs finite differences <= 6.7e-9 relative (150x margin);
        # innovations route vs matrix exponential <= 3.8e-12 relative (two exact routes,
        # float64 rounding through 543 events and their derivatives; 1e-9 ~ 270x)
        assert abs(value - reference) <= 1e-6 * abs(value), (name, index, value, reference)
        assert abs(value - pick(innovations, name, index)) <= 1e-9 * abs(value), (name, index)


# ---------------------------------------------------------------------- (b) kernels
@pytest.fixture(scope="module")
def setting():
    params = default_params()
    assert not drift_can_fire(params)  # theta > 0: no drift spikes, reverse mode works
    inputs = processes.sample_trial(params, key=42, duration=2.0).inputs
    return params, inputs


def _exact_mean_log_odds(inputs, drift_spikes=False):
    sample_times = jnp.arange(1, 201) * 1e-2

    @jax.jit
    def mean_log_odds(params):
        prior = params.prior_log_odds
        out = event_kernel(params, inputs, sample_times, prior, prior, capacity=512,
                           drift_spikes=drift_spikes)
        return jnp.mean(out.log_odds)

    return mean_log_odds


def _discrete_mean_log_odds(inputs):
    @jax.jit
    def mean_log_odds(params):
        prior = params.prior_log_odds
        out = stepped_event_kernel(params, inputs, 1e-3, prior, prior, method="discrete",
                                   n_steps=2000, chunk=500, record_every=10, capacity=512)
        return jnp.mean(out.log_odds)

    return mean_log_odds


@pytest.mark.parametrize("kernel", ["exact", "discrete"])
def test_grad_through_neuron_kernels_matches_finite_differences(setting, kernel):
    params, inputs = setting
    f = _exact_mean_log_odds(inputs) if kernel == "exact" else _discrete_mean_log_odds(inputs)
    gradient = jax.grad(f)(params)
    assert isinstance(gradient, neuron.NeuronParams)
    checked = [("r_on", None), ("r_off", None), ("q_on", 0), ("q_on", 7), ("q_off", 3),
               ("q_off", 12)]
    for name, index in checked:
        value = pick(gradient, name, index)
        reference = central_difference(f, params, name, index)
        # measured (key 42): <= 2.5e-10 (exact) / 7.9e-10 (discrete) relative; margin >= 1000x
        assert abs(value - reference) <= 1e-6 * abs(value), (kernel, name, index, value, reference)
    # G never enters L (Denève 2004's log-odds ODE): L does not depend on g0 at all.
    assert float(gradient.g0) == 0.0


def test_forward_mode_through_drift_spike_search_matches_finite_differences():
    # With theta < 0 the kernel searches drift crossings in a while_loop, which JAX can
    # differentiate in forward mode only (jvp / jacfwd).
    base = default_params()
    params = base.replace(q_on=base.q_off, q_off=base.q_on)
    assert drift_can_fire(params)
    inputs = processes.sample_trial(params, key=43, duration=2.0).inputs
    f = _exact_mean_log_odds(inputs, drift_spikes=True)
    for name, index in (("r_on", None), ("q_on", 5)):
        tangent = {field: jnp.zeros_like(getattr(params, field)) for field in params.field_names}
        tangent[name] = (jnp.ones_like(tangent[name]) if index is None
                         else tangent[name].at[index].set(1.0))
        _, value = jax.jvp(f, (params,), (unchecked(neuron.NeuronParams, **tangent),))
        reference = central_difference(f, params, name, index)
        # measured (key 43): <= 1.0e-12 relative
        assert abs(float(value) - reference) <= 1e-6 * abs(float(value)), (name, value, reference)


# ------------------------------------------------------------------------- (c) vmap
def test_vmap_over_stacked_params_equals_one_by_one_bit_for_bit(setting):
    base, inputs = setting
    records = [base, base.replace(g0=0.5), base.replace(g0=2.0, q_on=1.3 * base.q_on),
               base.replace(r_on=2.5, r_off=0.7),
               base.replace(g0=0.5, q_on=0.5 * base.q_on)]  # theta < 0: drift spikes
    drifting = [drift_can_fire(record) for record in records]
    assert drifting == [False] * 4 + [True]
    sample_times = jnp.arange(1, 201) * 1e-2

    def run(params, drift_spikes=True):
        prior = params.prior_log_odds
        return event_kernel(params, inputs, sample_times, prior, prior, capacity=256,
                            drift_spikes=drift_spikes)

    batched = jax.jit(jax.vmap(run))(stack_params(records))
    drift_times = spike_arrays(batched.spikes, trial=len(records) - 1)[0]
    assert np.sum(~np.isin(drift_times, spike_arrays(inputs)[0])) > 5  # spikes between inputs
    single = jax.jit(partial(run, drift_spikes=False))
    for k, record in enumerate(records):
        lane = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf)[k], batched)
        # One by one through the public wrapper (same kernel, record by record).
        alone = neuron.simulate(record, inputs, duration=2.0, sample_times=sample_times)
        assert np.array_equal(lane.log_odds, np.asarray(alone.log_odds)), k
        assert np.array_equal(lane.prediction, np.asarray(alone.prediction)), k
        for mine, stacked in zip(spike_arrays(alone.spikes), spike_arrays(lane.spikes)):
            assert np.array_equal(mine, stacked), k
        if not drifting[k]:
            # And the kernel itself, unbatched and without the drift search (exact here).
            leaves = zip(jax.tree_util.tree_leaves(single(record)), jax.tree_util.tree_leaves(lane))
            for mine, stacked in leaves:
                assert np.array_equal(np.asarray(mine), stacked), k


# ------------------------------------------------------------------------ (d) sweep
def _compilations(run):
    """(result, number of XLA backend compilations during run())."""
    meter, start = CompileMeter.get(), time.time()
    result = run()
    return result, meter.since(start)["programs"]


SWEEP_SEED, SWEEP_TRIALS, SWEEP_DURATION, SWEEP_DT = 51, 4, 1.0, 1e-2
SWEEP_G0, SWEEP_SCALES = np.linspace(0.5, 2.0, 8), np.linspace(0.8, 1.2, 8)


def _sweep_params(g0, q_scale):
    base = default_params()
    return base.replace(g0=g0, q_on=base.q_on * q_scale)


def _run_sweep(g0_values, scales):
    return neuron.simulate_grid(_sweep_params, {"g0": g0_values, "q_scale": scales}, key=SWEEP_SEED,
                        n_trials=SWEEP_TRIALS, duration=SWEEP_DURATION, dt=SWEEP_DT)


@pytest.fixture(scope="module")
def swept():
    """The 8 g0 x 8 q_on-scale x 4 trial sweep (1 s, 10 ms grid; the grid holds points
    with theta < 0, so the drift-spike search runs) and its kernel compilations."""
    before = grid_module._grid_kernel._cache_size()
    dataset = _run_sweep(SWEEP_G0, SWEEP_SCALES)
    return dataset, grid_module._grid_kernel._cache_size() - before


def test_sweep_compiles_once(swept):
    dataset, compiled = swept
    assert any(drift_can_fire(_sweep_params(g0, s)) for g0 in SWEEP_G0 for s in SWEEP_SCALES)
    assert dataset["log_odds"].shape == (8, 8, SWEEP_TRIALS, 100)
    assert compiled <= 2 and dataset.attrs["n_compilations"] <= 2
    # New values, same shapes (and buffer buckets): nothing compiles at all.
    again, n_compiled = _compilations(lambda: _run_sweep(SWEEP_G0 * 1.01, SWEEP_SCALES * 0.99))
    assert n_compiled == 0
    assert not np.array_equal(again["log_odds"].values, dataset["log_odds"].values)


def _assert_point_equals_one_by_one(dataset, i, j, k):
    """Point (i, j), trial k of the sweep = sample_trial with key fold_in(seed, k), then
    simulate, bit for bit."""
    params = _sweep_params(SWEEP_G0[i], SWEEP_SCALES[j])
    key = jax.random.fold_in(jax.random.PRNGKey(SWEEP_SEED), k)
    trial = processes.sample_trial(params, key=key, duration=SWEEP_DURATION)
    run = neuron.simulate(params, trial.inputs, duration=SWEEP_DURATION, dt=SWEEP_DT)
    point = dataset.isel(g0=i, q_scale=j, trial=k)
    assert np.array_equal(point["log_odds"].values, np.asarray(run.log_odds)), (i, j, k)
    assert np.array_equal(point["prediction"].values, np.asarray(run.prediction)), (i, j, k)
    assert np.array_equal(point["state"].values, np.asarray(trial.state_at(run.times)))
    assert int(point["n_input_spikes"]) == int(trial.inputs.n_events)
    times, _, counts = spike_arrays(run.spikes)
    n = int(point["spikes_n_events"])
    assert n == times.size
    assert np.array_equal(point["spikes_time"].values[:n], times)
    assert np.array_equal(point["spikes_count"].values[:n], counts)


def test_every_sweep_point_equals_one_by_one_runs(swept):
    # Every point, one trial each (k cycles through the trials, so every trial index
    # and every point is covered); all 256 (point, trial) pairs in the slow test below.
    dataset, _ = swept
    for i in range(len(SWEEP_G0)):
        for j in range(len(SWEEP_SCALES)):
            _assert_point_equals_one_by_one(dataset, i, j, (i + j) % SWEEP_TRIALS)


@pytest.mark.slow
def test_every_sweep_point_and_trial_equals_one_by_one_runs(swept):
    dataset, _ = swept
    for i in range(len(SWEEP_G0)):
        for j in range(len(SWEEP_SCALES)):
            for k in range(SWEEP_TRIALS):
                _assert_point_equals_one_by_one(dataset, i, j, k)
