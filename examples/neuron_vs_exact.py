"""Bayesian neuron vs exact Bayes: how close do the spikes come?

Runs Denève's neuron on one trial of the default scenario with each integrator, and
prints, against the exact continuous-time filter: time-averaged KL divergence of the
neuron's posterior sigmoid(L) and of the decoded posterior sigmoid(G), log-loss
against the true hidden state, output rate. Saves a figure of the first seconds.

    python examples/neuron_vs_exact.py --duration 20 --out neuron_vs_exact.png
"""
from __future__ import annotations

import argparse

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from bayesnn import processes  # noqa: E402
from bayesnn.exact.mmpp import mmpp_filter  # noqa: E402
from bayesnn.metrics import log_loss, mean_kl  # noqa: E402
from bayesnn.neuron import NeuronParams, simulate, spikes_of  # noqa: E402
from bayesnn.plotting import plot_neuron_trial  # noqa: E402


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="trial length, s")
    parser.add_argument("--dt", type=float, default=1e-3, help="comparison grid and bin width, s")
    parser.add_argument("--g0", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="PNG path for the figure")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    params = NeuronParams(2.0, 2.0, rng.uniform(5, 30, 20), rng.uniform(5, 30, 20), args.g0)
    trial = processes.sample_trial(jax.random.PRNGKey(args.seed), params.r_on, params.r_off,
                                   params.q_on, params.q_off, args.duration)
    grid = args.dt * np.arange(1, int(round(args.duration / args.dt)) + 1)
    states = np.asarray(processes.state_at(trial.initial_state, trial.switch_times, grid))
    exact = np.asarray(mmpp_filter(params.r_on, params.r_off, params.q_on, params.q_off,
                                   trial.spike_times, trial.spike_channels, args.duration,
                                   grid).log_odds)
    rows = {}
    print(f"{'method':10s} {'KL(exact||L)':>13s} {'KL(exact||G)':>13s} {'log-loss L':>11s} "
          f"{'log-loss G':>11s} {'rate (Hz)':>10s}")
    for method in ("exact", "discrete", "euler"):
        run = simulate(params, trial, method, dt=args.dt, duration=args.duration)
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
            times, counts = spikes_of(run)
            figure = plot_neuron_trial(grid, states, trial.spike_times, trial.spike_channels,
                                       exact, log_odds, prediction, times, counts, params.g0,
                                       window=(0.0, min(args.duration, 5.0)))
            figure.savefig(args.out, dpi=120)
    print(f"exact log-loss {log_loss(exact, states):.4f} nats")
    return rows


if __name__ == "__main__":
    main()
