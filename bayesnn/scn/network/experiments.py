"""Reference experiments (B13 / Calaim 2022 settings), shared by the tests,
``bayesnn validate --scenario scn`` and the scripts in ``papers/boerlin2013``.

Each function returns a dict of plain numbers plus, under ``"data"``, the arrays a
plot needs. Times in s, rates in Hz.
"""
from __future__ import annotations

import warnings

import numpy as np

from bayesnn.core import spike_arrays
from bayesnn.scn.network import metrics
from bayesnn.scn.network.params import (
    DriveMarginWarning,
    make_autoencoder,
    make_network,
    pm_decoder,
    random_decoder,
)
from bayesnn.scn.network.perturbations import make_perturbations
from bayesnn.scn.network.results import target_at
from bayesnn.scn.network.simulation import simulate
from bayesnn.scn.network.targets import autoencoder_input, lds_euler, lds_exact, pulse_input

FIG1C_PULSES = [(0.25, 0.55, 50.0), (0.8, 1.0, -100.0)]


def fig1c_integrator(spike_mode: str = "one", n_neurons: int = 400, lambda_v: float = 20.0,
                     sigma_v: float = 1e-3, duration: float = 1.5, dt: float = 1e-4,
                     seed: int = 0, **options) -> dict:
    """B13 Fig.-1C-like 1-D integrator: +-0.1 kernels, lambda_d = 10, nu = 1e-5,
    mu = 1e-6, input +50 (0.25-0.55 s) and -100 (0.8-1.0 s)."""
    n = int(round(duration / dt))
    net = make_network(pm_decoder(n_neurons, 0.1), A=np.zeros((1, 1)), lambda_d=10.0,
                       lambda_v=lambda_v, mu=1e-6, nu=1e-5, sigma_v=sigma_v, dt=dt)
    c = pulse_input(n, dt, FIG1C_PULSES)
    x = lds_euler(np.zeros((1, 1)), c, dt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DriveMarginWarning)
        res = simulate(net, c, key=seed, spike_mode=spike_mode, **options)
    target = target_at(res, x)
    err = metrics.readout_errors(np.asarray(res.readout), target)
    return {"rmse": err["rmse"], "max_abs": err["max_abs"], "n_spikes": int(res.spikes.n_events),
            "bound": float(np.asarray(net.thresholds)[0]) / 0.1 + 100.0 * dt,
            "max_spikes_per_step": int(res.max_spikes_per_step), "n_bursts": int(res.n_bursts),
            "data": {"net": net, "result": res, "target": target, "c": c}}


def autoencoder_scaling(ns=(20, 40, 80, 160, 320), duration: float = 2.0, dt: float = 1e-4,
                        lambda_: float = 10.0, skip: float = 0.1, seed: int = 0,
                        n_poisson: int = 8) -> dict:
    """1-D autoencoder, Gamma = +-4/N, costs 1e-2/N^2 in r~ units (so mu =
    1e-2/(N lambda)^2, nu = 1e-2/(N^2 lambda) in B13 units), x = 2 + sin(2 pi t).
    SCN RMSE vs |Gamma|/sqrt(12), and an independent-Poisson baseline (RMSE pooled
    over ``n_poisson`` seeds)."""
    n = int(round(duration / dt))
    t = np.arange(n + 1) * dt
    x = (2 + np.sin(2 * np.pi * t))[:, None]
    c = autoencoder_input(x, dt, lambda_)
    k0 = int(round(skip / dt))
    rows = []
    for N in ns:
        g = 4.0 / N
        cost = 1e-2 / N**2
        net = make_autoencoder(pm_decoder(N, g), lambda_, mu=cost / lambda_**2,
                               nu=cost / lambda_, dt=dt)
        res = simulate(net, c, key=seed, x0=x[0])
        rmse = metrics.readout_errors(np.asarray(res.readout), target_at(res, x), skip=k0)["rmse"]
        sq = [np.mean((metrics.poisson_readout(c[:, 0], g, lambda_, dt, seed=seed + 1000 * N + j,
                                               x0=x[0, 0]) - x[1:, 0])[k0:] ** 2)
              for j in range(n_poisson)]
        rmse_p = float(np.sqrt(np.mean(sq)))
        rows.append((N, rmse, g / np.sqrt(12), rmse_p))
    rows = np.array(rows)
    return {"n": rows[:, 0].tolist(), "rmse": rows[:, 1].tolist(),
            "quantisation": rows[:, 2].tolist(), "rmse_poisson": rows[:, 3].tolist(),
            "max_rel_dev": float(np.max(np.abs(rows[:, 1] / rows[:, 2] - 1))),
            "slope": metrics.loglog_slope(rows[:, 0], rows[:, 1]),
            "slope_poisson": metrics.loglog_slope(rows[:, 0], rows[:, 3])}


