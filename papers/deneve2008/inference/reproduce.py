"""Reproduce the inference claims of Denève (2008), "Bayesian spiking neurons I:
Inference" (and its NIPS 2004 version): log-odds tracking, output rate x g0 constant,
ISI distribution and Fano factor, decoding from the output spikes.

    python papers/deneve2008/inference/reproduce.py --out out/deneve2008_inference
    python papers/deneve2008/inference/reproduce.py --out /tmp/small --small   # tests

Writes tracking.png, rate_vs_g0.png, isi.png, decoding.png (bayesnn.style), results.json
and the tracking trial as NetCDF (tracking.nc). The README's table quotes results.json.
"""
from __future__ import annotations

import argparse
import json
import pathlib

import bayesnn

bayesnn.enable_x64()  # the exactness claims are float64

import numpy as np  # noqa: E402

from bayesnn import io, neuron, processes, style  # noqa: E402
from bayesnn.core import spike_arrays  # noqa: E402
from bayesnn.exact import mmpp_filter  # noqa: E402
from bayesnn.metrics import bernoulli_kl, expand_counts, fano_factor, isi_cv, mean_kl  # noqa: E402
from bayesnn.plotting import plot_neuron_trial, save_figure  # noqa: E402

SEED = 0
G0_VALUES = (0.5, 1.0, 2.0, 4.0)


def setting_a(g0: float = 1.0) -> neuron.NeuronParams:
    """Setting A: N = 20 inputs, q_on, q_off ~ U(5, 30) Hz (NumPy seed 0), r_on = r_off
    = 2 Hz."""
    rng = np.random.default_rng(SEED)
    return neuron.NeuronParams(2.0, 2.0, rng.uniform(5, 30, 20), rng.uniform(5, 30, 20), g0)


def predicted_rate(params: neuron.NeuronParams) -> float:
    """[N04] Sec. 1.3: O = [I_on]^+ / g0 with I_on = sum_i w_i q_on_i - theta, the
    summed KL rate of the inputs in the ON state, Hz."""
    w, q_on = np.asarray(params.weights), np.asarray(params.q_on)
    return max(float(np.sum(w * q_on) - float(params.theta)), 0.0) / float(params.g0)


def tracking(out: pathlib.Path, duration: float) -> dict:
    """One trial: L against the exact filter, G decoded from the output spikes alone,
    output rate in the ON and OFF states."""
    params = setting_a(1.0)
    trial = processes.sample_trial(params, key=SEED, duration=duration)
    grid = 1e-3 * np.arange(1, int(round(duration / 1e-3)) + 1)
    run = neuron.simulate(params, trial.inputs, duration=duration, sample_times=grid)
    exact = np.asarray(mmpp_filter(params, trial.inputs, duration=duration,
                                   query_times=grid).log_odds)
    L, G = np.asarray(run.log_odds), np.asarray(run.prediction)
    decoded = neuron.decode_prediction(params, run.spikes, grid)
    states = np.asarray(trial.state_at(grid))
    times, _, counts = spike_arrays(run.spikes)
    spikes = expand_counts(times, counts)
    on_time = float(np.mean(states)) * duration
    in_on = np.asarray(trial.state_at(spikes)).astype(bool) if spikes.size else np.zeros(0, bool)
    caption = style.describe(N=20, r_on=(2.0, "Hz"), r_off=(2.0, "Hz"), g0=(1.0, "nats"),
                             duration=(duration, "s"), seed=SEED)
    save_figure(plot_neuron_trial(grid, states, trial.inputs, exact, L, G, run.spikes, 1.0,
                                  window=(0.0, min(duration, 5.0)), caption=caption),
                out / "tracking.png")
    dataset = run.to_xarray(attrs={"paper": "Denève 2008 I", "seed": SEED})
    dataset["exact_log_odds"] = ("time", exact)
    dataset["exact_log_odds"].attrs.update(units="nats", description="exact posterior log-odds")
    io.write_netcdf(out / "tracking.nc", dataset)
    return {"duration_s": duration,
            "max_abs_L_minus_exact_nats": float(np.max(np.abs(L - exact))),
            "max_abs_G_decoded_minus_G_nats": float(np.max(np.abs(decoded - G))),
            "max_L_minus_G_minus_half_g0_nats": float(np.max(L - G) - 0.5),
            "rate_on_hz": float(np.sum(in_on)) / on_time,
            "rate_off_hz": float(np.sum(~in_on)) / (duration - on_time),
            "kl_exact_to_G_nats": mean_kl(exact, G)}


