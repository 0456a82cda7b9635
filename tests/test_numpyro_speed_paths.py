"""The fast paths of the NumPyro references give the same numbers as the slow ones
(float64; correctness only, nothing here is timed).

* ``forward_log_likelihood`` (scaled forward algorithm, what NUTS differentiates) against
  NumPyro/funsor enumeration (``enumerated_log_likelihood``): value and gradient to 1e-9
  relative, over random parameters, several trials, a given initial probability (0 and 1
  included), one-bin trials and extreme rate ratios.
* ``run_nuts``'s kernel initialises under ``jax.jit``: the state it starts from (position,
  potential energy, gradient, adapted first step size) equals NumPyro's eager
  initialisation.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesnn.numpyro_models import mmpp_binned as binned
from bayesnn.numpyro_models import mmpp_forward
from bayesnn.numpyro_models import nuts
from bayesnn.numpyro_models.compiled_nuts import CompiledInitNUTS
from bayesnn.processes import MMPPParams
from tests.simulators import binned_trial as _binned

EXACT = 1e-9
N_BINS, N_INPUTS, DT = 64, 3, 1e-2  # one shape for every enumerated call (one compile)


def _random_case(rng, ratio=1.0):
    q_on = rng.uniform(5, 30, N_INPUTS) * ratio
    q_off = rng.uniform(5, 30, N_INPUTS)
    params = MMPPParams(rng.uniform(0.2, 8.0), rng.uniform(0.2, 8.0), q_on, q_off)
    counts = np.stack([_binned(rng, float(params.r_on), float(params.r_off), q_on, q_off, DT,
                               N_BINS)[1] for _ in range(2)])
    return params, counts


@pytest.mark.parametrize("initial_prob_on", [None, 0.3, 0.0, 1.0])
def test_forward_equals_enumeration(rng, initial_prob_on):
    for ratio in (1.0, 40.0):  # 40: bins whose likelihoods differ by e^100 and more
        params, counts = _random_case(rng, ratio)
        enumerated = np.asarray(binned.enumerated_log_likelihood(
            params, counts, dt=DT, initial_prob_on=initial_prob_on))
        forward = np.asarray(mmpp_forward.forward_log_likelihood(params, jnp.asarray(counts), DT,
                                                           initial_prob_on))
        assert forward.shape == (2,)
        np.testing.assert_allclose(forward, enumerated, rtol=EXACT, atol=0)


def test_forward_gradient_equals_enumeration_gradient(rng):
    params, counts = _random_case(rng)
    counts = jnp.asarray(counts[:1])

    def enumerated(p):
        return binned._enumerated_log_density(p, counts, DT, None, None, None)

    def forward(p):
        return mmpp_forward.forward_log_likelihood(p, counts, DT)[0]

    record = binned._leaves(params)
    want = jax.jit(jax.grad(enumerated))(record)
    got = jax.jit(jax.grad(forward))(record)
    for name in MMPPParams.field_names:
        np.testing.assert_allclose(np.asarray(getattr(got, name)),
                                   np.asarray(getattr(want, name)), rtol=1e-8, atol=1e-12)


def test_forward_one_bin_and_empty_counts(rng):
    params = MMPPParams(1.0, 3.0, rng.uniform(5, 30, N_INPUTS), rng.uniform(5, 30, N_INPUTS))
    for counts in (np.zeros((1, 1, N_INPUTS)), np.array([[[0.0, 2.0, 1.0]]]),
                   np.zeros((1, N_BINS, N_INPUTS))):
        want = float(binned.enumerated_log_likelihood(params, counts[0], dt=DT))
        got = float(mmpp_forward.forward_log_likelihood(params, jnp.asarray(counts), DT)[0])
        assert abs(got - want) <= EXACT * abs(want), (got, want)


def test_compiled_initialisation_equals_numpyro_eager_initialisation(rng):
    from numpyro.infer import NUTS, init_to_value

    params, counts = _random_case(rng)
    counts = counts[:1]
    args = (jnp.asarray(counts), DT, nuts.MMPPPriors(), "forward")
    states = []
    for kind in (NUTS, CompiledInitNUTS):
        kernel = kind(nuts.mmpp_parameter_model,
                      init_strategy=init_to_value(values=nuts._initial_values(counts, DT, {})))
        states.append(kernel.init(jax.random.PRNGKey(3), 100, model_args=args))
    eager, compiled = states
    for a, b in zip(jax.tree.leaves(eager.z), jax.tree.leaves(compiled.z)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-12, atol=0)
    assert float(compiled.potential_energy) == pytest.approx(float(eager.potential_energy),
                                                             rel=1e-12)
    for a, b in zip(jax.tree.leaves(eager.z_grad), jax.tree.leaves(compiled.z_grad)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-9, atol=1e-9)
    assert float(compiled.adapt_state.step_size) == pytest.approx(
        float(eager.adapt_state.step_size), rel=1e-9)


def test_compiled_initialisation_refuses_invalid_start():
    from numpyro.infer import init_to_value

    counts = np.ones((1, 8, 2))
    kernel = CompiledInitNUTS(
        nuts.mmpp_parameter_model,
        init_strategy=init_to_value(values={"r_on": jnp.nan}))
    with pytest.raises(RuntimeError, match="valid initial parameters"):
        kernel.init(jax.random.PRNGKey(0), 10,
                    model_args=(jnp.asarray(counts), DT, nuts.MMPPPriors(), "forward"))
