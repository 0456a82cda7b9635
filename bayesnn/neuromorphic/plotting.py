"""Figures of the neuromorphic scenario (house style, :mod:`bayesnn.style`)."""
from __future__ import annotations

import numpy as np

from bayesnn import style

__all__ = ["plot_kl_vs_bits", "plot_energy_frontier"]


def _nested(j: int, n: int) -> dict:
    """Line width and marker size of the ``j``-th of ``n`` overlaid curves: from thick
    (first, drawn below) to thin (last, on top), so curves that coincide stay visible
    as nested outlines."""
    f = j / max(n - 1, 1)
    return {"lw": 3.2 - 2.2 * f, "ms": 8.0 - 4.0 * f}


@style.styled
def plot_kl_vs_bits(neuron_sweep, scn_sweep, *, seed=0):
    """Figure: time-averaged KL(exact || spiking posterior) and KL(exact || neuron state)
    against weight bits for each state width, with the float64 line; SCN readout RMSE
    against weight bits with its float64 line. Inputs: the Datasets of
    :func:`bayesnn.neuromorphic.loss.neuron_bit_sweep` and ``scn_bit_sweep``."""
    figure = style.figure(13, 5)
    left, middle, right = figure.subplots(1, 3)
    bits = np.asarray(neuron_sweep.weight_bits)
    kl_g = neuron_sweep.kl_spiking.mean("trial")
    kl_l = neuron_sweep.kl_state.mean("trial")
    # Widths whose results coincide (24- and 32-bit state usually do) would hide one
    # another: each wider state is drawn thinner, on top, so every width stays visible.
    for j, s in enumerate(neuron_sweep.state_bits.values):
        left.plot(bits, kl_g.sel(state_bits=s), "o-", color=f"C{j}", label=f"state {s} bits",
                  **_nested(j, len(neuron_sweep.state_bits)))
        middle.plot(bits, np.maximum(kl_l.sel(state_bits=s), 1e-9), "o-", color=f"C{j}",
                    label=f"state {s} bits", **_nested(j, len(neuron_sweep.state_bits)))
    left.axhline(float(neuron_sweep.kl_spiking_float64.mean()), color=style.COLORS["exact"],
                 ls="--", label="float64")
    left.set_xlabel(style.label("weight mantissa", "bits"))
    left.set_ylabel(style.label("KL(exact || sigma(G))", "nats"))
    left.set_title("neuron: spiking posterior")
    middle.set_yscale("log")
    middle.set_xlabel(style.label("weight mantissa", "bits"))
    middle.set_ylabel(style.label("KL(exact || sigma(L))", "nats"))
    middle.set_title("neuron: its own state (float64 = 0)")
    sbits = np.asarray(scn_sweep.weight_bits)
    rm = scn_sweep.rmse.mean("trial")
    for j, s in enumerate(scn_sweep.state_bits.values):
        right.plot(sbits, rm.sel(state_bits=s), "o-", color=f"C{j}", label=f"state {s} bits",
                   **_nested(j, len(scn_sweep.state_bits)))
    right.axhline(float(scn_sweep.rmse_float64.mean()), color=style.COLORS["exact"], ls="--",
                  label="float64")
    right.set_yscale("log")
    right.set_xlabel(style.label("weight mantissa", "bits"))
    right.set_ylabel(style.label("readout RMSE", "units of x"))
    right.set_title("spike-coding network")
    for axis in (left, middle, right):
        axis.set_xticks(range(2, 17, 2))
    style.legend_outside(right)
    dur = float(neuron_sweep.attrs.get("duration", 0.0))
    style.caption(figure, "Posterior loss against bit width (one compiled sweep per family)",
                  f"neuron {len(neuron_sweep.trial)} trials x {dur:.3g} s (whole window), "
                  f"SCN {len(scn_sweep.trial)} trials (whole window); coinciding state widths "
                  f"show as nested outlines",
                  seed=seed, rounding=str(neuron_sweep.attrs.get("rounding")))
    return figure


@style.styled
def plot_energy_frontier(frontier, *, seed=0):
    """Figure: accuracy against nominal energy per second (Loihi per-event costs), the
    Pareto front drawn as a line; neuron (KL, by g0 and precision) and SCN (RMSE, by
    threshold scale and precision). ``frontier``: the ``energy`` numbers of the scenario."""
    figure = style.figure(12, 5)
    left, right = figure.subplots(1, 2)
    rows = frontier["rows"]
    neuron = [r for r in rows if r["family"] == "neuron"]
    scn = [r for r in rows if r["family"] == "scn"]
    names = sorted({r["precision"] for r in neuron})
    for j, name in enumerate(names):
        pts = [r for r in neuron if r["precision"] == name]
        left.plot([r["energy_per_s_J"] * 1e9 for r in pts], [r["kl_spiking"] for r in pts], "o",
                  color=f"C{j}", label=name)
    front = [neuron[i] for i in frontier["neuron_front"]]
    left.plot([r["energy_per_s_J"] * 1e9 for r in front], [r["kl_spiking"] for r in front], "-",
              color=style.COLORS["bound"], label="Pareto front")
    left.set_xlabel(style.label("nominal energy", "nJ/s"))
    left.set_ylabel(style.label("KL(exact || sigma(G))", "nats"))
    left.set_title("neuron (g0 = 0.5 ... 4)")
    style.legend_outside(left)
    snames = sorted({r["precision"] for r in scn})
    for j, name in enumerate(snames):
        pts = [r for r in scn if r["precision"] == name]
        right.plot([r["energy_per_s_J"] * 1e9 for r in pts], [r["rmse"] for r in pts], "s",
                   color=f"C{j}", label=name)
    front = [scn[i] for i in frontier["scn_front"]]
    right.plot([r["energy_per_s_J"] * 1e9 for r in front], [r["rmse"] for r in front], "-",
               color=style.COLORS["bound"], label="Pareto front")
    right.set_yscale("log")
    right.set_xlabel(style.label("nominal energy", "nJ/s"))
    right.set_ylabel(style.label("readout RMSE", "units of x"))
    right.set_title("SCN (threshold x 1, 1.5, 2)")
    style.legend_outside(right)
    style.caption(figure, "Accuracy against nominal energy (35.5 pJ/synaptic op, 51.2 pJ/update, "
                  "76.8 pJ/spike)", "whole run window", seed=seed)
    return figure
