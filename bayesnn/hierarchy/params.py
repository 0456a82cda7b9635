r"""The two-level generative tree: a top binary chain y and K children x_j that follow it.

Model (a derivation in the spirit of Denève 2008 II's "hierarchical causal models"; the
paper's own equations for hierarchies are not reproduced here):

* top variable :math:`y_t \in \{0, 1\}`: an autonomous two-state Markov chain, 0 -> 1 at
  rate ``r_on`` and 1 -> 0 at rate ``r_off`` (Hz);
* children :math:`x^j_t \in \{0, 1\}`, j = 0..K-1: given the path of y they are
  independent two-state chains whose rates depend on the *current* value of y:
  0 -> 1 at rate ``a_on[j, y]`` and 1 -> 0 at rate ``a_off[j, y]`` (Hz). A child
  follows its parent when the rates towards the parent's value are larger than those
  away from it: ``a_on[j, 1] > a_on[j, 0]`` and ``a_off[j, 0] > a_off[j, 1]``
  (:func:`make_tree` builds this from one "follow" and one "stray" rate);
* inputs: child j drives N conditionally independent Poisson inputs with rates
  ``q_on[j, i]`` while :math:`x^j = 1` and ``q_off[j, i]`` while :math:`x^j = 0` (Hz),
  the single-neuron model of Denève 2004, Sec. 1.1, once per child. Input (j, i) is
  sender ``j * N + i`` in a :class:`bayesnn.core.Spikes` container.

The joint process :math:`(y, x^0, .., x^{K-1})` is a continuous-time Markov chain on
:math:`2^{K+1}` states whose generator is the sum of y's generator and each child's
y-dependent generator (only one coordinate flips at a time); the observation rates depend
on the x coordinates only, so the inputs are a Markov-modulated Poisson process of the
joint chain (Freed & Shepp 1982; Bobrowski et al. 2007, Eq. 2).

Only two levels are implemented (a third level is the same construction one step up;
see docs/hierarchy.md).
"""
from __future__ import annotations

import jax
import numpy as np

from bayesnn.core.params import as_leaf, params_record, unchecked
from bayesnn.core.validation import as_array, require_positive
from bayesnn.processes.params import MMPPParams

__all__ = ["TreeParams", "make_tree", "joint_generator_numpy", "stationary_joint",
           "child_pair_stationary", "child_effective_rates", "prob_child_given_top",
           "as_tree_params"]


def _require_rates(name: str, value, shape_hint: str) -> np.ndarray:
    array = require_positive(name, value)
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape {shape_hint}, got shape {array.shape}")
    return array


