r"""A local, spike-driven learning rule for the Bayesian neuron, derived from online EM.

Continuous-time limit of the forward-only smoothing of :mod:`bayesnn.learning.online`
(Cappé 2011 Sec. 2.2; for finite-dimensional filters of occupation times, jump counts
and counting integrals of a Markov chain see Elliott, Aggoun & Moore 1995, Ch. 2 and
8). For a statistic with drift ``c_j`` while in state j, jump increments ``s_01``,
``s_10`` at switches and increments ``d_j`` at input spikes, ``rho_t(j) = E[S_t | x_t =
j, spikes on [0, t]]`` obeys, with the neuron's log-odds ``L_t`` (e^L = phi_1/phi_0)::

    d rho_1/dt = c_1 + r_on e^{-L} (rho_0 + s_01 - rho_1)
    d rho_0/dt = c_0 + r_off e^{L}  (rho_1 + s_10 - rho_0)
    at a spike of input i:  rho_j += d_j,     read-out  E[S_t | spikes] = rho_0 + p_t delta

where ``delta = rho_1 - rho_0`` and ``p_t = sigma(L_t)``. ``delta`` relaxes at the rate
``k(L) = r_on e^{-L} + r_off e^{L}``, the neuron's own linearised leak
(the log-odds ODE of Denève 2004, Sec. 1.1). For the spike count of input i in state ON
(``d_1 = 1``, nothing else) this reads::

    delta_i  += 1 at each spike of input i          (a presynaptic eligibility trace)
    d delta_i / dt = -k(L_t) delta_i                (decays at the postsynaptic leak)
    d rho0_i / dt  = r_off e^{L_t} delta_i          (grows with what L does *after* the spike)
    E[N^i_on | spikes] = rho0_i + p_t delta_i

so synapse i needs only its own spikes and the neuron's L: the rule is local and
spike-time dependent, and it uses the postsynaptic activity *following* each input spike
(the information a filtered-only rule lacks; docs/learning.md, Sec. 6, and
:func:`local_rule` with
``smoothing=False``). The soma keeps the same traces for the time spent ON and for the
switch counts; input-free quantities (elapsed time, each input's spike count) are exact
running sums. Parameters follow the M-step of the read-out
(:mod:`bayesnn.learning.statistics`), in log-rate space with step ``learning_rate``
(1 = the full M-step): ``log q <- log q + eta (log M(q) - log q)``.

Discretisation (the only approximation relative to exact online EM on the same bins):
over a bin of width dt the coefficients are frozen at the L of the start of the bin and
the linear ODE is solved exactly (exponential Euler); with ``b = r_off e^L / k =
sigma(2L - L*)`` and ``m = r_on r_off / k`` the increments are bounded for every L::

    Delta delta = (src / k - delta)(1 - e^{-k dt}),  src = (c_1 - c_0) + r_on e^{-L} s_01 - r_off e^{L} s_10
    Delta rho_0 = c_0 dt + b [(c_1 - c_0) dt - Delta delta] + m (s_01 + s_10) dt

The neuron's L itself is the exact binned log-odds filter (the HMM forward filter of
Rabiner 1989, Sec. III, in log-odds form; :mod:`bayesnn.exact.hmm`) with the current
parameters: the rule runs inside the neuron's own time-stepped loop
(:func:`bayesnn.neuron.stepped_step`, ``"discrete"``), which also emits the output
spikes that carry G. A discount gamma per bin multiplies every trace (memory ~
dt / (1 - gamma)).

Sources: S. Denève, "Bayesian spiking neurons II: Learning", Neural Comput.
20(1):118-145 (2008) (local, spike-time-dependent learning by online EM, abstract);
G. Mongillo, S. Denève, Neural Comput. 20(7):1706-1716 (2008); O. Cappé (2011), J.
Comput. Graph. Stat. 20(3):728-749; R. J. Elliott, L. Aggoun, J. B. Moore, "Hidden
Markov Models: Estimation and Control", Springer (1995).
"""
from __future__ import annotations

