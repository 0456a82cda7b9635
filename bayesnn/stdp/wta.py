r"""The stochastic winner-take-all (WTA) circuit with STDP (Nessler et al. 2013).

Nessler, Pfeiffer, Buesing & Maass 2013, PLoS Comput Biol 9(4): e1003037, Sec. "Results"
("Definition of the network model", "STDP approximates stochastic online EM") and
Methods. Per time step dt (at most one circuit spike per step):

.. math::

    s_i &\sim \mathrm{Bernoulli}\big(a_i (1 - e^{-f\,dt})\big) &&\text{input spikes; } a = \text{population code of the image}\\
    y_i(t) &= 1 \iff \text{input } i \text{ spiked in } (t - \sigma, t] &&\text{rectangular EPSP}\\
    u_k(t) &= w_{k0} + \textstyle\sum_i w_{ki}\, y_i(t) &&\text{membrane potential}\\
    r_k(t) &= R\, e^{u_k(t)} / \textstyle\sum_l e^{u_l(t)} &&\text{WTA: total rate held at } R\\
    P(\text{circuit spike in a step}) &= 1 - e^{-R\,dt}, \quad k \sim \operatorname{softmax}(u(t)) &&\text{E-step sample}\\
    \Delta w_{ki} &= \eta_p\,(c\, e^{-w_{ki}} - 1) \text{ if } y_i = 1, \quad -\eta_p \text{ otherwise} &&\text{STDP at a spike of } k\\
    \Delta w_{l0} &= \eta^0_p\,(e^{-w_{l0}}[l = k] - 1) &&\text{excitability (prior), optional}

Weights are clipped to [log c + log mu_min, log c] (documented clipping; mu_min is the
probability floor shared with the references). Fixed point of the expected update:
w_ki = log c + log P(y_i = 1 | k fires); with the on/off code the read-out
mu_kj = e^{w_k,on(j)} / (e^{w_k,on(j)} + e^{w_k,off(j)}) is then P(x_j = 1 | k), the
Bernoulli-mixture mean (thinning by 1 - e^{-f sigma} cancels in the ratio).

Random draws: presentation p of a trial uses ``fold_in(trial_key, p)`` and one
(n_steps, 2M + 2) uniform array (:func:`presentation_uniforms`): columns 0..2M-1 input
spikes, 2M the circuit spike, 2M+1 the winner (inverse CDF of the softmax).
"""
from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.keys import as_key, trial_keys
from bayesnn.core.params import to_device
from bayesnn.core.precision import warn_if_float32
from bayesnn.stdp.data import check_images, initial_means as data_initial_means, population_code
from bayesnn.stdp.data import presentation_order
from bayesnn.stdp.params import WTAParams

__all__ = ["WTAResult", "WTAState", "initial_state", "mixture_of", "presentation_uniforms",
           "simulate", "simulate_trials", "weights_from_means", "wta_posterior", "wta_step"]


class WTAState(NamedTuple):
    """State of one circuit.

    Fields:
        weights: (K, 2M) synaptic weights w_ki (nats), input i = 2j (on) / 2j + 1 (off).
        log_prior: (K,) excitabilities w_k0 (nats).
        age: (2M,) steps since each input neuron's last spike (inf: none yet in this
            presentation; reset at each image onset).
    """

    weights: jax.Array
    log_prior: jax.Array
    age: jax.Array


def weights_from_means(means, c: float = 1.0) -> np.ndarray:
    """Weights (K, 2M) at the fixed point of a Bernoulli mixture with means (K, M):
    w_k,on(j) = log c + log mu_kj, w_k,off(j) = log c + log(1 - mu_kj)."""
    means = np.asarray(means, np.float64)
    return np.log(c) + np.log(np.stack([means, 1.0 - means], -1).reshape(means.shape[0], -1))


def mixture_of(weights, log_prior) -> tuple[np.ndarray, np.ndarray]:
    """Read a circuit's weights as a Bernoulli mixture (means (K, M), prior (K,)):
    mu_kj = e^{w_k,on(j)} / (e^{w_k,on(j)} + e^{w_k,off(j)}), pi = softmax(w_0). The
    normalisation removes the log c shift and the per-group drift of the rule."""
    w = np.asarray(weights, np.float64).reshape(np.shape(weights)[0], -1, 2)
    means = 1.0 / (1.0 + np.exp(w[..., 1] - w[..., 0]))
    lp = np.asarray(log_prior, np.float64)
    prior = np.exp(lp - lp.max())
    return means, prior / prior.sum()


