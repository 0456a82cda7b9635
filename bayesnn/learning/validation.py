"""The ``learning`` validate scenario: learned parameters next to exact answers.

Entry point :func:`learning_checks` returns ``(checks, numbers, figures)``: rows of
:class:`bayesnn.report.Check`, a dict of measured numbers (JSON-ready) and a dict of
matplotlib figures (empty when ``figures=False``).

Checks (problem: :func:`bayesnn.learning.experiments.default_problem`, a 4x-wrong start):
EM monotone (continuous and binned), EM's fixed point a stationary point of the exact
log-likelihood (gradient from :func:`bayesnn.exact.mmpp.mmpp_log_likelihood`), online ==
batch E-step at no discount, discounted online EM tracking a switch of q_on, the local
rule against exact online EM, the filtered-only rule failing to learn r, gradient
optimum == EM optimum, error against recording length (slope -1/2), the learned
neuron's posterior against the exact one, and coverage of the NUTS 90 % HDIs.
"""
from __future__ import annotations

import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.exact.mmpp import mmpp_log_likelihood
from bayesnn.learning import experiments as ex
from bayesnn.learning.em import em_binned, em_continuous
from bayesnn.learning.experiments import PARAMETERS
from bayesnn.core import spikes_from_counts
from bayesnn.core.params import to_device
from bayesnn.learning.gradient import fit_gradient
from bayesnn.learning.local import local_readout, local_rule
from bayesnn.learning.online import online_em, online_statistics
from bayesnn.learning.statistics import binned_e_step
from bayesnn.processes import sample_binned
from bayesnn.report import Check

__all__ = ["learning_checks", "learning_scenario"]


# one compiled program (eagerly about six; the same values to the bit)
_readout = jax.jit(local_readout)


def _rel(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) / np.asarray(b) - 1.0)))


def _monotone(log_liks) -> float:
    """Smallest relative step of a log-likelihood sequence (>= 0 when monotone)."""
    return float(np.min(np.diff(log_liks)) / abs(log_liks[-1]))


def _em_part(true, start, seed, numbers, figures_data):
    spikes = ex.sample_data(true, seed, 60.0, 1)[0]
    em = em_continuous(start, spikes, duration=60.0, max_iterations=3000, xtol=1e-10)
    # one compiled program (eagerly about a dozen; the same gradient to the bit)
    grad = jax.jit(jax.grad(lambda p: mmpp_log_likelihood(p, spikes, duration=60.0)))(em.params)
    stationarity = float(np.max(np.abs(ex.flat(grad) * ex.flat(em.params))))
    binned = em_binned(start, spikes, duration=60.0, dt=0.01, max_iterations=3000, xtol=1e-10)
    gradient = fit_gradient(start, spikes, duration=60.0, tol=1e-9)
    gradient_again = fit_gradient(start, spikes, duration=60.0, tol=1e-9)  # compiled: wall time
    em_again = em_continuous(start, spikes, duration=60.0, max_iterations=3000, xtol=1e-10)
    numbers["em"] = dict(
        continuous_iterations=em.n_iterations, binned_iterations=binned.n_iterations,
        continuous_wall_s=em_again.wall_time, gradient_steps=gradient.n_iterations,
        gradient_wall_s=gradient_again.wall_time, max_log_rate_gradient_at_em_nats=stationarity,
        em_vs_gradient_max_rel=_rel(ex.flat(gradient.params), ex.flat(em.params)),
        learned=ex.flat(em.params).tolist(), truth=ex.flat(true).tolist())
    figures_data["em"] = (em.log_likelihoods, binned.log_likelihoods)
    return [
        Check("em_continuous_monotone", _monotone(em.log_likelihoods), -1e-11, ">=",
              "min_k (l_{k+1} - l_k) / |l|, continuous-time EM (>= 0 up to rounding)"),
        Check("em_binned_monotone", _monotone(binned.log_likelihoods), -1e-11, ">=",
              "min_k (l_{k+1} - l_k) / |l|, binned EM (dt = 10 ms)"),
        # EM stops at an estimated log-rate distance xtol = 1e-10 from its fixed point:
        # the gradient is then <= K xtol x curvature per spike (~1) ~ 4e-7 nats for the
        # K ~ 4e3 spikes (bound 1e-6; measured 1.6e-9, seed 0)
        Check("em_fixed_point_gradient", stationarity, 1e-6, "<=",
              "max |d log p / d log rate| at EM's fixed point, nats (exact.mmpp gradient)"),
        # L-BFGS stops at a gradient norm tol = 1e-9 per spike: distance ~ tol / c with
        # c the curvature per spike, >= 0.005 in the switching rates (~240 switches per
        # 4e3 spikes): <= 2e-7 (the bound; measured 2.0e-8, seed 0)
        Check("gradient_optimum_equals_em", _rel(ex.flat(gradient.params), ex.flat(em.params)), 2e-7, "<=",
              "max relative difference of the rates, L-BFGS (optax) vs EM (both converged)"),
    ]