@params_record
class TreeParams:
    """Parameters of the two-level tree (a JAX pytree; every field a leaf).

    Fields:
        r_on, r_off: () switching rates of the top variable y, Hz, > 0.
        a_on: (K, 2) 0 -> 1 rate of child j while y = 0 (column 0) and y = 1 (column 1),
            Hz, > 0.
        a_off: (K, 2) 1 -> 0 rate of child j while y = 0 and y = 1, Hz, > 0.
        q_on, q_off: (K, N) input rates of child j's N inputs while x_j = 1 / 0, Hz, > 0.

    Properties: ``n_children`` K, ``n_inputs`` N (per child), ``n_states`` 2^(K+1),
    ``prior_prob_top``; :meth:`child_model` (child j's inputs as a single-chain MMPP
    with flux-matched switching rates).

    Raises:
        ValueError: naming the field: a rate not finite and > 0 (coupling rates <= 0
            included), a_on/a_off not (K, 2), q_on/q_off not (K, N) with the same K as
            a_on, N < 1 or K < 1.
    """

    r_on: jax.Array
    r_off: jax.Array
    a_on: jax.Array
    a_off: jax.Array
    q_on: jax.Array
    q_off: jax.Array

    def _validate(self) -> dict:
        r_on = require_positive("r_on", self.r_on, ndim=0)
        r_off = require_positive("r_off", self.r_off, ndim=0)
        a_on = _require_rates("a_on", self.a_on, "(K, 2)")
        a_off = _require_rates("a_off", self.a_off, "(K, 2)")
        if a_on.shape[1] != 2 or a_on.shape[0] < 1:
            raise ValueError(f"a_on must have shape (K, 2) with K >= 1 (one column per "
                             f"value of the parent y), got {a_on.shape}")
        if a_off.shape != a_on.shape:
            raise ValueError(f"a_off must have the shape of a_on {a_on.shape} (K, 2), "
                             f"got {a_off.shape}")
        n_children = a_on.shape[0]
        q_on = _require_rates("q_on", self.q_on, "(K, N)")
        q_off = _require_rates("q_off", self.q_off, "(K, N)")
        if q_on.shape[0] != n_children:
            raise ValueError(f"q_on must have one row per child: shape (K={n_children}, N) "
                             f"as a_on has K={n_children} rows, got {q_on.shape}")
        if q_on.shape[1] < 1:
            raise ValueError("q_on must hold at least one input per child, got N = 0")
        if q_off.shape != q_on.shape:
            raise ValueError(f"q_off must have the shape of q_on {q_on.shape}, got {q_off.shape}")
        return dict(r_on=as_leaf(r_on), r_off=as_leaf(r_off), a_on=as_leaf(a_on),
                    a_off=as_leaf(a_off), q_on=as_leaf(q_on), q_off=as_leaf(q_off))

    @property
    def n_children(self) -> int:
        """K, the number of children (static)."""
        return int(self.a_on.shape[-2])

    @property
    def n_inputs(self) -> int:
        """N, the number of Poisson inputs per child (static)."""
        return int(self.q_on.shape[-1])

    @property
    def n_states(self) -> int:
        """2^(K+1), the number of joint states."""
        return 2 ** (self.n_children + 1)

    @property
    def prior_prob_top(self) -> jax.Array:
        """Stationary P(y = 1) = r_on / (r_on + r_off)."""
        return self.r_on / (self.r_on + self.r_off)

    def child_model(self, j: int) -> MMPPParams:
        """Child j's inputs as a single-chain MMPP: the Poisson rates ``q_on[j]``,
        ``q_off[j]`` and the flux-matched switching rates of x_j (see
        :func:`child_pair_stationary`): the rates of the two-state chain with the same
        stationary law and the same mean number of switches per second as x_j.

        x_j alone is not a Markov chain (its rates depend on the hidden y), so this is
        the best single-chain description in that moment-matching sense, not an exact
        marginal model."""
        r_on, r_off = child_effective_rates(self, j)
        return unchecked(MMPPParams, r_on=as_leaf(r_on), r_off=as_leaf(r_off),
                         q_on=self.q_on[j], q_off=self.q_off[j])


def make_tree(n_children: int, *, r_on: float, r_off: float, follow: float, stray: float,
              q_on, q_off) -> TreeParams:
    """A tree whose children all follow y with one "follow" and one "stray" rate.

    ``a_on[j] = (stray, follow)`` and ``a_off[j] = (follow, stray)``: a child moves
    towards the parent's current value at rate ``follow`` and away from it at rate
    ``stray`` (Hz). ``follow == stray`` makes the children independent of y.

    Args:
        n_children: K >= 1.
        r_on, r_off: top switching rates, Hz.
        follow, stray: coupling rates, Hz, > 0.
        q_on, q_off: (N,) (shared by all children) or (K, N) input rates, Hz.

    Raises:
        ValueError: naming the argument (K < 1, q arrays whose rows do not match K,
            rates not > 0).
    """
    if isinstance(n_children, bool) or not isinstance(n_children, (int, np.integer)) \
            or int(n_children) < 1:
        raise ValueError(f"n_children must be an integer >= 1, got {n_children!r}")
    n_children = int(n_children)
    follow = float(require_positive("follow", follow, ndim=0))
    stray = float(require_positive("stray", stray, ndim=0))
    q_on = as_array("q_on", q_on)
    q_off = as_array("q_off", q_off)
    if q_on.ndim == 1:
        q_on = np.broadcast_to(q_on, (n_children, q_on.shape[0]))
    if q_off.ndim == 1:
        q_off = np.broadcast_to(q_off, (n_children, q_off.shape[0]))
    for name, array in (("q_on", q_on), ("q_off", q_off)):
        if array.ndim != 2 or array.shape[0] != n_children:
            raise ValueError(f"{name} must have shape (N,) or (n_children={n_children}, N), "
                             f"got {array.shape}")
    a_on = np.tile([stray, follow], (n_children, 1))
    a_off = np.tile([follow, stray], (n_children, 1))
    return TreeParams(r_on, r_off, a_on, a_off, np.array(q_on), np.array(q_off))