def wta_posterior(weights, log_prior, codes) -> jax.Array:
    """softmax_k(w_k0 + sum_i w_ki y_i), (N, K): the law of the winner of a circuit spike
    when y is the full population code ``codes`` (N, 2M) (the ideal regime)."""
    # to_device: host arrays in without a copy program each (jnp.asarray compiles one)
    u = to_device(log_prior) + to_device(codes) @ to_device(weights).T
    return jax.nn.softmax(u, axis=-1)


def initial_state(weights, log_prior) -> WTAState:
    """A state with the given weights (K, 2M) and excitabilities (K,), no input spikes."""
    # to_device: host arrays in without an XLA program each (jnp.asarray / jnp.full)
    weights = to_device(weights, jnp.result_type(float))
    return WTAState(weights, to_device(log_prior, weights.dtype),
                    to_device(np.full(weights.shape[1], np.inf), weights.dtype))


def presentation_uniforms(trial_key, presentation, n_steps: int, n_inputs: int) -> jax.Array:
    """The uniforms of one presentation: (n_steps, n_inputs + 2) from
    ``fold_in(trial_key, presentation)``."""
    return jax.random.uniform(jax.random.fold_in(trial_key, presentation), (n_steps, n_inputs + 2),
                              dtype=jnp.result_type(float))


def wta_step(params: WTAParams, state: WTAState, code: jax.Array, uniforms: jax.Array,
             eta: jax.Array, prior_rate: jax.Array) -> tuple[WTAState, jax.Array]:
    """One time step dt of the circuit (pure).

    Args:
        params: :class:`WTAParams`.
        state: :class:`WTAState`.
        code: (2M,) population code of the image shown (0/1).
        uniforms: (2M + 2,) uniforms in [0, 1) (see the module docstring).
        eta, prior_rate: this presentation's learning rates (0: no learning).

    Returns:
        (new state, winner): winner is the index of the output neuron that spiked, -1 if
        none.
    """
    n_inputs = code.shape[0]
    p_input = -jnp.expm1(-params.input_rate * params.dt)
    spiked = (code > 0) & (uniforms[:n_inputs] < p_input)
    age = jnp.where(spiked, 0.0, state.age + 1.0)
    y = age < jnp.round(params.sigma / params.dt)
    u = state.log_prior + state.weights @ y.astype(state.weights.dtype)
    fire = uniforms[n_inputs] < -jnp.expm1(-params.total_rate * params.dt)
    cdf = jnp.cumsum(jax.nn.softmax(u))
    k = jnp.minimum(jnp.searchsorted(cdf, uniforms[n_inputs + 1] * cdf[-1], side="right"),
                    u.shape[0] - 1)
    log_c = jnp.log(params.c)
    w_k = state.weights[k]
    new_w = jnp.clip(w_k + eta * jnp.where(y, params.c * jnp.exp(-w_k) - 1.0, -1.0),
                     log_c + jnp.log(params.mu_min), log_c)
    weights = state.weights.at[k].set(jnp.where(fire, new_w, w_k))
    onehot = jax.nn.one_hot(k, u.shape[0], dtype=u.dtype)
    new_prior = jnp.clip(state.log_prior + prior_rate * (onehot * jnp.exp(-state.log_prior) - 1.0),
                         jnp.log(params.mu_min), 0.0)
    log_prior = jnp.where(fire & (prior_rate > 0), new_prior, state.log_prior)
    return WTAState(weights, log_prior, age), jnp.where(fire, k, -1)


def _run_trial(params, codes, order, weights, log_prior, key, learn, n_steps, n_records):
    """One circuit over all presentations: scan over records, presentations, steps."""
    n_inputs = codes.shape[1]
    n_components = weights.shape[0]
    per_record = order.shape[0] // n_records

    def present(state, p):
        scale = learn / (1.0 + p / params.eta_decay)
        uniforms = presentation_uniforms(key, p, n_steps, n_inputs)
        code = codes[order[p]]
        state = state._replace(age=jnp.full_like(state.age, jnp.inf))

        def step(s, row):
            return wta_step(params, s, code, row, params.eta * scale, params.prior_rate * scale)

        state, winners = jax.lax.scan(step, state, uniforms)
        return state, jax.nn.one_hot(winners, n_components, dtype=jnp.int32).sum(0)

    def record(state, r):
        state, wins = jax.lax.scan(present, state, r * per_record + jnp.arange(per_record))
        return state, (state.weights, state.log_prior, wins)

    state = initial_state(weights, log_prior)
    state, (w_hist, p_hist, wins) = jax.lax.scan(record, state, jnp.arange(n_records))
    return w_hist, p_hist, wins.reshape(-1, n_components)


