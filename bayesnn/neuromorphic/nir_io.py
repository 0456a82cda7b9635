r"""Export a spike-coding network to NIR and import it back (Pedersen et al. 2024,
Nat. Commun. 15: 8122; the ``nir`` package, 1.0.x).

Graph (continuous time, seconds; ``r~`` units)::

    input (D) -> encoder Affine(W = Gamma^T, b = 0) -> neurons
    neurons: LIF(tau = 1/lambda_V, r = tau, v_leak = 0, v_threshold = T,
                 v_reset = T - Omega_f,ii)        [IF(r = 1, ...) when lambda_V = 0]
    neurons -> lateral Linear(-(Omega_f - diag Omega_f)) -> neurons
    neurons -> trace LI(tau = 1/lambda_d, r = tau, v_leak = 0)        (the state is r~)
    trace -> slow Linear(Gamma^T (A + lambda_d I) Gamma + kappa I) -> neurons  (if non-zero)
    trace -> readout Linear(Gamma) -> output (D)

Conventions (stated in the graph's metadata, since NIR files carry no units or dt):

* time unit: seconds; ``r = tau`` so that a spike (a unit Dirac) through a weight w moves
  the membrane by exactly w and a trace by exactly 1, and a current I moves it at rate
  I (dV/dt = ... + I). Readers that expect ``r = tau/dt`` (snnTorch) or ``r = 1``
  (Norse) must rescale;
* reset: nir >= 1.0.6 resets **to** ``v_reset``; bayesnn's SCN resets **by
  subtraction** of ``Omega_f,ii`` (no NIR primitive). ``v_reset = T - Omega_f,ii``
  equals it only for a spike exactly at threshold;
* one spike per step (the largest V - T): no NIR primitive; NIR readers fire every
  neuron above threshold (B13's ping-pong when several cross together);
* recurrent (lateral) edges are instantaneous in bayesnn; discrete readers may deliver
  them one step late (``delay_recurrent`` of :func:`run_nir_graph`);
* voltage noise and the random tie-break have no NIR form (recorded in metadata only).

The bayesnn fields that the graph does not hold (A, mu, nu, sigma_v, dt, slow_self_term,
self_reset_scale) travel in the metadata, so :func:`import_scn` rebuilds the identical
:class:`bayesnn.scn.SCNParams`. :func:`run_nir_graph` is an independent executor of such a
graph (Euler at ``dt``, NIR's reset-to-value, every supra-threshold neuron fires), used to
measure what the closest graph loses against bayesnn's own network.
"""
from __future__ import annotations

import numpy as np

from bayesnn.scn import SCNParams, make_network
from bayesnn.scn.network.params import host_derived

__all__ = ["export_scn", "import_scn", "run_nir_graph", "NIR_CONVENTIONS"]

NIR_CONVENTIONS = {
    "time_unit": "s",
    "r_convention": "r = tau (unit weight = unit jump)",
    "reset": "bayesnn subtracts Omega_f,ii; v_reset = T - Omega_f,ii matches only at threshold",
    "spike_rule": "bayesnn: at most one spike per step (largest V - T); no NIR primitive",
    "recurrence": "lateral edges instantaneous in bayesnn",
}


def _nir():
    import nir  # a dependency of bayesnn; imported late so the family loads without h5py work

    return nir


