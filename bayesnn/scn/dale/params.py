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

**Discretisation** (step k, ``dt`` s; :func:`bayesnn.scn.network.functional.step`, run by
:func:`bayesnn.scn.simulate_dale`)::

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

import jax
import jax.numpy as jnp
import numpy as np

from bayesnn.core.params import as_leaf, params_record
from bayesnn.core.validation import as_array, require_nonnegative, require_positive

__all__ = [
    "DaleParams",
    "make_dale_network",
    "dale_weights",
    "dale_closed_form_voltage",
    "dale_rates",
    "barrett_signal",
]


@params_record
class DaleParams:
    """An E/I spike-coding network (a JAX pytree: every field is a leaf). Build with
    :func:`make_dale_network`; building validates the values (``ValueError`` naming the
    field). Voltages are in units of x^2 (as in B13), traces r~ are unit-free.

    Fields:
        DE: (D, NE) E decoder, no zero columns; x_hat_E = DE rE.
        DI: (NE, NI) I decoder (>= 0, Dale's law), no zero columns; the I population's
            estimate of rE is DI rI.
        beta_e, beta_i: () quadratic costs of the E and I losses (r~ units), >= 0
            (``None`` when building: 0.8/NE^2 and 0.2/NI^2).
        lambda_: () leak of traces, readouts and membranes, s^-1 (> 0).
        sigma_v: () voltage-noise amplitude per sqrt(second), >= 0 (dV gets
            sigma_v sqrt(dt) N(0, 1) per step; ``None`` when building: 0.1/N).
        dt: () time step, s, with lambda_ dt < 1.

    Properties (derived, see the module docstring): ``H_EE`` (NE, NE) DE^T DE + beta_e I,
    ``H_II`` (NI, NI) DI^T DI + beta_i I, self-resets ``R_E`` = diag(H_EE) and ``R_I`` =
    diag(H_II), thresholds ``T_E`` = R_E/2, ``T_I`` = R_I/2 and ``thresholds`` (N,) =
    [T_E; T_I], feedforward ``F_E`` = DE^T (NE, D), ``Omega_EE`` = [-H_EE]_+ (E->E),
    ``Omega_EI`` = ([H_EE]_+ - diag(R_E)) DI (I->E), ``Omega_IE`` = DI^T (E->I),
    ``Omega_II`` = H_II - diag(R_I) (I->I), all >= 0, and ``W`` (N, N), the recurrent
    matrix as applied to voltages (rows post, columns pre, self-resets on the diagonal).
    """

    DE: jax.Array
    DI: jax.Array
    beta_e: jax.Array = None
    beta_i: jax.Array = None
    lambda_: jax.Array = 5.0
    sigma_v: jax.Array = None
    dt: jax.Array = 5e-5

    def _validate(self) -> dict:
        return _check_fields(self)

    @property
    def n_e(self) -> int:
        """NE (static)."""
        return int(self.DE.shape[-1])

    @property
    def n_i(self) -> int:
        """NI (static)."""
        return int(self.DI.shape[-1])

    @property
    def n_neurons(self) -> int:
        """N = NE + NI (static)."""
        return self.n_e + self.n_i

    @property
    def n_dims(self) -> int:
        """D (static)."""
        return int(self.DE.shape[-2])

    @property
    def H_EE(self) -> jax.Array:
        return self.DE.T @ self.DE + self.beta_e * jnp.eye(self.n_e, dtype=self.DE.dtype)

    @property
    def H_II(self) -> jax.Array:
        return self.DI.T @ self.DI + self.beta_i * jnp.eye(self.n_i, dtype=self.DI.dtype)

    @property
    def R_E(self) -> jax.Array:
        return jnp.diagonal(self.H_EE)

    @property
    def R_I(self) -> jax.Array:
        return jnp.diagonal(self.H_II)

    @property
    def T_E(self) -> jax.Array:
        return self.R_E / 2

    @property
    def T_I(self) -> jax.Array:
        return self.R_I / 2

    @property
    def thresholds(self) -> jax.Array:
        return jnp.concatenate([self.R_E, self.R_I]) / 2

    @property
    def F_E(self) -> jax.Array:
        return self.DE.T

    @property
    def Omega_EE(self) -> jax.Array:
        return jnp.maximum(-self.H_EE, 0.0)

    @property
    def Omega_EI(self) -> jax.Array:
        H = self.H_EE
        return (jnp.maximum(H, 0.0) - jnp.diag(jnp.diagonal(H))) @ self.DI

    @property
    def Omega_IE(self) -> jax.Array:
        return self.DI.T

    @property
    def Omega_II(self) -> jax.Array:
        H = self.H_II
        return H - jnp.diag(jnp.diagonal(H))

    @property
    def W(self) -> jax.Array:
        H_EE, H_II = self.H_EE, self.H_II
        R_E = jnp.diagonal(H_EE)
        om_ei = (jnp.maximum(H_EE, 0.0) - jnp.diag(R_E)) @ self.DI
        return jnp.block([[jnp.maximum(-H_EE, 0.0) - jnp.diag(R_E), -om_ei],
                          [self.DI.T, -H_II]])  # -Omega_II - diag(R_I) = -H_II


