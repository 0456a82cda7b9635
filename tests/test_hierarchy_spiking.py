"""The spiking hierarchy: layers against the single neuron run on the same spikes.

One small tree (K = 2 children, N = 4 inputs with q_on > q_off, so theta > 0 and the
drift-crossing search is off, which keeps compilation short), g0 = 0.4 on layer 1 so
that some layer-1 events carry several spikes. All runs share shapes and buffer sizes,
so they reuse one compiled program. Agreement with bayesnn.neuron is exact (the same
kernel on the same events); 1e-12 leaves room for a different order of float operations.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesnn import neuron
from bayesnn.core import make_spikes, spike_arrays, unstack_params
from bayesnn.exact.hierarchy import tree_filter
from bayesnn.hierarchy import (
    SpikingHierarchy,
    layer1_params,
    make_hierarchy,
    make_tree,
    measure_rates,
    reader_params,
    sample_trees,
    simulate,
    simulate_trials,
    split_inputs,
)
from bayesnn.hierarchy import functional
from bayesnn.hierarchy.evaluation import paired_difference, scores
from bayesnn.hierarchy.poisson import delivered_spikes, top_epochs
from bayesnn.hierarchy.training import derived_reader_rates, time_in_state
from bayesnn.io import load_dataset, write_netcdf

DURATION = 2.0
Q_ON = np.array([[30.0, 20.0, 25.0, 40.0], [35.0, 25.0, 30.0, 20.0]])
Q_OFF = np.array([[5.0, 10.0, 3.0, 12.0], [6.0, 4.0, 8.0, 9.0]])


def _tree(follow=10.0, stray=0.5):
    # Asymmetric top rates (r_on = 1, r_off = 3 Hz): with r_on = r_off the prior of y
    # has log-odds 0, the value an all-zero reader also gives, so a lost prior passed.
    return make_tree(2, r_on=1.0, r_off=3.0, follow=follow, stray=stray, q_on=Q_ON, q_off=Q_OFF)


def _network(tree):
    readers = reader_params(tree, np.array([[4.0, 30.0], [5.0, 25.0]]), 1.0, ("y", "not_y"))
    return SpikingHierarchy(tree, layer1_params(tree, 0.4), readers)


@pytest.fixture(scope="module")
def setting():
    jax.config.update("jax_enable_x64", True)
    tree = _tree()
    network = _network(tree)
    trials = sample_trees(tree, key=4, n_trials=2, duration=DURATION)
    batch = simulate_trials(network, trials.inputs, duration=DURATION)
    first = simulate(network, trials.trial(0).inputs, duration=DURATION)
    return tree, network, trials, batch, first


def test_batch_trial_equals_single_run(setting):
    _, _, _, batch, first = setting
    for name in ("layer1_log_odds", "layer2_log_odds", "layer2_prediction", "fed_log_odds"):
        np.testing.assert_allclose(np.asarray(getattr(batch, name))[0],
                                   np.asarray(getattr(first, name)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(spike_arrays(batch.layer1_spikes, 0)[0],
                               spike_arrays(first.layer1_spikes)[0], rtol=0, atol=1e-12)


def test_record_every_decimates_the_same_run(setting):
    _, network, trials, _, first = setting
    sparse = simulate(network, trials.trial(0).inputs, duration=DURATION, record_every=10)
    np.testing.assert_allclose(sparse.times, first.times[9::10])
    np.testing.assert_array_equal(sparse.layer2_log_odds, first.layer2_log_odds[:, 9::10])
    np.testing.assert_array_equal(sparse.fed_log_odds, first.fed_log_odds[9::10])


def test_layer1_is_the_single_neuron_on_each_child(setting):
    tree, network, trials, _, first = setting
    children = split_inputs(trials.trial(0).inputs, 2, 4)
    times, senders, counts = spike_arrays(first.layer1_spikes)
    assert counts.max() > 1  # events with several spikes occur (w_i > g0)
    for j in range(2):
        alone = neuron.simulate(unstack_params(network.layer1, j),
                                jax.tree_util.tree_map(lambda f: f[j], children),
                                duration=DURATION, sample_times=first.times)
        np.testing.assert_allclose(first.layer1_log_odds[j], alone.log_odds, rtol=0, atol=1e-12)
        np.testing.assert_allclose(first.layer1_prediction[j], alone.prediction, rtol=0,
                                   atol=1e-12)
        own_times, _, own_counts = spike_arrays(alone.spikes)
        np.testing.assert_allclose(times[senders == j], own_times, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(counts[senders == j], own_counts)


def test_readers_get_every_layer1_spike_at_its_exact_time(setting):
    _, network, _, batch, _ = setting
    delivered = delivered_spikes(batch, 2, DURATION)
    n_spikes = np.asarray(batch.layer1_spikes.n_spikes)
    np.testing.assert_array_equal(np.asarray(delivered.n_events), n_spikes)
    for r in range(2):
        alone = neuron.simulate_trials(unstack_params(network.layer2, r), delivered,
                                       duration=DURATION, sample_times=batch.times)
        np.testing.assert_allclose(batch.layer2_log_odds[:, r], alone.log_odds, rtol=0,
                                   atol=1e-12)
        np.testing.assert_allclose(batch.layer2_prediction[:, r], alone.prediction, rtol=0,
                                   atol=1e-12)


def _event_by_event(network, inputs, drift):
    """Both layers event by event with the public step functions."""
    times, senders, _ = spike_arrays(inputs)

    @jax.jit
    def loop(network, times, senders):
        state = functional.init_state(network)
        buffers = functional.empty_buffers(network, 512, 1024)

        def visit(carry, event):
            state, buffers = carry
            state, buffers = functional.advance(network, state, event[0], buffers,
                                                drift_spikes=drift)
            state, buffers = functional.receive(network, state, event[1], buffers)
            return (state, buffers), None

        (state, buffers), _ = jax.lax.scan(visit, (state, buffers), (times, senders))
        return functional.advance(network, state, DURATION, buffers, drift_spikes=drift)

    return loop(network, jnp.asarray(times), jnp.asarray(senders, jnp.int32))


def _assert_same_spikes(rows, merged):
    times, senders, counts = spike_arrays(merged)
    for r in range(rows.times.shape[0]):
        own_times, _, own_counts = spike_arrays(jax.tree_util.tree_map(lambda f: f[r], rows))
        np.testing.assert_allclose(np.repeat(own_times, own_counts),
                                   np.repeat(times[senders == r], counts[senders == r]),
                                   rtol=0, atol=1e-12)


def test_event_by_event_across_layers_equals_layer_by_layer(setting):
    """The hierarchy is feed-forward: interleaving both layers' events (public step
    functions) gives simulate's spikes and final states."""
    _, network, trials, _, first = setting
    state, (layer1, layer2) = _event_by_event(network, trials.trial(0).inputs, False)
    _assert_same_spikes(layer1, first.layer1_spikes)
    _assert_same_spikes(layer2, first.layer2_spikes)
    np.testing.assert_allclose(state.layer2.log_odds, first.layer2_log_odds[:, -1], atol=1e-12)
    assert int(state.undelivered) == 0