# ----------------------------------------------------------------------------- NumPy helpers
# State index convention of the model code: s = y + 2 * sum_j x_j 2^j (bit 0 = y,
# bit j+1 = x_j).


def joint_generator_numpy(params: TreeParams) -> np.ndarray:
    """(S, S) generator of the joint chain (row convention: Q[s, s'] = rate s -> s')."""
    r_on, r_off = float(params.r_on), float(params.r_off)
    a_on, a_off = np.asarray(params.a_on), np.asarray(params.a_off)
    n_children = a_on.shape[0]
    n_states = 2 ** (n_children + 1)
    generator = np.zeros((n_states, n_states))
    for s in range(n_states):
        y = s & 1
        generator[s, s ^ 1] = r_off if y else r_on
        for j in range(n_children):
            x = (s >> (j + 1)) & 1
            generator[s, s ^ (1 << (j + 1))] = a_off[j, y] if x else a_on[j, y]
        generator[s, s] = -generator[s].sum()
    return generator


def stationary_joint(params: TreeParams) -> np.ndarray:
    """(S,) stationary law of the joint chain (pi Q = 0, sum pi = 1; least squares)."""
    generator = joint_generator_numpy(params)
    n_states = generator.shape[0]
    system = np.vstack([generator.T, np.ones((1, n_states))])
    rhs = np.zeros(n_states + 1)
    rhs[-1] = 1.0
    pi = np.linalg.lstsq(system, rhs, rcond=None)[0]
    pi = np.maximum(pi, 0.0)
    return pi / pi.sum()


def child_pair_stationary(params: TreeParams, j: int) -> np.ndarray:
    """(2, 2) stationary law of the pair (y, x_j): ``pi[y, x]``.

    (y, x_j) is itself a four-state Markov chain (the other children do not feed
    back), so this is exact and needs no 2^(K+1) computation."""
    r_on, r_off = float(params.r_on), float(params.r_off)
    a_on, a_off = np.asarray(params.a_on)[j], np.asarray(params.a_off)[j]
    # index 2 * y + x
    generator = np.zeros((4, 4))
    for y in (0, 1):
        for x in (0, 1):
            s = 2 * y + x
            generator[s, 2 * (1 - y) + x] = r_off if y else r_on
            generator[s, 2 * y + (1 - x)] = a_off[y] if x else a_on[y]
            generator[s, s] = -generator[s].sum()
    system = np.vstack([generator.T, np.ones((1, 4))])
    rhs = np.array([0.0, 0.0, 0.0, 0.0, 1.0])
    pi = np.linalg.lstsq(system, rhs, rcond=None)[0]
    return np.maximum(pi, 0.0).reshape(2, 2) / np.maximum(pi, 0.0).sum()


def child_effective_rates(params: TreeParams, j: int) -> tuple[float, float]:
    """Flux-matched switching rates of x_j alone (Hz):
    ``r_on = E[a_on(y) | x_j = 0]``, ``r_off = E[a_off(y) | x_j = 1]`` under the
    stationary law of (y, x_j). They reproduce P(x_j = 1) and the mean switch rate."""
    pi = child_pair_stationary(params, j)
    a_on, a_off = np.asarray(params.a_on)[j], np.asarray(params.a_off)[j]
    r_on = float(pi[:, 0] @ a_on / pi[:, 0].sum())
    r_off = float(pi[:, 1] @ a_off / pi[:, 1].sum())
    return r_on, r_off


def prob_child_given_top(params: TreeParams) -> np.ndarray:
    """(K, 2) stationary P(x_j = 1 | y) for y = 0, 1 (time average within y-epochs)."""
    out = np.empty((params.n_children, 2))
    for j in range(params.n_children):
        pi = child_pair_stationary(params, j)
        out[j] = pi[:, 1] / pi.sum(axis=1)
    return out


def as_tree_params(params) -> TreeParams:
    """``params`` if it is a :class:`TreeParams`, else ValueError naming it."""
    if not isinstance(params, TreeParams):
        raise ValueError(f"params must be a TreeParams, got {type(params).__name__}")
    return params

