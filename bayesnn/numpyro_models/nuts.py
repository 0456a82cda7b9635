r"""Parameter inference for the binned MMPP with NUTS, hidden chain marginalised.

Model (Denève 2004, Sec. 1.1; likelihood of :func:`bayesnn.numpyro_models.mmpp_binned.mmpp_hmm_model`,
the hidden state summed out by funsor at every NUTS step):

.. math::

    r_{on}, r_{off} &\sim \mathrm{LogNormal}(\mu_r, \sigma_r) \quad\text{(Hz)} \\
    q^i_{on}, q^i_{off} &\sim \mathrm{Gamma}(a, b) \ \text{iid (Hz), conditioned on }
        Q_{on} = \textstyle\sum_i q^i_{on} > Q_{off} = \sum_i q^i_{off} \\
    n_{b,k,i} \mid x &\sim \text{binned MMPP}, \quad b = 1..B \text{ trials}

**Label switching.** The likelihood is invariant under swapping the labels ON/OFF
together with ``(r_on, q_on) <-> (r_off, q_off)``; with exchangeable priors the
posterior has two mirror modes and chains that land in different modes give R-hat >> 1.
We identify ON as the state with the larger *total* input rate (the Denève 2004 convention
theta = Q_on - Q_off > 0), bayesnn's one labelling
(:func:`bayesnn.processes.canonical_labelling`, applied by every learner): every sample
is in that labelling by construction. The iid Gamma prior restricted to that region is sampled
exactly through the Gamma–Dirichlet decomposition: if :math:`q_i \sim \mathrm{Gamma}(a, b)`
iid then :math:`Q = \sum q_i \sim \mathrm{Gamma}(Na, b)` independent of
:math:`q / Q \sim \mathrm{Dirichlet}(a \mathbf 1_N)`. So

.. math::

    (\log Q_{off}, \log Q_{on}) &\sim \text{ordered pair with density} \propto
        \textstyle\prod_s \mathrm{Gamma}(Q_s; Na, b)\, Q_s, \\
    \pi_{on}, \pi_{off} &\sim \mathrm{Dirichlet}(a \mathbf 1_N), \quad
    q_{on} = Q_{on}\pi_{on}, \ q_{off} = Q_{off}\pi_{off}.

If a data set was simulated with theta < 0, compare the posterior with the *relabelled*
truth (:func:`relabel_truth`).

Default priors: ``mu_r = log 2 Hz``, ``sigma_r = 1`` (90 % prior mass in 0.39–10 Hz);
``a = 2``, ``b = 0.1 /Hz`` (mean 20 Hz, sd 14 Hz per input).

Results come back as ArviZ ``InferenceData`` with R-hat, bulk ESS and 90 % HDIs.

Speed: without a progress bar, and unless parallel chains have a device each, every chain
(initialisation, warm-up, draws) runs in one compiled program (:func:`_sample_program`)
whose data are arguments: one XLA program per shape and setting, reused for every data
set of that shape in the process and through JAX's persistent cache. It is NumPyro's
``MCMC`` traced under ``jax.jit``; its draws differ from an eager ``mcmc.run``'s only
because the potential energy's constant ``sum log n!`` is rounded differently there
(7e-12 nats at T = 2000, gradients bit for bit equal), which changes the odd
accept decision: the posterior is the same, not the sequence. NumPyro's NUTS compiles
the enumerated model once per chain method. With JAX
already initialised, ``chain_method="parallel"`` needs ``numpyro.set_host_device_count``
to have been called *before* JAX started (otherwise NumPyro falls back to sequential);
``"vectorized"`` runs chains in lock-step in one process.
"""
from __future__ import annotations

import functools
import math
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.infer import MCMC, init_to_value

from bayesnn.core.keys import KeyLike, as_key
from bayesnn.core.params import unchecked
from bayesnn.core.precision import warn_if_float32
from bayesnn.core.binning import bin_spikes
from bayesnn.core.spikes import Spikes
from bayesnn.core.validation import check_spikes, require_int, require_positive
from bayesnn.numpyro_models.compiled_nuts import CompiledInitNUTS
from bayesnn.numpyro_models.mmpp_binned import mmpp_hmm_model
from bayesnn.numpyro_models.mmpp_forward import forward_log_likelihood
from bayesnn.processes.labelling import canonical_labelling
from bayesnn.processes.params import MMPPParams

__all__ = ["MMPPPriors", "NUTSResult", "mmpp_parameter_model", "relabel_truth", "run_nuts"]