def clamped_statistics(duration: float) -> list[dict]:
    """x clamped to 1: output rate, rate x g0 against [N04]'s prediction, ISI CV and
    Fano factor (1 s windows), for each g0 (the same input spikes for every g0)."""
    rows = []
    trial = processes.sample_clamped(setting_a(), 1, key=SEED + 1, duration=duration)
    capacity = None  # the smallest g0 fires most: its buffer serves every g0 (one compile)
    for g0 in sorted(G0_VALUES):
        params = setting_a(g0)
        run = neuron.simulate(params, trial.inputs, duration=duration,
                              sample_times=np.array([duration]), capacity=capacity,
                              initial_log_odds=float(np.log(10.0)),
                              initial_prediction=float(np.log(10.0)))
        capacity = capacity or int(run.spikes.capacity)
        times, _, counts = spike_arrays(run.spikes)
        spikes = expand_counts(times, counts)
        steady = spikes[spikes > 1.0]  # the first second: L climbs from its start
        rate = steady.size / (duration - 1.0)
        rows.append({"g0": g0, "rate_hz": rate, "rate_times_g0": rate * g0,
                     "rate_over_prediction": rate / predicted_rate(params),
                     "predicted_rate_hz": predicted_rate(params),
                     "isi_cv": isi_cv(steady), "fano_factor_1s": fano_factor(steady - 1.0, duration - 1.0, 1.0),
                     "events_with_several_spikes": int(np.sum(counts > 1)),
                     "intervals": np.diff(steady)})
    return rows


def decoding(duration: float, n_trials: int) -> list[dict]:
    """KL(exact || sigmoid(G)) and output rate per g0 on sampled (unclamped) trials."""
    base = setting_a(1.0)
    data = neuron.simulate_grid(lambda g0: base.replace(g0=g0), {"g0": list(G0_VALUES)}, key=SEED + 2,
                        n_trials=n_trials, duration=duration, dt=1e-2)
    rows = []
    for g0 in G0_VALUES:
        point = data.sel(g0=g0)
        kl = bernoulli_kl(point["log_odds"].values, point["prediction"].values)  # (trials, S)
        state = point["state"].values.astype(bool)
        per_trial = kl.mean(axis=1)
        rate = float(point["spikes_count"].sum("spikes_event").mean("trial")) / duration
        rows.append({"g0": g0, "rate_hz": rate, "kl_mean_nats": float(np.mean(per_trial)),
                     "kl_sd_nats": float(np.std(per_trial, ddof=1)) if n_trials > 1 else 0.0,
                     "kl_when_x1_nats": float(np.mean(kl[state])),
                     "kl_when_x0_nats": float(np.mean(kl[~state]))})
    return rows


@style.styled
def rate_figure(rows, duration):
    g0 = np.array([row["g0"] for row in rows])
    figure = style.figure(12, 5)
    left, right = figure.subplots(1, 2)
    left.plot(g0, [row["rate_hz"] for row in rows], "o-", label="measured (x = 1)")
    left.plot(g0, [row["predicted_rate_hz"] for row in rows], "k--", label="[I_on]+ / g0")
    style.log_axes(left)
    left.set_xticks(g0, [f"{value:g}" for value in g0])
    left.set_xlabel(style.label("g0", "nats"))
    left.set_ylabel(style.label("output rate", "Hz"))
    style.legend_outside(left)
    right.plot(g0, [row["rate_times_g0"] for row in rows], "s-", label="rate x g0")
    right.set_ylim(0, 1.3 * max(row["rate_times_g0"] for row in rows))
    style.log_axes(right, y=False)
    right.set_xticks(g0, [f"{value:g}" for value in g0])
    right.set_xlabel(style.label("g0", "nats"))
    right.set_ylabel(style.label("rate x g0", "nats per s"))
    style.legend_outside(right)
    style.caption(figure, "Output rate is inversely proportional to g0 (x clamped to 1)",
                  style.describe(N=20, duration=(duration, "s"), seed=SEED + 1))
    return figure


