r"""The ``neuromorphic`` validation scenario (``bayesnn validate --scenario neuromorphic``).

The Bayesian neuron (Denève 2004; binned model, N = 20 inputs, q ~ U(5, 30) Hz,
r_on = 1 Hz, r_off = 3 Hz, g0 = 1, dt = 1 ms) and a B13 spike-coding network (D = 2,
N = 20, random decoder of norm 0.1, lambda_d = 10/s, lambda_V = 20/s, dt = 0.1 ms,
sinusoidal input) in chip number formats:

===================================== ==================================================
check                                 against (bound and its basis)
===================================== ==================================================
``float64_preset_neuron``             the plain model (``filter_counts``): max |diff| = 0
``float64_preset_scn``                ``scn.simulate``: max |readout diff| = 0
``state_within_range``                largest integer state held <= 2^(B-1) - 1 in every
                                      run of both sweeps (saturation counted, reported)
``overflow_raises``                   a saturating run with ``saturate=False`` raises
                                      ``ValueError`` (1 = raised)
``kl_monotone_in_bits``               time-averaged KL (spiking posterior and state) at
                                      24-bit state: no rise between neighbouring
                                      widths above 3 standard errors (paired over trials)
``kl_16bit_vs_float64``               16-bit weights, 32-bit state: relative KL excess
                                      over float64 <= 1 % (basis: the quantisation
                                      error of L, ~1e-3 nats, moves few spike times)
``scn_16bit_vs_float64``              SCN readout RMSE at 16/32 bits <= 1.5 x float64
                                      (basis: per-trial RMSE spread ~25 %, mean of the
                                      trials, ~4 standard errors)
``nir_round_trip``                    export -> nir.write -> nir.read -> import: every
                                      field and the simulated readout identical (0)
``nir_executor_vs_all_mode``          independent NIR-graph executor with reset by
                                      subtraction = bayesnn ``spike_mode="all"``: 1e-9
``spikes_per_nat_over_floor``         g0 N / J >= 1 (Denève floor 1/g0 spikes per nat),
                                      float64 and Loihi runs
``spike_identity_residual``           max |G_k - f(G_k-1) - g0 n_k| <= 1e-9 g0 (float64)
===================================== ==================================================

Numbers reported: the KL-vs-bits and RMSE-vs-bits tables, the knee per family, KL at
Loihi's 8-bit weights / 24-bit state against float64 (goal: < 10 % excess), spikes and
synaptic events per second, spikes per nat, nominal energy (Loihi costs) and the
accuracy-energy frontier, NIR closest-graph errors. Units: s, Hz, nats, joules.
"""
from __future__ import annotations

import dataclasses
import os
import tempfile

import jax
import numpy as np
import xarray as xr

from bayesnn import processes
from bayesnn.core.keys import as_key
from bayesnn.core.precision import require_x64
from bayesnn.neuron import NeuronParams, filter_counts
from bayesnn.neuromorphic.energy import (neuron_events, nominal_energy, pareto_front, scn_events,
                                         signalled_nats)
from bayesnn.neuromorphic.fixed_neuron import simulate_fixed_neuron
from bayesnn.neuromorphic.fixed_scn import simulate_fixed_scn
from bayesnn.neuromorphic.loss import knee, monotone_within_noise, neuron_bit_sweep, scn_bit_sweep
from bayesnn.neuromorphic.precision import (FLOAT64, LOIHI, TRUENORTH, TRUENORTH_TRINARY,
                                            make_precision)
from bayesnn.report import Check, Progress, ScenarioResult, silent
from bayesnn.scn import lds_euler, make_network, random_decoder, simulate

__all__ = ["neuromorphic_scenario", "neuron_setting", "scn_setting"]

WEIGHT_BITS = tuple(range(2, 17))
STATE_BITS = (16, 24, 32)


def neuron_setting(seed: int = 0, g0: float = 1.0) -> NeuronParams:
    """The scenario's neuron: N = 20, q_on, q_off ~ U(5, 30) Hz, r_on = 1, r_off = 3 Hz."""
    rng = np.random.default_rng(seed)
    return NeuronParams(1.0, 3.0, rng.uniform(5, 30, 20), rng.uniform(5, 30, 20), g0)