PARAMETERS = ("r_on", "r_off", "q_on", "q_off")


class MMPPPriors(NamedTuple):
    """Priors of :func:`mmpp_parameter_model` (module docstring).

    Fields:
        switch_log_mean: LogNormal location of r_on and r_off (log Hz).
        switch_log_std: LogNormal scale of r_on and r_off.
        input_shape: Gamma shape ``a`` of each input rate.
        input_rate: Gamma rate ``b`` of each input rate (1/Hz).
    """

    switch_log_mean: float = math.log(2.0)
    switch_log_std: float = 1.0
    input_shape: float = 2.0
    input_rate: float = 0.1


class NUTSResult(NamedTuple):
    """NUTS posterior of (r_on, r_off, q_on, q_off).

    Fields:
        samples: dict name -> array ``(chains, draws, ...)`` (Hz).
        inference_data: ``arviz.InferenceData`` (posterior + sample_stats).
        summary: ``pandas.DataFrame`` from ``arviz.summary`` (90 % HDI, R-hat, ESS).
        intervals: dict name -> ``(2,)`` or ``(2, N)`` array, 90 % HDI (low, high) in Hz.
        num_divergences: divergent transitions after warm-up, all chains.
        max_rhat: largest rank-normalised split R-hat over all parameters (unrounded;
            needs ``num_chains >= 2`` to be meaningful).
        rhat: dict name -> R-hat (float, or ``(N,)`` array for q_on / q_off).
        min_ess_bulk: smallest bulk effective sample size.
    """

    samples: dict
    inference_data: object
    summary: object
    intervals: dict
    num_divergences: int
    max_rhat: float
    min_ess_bulk: float
    rhat: dict


def mmpp_parameter_model(counts, dt, priors: MMPPPriors = MMPPPriors(),
                         marginalize: str = "forward", fixed: dict | None = None,
                         log_factorials=None) -> None:
    """NumPyro model: priors on (r_on, r_off, q_on, q_off) + binned MMPP likelihood.

    Args:
        counts: ``(B, T, N)`` counts (B trials of T bins of width ``dt`` seconds).
        dt: bin width (s).
        priors: :class:`MMPPPriors`.
        marginalize: ``"forward"`` adds the hidden-chain-marginalised likelihood
            :func:`~bayesnn.numpyro_models.mmpp_forward.forward_log_likelihood` as a factor
            (fast); ``"enumerate"`` uses :func:`mmpp_hmm_model` and lets NumPyro/funsor
            enumerate the chain (same density, tested to 1e-9; ~10x slower per gradient
            and ~30 s of eager initialisation at T = 2000).
        fixed: optional dict name -> value (Hz) of rates held fixed (no sample site).
            When exactly one of ``q_on``, ``q_off`` is fixed, the other gets the iid
            Gamma prior without the ordering (the fixed one pins the labels).
        log_factorials: optional ``(B,)`` host sums ``sum log n!`` of ``counts`` (nats),
            for ``"forward"`` with traced counts (see
            :func:`~bayesnn.numpyro_models.mmpp_forward.forward_log_likelihood`).
    Sites: ``r_on``, ``r_off`` (Hz), ``log_total_rates`` (ordered: log Q_off < log Q_on),
    ``weights_on``/``weights_off`` (Dirichlet, only when N > 1), deterministic ``q_on``,
    ``q_off`` (Hz), and the enumerated hidden chain of :func:`mmpp_hmm_model`.
    """
    fixed = fixed or {}
    n_inputs = counts.shape[-1]
    switch = dist.LogNormal(priors.switch_log_mean, priors.switch_log_std)
    r_on = fixed["r_on"] if "r_on" in fixed else numpyro.sample("r_on", switch)
    r_off = fixed["r_off"] if "r_off" in fixed else numpyro.sample("r_off", switch)
    if "q_on" in fixed or "q_off" in fixed:
        rate_prior = dist.Gamma(priors.input_shape, priors.input_rate).expand(
            [n_inputs]).to_event(1)
        q_on = fixed["q_on"] if "q_on" in fixed else numpyro.sample("q_on", rate_prior)
        q_off = fixed["q_off"] if "q_off" in fixed else numpyro.sample("q_off", rate_prior)
    else:
        log_totals = numpyro.sample(
            "log_total_rates", dist.ImproperUniform(constraints.ordered_vector, (), (2,)))
        totals = jnp.exp(log_totals)
        total_prior = dist.Gamma(n_inputs * priors.input_shape, priors.input_rate)
        # density of log Q: Gamma(Q) * Q (Jacobian of Q = exp(log Q))
        numpyro.factor("total_rates_prior", jnp.sum(total_prior.log_prob(totals) + log_totals))
        if n_inputs > 1:
            concentration = jnp.full(n_inputs, priors.input_shape)
            weights_on = numpyro.sample("weights_on", dist.Dirichlet(concentration))
            weights_off = numpyro.sample("weights_off", dist.Dirichlet(concentration))
        else:
            weights_on = weights_off = jnp.ones(1)
        q_on = numpyro.deterministic("q_on", totals[1] * weights_on)
        q_off = numpyro.deterministic("q_off", totals[0] * weights_off)
    params = unchecked(MMPPParams, r_on=r_on, r_off=r_off, q_on=q_on, q_off=q_off)
    if marginalize == "enumerate":
        mmpp_hmm_model(params, counts, dt)
    elif marginalize == "forward":
        numpyro.factor("log_likelihood", jnp.sum(forward_log_likelihood(
            params, counts, dt, log_factorials=log_factorials)))
    else:
        raise ValueError(f"marginalize must be 'forward' or 'enumerate', got {marginalize!r}")


