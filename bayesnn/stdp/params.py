r"""Parameters of the stochastic winner-take-all (WTA) circuit with STDP.

Nessler, Pfeiffer, Buesing & Maass 2013, PLoS Comput Biol 9(4): e1003037 (Sec.
"Results": "Definition of the network model", "STDP approximates stochastic online EM").
Units: seconds, Hz; weights and log-probabilities in nats.
"""
from __future__ import annotations

import math

import jax

from bayesnn.core.params import as_leaf, params_record

__all__ = ["WTAParams", "max_stable_eta"]


def max_stable_eta(mu_min: float) -> float:
    """Largest eta the circuit accepts for a weight floor log c + log mu_min: one update of
    a weight at the floor moves it by eta (1/mu_min - 1) <= 1 nat. Beyond that the
    log-domain rule is no longer a first-order image of online EM (e^{eta/mu} - 1 far from
    eta/mu) and single rare inputs throw weights across their whole range."""
    return 1.0 / (1.0 / mu_min - 1.0)


@params_record
class WTAParams:
    r"""Parameters of the WTA circuit (a JAX pytree; validated when built).

    Fields:
        n_components: K >= 2 output neurons (mixture components).
        n_pixels: M >= 1 binary pixels; the circuit has 2M input neurons (on/off pairs).
        eta: STDP learning rate eta_0 > 0 (nats per output spike).
        eta_decay: learning-rate schedule eta_p = eta / (1 + p / eta_decay) at
            presentation p (presentations; ``inf``: constant rate).
        prior_rate: learning rate of the excitabilities w_k0 (0: prior held at its start,
            uniform by default; see docs/stdp.md on collapse).
        c: the rule's constant (> 0): fixed point w_ki = log c + log p(y_i = 1 | k).
        sigma: STDP / EPSP window (s): y_i(t) = 1 if input i spiked in (t - sigma, t].
        dt: time step (s); at most one circuit spike per step.
        presentation_time: time each image is shown (s), >= dt.
        input_rate: Poisson rate of an active input neuron (Hz; ``inf``: it is active at
            every step, the ideal regime y = population code).
        total_rate: R, the WTA's total output rate (Hz): lateral inhibition normalises
            sum_k r_k(t) = R.
        mu_min: floor of the learned probabilities: weights are clipped to
            [log c + log mu_min, log c] (documented clipping; the same floor is used by
            the references it is compared with).

    Raises:
        ValueError: naming the field, for K < 2, M < 1, eta <= 0 or eta >
            :func:`max_stable_eta` (mu_min), eta_decay <= 0, prior_rate < 0 or >
            max_stable_eta(mu_min), c <= 0, sigma < dt, dt <= 0, presentation_time < dt,
            input_rate <= 0, total_rate <= 0, mu_min outside (0, 0.5), or non-finite values
            (``inf`` allowed only for eta_decay and input_rate).
    """

    n_components: jax.Array
    n_pixels: jax.Array
    eta: jax.Array
    eta_decay: jax.Array
    prior_rate: jax.Array
    c: jax.Array
    sigma: jax.Array
    dt: jax.Array
    presentation_time: jax.Array
    input_rate: jax.Array
    total_rate: jax.Array
    mu_min: jax.Array

    def _validate(self) -> dict:
        values = {}
        for name in self.field_names:
            value = getattr(self, name)
            try:
                value = float(value)
            except (TypeError, ValueError) as error:
                raise ValueError(f"{name} must be a number, got {value!r}") from error
            if math.isnan(value) or (math.isinf(value) and name not in ("eta_decay", "input_rate")):
                raise ValueError(f"{name} must be finite, got {value}")
            values[name] = value
        v = values
        if v["n_components"] != int(v["n_components"]) or v["n_components"] < 2:
            raise ValueError(f"n_components must be an integer >= 2, got {v['n_components']:g}")
        if v["n_pixels"] != int(v["n_pixels"]) or v["n_pixels"] < 1:
            raise ValueError(f"n_pixels must be an integer >= 1, got {v['n_pixels']:g}")
        if not 0.0 < v["mu_min"] < 0.5:
            raise ValueError(f"mu_min must lie in (0, 0.5), got {v['mu_min']:g}")
        limit = max_stable_eta(v["mu_min"])
        if not 0.0 < v["eta"] <= limit:
            raise ValueError(f"eta must lie in (0, {limit:.4g}] (= mu_min / (1 - mu_min): one "
                             f"update moves a floored weight by at most 1 nat), got {v['eta']:g}")
        if not 0.0 <= v["prior_rate"] <= limit:
            raise ValueError(f"prior_rate must lie in [0, {limit:.4g}], got {v['prior_rate']:g}")
        for name in ("eta_decay", "c", "dt", "input_rate", "total_rate"):
            if v[name] <= 0:
                raise ValueError(f"{name} must be > 0, got {v[name]:g}")
        if v["presentation_time"] < v["dt"] * (1 - 1e-12):
            raise ValueError(f"presentation_time must be >= dt ({v['dt']:g} s), got "
                             f"{v['presentation_time']:g}")
        if v["sigma"] < v["dt"] * (1 - 1e-12):
            raise ValueError(f"sigma must be >= dt ({v['dt']:g} s), got {v['sigma']:g}")
        return {name: as_leaf(value) for name, value in v.items()}

    @classmethod
    def create(cls, n_components: int, n_pixels: int, *, eta: float = 2e-3,
               eta_decay: float = math.inf, prior_rate: float = 0.0, c: float = 1.0,
               sigma: float = 0.01, dt: float = 1e-3, presentation_time: float = 0.05,
               input_rate: float = 300.0, total_rate: float = 200.0, mu_min: float = 0.01
               ) -> "WTAParams":
        """Build with keyword defaults: sigma = 10 ms (Nessler et al. 2009), 300 Hz active
        inputs (P(y_i = 1 | active) = 1 - e^{-3} = 0.95), R = 200 Hz, 50 ms per image
        (about 10 output spikes, i.e. posterior samples, per image), dt = 1 ms."""
        return cls(n_components, n_pixels, eta, eta_decay, prior_rate, c, sigma, dt,
                   presentation_time, input_rate, total_rate, mu_min)

    def n_steps(self) -> int:
        """Steps per presentation, round(presentation_time / dt) (host-side)."""
        return max(1, int(round(float(self.presentation_time) / float(self.dt))))

    def window_steps(self) -> int:
        """Steps in the STDP window, round(sigma / dt) (host-side)."""
        return max(1, int(round(float(self.sigma) / float(self.dt))))
