"""Alemi, Machens, Denève & Slotine 2018 (AAAI), reduced: a spike-coding network with
nonlinear dendritic features learns a nonlinear vector field with local rules.

    python papers/alemi2018/reproduce.py --out out/alemi2018           # ~1 min CPU
    python papers/alemi2018/reproduce.py --out out/alemi2018 --small   # tested

Learns the Van der Pol oscillator and a bistable system
(:func:`bayesnn.scn.dynamics.experiments.nonlinear_experiment`), measures the
vector-field error on the visited grid (uniform and occupancy-weighted), the best
error the same features reach by least squares, and the autonomous run (limit-cycle
period and amplitude; the well reached). Writes ``results.json`` and a phase-portrait
figure.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import jax

jax.config.update("jax_enable_x64", True)

from bayesnn.scn.dynamics.experiments import nonlinear_experiment  # noqa: E402
from bayesnn.scn.dynamics.plotting import plot_phase_portraits  # noqa: E402


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--small", action="store_true", help="reduced sizes (tests)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    scale = 0.05 if args.small else 1.0
    vdp = nonlinear_experiment("van_der_pol", n_neurons=50, n_per_dim=8, gamma_norm=0.1,
                               duration=40.0 * scale, learning_rate=30.0, amplitude=5.0,
                               test_duration=4.0, seed=args.seed)
    bi = nonlinear_experiment("bistable", n_neurons=50, n_per_dim=10, gamma_norm=0.03,
                              duration=80.0 * scale, learning_rate=100.0, amplitude=8.0,
                              seed=args.seed)
    keys = ("field_error", "weighted_field_error", "best_field_error", "grid_fraction",
            "period", "true_period", "amplitude", "true_amplitude", "final_state")
    numbers = {name: {k: run[k] for k in keys if k in run} for name, run in
               (("van_der_pol", vdp), ("bistable", bi))}
    for name, run in (("van_der_pol", vdp), ("bistable", bi)):
        numbers[name]["learning_s"] = float(run["learning"].times[-1])
        numbers[name]["neurons"] = run["params"].n_neurons
        numbers[name]["features"] = run["params"].n_features
    with open(os.path.join(args.out, "results.json"), "w") as handle:
        json.dump(numbers, handle, indent=2)
    print(json.dumps(numbers, indent=2))
    fig = plot_phase_portraits([
        ("Van der Pol", vdp["autonomous"].times, vdp["autonomous"].readout,
         vdp["autonomous"].target),
        ("bistable", bi["autonomous"].times, bi["autonomous"].readout, bi["autonomous"].target),
    ], caption="whole autonomous runs shown (4 s Van der Pol from (2, 0), 4 s bistable "
               "from 0.3)", seed=args.seed)
    fig.savefig(os.path.join(args.out, "alemi2018_phase_portraits.png"))
    return numbers


if __name__ == "__main__":
    main(sys.argv[1:])