def export_scn(net: SCNParams):
    """The :class:`nir.NIRGraph` of a B13 network (module docstring).

    Args:
        net: :class:`bayesnn.scn.SCNParams`.

    Returns:
        ``nir.NIRGraph`` (float64 arrays; write with ``nir.write``).
    """
    nir = _nir()
    if not isinstance(net, SCNParams):
        raise ValueError(f"net must be an SCNParams, got {type(net).__name__}")
    G = np.asarray(net.Gamma, float)
    D, N = G.shape
    d = host_derived(net)  # on the host: no XLA program per derived quantity
    full = G.T @ G + np.diag(d["cost_quad"] + np.asarray(d["reset_extra"], float))
    self_reset = np.diag(full).copy()
    lateral = -(full - np.diag(self_reset))
    slow = G.T @ np.asarray(d["slow_matrix"], float) @ G + d["kappa"] * np.eye(N)
    T = np.asarray(net.thresholds, float)
    lam_v, lam_d = float(net.lambda_v), float(net.lambda_d)
    if lam_v > 0:
        tau = np.full(N, 1.0 / lam_v)
        neurons = nir.LIF(tau=tau, r=tau.copy(), v_leak=np.zeros(N), v_threshold=T,
                          v_reset=T - self_reset)
    else:
        neurons = nir.IF(r=np.ones(N), v_threshold=T, v_reset=T - self_reset)
    tau_d = np.full(N, 1.0 / lam_d)
    nodes = {
        "input": nir.Input(input_type=np.array([D])),
        "encoder": nir.Affine(weight=G.T.copy(), bias=np.zeros(N)),
        "neurons": neurons,
        "lateral": nir.Linear(weight=lateral),
        "trace": nir.LI(tau=tau_d, r=tau_d.copy(), v_leak=np.zeros(N)),
        "readout": nir.Linear(weight=G.copy()),
        "output": nir.Output(output_type=np.array([D])),
    }
    edges = [("input", "encoder"), ("encoder", "neurons"), ("neurons", "lateral"),
             ("lateral", "neurons"), ("neurons", "trace"), ("trace", "readout"),
             ("readout", "output")]
    if np.any(slow != 0):
        nodes["slow"] = nir.Linear(weight=slow)
        edges += [("trace", "slow"), ("slow", "neurons")]
    meta = {"bayesnn_family": "scn", "nir_version": str(getattr(nir, "__version__", "?")),
            "dt": float(net.dt), "A": np.asarray(net.A, float), "mu": float(net.mu),
            "nu": float(net.nu), "sigma_v": float(net.sigma_v),
            "slow_self_term": float(net.slow_self_term),
            "self_reset_scale": float(net.self_reset_scale),
            "lambda_v": lam_v, "lambda_d": lam_d, **NIR_CONVENTIONS}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def import_scn(graph) -> SCNParams:
    """Rebuild the :class:`bayesnn.scn.SCNParams` of a graph made by :func:`export_scn`.

    Gamma comes from the readout, thresholds from the neurons, leaks from the time
    constants (the exact values in the metadata are used when they agree with the
    nodes to 1e-12 relative, else ``ValueError``: the graph was edited).

    Raises:
        ValueError: naming the node for a graph that is not an exported SCN.
    """
    nodes, meta = graph.nodes, dict(graph.metadata)
    for name in ("encoder", "neurons", "lateral", "trace", "readout"):
        if name not in nodes:
            raise ValueError(f"graph has no node {name!r}: not an exported bayesnn SCN")
    if meta.get("bayesnn_family") != "scn":
        raise ValueError("graph metadata lacks bayesnn_family = 'scn'")
    G = np.asarray(nodes["readout"].weight, float)
    neurons = nodes["neurons"]
    tau_v = np.asarray(getattr(neurons, "tau", np.full(G.shape[1], np.inf)), float)
    lam_v_nodes = 0.0 if not np.isfinite(tau_v[0]) else 1.0 / tau_v[0]
    lam_d_nodes = 1.0 / float(np.asarray(nodes["trace"].tau)[0])

    def exact(name, from_nodes):
        value = float(meta.get(name, from_nodes))
        if abs(value - from_nodes) > 1e-12 * max(abs(value), 1e-300):
            raise ValueError(f"{name}: metadata {value} disagrees with the nodes {from_nodes}")
        return value

    lam_v = exact("lambda_v", lam_v_nodes)
    lam_d = exact("lambda_d", lam_d_nodes)
    T = np.asarray(neurons.v_threshold, float)
    net = make_network(G, A=np.asarray(meta["A"], float), lambda_d=lam_d, lambda_v=lam_v,
                       mu=float(meta["mu"]), nu=float(meta["nu"]), sigma_v=float(meta["sigma_v"]),
                       dt=float(meta["dt"]), thresholds=T,
                       slow_self_term=bool(float(meta["slow_self_term"])),
                       self_reset_scale=float(meta["self_reset_scale"]))
    return net


def run_nir_graph(graph, c, dt: float, *, delay_recurrent: bool = False,
                  reset: str = "value"):
    """Execute an exported SCN graph with NIR's semantics (independent of bayesnn.scn).

    Euler at ``dt``: ``v <- v + dt (-(v - v_leak)/tau + (r/tau) I)`` for LIF (``v + dt r I``
    for IF) with I the encoder and slow currents; every neuron with ``v > v_threshold``
    spikes and is set to ``v_reset``; its spike adds the lateral column to the other
    neurons (this step, or the next with ``delay_recurrent``) and 1 to its trace
    (``trace <- trace (1 - dt/tau_d) + spikes``, trace read before decay by the slow path).

    Args:
        graph: a graph from :func:`export_scn`.
        c: (T, D) input, x per s.  dt: step, s.
        delay_recurrent: deliver lateral spikes one step late (as nirtorch and Lava do).
        reset: "value" (NIR >= 1.0.6: v <- v_reset) or "subtract" (v <- v - (v_threshold
            - v_reset), bayesnn's rule; with it and no delay the executor is bayesnn's
            ``spike_mode="all"`` network).

    Returns:
        ``(readout (T, D), spikes (T, N) int, max spikes in one step)``.
    """
    if reset not in ("value", "subtract"):
        raise ValueError(f"reset must be 'value' or 'subtract', got {reset!r}")
    n = graph.nodes
    W_in = np.asarray(n["encoder"].weight, float)
    lat = np.asarray(n["lateral"].weight, float)
    slow = np.asarray(n["slow"].weight, float) if "slow" in n else None
    neu = n["neurons"]
    vth, vreset = np.asarray(neu.v_threshold, float), np.asarray(neu.v_reset, float)
    if hasattr(neu, "tau"):
        tau, r, vleak = (np.asarray(neu.tau, float), np.asarray(neu.r, float),
                         np.asarray(neu.v_leak, float))
    else:
        tau, r, vleak = None, np.asarray(neu.r, float), 0.0
    tau_d = np.asarray(n["trace"].tau, float)
    G = np.asarray(n["readout"].weight, float)
    c = np.asarray(c, float)
    N = W_in.shape[0]
    v, tr, pending = np.zeros(N), np.zeros(N), np.zeros(N)
    out, spikes = np.zeros((c.shape[0], G.shape[0])), np.zeros((c.shape[0], N), int)
    for k in range(c.shape[0]):
        current = W_in @ c[k] + (slow @ tr if slow is not None else 0.0)
        if tau is None:
            v = v + dt * r * current
        else:
            v = v + dt * (-(v - vleak) / tau + r / tau * current)
        if delay_recurrent:
            v = v + lat @ pending
        tr = tr * (1 - dt / tau_d)
        s = v > vth
        v = np.where(s, vreset if reset == "value" else v - (vth - vreset), v)
        if not delay_recurrent:
            v = v + lat @ s
        pending = s.astype(float)
        tr = tr + s
        spikes[k] = s
        out[k] = G @ tr
    return out, spikes, int(spikes.sum(axis=1).max(initial=0))
