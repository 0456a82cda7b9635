r"""The ``stdp`` validate scenario: the WTA circuit with STDP beside exact EM.

Checks (bases of the tolerances in each description):

* ``fixed_point_error_small_eta``, ``fixed_point_error_shrinks``: on a synthetic 3-component
  Bernoulli mixture (M = 20, 600 images), the circuit in the ideal regime (y = population
  code) started at batch EM's answer stays near ``log c + log p(y_i = 1 | k)`` of EM; the
  mean absolute error is within 2x the linear-noise prediction
  sqrt(2/pi) sqrt(eta (1 - mu) / (2 mu)) and shrinks like sqrt(eta) (ratio 0.5 at eta/4).
* ``em_monotone``, ``em_fixed_point``: batch EM never decreases its penalised objective;
  at its fixed point the gradient of that objective (unclipped entries) vanishes.
* ``stdp_vs_online_em``: held-out log-likelihood of the circuit on sklearn digits (K = 10)
  is not more than 1 % below an online EM learner fed the same presentations in the same
  order, from the same start, with the same fixed prior, floor and step per presentation.
* ``stdp_vs_batch_em``, ``stdp_accuracy_vs_em``: within 5 % of batch EM's held-out
  log-likelihood and at least 0.9 x its cluster-to-label accuracy.
* ``weights_distance_to_em``: mean |mu_STDP - mu_EM| after Hungarian matching.
* ``wta_posterior_kl``: KL from the exact posterior of the circuit's read-out mixture to
  the circuit's sampling law softmax(u) (normalisation drift of the rule).
* ``stdp_features_beat_raw_pixels``: the STDP convolutional layer's frozen features
  (:mod:`bayesnn.stdp.convnet`, Kheradpisheh et al. 2018) under a LogisticRegression
  readout beat the same readout on binarised raw pixels.
* ``large_eta_rejected``, ``largest_eta_finite``: eta above the stable limit is a
  ValueError; at the limit the weights stay finite and inside the documented clip range.
"""
from __future__ import annotations

import time

import numpy as np

from bayesnn.core.precision import require_x64
from bayesnn.report import Check, Progress, ScenarioResult, silent
from bayesnn.stdp import data as stdp_data
from bayesnn.stdp import mixture
from bayesnn.stdp.params import WTAParams, max_stable_eta
from bayesnn.stdp.wta import mixture_of, simulate, simulate_trials, weights_from_means, wta_posterior

__all__ = ["stdp_scenario", "synthetic_mixture", "digits_comparison"]


def synthetic_mixture(seed: int, n_components: int = 3, n_pixels: int = 20, n_images: int = 600):
    """A well-separated Bernoulli mixture (means 0.2 / 0.8) and images drawn from it."""
    rng = np.random.default_rng(seed)
    means = np.where(rng.random((n_components, n_pixels)) < 0.5, 0.8, 0.2)
    labels = rng.integers(0, n_components, n_images)
    images = (rng.random((n_images, n_pixels)) < means[labels]).astype(float)
    return means, images, labels


