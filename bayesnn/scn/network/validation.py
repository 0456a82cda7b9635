"""Fast spike-coding-network checks for ``bayesnn validate --scenario scn``.

:func:`scn_scenario` (the registered scenario) returns the checks of
:func:`scn_checks` with two figures (the 1-D integrator's readout, error inside the
bounding box and raster sorted by decoder direction; the 2-D autoencoder's readout,
raster and voltage against its closed form with the residual) and the runs as traces.
"""
from __future__ import annotations

import warnings

import numpy as np

from bayesnn.core import next_power_of_two, spike_arrays
from bayesnn.report import Check, Progress, ScenarioResult, silent
from bayesnn.scn.network import experiments as ex
from bayesnn.scn.network.params import (
    DriveMarginWarning, closed_form_voltage, instantaneous_loss, make_autoencoder,
    random_decoder,
)
from bayesnn.scn.network.results import target_at
from bayesnn.scn.network.simulation import simulate
from bayesnn.scn.network.targets import autoencoder_input


def _loss_and_voltage(seed: int, n: int) -> tuple[float, float, int, dict]:
    N, dt, lam = 30, 1e-4, 10.0
    net = make_autoencoder(random_decoder(2, N, 0.2, seed=seed), lam, mu=1e-5, nu=1e-4, dt=dt)
    t = np.arange(n + 1) * dt
    x = np.stack([np.sin(2 * np.pi * 2 * t), np.cos(2 * np.pi * 3 * t)], 1)
    res = simulate(net, autoencoder_input(x, dt, lam), key=seed, x0=x[0],
                   record_voltages=tuple(range(N)), record_rates=tuple(range(N)))
    r_post = np.asarray(res.rates)
    closed_form = closed_form_voltage(net, target_at(res, x), r_post)
    v_res = float(np.max(np.abs(np.asarray(res.voltages) - closed_form)))
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
    data = {"net": net, "result": res, "target": target_at(res, x),
            "closed_form": np.asarray(closed_form)}
    return worst, v_res, int(times.size), data


def scn_checks(seed: int = 0, quick: bool = True) -> tuple[list[Check], dict]:
    """Per-spike loss identity, voltage closed form, bounding box, ping-pong (T1-T3, T5)."""
    checks, extras, _ = _scn_run(seed, quick)
    return checks, extras


def _scn_run(seed: int, quick: bool, progress: Progress = silent
             ) -> tuple[list[Check], dict, dict]:
    n = 3000 if quick else 10000
    progress("scn: per-spike loss identity and voltage closed form (2-D autoencoder)")
    loss_res, v_res, n_spikes, autoencoder = _loss_and_voltage(seed, n)
    duration = 1.0 if quick else 1.5
    progress("scn: bounding box and ping-pong (1-D integrator)")
    box = ex.fig1c_integrator("one", lambda_v=0.0, sigma_v=0.0, duration=duration, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DriveMarginWarning)
        one = ex.fig1c_integrator("one", duration=duration, seed=seed)
        # "all" stores its ping-pong spikes (~1.7e6 per s): sized up front, no rerun
        allf = ex.fig1c_integrator("all", duration=duration, seed=seed,
                                   capacity=next_power_of_two(int(duration * 1.7e6)))
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
    return checks, extras, {"autoencoder": autoencoder, "box": box}


def _prefixed(dataset, prefix: str):
    """``dataset`` with every variable, coordinate and dim renamed ``prefix + name``
    (two runs in one NetCDF file)."""
    names = set(dataset.variables) | set(dataset.dims)
    return dataset.rename({name: prefix + name for name in names})


def _traces(data: dict, seed: int, quick: bool):
    box, auto = data["box"], data["autoencoder"]
    result = box["data"]["result"]
    traces = result.to_xarray(attrs={"scenario": "scn", "seed": seed, "quick": int(quick),
                                     "run": "1-D integrator, bounding box (lambda_v = 0, "
                                            "sigma_v = 0)", "box_bound": box["bound"]})
    traces["target"] = (("time", "dim"), np.asarray(box["data"]["target"]))
    traces["target"].attrs.update(units="x", description="target x at the record times")
    ae = auto["result"].to_xarray(attrs={})
    ae["target"] = (("time", "dim"), np.asarray(auto["target"]))
    ae["voltage_closed_form"] = (("time", "voltage_neuron"), auto["closed_form"])
    ae["voltage_closed_form"].attrs.update(
        units="x", description="Gamma^T (x - Gamma r~) - mu lambda_d^2 r~ (closed form)")
    return traces.merge(_prefixed(ae, "autoencoder_"), combine_attrs="drop_conflicts")


def _figures(data: dict, seed: int, quick: bool) -> dict:
    from bayesnn.scn.network.plotting import plot_autoencoder_run, plot_box_run
    from bayesnn.style import describe

    box, auto = data["box"], data["autoencoder"]
    result, net = box["data"]["result"], box["data"]["net"]
    times, senders, _ = spike_arrays(result.spikes)
    caption = describe(N=int(net.Gamma.shape[1]), dt=(float(net.dt), "s"),
                       duration=(float(np.asarray(result.times)[-1]), "s"), seed=seed)
    figures = {"integrator_box": plot_box_run(
        result.times, result.readout, box["data"]["target"], box["bound"], times, senders,
        net.Gamma, caption=f"lambda_v = 0, sigma_v = 0, {caption}")}
    result, net = auto["result"], auto["net"]
    times, senders, _ = spike_arrays(result.spikes)
    figures["autoencoder"] = plot_autoencoder_run(
        result.times, result.readout, auto["target"], times, senders, net.Gamma,
        np.asarray(result.voltages)[:, 0], auto["closed_form"][:, 0],
        caption=describe(N=int(net.Gamma.shape[1]), D=2, dt=(float(net.dt), "s"),
                         duration=(float(np.asarray(result.times)[-1]), "s"), seed=seed))
    return figures


def scn_scenario(*, seed: int = 0, quick: bool = True, progress: Progress = silent,
                 figures: bool = True) -> ScenarioResult:
    """``bayesnn validate --scenario scn``: the checks of :func:`scn_checks`, their
    figures and traces (module docstring). ``quick``: 0.3 s autoencoder and 1 s
    integrator runs (else 1 s and 1.5 s)."""
    checks, numbers, data = _scn_run(seed, quick, progress)
    built = _figures(data, seed, quick) if figures else {}
    return ScenarioResult("scn", checks, numbers, built, _traces(data, seed, quick))


__all__ = ["scn_checks", "scn_scenario"]
