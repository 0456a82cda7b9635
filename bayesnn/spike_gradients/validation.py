r"""``spike_gradients`` validation scenario: gradient descent that trains the spiking
network itself.

========================================= =============================================
check                                     bound and its basis
========================================= =============================================
``surrogate_forward_bit_identical``       max |x_hat - simulate's x_hat| and spike-count
                                          difference of the B13 surrogate forward pass:
                                          0 (the same step; the surrogate term adds an
                                          exact zero)
``brendel_forward_bit_identical``         spikes of the Brendel surrogate forward pass vs
                                          scanning ``plastic_step``: 0 differences
``checkpointed_vs_plain_grad``            surrogate gradient with chunks of 50 steps vs one
                                          chunk: 1e-12 relative (the same arithmetic,
                                          recomputed; float64 reassociation only)
``eventprop_vs_finite_differences``       <= 1e-6 relative (central differences, h = 1e-5:
                                          truncation and rounding ~1e-10; measured ~1e-8)
``silent_neuron_gradient``                gradient of a network with a silent hidden
                                          neuron: finite everywhere and that neuron's
                                          rows exactly 0 (EventProp; documented)
``determinism_per_key``                   the surrogate loss and gradient twice with one
                                          key: identical (0)
``transfer_gain_surrogate``               >= 0.30: 1 - hard-network error after surrogate
                                          training / at the random start (issue 19 goal)
``digits_accuracy_surrogate`` /           test accuracy >= ``DIGITS_MIN[method]``
``digits_accuracy_eventprop``             (quick: ``DIGITS_MIN_QUICK``, 2 epochs, 200
                                          test images); chance is 0.1
========================================= =============================================

The gate, local-rule and logistic-regression numbers are reported next to them
(comparisons, not pass/fail). Measured values: ``docs/spike_gradients.md``.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from bayesnn.core.precision import require_x64
from bayesnn.report import Check, Progress, ScenarioResult, silent

__all__ = ["spike_gradients_scenario", "DIGITS_MIN", "DIGITS_MIN_QUICK", "FD_RTOL",
           "TRANSFER_GAIN_MIN"]

FD_RTOL = 1e-6            # measured 7e-10 (float64, h = 1e-5)
TRANSFER_GAIN_MIN = 0.30  # issue 19's goal; measured 0.675 (150 iterations), 0.678 (quick, 40)
# full run (15 epochs, 450 test images), per method: measured 0.853 (surrogate) and 0.556
# (EventProp, which silences neurons it cannot revive; docs/spike_gradients.md)
DIGITS_MIN = {"surrogate": 0.80, "eventprop": 0.40}
DIGITS_MIN_QUICK = 0.40   # quick run (2 epochs, 200 test images): 4x chance; measured
                          # 0.72 (surrogate) and 0.60 (EventProp) without early stopping


def _bit_identity():
    from bayesnn.core import spike_arrays
    from bayesnn.core.params import to_device
    from bayesnn.scn import autoencoder_input, make_autoencoder, random_decoder, simulate
    from bayesnn.scn.learning.signals import SmoothedNoise, smoothed_noise
    from bayesnn.scn.learning.plasticity import (LearningState, brendel_fig2_params,
                                        brendel_fig2_weights, plastic_step)
    from bayesnn.spike_gradients.scn_surrogate import (brendel_inputs, brendel_surrogate_run,
                                                       scn_surrogate_run)
    import jax

    G = random_decoder(2, 10, norm=0.1, seed=0)
    p = make_autoencoder(G, lambda_=10.0, mu=1e-6, sigma_v=1e-3, dt=1e-4)
    t = np.arange(1001) * 1e-4
    x = np.stack([np.sin(2 * np.pi * 3 * t), np.cos(2 * np.pi * 2 * t)], 1)
    c = autoencoder_input(x, 1e-4, 10.0)
    ref = simulate(p, c, key=3)
    run = scn_surrogate_run(p, c, key=3, width=0.05, checkpoint_every=100)
    d1 = float(np.max(np.abs(np.asarray(ref.readout) - np.asarray(run.readout))))
    d1 += abs(len(spike_arrays(ref.spikes)[0]) - int(np.sum(np.asarray(run.spikes))))
    P = brendel_fig2_params()
    F0, Om0 = brendel_fig2_weights(2, 20, key=0)
    c2 = smoothed_noise(SmoothedNoise(2), 500, key=3)
    run2 = brendel_surrogate_run(P, {"F": F0, "Omega": Om0, "D": 0.1 * F0}, c2, key=5)
    put = to_device  # host arrays in without an XLA program each (jnp.zeros / asarray)
    st = LearningState(V=put(np.zeros(20)), rates=put(np.zeros(20)), x=put(np.zeros(2)),
                       F=put(F0), OmegaT=put(np.asarray(Om0).T), step=put(np.zeros((), np.int32)))
    _, rec = jax.jit(lambda s0, i: jax.lax.scan(
        lambda a, b: plastic_step(P, a, b, plastic=False), s0, i))(st, brendel_inputs(P, c2, 20, key=5))
    s = np.zeros((500, 20))
    s[np.arange(500), np.asarray(rec.sender)] = np.asarray(rec.fired)
    d2 = float(np.sum(s != np.asarray(run2.spikes)))
    return d1, d2, p, c


def _surrogate_grad_checks(p, c):
    import jax

    from bayesnn.spike_gradients.scn_surrogate import scn_surrogate_loss

    loss, p0 = scn_surrogate_loss(p, c, key=3, width=0.05, checkpoint_every=50)
    plain, _ = scn_surrogate_loss(p, c, key=3, width=0.05, checkpoint_every=1000)
    grad = jax.jit(jax.grad(loss))
    g1 = np.asarray(grad(p0).Gamma)
    g2 = np.asarray(jax.jit(jax.grad(plain))(p0).Gamma)
    g3 = np.asarray(grad(p0).Gamma)
    rel = float(np.max(np.abs(g1 - g2)) / np.max(np.abs(g1)))
    return rel, float(np.max(np.abs(g1 - g3))), bool(np.all(np.isfinite(g1)))


def _eventprop_checks(seed):
    from bayesnn.spike_gradients.eventprop import EventLIF, gradient_check, network_grad

    rng = np.random.default_rng(seed)
    p = EventLIF()
    B, Nin, Nh, No = 4, 12, 8, 3
    t_in = rng.uniform(0, 20e-3, (B, Nin))
    src = np.tile(np.arange(Nin), (B, 1))
    W1 = rng.normal(0.6, 0.6, (Nh, Nin))
    W2 = rng.normal(1.0, 0.8, (No, Nh))
    labels = rng.integers(0, No, B)
    check = gradient_check([W1, W2], t_in, src, labels, p, seed=seed)
    W1s = W1.copy()
    W1s[0] = -1.0                                   # hidden neuron 0 never spikes
    _, g, outs = network_grad([W1s, W2], t_in, src, labels, p)
    silent_ok = (np.isfinite(outs[0].times[:, 0]).sum() == 0 and all(np.all(np.isfinite(a)) for a in g)
                 and np.all(g[0][0] == 0) and np.all(g[1][:, 0] == 0))
    return check, bool(silent_ok)


def spike_gradients_scenario(*, seed: int = 0, quick: bool = True, progress: Progress = silent,
                             figures: bool = True) -> ScenarioResult:
    """Run the ``spike_gradients`` scenario (module docstring). ``quick`` (default):
    40 training iterations, 8 s of local learning, 2-s evaluation runs, 2 digit epochs
    (~50 CPU s, mostly XLA compilation); ``quick=False`` (TOML ``[spike_gradients]
    quick = false``): the settings of ``docs/spike_gradients.md``."""
    require_x64("the spike_gradients scenario")
    started = time.perf_counter()
    progress("spike_gradients: forward passes vs the library steps")
    d1, d2, p, c = _bit_identity()
    rel, det, finite = _surrogate_grad_checks(p, c)
    progress("spike_gradients: EventProp vs finite differences")
    fd, silent_ok = _eventprop_checks(seed)
    progress("spike_gradients: transfer to the hard network")
    from bayesnn.spike_gradients.transfer import transfer_experiment

    transfer = transfer_experiment(
        seed=seed, iterations=40 if quick else 150, gate_widths=(1.0,) if quick else (1.0, 0.1),
        local_duration=8.0 if quick else 64.0, eval_duration=2.0 if quick else 5.0)
    progress("spike_gradients: digits classification")
    from bayesnn.spike_gradients.digits import load_digits_spikes, logistic_baseline, train_digits

    data = load_digits_spikes(seed=seed)
    kw = dict(n_test=200, epochs=2) if quick else dict(epochs=15)
    sur = train_digits(data, "surrogate", learning_rate=1e-2, seed=seed, **kw)
    evp = train_digits(data, "eventprop", learning_rate=1e-2, seed=seed, **kw)
    digits = {"accuracy": {"logistic": logistic_baseline(data), "surrogate": sur.test_accuracy,
                           "eventprop": evp.test_accuracy},
              "spikes_per_sample": {"surrogate": sur.spikes_per_sample,
                                    "eventprop": evp.spikes_per_sample},
              "cpu_seconds": {"surrogate": sur.cpu_seconds, "eventprop": evp.cpu_seconds}}
    dmin = ({"surrogate": DIGITS_MIN_QUICK, "eventprop": DIGITS_MIN_QUICK} if quick
            else DIGITS_MIN)
    checks = [
        Check("surrogate_forward_bit_identical", d1, 0.0, "<=",
              "B13 surrogate forward vs simulate: max |x_hat diff| + |spike count diff|"),
        Check("brendel_forward_bit_identical", d2, 0.0, "<=",
              "Brendel surrogate forward vs plastic_step scan: differing spike entries"),
        Check("checkpointed_vs_plain_grad", rel, 1e-12, "<=",
              "surrogate gradient, 50-step checkpoints vs one chunk (relative)"),
        Check("eventprop_vs_finite_differences", fd["max_rel_error"], FD_RTOL, "<=",
              f"EventProp vs central differences, {fd['n_valid']} directions, same spike count"),
        Check("silent_neuron_gradient", float(silent_ok and finite), 1.0, ">=",
              "silent hidden neuron: finite gradient, its weights' gradient exactly 0"),
        Check("determinism_per_key", det, 0.0, "<=",
              "surrogate gradient twice with one key: max |difference|"),
        Check("transfer_gain_surrogate", transfer["gain_surrogate"], TRANSFER_GAIN_MIN, ">=",
              "1 - hard-network decoding error (surrogate-trained / random start)"),
        Check("digits_accuracy_surrogate", sur.test_accuracy, dmin["surrogate"], ">=",
              "8x8 digits test accuracy, surrogate gradients"),
        Check("digits_accuracy_eventprop", evp.test_accuracy, dmin["eventprop"], ">=",
              "8x8 digits test accuracy, EventProp"),
    ]
    numbers: dict[str, Any] = {
        "settings": {"seed": seed, "quick": quick},
        "eventprop_check": {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                            for k, v in fd.items()},
        "transfer": transfer, "digits": digits,
    }
    figure_set = {}
    if figures:
        from bayesnn.spike_gradients.plotting import plot_gradients, plot_transfer

        figure_set["transfer"] = plot_transfer(transfer, seed=seed)
        figure_set["eventprop_digits"] = plot_gradients(fd, digits, seed=seed)
    numbers["seconds"] = time.perf_counter() - started
    return ScenarioResult("spike_gradients", checks, numbers, figure_set,
                          _traces(transfer, digits, seed, quick))


def _traces(transfer: dict, digits: dict, seed: int, quick: bool):
    """Labelled traces of the scenario (written as NetCDF by validate): the transferred
    weights' hard-network measures per method, the surrogate's training loss, the local
    rule's error against training samples, and the digits accuracies per classifier."""
    import xarray as xr

    methods = list(transfer["error"])
    classifiers = list(digits["accuracy"])
    return xr.Dataset(
        {"hard_network_error": ("method", [transfer["error"][m] for m in methods]),
         "hard_network_rate_hz": ("method", [transfer["rate_hz"][m] for m in methods]),
         "hard_network_isi_cv": ("method", [transfer["cv"][m] for m in methods]),
         "surrogate_training_loss": ("iteration", np.asarray(transfer["surrogate_loss"])),
         "local_rule_error": ("local_samples", np.asarray(transfer["local_snapshot_error"])),
         "digits_test_accuracy": ("classifier", [digits["accuracy"][c] for c in classifiers])},
        coords={"method": methods, "classifier": classifiers,
                "iteration": np.arange(len(transfer["surrogate_loss"])),
                "local_samples": np.asarray(transfer["local_snapshot_samples"])},
        attrs={"scenario": "spike_gradients", "seed": int(seed), "quick": int(bool(quick)),
               "units": "decoding error: normalised RMSE; rate: Hz; samples: time steps"})
