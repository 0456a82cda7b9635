"""How much voltage noise a compensation experiment tolerates: the knock-out of
examples/02_scn_knockout.ipynb (a 2-D autoencoder, N = 40 decoders around the circle,
every other one silenced halfway; Barrett, Denève & Machens 2016) run at several
voltage-noise levels ``sigma_v`` and seeds.

    python papers/barrett2016/noise.py                       # the table in docs/scn.md
    python papers/barrett2016/noise.py --sigma 0 1e-3 --seeds 1 --duration 0.6   # tests

For each noise level it reports, as mean and range over seeds: the spikes of the intact
network relative to the noiseless one, the surviving neurons' rate (Hz) before and after
the knock-out, their ratio (the compensation), and the RMS readout error before and after
(units of x). The noise is also given as the stationary SD of the noise part of the
voltage, ``sigma_v / sqrt(2 lambda_v)`` (an Ornstein-Uhlenbeck process with the membrane
leak ``lambda_v``), relative to the threshold ``T``: the scale on which noise competes with
the error signal the network exists to track.

The windows match the notebook: "before" 0.1 s to the knock-out, "after" 50 ms after it to
the end. ``--json PATH`` writes the rows.
"""
from __future__ import annotations

import argparse
import json
import pathlib

import bayesnn

bayesnn.enable_x64()

import numpy as np  # noqa: E402

from bayesnn import scn  # noqa: E402
from bayesnn.core import spike_arrays  # noqa: E402

N_NEURONS, LAMBDA, DT, NORM = 40, 10.0, 1e-4, 0.1  # the notebook's network (s^-1, s, x)


def signal(duration: float) -> np.ndarray:
    """The notebook's 2-D target x(t), (T + 1, 2), units of x."""
    t = DT * np.arange(int(round(duration / DT)) + 1)
    return np.stack([np.sin(2 * np.pi * t), 0.7 * np.cos(2 * np.pi * 1.5 * t)], axis=1)


def knockout(sigma_v: float, seed: int, duration: float) -> dict:
    """One seed at one noise level: intact and knocked-out runs on the same key."""
    x = signal(duration)
    net = scn.make_autoencoder(scn.circular_decoder(N_NEURONS, NORM), LAMBDA, mu=1e-6,
                               nu=1e-5, sigma_v=sigma_v, dt=DT)
    half = duration / 2
    knocked = np.arange(0, N_NEURONS, 2)
    alive = np.setdiff1d(np.arange(N_NEURONS), knocked)
    drive = scn.autoencoder_input(x, DT, LAMBDA)
    result = scn.simulate(net, drive, key=seed, x0=x[0],
                          perturbations=scn.make_perturbations(net, silence=knocked,
                                                               silence_time=half))
    intact = scn.simulate(net, drive, key=seed, x0=x[0])
    times = np.asarray(result.times)
    error = np.linalg.norm(np.asarray(result.readout) - scn.target_at(result, x), axis=1)
    spike_times, senders, _ = spike_arrays(result.spikes)
    windows = {"before": (0.1, half), "after": (half + 0.05, duration)}
    row = {"sigma_v": sigma_v, "seed": seed,
           "intact_spikes": int(spike_arrays(intact.spikes)[0].size)}
    for name, (a, b) in windows.items():
        mine = np.isin(senders, alive) & (spike_times >= a) & (spike_times < b)
        row[f"survivor_rate_{name}_hz"] = float(mine.sum() / (b - a) / alive.size)
        inside = (times > a) & (times < b)
        row[f"rms_error_{name}"] = float(np.sqrt(np.mean(error[inside] ** 2)))
    threshold = float(np.asarray(net.thresholds)[0])
    row["noise_sd_over_threshold"] = sigma_v / np.sqrt(2 * LAMBDA) / threshold
    return row


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and range over seeds per noise level; spikes relative to sigma_v = 0."""
    quiet = {row["seed"]: row["intact_spikes"] for row in rows if row["sigma_v"] == 0.0}
    table = []
    for sigma in sorted({row["sigma_v"] for row in rows}):
        mine = [row for row in rows if row["sigma_v"] == sigma]
        entry = {"sigma_v": sigma, "noise_sd_over_threshold": mine[0]["noise_sd_over_threshold"],
                 "seeds": len(mine)}
        values = {"spikes_vs_noiseless": [row["intact_spikes"] / quiet[row["seed"]]
                                          for row in mine if row["seed"] in quiet],
                  "compensation": [row["survivor_rate_after_hz"] / row["survivor_rate_before_hz"]
                                   for row in mine]}
        for key in ("survivor_rate_before_hz", "survivor_rate_after_hz", "rms_error_before",
                    "rms_error_after"):
            values[key] = [row[key] for row in mine]
        for key, value in values.items():
            if value:
                entry[key] = (float(np.mean(value)), float(np.min(value)), float(np.max(value)))
        table.append(entry)
    return table


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sigma", type=float, nargs="+", default=[0.0, 1e-4, 3e-4, 1e-3],
                        help="voltage-noise levels sigma_v (per sqrt(s)); include 0")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0 .. seeds-1")
    parser.add_argument("--duration", type=float, default=3.0, help="run length, s")
    parser.add_argument("--json", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)
    if 0.0 not in args.sigma:
        parser.error("--sigma must include 0 (the noiseless reference)")
    if args.seeds < 1 or args.duration <= 0.2:
        parser.error("--seeds must be >= 1 and --duration > 0.2 s")
    rows = [knockout(sigma, seed, args.duration) for sigma in args.sigma
            for seed in range(args.seeds)]
    table = summarise(rows)
    fmt = lambda v, f: f"{v[0]:{f}} ({v[1]:{f}}-{v[2]:{f}})"  # noqa: E731
    print(f"knock-out of every other neuron at {args.duration / 2:g} s of {args.duration:g} s, "
          f"N = {N_NEURONS}, seeds 0-{args.seeds - 1}: mean (min-max)")
    print("sigma_v  noise SD/T  spikes vs 0       survivors before Hz  after Hz           "
          "after/before      RMS error before       after")
    for e in table:
        print(f"{e['sigma_v']:<8g} {e['noise_sd_over_threshold']:<11.3f} "
              f"{fmt(e['spikes_vs_noiseless'], '.2f'):17s} {fmt(e['survivor_rate_before_hz'], '.1f'):20s} "
              f"{fmt(e['survivor_rate_after_hz'], '.1f'):18s} {fmt(e['compensation'], '.2f'):17s} "
              f"{fmt(e['rms_error_before'], '.4f'):22s} {fmt(e['rms_error_after'], '.4f')}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "table": table}, indent=1))
    return table


if __name__ == "__main__":
    main()