def scn_setting(seed: int = 0, n_steps: int = 3000, n_trials: int = 4):
    """The scenario's SCN, inputs (trials, T, 2) and targets (x after each step)."""
    net = make_network(random_decoder(2, 20, 0.1, seed=seed), A=np.zeros((2, 2)), lambda_d=10.0,
                       lambda_v=20.0, mu=1e-6, nu=1e-5, sigma_v=1e-3, dt=1e-4)
    rng = np.random.default_rng(seed + 1)
    t = np.arange(n_steps) * 1e-4
    cs = []
    for _ in range(n_trials):
        ph = rng.uniform(0, 2 * np.pi, 2)
        cs.append(np.stack([10 * np.cos(2 * np.pi * 2 * t + ph[0]),
                            10 * np.sin(2 * np.pi * 3 * t + ph[1])], 1))
    c = np.stack(cs)
    x = np.stack([lds_euler(net.A, ci, 1e-4)[1:] for ci in c])
    return net, c, x


def _neuron_trials(params, key, n_trials, n_steps, dt):
    base = as_key(key)
    trials = [processes.sample_binned(params, key=jax.random.fold_in(base, k), dt=dt,
                                      n_steps=n_steps) for k in range(n_trials)]
    return (np.stack([np.asarray(t.counts) for t in trials]),
            np.stack([np.asarray(t.states) for t in trials]))