def _fixed_point_part(seed, quick, numbers, data):
    true, x, _ = synthetic_mixture(seed)
    em = mixture.batch_em(x, true, tol=0.0, max_iterations=3000)
    means, prior = em.means, em.prior
    for _ in range(3000):  # the objective is flat to float64 before the parameters stop moving
        new = mixture.em_update(means, prior, x)
        done = max(np.abs(new[0] - means).max(), np.abs(new[1] - prior).max()) <= 1e-14
        means, prior = new
        if done:
            break
    em = em._replace(means=means, prior=prior)
    target = weights_from_means(em.means)
    both = np.stack([em.means, 1 - em.means], -1).reshape(em.means.shape[0], -1)
    errors, predicted = {}, {}
    n_trials = 2 if quick else 4
    for eta, epochs in ((8e-3, 4), (2e-3, 16)):
        params = WTAParams.create(3, x.shape[1], eta=eta, input_rate=np.inf, mu_min=0.05,
                                  presentation_time=0.02)
        run = simulate_trials(params, x, key=seed, n_trials=n_trials, initial_means=em.means,
                              order=stdp_data.presentation_order(x.shape[0], epochs, seed=seed))
        errors[eta] = float(np.abs(run.weights - target).mean())
        predicted[eta] = float(np.mean(np.sqrt(2 / np.pi) * np.sqrt(eta * (1 - both) / (2 * both))))
    # EM stationarity: d objective / d logit mu = sum_n r_nk (x - mu) + a (1 - 2 mu) = 0
    r = mixture.responsibilities(em.means, em.prior, x)
    grad = r.T @ x - em.means * r.sum(0)[:, None] + 1e-3 * (1 - 2 * em.means)
    free = (em.means > 1e-4) & (em.means < 1 - 1e-4)
    stationarity = float(np.max(np.abs(grad[free])) / x.shape[0])
    monotone = float(np.min(np.diff(em.objectives)) / abs(em.objectives[-1]))
    again = mixture.em_update(em.means, em.prior, x)
    moved = float(max(np.abs(again[0] - em.means).max(), np.abs(again[1] - em.prior).max()))
    numbers["fixed_point"] = dict(mean_abs_error=errors, linear_noise_prediction=predicted,
                                  em_iterations=em.n_iterations, em_stationarity=stationarity,
                                  em_fixed_point_move=moved)
    return [
        Check("fixed_point_error_small_eta", errors[2e-3] / predicted[2e-3], 2.0, "<=",
              "mean |w - (log c + log p_EM)| / linear-noise prediction sqrt(2/pi) sqrt(eta (1-mu)"
              "/(2 mu)) at eta = 2e-3 (synthetic K = 3, M = 20; 2x allows second-order terms)"),
        Check("fixed_point_error_shrinks", errors[2e-3] / errors[8e-3], 0.65, "<=",
              "error(eta = 2e-3) / error(eta = 8e-3); sqrt(eta) noise predicts 0.5"),
        Check("em_monotone", monotone, -1e-12, ">=",
              "min step of batch EM's penalised objective / |objective| (generalised EM: >= 0 "
              "up to float64 rounding)"),
        Check("em_fixed_point", moved, 1e-12, "<=",
              "max |theta' - theta| of one more EM update at EM's converged answer (run until "
              "the objective stops changing; float64 rounding of 600-term sums ~1e-14)"),
        Check("em_stationary", stationarity, 1e-10, "<=",
              "max |d objective / d logit mu| / N at EM's answer (unclipped entries; float64)"),
    ]


def digits_comparison(n_components: int, epochs: int, *, seed: int = 0, eta: float = 5e-3,
                      n_trials: int = 1, images: stdp_data.BinaryImages | None = None,
                      record_every: int | None = None, em_restarts: int = 1) -> dict:
    """Circuit, online EM and batch EM on binarised digits with one start and one order.

    Returns a dict of held-out log-likelihoods (nats per image), accuracies, components
    used, the matched mean distance to EM, the posterior KL and the learning curves."""
    d = images if images is not None else stdp_data.digits()
    n = d.train.shape[0]
    start = stdp_data.initial_means(d.train, n_components, seed=seed, shrink=0.2)
    order = stdp_data.presentation_order(n, epochs, seed=seed)
    every = record_every or n
    params = WTAParams.create(n_components, d.train.shape[1], eta=eta)
    begin = time.process_time()
    run = simulate_trials(params, d.train, key=seed, n_trials=n_trials, order=order,
                          initial_means=start, record_every=every)
    circuit_cpu = time.process_time() - begin
    spikes = float(run.wins.sum(-1).mean())
    step = 1.0 - (1.0 - eta) ** spikes  # the circuit's mean step per presentation
    online = mixture.online_em(d.train, order, start, step, mu_min=float(params.mu_min),
                               record_every=every)

    def score(means, prior):
        post_train = mixture.responsibilities(means, prior, d.train)
        post_test = mixture.responsibilities(means, prior, d.test)
        return (float(mixture.log_likelihood(means, prior, d.test).mean()),
                mixture.cluster_accuracy(post_train, d.train_labels, post_test, d.test_labels))

    ems = []
    for restart in range(em_restarts):
        init = np.random.default_rng(seed + restart).uniform(0.25, 0.75, start.shape)
        em = mixture.batch_em(d.train, init, max_iterations=1000)
        ems.append((float(mixture.log_likelihood(em.means, em.prior, d.train).mean()), em))
    em = max(ems, key=lambda item: item[0])[1]
    em_ll, em_acc = score(em.means, em.prior)
    online_ll, online_acc = score(online.means, online.prior)
    circuit = [score(*mixture_of(run.weights[t], run.log_prior[t])) for t in range(n_trials)]
    means, prior = mixture_of(run.weights[0], run.log_prior[0])
    perm = mixture.match_components(em.means, means)
    codes = stdp_data.population_code(d.test)
    exact = mixture.responsibilities(means, prior, d.test)
    sampled = np.asarray(wta_posterior(run.weights[0], run.log_prior[0], codes))
    curves = dict(presentations=run.record_at,
                  circuit=[float(mixture.log_likelihood(*mixture_of(w, p), d.test).mean())
                           for w, p in zip(run.weights_history[0], run.log_prior_history[0])],
                  online=[float(mixture.log_likelihood(m, None, d.test).mean())
                          for m in online.means_history], em=em_ll)
    return dict(
        n_components=n_components, epochs=epochs, eta=eta, spikes_per_presentation=spikes,
        online_step=step, circuit_cpu_s=circuit_cpu,
        circuit_test_ll=[c[0] for c in circuit], circuit_accuracy=[c[1] for c in circuit],
        circuit_components_used=[int((run.wins[t].sum(0) > 0).sum()) for t in range(n_trials)],
        online_test_ll=online_ll, online_accuracy=online_acc,
        online_components_used=int((online.wins > 0).sum()),
        em_test_ll=em_ll, em_accuracy=em_acc, em_iterations=em.n_iterations,
        matched_mean_abs_distance=float(np.abs(means[perm] - em.means).mean()),
        matched_weight_distance=float(np.abs(weights_from_means(np.clip(means[perm], 1e-2, 1 - 1e-2))
                                             - weights_from_means(np.clip(em.means, 1e-2, 1 - 1e-2))).mean()),
        posterior_kl_mean=float(mixture.posterior_kl(exact, sampled).mean()),
        curves=curves, circuit_means=means[perm], em_means=em.means)