@partial(jax.jit, static_argnames=("n_steps", "n_records"))
def _run_one(params, codes, order, weights, log_prior, key, learn, *, n_steps, n_records):
    return _run_trial(params, codes, order, weights, log_prior, key, learn, n_steps, n_records)


@partial(jax.jit, static_argnames=("n_steps", "n_records"))
def _run_many(params, codes, order, weights, log_prior, keys, learn, *, n_steps, n_records):
    return jax.vmap(lambda k: _run_trial(params, codes, order, weights, log_prior, k, learn,
                                         n_steps, n_records))(keys)


class WTAResult(NamedTuple):
    """What a WTA circuit learned (a trial axis first on every array of a batched result).

    Fields:
        weights: (K, 2M) final weights (nats).
        log_prior: (K,) final excitabilities (nats).
        weights_history: (R, K, 2M) weights after presentations ``record_at``.
        log_prior_history: (R, K).
        record_at: (R,) presentation counts at the records.
        wins: (P, K) output spikes of each neuron during each presentation.
        order: (P,) the image index of each presentation.
        presentation_time: s per presentation.
    """

    weights: np.ndarray
    log_prior: np.ndarray
    weights_history: np.ndarray
    log_prior_history: np.ndarray
    record_at: np.ndarray
    wins: np.ndarray
    order: np.ndarray
    presentation_time: float

    def mixture(self) -> tuple[np.ndarray, np.ndarray]:
        """The final weights read as a Bernoulli mixture (:func:`mixture_of`)."""
        return mixture_of(self.weights, self.log_prior)

    def to_xarray(self, attrs: dict | None = None):
        """The result as an ``xarray.Dataset`` (dims ``[trial,] record, component, input,
        presentation``; units and descriptions in attributes)."""
        import xarray as xr

        lead = ("trial",) if np.ndim(self.weights) == 3 else ()
        spec = {
            "weights": (("component", "input"), "nats", "final weights w_ki"),
            "log_prior": (("component",), "nats", "final excitabilities w_k0"),
            "weights_history": (("record", "component", "input"), "nats", "weights at records"),
            "log_prior_history": (("record", "component"), "nats", "excitabilities at records"),
            "wins": (("presentation", "component"), "spikes", "output spikes per presentation"),
        }
        variables = {name: xr.Variable(lead + dims, np.asarray(getattr(self, name)),
                                       {"units": unit, "description": text})
                     for name, (dims, unit, text) in spec.items()}
        coords = {"record": np.asarray(self.record_at),
                  "image": ("presentation", np.asarray(self.order))}
        return xr.Dataset(variables, coords, {
            "family": "stdp WTA circuit (Nessler et al. 2013)",
            "presentation_time_s": float(self.presentation_time), **(attrs or {})})