import time
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.params import to_device, unchecked
from bayesnn.core.stepping import scan_steps
from bayesnn.learning import checks
from bayesnn.learning.fit import FitResult
from bayesnn.learning.online import initial_law, stream, stream_result
from bayesnn.core.validation import require_positive
from bayesnn.neuron import NeuronParams, NeuronState, init_state, prediction, stepped_step
from bayesnn.processes.params import MMPPParams

__all__ = ["LocalState", "local_init", "local_step", "local_readout", "local_rule"]


class LocalState(NamedTuple):
    """State of the local rule (a pytree). Traces are ordered
    ``[T_on, n_01, n_10, N^1_on, ..., N^N_on]`` (S = N + 3).

    Fields:
        neuron: the neuron's :class:`bayesnn.neuron.NeuronState` (its L_t and the anchor
            of its prediction G_t), advanced by :func:`bayesnn.neuron.stepped_step`.
        rho_off: (S,) rho_t(0) = E[S | x_t = 0, spikes].
        delta: (S,) rho_t(1) - rho_t(0) (for synapse i: its eligibility trace).
        elapsed: () discounted elapsed time, s.
        spike_counts: (N,) discounted spike count of each input.
    """

    neuron: NeuronState
    rho_off: jax.Array
    delta: jax.Array
    elapsed: jax.Array
    spike_counts: jax.Array


def local_init(params, initial_prob_on, g0) -> LocalState:
    dtype = jnp.result_type(float)
    p0 = jnp.asarray(initial_prob_on, dtype)
    log_odds = jnp.log(p0) - jnp.log1p(-p0)
    zeros = jnp.zeros(params.n_inputs + 3, dtype)
    neuron = init_state(_neuron(params, g0), initial_log_odds=log_odds,
                        initial_prediction=log_odds)
    return LocalState(neuron, zeros, zeros, jnp.zeros((), dtype), jnp.zeros(params.n_inputs, dtype))


def _neuron(params, g0) -> NeuronParams:
    return unchecked(NeuronParams, r_on=params.r_on, r_off=params.r_off, q_on=params.q_on,
                     q_off=params.q_off, g0=jnp.asarray(g0, jnp.result_type(float)))


def local_step(params: MMPPParams, state: LocalState, counts, dt, discount, g0=1.0,
               smoothing: bool = True, readout: str = "L"):
    """One bin of the neuron and of the learning traces (module docstring); parameters
    fixed. The neuron advances by its own step (:func:`bayesnn.neuron.stepped_step`,
    ``"discrete"``: the exact binned filter). The traces use the neuron's L (``readout
    = "L"``) or its prediction G (``"G"``) at the start of the bin. ``smoothing=False``
    gives the filtered-only rule (every increment weighted by p_t). Returns ``(state,
    record)`` with the neuron's :class:`bayesnn.neuron.stepped.StepRecord`."""
    n = counts.shape[0]
    neuron_params = _neuron(params, g0)
    evidence = counts @ neuron_params.weights
    if readout == "L":
        log_odds = state.neuron.log_odds
    else:
        log_odds = prediction(neuron_params, state.neuron, state.neuron.time)
    neuron, record = stepped_step(neuron_params, state.neuron, evidence, dt=dt, method="discrete")
    rho_off, delta = discount * state.rho_off, discount * state.delta
    if smoothing:
        drift = jnp.zeros(n + 3).at[0].set(1.0)  # c_1 - c_0 (c_0 = 0 for every trace)
        s01 = jnp.zeros(n + 3).at[1].set(1.0)
        s10 = jnp.zeros(n + 3).at[2].set(1.0)
        log_a = jnp.log(params.r_on) - log_odds  # log(r_on e^{-L})
        log_b = jnp.log(params.r_off) + log_odds  # log(r_off e^{L})
        log_k = jnp.logaddexp(log_a, log_b)
        b = jnp.exp(log_b - log_k)
        m = jnp.exp(jnp.log(params.r_on) + jnp.log(params.r_off) - log_k)
        target = drift * jnp.exp(-log_k) + (1.0 - b) * s01 - b * s10  # src / k
        change = (target - delta) * -jnp.expm1(-jnp.exp(log_k) * dt)
        rho_off = rho_off + b * (drift * dt - change) + m * (s01 + s10) * dt
        delta = (delta + change).at[3:].add(counts)
    else:
        p = jax.nn.sigmoid(log_odds)
        p_new = jax.nn.sigmoid(record.log_odds if readout == "L" else record.prediction)
        increment = jnp.concatenate([jnp.stack([p * dt, (1 - p) * params.r_on * dt,
                                                p * params.r_off * dt]), p_new * counts])
        rho_off = rho_off + increment  # filtered expectations kept in rho_off, delta = 0
    new = LocalState(neuron, rho_off, delta, discount * state.elapsed + dt,
                     discount * state.spike_counts + counts)
    return new, record