def _digits_part(seed, quick, numbers, data):
    result = digits_comparison(10, 5 if quick else 10, seed=seed, n_trials=1 if quick else 3,
                               record_every=449)
    data["digits"] = result
    numbers["digits_k10"] = {k: v for k, v in result.items()
                             if k not in ("curves", "circuit_means", "em_means")}
    numbers["digits_k10"]["curves"] = {k: np.asarray(v).tolist() for k, v in result["curves"].items()}
    ll = float(np.mean(result["circuit_test_ll"]))
    acc = float(np.mean(result["circuit_accuracy"]))
    return [
        Check("stdp_vs_online_em", (result["online_test_ll"] - ll) / abs(result["online_test_ll"]),
              0.01, "<=", "(LL_online - LL_STDP) / |LL_online|, held-out nats per image, sklearn "
              "digits K = 10, same start, order, prior (uniform, fixed), floor and mean step; "
              "one-sided: the price of spikes is at most 1 %"),
        Check("stdp_vs_batch_em", (result["em_test_ll"] - ll) / abs(result["em_test_ll"]), 0.05,
              "<=", "(LL_EM - LL_STDP) / |LL_EM|, held-out, K = 10 (online learners land ~3 % "
              "below batch EM; 5 % bound)"),
        Check("stdp_accuracy_vs_em", acc / result["em_accuracy"], 0.9, ">=",
              "cluster-to-label accuracy (majority vote), STDP / batch EM, K = 10"),
        Check("weights_distance_to_em", result["matched_mean_abs_distance"], 0.1, "<=",
              "mean |mu_STDP - mu_EM| over pixels after Hungarian matching (different local "
              "optima of one likelihood; EM restarts differ by ~0.05-0.08)"),
        Check("wta_posterior_kl", result["posterior_kl_mean"], 0.05, "<=",
              "mean KL(exact p(k|x) of the read-out mixture || softmax(u) of the circuit), nats, "
              "test images: the rule's normalisation drift"),
    ]