def _check_fields(p: DaleParams) -> dict:
    """Validated fields of a :class:`DaleParams` (``ValueError`` naming the field)."""
    DE = as_array("DE", p.DE, ndim=2)
    D, NE = DE.shape
    if D < 1 or NE < 1:
        raise ValueError(f"DE must have shape (D >= 1, NE >= 1), got {DE.shape}")
    if np.any(np.linalg.norm(DE, axis=0) == 0):
        raise ValueError("DE columns must have non-zero norm (every E neuron needs a kernel)")
    DI = as_array("DI", p.DI, ndim=2)
    if DI.shape[0] != NE or DI.shape[1] < 1:
        raise ValueError(f"DI must have shape (NE={NE}, NI >= 1), got {DI.shape}")
    if np.any(DI < 0):
        raise ValueError("DI must be >= 0 (Dale's law: E->I and I->E weights are built from DI)")
    if np.any(np.linalg.norm(DI, axis=0) == 0):
        raise ValueError("DI columns must have non-zero norm (every I neuron needs a kernel)")
    NI = DI.shape[1]
    beta_e = require_nonnegative("beta_e", 0.8 / NE**2 if p.beta_e is None else p.beta_e, ndim=0)
    beta_i = require_nonnegative("beta_i", 0.2 / NI**2 if p.beta_i is None else p.beta_i, ndim=0)
    lam = float(require_positive("lambda_", p.lambda_, ndim=0))
    sigma = require_nonnegative("sigma_v", 0.1 / (NE + NI) if p.sigma_v is None else p.sigma_v,
                                ndim=0)
    dt = float(require_positive("dt", p.dt, ndim=0))
    if lam * dt >= 1:
        raise ValueError(f"dt must satisfy lambda_ * dt < 1, got {lam} * {dt} = {lam * dt}")
    return dict(DE=as_leaf(DE), DI=as_leaf(DI), beta_e=as_leaf(beta_e), beta_i=as_leaf(beta_i),
                lambda_=as_leaf(lam), sigma_v=as_leaf(sigma), dt=as_leaf(dt))


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

    Returns:
        :class:`DaleParams`.

    Raises:
        ValueError: naming the parameter, for any bad input.
    """
    rng = np.random.default_rng(seed)
    if DE is None:
        n_e = _positive_int("n_e", n_e)
        n_dims = _positive_int("n_dims", n_dims)
        DE = (2.0 + 0.2 * rng.standard_normal((n_dims, n_e))) / n_e
    if DI is None:
        n_i = _positive_int("n_i", n_i)
        n_rows = np.shape(DE)[-1] if np.ndim(DE) == 2 else 0
        DI = np.maximum((0.3 + 0.003 * rng.standard_normal((n_rows, n_i))) / n_i, 0.0)
    return DaleParams(DE=DE, DI=DI, beta_e=beta_e, beta_i=beta_i, lambda_=lambda_,
                      sigma_v=sigma_v, dt=dt)


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


def dale_rates(result, params: DaleParams, t_start: float, t_stop: float,
               trial: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron firing rates (Hz) in [t_start, t_stop) of a
    :class:`bayesnn.scn.DaleResult` (``trial``: index into a batched result):
    (NE,) E rates and (NI,) I rates."""
    from bayesnn.core import spike_arrays
    from bayesnn.scn.network.metrics import firing_rates

    times, senders, _ = spike_arrays(result.spikes, trial)
    rates = firing_rates(times, senders, params.n_neurons, t_start, t_stop)
    return rates[: params.n_e], rates[params.n_e:]
