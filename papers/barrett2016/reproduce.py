"""Reproduce the claims of Barrett, Denève & Machens (2016), "Optimal compensation for
neuron loss" (eLife 5:e12454): a spike-coding network compensates for the loss of
neurons instantly, without plasticity, until the remaining decoders no longer cover the
signal (the recovery boundary).

    python papers/barrett2016/reproduce.py --out out/barrett2016
    python papers/barrett2016/reproduce.py --out /tmp/small --small   # tests

1. Fig. 2: the E/I (Dale's law) network, E neurons 1-60 then neurons 86-100 (I 6-20)
   knocked out (parameters of the authors' Figure2.m, in seconds): the readout keeps
   tracking, the surviving E neurons raise their rates, E and I inputs stay correlated.
2. Fig. 3-like: a 2-D autoencoder of N = 32 neurons with decoders around the circle
   (costs and thresholds of Figure3.m); the last N/4, then the last N/2 decoder directions
   knocked out: no loss after the first (the others cover), a loss confined to the
   signal directions left without decoders after the second.

Writes ei_knockout.png, circle_knockout.png (bayesnn.style), results.json and both runs
as NetCDF. The README's table quotes results.json.
"""
from __future__ import annotations

import argparse
import json
import pathlib

import bayesnn

bayesnn.enable_x64()

import numpy as np  # noqa: E402

from bayesnn import io, style  # noqa: E402
from bayesnn.core import spike_arrays  # noqa: E402
from bayesnn.plotting import save_figure  # noqa: E402
from bayesnn.scn import (  # noqa: E402
    autoencoder_input, barrett_signal, circular_decoder, dale_rates, make_autoencoder,
    make_dale_network, make_perturbations, simulate, simulate_dale, target_at,
)
from bayesnn.scn.network import metrics, plotting  # noqa: E402

SEED = 0


def ei_network(out: pathlib.Path, small: bool) -> dict:
    """Fig. 2: knock-outs of E 1-60 and of neurons 86-100 (indices from 0 here)."""
    net = make_dale_network(seed=SEED)
    dt, lam = float(net.dt), float(net.lambda_)
    duration, ko_e, ko_i = (3.0, 1.8, 2.6) if small else (5.0, 3.0, 4.0)
    x = barrett_signal(duration, dt)
    knock_outs = make_perturbations(net, silence=[*range(60), *range(85, 100)],
                                    silence_time=[ko_e] * 60 + [ko_i] * 15)
    every, shown = 20, (70, 90)
    result = simulate_dale(net, autoencoder_input(x, dt, lam), key=SEED,
                           perturbations=knock_outs, x0=x[0], record_neurons=shown,
                           record_every=every)
    io.write_netcdf(out / "ei_knockout.nc", result.to_xarray(
        attrs={"paper": "Barrett et al. 2016 Fig. 2", "seed": SEED, "ko_e_s": ko_e, "ko_i_s": ko_i}))
    t = np.asarray(result.times)
    target = target_at(result, x)[:, 0]
    readout_e, readout_i = np.asarray(result.readout_e)[:, 0], np.asarray(result.readout_i)[:, 0]
    # windows away from the signal's steps (0.8, 1.4, 2.4 s) and the knock-outs
    windows = ({"before": (1.5, ko_e), "after_e_ko": (ko_e + 0.1, 2.4), "after_i_ko": (ko_i + 0.1, 3.0)}
               if small else
               {"before": (2.5, ko_e), "after_e_ko": (ko_e + 0.2, ko_i), "after_i_ko": (ko_i + 0.2, 5.0)})
    survivors = np.arange(60, net.n_e)
    summary = {"ko_e_s": ko_e, "ko_i_s": ko_i, "kernel_max_de": float(np.max(net.DE))}
    for name, (a, b) in windows.items():
        sel = (t >= a) & (t < b)
        rates_e, rates_i = dale_rates(result, net, a, b)
        summary[name] = {
            "window_s": [a, b],
            "rmse_e": float(np.sqrt(np.mean((target - readout_e)[sel] ** 2))),
            "max_abs_e": float(np.max(np.abs(target - readout_e)[sel])),
            "rate_surviving_e_hz": float(rates_e[survivors].mean()),
            "rate_active_i_hz": float(rates_i[rates_i > 0].mean()) if np.any(rates_i > 0) else 0.0,
        }
    corr = metrics.ei_correlation(np.asarray(result.currents_e), np.asarray(result.currents_i),
                                  smooth_steps=20)
    summary["ei_current_correlation"] = dict(zip(map(str, shown), map(float, corr)))
    save_figure(_ei_figure(net, result, t, target, readout_e, readout_i, ko_e, ko_i, duration),
                out / "ei_knockout.png")
    return summary