def neuromorphic_scenario(*, seed: int = 0, quick: bool = True, progress: Progress = silent,
                          figures: bool = True) -> ScenarioResult:
    """Run the ``neuromorphic`` scenario (module docstring). ``quick``: 2 s neuron
    trials and 0.3 s SCN trials (4 each); full: 10 s and 1 s, 8 trials.

    Raises:
        bayesnn.core.PrecisionError: in float32.
    """
    require_x64("the neuromorphic scenario")
    checks: list[Check] = []
    numbers: dict = {}
    dt = 1e-3
    n_trials = 4 if quick else 8
    n_steps = 2000 if quick else 10000
    params = neuron_setting(seed)
    counts, states = _neuron_trials(params, seed, n_trials, n_steps, dt)

    progress("float64 presets")
    ref = filter_counts(params, counts, dt=dt, method="discrete")
    f64 = simulate_fixed_neuron(params, counts, dt=dt, precision=FLOAT64, key=seed)
    diff = max(float(np.max(np.abs(np.asarray(f64.log_odds) - np.asarray(ref.log_odds)))),
               float(np.max(np.abs(np.asarray(f64.prediction) - np.asarray(ref.prediction)))))
    checks.append(Check("float64_preset_neuron", diff, 0.0, "<=",
                        "FLOAT64 preset vs the plain neuron (filter_counts): max |L, G diff|, nats"))
    net, c, x = scn_setting(seed, 3000 if quick else 10000, n_trials)
    s64 = simulate_fixed_scn(net, c[0], precision=FLOAT64, key=seed)
    plain = simulate(net, c[0], key=jax.random.fold_in(as_key(seed), 0))
    checks.append(Check("float64_preset_scn",
                        float(np.max(np.abs(s64.readout - np.asarray(plain.readout)))), 0.0, "<=",
                        "FLOAT64 preset vs scn.simulate: max |readout diff|"))

    progress("neuron: KL against bit width (one compiled sweep)")
    sweep_base = LOIHI._replace(rounding="nearest")
    ds = neuron_bit_sweep(params, counts, states, dt=dt, weight_bits=WEIGHT_BITS,
                          state_bits=STATE_BITS, base=sweep_base, key=seed)
    kl_float = float(ds.kl_spiking_float64.mean())
    kl_g = ds.kl_spiking.mean("trial")
    kl_l = ds.kl_state.mean("trial")
    at24 = ds.sel(state_bits=24)
    rise = max(monotone_within_noise(at24.kl_spiking.values),
               monotone_within_noise(at24.kl_state.values))
    checks.append(Check("kl_monotone_in_bits", rise, 3.0, "<=",
                        "largest rise of time-averaged KL from one weight width to the next "
                        "(24-bit state), in paired standard errors"))
    kl16 = float(kl_g.sel(weight_bits=16, state_bits=32))
    checks.append(Check("kl_16bit_vs_float64", abs(kl16 / kl_float - 1), 0.01, "<=",
                        "|KL(16-bit weights, 32-bit state) / KL(float64) - 1|, spiking posterior"))
    loihi = simulate_fixed_neuron(params, counts, dt=dt, precision=LOIHI, key=seed)
    from bayesnn.metrics import log_loss, mean_kl
    # trials cut on the host (indexing a device array compiles a program per shape)
    ref_L, loihi_G, loihi_L = (np.asarray(a) for a in (ref.log_odds, loihi.prediction,
                                                       loihi.log_odds))
    kl_loihi = float(np.mean([mean_kl(ref_L[k], loihi_G[k]) for k in range(n_trials)]))
    kl_loihi_state = float(np.mean([mean_kl(ref_L[k], loihi_L[k]) for k in range(n_trials)]))
    numbers["neuron"] = {
        "kl_spiking_float64": kl_float,
        "log_loss_exact": float(ds.log_loss_exact.mean()),
        "log_loss_float64": float(ds.log_loss_float64.mean()),
        "kl_spiking_by_bits": {int(s): [float(v) for v in kl_g.sel(state_bits=s).values]
                               for s in STATE_BITS},
        "kl_state_by_bits": {int(s): [float(v) for v in kl_l.sel(state_bits=s).values]
                             for s in STATE_BITS},
        "log_loss_by_bits": {int(s): [float(v) for v in ds.log_loss.mean("trial").sel(state_bits=s).values]
                             for s in STATE_BITS},
        "weight_bits": list(WEIGHT_BITS),
        "knee_spiking_10pct": {int(s): knee(WEIGHT_BITS, kl_g.sel(state_bits=s).values, kl_float)
                               for s in STATE_BITS},
        "knee_state_1e-4": {int(s): knee(WEIGHT_BITS, kl_l.sel(state_bits=s).values - 1e-4, 0.0, 0.0)
                            for s in STATE_BITS},
        "loihi_8_24_truncate": {"kl_spiking": kl_loihi, "kl_state": kl_loihi_state,
                                "excess_over_float64": kl_loihi / kl_float - 1,
                                "goal_below_10pct": bool(kl_loihi / kl_float - 1 < 0.10)},
        "kl16_32": kl16,
    }
    for name, prec in (("truncate", LOIHI), ("nearest", sweep_base),
                       ("stochastic", LOIHI._replace(rounding="stochastic")),
                       ("truenorth_codebook4", TRUENORTH), ("truenorth_trinary", TRUENORTH_TRINARY)):
        run = simulate_fixed_neuron(params, counts, dt=dt, precision=prec, key=seed)
        numbers["neuron"][f"kl_spiking_{name}"] = float(np.mean(
            [mean_kl(np.asarray(ref.log_odds[k]), np.asarray(run.prediction[k])) for k in range(n_trials)]))
        numbers["neuron"][f"log_loss_{name}"] = float(np.mean(
            [log_loss(np.asarray(run.prediction[k]), states[k]) for k in range(n_trials)]))

    progress("SCN: readout error against bit width (one compiled sweep)")
    scn_base = LOIHI._replace(rounding="nearest", decay_bits=16)
    sds = scn_bit_sweep(net, c, x, weight_bits=WEIGHT_BITS, state_bits=STATE_BITS, base=scn_base,
                        key=seed)
    rm = sds.rmse.mean("trial")
    rm_float = float(sds.rmse_float64.mean())
    rm16 = float(rm.sel(weight_bits=16, state_bits=32))
    checks.append(Check("scn_16bit_vs_float64", rm16 / rm_float, 1.5, "<=",
                        "SCN readout RMSE at 16-bit weights, 32-bit state / float64 RMSE"))
    loihi_scn = simulate_fixed_scn(net, c, precision=LOIHI, key=seed)
    coarse = simulate_fixed_scn(net, c, precision=make_precision(4, state_bits=16, rounding="nearest"),
                                key=seed)
    ratio = max(float(np.max(np.asarray(r.max_state) / np.asarray(r.state_limit)))  # host
                for r in (loihi, loihi_scn, coarse))
    checks.append(Check("state_within_range", ratio, 1.0, "<=",
                        "largest |integer state| / (2^(B-1) - 1) over Loihi neuron and SCN runs and "
                        "a saturating 4-bit SCN run"))
    try:
        simulate_fixed_scn(net, c[:1], precision=make_precision(4, state_bits=16, rounding="nearest",
                                                                saturate=False), key=seed)
        raised = 0.0
    except ValueError:
        raised = 1.0
    checks.append(Check("overflow_raises", raised, 1.0, ">=",
                        "saturate=False on an overflowing run raises ValueError (1 = raised)"))
    numbers["scn"] = {
        "rmse_float64": rm_float,
        "rmse_by_bits": {int(s): [float(v) for v in rm.sel(state_bits=s).values] for s in STATE_BITS},
        "spikes_by_bits": {int(s): [float(v) for v in sds.spikes.mean("trial").sel(state_bits=s).values]
                           for s in STATE_BITS},
        "saturated_by_bits": {int(s): [int(v) for v in sds.saturated.sum("trial").sel(state_bits=s).values]
                              for s in STATE_BITS},
        "knee_25pct_of_widest": {int(s): knee(WEIGHT_BITS, rm.sel(state_bits=s).values,
                                              float(rm.sel(state_bits=s).values[-1]), 0.25)
                                 for s in STATE_BITS},
        "rmse_loihi_8_24_truncate_decay12": float(np.sqrt(np.mean((loihi_scn.readout - x) ** 2))),
        "saturations_4bit_16state": int(np.sum(np.asarray(coarse.n_saturated))),
        "decay_bits_of_sweep": 16,
    }

    progress("NIR export and import")
    numbers["nir"], nir_checks = _nir_numbers(net, c[0], x[0])
    checks += nir_checks

    progress("spikes, events and energy per nat")
    frontier, energy_checks = _energy(seed, quick, dt, net, c, x)
    numbers["energy"] = frontier
    checks += energy_checks

    built = _figures(ds, sds, frontier, seed, quick) if figures else {}
    numbers["settings"] = {"seed": seed, "quick": bool(quick), "neuron_trials": n_trials,
                           "neuron_duration_s": n_steps * dt, "scn_steps": int(c.shape[1]),
                           "scn_dt_s": 1e-4}
    traces = xr.Dataset(
        {"exact_log_odds": ("time", np.asarray(ref.log_odds[0])),
         "float64_prediction": ("time", np.asarray(ref.prediction[0])),
         "loihi_log_odds": ("time", np.asarray(loihi.log_odds[0])),
         "loihi_prediction": ("time", np.asarray(loihi.prediction[0])),
         "loihi_output_spikes": ("time", np.asarray(loihi.n_spikes[0])),
         "hidden_state": ("time", np.asarray(states[0]))},
        coords={"time": dt * np.arange(1, n_steps + 1)},
        attrs={"units": "s, nats", "what": "neuron trial 0: exact binned filter, float64 "
               "prediction, Loihi-preset L and G"})
    return ScenarioResult("neuromorphic", checks, numbers, built, traces)


