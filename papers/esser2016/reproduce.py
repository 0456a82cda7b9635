"""What Esser et al. (2016, PNAS 113(41): 11441, "Convolutional networks for fast,
energy-efficient neuromorphic computing") claim about TrueNorth's weights, measured on
bayesnn's models: the Bayesian neuron (posterior KL from the exact filter) and the
spike-coding network (readout RMSE), with weights restricted to

* a 4-entry signed table per neuron (TrueNorth's axon types; Merolla et al. 2014),
* trinary weights {-a, 0, +a} per neuron (Esser et al. 2016),

next to float64 and Loihi's 8-bit formats.

    python papers/esser2016/reproduce.py --out out/esser2016
    python papers/esser2016/reproduce.py --out /tmp/small --small   # tests

Writes weights.png (bayesnn.style) and results.json. Esser et al. *trained* networks
under the trinary constraint; here the exact models' weights are mapped after the fact
(no retraining exists for them), which is the harder case.
"""
from __future__ import annotations

import argparse
import json
import pathlib

import bayesnn

bayesnn.enable_x64()

import jax  # noqa: E402
import numpy as np  # noqa: E402

from bayesnn import processes, style  # noqa: E402
from bayesnn.metrics import mean_kl  # noqa: E402
from bayesnn.neuron import filter_counts  # noqa: E402
from bayesnn.neuromorphic import (FLOAT64, LOIHI, TRUENORTH, TRUENORTH_TRINARY,  # noqa: E402
                                  simulate_fixed_neuron)
from bayesnn.neuromorphic.fixed_scn import simulate_fixed_scn  # noqa: E402
from bayesnn.neuromorphic.validation import neuron_setting, scn_setting  # noqa: E402
from bayesnn.plotting import save_figure  # noqa: E402

SEED = 0
PRESETS = {"float64": FLOAT64, "Loihi 8-bit": LOIHI, "TrueNorth 4-entry": TRUENORTH,
           "trinary": TRUENORTH_TRINARY}


def run(small: bool) -> dict:
    """KL of the neuron and RMSE of the SCN under each weight format."""
    n_trials, n_steps = (2, 1000) if small else (8, 10000)
    dt = 1e-3
    params = neuron_setting(SEED)
    base = jax.random.PRNGKey(SEED)
    trials = [processes.sample_binned(params, key=jax.random.fold_in(base, k), dt=dt,
                                      n_steps=n_steps) for k in range(n_trials)]
    counts = np.stack([np.asarray(t.counts) for t in trials])
    exact = filter_counts(params, counts, dt=dt, method="discrete")
    net, c, x = scn_setting(SEED, 1000 if small else 5000, 2 if small else 4)
    out = {"seed": SEED, "small": small, "neuron": {}, "scn": {}}
    for name, prec in PRESETS.items():
        r = simulate_fixed_neuron(params, counts, dt=dt, precision=prec, key=SEED)
        out["neuron"][name] = {
            "kl_spiking": float(np.mean([mean_kl(np.asarray(exact.log_odds[k]), np.asarray(r.prediction[k]))
                                         for k in range(n_trials)])),
            "distinct_weights": int(len(np.unique(np.asarray(r.weights).reshape(-1)[:20]))),
            "spikes_per_s": float(np.sum(r.n_spikes)) / (n_trials * n_steps * dt)}
        s = simulate_fixed_scn(net, c, precision=prec if name != "Loihi 8-bit"
                               else LOIHI._replace(decay_bits=16), key=SEED)
        out["scn"][name] = {"rmse": float(np.sqrt(np.mean((np.asarray(s.readout) - x) ** 2))),
                            "spikes_per_s": float(np.sum(s.n_spikes)) / (c.shape[0] * c.shape[1] * 1e-4),
                            "saturations": int(np.sum(s.n_saturated))}
    out["neuron_kl_ratio_trinary"] = out["neuron"]["trinary"]["kl_spiking"] / out["neuron"]["float64"]["kl_spiking"]
    out["neuron_kl_ratio_codebook4"] = (out["neuron"]["TrueNorth 4-entry"]["kl_spiking"]
                                        / out["neuron"]["float64"]["kl_spiking"])
    out["settings"] = {"neuron_trials": n_trials, "neuron_duration_s": n_steps * dt,
                       "scn_trials": int(c.shape[0]), "scn_duration_s": c.shape[1] * 1e-4}
    return out


@style.styled
def figure(results: dict):
    """Bars: the neuron's KL and the SCN's RMSE per weight format."""
    fig = style.figure(11, 4.5)
    left, right = fig.subplots(1, 2)
    names = list(PRESETS)
    left.bar(range(len(names)), [results["neuron"][n]["kl_spiking"] for n in names],
             color=[f"C{i}" for i in range(len(names))])
    left.set_xticks(range(len(names)), names, rotation=20)
    left.set_ylabel(style.label("KL(exact || sigma(G))", "nats"))
    left.set_title("Bayesian neuron")
    right.bar(range(len(names)), [results["scn"][n]["rmse"] for n in names],
              color=[f"C{i}" for i in range(len(names))])
    right.set_xticks(range(len(names)), names, rotation=20)
    right.set_yscale("log")
    right.set_ylabel(style.label("readout RMSE", "units of x"))
    right.set_title("spike-coding network")
    st = results["settings"]
    style.caption(fig, "TrueNorth weight tables on exact spiking models (Esser et al. 2016)",
                  f"neuron {st['neuron_trials']} x {st['neuron_duration_s']:g} s, SCN "
                  f"{st['scn_trials']} x {st['scn_duration_s']:g} s, whole window", seed=SEED)
    return fig


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=pathlib.Path)
    parser.add_argument("--small", action="store_true", help="reduced run (tests)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results = run(args.small)
    save_figure(figure(results), args.out / "weights.png")
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