@style.styled
def isi_figure(rows, duration):
    figure = style.figure(11, 5)
    axis = figure.subplots()
    for index, row in enumerate(rows):
        intervals = row["intervals"]
        if intervals.size < 10:
            continue
        mean = float(np.mean(intervals))
        edges = np.linspace(0.0, 5 * mean, 31)
        density, _ = np.histogram(intervals / mean, bins=edges / mean, density=True)
        centres = 0.5 * (edges[1:] + edges[:-1]) / mean
        axis.semilogy(centres, np.where(density > 0, density, np.nan), "o-", ms=4,
                      color=f"C{index}", label=f"g0 = {row['g0']:g}: CV {row['isi_cv']:.2f},\n"
                                            f"Fano {row['fano_factor_1s']:.2f}")
    grid = np.linspace(0, 5, 100)
    axis.semilogy(grid, np.exp(-grid), "k--", label="exponential\n(Poisson)")
    axis.set_xlabel("inter-spike interval / mean interval")
    axis.set_ylabel("probability density")
    style.legend_outside(axis)
    style.caption(figure, "ISI distributions are quasi-exponential (x clamped to 1)",
                  style.describe(N=20, duration=(duration, "s"), seed=SEED + 1))
    return figure


@style.styled
def decoding_figure(rows, duration, n_trials):
    figure = style.figure(10, 5)
    axis = figure.subplots()
    rates = [row["rate_hz"] for row in rows]
    axis.errorbar(rates, [row["kl_mean_nats"] for row in rows],
                  [row["kl_sd_nats"] for row in rows], marker="o", capsize=3,
                  color=style.COLORS["exact"], label=f"all times,\nmean +- sd over {n_trials} trials")
    axis.plot(rates, [row["kl_when_x1_nats"] for row in rows], "s-",
              color=style.COLORS["decoded"], label="while x = 1")
    axis.plot(rates, [row["kl_when_x0_nats"] for row in rows], "^-",
              color=style.COLORS["model"], label="while x = 0")
    for row in rows:
        axis.annotate(f"g0 = {row['g0']:g}", (row["rate_hz"], row["kl_when_x1_nats"]),
                      xytext=(5, 5), textcoords="offset points")
    style.log_axes(axis)
    axis.set_xlabel(style.label("output rate", "Hz"))
    axis.set_ylabel(style.label("KL(exact || sigmoid(G))", "nats"))
    style.legend_outside(axis)
    style.caption(figure, "Decoding the posterior from the output spikes",
                  style.describe(N=20, duration=(duration, "s"), seed=SEED + 2))
    return figure


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for figures and results.json")
    parser.add_argument("--small", action="store_true", help="reduced durations (tests)")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    track_s, clamp_s, decode_s, trials = (5.0, 20.0, 5.0, 2) if args.small else (60.0, 200.0, 60.0, 10)
    results = {"small": bool(args.small), "seed": SEED,
               "tracking": tracking(out, track_s)}
    rows = clamped_statistics(clamp_s)
    save_figure(rate_figure(rows, clamp_s), out / "rate_vs_g0.png")
    save_figure(isi_figure(rows, clamp_s), out / "isi.png")
    results["clamped"] = [{k: v for k, v in row.items() if k != "intervals"} for row in rows]
    products = np.array([row["rate_times_g0"] for row in rows])
    results["rate_times_g0_spread"] = float(np.ptp(products) / np.mean(products))
    results["decoding"] = decoding(decode_s, trials)
    save_figure(decoding_figure(results["decoding"], decode_s, trials), out / "decoding.png")
    (out / "results.json").write_text(json.dumps(io.jsonable(results), indent=2))
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2, default=float))
