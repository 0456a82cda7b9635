"""The generative tree: parameter record, stationary quantities and exact sampling.

Statistical tolerances: counts of Poisson events are compared with their expectation
within 5 standard deviations (two-sided p ~ 6e-7 per comparison, so the handful of
comparisons here fails by chance with probability < 1e-5); time fractions use a
standard error from the number of independent epochs (trial length x switching rate).
"""
import jax
import numpy as np
import pytest

from bayesnn.hierarchy import (
    TreeParams,
    child_effective_rates,
    child_pair_stationary,
    make_tree,
    prob_child_given_top,
    sample_tree,
    sample_trees,
    stationary_joint,
)
from bayesnn.hierarchy.params import joint_generator_numpy


def _params(n_children=2, n_inputs=3):
    rng = np.random.default_rng(11)
    return make_tree(n_children, r_on=1.0, r_off=2.0, follow=12.0, stray=1.5,
                     q_on=rng.uniform(5, 30, (n_children, n_inputs)),
                     q_off=rng.uniform(5, 30, (n_children, n_inputs)))


def test_record_is_a_validated_pytree():
    params = _params()
    assert (params.n_children, params.n_inputs, params.n_states) == (2, 3, 8)
    np.testing.assert_allclose(params.a_on, [[1.5, 12.0], [1.5, 12.0]])
    np.testing.assert_allclose(params.a_off, [[12.0, 1.5], [12.0, 1.5]])
    leaves = jax.tree_util.tree_leaves(params)
    assert len(leaves) == 6
    doubled = jax.tree_util.tree_map(lambda leaf: 2 * leaf, params)
    assert isinstance(doubled, TreeParams) and float(doubled.r_on) == 2.0
    assert float(params.replace(r_on=3.0).r_on) == 3.0


@pytest.mark.parametrize("change, message", [
    (dict(a_on=np.array([[1.0, 0.0], [1.0, 1.0]])), "a_on must be > 0"),
    (dict(a_off=np.array([[1.0, -2.0], [1.0, 1.0]])), "a_off must be > 0"),
    (dict(a_on=np.ones((2, 3))), "a_on must have shape \\(K, 2\\)"),
    (dict(a_off=np.ones((3, 2))), "a_off must have the shape of a_on"),
    (dict(q_on=np.ones((3, 3)), q_off=np.ones((3, 3))), "q_on must have one row per child"),
    (dict(q_off=np.ones((2, 4))), "q_off must have the shape of q_on"),
    (dict(q_on=np.ones(3)), "q_on must have shape \\(K, N\\)"),
    (dict(r_off=np.inf), "r_off must be finite"),
])
def test_bad_parameters_name_the_field(change, message):
    with pytest.raises(ValueError, match=message):
        _params().replace(**change)


def test_make_tree_checks_its_arguments():
    with pytest.raises(ValueError, match="n_children"):
        make_tree(0, r_on=1, r_off=1, follow=2, stray=1, q_on=[1.0], q_off=[2.0])
    with pytest.raises(ValueError, match="stray must be > 0"):
        make_tree(2, r_on=1, r_off=1, follow=2, stray=0, q_on=[1.0], q_off=[2.0])
    with pytest.raises(ValueError, match="q_on must have shape \\(N,\\) or \\(n_children=2"):
        make_tree(2, r_on=1, r_off=1, follow=2, stray=1, q_on=np.ones((3, 1)), q_off=[2.0])


def test_stationary_quantities_are_consistent():
    params = _params(n_children=3)
    pi = stationary_joint(params)
    np.testing.assert_allclose(pi @ joint_generator_numpy(params), 0.0, atol=1e-12)
    index = np.arange(params.n_states)
    np.testing.assert_allclose(pi[(index & 1) == 1].sum(), 1.0 / 3.0, atol=1e-12)
    for j in range(3):
        pair = child_pair_stationary(params, j)
        for y in (0, 1):
            for x in (0, 1):
                mask = ((index & 1) == y) & (((index >> (j + 1)) & 1) == x)
                np.testing.assert_allclose(pair[y, x], pi[mask].sum(), atol=1e-12)
        r_on, r_off = child_effective_rates(params, j)
        np.testing.assert_allclose(r_on / (r_on + r_off), pair[:, 1].sum(), atol=1e-12)
    given = prob_child_given_top(params)
    assert np.all(given[:, 1] > given[:, 0])  # children follow their parent


