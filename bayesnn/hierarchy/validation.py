r"""``bayesnn validate --scenario hierarchy``: the spiking hierarchy against exact Bayes.

Entry point: :func:`hierarchy_scenario` (keyword settings, ``progress``, ``figures``)
-> :class:`bayesnn.report.ScenarioResult`.

Checks (tolerances and their basis):

* exact joint filter vs the brute-force reference (K = 2, N = 3, 2 s): max |P
  difference| and relative log-likelihood difference <= 1e-9 (float64 rounding over a
  few hundred events is ~1e-13; the issue's tolerance);
* K = 1 reduction with trivial coupling vs the single-chain exact MMPP filter
  (:func:`bayesnn.exact.mmpp.mmpp_filter`, independent code: 2 x 2 matrix exponential):
  P(x), P(y) = prior and the log-likelihood to 1e-9;
* the spike-fed reader beats the prior: it recovers at least 10% of the exact filter's
  log-loss gain over the prior (stated margin), and the paired gain over trials has
  z >= 2.33 (one-sided 1%);
* information ordering exact >= log-odds-fed >= spike-fed in log-loss: for each
  adjacent pair the mean paired difference over trials must not be significantly
  negative, z >= -2.33 (one-sided 1% test of the reverse ordering; the exact marginal
  minimises the expected log-loss, so the first pair can only fail by chance).

Numbers: KL(exact || L, G, log-odds-fed, decoded-fed, prior) and log-losses per trial
(mean, sd), the layer-1 and reader rates, the training rates, the "derived" reader's
scores, the ISI/Fano statistics per state of y against a Poisson surrogate, the
maximum-likelihood reader fit, and (``frontier=True``) the table of KL against layer-1
rate for several K and g0. Figures: one trial on one time axis, the frontier. Traces:
the test trials' run with the exact marginal and the true states (NetCDF).
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import jax
import numpy as np
import xarray as xr

from bayesnn.core.params import unstack_params
from bayesnn.core.precision import require_x64
from bayesnn.core.spikes import spike_arrays
from bayesnn.exact.hierarchy import tree_filter
from bayesnn.exact.hierarchy_brute_force import tree_brute_force
from bayesnn.exact.mmpp import mmpp_filter
from bayesnn.hierarchy.evaluation import Evaluation, evaluate, frontier as run_frontier, paired_difference
from bayesnn.hierarchy.params import TreeParams, make_tree
from bayesnn.hierarchy.poisson import delivered_spikes, fit_reader_ml, isi_statistics
from bayesnn.hierarchy.sampling import sample_tree
from bayesnn.hierarchy.spiking import SpikingHierarchy, reader_params
from bayesnn.hierarchy.training import derived_reader_rates
from bayesnn.processes.params import MMPPParams
from bayesnn.report import Check, Progress, ScenarioResult, silent

__all__ = ["hierarchy_scenario", "default_tree", "exactness_checks"]

Z_ONE_SIDED_1PCT = 2.3263478740408408
INFORMATION_FRACTION_MIN = 0.1


def default_tree(n_children: int = 3, n_inputs: int = 20, *, seed: int = 0,
                 r_on: float = 1.0, r_off: float = 1.0, follow: float = 10.0,
                 stray: float = 0.5, q_low: float = 5.0, q_high: float = 30.0) -> TreeParams:
    """The scenario's tree: rates q_on, q_off ~ U(q_low, q_high) Hz (NumPy seed; the
    first K rows of a 6-row draw, so trees with different K share their children)."""
    rng = np.random.default_rng(seed)
    rows = max(6, int(n_children))
    q_on = rng.uniform(q_low, q_high, (rows, n_inputs))[:n_children]
    q_off = rng.uniform(q_low, q_high, (rows, n_inputs))[:n_children]
    return make_tree(int(n_children), r_on=r_on, r_off=r_off, follow=follow, stray=stray,
                     q_on=q_on, q_off=q_off)


def exactness_checks(seed: int = 0) -> tuple[list[Check], dict[str, float]]:
    """The exact joint filter against brute force and against the K = 1 reduction."""
    rng = np.random.default_rng(seed + 1)
    tiny = make_tree(2, r_on=1.0, r_off=1.5, follow=8.0, stray=1.0,
                     q_on=rng.uniform(5, 30, (2, 3)), q_off=rng.uniform(5, 30, (2, 3)))
    trial = sample_tree(tiny, key=seed, duration=2.0)
    grid = np.linspace(0.0, 2.0, 21)
    fast = tree_filter(tiny, trial.inputs, duration=2.0, sample_times=grid)
    slow = tree_brute_force(tiny, trial.inputs, duration=2.0, sample_times=grid)
    brute_prob = float(np.max(np.abs(np.asarray(fast.prob) - np.asarray(slow.prob))))
    # differences of host floats (the same IEEE subtraction, no eager XLA program)
    brute_lik = (abs(float(fast.log_likelihood) - float(slow.log_likelihood))
                 / abs(float(slow.log_likelihood)))

    q_on, q_off = rng.uniform(5, 30, 10), rng.uniform(5, 30, 10)
    single = make_tree(1, r_on=1.0, r_off=0.5, follow=3.0, stray=3.0, q_on=q_on, q_off=q_off)
    single = single.replace(a_off=np.array([[2.0, 2.0]]))
    trial = sample_tree(single, key=seed + 1, duration=10.0)
    grid = np.linspace(0.0, 10.0, 501)
    joint = tree_filter(single, trial.inputs, duration=10.0, sample_times=grid)
    chain = mmpp_filter(MMPPParams(3.0, 2.0, q_on, q_off), trial.inputs, duration=10.0,
                        query_times=grid)
    prob = np.asarray(joint.prob)
    child = float(np.max(np.abs(prob[1] - np.asarray(chain.prob_on))))
    top = float(np.max(np.abs(prob[0] - 1.0 / 1.5)))
    lik = (abs(float(joint.log_likelihood) - float(chain.log_likelihood))
           / abs(float(chain.log_likelihood)))
    checks = [
        Check("hierarchy_exact_vs_brute_force_max_abs", brute_prob, 1e-9, "<=",
              "max |P(v=1 | inputs)| difference, joint filter vs brute force (K=2, 2 s)"),
        Check("hierarchy_exact_vs_brute_force_loglik_rel", brute_lik, 1e-9, "<=",
              "relative log-likelihood difference, joint filter vs brute force"),
        Check("hierarchy_k1_reduction_child_max_abs", child, 1e-9, "<=",
              "K=1, y-independent coupling: max |P(x=1) - single-chain MMPP filter|"),
        Check("hierarchy_k1_reduction_top_max_abs", top, 1e-9, "<=",
              "K=1, y-independent coupling: max |P(y=1) - prior|"),
        Check("hierarchy_k1_reduction_loglik_rel", lik, 1e-9, "<=",
              "K=1: relative log-likelihood difference to the single-chain filter"),
    ]
    numbers = {"brute_force_events": int(fast.n_events), "k1_events": int(joint.n_events)}
    return checks, numbers


def _traces(result: Evaluation, settings: dict[str, Any]) -> xr.Dataset:
    dataset = result.run.to_xarray(attrs={"scenario": "hierarchy", **settings})
    states = np.asarray(result.trials.state_at(result.run.times))  # (B, K+1, S)
    dataset["top_state"] = (("trial", "time"), states[:, 0])
    dataset["child_state"] = (("trial", "child", "time"), states[:, 1:])
    # sliced on the host (a device slice compiles one program per shape)
    dataset["exact_log_odds_top"] = (("trial", "time"), np.asarray(result.exact.log_odds)[:, 0])
    dataset["exact_prob_children"] = (("trial", "child", "time"),
                                      np.asarray(result.exact.prob)[:, 1:])
    dataset["top_state"].attrs.update(description="true top variable y")
    dataset["child_state"].attrs.update(description="true children x_j")
    dataset["exact_log_odds_top"].attrs.update(units="nats",
                                               description="exact log-odds of y = 1 given inputs")
    dataset["exact_prob_children"].attrs.update(description="exact P(x_j = 1 | inputs)")
    return dataset


def _ordering(per_trial) -> tuple[list[Check], dict[str, Any]]:
    exact, fed = per_trial["log_loss_exact"], per_trial["log_loss_fed"]
    spike, prior = per_trial["log_loss_L"], per_trial["log_loss_prior"]
    fed_exact = paired_difference(fed, exact)
    spike_fed = paired_difference(spike, fed)
    gain = paired_difference(prior, spike)
    fraction = float(np.mean(prior - spike) / np.mean(prior - exact))
    in_order = int(np.sum((exact <= fed) & (fed <= spike)))
    checks = [
        Check("hierarchy_layer2_information_fraction", fraction, INFORMATION_FRACTION_MIN, ">=",
              "spike-fed reader's log-loss gain over the prior / exact filter's gain"),
        Check("hierarchy_layer2_vs_prior_z", gain["z"], Z_ONE_SIDED_1PCT, ">=",
              "paired z of log-loss(prior) - log-loss(reader L) over trials"),
        Check("hierarchy_order_exact_fed_z", fed_exact["z"], -Z_ONE_SIDED_1PCT, ">=",
              "paired z of log-loss(log-odds-fed) - log-loss(exact); < -2.33 rejects the order"),
        Check("hierarchy_order_fed_spike_z", spike_fed["z"], -Z_ONE_SIDED_1PCT, ">=",
              "paired z of log-loss(spike-fed L) - log-loss(log-odds-fed)"),
    ]
    numbers = {"fed_minus_exact": fed_exact, "spike_minus_fed": spike_fed,
               "prior_minus_spike": gain, "information_fraction": fraction,
               "trials_in_order": in_order, "n_trials": int(exact.size)}
    return checks, numbers


def hierarchy_scenario(*, seed: int = 0, n_children: int = 3, n_inputs: int = 20,
                       g0: float = 2.0, reader_g0: float = 1.0, duration: float = 20.0,
                       n_trials: int = 8, follow: float = 10.0, stray: float = 0.5,
                       frontier: bool = True, frontier_children: Sequence[int] = (1, 2, 3, 4, 6),
                       frontier_g0: Sequence[float] = (0.5, 1.0, 2.0, 4.0),
                       frontier_trials: int = 3, frontier_duration: float = 10.0,
                       ml_fit: bool = True, progress: Progress = silent,
                       figures: bool = True) -> ScenarioResult:
    """Run the ``hierarchy`` scenario (module docstring).

    Settings: ``seed`` (rates, keys), tree size ``n_children`` x ``n_inputs``, coupling
    ``follow``/``stray`` (Hz), layer-1 ``g0`` and readers' ``reader_g0`` (nats),
    ``n_trials`` test trials of ``duration`` s (a training run of the same size
    precedes them), the frontier grid, and ``ml_fit`` (maximum-likelihood reader).
    """
    require_x64("the hierarchy scenario")
    started = time.perf_counter()
    settings = dict(seed=seed, n_children=n_children, n_inputs=n_inputs, g0=g0,
                    reader_g0=reader_g0, duration=duration, n_trials=n_trials,
                    follow=follow, stray=stray)
    progress("hierarchy: exact joint filter vs brute force and the K = 1 reduction")
    checks, exact_numbers = exactness_checks(seed)
    tree = default_tree(n_children, n_inputs, seed=seed, follow=follow, stray=stray)
    progress(f"hierarchy: training run and {n_trials} test trials x {duration:g} s "
             f"(K = {n_children}, N = {n_inputs}, g0 = {g0:g})")
    result = evaluate(tree, g0=g0, key=seed, n_trials=n_trials, duration=duration,
                      reader_g0=reader_g0, readers=("y", "not_y"))
    order_checks, order_numbers = _ordering(result.per_trial)
    checks.extend(order_checks)
    numbers: dict[str, Any] = {"settings": settings, "exactness": exact_numbers,
                               "summary": result.summary(), "ordering": order_numbers,
                               "training_rates": {
                                   "given_child_hz": result.rates.given_child.tolist(),
                                   "given_top_hz": result.rates.given_top.tolist()}}
    progress("hierarchy: readers with model-derived rates on the same test trials")
    derived = SpikingHierarchy(tree, result.network.layer1, reader_params(
        tree, derived_reader_rates(tree, result.rates.given_child), reader_g0, ("y", "not_y")))
    derived_result = evaluate(tree, g0=g0, key=seed, n_trials=n_trials, duration=duration,
                              network=derived, readers=("y", "not_y"), trials=result.trials,
                              exact=result.exact)
    numbers["derived_readers"] = {name: derived_result.summary()[name]
                                  for name in ("kl_L", "kl_G", "log_loss_L")}
    progress("hierarchy: layer-1 interval statistics per state of y")
    numbers["isi"] = isi_statistics(result.trials, result.run, result.rates.given_top,
                                    duration, key=seed)
    if ml_fit:
        progress("hierarchy: maximum-likelihood reader on the same spikes")
        numbers["ml_fit"] = fit_reader_ml(
            unstack_params(jax.tree_util.tree_map(np.asarray, result.network.layer2), 0),
            delivered_spikes(result.run, n_children, duration), duration,
            sample_times=result.run.times, top=result.top)
    rows = []
    if frontier:
        rows = run_frontier(lambda k: default_tree(k, n_inputs, seed=seed, follow=follow,
                                                   stray=stray),
                            frontier_children, frontier_g0, key=seed + 1,
                            n_trials=frontier_trials, duration=frontier_duration,
                            progress=progress)
        numbers["frontier"] = rows
    numbers["seconds"] = time.perf_counter() - started
    figure_set = {}
    if figures:
        from bayesnn.hierarchy.plotting import plot_frontier, plot_hierarchy_trial
        from bayesnn.style import describe
        caption = describe(K=n_children, N=n_inputs, g0=(g0, "nats"),
                           reader_g0=(reader_g0, "nats"), duration=(duration, "s"), seed=seed)
        times, senders, counts = spike_arrays(result.run.layer1_spikes, 0)
        states = np.asarray(result.trials.trial(0).state_at(result.run.times))
        figure_set["trial"] = plot_hierarchy_trial(
            result.run.times, states[0], np.asarray(result.exact.log_odds)[0, 0],
            np.asarray(result.run.layer2_log_odds)[0, 0],
            np.asarray(result.run.layer2_prediction)[0, 0],
            np.asarray(result.run.fed_log_odds)[0], states[1:], np.repeat(times, counts),
            np.repeat(senders, counts), window=(0.0, min(duration, 6.0)),
            caption=f"trial 0 of {n_trials}, {caption}")
        if rows:
            figure_set["frontier"] = plot_frontier(rows, caption=describe(
                N=n_inputs, trials=frontier_trials, duration=(frontier_duration, "s"),
                seed=seed + 1))
    return ScenarioResult("hierarchy", checks, numbers, figure_set, _traces(result, settings))