def relabel_truth(params: MMPPParams) -> MMPPParams:
    """The truth in the model's labelling, bayesnn's one labelling (ON = the state with
    the larger total input rate; :func:`bayesnn.processes.canonical_labelling`)."""
    return canonical_labelling(params)[0]


def _initial_values(counts: np.ndarray, dt: float, fixed: dict) -> dict:
    """Data-driven start: totals at 0.8x / 1.2x the mean count rate, uniform weights."""
    n_inputs = counts.shape[-1]
    total_rate = max(float(counts.sum(axis=-1).mean()) / dt, 1e-3)
    values = {name: 1.0 for name in ("r_on", "r_off") if name not in fixed}
    if "q_on" in fixed or "q_off" in fixed:
        for name, share in (("q_on", 1.2), ("q_off", 0.8)):
            if name not in fixed:
                values[name] = np.full(n_inputs, share * total_rate / n_inputs)
        return values
    values["log_total_rates"] = np.log(np.array([0.8, 1.2]) * total_rate)
    if n_inputs > 1:
        values["weights_on"] = np.full(n_inputs, 1.0 / n_inputs)
        values["weights_off"] = np.full(n_inputs, 1.0 / n_inputs)
    return values


def _check_fixed(fixed) -> dict:
    if fixed is None:
        return {}
    if not isinstance(fixed, dict):
        raise ValueError(f"fixed must be a dict name -> rate (Hz), got {type(fixed).__name__}")
    out = {}
    for name, value in fixed.items():
        if name not in PARAMETERS:
            raise ValueError(f"fixed must name rates among {PARAMETERS}, got {name!r}")
        out[name] = np.asarray(require_positive(f"fixed[{name!r}]", value,
                                                ndim=0 if name.startswith("r") else 1), float)
    if "q_on" in out and "q_off" in out and out["q_on"].shape != out["q_off"].shape:
        raise ValueError("fixed['q_on'] and fixed['q_off'] must have the same shape")
    return out


def _binned_inputs(inputs, duration, dt, n_inputs, fixed):
    """(B, T, N) counts of checked spikes, binned by :func:`bayesnn.core.bin_spikes`."""
    if not isinstance(inputs, Spikes):
        raise ValueError(f"inputs must be a bayesnn.core.Spikes, got {type(inputs).__name__}")
    dt = float(require_positive("dt", dt, ndim=0))
    duration = float(require_positive("duration", duration, ndim=0))
    known = [np.shape(fixed[n])[0] for n in ("q_on", "q_off") if n in fixed]
    if n_inputs is None:
        senders = np.asarray(inputs.senders)
        n_inputs = known[0] if known else int(np.max(senders, initial=-1)) + 1
    n_inputs = require_int("n_inputs", n_inputs, minimum=1)
    if known and known[0] != n_inputs:
        raise ValueError(f"fixed q has {known[0]} inputs, n_inputs is {n_inputs}")
    trials = [inputs] if np.ndim(inputs.times) == 1 else [
        jax.tree_util.tree_map(lambda a, k=k: a[k], inputs) for k in range(np.shape(inputs.times)[0])]
    for k, trial in enumerate(trials):
        check_spikes(trial, n_senders=n_inputs, duration=duration,
                     name="inputs" if len(trials) == 1 else f"inputs[{k}]")
    counts = bin_spikes(inputs, n_senders=n_inputs, duration=duration, dt=dt)
    counts = counts[None] if counts.ndim == 2 else counts
    if counts.sum() < 1:
        raise ValueError("inputs holds no spike")
    return counts, dt


