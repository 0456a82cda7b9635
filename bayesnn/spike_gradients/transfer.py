r"""Measured transfer to the hard spiking network: the decoding task of
:mod:`bayesnn.scn.learning.surrogate` (Brendel et al. 2020 Fig. 2 network: D = 2, N = 20,
lambda = 50 s^-1, dt = 1 ms, smoothed-noise input, random initial weights) trained by

(a) the differentiable gate of Huh & Sejnowski 2017 (:func:`bayesnn.scn.learning.surrogate.train_gated`,
    trains D and F, width Delta),
(b) surrogate gradients through the hard network
    (:func:`bayesnn.spike_gradients.scn_surrogate.brendel_surrogate_loss`, trains D, F and
    Omega; the forward pass is the evaluation network's step),
(c) Brendel et al.'s local rules (:func:`bayesnn.scn.learning.learn`),

each set of weights then measured in the *hard* network on held-out inputs with
:func:`bayesnn.scn.learning.evaluation.evaluate_weights` (its own optimal linear decoder fitted
on a training run, error on an independent test run; rate; ISI CV), next to the random
start and the optimal network for the learned F (``best_fixed_point``). Training samples
are time steps of input seen (each gate / surrogate iteration sees one new sequence of
``sequence_steps`` steps; the local rules see ``duration / dt`` steps).
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["transfer_experiment"]


def transfer_experiment(*, seed: int = 0, n_neurons: int = 20, iterations: int = 150,
                        sequence_steps: int = 1000, width: float = 0.1,
                        learning_rate: float = 1e-2, gate_widths: Sequence[float] = (1.0,),
                        local_duration: float = 64.0, eval_duration: float = 5.0,
                        train: Sequence[str] = ("D", "F", "Omega")) -> dict[str, Any]:
    """Run the comparison (module docstring); returns a dict of plain numbers:
    ``error`` / ``rate_hz`` / ``cv`` / ``samples`` / ``cpu_seconds`` per method
    ("random", "gate_<Delta>", "surrogate", "local", "optimal_local", "optimal_surrogate"),
    the surrogate's training loss curve and ``gain_surrogate`` = 1 - error(surrogate) /
    error(random)."""
    from bayesnn.core import as_key
    from bayesnn.scn.learning import learn
    from bayesnn.scn.learning.evaluation import best_fixed_point, evaluate_weights
    from bayesnn.scn.learning.signals import SmoothedNoise, noise_block, smoothed_noise
    from bayesnn.scn.learning.plasticity import brendel_fig2_params, brendel_fig2_weights
    from bayesnn.scn.learning.surrogate import GateParams, train_gated
    from bayesnn.spike_gradients.bptt import fit
    from bayesnn.spike_gradients.scn_surrogate import brendel_surrogate_loss

    params = brendel_fig2_params()
    F0, Om0 = brendel_fig2_weights(2, n_neurons, key=seed)
    w0 = {"F": F0, "Omega": Om0, "D": 0.1 * F0}
    spec = SmoothedNoise(2, sequence_steps=sequence_steps)
    dt = float(params.dt)
    out: dict[str, Any] = {"samples": {}, "cpu_seconds": {}}
    names, Fs, Oms = ["random"], [F0], [Om0]
    for delta in gate_widths:
        t0 = time.process_time()
        g = train_gated(GateParams(width=float(delta)), w0, spec, train=("D", "F"),
                        key=seed + 5, n_iterations=iterations, sequence_steps=sequence_steps)
        name = f"gate_{float(delta):g}"
        names.append(name), Fs.append(np.asarray(g.weights["F"])), Oms.append(np.asarray(g.weights["Omega"]))
        out["samples"][name] = iterations * sequence_steps
        out["cpu_seconds"][name] = time.process_time() - t0
    c0 = smoothed_noise(spec, sequence_steps, key=seed + 3)
    loss, trainable = brendel_surrogate_loss(params, w0, c0, width=width,
                                             checkpoint_every=min(100, sequence_steps),
                                             window=(min(50, sequence_steps - 1), sequence_steps),
                                             train=train)
    key = as_key(seed + 5)
    res = fit(lambda w, i: loss(w, noise_block(spec, jax.random.fold_in(key, i), 0, 1),
                                jax.random.fold_in(key, 10**6 + i)),
              trainable, n_iterations=iterations, learning_rate=learning_rate,
              batch=lambda i: np.asarray(i, jnp.result_type(int)))  # no conversion program
    ws = {**w0, **{k: np.asarray(v) for k, v in res.weights.items()}}
    names.append("surrogate"), Fs.append(ws["F"]), Oms.append(ws["Omega"])
    out["samples"]["surrogate"] = len(res.loss) * sequence_steps
    out["cpu_seconds"]["surrogate"] = res.seconds
    out["surrogate_stopped"] = bool(res.stopped)
    t0 = time.process_time()
    loc = learn(params, SmoothedNoise(2), F=F0, Omega=Om0, key=seed + 1, duration=local_duration)
    out["cpu_seconds"]["local"] = time.process_time() - t0
    F1, Om1 = np.asarray(loc.final.F), np.asarray(loc.final.Omega)
    names.append("local"), Fs.append(F1), Oms.append(Om1)
    out["samples"]["local"] = int(round(local_duration / dt))
    names.append("optimal_local"), Fs.append(F1), Oms.append(best_fixed_point(F1, Om1)[0])
    names.append("optimal_surrogate"), Fs.append(ws["F"])
    Oms.append(best_fixed_point(ws["F"], ws["Omega"])[0])
    # the local rule's log2 snapshots: samples needed to reach a given error
    snapF, snapO = np.asarray(loc.F_snapshots), np.asarray(loc.Omega_snapshots)
    ev = evaluate_weights(params, np.concatenate([np.stack(Fs), snapF]),
                          np.concatenate([np.stack(Oms), snapO]), key=seed + 2,
                          duration=eval_duration)
    n = len(names)
    err, rate, cv = (np.asarray(a) for a in (ev.error, ev.rate, ev.cv))
    out["error"] = dict(zip(names, err[:n].tolist()))
    out["rate_hz"] = dict(zip(names, rate[:n].tolist()))
    out["cv"] = dict(zip(names, cv[:n].tolist()))
    out["local_snapshot_samples"] = (np.asarray(loc.snapshot_times) / dt).round().astype(int).tolist()
    out["local_snapshot_error"] = err[n:].tolist()
    out["surrogate_loss"] = res.loss.tolist()
    out["gain_surrogate"] = 1.0 - out["error"]["surrogate"] / out["error"]["random"]
    for name in names:
        if name.startswith("gate_"):
            out[f"gain_{name}"] = 1.0 - out["error"][name] / out["error"]["random"]
    out["settings"] = {"seed": seed, "n_neurons": n_neurons, "iterations": iterations,
                       "sequence_steps": sequence_steps, "width": width,
                       "learning_rate": learning_rate, "gate_widths": list(map(float, gate_widths)),
                       "local_duration_s": local_duration, "eval_duration_s": eval_duration,
                       "train": list(train)}
    return out
