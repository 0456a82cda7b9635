"""Bayesian neuron vs exact Bayes: how close do the spikes come?

Runs Denève's neuron on one trial of the default scenario (N = 20 inputs, q_on, q_off
~ U(5, 30) Hz, r_on = 1 Hz, r_off = 3 Hz) with each integrator, and prints, against
the exact continuous-time filter: time-averaged KL divergence (nats) of the neuron's
posterior sigmoid(L) and of the decoded posterior sigmoid(G), log-loss (nats per
sample) against the true hidden state, output rate (Hz). Saves a figure of the first
seconds.

    python examples/neuron_vs_exact.py --duration 20 --out neuron_vs_exact.png
"""
from __future__ import annotations

import argparse

import numpy as np

import bayesnn

bayesnn.enable_x64()  # the exact filter refuses float32

from bayesnn import neuron, processes  # noqa: E402
from bayesnn.exact import mmpp_filter  # noqa: E402
from bayesnn.metrics import log_loss, mean_kl  # noqa: E402
from bayesnn.plotting import plot_neuron_trial, save_figure  # noqa: E402


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="trial length, s")
    parser.add_argument("--dt", type=float, default=1e-3, help="comparison grid and bin width, s")
    parser.add_argument("--g0", type=float, default=1.0, help="jump of G per output spike, nats")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rates and the trial")
    parser.add_argument("--out", default=None, help="PNG path for the figure")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    params = neuron.NeuronParams(r_on=1.0, r_off=3.0, q_on=rng.uniform(5, 30, 20),
                                 q_off=rng.uniform(5, 30, 20), g0=args.g0)
    trial = processes.sample_trial(params, key=args.seed, duration=args.duration)
    grid = args.dt * np.arange(1, int(round(args.duration / args.dt)) + 1)
    states = np.asarray(trial.state_at(grid))
    exact = np.asarray(mmpp_filter(params, trial.inputs, duration=args.duration,
                                   query_times=grid).log_odds)
    rows = {}
    print(f"{'method':10s} {'KL(exact||L)':>13s} {'KL(exact||G)':>13s} {'log-loss L':>11s} "
          f"{'log-loss G':>11s} {'rate (Hz)':>10s}")
    for method in neuron.ALL_METHODS:
        # "exact" records at multiples of dt; the stepped methods at the bin ends.
        run = neuron.simulate(params, trial.inputs, duration=args.duration, method=method,
                              dt=args.dt)
        log_odds, prediction = np.asarray(run.log_odds), np.asarray(run.prediction)
        rows[method] = {
            "kl_L": mean_kl(exact, log_odds),
            "kl_G": mean_kl(exact, prediction),
            "log_loss_L": log_loss(log_odds, states),
            "log_loss_G": log_loss(prediction, states),
            "rate_hz": float(run.spikes.n_spikes) / args.duration,
        }
        row = rows[method]
        print(f"{method:10s} {row['kl_L']:13.3e} {row['kl_G']:13.3e} {row['log_loss_L']:11.4f} "
              f"{row['log_loss_G']:11.4f} {row['rate_hz']:10.2f}")
        if method == "exact" and args.out:
            figure = plot_neuron_trial(grid, states, trial.inputs, exact, log_odds, prediction,
                                       run.spikes, args.g0, window=(0.0, min(args.duration, 5.0)))
            save_figure(figure, args.out)
    print(f"exact log-loss {log_loss(exact, states):.4f} nats")
    return rows


if __name__ == "__main__":
    main()