class _Settings(NamedTuple):
    """The static settings of one compiled sampler (:func:`_sample_program`)."""

    num_warmup: int
    num_samples: int
    num_chains: int
    target_accept_prob: float
    dense_mass: bool
    priors: MMPPPriors
    marginalize: str


@functools.partial(jax.jit, static_argnames="settings")
def _sample_program(key, counts, dt, log_factorials, fixed, init_values, *, settings):
    """Every chain of :func:`run_nuts` (initialisation, warm-up and draws) as one program.

    NumPyro's :class:`MCMC` run under ``jax.jit``: the same kernel, the same key split
    and the same sequence of operations as an eager ``mcmc.run`` with
    ``chain_method="sequential"``, but compiled as one XLA program instead of an
    initialisation program, a sampling loop and about 25 small programs NumPyro
    dispatches between them (buffer allocation, reshapes). The data (counts, dt,
    ``sum log n!``, fixed rates, start values) are arguments, not constants, so the
    program (and JAX's persistent cache entry) serves every data set of the same shape:
    a second data set compiles nothing. Chains run one after another (``lax.map``,
    one copy of the sampler in the program). Returns the samples ``(chains, draws, ...)``,
    the divergence flags ``(chains, draws)`` and whether every chain's start had a
    finite potential energy and gradient ``(chains,)``.
    """
    def chain(chain_key):
        kernel = CompiledInitNUTS(
            mmpp_parameter_model, target_accept_prob=settings.target_accept_prob,
            dense_mass=settings.dense_mass, init_strategy=init_to_value(values=init_values))
        mcmc = MCMC(kernel, num_warmup=settings.num_warmup, num_samples=settings.num_samples,
                    num_chains=1, progress_bar=False)
        mcmc.run(chain_key, counts, dt, settings.priors, settings.marginalize, fixed,
                 log_factorials=log_factorials)
        return mcmc.get_samples(), mcmc.get_extra_fields()["diverging"], kernel.start_is_finite

    if settings.num_chains == 1:  # NumPyro uses the key as given for one chain
        return jax.tree.map(lambda leaf: leaf[None], chain(key))
    return jax.lax.map(chain, jax.random.split(key, settings.num_chains))


