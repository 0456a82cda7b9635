"""Regenerate B13-like results: integrator, 2-D autoencoder, damped oscillator, neuron
loss, E/I balance, error scaling with N, and the E/I (Dale's law) network of Barrett,
Denève & Machens 2016 Fig. 2 with its knock-outs. Writes PNGs, results.json and the
integrator and E/I runs as NetCDF (``result.to_xarray()``) to --out.

    python papers/boerlin2013/reproduce.py --out out/boerlin2013 [--small]

``--small`` uses the sizes of the tests (tests/test_scn_*.py) so that, run in the same
pytest process, it reuses their compiled simulations.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import warnings

import bayesnn

bayesnn.enable_x64()

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bayesnn import io  # noqa: E402
from bayesnn.core import spike_arrays  # noqa: E402
from bayesnn.scn.network import experiments as ex  # noqa: E402
from bayesnn.scn.network import metrics, plotting  # noqa: E402
from bayesnn.scn import (  # noqa: E402
    DriveMarginWarning, autoencoder_input, barrett_signal, circular_decoder, dale_rates,
    make_autoencoder, make_dale_network, make_perturbations, simulate, simulate_dale,
    target_at,
)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--small", action="store_true", help="reduced sizes (tests)")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    small = args.small
    results = {}

    # 1. integrator (Fig. 1C-like)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DriveMarginWarning)
        integ = ex.fig1c_integrator("one", n_neurons=400, duration=1.5, chunk_steps=1500)
    res = integ["data"]["result"]
    io.write_netcdf(out / "integrator.nc", res.to_xarray(attrs={"figure": "B13 Fig. 1C-like"}))
    t, s, _ = spike_arrays(res.spikes)
    fig, axes = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    plotting.plot_readout(axes[0], np.asarray(res.times), np.asarray(res.readout), integ["data"]["target"])
    plotting.raster_by_direction(axes[1], t, s, np.asarray(integ["data"]["net"].Gamma))
    fig.savefig(out / "integrator.png", dpi=100)
    plt.close(fig)
    results["integrator"] = {k: integ[k] for k in ("rmse", "max_abs", "n_spikes", "bound")}

    # 2. 2-D autoencoder with circular kernels
    N, dt, lam = (40 if small else 100), 1e-4, 10.0
    n = int((1.0 if small else 3.0) / dt)
    tt = np.arange(n + 1) * dt
    x = np.stack([np.sin(2 * np.pi * tt), 0.7 * np.cos(2 * np.pi * 1.5 * tt)], 1)
    net = make_autoencoder(circular_decoder(N, 0.1), lam, mu=1e-6, nu=1e-5, sigma_v=1e-3, dt=dt)
    res = simulate(net, autoencoder_input(x, dt, lam), key=0, x0=x[0], record_voltages=(0,),
                   record_currents=True, track_balance=True)
    t, s, _ = spike_arrays(res.spikes)
    target = target_at(res, x)
    fig, axes = plt.subplots(3, 1, figsize=(7, 7), sharex=True)
    plotting.plot_readout(axes[0], np.asarray(res.times), np.asarray(res.readout), target)
    plotting.raster_by_direction(axes[1], t, s, np.asarray(net.Gamma))
    plotting.plot_ei_currents(axes[2], np.asarray(res.times), np.asarray(res.currents_e)[:, 0],
                              np.asarray(res.currents_i)[:, 0])
    fig.savefig(out / "autoencoder_2d.png", dpi=100)
    plt.close(fig)
    err = metrics.readout_errors(np.asarray(res.readout), target, skip=1000)
    rates = metrics.firing_rates(t, s, N, 0.1, n * dt)
    results["autoencoder_2d"] = {**err, "mean_rate_hz": float(rates.mean()),
                                 "median_cv": float(np.nanmedian(metrics.isi_cv(t, s, N)))}

    # 3. damped oscillator vs exact LDS
    osc = ex.damped_oscillator(n_neurons=100, duration=1.5 if small else 2.0)
    fig, ax = plt.subplots(figsize=(7, 3))
    plotting.plot_readout(ax, osc["times"], osc["readout"], osc["target"])
    fig.savefig(out / "damped_oscillator.png", dpi=100)
    plt.close(fig)
    results["damped_oscillator"] = {k: osc[k] for k in ("rmse", "max_abs", "max_abs_target")}

    # 4. neuron loss (Calaim 2022 "Biological" set)
    dur = 2.0 if small else 3.0
    run = ex.biological(M=3, rho=10, duration=dur, silence="half", silence_time=0.4 + dur / 2)
    before = ex.window_stats(run, 0.5, 0.4 + dur / 2)
    after = ex.window_stats(run, 0.5 + dur / 2, 0.4 + dur)
    fig, axes = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    plotting.plot_readout(axes[0], run["times"], run["readout"], run["x"])
    plotting.raster_by_direction(axes[1], run["spike_times"], run["senders"], run["G"])
    for ax in axes:
        ax.axvline(0.4 + dur / 2, color="r")
    fig.savefig(out / "neuron_loss.png", dpi=100)
    plt.close(fig)
    results["neuron_loss"] = {"median_error_before": before["median_error"],
                              "median_error_after": after["median_error"],
                              "median_cv_before": before["median_cv"],
                              "median_rate_before": before["median_rate"]}

    # 5. E/I balance vs redundancy
    bal = {}
    for rho in ((2.5, 50) if small else (2.5, 5, 10, 25, 50)):
        r = ex.biological(M=2, rho=rho, duration=1.0, track_balance=True)
        b = metrics.balance_index(np.asarray(r["result"].e_input), np.asarray(r["result"].i_input))
        bal[str(rho)] = float(np.nanmedian(np.abs(b)))
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.semilogx([float(k) * 2 for k in bal], list(bal.values()), "o-")
    ax.set_xlabel("N (M = 2)")
    ax.set_ylabel("median |(E - I)/(E + I)|")
    fig.savefig(out / "ei_balance.png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    results["ei_balance_median_abs_b"] = bal

    # 6. error scaling with N
    sc = ex.autoencoder_scaling(ns=(20, 40, 80) if small else (20, 40, 80, 160, 320),
                                duration=1.0 if small else 2.0)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.loglog(sc["n"], sc["rmse"], "o-", label=f"SCN (slope {sc['slope']:.2f})")
    ax.loglog(sc["n"], sc["quantisation"], "k--", label="|Gamma|/sqrt(12)")
    ax.loglog(sc["n"], sc["rmse_poisson"], "s-", label=f"Poisson (slope {sc['slope_poisson']:.2f})")
    ax.set_xlabel("N")
    ax.set_ylabel("RMSE")
    ax.legend(fontsize="small")
    fig.savefig(out / "error_scaling.png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    results["error_scaling"] = sc

    # 7. E/I (Dale's law) network, Barrett 2016 Fig. 2: knock-out of E neurons 1-60,
    # then of neurons 86-100 (I neurons 6-20); indices from 0 here
    results["dale"] = dale_figure(out, small)

    (out / "results.json").write_text(json.dumps(results, indent=2, default=float))
    return results


def dale_figure(out: pathlib.Path, small: bool) -> dict:
    """Barrett 2016 Fig. 2 (5 s, knock-outs at 3 s and 4 s); ``small``: the first 3 s of
    the signal with knock-outs at 1.8 s and 2.6 s (the test's compiled shape)."""
    net = make_dale_network(seed=0)
    dt, lam = float(net.dt), float(net.lambda_)
    duration, ko_e, ko_i = (3.0, 1.8, 2.6) if small else (5.0, 3.0, 4.0)
    x = barrett_signal(duration, dt)
    knock_outs = make_perturbations(net, silence=[*range(60), *range(85, 100)],
                                    silence_time=[ko_e] * 60 + [ko_i] * 15)
    every, shown = 20, (70, 90)
    res = simulate_dale(net, autoencoder_input(x, dt, lam), key=0, perturbations=knock_outs,
                        x0=x[0], record_neurons=shown, record_every=every, chunk_steps=2000)
    io.write_netcdf(out / "dale_ei.nc", res.to_xarray(attrs={"figure": "Barrett 2016 Fig. 2"}))
    t = np.asarray(res.times)
    xt = target_at(res, x)[:, 0]
    xe, xi = np.asarray(res.readout_e)[:, 0], np.asarray(res.readout_i)[:, 0]
    times, senders, _ = spike_arrays(res.spikes)
    inhib = senders >= net.n_e
    # windows away from the signal's steps (0.8, 1.4, 2.4 s) and the knock-outs
    windows = ({"before": (1.5, ko_e), "after_e_ko": (ko_e + 0.1, 2.4), "after_i_ko": (ko_i + 0.1, 3.0)}
               if small else
               {"before": (2.5, ko_e), "after_e_ko": (ko_e + 0.2, ko_i), "after_i_ko": (ko_i + 0.2, 5.0)})
    survivors_e = np.arange(60, net.n_e)
    summary = {}
    for name, (a, b) in windows.items():
        sel = (t >= a) & (t < b)
        rates_e, rates_i = dale_rates(res, net, a, b)
        summary[name] = {
            "window_s": [a, b],
            "rmse_e": float(np.sqrt(np.mean((xt - xe)[sel] ** 2))),
            "max_abs_e": float(np.max(np.abs(xt - xe)[sel])),
            "max_abs_e_minus_i": float(np.max(np.abs(xe - xi)[sel])),
            "rate_surviving_e_hz": float(rates_e[survivors_e].mean()),
            "rate_active_i_hz": float(rates_i[rates_i > 0].mean()) if np.any(rates_i > 0) else 0.0,
        }
    corr = metrics.ei_correlation(np.asarray(res.currents_e), np.asarray(res.currents_i), smooth_steps=20)
    summary["ei_current_correlation"] = dict(zip(map(str, shown), map(float, corr)))
    summary["kernel_max_de"] = float(np.max(net.DE))

    fig, axes = plt.subplots(3, 1, figsize=(7, 7), sharex=True)
    axes[0].plot(t, xt, "k", lw=1.5, label="x")
    axes[0].plot(t, xe, "C0", lw=1, label="E readout DE rE")
    axes[0].plot(t, xi, "C3", lw=1, label="I readout DE DI rI")
    axes[0].legend(fontsize="small")
    rank = np.where(inhib, senders + 5, senders)
    axes[1].scatter(times, rank, s=2, c=np.where(inhib, "C3", "k"), marker="|")
    axes[1].set_ylabel("neuron (E, then I)")
    box = np.ones(20) / 20  # 20 ms boxcar for display
    smooth = lambda a: np.convolve(np.asarray(a)[:, 0], box, "same")
    plotting.plot_ei_currents(axes[2], t, smooth(res.currents_e), smooth(res.currents_i))
    axes[2].set_title(f"E neuron {shown[0]}: inputs (20 ms boxcar)", fontsize="small")
    for ax in axes:
        ax.axvline(ko_e, color="r", ls="--")
        ax.axvline(ko_i, color="r", ls=":")
    fig.savefig(out / "dale_ei.png", dpi=100)
    plt.close(fig)
    return summary


if __name__ == "__main__":
    main()