@style.styled
def _ei_figure(net, result, t, target, readout_e, readout_i, ko_e, ko_i, duration):
    times, senders, _ = spike_arrays(result.spikes)
    inhibitory = senders >= net.n_e
    figure = style.figure(11, 9)
    top, raster, currents = figure.subplots(3, 1, sharex=True, height_ratios=[1.2, 1.3, 1])
    top.plot(t, target, color=style.COLORS["exact"], lw=2, label="signal x")
    top.plot(t, readout_e, color=style.COLORS["model"], lw=1, label="E readout DE rE")
    top.plot(t, readout_i, color=style.COLORS["decoded"], lw=1, label="I readout DE DI rI")
    top.set_ylabel(style.label("x", "units of x"))
    style.legend_outside(top)
    raster.scatter(times, np.where(inhibitory, senders + 5, senders), s=8, marker="|",
                   c=np.where(inhibitory, "tab:red", "k"))
    raster.set_ylabel("neuron\n(E 0-79, I above)")
    box = np.ones(20) / 20  # 20 ms boxcar for display (records every 1 ms)
    smooth = lambda a: np.convolve(np.asarray(a)[:, 0], box, "same")
    plotting.plot_ei_currents(currents, t, smooth(result.currents_e), smooth(result.currents_i))
    currents.set_ylabel("inputs of E neuron 70\n(voltage units per s)")
    for axis in (top, raster, currents):
        axis.axvline(ko_e, color="tab:red", ls="--", lw=1.2)
        axis.axvline(ko_i, color="tab:red", ls=":", lw=1.2)
    style.caption(figure, f"E/I network: E 1-60 lost at {ko_e:g} s (dashed), neurons 86-100 at "
                  f"{ko_i:g} s (dotted)", style.describe(NE=80, NI=20, dt=(float(net.dt), "s"),
                                                         duration=(duration, "s"), seed=SEED))
    return figure