def _prepare(params, images, order, n_epochs, initial_means, initial_log_prior, record_every):
    if not isinstance(params, WTAParams):
        raise ValueError(f"params must be a WTAParams, got {type(params).__name__}")
    warn_if_float32("bayesnn.stdp.simulate")
    x = check_images(images, binary=True)
    n_pixels, n_components = int(params.n_pixels), int(params.n_components)
    if x.shape[1] != n_pixels:
        raise ValueError(f"images must have n_pixels = {n_pixels} columns, got {x.shape[1]}")
    if order is None:
        order = presentation_order(x.shape[0], int(n_epochs), seed=0)
    order = np.asarray(order)
    if (order.ndim != 1 or order.size < 1 or not np.issubdtype(order.dtype, np.integer)
            or order.min() < 0 or order.max() >= x.shape[0]):
        raise ValueError(f"order must be a non-empty 1-D integer array in [0, {x.shape[0]})")
    means = (data_initial_means(x, n_components, seed=0) if initial_means is None
             else np.asarray(initial_means, np.float64))
    mu_min = float(params.mu_min)
    if means.shape != (n_components, n_pixels) or not np.all(
            (means >= mu_min) & (means <= 1 - mu_min)):
        raise ValueError(f"initial_means must be ({n_components}, {n_pixels}) in "
                         f"[mu_min, 1 - mu_min] = [{mu_min:g}, {1 - mu_min:g}]")
    log_prior = (np.full(n_components, -np.log(n_components)) if initial_log_prior is None
                 else np.asarray(initial_log_prior, np.float64))
    if log_prior.shape != (n_components,) or not np.all(np.isfinite(log_prior)):
        raise ValueError(f"initial_log_prior must be ({n_components},) and finite")
    every = order.size if record_every is None else int(record_every)
    if every < 1 or order.size % every:
        raise ValueError(f"record_every must divide the number of presentations ({order.size}), "
                         f"got {record_every}")
    weights = weights_from_means(means, float(params.c))
    # to_device: host arrays in without an XLA program each (jnp.asarray compiles one)
    return (to_device(population_code(x)), to_device(order, jnp.int32), to_device(weights),
            to_device(log_prior), order, order.size // every, every)


def simulate(params: WTAParams, images, *, key: Any, order=None, n_epochs: int = 1,
             initial_means=None, initial_log_prior=None, record_every: int | None = None,
             learn: bool = True) -> WTAResult:
    """Run one WTA circuit over a sequence of image presentations (one compiled program).

    Args:
        params: :class:`WTAParams`.
        images: (N, M) binary images (0/1).
        key: int seed or JAX key of this trial.
        order: (P,) image index per presentation (default: ``n_epochs`` random
            permutations, :func:`bayesnn.stdp.data.presentation_order` with seed 0).
        n_epochs: epochs when ``order`` is not given.
        initial_means: (K, M) start means in [mu_min, 1 - mu_min] (default: training items
            shrunk toward 1/2, :func:`bayesnn.stdp.data.initial_means`, seed 0); weights
            start at ``weights_from_means(initial_means, c)``.
        initial_log_prior: (K,) start excitabilities (default log(1/K), uniform).
        record_every: record weights every this many presentations (must divide P;
            default: only at the end).
        learn: False runs the circuit with frozen weights (test-time sampling).

    Returns:
        :class:`WTAResult`.

    Raises:
        ValueError: for images not binary / outside [0, 1] / NaN / empty, a pixel count
            other than params.n_pixels, a bad order, initial means or record_every.
    """
    codes, order_j, weights, log_prior, order, n_records, every = _prepare(
        params, images, order, n_epochs, initial_means, initial_log_prior, record_every)
    w_hist, p_hist, wins = _run_one(params, codes, order_j, weights, log_prior, as_key(key),
                                    to_device(float(learn)), n_steps=params.n_steps(),
                                    n_records=n_records)
    w_hist, p_hist = np.asarray(w_hist), np.asarray(p_hist)
    return WTAResult(w_hist[-1], p_hist[-1], w_hist, p_hist, every * np.arange(1, n_records + 1),
                     np.asarray(wins), order, float(params.presentation_time))


def simulate_trials(params: WTAParams, images, *, key: Any, n_trials: int, order=None,
                    n_epochs: int = 1, initial_means=None, initial_log_prior=None,
                    record_every: int | None = None, learn: bool = True) -> WTAResult:
    """``n_trials`` independent circuits (``jax.vmap``, one compiled program) on the same
    presentations; trial k uses key ``fold_in(key, k)`` and equals
    ``simulate(..., key=fold_in(key, k))``. Arguments as :func:`simulate`; every array of
    the result has a leading trial axis."""
    codes, order_j, weights, log_prior, order, n_records, every = _prepare(
        params, images, order, n_epochs, initial_means, initial_log_prior, record_every)
    w_hist, p_hist, wins = _run_many(params, codes, order_j, weights, log_prior,
                                     trial_keys(key, n_trials), to_device(float(learn)),
                                     n_steps=params.n_steps(), n_records=n_records)
    w_hist, p_hist = np.asarray(w_hist), np.asarray(p_hist)
    return WTAResult(w_hist[:, -1], p_hist[:, -1], w_hist, p_hist,
                     every * np.arange(1, n_records + 1), np.asarray(wins), order,
                     float(params.presentation_time))
