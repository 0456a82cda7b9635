"""Independent NumPy/SciPy reference for the hierarchy's exact filter on tiny trees
(:func:`tree_brute_force`): the joint chain enumerated state by state, a separate code
path that :func:`bayesnn.exact.tree_filter` is tested against (model and equations in
:mod:`bayesnn.exact.hierarchy`)."""
from __future__ import annotations

import itertools
import math

import numpy as np

from bayesnn.core import validation as v
from bayesnn.core.params import to_device
from bayesnn.core.precision import require_x64
from bayesnn.core.spikes import Spikes
from bayesnn.exact.hierarchy import BRUTE_FORCE_MAX_CHILDREN, TreeFilter, _check_tree, _trial_events

__all__ = ["tree_brute_force"]


def tree_brute_force(params, inputs: Spikes, *, duration: float, sample_times,
                     initial_probs=None) -> TreeFilter:
    """Independent NumPy/SciPy reference for tiny trees (K <= 3, i.e. <= 16 states).

    Joint states are enumerated as tuples (y, x_0, ..) with ``itertools.product``; the
    generator is built by comparing every pair of tuples (a rate only where exactly one
    coordinate differs); the propagator of each gap is ``scipy.linalg.expm`` (Padé) of
    ``(Q - diag(Lambda) - lead I) g`` times ``e^{lead g}`` (``lead`` the Perron root, so
    long gaps neither underflow nor overflow); the loop is plain Python. Same result type and ordering
    conventions as :func:`tree_filter` (initial law indexed the same way: the tuple
    order of ``itertools.product`` is y-most-significant).

    Raises:
        ValueError: naming the argument, including K > 3.
    """
    from scipy.linalg import expm, null_space

    require_x64("bayesnn.exact.hierarchy.tree_brute_force")
    tree = _check_tree(params, None)
    if tree.n_children > BRUTE_FORCE_MAX_CHILDREN:
        raise ValueError(f"n_children K = {tree.n_children} is too large for the brute-force "
                         f"reference (K <= {BRUTE_FORCE_MAX_CHILDREN})")
    duration = float(v.require_positive("duration", duration, ndim=0))
    queries = v.as_array("sample_times", sample_times, ndim=1)
    states = list(itertools.product((0, 1), repeat=tree.n_children + 1))
    n_states = len(states)
    generator = np.zeros((n_states, n_states))
    for a, za in enumerate(states):
        for b, zb in enumerate(states):
            differ = [i for i in range(len(za)) if za[i] != zb[i]]
            if len(differ) != 1:
                continue
            (var,) = differ
            y = za[0]
            if var == 0:
                generator[a, b] = tree.r_on if y == 0 else tree.r_off
            else:
                j = var - 1
                generator[a, b] = tree.a_on[j, y] if za[var] == 0 else tree.a_off[j, y]
        generator[a, a] = -sum(generator[a])
    # is_on[var][z]: whether variable var is 1 in the tuple z.
    is_on = np.array([[z[var] == 1 for z in states] for var in range(tree.n_children + 1)])
    lam = np.array([sum(float(np.sum(tree.q_on[j] if z[j + 1] else tree.q_off[j]))
                        for j in range(tree.n_children)) for z in states])
    if initial_probs is None:
        kernel = null_space(generator.T)[:, 0]
        rho = kernel / kernel.sum()
    else:
        rho = np.asarray(initial_probs, float)
    times, senders = _trial_events(inputs, None, tree.q_on.size, duration)
    n_inputs = tree.q_on.shape[1]
    items = sorted([(t, 0, s) for t, s in zip(times.tolist(), senders.tolist())]
                   + [(float(t), 1, k) for k, t in enumerate(queries)]
                   + [(duration, 2, -1)], key=lambda item: (item[0], item[1]))
    matrix = generator - np.diag(lam)
    # Perron root of the Metzler matrix M: expm(M g) = e^{lead g} expm((M - lead I) g), the
    # second factor bounded for any gap (expm(M g) alone underflows to 0 on long gaps).
    lead = float(np.max(np.real(np.linalg.eigvals(matrix))))
    shifted = matrix - lead * np.eye(n_states)
    prob = np.zeros((tree.n_children + 1, queries.size))
    log_odds = np.zeros_like(prob)
    log_lik, now = 0.0, 0.0
    for time, kind, index in items:
        rho = rho @ expm(shifted * (time - now))
        log_lik += lead * (time - now)
        now = time
        if kind == 0:
            j, i = divmod(index, n_inputs)
            rho = rho * np.where(is_on[j + 1], tree.q_on[j, i], tree.q_off[j, i])
        total = rho.sum()
        log_lik += math.log(total)
        rho = rho / total
        if kind == 1:
            on, off = is_on @ rho, (~is_on) @ rho
            prob[:, index] = on / (on + off)
            log_odds[:, index] = np.log(on) - np.log(off)
    return TreeFilter(queries, to_device(prob), to_device(log_odds), to_device(log_lik),
                      to_device(times.size))
