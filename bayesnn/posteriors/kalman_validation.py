r"""Measuring the spiking Kalman filter against the exact posterior, and its validate rows.

**Errors.** ``max ||x_hat - mu_K||``, per-coordinate max and RMS after a burn-in of
``N_EFOLDS`` correlation times ``1 / min |Re eig F|`` of the filter error, against the
bound of :mod:`bayesnn.posteriors.kalman_bounds`.

**z-scores.** ``(z_k - mu_k) / sqrt(P_dd)`` at times spaced by ``N_EFOLDS`` correlation
times (autocorrelation ``e^{-5}``), after the burn-in, are nearly independent N(0, 1)
draws if the posterior is calibrated: their coverage ``|z| <= 1.96`` lies in the 99%
binomial band around 0.95 (:func:`binomial_band`).

:func:`kalman_checks` gives the rows of ``bayesnn validate --scenario kalman``;
:func:`kalman_scenario` (the registered scenario) adds its figures and traces.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np
import scipy.stats

from bayesnn.core.keys import KeyLike, as_key
from bayesnn.core.validation import require_nonnegative, require_positive
from bayesnn.exact.kalman_bucy import KalmanBucyPosterior, kalman_bucy_posterior
from bayesnn.posteriors.kalman import SpikingKalmanParams, SpikingKalmanResult, simulate
from bayesnn.posteriors.kalman_bounds import ROUNDOFF, error_bound
from bayesnn.processes.linear_gaussian import (
    LinearGaussianParams,
    LinearGaussianTrial,
    oscillator_params,
    ou_params,
    sample_linear_gaussian,
)

__all__ = ["KalmanAccuracy", "N_EFOLDS", "Z95", "binomial_band", "correlation_time",
           "exact_zscore_coverage", "kalman_accuracy", "kalman_checks", "kalman_scenario",
           "kalman_trial", "zscore_coverage"]

Z95 = float(scipy.stats.norm.ppf(0.975))  # 1.959963984540054
N_EFOLDS = 5.0  # burn-in and z-sample spacing, in filter correlation times (e^-5 = 0.7%)


def correlation_time(generator) -> float:
    """``1 / min |Re eig F|``, s: the slowest decay time of the filter error."""
    return 1.0 / -float(np.max(np.real(np.linalg.eigvals(np.asarray(generator)))))


def zscore_coverage(latent, mean, covariance, times, burn_in: float, spacing: float,
                    level_z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """z-scores ``(latent - mean) / sqrt(diag P)`` at ``t > burn_in`` every ``spacing`` s.

    Returns ``(z (S, D), coverage (D,))``, coverage the fraction with ``|z| <= level_z``.
    """
    latent, times = np.asarray(latent), np.asarray(times)
    dt = float(times[1] - times[0]) if times.size > 1 else float(times[0])
    stride = max(1, int(round(spacing / dt)))
    idx = np.arange(int(np.searchsorted(times, burn_in, side="right")), times.size, stride)
    sd = np.sqrt(np.diag(np.asarray(covariance)))
    z = (latent[idx] - np.asarray(mean)[idx]) / sd
    return z, np.mean(np.abs(z) <= level_z, axis=0) if idx.size else np.full(sd.shape, np.nan)


def binomial_band(n: int, p: float = 0.95, confidence: float = 0.99) -> tuple[float, float]:
    """Central ``confidence`` interval of a Binomial(n, p) fraction (scipy.stats)."""
    lo, hi = scipy.stats.binom.interval(confidence, int(n), p)
    return float(lo) / n, float(hi) / n


class KalmanAccuracy(NamedTuple):
    """A spiking Kalman run measured against the exact posterior on the same data.

    Fields:
        exact: :class:`bayesnn.exact.kalman_bucy.KalmanBucyPosterior` (means (T, D)).
        burn_in: s; errors and z-scores use t > burn_in only.
        max_error: max_t ||x_hat - mu_K||_2 after burn-in, [z].
        max_abs_error, rmse: (D,) per-coordinate max |x_hat - mu_K| and RMS, [z].
        error_bound: the bound on max_error ([z]; box radius x amplification).
        z_exact, z_readout: (S, D) (z - mu_K) / sqrt(P_dd) and (z - x_hat) / sqrt(P_dd)
            at S times spaced by N_EFOLDS correlation times.
        coverage_exact, coverage_readout: (D,) fractions with |z| <= 1.96.
        time_coverage_exact, time_coverage_readout: (D,) the same over every
            post-burn-in record (unbiased, but correlated samples).
        spikes_per_second: population rate, Hz. rate_per_neuron: Hz. n_spikes: total.
    """

    exact: KalmanBucyPosterior
    burn_in: float
    max_error: float
    max_abs_error: np.ndarray
    rmse: np.ndarray
    error_bound: float
    z_exact: np.ndarray
    z_readout: np.ndarray
    coverage_exact: np.ndarray
    coverage_readout: np.ndarray
    time_coverage_exact: np.ndarray
    time_coverage_readout: np.ndarray
    spikes_per_second: float
    rate_per_neuron: float
    n_spikes: int


def kalman_accuracy(params: SpikingKalmanParams, trial: LinearGaussianTrial,
                    result: SpikingKalmanResult, *, burn_in: float | None = None,
                    exact: KalmanBucyPosterior | None = None) -> KalmanAccuracy:
    """Measure one run (:func:`bayesnn.posteriors.kalman.simulate` on ``trial.dy``)
    against the exact Kalman-Bucy posterior of the same increments.

    Args:
        burn_in: s (default ``N_EFOLDS`` correlation times of F).
        exact: the exact posterior of ``trial.dy`` if already computed.

    Raises:
        ValueError: if the burn-in is not shorter than the trial, or the result's records
            do not match the trial's grid.
    """
    times, latent = np.asarray(trial.times), np.asarray(trial.latent)
    tau = correlation_time(params.generator)
    burn = N_EFOLDS * tau if burn_in is None else float(require_nonnegative("burn_in", burn_in, ndim=0))
    if burn >= times[-1]:
        raise ValueError(f"burn_in ({burn:.3g} s) must be shorter than the trial ({times[-1]:.3g} s)")
    if exact is None:
        exact = kalman_bucy_posterior(params.model, trial.dy, dt=params.dt)
    rec_times = np.asarray(result.times)
    index = np.rint(rec_times / params.dt).astype(int) - 1
    if index.size == 0 or index[-1] >= times.size or np.any(np.abs(times[index] - rec_times) > 1e-9 * times[-1]):
        raise ValueError("result must come from simulate(params, trial.dy, ...) on this trial")
    readout, means = np.asarray(result.readout), exact.means[index]
    after = rec_times > burn
    err = readout[after] - means[after]
    spacing = N_EFOLDS * tau
    z_e, cov_e = zscore_coverage(latent, exact.means, exact.covariance, times, burn, spacing)
    z_r, cov_r = zscore_coverage(latent[index], readout, exact.covariance, rec_times, burn, spacing)
    sd = np.sqrt(np.diag(exact.covariance))
    n_spikes = int(np.sum(np.asarray(result.spike_counts)))
    duration = float(times[-1])
    return KalmanAccuracy(
        exact=exact, burn_in=burn, max_error=float(np.max(np.linalg.norm(err, axis=1))),
        max_abs_error=np.max(np.abs(err), axis=0), rmse=np.sqrt(np.mean(err**2, axis=0)),
        error_bound=error_bound(params).error_bound, z_exact=z_e, z_readout=z_r,
        coverage_exact=cov_e, coverage_readout=cov_r,
        time_coverage_exact=np.mean(np.abs(latent[times > burn] - exact.means[times > burn])
                                    <= Z95 * sd, axis=0),
        time_coverage_readout=np.mean(np.abs(latent[index][after] - readout[after]) <= Z95 * sd,
                                      axis=0),
        spikes_per_second=n_spikes / duration, rate_per_neuron=n_spikes / duration / params.n_neurons,
        n_spikes=n_spikes)


def kalman_trial(params: SpikingKalmanParams, *, key: KeyLike, duration: float,
                 spike_mode: str = "greedy", burn_in: float | None = None, capacity=None,
                 ) -> tuple[LinearGaussianTrial, SpikingKalmanResult, KalmanAccuracy]:
    """Sample a trial (data key ``fold_in(key, 0)``), run the network on its increments
    (network key ``fold_in(key, 1)``) and measure it: ``(trial, result, accuracy)``."""
    duration = float(require_positive("duration", duration, ndim=0))
    n_steps = int(round(duration / params.dt))
    if n_steps < 2:
        raise ValueError(f"duration must cover at least 2 steps of dt = {params.dt}, got {duration}")
    if burn_in is not None and float(require_nonnegative("burn_in", burn_in, ndim=0)) >= duration:
        raise ValueError(f"burn_in ({burn_in} s) must be shorter than duration ({duration} s)")
    key = as_key(key)
    trial = sample_linear_gaussian(params.model, key=jax.random.fold_in(key, 0), dt=params.dt,
                                   n_steps=n_steps)
    result = simulate(params, trial.dy, key=jax.random.fold_in(key, 1), spike_mode=spike_mode,
                      capacity=capacity)
    return trial, result, kalman_accuracy(params, trial, result, burn_in=burn_in)


def exact_zscore_coverage(model: LinearGaussianParams, *, key: KeyLike, dt: float,
                          duration: float, burn_in: float | None = None
                          ) -> tuple[np.ndarray, np.ndarray, int]:
    """z-score coverage of the exact steady-state posterior on one long run.

    Returns ``(z (S, D), coverage (D,), S)``; samples every ``N_EFOLDS`` correlation
    times after a burn-in of the same length (default).
    """
    dt = float(require_positive("dt", dt, ndim=0))
    duration = float(require_positive("duration", duration, ndim=0))
    trial = sample_linear_gaussian(model, key=key, dt=dt, n_steps=int(round(duration / dt)))
    exact = kalman_bucy_posterior(model, trial.dy, dt=dt)
    tau = correlation_time(exact.generator)
    burn = N_EFOLDS * tau if burn_in is None else float(burn_in)
    z, cov = zscore_coverage(trial.latent, exact.means, exact.covariance, trial.times, burn,
                             N_EFOLDS * tau)
    return z, cov, int(z.shape[0])


def kalman_checks(seed: int = 0, quick: bool = True):
    """Rows for ``bayesnn validate --scenario kalman``: spiking Kalman filter vs exact.

    For the 1-D OU and the 2-D oscillator (defaults of :func:`ou_params`,
    :func:`oscillator_params`; N = 20 +/- kernels and N = 50 circular kernels of norm
    0.1, dt = 1e-4 s, greedy spikes):

    - ``max ||x_hat - mu_K||`` after burn-in <= the error bound (box radius x the exact
      amplification; 1-D: the box half-width ``T/|Gamma|``) + 1e-9 round-off;
    - the greedy loop never hit its cap (the bound's premise);
    - z-score coverage of the exact posterior (one long run, samples 5 correlation
      times apart) inside the 99% binomial band around 0.95, per coordinate.

    Reported only: readout z-score coverage, spikes per second, RMSE.

    Returns:
        ``(checks, numbers)``.
    """
    checks, numbers, _ = _kalman_run(seed, quick)
    return checks, numbers


def kalman_scenario(*, seed: int = 0, quick: bool = True, progress=None,
                    figures: bool = True):
    """``bayesnn validate --scenario kalman``: the checks of :func:`kalman_checks`, one
    figure per model (readout vs exact Kalman mean with the error bound, error norm
    against the bound, z-score histogram) and the runs as traces (NetCDF).
    ``quick``: 3 s runs and a 300 s z-score run (else 10 s and 1500 s).

    Returns:
        :class:`bayesnn.report.ScenarioResult`.
    """
    from bayesnn.report import ScenarioResult

    checks, numbers, data = _kalman_run(seed, quick, progress)
    built = {}
    if figures:
        from bayesnn.posteriors.plotting import plot_kalman_run
        from bayesnn.style import describe
        for label, run in data.items():
            params, trial, result, acc = run["params"], run["trial"], run["result"], run["accuracy"]
            index = np.rint(np.asarray(result.times) / params.dt).astype(int) - 1
            latent = np.asarray(trial.latent)[index]
            after = np.asarray(result.times) > acc.burn_in
            sd = np.sqrt(np.diag(acc.exact.covariance))
            built[label] = plot_kalman_run(
                result.times, latent, result.readout, acc.exact.means[index],
                acc.error_bound, acc.burn_in, run["z_exact"],
                (latent[after] - np.asarray(result.readout)[after]) / sd,
                title=f"Spiking Kalman filter ({run['name']}) against the exact posterior",
                caption=describe(N=params.n_neurons, dt=(float(params.dt), "s"),
                                 duration=(float(np.asarray(result.times)[-1]), "s"),
                                 z_run=(run["z_duration"], "s"), seed=seed))
    return ScenarioResult("kalman", checks, numbers, built, _traces(data, seed))


def _traces(data: dict, seed: int):
    import xarray as xr

    parts = []
    for label, run in data.items():
        params, trial, result, acc = run["params"], run["trial"], run["result"], run["accuracy"]
        index = np.rint(np.asarray(result.times) / params.dt).astype(int) - 1
        part = result.to_xarray()
        part["exact_mean"] = (("time", "dim"), acc.exact.means[index])
        part["exact_mean"].attrs.update(units="[z]", description="exact Kalman-Bucy mean")
        part["latent"] = (("time", "dim"), np.asarray(trial.latent)[index])
        part["latent"].attrs.update(units="[z]", description="true latent z")
        part["exact_covariance"] = (("dim", "dim_"), np.asarray(acc.exact.covariance))
        part["exact_covariance"].attrs.update(units="[z]^2",
                                              description="stationary posterior covariance")
        part["z_exact_long_run"] = (("z_sample", "dim"), np.asarray(run["z_exact"]))
        part["z_exact_long_run"].attrs.update(
            units="1", description="(z - mu) / sqrt(P_dd), long run, samples 5 corr. times apart")
        part.attrs = {}
        names = set(part.variables) | set(part.dims)
        parts.append(part.rename({name: f"{label}_{name}" for name in names}))
    traces = xr.merge(parts, combine_attrs="drop")
    traces.attrs.update(scenario="kalman", seed=seed,
                        runs="ou: OU(tau=0.2 s), N = 20; oscillator: 1 Hz, N = 50")
    return traces


def _kalman_run(seed: int, quick: bool, progress=None):
    """The checks, numbers and, per model, the data the figures and traces need."""
    from bayesnn.report import Check
    from bayesnn.posteriors.kalman import make_spiking_kalman

    progress = progress or (lambda message: None)
    duration = 3.0 if quick else 10.0
    z_duration = 300.0 if quick else 1500.0
    checks: list = []
    numbers: dict = {}
    data: dict = {}
    setups = (("ou", "OU(tau=0.2 s)", ou_params(), 20),
              ("oscillator", "oscillator(1 Hz)", oscillator_params(), 50))
    for i, (label, name, model, N) in enumerate(setups):
        progress(f"kalman: {name}, N = {N}: {duration:g} s run, {z_duration:g} s z-score run")
        params = make_spiking_kalman(model, n_neurons=N, decoder_norm=0.1, dt=1e-4)
        bound = error_bound(params)
        key = jax.random.fold_in(as_key(seed), i)
        trial, result, acc = kalman_trial(params, key=jax.random.fold_in(key, 0),
                                          duration=duration)
        checks.append(Check(f"kalman_{label}_box", acc.max_error, bound.error_bound + ROUNDOFF,
                            "<=", f"{name}: max ||x_hat - mu_K|| after {acc.burn_in:.2f} s "
                            f"<= box radius {bound.box_radius:.4g} x amplification "
                            f"{bound.amplification:.3f}"))
        checks.append(Check(f"kalman_{label}_greedy_cap_hits", int(result.n_cap_hits), 0, "<=",
                            "steps where the greedy spike loop hit its cap (box premise)"))
        z_long, cov, S = exact_zscore_coverage(model, key=jax.random.fold_in(key, 1), dt=1e-4,
                                               duration=z_duration)
        data[label] = {"name": name, "params": params, "trial": trial, "result": result,
                       "accuracy": acc, "z_exact": z_long, "z_duration": z_duration}
        band = binomial_band(S)
        for d in range(model.n_dims):
            checks.append(Check(f"kalman_{label}_exact_z_coverage_{d}", float(cov[d]), band, "in",
                                f"{name}: fraction of |z| <= 1.96 of the true latent under "
                                f"the exact posterior, {S} samples 5 corr. times apart "
                                "(99% binomial band around 0.95)"))
        numbers[label] = {
            "max_error": acc.max_error, "error_bound": bound.error_bound,
            "box_radius": bound.box_radius, "amplification": bound.amplification,
            "rmse": acc.rmse.tolist(), "max_abs_error": acc.max_abs_error.tolist(),
            "spikes_per_second": acc.spikes_per_second, "rate_per_neuron_hz": acc.rate_per_neuron,
            "readout_z_coverage_spaced": acc.coverage_readout.tolist(),
            "readout_z_samples_spaced": int(acc.z_readout.shape[0]),
            "readout_z_coverage_all_steps": acc.time_coverage_readout.tolist(),
            "exact_z_coverage_all_steps": acc.time_coverage_exact.tolist(),
            "exact_z_coverage_long": cov.tolist(), "exact_z_samples_long": S,
            "max_spikes_per_step": int(result.max_spikes_per_step),
        }
    return checks, numbers, data