def _online_part(true, start, seed, quick, numbers, figures_data):
    dt = 0.01
    counts = np.asarray(sample_binned(true, key=seed, dt=dt, n_steps=3000).counts)
    online = online_statistics(true, spikes_from_counts(counts, dt), duration=3000 * dt, dt=dt,
                               initial_prob_on=0.3)
    batch, _ = binned_e_step(true, 0.3, to_device(counts[None], float), dt)
    # the statistics online EM tracks (it drops the initial law's one-bin term, so its
    # initial-state statistic is not kept: bayesnn.learning.online.online_init)
    exactness = max(_rel(getattr(online, name), getattr(batch, name))
                    for name in ("transitions", "occupancy", "counts"))
    # tracking: q_on halves halfway, discount with memory tau
    tau, half = 10.0, 20_000
    first = sample_binned(true, key=seed + 1, dt=dt, n_steps=half)
    # host values (NumPy, the same IEEE quotient): no eager device programs
    second = sample_binned(true.replace(q_on=np.asarray(true.q_on) / 2), key=seed + 2, dt=dt,
                           n_steps=half, initial_state=int(np.asarray(first.states)[-1]))
    switched = np.concatenate([np.asarray(first.counts), np.asarray(second.counts)])
    tracked = online_em(true, spikes_from_counts(switched, dt), duration=2 * half * dt, dt=dt,
                        discount=1 - dt / tau, update_every=10, warmup=int(tau / dt),
                        record_every=10, reference=true)
    ratio = np.mean(np.asarray(tracked.history.q_on) / np.asarray(true.q_on), axis=1)
    after = tracked.times > half * dt
    lag = float(tracked.times[after][np.argmax(ratio[after] < 0.75)] - half * dt)
    figures_data["tracking"] = (tracked.times, ratio, half * dt)
    numbers["online"] = dict(no_discount_max_rel_vs_forward_backward=exactness,
                             tracking_memory_s=tau, tracking_lag_s=lag,
                             tracking_lag_over_tau_ln2=lag / (tau * np.log(2)))
    return [
        Check("online_equals_batch_no_discount", exactness, 1e-9, "<=",
              "max relative difference, forward-only statistics (transitions, occupancy, counts) vs "
              "forward-backward (3000 bins)"),
        Check("online_tracks_q_on_switch", lag / (tau * np.log(2)), (0.5, 6.0), "in",
              "time for the mean q_on estimate to cross the midpoint after q_on halves, "
              "in units of the discount half-life tau ln 2"),
    ]


def _local_part(true, start, seed, quick, numbers, figures_data):
    duration = 200.0 if quick else 600.0
    spikes = ex.sample_data(true, seed + 3, duration, 1)[0]
    stats_diff = {}
    for dt in (0.004, 0.002):
        exact = jax.device_get(online_statistics(true, spikes, duration=duration, dt=dt))
        # only the final state is used: no diagnostics, and the record grid of the runs
        # below (one compiled program for both)
        local = jax.device_get(_readout(local_rule(
            true, spikes, duration=duration, dt=dt, warmup=10**9, record_every=250,
            diagnostics=False).extra["state"]))
        stats_diff[dt] = max(_rel(local[0] / dt, exact.occupancy[1]), _rel(local[1], exact.transitions[0, 1]),
                             _rel(local[2], exact.transitions[1, 0]), _rel(local[3], exact.counts[1]))
    dt = 0.002
    settings = dict(duration=duration, dt=dt, discount=1 - dt / 30.0, update_every=50,
                    warmup=5000, record_every=250)
    online = online_em(start, spikes, **settings)
    local = local_rule(start, spikes, **settings)
    filtered = local_rule(start, spikes, smoothing=False, **settings)
    with_g = local_rule(start, spikes, readout="G", **settings)
    late = online.times > duration / 2
    learned_diff = max(_rel(getattr(local.history, n)[late], getattr(online.history, n)[late])
                       for n in ex.PARAMETERS)
    figures_data["learning"] = (online, local, filtered, true)
    numbers["local"] = dict(
        statistics_max_rel_vs_online_dt4ms=stats_diff[0.004],
        statistics_max_rel_vs_online_dt2ms=stats_diff[0.002],
        learned_max_rel_vs_online_second_half=learned_diff,
        local_final_over_truth=(ex.flat(local.params) / ex.flat(true)).tolist(),
        online_final_over_truth=(ex.flat(online.params) / ex.flat(true)).tolist(),
        filtered_only_final_over_start=(ex.flat(filtered.params) / ex.flat(start)).tolist(),
        filtered_only_final_over_truth=(ex.flat(filtered.params) / ex.flat(true)).tolist(),
        readout_g_final_over_truth=(ex.flat(with_g.params) / ex.flat(true)).tolist(),
        local_r_second_half_max_rel_error=None,
        output_spikes_per_s=local.extra["n_output_spikes"] / duration)
    r_moved = max(abs(float(np.asarray(filtered.params.r_on) / np.asarray(start.r_on)) - 1),
                  abs(float(np.asarray(filtered.params.r_off) / np.asarray(start.r_off)) - 1))
    # r averaged over the second half (100 s): the memory (30 s, ~60 switches) leaves
    # ~13 % noise per value, ~8 % on the mean, so 30 % is > 3.5 sd
    # the mean by XLA's reduction, as before the history came back as NumPy
    r_error = max(abs(float(jnp.mean(to_device(getattr(local.history, n)[late])))
                      / float(getattr(true, n)) - 1) for n in ("r_on", "r_off"))
    numbers["local"]["local_r_second_half_max_rel_error"] = r_error
    return [
        Check("local_vs_online_statistics", stats_diff[0.002], 0.01, "<=",
              "max relative difference of the local rule's statistics from exact online EM, dt = 2 ms"),
        Check("local_vs_online_first_order", stats_diff[0.004] / stats_diff[0.002], (1.6, 2.5), "in",
              "ratio of that difference at dt = 4 ms and 2 ms (first order: 2)"),
        Check("filtered_only_r_does_not_move", r_moved, 0.02, "<=",
              "max |r / r_start - 1| of the filtered-only rule (it cannot learn r; docs/learning.md Sec. 6)"),
        Check("local_rule_learns_r", r_error, 0.3, "<=",
              "max |mean r / r_true - 1| (second half) of the local rule, same 4x-wrong start"),
    ]