@pytest.mark.slow
def test_event_by_event_delivers_drift_spikes_in_time_order():
    """theta < 0 on layer 1 (q_on < q_off): layer-1 neurons fire on drift between
    events; each such spike reaches the readers at its exact crossing time."""
    tree = make_tree(2, r_on=1.0, r_off=1.0, follow=10.0, stray=0.5, q_on=Q_OFF, q_off=Q_ON)
    network = _network(tree)
    inputs = sample_trees(tree, key=4, n_trials=1, duration=DURATION).trial(0).inputs
    run = simulate(network, inputs, duration=DURATION)
    state, (layer1, layer2) = _event_by_event(network, inputs, True)
    _assert_same_spikes(layer1, run.layer1_spikes)
    _assert_same_spikes(layer2, run.layer2_spikes)
    np.testing.assert_allclose(state.layer2.log_odds, run.layer2_log_odds[:, -1], atol=1e-12)


def test_uncoupled_children_leave_y_at_its_prior(setting):
    """follow == stray: the children carry no information about y, so the exact P(y)
    and the log-odds-fed reader (every weight 0) stay at the prior, P(y) = r_on / (r_on +
    r_off) = 1/4, log-odds log(1/3) (not 0: the rates are asymmetric). 1e-12: exact in
    float64 up to a few roundings of a constant."""
    _, _, trials, _, _ = setting
    tree = _tree(follow=3.0, stray=3.0)
    run = simulate(_network(tree), trials.trial(0).inputs, duration=DURATION)
    exact = tree_filter(tree, trials.trial(0).inputs, duration=DURATION, sample_times=run.times)
    np.testing.assert_allclose(run.fed_log_odds, np.log(1.0 / 3.0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(exact.prob_top, 0.25, rtol=0, atol=1e-12)


def test_traces_round_trip_through_netcdf(setting, tmp_path):
    _, _, _, batch, _ = setting
    dataset = batch.to_xarray(attrs={"scenario": "test"})
    assert dataset["layer1_log_odds"].dims == ("trial", "child", "time")
    assert dataset["time"].attrs["units"] == "s"
    loaded = load_dataset(write_netcdf(tmp_path / "run.nc", dataset))
    np.testing.assert_array_equal(loaded["fed_log_odds"].values, np.asarray(batch.fed_log_odds))


def test_training_rates_and_derived_mixing(setting):
    tree, network, _, _, _ = setting
    rates = measure_rates(tree, network, key=9, duration=DURATION, n_trials=2)
    assert np.all(rates.given_child > 0) and np.all(rates.given_top > 0)
    assert np.all(rates.given_child[:, 1] > rates.given_child[:, 0])  # ON-state neurons fire
    derived = derived_reader_rates(tree, rates.given_child)
    assert np.all(derived[:, 1] > derived[:, 0])
    assert rates.n_spikes.sum() > 0


def test_time_in_state_and_epochs_on_a_hand_made_trial():
    class Trial:
        initial_state = np.array([1, 0])
        switch_times = np.array([0.5, 0.7, 1.5, np.inf])
        switch_variables = np.array([0, 1, 0, -1])

    spent = time_in_state(Trial.initial_state, Trial.switch_times, Trial.switch_variables, 2.0)
    np.testing.assert_allclose(spent, [[1.0, 1.0], [0.7, 1.3]])
    assert top_epochs(Trial, 2.0) == [(0.0, 0.5, 1), (0.5, 1.5, 0), (1.5, 2.0, 1)]


def test_scores_and_paired_differences():
    top = np.array([[1, 1, 0, 0]])
    exact = np.array([[3.0, 2.0, -2.0, -3.0]])
    out = scores(top, exact, {"same": exact, "flat": np.zeros((1, 4))})
    assert out["kl_same"][0] == 0.0
    np.testing.assert_allclose(out["log_loss_flat"], np.log(2.0))
    assert out["log_loss_exact"][0] < out["log_loss_flat"][0]
    diff = paired_difference([1.0, 2.0, 3.0], [0.0, 1.0, 1.0])
    np.testing.assert_allclose([diff["mean"], diff["se"]], [4 / 3, np.std([1, 1, 2], ddof=1) / np.sqrt(3)])


def test_bad_inputs_name_the_argument(setting):
    tree, network, trials, _, _ = setting
    inputs = trials.trial(0).inputs
    with pytest.raises(ValueError, match="duration .* multiple of dt"):
        simulate(network, inputs, duration=DURATION, dt=3e-3 * 0.7)
    with pytest.raises(ValueError, match="record_every must be an integer >= 1"):
        simulate(network, inputs, duration=DURATION, record_every=0)
    with pytest.raises(ValueError, match="params must be a SpikingHierarchy"):
        simulate(network.layer1, inputs, duration=DURATION)
    with pytest.raises(ValueError, match="inputs must be a bayesnn.core.Spikes"):
        simulate(network, (np.zeros(3), np.zeros(3)), duration=DURATION)
    with pytest.raises(ValueError, match="senders must be < K \\* N = 8"):
        simulate(network, make_spikes([0.1], [8]), duration=DURATION)
    with pytest.raises(ValueError, match="inputs times must lie in"):
        simulate(network, make_spikes([2.5], [0]), duration=DURATION)
    with pytest.raises(ValueError, match="dimension"):
        simulate_trials(network, inputs, duration=DURATION)
    readers = reader_params(make_tree(3, r_on=1, r_off=1, follow=2, stray=1, q_on=[1.0],
                                      q_off=[2.0]), np.ones((3, 2)), 1.0)
    with pytest.raises(ValueError, match="layer2 readers must have one input per layer-1"):
        SpikingHierarchy(tree, network.layer1, readers)
    with pytest.raises(ValueError, match="rates_given_top must have shape"):
        reader_params(tree, np.ones((3, 2)), 1.0)
    with pytest.raises(ValueError, match="readers must hold"):
        reader_params(tree, np.ones((2, 2)), 1.0, ("z",))
    with pytest.raises(ValueError, match="g0 must be > 0"):
        layer1_params(tree, 0.0)


# ----------------------------------------------------------------------- the builder
def _same_records(a, b):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_make_hierarchy_with_known_rates_is_the_hand_built_network():
    tree = _tree()
    built = make_hierarchy(tree, g0=0.4, reader_rates=np.array([[4.0, 30.0], [5.0, 25.0]]),
                           readers=("y", "not_y"), reader_g0=1.0)
    _same_records(built, _network(tree))


def test_make_hierarchy_trained_and_derived_use_the_layer1_run():
    # the rates measured from layer 1 alone (no reader given) equal those measured with
    # a full network: readers do not change layer 1's spikes
    jax.config.update("jax_enable_x64", True)
    tree = _tree()
    # 2 trials of 2 s: both values of y are visited (P(y = 1) = 1/4, 1 switch/s), so
    # every measured rate is finite
    run = dict(key=11, duration=DURATION, n_trials=2)
    alone = measure_rates(tree, layer1_params(tree, 0.4), **run)
    full = measure_rates(tree, _network(tree), **run)
    _same_records(alone, full)
    trained = make_hierarchy(tree, g0=0.4, reader_rates="trained", **run)
    derived = make_hierarchy(tree, g0=0.4, reader_rates="derived", **run)
    _same_records(trained.layer2, reader_params(tree, full.given_top, 0.4, ("y",)))
    _same_records(derived.layer2, reader_params(
        tree, derived_reader_rates(tree, full.given_child), 0.4, ("y",)))


def test_make_hierarchy_rejects_missing_training_settings():
    with pytest.raises(ValueError, match="key and duration"):
        make_hierarchy(_tree(), g0=0.4, reader_rates="trained")
    with pytest.raises(ValueError, match="reader_rates must be one of"):
        make_hierarchy(_tree(), g0=0.4, reader_rates="measured")


def test_every_reader_equals_the_independent_exact_filter(setting):
    """Each reader (y's and the others: here not_y) is a Bayesian neuron on the
    delivered layer-1 spikes, so its L is the exact MMPP log-odds of its own rates on
    those spikes. The reference is bayesnn.exact.mmpp_filter (matrix-exponential
    propagation, code shared with the readers only through the parameter record), not
    the neuron that the hierarchy itself runs. Two exact routes in float64: bound 1e-9
    nats (the repository's exactness bar for path-vs-path checks of long runs)."""
    from bayesnn.exact import mmpp_filter
    from bayesnn.processes import model_of
    _, network, _, batch, _ = setting
    delivered = delivered_spikes(batch, 2, DURATION)
    times = np.asarray(batch.times)
    for r in range(2):
        reader = model_of(unstack_params(network.layer2, r))
        for k in range(2):
            trial = jax.tree_util.tree_map(lambda f: f[k], delivered)
            exact = mmpp_filter(reader, trial, duration=DURATION, query_times=times)
            np.testing.assert_allclose(np.asarray(batch.layer2_log_odds)[k, r],
                                       np.asarray(exact.log_odds), rtol=0, atol=1e-9)
