"""NumPyro's NUTS with its initialisation compiled as one program (issue 21).

NumPyro initialises a chain eagerly, dispatching (and compiling) every distinct operation
on its own; :class:`CompiledInitNUTS` runs the same initialisation under ``jax.jit``.
Used by :func:`bayesnn.numpyro_models.run_nuts`, whose whole sampler is one program.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import NUTS

from bayesnn.core.params import is_traced

__all__ = ["CompiledInitNUTS"]


class CompiledInitNUTS(NUTS):
    """NUTS whose initialisation runs as one compiled program.

    NumPyro initialises a single chain eagerly: it traces the model, evaluates the
    potential energy and its gradient and adapts the first step size op by op, and every
    distinct operation is dispatched (and compiled) on its own: about 280 small XLA
    compilations, ~10 s at T = 2000 on 2 loaded cores. Here the same
    :meth:`NUTS.init` runs under ``jax.jit``: the same operations (the same
    ``initialize_model``, ``find_valid_initial_params`` and ``hmc`` ``init_fn``) in one
    program. Under a trace NumPyro's "no valid initial parameters" check cannot run, so
    it is done here on the returned state (finite potential energy and gradient). The
    post-processing function (constrained values and deterministic sites from the
    unconstrained position) is compiled as well.

    The functions the kernel keeps (potential, post-processing, sample function) are
    built while tracing from the model and the (static) settings; they capture no
    traced values (``dynamic_args=True``: the data come back as arguments of every
    sample step), as NumPyro's own vectorised initialisation relies on as well.
    """

    def init(self, rng_key, num_warmup, init_params=None, model_args=(), model_kwargs={}):
        parent = super()

        @jax.jit
        def compiled(key):  # the data are constants here, as in NumPyro's sampling loop
            return parent.init(key, num_warmup, init_params, model_args, model_kwargs)

        state = compiled(rng_key)
        if is_traced(state.potential_energy):  # inside _sample_program: checked by it
            self.start_is_finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in
                                                      jax.tree.leaves(state.potential_energy)
                                                      + jax.tree.leaves(state.z_grad)]))
            return state
        start = jax.device_get((state.potential_energy, state.z_grad))
        if not all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(start)):
            raise RuntimeError("Cannot find valid initial parameters: the potential energy "
                               "or its gradient is not finite at the initial values.")
        return state

    def postprocess_fn(self, args, kwargs):
        # NumPyro applies this once eagerly (to size its sample buffers) before the
        # compiled sampling loop, which runs the model op by op; compiled, it is one call.
        return jax.jit(super().postprocess_fn(args, kwargs))
