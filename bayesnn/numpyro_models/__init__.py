"""NumPyro references: the generative models written in NumPyro, answered by NumPyro.

* :mod:`~bayesnn.numpyro_models.mmpp`: binned Markov-modulated Poisson model with the
  hidden state enumerated (funsor), posterior marginals by differentiation, and the
  exact continuous-time spike-train likelihood as a NumPyro ``Distribution``.
* :mod:`~bayesnn.numpyro_models.nuts`: NUTS over (r_on, r_off, q_on, q_off), ArviZ output.
* :mod:`~bayesnn.numpyro_models.lgssm`: linear-Gaussian state-space model, exact
  posteriors from NumPyro's log density and a JAX Kalman filter / RTS smoother.
* :mod:`~bayesnn.numpyro_models.checks`: ``numpyro_checks`` rows for ``bayesnn validate``.

Nothing here imports ``bayesnn.neuron`` or ``bayesnn.scn``; ``bayesnn.exact`` is only
imported by ``checks`` to *compare* against (never to compute the NumPyro answers).
"""