def run_nuts(inputs: Spikes, *, duration: float, dt: float, n_inputs: int | None = None,
             fixed: dict | None = None, key: KeyLike = 0, num_warmup: int = 500,
             num_samples: int = 500, num_chains: int = 2, chain_method: str = "parallel",
             target_accept_prob: float = 0.8, priors: MMPPPriors = MMPPPriors(),
             progress_bar: bool = False, hdi_prob: float = 0.9,
             marginalize: str = "forward", dense_mass: bool = False) -> NUTSResult:
    """Sample p(r_on, r_off, q_on, q_off | spikes) with NUTS on the binned model (hidden
    chain marginalised).

    Args:
        inputs: :class:`bayesnn.core.Spikes`, one trial (C,) or a batch (B, C) on
            ``[0, duration]``; binned inside by :func:`bayesnn.core.bin_spikes` (the one
            binning helper of the learners).
        duration: trial length, s, a whole number of bins.
        dt: bin width (s, > 0).
        n_inputs: N (default: 1 + the largest sender, or the length of a fixed q).
        fixed: optional dict name -> value (Hz) of rates held fixed, e.g.
            ``{"r_on": 2.0, "r_off": 2.0}``; they get no sample site and are absent from
            ``samples``, ``intervals`` and ``rhat``.
        key: int seed or JAX PRNG key (default seed 0).
        num_warmup, num_samples, num_chains: NUTS settings (per chain).
        chain_method: ``"parallel"``, ``"sequential"`` or ``"vectorized"`` (NumPyro).
        target_accept_prob: dual-averaging target.
        priors: :class:`MMPPPriors`.
        hdi_prob: probability mass of the reported HDIs.
        marginalize: ``"forward"`` or ``"enumerate"`` (see :func:`mmpp_parameter_model`).
        dense_mass: adapt a dense mass matrix (measured at T = 2000, N = 10: fewer
            steps per draw, but a slower warm-up, 32 s against 9 s per chain; default off).
    Raises ``ValueError`` on bad counts / dt / settings before sampling.
    """
    import arviz as az

    fixed = _check_fixed(fixed)
    counts, dt = _binned_inputs(inputs, duration, dt, n_inputs, fixed)
    for name, value in (("num_warmup", num_warmup), ("num_samples", num_samples),
                        ("num_chains", num_chains)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if chain_method not in ("parallel", "sequential", "vectorized"):
        raise ValueError(
            f"chain_method must be 'parallel', 'sequential' or 'vectorized', got {chain_method!r}")
    require_positive("target_accept_prob", target_accept_prob, ndim=0)
    if not 0 < target_accept_prob < 1:
        raise ValueError(f"target_accept_prob must lie in (0, 1), got {target_accept_prob}")
    for name in priors._fields:
        if name != "switch_log_mean":
            require_positive(f"priors.{name}", getattr(priors, name), ndim=0)
    if marginalize not in ("forward", "enumerate"):
        raise ValueError(f"marginalize must be 'forward' or 'enumerate', got {marginalize!r}")
    key = as_key(key)
    warn_if_float32("run_nuts")

    free = [name for name in PARAMETERS if name not in fixed]
    one_program = not progress_bar and (
        num_chains == 1 or chain_method == "sequential"
        or (chain_method == "parallel" and jax.local_device_count() < num_chains))
    if one_program:
        from scipy.special import gammaln

        settings = _Settings(int(num_warmup), int(num_samples), int(num_chains),
                             float(target_accept_prob), bool(dense_mass), priors, marginalize)
        log_factorials = np.sum(gammaln(counts + 1.0), axis=(-2, -1))
        draws, diverging, finite = jax.device_get(_sample_program(
            key, jnp.asarray(counts), jnp.asarray(dt), jnp.asarray(log_factorials),
            {name: jnp.asarray(value) for name, value in fixed.items()},
            {name: jnp.asarray(value, dtype=float)
             for name, value in _initial_values(counts, dt, fixed).items()},
            settings=settings))
        if not np.all(finite):
            raise RuntimeError("Cannot find valid initial parameters: the potential energy "
                               "or its gradient is not finite at the initial values.")
    else:  # a progress bar, vectorised chains, or parallel chains on several devices
        kernel = CompiledInitNUTS(
            mmpp_parameter_model, target_accept_prob=target_accept_prob,
            dense_mass=bool(dense_mass),
            init_strategy=init_to_value(values=_initial_values(counts, dt, fixed)))
        with warnings.catch_warnings():
            # "There are not enough devices to run parallel chains": NumPyro then runs the
            # chains sequentially, which is the documented fallback.
            warnings.filterwarnings("ignore", message="There are not enough devices")
            mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples,
                        num_chains=num_chains, chain_method=chain_method,
                        progress_bar=progress_bar)
            mcmc.run(key, jnp.asarray(counts), dt, priors, marginalize,
                     {name: jnp.asarray(value) for name, value in fixed.items()})
        draws = mcmc.get_samples(group_by_chain=True)
        diverging = mcmc.get_extra_fields(group_by_chain=True)["diverging"]
    samples = {name: np.asarray(value) for name, value in draws.items() if name in free}
    diverging = np.asarray(diverging)
    divergences = int(np.sum(diverging))
    posterior = az.from_dict(posterior=samples, sample_stats={"diverging": diverging})
    # round_to="none": the default rounds R-hat to 2 decimals, too coarse for "< 1.01"
    summary = az.summary(posterior, var_names=free, hdi_prob=hdi_prob, round_to="none")
    intervals = {}
    hdi = az.hdi(posterior, hdi_prob=hdi_prob, var_names=free)
    for name in free:
        values = np.asarray(hdi[name].values)  # (..., 2): low, high
        intervals[name] = np.moveaxis(values, -1, 0)
    rhat_set = az.rhat(posterior, var_names=free)
    rhat = {name: (float(rhat_set[name].values) if rhat_set[name].ndim == 0
                   else np.asarray(rhat_set[name].values)) for name in free}
    return NUTSResult(samples=samples, inference_data=posterior, summary=summary,
                      intervals=intervals, num_divergences=divergences,
                      max_rhat=float(np.max(summary["r_hat"].to_numpy())),
                      min_ess_bulk=float(np.min(summary["ess_bulk"].to_numpy())),
                      rhat=rhat)
