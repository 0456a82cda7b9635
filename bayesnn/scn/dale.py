r"""E/I (Dale's law) spike-coding network: Barrett, Denève & Machens 2016 (eLife
5:e12454, Eqs. 32-45; code ``OptimalCompensation/Figure2.m``).

Two populations, ``NE`` excitatory and ``NI`` inhibitory neurons, unit-increment
traces ``r~`` (a spike adds 1, ``dr~/dt = -lambda r~ + o``), one leak ``lambda`` for
traces and membranes (autoencoder form, ``A = -lambda``; the target x(t) is given and
the input is ``c = dx/dt + lambda x``). Time in seconds, rates in Hz.

Decoders (I decoders non-negative)::

    x_hat_E = DE rE              DE (D, NE)    the network's estimate of x
    rE_hat  = DI rI              DI (NE, NI)   the I population's estimate of rE
    x_hat_I = DE DI rI                         the I population's estimate of x

**I population** minimises ``L_I = ||rE - DI rI||^2 + betaI ||rI||^2``. Neuron j's
spike changes L_I by ``2 (T_I,j - V_I,j)`` with::

    V_I = DI^T (rE - DI rI) - betaI rI = Omega_IE rE - H_II rI
    H_II = DI^T DI + betaI I,   T_I = diag(H_II)/2,   R_I = diag(H_II)       (reset)
    Omega_IE = DI^T (E->I, >= 0),   Omega_II = H_II - diag(R_I) (I->I, >= 0 off-diag)
    dV_I/dt = -lambda V_I + Omega_IE o_E - Omega_II o_I - R_I o_I            (exact)

**E population** minimises ``L_E = ||x - DE rE||^2 + betaE ||rE||^2``, whose voltage
``V_E* = DE^T (x - DE rE) - betaE rE = DE^T x - H_EE rE`` (``H_EE = DE^T DE + betaE I``)
would need E->E inhibition wherever ``H_EE > 0``. Split ``H_EE = [H_EE]_+ - [-H_EE]_+``
and route the positive off-diagonal part through the I population (``rE ~ DI rI``)::

    V_E = DE^T x - diag(R_E) rE + Omega_EE rE - Omega_EI rI
        = V_E* + ([H_EE]_+ - diag(R_E)) (rE - DI rI)
    R_E = diag(H_EE),  T_E = diag(H_EE)/2,  F_E = DE^T (feedforward)
    Omega_EE = [-H_EE]_+ (E->E, >= 0; 0 for DE >= 0)
    Omega_EI = ([H_EE]_+ - diag(R_E)) DI (I->E, >= 0, applied with a minus sign)
    dV_E/dt = -lambda V_E + F_E c + Omega_EE o_E - Omega_EI o_I - R_E o_E

So E neurons track x through the I population: when the I readout is exact
(``DI rI = rE``) V_E is the single-population autoencoder voltage and each E spike
lowers L_E by ``2 (V_E,i - T_E,i)``; otherwise the error ``rE - DI rI`` (which the I
population keeps inside its own box) enters V_E through non-negative weights.

**Dale's law.** As applied to voltages, a spike of presynaptic neuron p adds column p
of the recurrent matrix (rows post, columns pre)::

    W = [[Omega_EE - diag(R_E), -Omega_EI             ],
         [Omega_IE,             -Omega_II - diag(R_I)]]

Off the diagonal, E columns are >= 0 and I columns are <= 0 whenever ``DI >= 0``
(checked by :func:`make_dale_network`); the diagonal holds the self-resets. The
feedforward input ``F_E c`` goes to E neurons only and has the sign of ``DE^T c``.

**Discretisation** (step k, ``dt`` s; :func:`simulate_dale`)::

    1. V <- V + dt (-lambda V + [F_E; 0] c_k) + sigma_V sqrt(dt) xi_k
    2. r~ <- (1 - lambda dt) r~
    3. E: the alive E neuron with the largest V - T > 0 fires (exact ties broken at
       random); independently the same for I (at most one spike per population per
       step; Barrett's code allows one per network). Each spike of p:
       V <- V + W[:, p], r~_p += 1, event (t = (k + 1) dt, p).

With ``x_{k+1} = x_k + dt (c_k - lambda x_k)`` (:func:`bayesnn.scn.autoencoder_input`)
and ``sigma_V = 0`` both voltages equal the closed forms above to round-off
(:func:`dale_closed_form_voltage`).

**Parameters** (Barrett 2016 Fig. 2, :func:`make_dale_network` defaults): NE = 80,
NI = 20, ``DE = (2 + 0.2 randn)/NE``, ``DI = (0.3 + 0.003 randn)/NI``,
``betaE = 0.8/NE^2``, ``betaI = 0.2/NI^2``. The authors' time unit is 10 ms:
lambda = 0.05 unit^-1 = 5 s^-1, dt = 0.005 units = 5e-5 s, and their noise
``sigV = 0.01/N`` per sqrt(unit) is ``0.1/N`` per sqrt(second) here (the per-step
increment ``sigV sqrt(dt)`` is unit-free). Knock-outs: E neurons 1-60 at 300 units
(3 s), then neurons 86-100 (I neurons 6-20) at 400 units (4 s); indices here start at
0 (E: 0..NE-1, I: NE..NE+NI-1).

Positive E decoders can only push ``x_hat_E`` up; it comes down by the leak alone, so
the readout tracks x within its box only while ``dx/dt > -lambda x_hat`` (i.e.
``c > 0``); faster decreases leave x_hat_E above x until the leak catches up.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core import EventBuffer, append_events, empty_buffer, scan_steps_chunked
from bayesnn.core.validation import as_array, require_nonnegative, require_positive, require_shape
from bayesnn.scn.simulate import NEVER, SimOptions, _chunk_layout

__all__ = [
    "DaleParams",
    "DaleResult",
    "make_dale_network",
    "dale_weights",
    "dale_closed_form_voltage",
    "simulate_dale",
    "dale_spike_events",
    "dale_rates",
    "barrett_signal",
]


class DaleParams(NamedTuple):
    """An E/I spike-coding network (a JAX pytree; float arrays). Build with
    :func:`make_dale_network`. Voltages are in units of x^2 (as in B13), traces r~
    are unit-free.

    Fields:
        DE: (D, NE) E decoder; x_hat_E = DE rE.
        DI: (NE, NI) I decoder (>= 0); the I population's estimate of rE is DI rI.
        beta_e, beta_i: () quadratic costs of the E and I losses (r~ units).
        lambda_: () leak of traces, readouts and membranes, s^-1.
        sigma_v: () voltage-noise amplitude per sqrt(second) (dV gets
            sigma_v sqrt(dt) N(0, 1) per step).
        dt: () time step, s.
        H_EE: (NE, NE) DE^T DE + beta_e I.   H_II: (NI, NI) DI^T DI + beta_i I.
        R_E: (NE,) E self-resets diag(H_EE).   R_I: (NI,) I self-resets diag(H_II).
        T_E: (NE,) E thresholds diag(H_EE)/2.  T_I: (NI,) I thresholds diag(H_II)/2.
        F_E: (NE, D) feedforward DE^T (input c reaches E neurons only).
        Omega_EE: (NE, NE) E->E [-H_EE]_+ (>= 0).
        Omega_EI: (NE, NI) I->E ([H_EE]_+ - diag(R_E)) DI (>= 0, applied negated).
        Omega_IE: (NI, NE) E->I DI^T (>= 0).
        Omega_II: (NI, NI) I->I H_II - diag(R_I) (>= 0, applied negated).
        W: (N, N) applied recurrent matrix (post, pre), N = NE + NI, self-resets
            on the diagonal (see the module docstring).
        thresholds: (N,) [T_E; T_I].
    """

    DE: jnp.ndarray
    DI: jnp.ndarray
    beta_e: jnp.ndarray
    beta_i: jnp.ndarray
    lambda_: jnp.ndarray
    sigma_v: jnp.ndarray
    dt: jnp.ndarray
    H_EE: jnp.ndarray
    H_II: jnp.ndarray
    R_E: jnp.ndarray
    R_I: jnp.ndarray
    T_E: jnp.ndarray
    T_I: jnp.ndarray
    F_E: jnp.ndarray
    Omega_EE: jnp.ndarray
    Omega_EI: jnp.ndarray
    Omega_IE: jnp.ndarray
    Omega_II: jnp.ndarray
    W: jnp.ndarray
    thresholds: jnp.ndarray

    @property
    def n_e(self) -> int:
        return int(self.DE.shape[-1])

    @property
    def n_i(self) -> int:
        return int(self.DI.shape[-1])

    @property
    def n_neurons(self) -> int:
        return self.n_e + self.n_i

    @property
    def n_dims(self) -> int:
        return int(self.DE.shape[-2])


class DaleResult(NamedTuple):
    """Output of :func:`simulate_dale`. Record r is taken after step
    ``(r + 1) * record_every - 1``; ``R = n_steps / record_every``.

    Fields:
        spikes: EventBuffer (times in s; senders 0..NE-1 = E, NE..N-1 = I).
        times: (R,) record times, s.
        readout_e: (R, D) x_hat_E = DE rE.
        readout_i: (R, D) x_hat_I = DE DI rI (the I population's estimate of x).
        rate_error: (R,) ||rE - DI rI|| (the I population's error on the E traces).
        pop_rate_e, pop_rate_i: (R,) population-mean filtered rate lambda * mean(r~), Hz.
        voltages: (R, K) V of the ``record_neurons`` (after the step's spikes).
        currents_e, currents_i: (R, K) excitatory / inhibitory input (feedforward and
            recurrent, self-reset excluded) of the ``record_neurons``, averaged over
            each record block, per second (units of V / s); both >= 0.
        traces_e: (R, NE), traces_i: (R, NI) all traces r~ (empty unless record_traces).
        spike_counts_e: (NE,), spike_counts_i: (NI,) spikes per neuron.
        final_v: (N,) voltages, final_r: (N,) traces r~ after the last step.
    """

    spikes: EventBuffer
    times: jnp.ndarray
    readout_e: jnp.ndarray
    readout_i: jnp.ndarray
    rate_error: jnp.ndarray
    pop_rate_e: jnp.ndarray
    pop_rate_i: jnp.ndarray
    voltages: jnp.ndarray
    currents_e: jnp.ndarray
    currents_i: jnp.ndarray
    traces_e: jnp.ndarray
    traces_i: jnp.ndarray
    spike_counts_e: jnp.ndarray
    spike_counts_i: jnp.ndarray
    final_v: jnp.ndarray
    final_r: jnp.ndarray


# ----------------------------------------------------------------------- construction
def make_dale_network(
    DE=None,
    DI=None,
    *,
    n_e: int = 80,
    n_i: int = 20,
    n_dims: int = 1,
    beta_e: float | None = None,
    beta_i: float | None = None,
    lambda_: float = 5.0,
    sigma_v: float | None = None,
    dt: float = 5e-5,
    seed: int = 0,
) -> DaleParams:
    """Build the Barrett 2016 E/I network (defaults: their Fig. 2, in seconds).

    Args:
        DE: (D, NE) E decoder, no zero columns (default ``(2 + 0.2 randn)/NE``).
        DI: (NE, NI) I decoder, all entries >= 0 (Dale's law), no zero columns
            (default ``(0.3 + 0.003 randn)/NI``, clipped at 0).
        n_e, n_i, n_dims: sizes used when DE / DI are drawn (ignored otherwise).
        beta_e, beta_i: quadratic costs >= 0 (default 0.8/NE^2 and 0.2/NI^2).
        lambda_: leak, s^-1 > 0 (default 5 s^-1 = 0.05 per 10-ms unit).
        sigma_v: voltage noise per sqrt(s) >= 0 (default 0.1/N, i.e. Barrett's
            0.01/N per sqrt(10 ms)).
        dt: time step, s > 0 with lambda_ dt < 1 (default 5e-5 s = 0.005 units).
        seed: NumPy seed for the default decoders.

    Raises:
        ValueError: naming the parameter, for any bad input.
    """
    rng = np.random.default_rng(seed)
    if DE is None:
        n_e = _positive_int("n_e", n_e)
        n_dims = _positive_int("n_dims", n_dims)
        DE = (2.0 + 0.2 * rng.standard_normal((n_dims, n_e))) / n_e
    DE = as_array("DE", DE, ndim=2)
    D, NE = DE.shape
    if D < 1 or NE < 1:
        raise ValueError(f"DE must have shape (D >= 1, NE >= 1), got {DE.shape}")
    if np.any(np.linalg.norm(DE, axis=0) == 0):
        raise ValueError("DE columns must have non-zero norm (every E neuron needs a kernel)")
    if DI is None:
        n_i = _positive_int("n_i", n_i)
        DI = np.maximum((0.3 + 0.003 * rng.standard_normal((NE, n_i))) / n_i, 0.0)
    DI = as_array("DI", DI, ndim=2)
    if DI.shape[0] != NE or DI.shape[1] < 1:
        raise ValueError(f"DI must have shape (NE={NE}, NI >= 1), got {DI.shape}")
    if np.any(DI < 0):
        raise ValueError("DI must be >= 0 (Dale's law: E->I and I->E weights are built from DI)")
    if np.any(np.linalg.norm(DI, axis=0) == 0):
        raise ValueError("DI columns must have non-zero norm (every I neuron needs a kernel)")
    NI = DI.shape[1]
    N = NE + NI
    beta_e = float(require_nonnegative("beta_e", 0.8 / NE**2 if beta_e is None else beta_e, ndim=0))
    beta_i = float(require_nonnegative("beta_i", 0.2 / NI**2 if beta_i is None else beta_i, ndim=0))
    lam = float(require_positive("lambda_", lambda_, ndim=0))
    sigma = float(require_nonnegative("sigma_v", 0.1 / N if sigma_v is None else sigma_v, ndim=0))
    dt = float(require_positive("dt", dt, ndim=0))
    if lam * dt >= 1:
        raise ValueError(f"dt must satisfy lambda_ * dt < 1, got {lam} * {dt} = {lam * dt}")

    H_EE = DE.T @ DE + beta_e * np.eye(NE)
    H_II = DI.T @ DI + beta_i * np.eye(NI)
    R_E, R_I = np.diag(H_EE).copy(), np.diag(H_II).copy()
    Om_EE = np.maximum(-H_EE, 0.0)
    Om_EI = (np.maximum(H_EE, 0.0) - np.diag(R_E)) @ DI
    Om_IE = DI.T.copy()
    Om_II = H_II - np.diag(R_I)
    W = np.block([[Om_EE - np.diag(R_E), -Om_EI], [Om_IE, -Om_II - np.diag(R_I)]])
    f = lambda v: jnp.asarray(v, dtype=jnp.result_type(float))
    return DaleParams(
        DE=f(DE), DI=f(DI), beta_e=f(beta_e), beta_i=f(beta_i), lambda_=f(lam), sigma_v=f(sigma),
        dt=f(dt), H_EE=f(H_EE), H_II=f(H_II), R_E=f(R_E), R_I=f(R_I), T_E=f(R_E / 2),
        T_I=f(R_I / 2), F_E=f(DE.T), Omega_EE=f(Om_EE), Omega_EI=f(Om_EI), Omega_IE=f(Om_IE),
        Omega_II=f(Om_II), W=f(W), thresholds=f(np.concatenate([R_E, R_I]) / 2))


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def dale_weights(params: DaleParams, include_resets: bool = False) -> np.ndarray:
    """The recurrent matrix as applied to voltages, (N, N) (row post, column pre):
    a spike of p adds column p to V. Self-resets (the diagonal) are zeroed unless
    ``include_resets``. Dale's law: E columns >= 0, I columns <= 0."""
    W = np.array(params.W)
    if not include_resets:
        np.fill_diagonal(W, 0.0)
    return W


def dale_closed_form_voltage(params: DaleParams, x, traces_e, traces_i) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form voltages ``V_E = DE^T x - diag(R_E) rE + Omega_EE rE - Omega_EI rI``
    and ``V_I = Omega_IE rE - H_II rI``; x (..., D), traces (..., NE) and (..., NI)."""
    x, rE, rI = np.asarray(x), np.asarray(traces_e), np.asarray(traces_i)
    VE = (x @ np.asarray(params.DE) - rE * np.asarray(params.R_E)
          + rE @ np.asarray(params.Omega_EE).T - rI @ np.asarray(params.Omega_EI).T)
    VI = rE @ np.asarray(params.Omega_IE).T - rI @ np.asarray(params.H_II).T
    return VE, VI


def barrett_signal(duration: float = 5.0, dt: float = 5e-5, amplitude: float = 2.0,
                   smooth: float = 0.025) -> np.ndarray:
    """Barrett 2016 Fig. 2 target x(t), samples at ``k dt`` for k = 0..T, shape (T+1, 1):
    0 until 0.8 s, 0.24 until 1.4 s, 0.48 until 2.4 s, then 0.36, times ``amplitude``,
    smoothed by a ``smooth``-second moving average (their 500 samples of 0.05 ms).
    Feed it with :func:`bayesnn.scn.autoencoder_input` (x, dt, lambda_)."""
    duration = float(require_positive("duration", duration, ndim=0))
    dt = float(require_positive("dt", dt, ndim=0))
    n = int(round(duration / dt))
    t = np.arange(n + 1) * dt
    x = np.select([t < 0.8, t < 1.4, t < 2.4], [0.0, 0.24, 0.48], 0.36) * amplitude
    width = max(1, int(round(float(require_positive("smooth", smooth, ndim=0)) / dt)))
    padded = np.concatenate([np.full(width // 2, x[0]), x, np.full(width - 1 - width // 2, x[-1])])
    return np.convolve(padded, np.ones(width) / width, mode="valid")[:, None]


# ------------------------------------------------------------------------- simulation
class _Carry(NamedTuple):
    V: jnp.ndarray
    r: jnp.ndarray
    buffer: EventBuffer
    counts: jnp.ndarray
    cur: jnp.ndarray  # (2, K) block-accumulated E and I input of the recorded neurons
    step: jnp.ndarray


def _make_step(p: DaleParams, silence_step, sel, every: int, use_noise: bool, traces: bool):
    NE, NI = p.n_e, p.n_i
    N = NE + NI
    dt = p.dt
    decay = 1.0 - p.lambda_ * dt
    T = p.thresholds
    F_sel = jnp.concatenate([p.F_E, jnp.zeros((NI, p.n_dims), p.F_E.dtype)])[sel]  # (K, D)
    W_sel = p.W[sel]  # (K, N)
    is_self = sel[:, None] == jnp.arange(N)[None, :]
    W_sel = jnp.where(is_self, 0.0, W_sel)  # the self-reset is not an input current
    ar_e = jnp.arange(NE, dtype=jnp.int32)
    ar_i = jnp.arange(NI, dtype=jnp.int32)

    def pick(z, off, arange, n):
        """Index of the max of z (random cyclic tie-break), and that max."""
        m = jnp.max(z)
        rank = jnp.where(arange >= off, arange - off, arange - off + n)
        j = jnp.min(jnp.where(z == m, rank, n))
        return jnp.where(j + off >= n, j + off - n, j + off), m

    def step(carry: _Carry, inputs):
        c_k, noise_k, off = inputs
        k = carry.step
        t = (k + 1).astype(dt.dtype) * dt
        V = carry.V + dt * (-p.lambda_ * carry.V)
        V = V.at[:NE].add(dt * (p.F_E @ c_k))
        if use_noise:
            V = V + p.sigma_v * jnp.sqrt(dt) * noise_k
        r = carry.r * decay
        z = jnp.where(k < silence_step, V - T, -jnp.inf)
        ie, me = pick(z[:NE], off[0], ar_e, NE)
        ii, mi = pick(z[NE:], off[1], ar_i, NI)
        ii = ii + NE
        fire_e, fire_i = me > 0, mi > 0
        fe, fi = fire_e.astype(V.dtype), fire_i.astype(V.dtype)
        V = V + fe * p.W[:, ie] + fi * p.W[:, ii]
        r = r.at[ie].add(fe).at[ii].add(fi)
        buffer = append_events(carry.buffer, jnp.stack([t, t]), jnp.stack([ie, ii]),
                               jnp.stack([fire_e, fire_i]))
        counts = carry.counts.at[ie].add(fire_e.astype(jnp.int32)).at[ii].add(fire_i.astype(jnp.int32))
        parts = jnp.stack([dt * (F_sel @ c_k), fe * W_sel[:, ie], fi * W_sel[:, ii]])  # (3, K)
        cur = carry.cur + jnp.stack([jnp.sum(jnp.maximum(parts, 0), 0),
                                     jnp.sum(jnp.maximum(-parts, 0), 0)])
        rE, rI = r[:NE], r[NE:]
        rE_hat = p.DI @ rI
        record = {
            "readout_e": p.DE @ rE, "readout_i": p.DE @ rE_hat,
            "rate_error": jnp.linalg.norm(rE - rE_hat),
            "pop_rate_e": p.lambda_ * jnp.mean(rE), "pop_rate_i": p.lambda_ * jnp.mean(rI),
            "voltages": V[sel], "currents_e": cur[0] / (every * dt), "currents_i": cur[1] / (every * dt),
        }
        if traces:
            record["traces_e"], record["traces_i"] = rE, rI
        end_of_block = (k + 1) % every == 0
        cur = jnp.where(end_of_block, 0.0, cur)
        return _Carry(V, r, buffer, counts, cur, k + 1), record

    return step


def _layout(n_steps: int, N: int, every: int, chunk_steps: int) -> tuple[int, int, int]:
    """(steps per chunk, full chunks, remainder). With ``chunk_steps = 0`` prefer a
    chunk length (a multiple of ``every``, between a quarter of the automatic target
    and the target) that divides ``n_steps``: no remainder chunk means one compiled
    scan body instead of two. Otherwise the layout of :func:`bayesnn.scn.simulate`."""
    if chunk_steps == 0:
        target = int(np.clip(2**19 // max(N, 1), 16, 2048))
        for L in range(every * (target // every), max(every, target // 4) - 1, -every):
            if L > 0 and n_steps % L == 0:
                return L, n_steps // L, 0
    return _chunk_layout(n_steps, N, SimOptions(record_every=every, chunk_steps=chunk_steps))


@partial(jax.jit, static_argnames=("n_steps", "every", "capacity", "chunk_steps", "use_noise", "traces"))
def _dale_core(p: DaleParams, c, key, V0, silence_step, sel, *, n_steps: int, every: int,
               capacity: int, chunk_steps: int, use_noise: bool, traces: bool):
    NE, NI = p.n_e, p.n_i
    N = NE + NI
    f = V0.dtype
    step = _make_step(p, silence_step, sel, every, use_noise, traces)
    carry = _Carry(V=V0, r=jnp.zeros(N, f), buffer=empty_buffer(capacity, f),
                   counts=jnp.zeros(N, jnp.int32), cur=jnp.zeros((2, sel.shape[0]), f),
                   step=jnp.zeros((), jnp.int32))
    L = _layout(n_steps, N, every, chunk_steps)[0]

    def inputs_for(chunk_index, length):
        c_chunk = jax.lax.dynamic_slice(c, (chunk_index * L, 0), (length, c.shape[1]))
        kc = jax.random.fold_in(key, chunk_index)
        noise = (jax.random.normal(jax.random.fold_in(kc, 0), (length, N), f) if use_noise
                 else jnp.zeros((length, 0), f))
        u = jax.random.uniform(jax.random.fold_in(kc, 1), (length, 2), f)
        off = jnp.minimum((u * jnp.array([NE, NI], f)).astype(jnp.int32), jnp.array([NE - 1, NI - 1]))
        return c_chunk, noise, off

    carry, rec = scan_steps_chunked(step, carry, inputs_for, n_steps, L, every)
    n_rec = n_steps // every
    empty = lambda n: jnp.zeros((n_rec, 0 if not traces else n), f)
    return DaleResult(
        spikes=carry.buffer, times=(jnp.arange(n_rec, dtype=f) + 1) * every * p.dt,
        readout_e=rec["readout_e"], readout_i=rec["readout_i"], rate_error=rec["rate_error"],
        pop_rate_e=rec["pop_rate_e"], pop_rate_i=rec["pop_rate_i"], voltages=rec["voltages"],
        currents_e=rec["currents_e"], currents_i=rec["currents_i"],
        traces_e=rec.get("traces_e", empty(NE)), traces_i=rec.get("traces_i", empty(NI)),
        spike_counts_e=carry.counts[:NE], spike_counts_i=carry.counts[NE:],
        final_v=carry.V, final_r=carry.r)


def simulate_dale(
    params: DaleParams,
    c,
    key=None,
    silence=None,
    silence_time=None,
    *,
    x0=None,
    record_neurons=(),
    record_every: int = 1,
    record_traces: bool = False,
    capacity: int = 0,
    chunk_steps: int = 0,
    allow_overflow: bool = False,
) -> DaleResult:
    """Simulate one trial of ``len(c)`` steps of the E/I network.

    Args:
        params: from :func:`make_dale_network`.
        c: (T, D) input per step, units of x per second; the target obeys
            ``x_{k+1} = x_k + dt (c_k - lambda x_k)`` (use ``autoencoder_input``).
        key: PRNG key for this trial (voltage noise, tie-breaks); default PRNGKey(0).
        silence: neuron indices (E: 0..NE-1, I: NE..N-1) knocked out (never spike again).
        silence_time: time(s) of the knock-out in s >= 0: a scalar, or one per index
            (default 0). The reference's E knock-out is ``silence=range(60),
            silence_time=3.0``.
        x0: (D,) initial target (V_E starts at its closed form DE^T x0); default 0.
        record_neurons: indices whose voltage and E / I input currents are recorded.
        record_every: keep every k-th record (must divide T); currents are averaged
            over each block.
        record_traces: also record all traces r~ (R x N floats; small runs only).
        capacity: spike-event slots (default 2 T, i.e. never overflows).
        chunk_steps: steps per generated input chunk (0: automatic).
        allow_overflow: return even if more spikes than ``capacity`` occurred.

    Returns:
        :class:`DaleResult`. Raises ValueError on bad input (before simulating) and
        RuntimeError if the event buffer overflowed and ``allow_overflow`` is False.
    """
    if not isinstance(params, DaleParams):
        raise ValueError(f"params must be a DaleParams (see make_dale_network), got {type(params).__name__}")
    NE, NI, D = params.n_e, params.n_i, params.n_dims
    N = NE + NI
    c = as_array("c", c, ndim=2)
    if c.shape[0] < 1:
        raise ValueError("c must have at least one time step, got shape (0, D)")
    require_shape("c", c, (None, D))
    n_steps = int(c.shape[0])
    for name, value, low in (("record_every", record_every, 1), ("capacity", capacity, 0),
                             ("chunk_steps", chunk_steps, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if n_steps % record_every:
        raise ValueError(f"record_every must divide the number of steps {n_steps}, got {record_every}")
    sel = np.asarray(record_neurons, dtype=int).ravel()
    if sel.size and (sel.min() < 0 or sel.max() >= N):
        raise ValueError(f"record_neurons indices must lie in [0, {N}), got {sel.min()}..{sel.max()}")
    dt = float(params.dt)
    silence_step = np.full(N, NEVER, dtype=np.int64)
    if silence is not None:
        idx = np.asarray(silence)
        if idx.dtype == bool or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"silence must be integer neuron indices, got dtype {idx.dtype}")
        idx = idx.ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= N):
            raise ValueError(f"silence indices must lie in [0, {N}), got {idx.min()}..{idx.max()}")
        times = as_array("silence_time", 0.0 if silence_time is None else silence_time)
        if times.ndim > 1 or (times.ndim == 1 and times.shape != idx.shape):
            raise ValueError(f"silence_time must be a scalar or have shape {idx.shape}, got {times.shape}")
        if np.any(times < 0):
            raise ValueError(f"silence_time must be >= 0 s, got {times.min()}")
        silence_step[idx] = np.round(np.broadcast_to(times, idx.shape) / dt).astype(np.int64)
    elif silence_time is not None:
        raise ValueError("silence_time needs silence (the indices to knock out)")
    f = jnp.result_type(float)
    V0 = np.zeros(N)
    if x0 is not None:
        x0 = require_shape("x0", as_array("x0", x0, ndim=1), (D,))
        V0[:NE] = x0 @ np.asarray(params.DE)
    key = jax.random.PRNGKey(0) if key is None else key
    cap = int(capacity) or 2 * n_steps
    result = _dale_core(params, jnp.asarray(c, f), key, jnp.asarray(V0, f),
                        jnp.asarray(np.minimum(silence_step, NEVER), jnp.int32),
                        jnp.asarray(sel, jnp.int32), n_steps=n_steps, every=int(record_every),
                        capacity=cap, chunk_steps=int(chunk_steps),
                        use_noise=float(params.sigma_v) > 0, traces=bool(record_traces))
    if not allow_overflow and int(result.spikes.count) > cap:
        raise RuntimeError(f"spike event buffer overflowed: {int(result.spikes.count)} spikes > "
                           f"capacity {cap}; pass a larger capacity= (or allow_overflow=True)")
    return result


# --------------------------------------------------------------------------- analysis
def dale_spike_events(result: DaleResult, n_e: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stored spikes as NumPy arrays: times (s), neuron index (E: 0..NE-1, I: NE..),
    and a bool array, True for inhibitory spikes."""
    n = int(min(int(result.spikes.count), result.spikes.times.shape[-1]))
    senders = np.asarray(result.spikes.senders[:n])
    return np.asarray(result.spikes.times[:n]), senders, senders >= n_e


def dale_rates(result: DaleResult, params: DaleParams, t_start: float, t_stop: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron firing rates (Hz) in [t_start, t_stop): (NE,) E rates, (NI,) I rates."""
    from bayesnn.scn.metrics import firing_rates

    times, senders, _ = dale_spike_events(result, params.n_e)
    rates = firing_rates(times, senders, params.n_neurons, t_start, t_stop)
    return rates[: params.n_e], rates[params.n_e:]
