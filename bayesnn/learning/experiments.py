"""Learning experiments shared by the ``learning`` validate scenario, the Denève 2008
paper script and the benchmark: error against recording length, the learned
neuron's posterior against the exact one, and coverage of the NUTS posterior.

Data are drawn with :func:`bayesnn.processes.sample_trial` (one key per data set,
``fold_in(key, k)``); binned data are the same spikes counted in bins of ``dt``.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from bayesnn.core.keys import as_key
from bayesnn.core.params import to_device
from bayesnn.core.spikes import Spikes
from bayesnn.learning.em import em_binned, em_continuous
from bayesnn.processes import MMPPParams, sample_trial

PARAMETERS = ("r_on", "r_off", "q_on", "q_off")


def default_problem() -> MMPPParams:
    """The reference problem of the learning checks: N = 4 inputs, r_on = r_off = 2 Hz,
    q_on = (40, 30, 20, 12) Hz, q_off = (4, 8, 6, 12) Hz (the last input carries no
    information). ON is the busier state, the labelling of the NUTS model."""
    return MMPPParams(r_on=2.0, r_off=2.0, q_on=np.array([40.0, 30.0, 20.0, 12.0]),
                      q_off=np.array([4.0, 8.0, 6.0, 12.0]))


def mis_initialised(true: MMPPParams) -> MMPPParams:
    """A 4x-wrong start (the EM recovery test of docs/learning.md): r_on / 4, r_off x 4,
    every q_on and q_off at 1.25x and 0.75x the mean input rate (ON kept the busier state)."""
    mean = float(np.mean((np.asarray(true.q_on) + np.asarray(true.q_off)) / 2))
    n = true.n_inputs
    return MMPPParams(r_on=float(true.r_on) / 4, r_off=float(true.r_off) * 4,
                      q_on=np.full(n, 1.25 * mean), q_off=np.full(n, 0.75 * mean))


def flat(params) -> np.ndarray:
    """(2N + 2,) r_on, r_off, q_on..., q_off... as one NumPy vector."""
    return np.concatenate([np.atleast_1d(np.asarray(getattr(params, name))) for name in PARAMETERS])


def mirrored(params):
    """The mirror parameter point (:func:`bayesnn.processes.mirror`); works on
    trajectories too (leading axes)."""
    from bayesnn.processes.labelling import mirror
    return mirror(params)


def is_mirrored(params, true: MMPPParams) -> bool:
    """Whether the mirror of ``params`` is closer to ``true`` (squared log distance; the
    reference rule of :func:`bayesnn.processes.canonical_labelling`)."""
    from bayesnn.processes.labelling import canonical_labelling
    return canonical_labelling(params, true)[1]


def aligned(params, true: MMPPParams):
    """``params`` in the labelling of ``true`` (the reference rule of
    :func:`bayesnn.processes.canonical_labelling`)."""
    from bayesnn.processes.labelling import canonical_labelling
    return canonical_labelling(params, true)[0]


def sample_data(true: MMPPParams, key, duration: float, n_datasets: int, capacity: int | None = None
                ) -> list[Spikes]:
    """``n_datasets`` independent trials (key ``fold_in(key, k)``), padded to one capacity
    so that every fit shares one compiled program."""
    base = as_key(key)
    trials = [sample_trial(true, key=_fold_in(base, k), duration=duration).inputs
              for k in range(n_datasets)]
    capacity = capacity or max(s.capacity for s in trials)
    return [_padded(s, capacity) for s in trials]


def _padded(spikes: Spikes, capacity: int) -> Spikes:
    """One trial padded to ``capacity`` in NumPy (padding as :func:`bayesnn.core.
    stack_spikes`: time inf, sender -1, count 0), moved to the device by ``device_put``
    (padding and slicing device arrays would compile a program per shape)."""
    extra = capacity - spikes.capacity
    if extra < 0:
        raise ValueError(f"capacity ({capacity}) is smaller than a trial's ({spikes.capacity})")
    fills = (np.inf, -1, 0)
    arrays = [np.asarray(a) for a in (spikes.times, spikes.senders, spikes.counts)]
    return Spikes(*(to_device(np.concatenate([a, np.full(extra, fill, a.dtype)]))
                    for a, fill in zip(arrays, fills)), spikes.n_events)


# one compiled program (eagerly two: a conversion of k and the fold)
_fold_in = jax.jit(jax.random.fold_in)


class DurationSweep(NamedTuple):
    """Error of the maximum-likelihood estimate against recording length.

    Fields:
        durations: (D,) s.
        errors: (D, M) root-mean-square relative error over the 2N + 2 rates, per data set.
        slope: log-log slope of the mean error against duration (theory -1/2).
        params: list over durations of lists over data sets of learned MMPPParams.
        iterations: (D, M) EM iterations.
    """

    durations: np.ndarray
    errors: np.ndarray
    slope: float
    params: list
    iterations: np.ndarray


def duration_sweep(true: MMPPParams, durations, n_datasets: int, key=0,
                   tol: float = 1e-8) -> DurationSweep:
    """Continuous-time batch EM from :func:`mis_initialised` on ``n_datasets`` trials per
    duration; relative RMS error of the learned rates against the truth."""
    truth = flat(true)
    errors, learned, iterations = [], [], []
    for d, duration in enumerate(durations):
        row, fits, its = [], [], []
        for spikes in sample_data(true, _fold_in(as_key(key), d), duration, n_datasets):
            result = em_continuous(mis_initialised(true), spikes, duration=duration,
                                   max_iterations=500, xtol=tol)
            row.append(float(np.sqrt(np.mean((flat(aligned(result.params, true)) / truth - 1) ** 2))))
            fits.append(result.params)
            its.append(result.n_iterations)
        errors.append(row)
        learned.append(fits)
        iterations.append(its)
    errors = np.asarray(errors)
    slope = float(np.polyfit(np.log(durations), np.log(errors.mean(axis=1)), 1)[0])
    return DurationSweep(np.asarray(durations, float), errors, slope, learned, np.asarray(iterations))


def posterior_kl(true: MMPPParams, learned: MMPPParams, spikes: Spikes, duration: float,
                 dt: float = 0.01) -> float:
    """Mean KL(P_true || P_learned) (nats per sample) between the exact filtered
    posteriors P(x_t = 1 | spikes on [0, t]) under the true and the learned parameters,
    on a grid of step dt: what the neuron (an exact filter of its parameters) loses by
    having learned them (:func:`bayesnn.exact.mmpp.mmpp_filter`)."""
    from bayesnn.exact.mmpp import mmpp_filter
    grid = np.arange(1, int(round(duration / dt)) + 1) * dt
    p = np.asarray(mmpp_filter(true, spikes, duration=duration, query_times=grid).prob_on)
    q = np.asarray(mmpp_filter(learned, spikes, duration=duration, query_times=grid).prob_on)
    p, q = np.clip(p, 1e-300, 1 - 1e-16), np.clip(q, 1e-300, 1 - 1e-16)
    kl = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
    return float(np.mean(kl))


class Coverage(NamedTuple):
    """Maximum-likelihood estimates against NUTS 90 % HDIs over several data sets.

    Fields:
        ml_inside: (M, 2N + 2) bool, ML (binned EM) inside the HDI.
        truth_inside: (M, 2N + 2) bool, the true rate inside the HDI.
        ml: (M, 2N + 2) ML estimates; truth: (2N + 2,).
        low, high: (M, 2N + 2) HDI bounds, Hz.
        max_rhat: (M,), divergences: (M,) NUTS diagnostics.
        wall_time_nuts, wall_time_em: (M,) s.
    """

    ml_inside: np.ndarray
    truth_inside: np.ndarray
    ml: np.ndarray
    truth: np.ndarray
    low: np.ndarray
    high: np.ndarray
    max_rhat: np.ndarray
    divergences: np.ndarray
    wall_time_nuts: np.ndarray
    wall_time_em: np.ndarray


def nuts_coverage(true: MMPPParams, n_datasets: int = 5, duration: float = 20.0,
                  dt: float = 0.01, key=0, num_warmup: int = 300, num_samples: int = 300,
                  num_chains: int = 2, hdi_prob: float = 0.9) -> Coverage:
    """Binned EM's maximum-likelihood rates and the truth against the NUTS ``hdi_prob``
    HDIs of :func:`bayesnn.numpyro_models.nuts.run_nuts` on the same binned counts."""
    import time

    from bayesnn.numpyro_models.nuts import run_nuts
    truth = flat(true)
    rows = {name: [] for name in Coverage._fields if name != "truth"}
    for k, spikes in enumerate(sample_data(true, key, duration, n_datasets)):
        start = time.perf_counter()
        ml = flat(em_binned(mis_initialised(true), spikes, duration=duration, dt=dt,
                            max_iterations=1000, xtol=1e-9).params)
        rows["wall_time_em"].append(time.perf_counter() - start)
        start = time.perf_counter()
        nuts = run_nuts(spikes, duration=duration, dt=dt, n_inputs=true.n_inputs, key=_fold_in(as_key(key), 10_000 + k),
                        num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
                        chain_method="sequential", hdi_prob=hdi_prob)
        rows["wall_time_nuts"].append(time.perf_counter() - start)
        low = np.concatenate([np.atleast_1d(nuts.intervals[n][0]) for n in PARAMETERS])
        high = np.concatenate([np.atleast_1d(nuts.intervals[n][1]) for n in PARAMETERS])
        rows["ml"].append(ml)
        rows["low"].append(low)
        rows["high"].append(high)
        rows["ml_inside"].append((ml >= low) & (ml <= high))
        rows["truth_inside"].append((truth >= low) & (truth <= high))
        rows["max_rhat"].append(nuts.max_rhat)
        rows["divergences"].append(nuts.num_divergences)
    return Coverage(truth=truth, **{name: np.asarray(value) for name, value in rows.items()})


__all__ = ["PARAMETERS", "default_problem", "mis_initialised", "flat", "mirrored",
           "is_mirrored", "aligned", "sample_data", "DurationSweep",
           "duration_sweep", "posterior_kl", "Coverage", "nuts_coverage"]