def biological(M: int = 3, rho: float = 10, duration: float = 3.0, seed: int = 0,
               ramp: float = 0.4, silence=None, silence_time: float | None = None,
               threshold: float = 0.55, lambda_: float = 100.0, sigma_v: float = 0.5,
               dt: float = 1e-4, track_balance: bool = False, amplitude: float = 3.0,
               thresholds_after=None, threshold_time: float | None = None) -> dict:
    """Calaim 2022 "Biological" set: unit-norm Gaussian decoders, T = 0.55,
    lambda = 100 s^-1, refractory 2 ms, sigma_V = 0.5, self-reset x 2^0.02, dt = 0.1 ms;
    ramp to a constant x0 ~ N(0, amplitude^2 I) over ``ramp`` s, then hold.
    ``silence``: "half" (random 50%), a unit vector u (all neurons with Gamma_i.u > 0),
    or indices; applied at ``silence_time``."""
    N = int(round(M * rho))
    G = random_decoder(M, N, 1.0, seed)
    rng = np.random.default_rng(1000 + seed)
    x0 = rng.standard_normal(M) * amplitude
    n = int(round((ramp + duration) / dt))
    n_ramp = int(round(ramp / dt))
    x = np.minimum(np.arange(n + 1) / n_ramp, 1.0)[:, None] * x0
    net = make_autoencoder(G, lambda_, sigma_v=sigma_v, dt=dt, thresholds=threshold,
                           self_reset_scale=2**0.02)
    pert = None
    if silence is not None:
        if isinstance(silence, str) and silence == "half":
            idx = rng.permutation(N)[: N // 2]
        elif np.ndim(silence) == 1 and len(silence) == M and np.issubdtype(np.asarray(silence).dtype, np.floating):
            idx = np.flatnonzero(np.asarray(silence) @ G > 0)
        else:
            idx = np.asarray(silence, int)
        pert = make_perturbations(net, silence=idx, silence_time=silence_time)
    if thresholds_after is not None:
        pert = make_perturbations(net, thresholds=thresholds_after, threshold_time=threshold_time)
    c = autoencoder_input(x, dt, lambda_)
    res = simulate(net, c, key=seed, perturbations=pert,
                   refractory_steps=int(round(2e-3 / dt)), track_balance=track_balance)
    times, senders, _ = spike_arrays(res.spikes)
    xh = metrics.corrected_readout(np.asarray(res.readout), threshold)
    t_rec = np.asarray(res.times)
    return {"N": N, "x0": x0, "G": G, "x": target_at(res, x), "readout": xh, "times": t_rec,
            "spike_times": times, "senders": senders, "result": res, "net": net}


def window_stats(run: dict, t_start: float, t_stop: float, alive=None) -> dict:
    """Median per-dimension |x - x_hat|, median rate / CV (optionally among ``alive``)."""
    t = run["times"]
    sel = (t >= t_start) & (t < t_stop)
    err = np.abs(run["x"][sel] - run["readout"][sel])
    rates = metrics.firing_rates(run["spike_times"], run["senders"], run["N"], t_start, t_stop)
    cv = metrics.isi_cv(run["spike_times"], run["senders"], run["N"], t_start=t_start, t_stop=t_stop)
    if alive is not None:
        rates, cv = rates[alive], cv[alive]
    return {"median_error": float(np.median(err)), "bias": np.mean(run["x"][sel] - run["readout"][sel], 0),
            "median_rate": float(np.median(rates)), "mean_rate": float(np.mean(rates)),
            "median_cv": float(np.nanmedian(cv)) if np.any(np.isfinite(cv)) else float("nan")}


def integrator_memory(n_neurons: int = 100, hold: float = 1.0, dt: float = 1e-4, seed: int = 0,
                      slow: bool = True) -> dict:
    """1-D integrator (lambda_V = 0): input 20 for 0.1 s (x -> 2), then none for
    ``hold`` s. With ``slow=False`` the slow weights are dropped (A = -lambda_d, so
    Omega_s = 0): x_hat then decays as exp(-lambda_d t)."""
    g = 4.0 / n_neurons
    lam = 10.0
    A = np.zeros((1, 1)) if slow else -lam * np.eye(1)
    net = make_network(pm_decoder(n_neurons, g), A=A, lambda_d=lam, lambda_v=0.0,
                       mu=1e-2 / (n_neurons * lam) ** 2, nu=1e-2 / (n_neurons**2 * lam), dt=dt,
                       slow_self_term=slow)
    n_in = int(round(0.1 / dt))
    n = n_in + int(round(hold / dt))
    c = pulse_input(n, dt, [(0.0, 0.1, 20.0)])
    res = simulate(net, c, key=seed)
    xh = np.asarray(res.readout)[:, 0]
    return {"x_end_input": float(xh[n_in - 1]), "x_end": float(xh[-1]),
            "drift_per_s": float(abs(xh[-1] - xh[n_in - 1]) / hold), "kernel": g,
            "times": np.asarray(res.times), "readout": xh}


def damped_oscillator(n_neurons: int = 100, duration: float = 2.0, dt: float = 1e-4,
                      seed: int = 0) -> dict:
    """B13 Fig.-6B-like damped oscillator A = [[-4.8, -22.4], [40, 0]] (unconfirmed),
    N Gaussian kernels with ||Gamma_i|| = 0.03, lambda_d = 10, lambda_V = 20,
    mu = 1e-6, nu = 0, sigma_V = 1e-3; kick c1 = 50 for 0.1 s at t = 0.2 s.
    Compared against the exact LDS solution (matrix exponential)."""
    A = np.array([[-4.8, -22.4], [40.0, 0.0]])
    G = random_decoder(2, n_neurons, 0.03, seed)
    net = make_network(G, A=A, lambda_d=10.0, lambda_v=20.0, mu=1e-6, nu=0.0, sigma_v=1e-3, dt=dt)
    n = int(round(duration / dt))
    c = pulse_input(n, dt, [(0.2, 0.3, 50.0)], n_dims=2, dim=0)
    x = lds_exact(A, c, dt)
    res = simulate(net, c, key=seed)
    target = target_at(res, x)
    err = metrics.readout_errors(np.asarray(res.readout), target)
    return {**err, "kernel_norm": 0.03, "max_abs_target": float(np.max(np.abs(x))),
            "times": np.asarray(res.times), "readout": np.asarray(res.readout), "target": target,
            "result": res, "net": net}


def delay_explosion(threshold: float = 0.5, delay: float = 1e-3, M: int = 20, rho: int = 10,
                    duration: float = 0.6, dt: float = 1e-4, seed: int = 0) -> dict:
    """Calaim 2022 Fig.-7-like delay test: unit-norm decoders (M dims, N = M rho),
    lambda = 100, ramp (0.4 s) to x0 ~ N(0, I), delayed lateral fast synapses.
    Returns spikes per neuron per second and the median error after the ramp."""
    N = M * rho
    G = random_decoder(M, N, 1.0, seed)
    x0 = np.random.default_rng(1 + seed).standard_normal(M)
    n_ramp = int(round(0.4 / dt))
    n = n_ramp + int(round(duration / dt))
    x = np.minimum(np.arange(n + 1) / n_ramp, 1.0)[:, None] * x0
    net = make_autoencoder(G, 100.0, dt=dt, thresholds=threshold)
    # a delay can make the network explode (up to one spike per step): size the
    # event buffer for that maximum, so the explosion costs no rerun
    res = simulate(net, autoencoder_input(x, dt, 100.0), key=seed,
                   delay_steps=int(round(delay / dt)), capacity=n)
    return {"rate": int(res.spikes.n_events) / N / (n * dt),
            "median_error": float(np.median(np.abs(target_at(res, x) - np.asarray(res.readout))[n_ramp:]))}


__all__ = ["FIG1C_PULSES", "fig1c_integrator", "autoencoder_scaling", "biological",
           "window_stats", "integrator_memory", "damped_oscillator", "delay_explosion"]