def _nir_numbers(net, c, x):
    import nir
    from bayesnn.neuromorphic.nir_io import export_scn, import_scn, run_nir_graph
    graph = export_scn(net)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "scn.nir")
        nir.write(path, graph)
        back = import_scn(nir.read(path))
    field_diff = max(float(np.max(np.abs(np.asarray(getattr(net, f.name), float)
                                         - np.asarray(getattr(back, f.name), float))))
                     for f in dataclasses.fields(net))
    a = simulate(net, c, key=0)
    b = simulate(back, c, key=0)
    sim_diff = float(np.max(np.abs(np.asarray(a.readout) - np.asarray(b.readout))))
    checks = [Check("nir_round_trip", max(field_diff, sim_diff), 0.0, "<=",
                    "export -> nir.write -> nir.read -> import: max |field diff| and |readout diff|")]
    quiet = net.replace(sigma_v=0.0)
    allmode = simulate(quiet, c, key=0, spike_mode="all")
    out, spikes, _ = run_nir_graph(export_scn(quiet), c, float(net.dt), reset="subtract")
    checks.append(Check("nir_executor_vs_all_mode",
                        float(np.max(np.abs(out - np.asarray(allmode.readout)))), 1e-9, "<=",
                        "independent NIR executor (reset by subtraction) vs scn spike_mode='all'"))
    rmse = lambda r: float(np.sqrt(np.mean((r - x) ** 2)))  # noqa: E731
    one = simulate(quiet, c, key=0)
    numbers = {"bayesnn_one_spike_rmse": rmse(np.asarray(one.readout)),
               "bayesnn_one_spike_spikes": int(one.spikes.n_events),
               "nir_all_mode_subtract_rmse": rmse(out), "nir_all_mode_subtract_spikes": int(spikes.sum())}
    for delay in (False, True):
        o, s, most = run_nir_graph(export_scn(quiet), c, float(net.dt), delay_recurrent=delay)
        tag = "delayed" if delay else "instant"
        numbers[f"nir_reset_to_value_{tag}_rmse"] = rmse(o)
        numbers[f"nir_reset_to_value_{tag}_spikes"] = int(s.sum())
        numbers[f"nir_reset_to_value_{tag}_max_spikes_per_step"] = most
    numbers["nir_version"] = str(getattr(nir, "__version__", "?"))
    return numbers, checks