def test_sampled_tree_has_the_model_statistics():
    """One 400 s trial: time in y = 1, flip counts and input counts per child state."""
    params = _params(n_children=2, n_inputs=2)
    duration = 400.0
    trial = sample_tree(params, key=5, duration=duration)
    grid = np.arange(0.0, duration, 1e-3) + 5e-4
    states = np.asarray(trial.state_at(grid))  # (3, T)
    # Time fraction of y = 1: ~ duration * (r_on + r_off) / 2 = 600 independent epochs.
    se = np.sqrt(1 / 3 * 2 / 3 / (duration * 3.0 / 2))
    assert abs(states[0].mean() - 1 / 3) < 5 * se
    # P(x_j = 1 | y) against the stationary pair law. Basis: sd of this estimate over 16
    # keys measured 0.006-0.011 per cell (the y = 1 cells widest: ~133 s of y = 1), so
    # 0.05 is >= 4.5 sd (key 5: deviations <= 0.0042).
    given = prob_child_given_top(params)
    for j in range(2):
        for y in (0, 1):
            assert abs(states[j + 1][states[0] == y].mean() - given[j, y]) < 0.05
    # Flips of y: Poisson-like count with mean duration * 2 r_on r_off / (r_on + r_off).
    variables = np.asarray(trial.switch_variables)
    expected = duration * 2 * 1.0 * 2.0 / 3.0
    assert abs(np.sum(variables == 0) - expected) < 5 * np.sqrt(expected)
    # Inputs: counts per channel while x_j = 1 and 0, against q * time in that state.
    times = np.asarray(trial.inputs.times[:int(trial.inputs.n_events)])
    senders = np.asarray(trial.inputs.senders[:int(trial.inputs.n_events)])
    at_spike = np.asarray(trial.state_at(times))
    for sender in range(4):
        j, i = divmod(sender, 2)
        time_on = states[j + 1].mean() * duration
        for value, rate, span in ((1, params.q_on[j, i], time_on),
                                  (0, params.q_off[j, i], duration - time_on)):
            count = np.sum((senders == sender) & (at_spike[j + 1] == value))
            mean = float(rate) * span
            # 5 Poisson sd (module docstring); the time on from the 1 ms grid errs by
            # ~0.3 ms x sqrt(#switches) ~ 0.01 s, i.e. < 1 event, so no extra slack (the
            # former + 0.01 mean added ~40 events; z over 16 keys: sd 1.06, max 2.9)
            assert abs(count - mean) < 5 * np.sqrt(mean)


def test_trials_fold_in_their_index_and_are_sorted():
    params = _params()
    batch = sample_trees(params, key=3, n_trials=3, duration=2.0)
    alone = sample_tree(params, key=jax.random.fold_in(jax.random.PRNGKey(3), 2), duration=2.0)
    n = int(alone.inputs.n_events)
    np.testing.assert_array_equal(batch.inputs.times[2, :n], alone.inputs.times[:n])
    np.testing.assert_array_equal(batch.initial_state[2], alone.initial_state)
    times = np.asarray(alone.inputs.times[:n])
    assert np.all(np.diff(times) >= 0) and times[-1] < 2.0
    assert batch.top_at(np.array([0.0, 1.0])).shape == (3, 2)


def test_sampling_rejects_bad_arguments():
    with pytest.raises(ValueError, match="duration must be > 0"):
        sample_tree(_params(), key=0, duration=-1.0)
    with pytest.raises(ValueError, match="params must be a TreeParams"):
        sample_tree(object(), key=0, duration=1.0)
    with pytest.raises(ValueError, match="key"):
        sample_tree(_params(), key=-1, duration=1.0)