def _large_eta_part(seed, quick, numbers, data):
    true, x, _ = synthetic_mixture(seed, n_images=50)
    limit = max_stable_eta(0.01)
    try:
        WTAParams.create(3, x.shape[1], eta=10 * limit, mu_min=0.01)
        rejected = 0.0
    except ValueError:
        rejected = 1.0
    params = WTAParams.create(3, x.shape[1], eta=limit, mu_min=0.01)
    run = simulate(params, x, key=seed, n_epochs=4, initial_means=np.full((3, x.shape[1]), 0.5))
    finite = bool(np.all(np.isfinite(run.weights)))
    inside = float(np.max(np.abs(np.clip(run.weights, np.log(0.01), 0.0) - run.weights)))
    numbers["large_eta"] = dict(limit=limit, finite=finite, outside_clip_range=inside)
    return [
        Check("large_eta_rejected", rejected, 1.0, ">=",
              "eta = 10 x the stable limit mu_min / (1 - mu_min) raises ValueError (1 = raised)"),
        Check("largest_eta_finite", inside if finite else np.inf, 0.0, "<=",
              "at eta = the limit: distance of the weights outside [log c + log mu_min, log c] "
              "(inf if any NaN)"),
    ]


def _features_part(seed, quick, numbers, data):
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    from bayesnn.stdp import convnet

    digits = load_digits()
    xtr, xte, ytr, yte = train_test_split(digits.data / 16.0, digits.target, test_size=0.5,
                                          stratify=digits.target, random_state=0)

    def readout(a, b):
        return float(LogisticRegression(max_iter=5000).fit(a, ytr).score(b, yte))

    layer = convnet.train(xtr, (8, 8), convnet.DIGITS, key=seed, n_epochs=1 if quick else 2)
    stdp_acc = readout(convnet.features(layer, xtr), convnet.features(layer, xte))
    raw = readout((xtr > 0.5) * 1.0, (xte > 0.5) * 1.0)
    numbers["features"] = dict(stdp_features_logistic=stdp_acc, raw_binarised_logistic=raw,
                               raw_grey_logistic=readout(xtr, xte), convergence_C=layer.convergence)
    return [Check("stdp_features_beat_raw_pixels", stdp_acc - raw, 1.0 / len(yte), ">=",
                  "test accuracy, LogisticRegression on frozen STDP conv features minus on "
                  "binarised raw pixels (sklearn digits, 899 test images; bound: one image)")]


def stdp_scenario(*, seed: int = 0, quick: bool = True, progress: Progress = silent,
                  figures: bool = True) -> ScenarioResult:
    """Run the ``stdp`` scenario (module docstring). ``quick``: 5 epochs and one circuit
    on digits (full: 10 epochs, 3 circuits).

    Raises:
        ValueError: for a negative seed.
        bayesnn.core.PrecisionError: in float32.
    """
    require_x64("the stdp scenario")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    checks, numbers, data = [], {}, {}
    for message, part in (("STDP fixed point and EM exactness (synthetic mixture)", _fixed_point_part),
                          ("sklearn digits K = 10: circuit, online EM, batch EM", _digits_part),
                          ("STDP convolutional features vs raw pixels", _features_part),
                          ("large eta", _large_eta_part)):
        progress(f"stdp: {message}")
        checks += part(int(seed), bool(quick), numbers, data)
    built = {}
    if figures:
        from bayesnn.stdp.plotting import stdp_figures
        built = stdp_figures(data["digits"], seed=int(seed), quick=bool(quick))
    return ScenarioResult("stdp", checks, numbers, built, _traces(data["digits"], int(seed)))


def _traces(result: dict, seed: int):
    """Labelled traces (written as NetCDF by validate): held-out log-likelihood of the
    circuit and of online EM over presentations (batch EM's as a scalar), and the matched
    component means of the circuit and of batch EM (K x pixels, P(pixel on | k))."""
    import xarray as xr

    curves = result["curves"]
    presentations = np.asarray(curves["presentations"])
    circuit = np.asarray(curves["circuit"], dtype=float)
    online = np.asarray(curves["online"], dtype=float)
    # online EM records its own history: on the circuit's presentation grid when the
    # lengths agree, else on its own record index
    online_dim = "presentation" if online.shape == circuit.shape else "online_record"
    return xr.Dataset(
        {"circuit_test_log_likelihood": ("presentation", circuit),
         "online_em_test_log_likelihood": (online_dim, online),
         "batch_em_test_log_likelihood": ((), float(curves["em"])),
         "circuit_means": (("component", "pixel"), np.asarray(result["circuit_means"])),
         "em_means": (("component", "pixel"), np.asarray(result["em_means"]))},
        coords={"presentation": presentations},
        attrs={"scenario": "stdp", "seed": seed,
               "units": "log-likelihood: nats per held-out image; means: probability"})
