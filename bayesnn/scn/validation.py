"""Fast spike-coding-network checks for ``bayesnn validate --scenario scn``."""
from __future__ import annotations

import warnings

import numpy as np

from bayesnn.core import spike_arrays
from bayesnn.report import Check
from bayesnn.scn import experiments as ex
from bayesnn.scn.network import (
    DriveMarginWarning, closed_form_voltage, instantaneous_loss, make_autoencoder,
    random_decoder,
)
from bayesnn.scn.results import target_at
from bayesnn.scn.simulate import simulate
from bayesnn.scn.targets import autoencoder_input


def _loss_and_voltage(seed: int, n: int) -> tuple[float, float, int]:
    N, dt, lam = 30, 1e-4, 10.0
    net = make_autoencoder(random_decoder(2, N, 0.2, seed=seed), lam, mu=1e-5, nu=1e-4, dt=dt)
    t = np.arange(n + 1) * dt
    x = np.stack([np.sin(2 * np.pi * 2 * t), np.cos(2 * np.pi * 3 * t)], 1)
    res = simulate(net, autoencoder_input(x, dt, lam), key=seed, x0=x[0],
                   record_voltages=tuple(range(N)), record_rates=tuple(range(N)))
    r_post = np.asarray(res.rates)
    v_res = float(np.max(np.abs(np.asarray(res.voltages)
                                - closed_form_voltage(net, target_at(res, x), r_post))))
    times, senders, _ = spike_arrays(res.spikes)
    T = np.asarray(net.thresholds)
    worst = 0.0
    for tk, i in zip(times, senders):
        k = int(round(tk / dt)) - 1
        r = (r_post[k - 1] if k > 0 else np.zeros(N)) * (1 - lam * dt)
        v = closed_form_voltage(net, x[k + 1], r)
        r1 = r.copy()
        r1[i] += 1
        d = instantaneous_loss(net, x[k + 1], r1) - instantaneous_loss(net, x[k + 1], r)
        worst = max(worst, abs(d - 2 * (T[i] - v[i])))
    return worst, v_res, int(times.size)


def scn_checks(seed: int = 0, quick: bool = True) -> tuple[list[Check], dict]:
    """Per-spike loss identity, voltage closed form, bounding box, ping-pong (T1-T3, T5)."""
    n = 3000 if quick else 10000
    loss_res, v_res, n_spikes = _loss_and_voltage(seed, n)
    duration = 1.0 if quick else 1.5
    box = ex.fig1c_integrator("one", lambda_v=0.0, sigma_v=0.0, duration=duration, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DriveMarginWarning)
        one = ex.fig1c_integrator("one", duration=duration, seed=seed)
        # "all" stores its ping-pong spikes (~1.7e6 per s): sized up front, no rerun
        allf = ex.fig1c_integrator("all", duration=duration, seed=seed,
                                   capacity=1 << (int(duration * 1.7e6) - 1).bit_length())
    checks = [
        Check("scn_loss_identity_residual", loss_res, 1e-10, "<=",
              f"max |dE - 2(T_i - V_i)| over {n_spikes} spikes (2-D autoencoder)"),
        Check("scn_voltage_closed_form_residual", v_res, 1e-9, "<=",
              "max |V - (Gamma^T(x - Gamma r~) - mu lambda_d^2 r~)| (autoencoder)"),
        Check("scn_box_max_error_over_bound", box["max_abs"] / box["bound"], 1.0, "<=",
              "1-D integrator max|x - x_hat| / (T/|Gamma| + max|c| dt)"),
        Check("scn_pingpong_rmse_one_per_step", one["rmse"], 0.1, "<=",
              "Fig.-1C-like readout RMSE, one spike per step (default)"),
        Check("scn_pingpong_rmse_all_fire", allf["rmse"], 1.0, ">=",
              "same setting, all supra-threshold neurons fire (must be pathological)"),
    ]
    extras = {"n_spikes_loss_check": n_spikes, "box_max_error": box["max_abs"],
              "box_bound": box["bound"], "spikes_one": one["n_spikes"], "spikes_all": allf["n_spikes"]}
    return checks, extras