def circle_network(out: pathlib.Path, small: bool) -> dict:
    """Fig. 3-like: N = 32 decoders around the circle, the last N/4 then the last N/2
    knocked out; x rotates once per second so every window sees every direction."""
    n, dt, lam = 32, 1e-4, 10.0
    beta_quad, beta_lin = 0.05 / n**2, 0.15 / n**2       # Figure3.m, r~ units
    gamma = circular_decoder(n, 1.0 / n)
    net = make_autoencoder(gamma, lam, mu=beta_quad / lam**2, nu=beta_lin / lam,
                           sigma_v=0.05 / n**2 * np.sqrt(100.0), dt=dt)
    duration, ko_quarter, ko_half = (3.0, 1.0, 2.0) if small else (9.0, 3.0, 6.0)
    t = dt * np.arange(int(round(duration / dt)) + 1)
    x = 0.5 * np.stack([np.cos(2 * np.pi * t), np.sin(2 * np.pi * t)], axis=1)
    knock_outs = make_perturbations(net, silence=np.arange(n // 2, n),
                                    silence_time=[ko_quarter if i >= 3 * n // 4 else ko_half
                                                  for i in range(n // 2, n)])
    result = simulate(net, autoencoder_input(x, dt, lam), key=SEED, x0=x[0],
                      perturbations=knock_outs, record_every=10)
    io.write_netcdf(out / "circle_knockout.nc", result.to_xarray(
        attrs={"paper": "Barrett et al. 2016 Fig. 3-like", "seed": SEED}))
    times = np.asarray(result.times)
    target = target_at(result, x)
    error = np.linalg.norm(np.asarray(result.readout) - target, axis=1)
    angle = np.mod(np.arctan2(target[:, 1], target[:, 0]), 2 * np.pi)
    directions = np.mod(np.arctan2(gamma[1], gamma[0]), 2 * np.pi)
    # the last N/2 decoders point into [pi, 2 pi): after the second knock-out no decoder
    # points into the lower half-plane; "covered" keeps a margin of one decoder spacing
    spacing = 2 * np.pi / n
    covered = (angle > spacing) & (angle < np.pi - spacing)
    uncovered = (angle > np.pi + spacing) & (angle < 2 * np.pi - spacing)
    windows = {"before": (0.2, ko_quarter), "after_quarter": (ko_quarter + 0.1, ko_half),
               "after_half": (ko_half + 0.1, duration)}
    senders = spike_arrays(result.spikes)[1]
    spike_times = spike_arrays(result.spikes)[0]
    summary = {"n_neurons": n, "ko_quarter_s": ko_quarter, "ko_half_s": ko_half,
               "decoder_directions_rad": directions.tolist(),
               "signal_amplitude": 0.5}
    for name, (a, b) in windows.items():
        sel = (times >= a) & (times < b)
        active = (spike_times >= a) & (spike_times < b)
        counts = np.bincount(senders[active], minlength=n) / (b - a)
        summary[name] = {
            "window_s": [a, b],
            "rmse": float(np.sqrt(np.mean(error[sel] ** 2))),
            "rmse_signal_in_upper_half": float(np.sqrt(np.mean(error[sel & covered] ** 2))),
            "rmse_signal_in_lower_half": float(np.sqrt(np.mean(error[sel & uncovered] ** 2))),
            "mean_rate_first_quarter_hz": float(counts[: n // 4].mean()),
            "mean_rate_second_quarter_hz": float(counts[n // 4: n // 2].mean()),
            "mean_rate_third_quarter_hz": float(counts[n // 2: 3 * n // 4].mean()),
        }
    save_figure(_circle_figure(net, result, times, target, error, ko_quarter, ko_half, duration),
                out / "circle_knockout.png")
    return summary


@style.styled
def _circle_figure(net, result, times, target, error, ko_quarter, ko_half, duration):
    spike_times, senders, _ = spike_arrays(result.spikes)
    figure = style.figure(11, 9)
    top, raster, bottom = figure.subplots(3, 1, sharex=True, height_ratios=[1.2, 1.3, 1])
    plotting.plot_readout(top, times, result.readout, target)
    top.set_xlabel("")
    plotting.raster_by_direction(raster, spike_times, senders, net.Gamma)
    raster.set_xlabel("")
    bottom.plot(times, error, color=style.COLORS["model"], lw=0.8, label="||x_hat - x||")
    bottom.set_ylabel(style.label("error", "units of x"))
    bottom.set_xlabel(style.label("time", "s"))
    style.legend_outside(bottom)
    for axis in (top, raster, bottom):
        axis.axvline(ko_quarter, color="tab:red", ls="--", lw=1.2)
        axis.axvline(ko_half, color="tab:red", ls=":", lw=1.2)
    style.caption(figure, f"Decoders around the circle: last N/4 lost at {ko_quarter:g} s "
                  f"(dashed), last N/2 at {ko_half:g} s (dotted)",
                  style.describe(N=32, D=2, dt=(float(net.dt), "s"), duration=(duration, "s"),
                                 seed=SEED))
    return figure


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for figures and results.json")
    parser.add_argument("--small", action="store_true", help="reduced durations (tests)")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {"small": bool(args.small), "seed": SEED,
               "ei_network": ei_network(out, args.small),
               "circle": circle_network(out, args.small)}
    (out / "results.json").write_text(json.dumps(io.jsonable(results), indent=2))
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2, default=float))