def _sweep_part(true, seed, quick, numbers, figures_data):
    durations = np.array([25.0, 50.0, 100.0, 200.0, 400.0])
    sweep = ex.duration_sweep(true, durations, 4 if quick else 8, key=seed + 4)
    test = ex.sample_data(true, seed + 5, 60.0, 1)[0]
    kls = np.array([np.mean([ex.posterior_kl(true, p, test, 60.0) for p in fits]) for fits in sweep.params])
    kl_slope = float(np.polyfit(np.log(durations), np.log(kls), 1)[0])
    figures_data["sweep"] = (durations, sweep.errors, kls)
    numbers["duration_sweep"] = dict(durations_s=durations.tolist(),
                                     mean_rms_rel_error=sweep.errors.mean(axis=1).tolist(),
                                     error_slope=sweep.slope, posterior_kl_nats=kls.tolist(),
                                     posterior_kl_slope=kl_slope)
    return [
        Check("error_vs_duration_slope", sweep.slope, (-0.75, -0.25), "in",
              "log-log slope of the EM rates' RMS relative error against recording length (theory -1/2)"),
        Check("posterior_kl_vs_duration_slope", kl_slope, (-1.6, -0.5), "in",
              "log-log slope of KL(exact posterior || learned neuron's posterior) (theory -1)"),
    ]


def _coverage_part(true, seed, quick, numbers, figures_data, n_datasets: int = 5):
    coverage = ex.nuts_coverage(true, n_datasets=n_datasets, duration=20.0, dt=0.01, key=seed + 6,
                                num_warmup=250 if quick else 500, num_samples=250 if quick else 500)
    figures_data["coverage"] = coverage
    numbers["coverage"] = dict(
        n_datasets=int(coverage.ml.shape[0]), ml_inside_hdi90=float(coverage.ml_inside.mean()),
        truth_inside_hdi90=float(coverage.truth_inside.mean()),
        max_rhat=coverage.max_rhat.tolist(), divergences=coverage.divergences.tolist(),
        nuts_wall_s=coverage.wall_time_nuts.tolist(), em_wall_s=coverage.wall_time_em.tolist())
    return [Check("ml_inside_nuts_hdi90", float(coverage.ml_inside.mean()), 0.9, ">=",
                  "fraction of (data set, rate) whose ML estimate lies in the NUTS 90 % HDI "
                  f"({n_datasets} data sets)")]


def learning_checks(seed: int = 0, quick: bool = True, figures: bool = True,
                    progress: Callable[[str], None] | None = None) -> tuple[list[Check], dict, dict]:
    """Run the ``learning`` scenario (module docstring).

    Args:
        seed: seeds every data set (int, >= 0).
        quick: shorter runs (about 4 min on 2 cores, mostly NUTS) instead of the full ones.
        figures: build the figures.
        progress: called with a short message before each stage.

    Returns:
        ``(checks, numbers, figures)``.
    """
    checks, numbers, built, _ = _learning(seed, quick, figures, progress)
    return checks, numbers, built