def local_readout(state: LocalState, readout_log_odds=None):
    """(T_on, n_01, n_10, N_on (N,)) read out as rho_0 + p delta, p = sigma(L) (or of
    ``readout_log_odds``, e.g. G)."""
    log_odds = state.neuron.log_odds if readout_log_odds is None else readout_log_odds
    total = state.rho_off + jax.nn.sigmoid(log_odds) * state.delta
    return total[0], total[1], total[2], total[3:]


def _m_step(params, state, learning_rate, low, high, readout_log_odds):
    dwell_on, n01, n10, counts_on = local_readout(state, readout_log_odds)
    dwell_off = jnp.maximum(state.elapsed - dwell_on, 1e-300)
    dwell_on = jnp.maximum(dwell_on, 1e-300)
    proposal = dict(r_on=n01 / dwell_off, r_off=n10 / dwell_on, q_on=counts_on / dwell_on,
                    q_off=(state.spike_counts - counts_on) / dwell_off)

    def relax(old, new):
        new = jnp.log(jnp.clip(new, low, high))  # clipping also maps NaN-free 0 to low
        return jnp.exp(jnp.clip(jnp.log(old) + learning_rate * (new - jnp.log(old)),
                                jnp.log(low), jnp.log(high)))

    return unchecked(MMPPParams, **{name: relax(getattr(params, name), value)
                                    for name, value in proposal.items()})


# update_every and warmup are traced (int32): a new value reuses the compiled program
@partial(jax.jit, static_argnames=("record_every", "smoothing", "readout"))
def _run(params, p0, g0, counts, dt, discount, learning_rate, update_every, warmup, *,
         record_every, smoothing, readout):
    def step(carry, y):
        current, state, k, fired = carry
        state, record = local_step(current, state, y, dt, discount, g0, smoothing, readout)
        k = k + 1
        update = (k >= warmup) & (k % update_every == 0)
        seen = record.log_odds if readout == "L" else record.prediction
        proposal = _m_step(current, state, learning_rate, checks.MIN_RATE, checks.MAX_RATE, seen)
        current = jax.tree_util.tree_map(lambda new, old: jnp.where(update, new, old),
                                         proposal, current)
        fired = fired + record.n_spikes
        return (current, state, k, fired), (current, record.log_odds, record.prediction)

    zero = jnp.zeros((), jnp.int32)
    carry = (params, local_init(params, p0, g0), zero, zero)
    n_recorded = counts.shape[0] - counts.shape[0] % record_every
    carry, records = scan_steps(step, carry, counts[:n_recorded], record_every)
    carry, _ = jax.lax.scan(step, carry, counts[n_recorded:])
    return carry[0], records, carry[1], carry[3]


