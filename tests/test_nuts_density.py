"""The NUTS model's prior and transforms against an independently written density
(failure kinds, "densities compared only with themselves").

NumPyro samples in unconstrained coordinates u; the log density it explores is
``log p(theta(u)) + log |d theta / d u| + log-likelihood``. Here that sum is written by
hand from scipy.stats and the Jacobians of the three transforms used by
:func:`bayesnn.numpyro_models.nuts.mmpp_parameter_model`:

* ``r = exp(u)`` (LogNormal sites): ``log J = u``;
* the ordered pair ``(log Q_off, log Q_on) = (u_0, u_0 + exp(u_1))``: ``log J = u_1``;
  the improper uniform contributes 0 and the model's factor adds
  ``sum_s [log Gamma(Q_s; N a, b) + log Q_s]``;
* the two-component Dirichlet by stick breaking, ``w = (sigmoid(u), 1 - sigmoid(u))``:
  density Beta(w_0; a, a), ``log J = log w_0 + log w_1``.

The likelihood term is the model's own forward filter (not under test here). Agreement
to 1e-10 relative (float64 rounding of ~100 terms of size <= 1e3) at random
unconstrained points, with asymmetric non-default priors so a swapped argument shows.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats


def _reference_log_density(u, counts, dt, priors):
    from bayesnn.numpyro_models.mmpp_forward import forward_log_likelihood
    from bayesnn.processes import MMPPParams
    n_inputs = counts.shape[-1]
    total = 0.0
    rates = {}
    for name in ("r_on", "r_off"):
        rates[name] = np.exp(u[name])
        total += stats.lognorm(s=priors.switch_log_std,
                               scale=np.exp(priors.switch_log_mean)).logpdf(rates[name])
        total += u[name]
    low, step = u["log_total_rates"]
    log_q = np.array([low, low + np.exp(step)])
    total += step
    gamma = stats.gamma(a=n_inputs * priors.input_shape, scale=1.0 / priors.input_rate)
    total += np.sum(gamma.logpdf(np.exp(log_q)) + log_q)
    weights = {}
    for name in ("weights_on", "weights_off"):
        w0 = special.expit(u[name][0])
        weights[name] = np.array([w0, 1.0 - w0])
        total += stats.beta(priors.input_shape, priors.input_shape).logpdf(w0)
        total += np.log(w0) + np.log1p(-w0)
    params = MMPPParams(rates["r_on"], rates["r_off"], np.exp(log_q[1]) * weights["weights_on"],
                        np.exp(log_q[0]) * weights["weights_off"])
    return total + float(np.sum(forward_log_likelihood(params, counts, dt)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nuts_log_density_equals_scipy_prior_plus_jacobians(seed):
    import jax.numpy as jnp
    from numpyro.infer.util import potential_energy
    from bayesnn.numpyro_models.nuts import MMPPPriors, mmpp_parameter_model
    rng = np.random.default_rng(seed)
    priors = MMPPPriors(switch_log_mean=np.log(1.5), switch_log_std=0.7, input_shape=3.0,
                        input_rate=0.2)
    dt = 0.01
    counts = rng.poisson([[0.3, 0.05]], size=(1, 40, 2)).astype(float)  # (B, T, N = 2)
    u = {"r_on": rng.normal(0.0, 1.0), "r_off": rng.normal(1.0, 1.0),
         "log_total_rates": np.array([rng.normal(2.0, 0.5), rng.normal(0.0, 1.0)]),
         "weights_on": np.array([rng.normal()]), "weights_off": np.array([rng.normal()])}
    energy = potential_energy(mmpp_parameter_model, (jnp.asarray(counts), dt),
                              {"priors": priors},
                              {k: jnp.asarray(v) for k, v in u.items()})
    reference = _reference_log_density(u, counts, dt, priors)
    assert -float(energy) == pytest.approx(reference, rel=1e-10)
