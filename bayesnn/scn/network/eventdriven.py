r"""Event-driven kernel of the noise-free B13 network (one spike per step): jump from
spike to spike over the step grid instead of stepping every step.

Between spikes a step of :func:`bayesnn.scn.network.functional.step` is affine and the
same for every neuron: with ``a = 1 - lambda_V dt`` and ``delta = 1 - lambda_d dt``, the
voltages after ``k`` spike-free steps from a state ``(V0, r~0, x_hat0)`` are, in closed
form (B13 Eqs. 1-9 with the step of ``functional``)::

    V(k) = a^k V0 + Gamma^T U_k + s_k w,        w = Gamma^T M x_hat0 + kappa r~0
    U_k  = sum_{m<k} dt a^(k-1-m) c_m           (D,)   leaky integral of the input
    s_k  = sum_{m<k} dt a^(k-1-m) delta^m       ()     leaky integral of the traces
    r~(k) = delta^k r~0,   x_hat(k) = delta^k x_hat0

so ``Z_j(k) = V_j(k) - T_j = p_k . b_j - T_j`` with ``p_k = (a^k, U_k, s_k)`` and
``b_j = (V0_j, Gamma_j, w_j)``: a low-dimensional (D + 2) product per neuron. Each loop
iteration of :func:`run_event_driven`

1. builds ``p_k`` for ``k = 0 .. H + B`` (one small matrix product with the input);
2. bounds every neuron's ``Z_j(k)`` on ``k <= H`` from above by a line:
   ``Z_j(k) <= Z_j(0) + c_j + k s_j`` with ``s_j = b_j . (p_H - p_0) / H`` and
   ``c_j = |b_j| . max_k |p_k - p_0 - k (p_H - p_0) / H|`` (plus a rounding slack of 1e4 eps),
   so no neuron can cross threshold before step ``k_lb = min_j k_j`` (the first
   ``k`` where its line is above 0; ``H + 1`` if none);
3. evaluates ``Z`` exactly (the closed form) for all neurons at the ``B`` steps
   ``k_lb .. k_lb + B - 1`` and takes the first step where some ``Z_j > 0``;
4. jumps there: the closed-form state, then the spike of
   :func:`~bayesnn.scn.network.functional.step` ("one" mode: the largest ``V - T``,
   exact ties broken by that step's random offset, drawn only on a tie), its event,
   and the records of the steps jumped over (readout ``delta^k x_hat0``).

Loop iterations: about one per spike plus ``T / (H + B)`` (against ``T`` for stepping);
work per iteration O(N (D + 2) B), not O(N D T). The closed form is an exact
reformulation of the step, not an approximation; it rounds differently (sums of
``a^(k-1-m)`` terms instead of ``k`` successive updates), so voltages and margins
agree with stepping to round-off (~1e-15 of their scale) and spikes are identical unless a
decision lies within round-off of a tie or of the threshold
(``tests/test_scn_kernel_equivalence.py`` checks both).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from bayesnn.core import empty_spikes
from bayesnn.scn.network import kernels as K
from bayesnn.scn.network.functional import SCNState, fire_instant, mat_vec
from bayesnn.scn.network.params import SCNParams
from bayesnn.scn.network.results import SCNResult

__all__ = ["HORIZON", "EXACT_STEPS", "run_event_driven"]

HORIZON = 60     # H: steps covered by the linear bound of one iteration
EXACT_STEPS = 4  # B: steps evaluated exactly (all neurons) per iteration
_SLACK = 1e4     # rounding slack of the bound, in units of eps (float64: 2e-12 relative;
                 # the closed form and the bound round at ~10 eps)


def _coefficients(net: SCNParams, n: int):
    """``L`` (n + 1, n) with ``L[k, m] = dt a^(k-1-m)`` for m < k, ``a^k`` (n + 1,),
    ``s_k`` (n + 1,) and ``delta^k`` (n + 1,) for k = 0 .. n (once per run)."""
    dt = net.dt
    a = 1.0 - net.lambda_v * dt
    delta = 1.0 - net.lambda_d * dt
    k = jnp.arange(n + 1)
    m = jnp.arange(n)
    power = jnp.maximum(k[:, None] - 1 - m[None, :], 0)
    L = jnp.where(m[None, :] < k[:, None], dt * a ** power, 0.0)
    delta_pow = delta ** k
    return L, a ** k, L @ delta_pow[:n], delta_pow


def run_event_driven(net: SCNParams, c: jax.Array, key: jax.Array, state0: SCNState, *,
                     sel_v: tuple, sel_r: tuple, capacity: int, every: int,
                     horizon: int = HORIZON, exact_steps: int = EXACT_STEPS) -> SCNResult:
    """One noise-free "one"-mode trial (traceable): the same model as stepping
    :func:`~bayesnn.scn.network.functional.step` over ``c`` from ``state0``, computed
    event by event (equations in the module docstring; Boerlin et al. 2013).

    Args:
        net: :class:`SCNParams` (its ``sigma_v`` is not used: callers check noise-free).
        c: (T, D) input per step, units of x per second.
        key: JAX key (tie-break offsets, drawn for step k from ``fold_in(key, k // 16)``
            as in :func:`bayesnn.scn.network.kernels.draw_randomness`).
        state0: :class:`SCNState` to start from (``state0.step`` continues the clock).
        sel_v, sel_r: indices of the neurons whose voltages / traces are recorded.
        capacity: event slots (events past it are counted, not stored).
        every: record every ``every`` steps (divides T).
        horizon, exact_steps: H and B of the module docstring (results do not depend
            on them beyond round-off; speed does).

    Returns:
        :class:`SCNResult` (currents and E/I totals empty; times in s).
    """
    G = net.Gamma
    D, N = G.shape
    f = state0.V.dtype
    n_steps = c.shape[0]
    n_rec = n_steps // every
    H, B = horizon, exact_steps
    W = H + B                                   # steps whose coefficients are built
    T = net.thresholds
    M = net.slow_matrix
    sel_v = jnp.asarray(sel_v, jnp.int32)
    sel_r = jnp.asarray(sel_r, jnp.int32)
    step0 = state0.step
    L, a_pow, s_k, d_pow = _coefficients(net, W)
    c_pad = jnp.concatenate([c, jnp.zeros((W, D), c.dtype)])
    n_slots = W // every + 1                    # record slots one iteration can touch
    slot_q = jnp.arange(n_slots, dtype=jnp.int32)
    ks = jnp.arange(W + 1)
    G_v = G[:, sel_v]
    cq, rx = net.cost_quad, net.reset_extra

    def body(carry):
        i, state, spikes, margins, counts, max_n, recs = carry
        V0, r0, x0 = state.V, state.rates, state.readout
        n_valid = n_steps - i
        cs = jax.lax.dynamic_slice(c_pad, (i, jnp.zeros((), jnp.int32)), (W, D))
        U = L @ cs                                               # (W + 1, D)
        p = jnp.concatenate([a_pow[:, None], U, s_k[:, None]], axis=1)   # (W + 1, D + 2)
        Mx = M[:, 0] * x0[0]
        for d in range(1, D):
            Mx = Mx + M[:, d] * x0[d]
        w = mat_vec(Mx, G) + net.kappa * r0                      # (N,)
        # 2. the linear bound on k <= H: no neuron can cross before k_lb
        slope = (p[H] - p[0]) / H
        dev = jnp.max(jnp.abs(p[: H + 1] - p[0] - ks[: H + 1, None] * slope), axis=0)
        p_max = jnp.max(jnp.abs(p), axis=0)
        s_j = V0 * slope[0] + mat_vec(slope[1:D + 1], G) + w * slope[D + 1]
        abs_b = (jnp.abs(V0), jnp.abs(G), jnp.abs(w))
        size = (abs_b[0] * p_max[0] + mat_vec(p_max[1:D + 1], abs_b[1])
                + abs_b[2] * p_max[D + 1] + T)                  # scale of the terms
        c_j = (abs_b[0] * dev[0] + mat_vec(dev[1:D + 1], abs_b[1]) + abs_b[2] * dev[D + 1]
               + _SLACK * jnp.finfo(f).eps * size)
        start = V0 - T + c_j                                     # bound at k = 0
        x = -start / jnp.where(s_j > 0, s_j, 1.0)
        k_j = jnp.where(start + s_j > 0, 1.0,
                        jnp.where(s_j > 0, jnp.ceil(x * (1 - 1e-9) - 1e-6), H + 1.0))
        k_lb = jnp.clip(jnp.min(k_j), 1, H + 1).astype(jnp.int32)
        k_lb = jnp.minimum(k_lb, n_valid)
        # 3. the closed form at steps k_lb .. k_lb + B - 1, all neurons
        pb = jax.lax.dynamic_slice(p, (k_lb, jnp.zeros((), jnp.int32)), (B, D + 2))
        Vb = (pb[:, 0, None] * V0 + mat_vec(pb[:, 1:D + 1], G) + pb[:, D + 1, None] * w)
        rows = jnp.arange(B, dtype=jnp.int32)
        cross = (jnp.max(Vb - T, axis=1) > 0) & (k_lb + rows <= n_valid)
        any_cross = jnp.any(cross)
        r_star = jnp.where(any_cross, jnp.argmax(cross),
                           jnp.minimum(B - 1, n_valid - k_lb)).astype(jnp.int32)
        k_end = k_lb + r_star                                    # steps taken (>= 1)
        V = jax.lax.dynamic_index_in_dim(Vb, r_star, keepdims=False)
        r, xh = r0 * d_pow[k_end], x0 * d_pow[k_end]
        # 4. the spike of step k (absolute index), as in functional.step
        k = step0 + i + k_end - 1
        z = V - T
        m = jnp.max(z)
        tie = jnp.sum(z == m) > 1
        offset = jax.lax.cond(
            tie, lambda: K.draw_randomness(key, k, 1, 0, (N,), f)[1][0, 0],
            lambda: jnp.zeros((), jnp.int32))
        idx, m = K.pick_max(z, offset)
        fire = m > 0
        V, r, xh = fire_instant(net, V, r, xh, idx, fire)
        time = (k + 1).astype(net.dt.dtype) * net.dt
        spikes, margins = K.append_events(spikes, margins, time, idx[None], m[None],
                                          fire[None])
        counts = counts.at[idx].add(fire.astype(jnp.int32))
        # records of the steps i .. i + k_end - 1 (slots past them are rewritten later)
        slot0 = i // every
        local = (slot0 + slot_q + 1) * every - 1 - i             # step within the jump
        at = jnp.clip(local, 0, W - 1)
        last = (local == k_end - 1)[:, None]
        after = d_pow[at + 1][:, None]
        new = {"readout": jnp.where(last, xh, x0 * after),
               "rates": jnp.where(last, r[sel_r], r0[sel_r] * after)}
        Vv = (p[at + 1, 0, None] * V0[sel_v] + mat_vec(p[at + 1, 1:D + 1], G_v)
              + p[at + 1, D + 1, None] * w[sel_v])
        new["voltages"] = jnp.where(last, V[sel_v], Vv)
        recs = {name: jax.lax.dynamic_update_slice_in_dim(recs[name], new[name], slot0, 0)
                for name in recs}
        state = state._replace(V=V, rates=r, readout=xh, step=state.step + k_end)
        return (i + k_end, state, spikes, margins, counts,
                jnp.maximum(max_n, fire.astype(jnp.int32)), recs)

    pad = n_rec + n_slots
    recs = {"readout": jnp.zeros((pad, D), f), "voltages": jnp.zeros((pad, sel_v.shape[0]), f),
            "rates": jnp.zeros((pad, sel_r.shape[0]), f)}
    zero = jnp.zeros((), jnp.int32)
    carry = (zero, state0, empty_spikes(capacity, f), jnp.full((capacity,), jnp.nan, f),
             jnp.zeros(N, jnp.int32), zero, recs)
    _, state, spikes, margins, counts, max_n, recs = jax.lax.while_loop(
        lambda carry: carry[0] < n_steps, body, carry)
    recs = {name: value[:n_rec] for name, value in recs.items()}
    times = (step0 + (jnp.arange(n_rec) + 1) * every).astype(f) * net.dt
    empty = jnp.zeros((n_rec, 0), f)
    return SCNResult(
        spikes=spikes, margins=margins, times=times, readout=recs["readout"],
        voltages=recs["voltages"], rates=recs["rates"], currents_e=empty, currents_i=empty,
        spike_counts=counts, e_input=jnp.zeros(N, f), i_input=jnp.zeros(N, f),
        max_spikes_per_step=max_n, n_bursts=zero, n_cap_hits=zero, voltage_neurons=sel_v,
        rate_neurons=sel_r, final=state)