def local_rule(initial, inputs, *, duration: float, dt: float, learning_rate: float = 1.0,
               discount: float = 1.0, update_every: int = 1, warmup: int = 0,
               record_every: int = 100, smoothing: bool = True, readout: str = "L",
               g0: float = 1.0, initial_prob_on: float | None = None,
               reference: MMPPParams | None = None, diagnostics: bool = True) -> FitResult:
    """Run the local spike-driven rule over one stream of input spikes, binned with width
    dt (the neuron's input spikes on its time grid).

    Args:
        initial: starting :class:`MMPPParams` (Hz, q_on != q_off).
        inputs: one trial of :class:`bayesnn.core.Spikes` on ``[0, duration]``, binned
            inside by :func:`bayesnn.core.bin_index`'s rule.
        duration: s, a whole number of bins.
        dt: bin width, s, > 0.
        learning_rate: eta > 0, step toward the M-step in log-rate space (1 = full).
        discount: gamma in (0, 1] per bin.
        update_every, warmup, record_every: as :func:`bayesnn.learning.online.online_em`.
        smoothing: True (a bool) = the rule derived from online EM; False = the
            filtered-only rule (every increment weighted by p_t), which cannot learn
            r_on, r_off (docs/learning.md, Sec. 6).
        readout: ``"L"`` (the neuron's log-odds, its membrane potential) or ``"G"`` (the
            prediction rebuilt from its own output spikes, Denève 2008 I), used by the
            traces and the read-out.
        g0: jump of G per output spike, nats, > 0.
        initial_prob_on: ``None`` (the stationary law of ``initial``, default) or
            P(x_0 = 1) in (0, 1); sets L_0 = G_0.
        reference: optional :class:`MMPPParams` fixing the labelling.
        diagnostics: as :func:`~bayesnn.learning.online_em`.

    Returns:
        :class:`bayesnn.learning.FitResult` (``history``/``times`` as
        :func:`~bayesnn.learning.online_em`); ``extra`` holds ``log_odds`` and
        ``prediction`` (R,) of the neuron at ``times[1:]`` (nats, in the learner's own
        labelling: negate them if ``relabelled``), ``n_output_spikes`` and the final
        :class:`LocalState`.

    Raises:
        ValueError: naming the argument, before any work.
    """
    start = time.perf_counter()
    params = checks.check_initial(initial)
    data, dt = stream(inputs, duration, dt, params.n_inputs)
    learning_rate = checks.check_learning_rate(learning_rate)
    discount = checks.check_discount(discount)
    update_every = checks.check_positive_int("update_every", update_every)
    warmup = checks.check_positive_int("warmup", warmup, minimum=0)
    record_every = checks.check_positive_int("record_every", record_every)
    p0 = initial_law(params, checks.check_initial_prob_on(initial_prob_on))
    if p0 in (0.0, 1.0):
        raise ValueError("initial_prob_on must lie in (0, 1) for the local rule (L_0 finite)")
    if not isinstance(smoothing, (bool, np.bool_)):
        raise ValueError(f"smoothing must be True or False, got {smoothing!r}")
    if readout not in ("L", "G"):
        raise ValueError(f"readout must be 'L' or 'G', got {readout!r}")
    g0 = float(require_positive("g0", g0, ndim=0))
    reference = checks.check_reference(reference, params.n_inputs)
    final, (trajectory, log_odds, predicted), state, fired = _run(
        params, p0, g0, to_device(data), dt, discount, learning_rate, np.int32(update_every),
        np.int32(min(warmup, np.iinfo(np.int32).max)), record_every=record_every,
        smoothing=bool(smoothing), readout=readout)
    extra = {"log_odds": np.asarray(log_odds), "prediction": np.asarray(predicted),
             "n_output_spikes": int(fired), "state": state}
    return stream_result("local_rule", params, final, trajectory, data, dt, record_every,
                         reference, start, extra, bool(diagnostics))
