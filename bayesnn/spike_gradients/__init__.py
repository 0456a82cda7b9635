"""Gradient descent that trains spiking networks themselves (issue 19).

* :mod:`~bayesnn.spike_gradients.spike_fn`: the surrogate spike nonlinearity (hard
  forward, fast-sigmoid derivative of width w, ``jax.custom_jvp``).
* :mod:`~bayesnn.spike_gradients.bptt`: checkpointed BPTT and the optax loop with its
  stop rule (last finite weights, never NaN).
* :mod:`~bayesnn.spike_gradients.scn_surrogate`: surrogate BPTT through the hard B13
  network (:func:`bayesnn.scn.step`) and the frozen Brendel network, forward passes
  bit-identical to the library's.
* :mod:`~bayesnn.spike_gradients.lif`: a plain discrete-time LIF network.
* :mod:`~bayesnn.spike_gradients.eventprop`: exact event-driven LIF network and its
  EventProp gradients (Wunderlich & Pehle 2021).
* :mod:`~bayesnn.spike_gradients.transfer`, :mod:`~bayesnn.spike_gradients.digits`:
  the measured comparisons; :mod:`~bayesnn.spike_gradients.validation`: the scenario.
"""
from bayesnn.spike_gradients.bptt import FitResult, check_window, fit, scan_checkpointed
from bayesnn.spike_gradients.eventprop import (EventLIF, LayerSpikes, first_spike_loss,
                                               gradient_check, layer_backward, layer_forward,
                                               network_forward, network_grad)
from bayesnn.spike_gradients.lif import (LIFNet, first_spike_times, lif_first_spike_loss,
                                         lif_first_spike_times, lif_run)
from bayesnn.spike_gradients.scn_surrogate import (SurrogateResult, brendel_surrogate_loss,
                                                   brendel_surrogate_run, scn_surrogate_loss,
                                                   scn_surrogate_run)
from bayesnn.spike_gradients.spike_fn import fast_sigmoid_grad, spike, surrogate_zero

__all__ = [
    "FitResult", "check_window", "fit", "scan_checkpointed",
    "EventLIF", "LayerSpikes", "first_spike_loss", "gradient_check", "layer_backward",
    "layer_forward", "network_forward", "network_grad",
    "LIFNet", "first_spike_times", "lif_first_spike_loss", "lif_first_spike_times", "lif_run",
    "SurrogateResult", "brendel_surrogate_loss", "brendel_surrogate_run", "scn_surrogate_loss",
    "scn_surrogate_run",
    "fast_sigmoid_grad", "spike", "surrogate_zero",
]
