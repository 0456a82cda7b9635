r"""``scn_learning`` validation scenario: learning in spike-coding networks against the
known optimum.

1. **Local rules** (Brendel et al. 2020 Fig. 2 setting, reduced duration): from the
   random initialisation, learn F and Omega with :func:`bayesnn.scn.learning.learn`;
   evaluate the log2 snapshots with frozen weights
   (:func:`~bayesnn.scn.learning.evaluation.evaluate_weights`). Checks: the distance of
   Omega to the best-scaled ``-F^T F`` ends below ``DISTANCE_MAX`` and falls 10x
   (a proposed bound, not a number from Brendel et al. 2020); the optimal decoder's
   test error falls 10x and ends within ``OPTIMUM_FACTOR`` of the optimal network's
   (the learned F with the
   best-fitting fixed point ``s(-F^T F) - m I`` as recurrent weights, same measure,
   same inputs); the theory's decoder ``s F`` is within ``DECODER_FACTOR`` of the
   optimal decoder; the rate falls; the ISI CV under constant input at least doubles
   (spike trains become irregular).
2. **E/I (Dale) rules** (Fig. 4 setting at NE = 4 NI = 60, rates 3x the paper's):
   zero sign violations over the whole run, the E population's in-sample decoding
   error halves and its rate falls.
3. **Gradient descent** through the Huh & Sejnowski 2017 gated network
   (:mod:`bayesnn.scn.learning.surrogate`): autodiff against central finite differences
   (``GRADIENT_RTOL``); Adam on the decoder and feedforward weights from the same
   initial network lowers the gated model's loss 5x; its weights measured in the hard
   network are reported next to the local rule's (no pass/fail: a comparison).

Bounds are stated here with their basis; the measured numbers are in
``papers/brendel2020/README.md``.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from bayesnn.core.precision import require_x64
from bayesnn.report import Check, Progress, ScenarioResult, silent

__all__ = ["scn_learning_scenario", "DISTANCE_MAX", "OPTIMUM_FACTOR", "DECODER_FACTOR",
           "GRADIENT_RTOL"]

# Bounds and their basis (defaults, seeds 0 / 1 / 2; papers/brendel2020/README.md has
# the curves):
DISTANCE_MAX = 0.05     # measured 0.0064 / 0.0043 / 0.014 at 512 s; 0.0018 at 2048 s
OPTIMUM_FACTOR = 1.5    # measured 1.00 / 0.92 / 1.01: as good as the optimal network
DECODER_FACTOR = 3.0    # measured 1.8 / 1.6 / 2.6 at 512 s, 1.15 at 2048 s (5x at 64 s)
GRADIENT_RTOL = 1e-6    # measured 7e-10 (central differences, h = 1e-6, float64)


def _local(seed, duration, n_neurons, eval_duration, cv_duration, progress):
    import jax

    from bayesnn.scn.learning.training import learn
    from bayesnn.scn.learning.evaluation import best_fixed_point, evaluate_weights
    from bayesnn.scn.learning.signals import SmoothedNoise
    from bayesnn.scn.learning.plasticity import brendel_fig2_params, brendel_fig2_weights

    params = brendel_fig2_params()
    F0, Om0 = brendel_fig2_weights(2, n_neurons, key=seed)
    progress(f"scn_learning: Brendel rules, N = {n_neurons}, {duration:g} s simulated")
    res = learn(params, SmoothedNoise(2), F=F0, Omega=Om0, key=seed + 1, duration=duration)
    progress(f"scn_learning: {len(res.snapshot_times)} frozen snapshots, optimal reference")
    F1, Om1 = np.asarray(res.final.F), np.asarray(res.final.Omega)
    Om_opt, s, m = best_fixed_point(F1, Om1)
    # one batch: the snapshots and the optimal network share inputs and one compilation
    both = evaluate_weights(params, np.concatenate([res.F_snapshots, F1[None]]),
                            np.concatenate([res.Omega_snapshots, Om_opt[None]]),
                            key=seed + 2, duration=eval_duration, cv_duration=cv_duration)
    ev = jax.tree_util.tree_map(lambda a: a[:-1], both)
    ref = jax.tree_util.tree_map(lambda a: a[-1], both)
    return params, res, ev, ref, (F0, Om0, F1, Om1), (s, m)


def _dale(seed, duration, n_i, progress):
    from bayesnn.scn.learning.training_dale import learn_dale
    from bayesnn.scn.learning.signals import SmoothedNoise
    from bayesnn.scn.learning.plasticity_dale import DaleLearningParams, brendel_dale_weights

    progress(f"scn_learning: E/I rules, NE = {4 * n_i}, NI = {n_i}, {duration:g} s simulated")
    params = DaleLearningParams(eps_r=3e-4, eps_f=3e-5)
    return learn_dale(params, SmoothedNoise(3), weights=brendel_dale_weights(3, n_i, key=seed),
                      key=seed + 1, duration=duration, record_every=10000, decode_every=10)


def _gradient(seed, n_neurons, iterations, local_params, eval_duration, cv_duration, progress):
    from bayesnn.scn.learning.evaluation import evaluate_weights
    from bayesnn.scn.learning.signals import SmoothedNoise, smoothed_noise
    from bayesnn.scn.learning.plasticity import brendel_fig2_weights
    from bayesnn.scn.learning.surrogate import GateParams, gradient_check, train_gated

    F0, Om0 = brendel_fig2_weights(2, n_neurons, key=seed)
    w0 = {"F": F0, "Omega": Om0, "D": 0.1 * F0}
    gate = GateParams(width=1.0)
    progress("scn_learning: gated-network gradient vs finite differences")
    check = gradient_check(gate, w0, smoothed_noise(SmoothedNoise(2), 300, key=seed + 3),
                           key=seed + 4)
    progress(f"scn_learning: Adam through the gated network, {iterations} iterations")
    trained = train_gated(gate, w0, SmoothedNoise(2), train=("D", "F"), key=seed + 5,
                          n_iterations=iterations)
    # the settings of the snapshots' evaluation (one compiled program for both)
    hard = evaluate_weights(local_params, trained.weights["F"], trained.weights["Omega"],
                            key=seed + 2, duration=eval_duration, cv_duration=cv_duration)
    return check, trained, hard


def scn_learning_scenario(*, seed: int = 0, duration: float = 512.0, n_neurons: int = 20,
                          eval_duration: float = 5.0, cv_duration: float = 2.0,
                          dale: bool = True,
                          dale_duration: float = 32.0, dale_n_i: int = 15,
                          gradient: bool = True, train_iterations: int = 150,
                          progress: Progress = silent, figures: bool = True) -> ScenarioResult:
    """Run the ``scn_learning`` scenario (module docstring).

    Settings: ``seed``; ``duration`` (s simulated, a multiple of 1 s) and ``n_neurons``
    of the local-rule run; ``eval_duration`` (s, each of the decoder's training and test
    runs), ``cv_duration`` (s per constant-input direction); ``dale`` / ``dale_duration`` (multiple of 1 s) / ``dale_n_i``; ``gradient`` /
    ``train_iterations``. Returns a :class:`bayesnn.report.ScenarioResult` (checks,
    numbers, figures, traces: the learning records as an xarray Dataset).
    """
    require_x64("the scn_learning scenario")
    started = time.perf_counter()
    params, res, ev, ref, (F0, Om0, F1, Om1), (s, m) = _local(
        seed, duration, n_neurons, eval_duration, cv_duration, progress)
    from bayesnn.scn.learning.plasticity import weight_distance

    dist = np.asarray(weight_distance(np.asarray(res.F_snapshots), np.asarray(res.Omega_snapshots)))
    err, err_f = np.asarray(ev.error), np.asarray(ev.error_f)
    rate, cv = np.asarray(ev.rate), np.asarray(ev.cv)
    err_opt = float(ref.error)
    checks = [
        Check("scn_learning_distance_final", float(dist[-1]), DISTANCE_MAX, "<=",
              f"||Omega - s(-F^T F)||^2/||Omega||^2 after {duration:g} s (Brendel's measure)"),
        Check("scn_learning_distance_ratio", float(dist[-1] / dist[0]), 0.1, "<=",
              "weight distance, final / initial weights (notes T12, proposed)"),
        Check("scn_learning_error_ratio", float(err[-1] / err[0]), 0.1, "<=",
              "optimal-decoder test error, final / initial weights (frozen)"),
        Check("scn_learning_error_vs_optimal", float(err[-1] / err_opt), OPTIMUM_FACTOR, "<=",
              "learned network error / optimal network's (learned F, fixed-point Omega)"),
        Check("scn_learning_decoder_f_vs_optimal", float(err_f[-1] / err[-1]), DECODER_FACTOR,
              "<=", "error with the decoder s F / with the optimal decoder (decoder ~ F)"),
        Check("scn_learning_rate_ratio", float(rate[-1] / rate[0]), 0.7, "<=",
              "mean rate, final / initial weights (frozen, test input)"),
        Check("scn_learning_cv_ratio", float(cv[-1] / cv[0]), 2.0, ">=",
              "ISI CV under constant input, final / initial (becomes irregular)"),
    ]
    numbers: dict[str, Any] = {
        "settings": {"seed": seed, "duration_s": duration, "n_neurons": n_neurons,
                     "eval_duration_s": eval_duration, "cv_duration_s": cv_duration,
                     "dale_duration_s": dale_duration, "dale_n_i": dale_n_i,
                     "train_iterations": train_iterations},
        "snapshot_times_s": np.asarray(res.snapshot_times).tolist(),
        "weight_distance_at_snapshots": dist.tolist(),
        "error": err.tolist(), "error_decoder_f": err_f.tolist(), "rate_hz": rate.tolist(),
        "cv_constant_input": cv.tolist(), "voltage_var": np.asarray(ev.voltage_var).tolist(),
        "optimal_network": {"error": err_opt, "scale_s": s, "diagonal_m": m,
                            "rate_hz": float(ref.rate), "cv": float(ref.cv)},
    }
    figure_set = {}
    if figures:
        from bayesnn.scn.learning.plotting import plot_convergence, plot_weights

        from bayesnn.style import describe
        caption = describe(N=n_neurons, duration=(duration, "s"),
                           test_run=(eval_duration, "s"), seed=seed)
        figure_set["convergence"] = plot_convergence(res, ev, err_opt, caption=caption)
        dec = np.asarray(ev.decoder)
        figure_set["weights"] = plot_weights(F0, Om0, F1, Om1, dec[0], dec[-1],
                                             caption=caption)
    if dale:
        d = _dale(seed, dale_duration, dale_n_i, progress)
        ee = np.asarray(d.error_e)
        checks += [
            Check("scn_learning_dale_sign_violations", float(np.max(d.violations)), 0.0, "<=",
                  "synapses with the wrong sign at any record (clipping keeps Dale's law)"),
            Check("scn_learning_dale_error_ratio", float(ee[-1] / ee[0]), 0.5, "<=",
                  "E population in-sample decoding error, last / first 1-s block"),
            Check("scn_learning_dale_rate_ratio", float(d.rate_e[-1] / d.rate_e[0]), 0.7, "<=",
                  "E rate, last / first 1-s block"),
        ]
        numbers["dale"] = {"times_s": np.asarray(d.times).tolist(),
                           "error_e": ee.tolist(), "error_i": np.asarray(d.error_i).tolist(),
                           "rate_e_hz": np.asarray(d.rate_e).tolist(),
                           "rate_i_hz": np.asarray(d.rate_i).tolist(),
                           "max_violations": int(np.max(d.violations))}
        if figures:
            from bayesnn.scn.learning.plotting import plot_dale
            from bayesnn.style import describe
            figure_set["dale"] = plot_dale(d, caption=describe(
                NE=4 * dale_n_i, NI=dale_n_i, duration=(dale_duration, "s"), seed=seed))
    if gradient:
        check, trained, hard = _gradient(seed, n_neurons, train_iterations, params,
                                         eval_duration, cv_duration, progress)
        losses = trained.loss
        first, last = float(np.mean(losses[:10])), float(np.mean(losses[-10:]))
        checks += [
            Check("scn_learning_gradient_vs_fd", check["max_rel_error"], GRADIENT_RTOL, "<=",
                  "gated network: autodiff vs central differences, 6 random directions"),
            Check("scn_learning_gd_loss_ratio", last / first, 0.2, "<=",
                  "gated-model readout error, mean of last / first 10 Adam iterations"),
        ]
        numbers["gradient"] = {
            "check": {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in check.items()},
            "gated_loss_first10": first, "gated_loss_last10": last,
            "hard_network_error_after_gd": float(hard.error),
            "hard_network_error_initial": float(err[0]),
            "hard_network_error_local_rule": float(err[-1]),
            "hard_network_rate_after_gd_hz": float(hard.rate)}
        if figures:
            from bayesnn.scn.learning.plotting import plot_gradient
            from bayesnn.style import describe
            figure_set["gradient"] = plot_gradient(losses, check, caption=describe(
                N=n_neurons, iterations=train_iterations, seed=seed))
    numbers["seconds"] = time.perf_counter() - started
    traces = res.to_xarray({"scenario": "scn_learning", "seed": seed})
    return ScenarioResult("scn_learning", checks, numbers, figure_set, traces)