def _energy(seed, quick, dt, net, c, x):
    """Spikes per nat, events and the accuracy-energy frontier (neuron and SCN)."""
    n_steps = 2000 if quick else 10000
    rows = []
    worst, resid = np.inf, 0.0
    for g0 in (0.5, 1.0, 2.0, 4.0):
        params = neuron_setting(seed, g0)
        counts, _ = _neuron_trials(params, seed + 7, 2, n_steps, dt)
        ref = filter_counts(params, counts, dt=dt, method="discrete")
        for name, prec in (("float64", FLOAT64), ("loihi", LOIHI),
                           ("4bit", LOIHI._replace(weight_bits=4)), ("truenorth", TRUENORTH)):
            run = simulate_fixed_neuron(params, counts, dt=dt, precision=prec, key=seed)
            # trials cut on the host (indexing compiles a program per shape)
            ref_L = np.asarray(ref.log_odds)
            run_L, run_G, run_n = (np.asarray(a) for a in (run.log_odds, run.prediction,
                                                           run.n_spikes))
            kl, e, n, J, syn = [], [], [], [], []
            for k in range(counts.shape[0]):
                from bayesnn.metrics import mean_kl
                kl.append(mean_kl(ref_L[k], run_G[k]))
                nats, r = signalled_nats(params, run_L[k], run_G[k], run_n[k], dt)
                ev = neuron_events(counts[k], run_n[k], dt)
                e.append(nominal_energy(ev) / ev.duration)
                n.append(ev.spikes)
                syn.append(ev.synaptic_per_second)
                J.append(nats)
                if name in ("float64", "loihi"):
                    worst = min(worst, g0 * ev.spikes / nats)
                if name == "float64":
                    resid = max(resid, r / g0)
            rows.append({"family": "neuron", "g0": g0, "precision": name,
                         "kl_spiking": float(np.mean(kl)), "energy_per_s_J": float(np.mean(e)),
                         "spikes_per_s": float(np.mean(n)) / (n_steps * dt),
                         "synaptic_events_per_s": float(np.mean(syn)),
                         "nats_per_s": float(np.mean(J)) / (n_steps * dt),
                         "spikes_per_nat": float(np.sum(n) / np.sum(J)), "floor_1_over_g0": 1 / g0,
                         "energy_per_nat_J": float(np.mean(e)) * n_steps * dt / float(np.mean(J))})
    for widen in (1.0, 1.5, 2.0):
        wide = net.replace(thresholds=np.asarray(net.thresholds) * widen)
        for name, prec in (("float64", FLOAT64), ("loihi", LOIHI._replace(decay_bits=16)),
                           ("6bit", LOIHI._replace(weight_bits=6, decay_bits=16))):
            run = simulate_fixed_scn(wide, c[:2], precision=prec, key=seed)
            ev = scn_events(np.asarray(run.n_spikes), wide.n_neurons, wide.n_dims, float(wide.dt),
                            slow=True)
            dur = c.shape[1] * float(wide.dt) * 2
            ev = ev._replace(duration=dur)
            rows.append({"family": "scn", "threshold_scale": widen, "precision": name,
                         "rmse": float(np.sqrt(np.mean((np.asarray(run.readout) - x[:2]) ** 2))),
                         "energy_per_s_J": nominal_energy(ev) / dur, "spikes_per_s": ev.spikes_per_second,
                         "synaptic_events_per_s": ev.synaptic_per_second})
    neuron_rows = [r for r in rows if r["family"] == "neuron"]
    scn_rows = [r for r in rows if r["family"] == "scn"]
    front_n = pareto_front([r["energy_per_s_J"] for r in neuron_rows], [r["kl_spiking"] for r in neuron_rows])
    front_s = pareto_front([r["energy_per_s_J"] for r in scn_rows], [r["rmse"] for r in scn_rows])
    checks = [Check("spikes_per_nat_over_floor", float(worst), 1.0, ">=",
                    "min over g0 in {0.5, 1, 2, 4}, float64 and Loihi runs of g0 N / J "
                    "(spikes per signalled nat over Denève's floor 1/g0)"),
              Check("spike_identity_residual", float(resid), 1e-9, "<=",
                    "max |G_k - f(G_k-1) - g0 n_k| / g0, float64 runs")]
    return {"rows": rows, "neuron_front": [int(i) for i in front_n],
            "scn_front": [int(i) for i in front_s],
            "costs_pJ": {"synaptic_op": 35.5, "neuron_update": 51.2, "spike": 76.8},
            "costs_source": "SANA-FE arch/loihi.yaml, from Davies et al. 2018"}, checks


def _figures(ds, sds, frontier, seed, quick):
    from bayesnn.neuromorphic.plotting import plot_energy_frontier, plot_kl_vs_bits
    return {"kl_vs_bits": plot_kl_vs_bits(ds, sds, seed=seed),
            "energy_frontier": plot_energy_frontier(frontier, seed=seed)}
