r"""The one labelling of the hidden states ON (x = 1) and OFF (x = 0).

The likelihood of input spikes under the MMPP is invariant under swapping the labels
together with ``(r_on, q_on) <-> (r_off, q_off)`` (with the stationary initial law, or
with ``P(x_0 = 1) -> 1 - P(x_0 = 1)``), so every maximum-likelihood fit has a mirror
image of equal likelihood, and a learner may return either. A neuron built from the
mirror computes the opposite log-odds. bayesnn therefore names the states by one rule,
applied at the end of every fit (:mod:`bayesnn.learning`, :func:`bayesnn.numpyro_models.
run_nuts`, :func:`bayesnn.hierarchy.poisson.fit_reader_ml`):

* **default**: ON is the state with the larger *total* input rate
  :math:`Q = \sum_i q_i` (the convention :math:`\theta = Q_{on} - Q_{off} > 0` of Denève,
  "Bayesian spiking neurons I: Inference", Neural Comput. 20(1):91-117 (2008), Sec. 1);
  a tie keeps the labels as they are;
* **with a reference** (e.g. the truth, or the parameters of a neuron already wired):
  the labelling whose rates are closer to the reference's in log-rate space (sum of
  squared differences of ``log r`` and ``log q``); a tie keeps the labels.

Both rules are functions of the parameters only, so a fit and its mirror get the same
name. A start with ``q_on == q_off`` cannot tell the states apart: the E-step posterior
then ignores the spikes, ``q_on == q_off`` stays a fixed point of EM and a stationary
point of the likelihood (the symmetric start of docs/learning.md, "Labelling");
:func:`require_distinct_states` refuses it.
"""
from __future__ import annotations

import numpy as np

from bayesnn.core.params import unchecked
from bayesnn.processes.params import MMPPParams

__all__ = ["mirror", "canonical_labelling", "require_distinct_states"]


def mirror(params: MMPPParams) -> MMPPParams:
    """``params`` with ON and OFF exchanged: ``(r_off, r_on, q_off, q_on)``."""
    return unchecked(MMPPParams, r_on=params.r_off, r_off=params.r_on, q_on=params.q_off,
                     q_off=params.q_on)


def _log_distance(params, reference) -> float:
    total = 0.0
    for name in ("r_on", "r_off", "q_on", "q_off"):
        a, b = np.log(np.asarray(getattr(params, name), float)), np.log(
            np.asarray(getattr(reference, name), float))
        total += float(np.sum((a - b) ** 2))
    return total


def canonical_labelling(params: MMPPParams, reference: MMPPParams | None = None
                        ) -> tuple[MMPPParams, bool]:
    """The fitted ``params`` in bayesnn's labelling (module docstring).

    Args:
        params: fitted :class:`MMPPParams` (Hz); a leading axis (a history) is allowed,
            then the decision is taken on the last entry and applied to all.
        reference: optional :class:`MMPPParams` (Hz) with the same number of inputs: the
            labelling closer to it in log-rate space wins.

    Returns:
        ``(params, relabelled)``: the parameters in the canonical labelling and whether
        ON and OFF were exchanged.

    Raises:
        ValueError: if ``reference`` has a different number of inputs.
    """
    stacked = np.ndim(params.r_on) > 0  # a history: decide on its last entry
    last = unchecked(MMPPParams, **{n: np.asarray(getattr(params, n), float)[-1] if stacked
                                    else np.asarray(getattr(params, n), float)
                                    for n in ("r_on", "r_off", "q_on", "q_off")})
    if reference is None:
        swap = float(np.sum(last.q_on)) < float(np.sum(last.q_off))
    else:
        if np.shape(reference.q_on)[-1] != np.shape(last.q_on)[-1]:
            raise ValueError(f"reference must have N = {np.shape(last.q_on)[-1]} inputs, got "
                             f"{np.shape(reference.q_on)[-1]}")
        swap = _log_distance(mirror(last), reference) < _log_distance(last, reference)
    if not swap:
        return params, False
    return unchecked(MMPPParams, r_on=params.r_off, r_off=params.r_on, q_on=params.q_off,
                     q_off=params.q_on), True


def require_distinct_states(params, name: str = "initial") -> None:
    """``ValueError`` if ``q_on == q_off`` for every input: such a start cannot tell the
    states apart (module docstring), whatever r_on, r_off and P(x_0 = 1) are."""
    q_on, q_off = np.asarray(params.q_on, float), np.asarray(params.q_off, float)
    if np.array_equal(q_on, q_off):
        raise ValueError(
            f"{name} is a symmetric start: {name}.q_on == {name}.q_off (r_on = "
            f"{float(np.asarray(params.r_on))}, r_off = {float(np.asarray(params.r_off))}) "
            "is a fixed point of EM and a stationary point of the likelihood; start from "
            "q_on != q_off (e.g. the busier state ON: q_on = 1.2 x, q_off = 0.8 x the "
            "mean rate)")
