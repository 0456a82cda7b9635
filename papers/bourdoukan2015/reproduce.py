"""Bourdoukan & Denève 2015 (NeurIPS 28), reduced: slow connections of a spike-coding
network learn linear dynamics from a fed-back error with a local rule.

    python papers/bourdoukan2015/reproduce.py --out out/bourdoukan2015           # ~1 min CPU
    python papers/bourdoukan2015/reproduce.py --out out/bourdoukan2015 --small   # tested

Learns the damped oscillator and a 3-D system from zero slow weights
(:func:`bayesnn.scn.dynamics.experiments.linear_experiment`), measures the distance of
the learned W_s to ``Gamma^T (A + lambda_d I) Gamma`` over learning and the autonomous
error against the exact solution beside the hand-set B13 network, knocks out 25 % of
the neurons and repairs by continued learning. Writes ``results.json`` and three
figures (weights, phase portraits, learning curves).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

from bayesnn.scn.dynamics.experiments import (  # noqa: E402
    DAMPED_OSCILLATOR, SYSTEM_3D, knockout_experiment, linear_experiment,
)
from bayesnn.scn.dynamics.plotting import (  # noqa: E402
    plot_learning_curves, plot_phase_portraits, plot_weights_vs_closed_form,
)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--small", action="store_true", help="reduced sizes (tests)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    scale = 0.05 if args.small else 1.0
    runs = {"damped_oscillator": linear_experiment(DAMPED_OSCILLATOR, n_neurons=20,
                                                   duration=100.0 * scale, seed=args.seed),
            "system_3d": linear_experiment(SYSTEM_3D, n_neurons=30,
                                           duration=150.0 * scale, seed=args.seed)}
    ko = knockout_experiment(runs["damped_oscillator"], repair_duration=20.0 * scale,
                             seed=args.seed)
    numbers = {}
    for name, run in runs.items():
        d = np.asarray(run["learning"].weight_distance)
        t = np.asarray(run["learning"].times)
        below = np.flatnonzero(d < 0.1)
        numbers[name] = {"distance": run["distance"], "autonomous_error": run["autonomous_error"],
                         "handset_error": run["handset_error"],
                         "time_to_10_percent_s": float(t[below[0]]) if below.size else None,
                         "learning_s": float(t[-1]), "neurons": run["params"].n_neurons}
    numbers["knockout"] = {k: float(v) for k, v in ko.items() if "error" in k}
    numbers["knockout"]["fraction"] = 0.25
    lin = runs["damped_oscillator"]
    res = lin["learning"]
    cap = f"N = {lin['params'].n_neurons}, learning = {float(res.times[-1]):.3g} s"
    with open(os.path.join(args.out, "results.json"), "w") as handle:
        json.dump(numbers, handle, indent=2)
    print(json.dumps(numbers, indent=2))
    figs = {
        "weights": plot_weights_vs_closed_form(res.W, lin["W_star"], caption=cap, seed=args.seed),
        "phase_portraits": plot_phase_portraits([
            ("learned", lin["autonomous"].times, lin["autonomous"].readout,
             lin["autonomous"].target),
            ("hand-set B13", lin["handset"].times, lin["handset"].readout, lin["handset_target"]),
            ("3-D learned (x1, x2)", runs["system_3d"]["autonomous"].times,
             runs["system_3d"]["autonomous"].readout, runs["system_3d"]["autonomous"].target),
        ], caption=f"whole 2 s test after a kick shown, {cap}", seed=args.seed),
        "learning_curves": plot_learning_curves({
            "distance": [(n, r["learning"].times, r["learning"].weight_distance)
                         for n, r in runs.items()],
            "error": [(n, r["learning"].times, r["learning"].sq_error) for n, r in runs.items()],
        }, caption=f"whole runs shown, {cap}", seed=args.seed),
    }
    for name, fig in figs.items():
        fig.savefig(os.path.join(args.out, f"bourdoukan2015_{name}.png"))
    return numbers


if __name__ == "__main__":
    main(sys.argv[1:])