def learning_scenario(*, seed: int = 0, quick: bool = True, coverage_datasets: int = 5,
                      progress=None, figures: bool = True):
    """``bayesnn validate --scenario learning``: :func:`learning_checks` with the
    learned trajectories, EM log-likelihoods, duration sweep and NUTS intervals as
    traces (NetCDF). ``coverage_datasets``: data sets of the NUTS coverage stage (each
    about a minute on two cores; 5 in :func:`learning_checks`).

    Returns:
        :class:`bayesnn.report.ScenarioResult`.
    """
    from bayesnn.report import ScenarioResult

    from bayesnn.core.validation import require_int

    require_int("coverage_datasets", coverage_datasets, minimum=1)
    checks, numbers, built, data = _learning(seed, quick, figures, progress, coverage_datasets)
    return ScenarioResult("learning", checks, numbers, built, _traces(data, seed, quick))


def _learning(seed, quick, figures, progress, coverage_datasets: int = 5):
    progress = progress or (lambda message: None)
    true = ex.default_problem()
    start = ex.mis_initialised(true)
    checks, numbers, data = [], {"seed": seed, "quick": quick}, {}
    stages = [("batch EM, gradient ascent (optax L-BFGS)", lambda: _em_part(true, start, seed, numbers, data)),
              ("online EM: exactness and tracking", lambda: _online_part(true, start, seed, quick, numbers, data)),
              ("local rule, filtered-only control", lambda: _local_part(true, start, seed, quick, numbers, data)),
              ("error and posterior KL vs recording length", lambda: _sweep_part(true, seed, quick, numbers, data)),
              (f"NUTS 90 % HDI coverage ({coverage_datasets} data sets)",
               lambda: _coverage_part(true, seed, quick, numbers, data, coverage_datasets))]
    for message, run in stages:
        progress(f"learning: {message}")
        begin = time.perf_counter()
        checks += run()
        numbers.setdefault("stage_wall_s", {})[message] = time.perf_counter() - begin
    built = {}
    if figures:
        from bayesnn.learning.plotting import learning_figures
        from bayesnn.style import describe
        # run lengths are stated by the figures themselves (their windows, data sets); the
        # run mode ("quick") is not a parameter of what is shown
        built = learning_figures(data, caption=describe(N=true.n_inputs, seed=seed))
    return checks, numbers, built, data


def _traces(data: dict, seed: int, quick: bool):
    """The scenario's series as one Dataset (units and descriptions in attributes)."""
    import xarray as xr

    variables = {}

    def put(name, dims, values, units, description):
        variables[name] = xr.Variable(dims, np.asarray(values),
                                      {"units": units, "description": description})

    if "em" in data:
        continuous, binned = data["em"]
        put("em_log_likelihood_continuous", ("em_iteration",), continuous, "nats",
            "log-likelihood per continuous-time EM iteration")
        put("em_log_likelihood_binned", ("binned_iteration",), binned, "nats",
            "log-likelihood per binned EM iteration (10 ms)")
    if "learning" in data:
        online, local, filtered, true = data["learning"]
        put("learning_time", ("learning_time",), online.times, "s", "record times")
        for label, result in (("online", online), ("local", local), ("filtered", filtered)):
            for name in PARAMETERS:
                values = np.asarray(getattr(result.history, name))
                dims = ("learning_time",) if values.ndim == 1 else ("learning_time", "input")
                put(f"{label}_{name}", dims, values, "Hz", f"{name} learned by the {label} rule")
        for name in PARAMETERS:
            values = np.asarray(getattr(true, name))
            put(f"true_{name}", () if values.ndim == 0 else ("input",), values, "Hz",
                f"true {name}")
    if "tracking" in data:
        times, ratio, switch = data["tracking"]
        put("tracking_time", ("tracking_time",), times, "s", "record times")
        put("tracking_ratio", ("tracking_time",), ratio, "1",
            f"mean q_on estimate / initial q_on (q_on halves at {switch:g} s)")
    if "sweep" in data:
        durations, errors, kls = data["sweep"]
        put("recording_length", ("recording_length",), durations, "s", "recording length")
        put("sweep_rms_rel_error", ("recording_length", "data_set"), errors, "1",
            "RMS relative error of EM's rates")
        put("sweep_posterior_kl", ("recording_length",), kls, "nats",
            "KL(exact posterior || learned neuron's posterior), mean per sample")
    if "coverage" in data:
        coverage = data["coverage"]
        for name, text in (("ml", "ML estimate (binned EM)"), ("low", "NUTS 90 % HDI low"),
                           ("high", "NUTS 90 % HDI high")):
            put(f"coverage_{name}", ("nuts_data_set", "rate"), getattr(coverage, name), "Hz", text)
        put("coverage_truth", ("rate",), coverage.truth, "Hz", "true rates")
    return xr.Dataset(variables, attrs={"scenario": "learning", "seed": seed, "quick": int(quick)})
