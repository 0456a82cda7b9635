"""NIR export and import of the spike-coding network (bayesnn.neuromorphic.nir_io)."""
import dataclasses

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from bayesnn.neuromorphic.nir_io import export_scn, import_scn, run_nir_graph  # noqa: E402
from bayesnn.scn import make_network, random_decoder, simulate  # noqa: E402

T = 400


@pytest.fixture(scope="module")
def setting():
    net = make_network(random_decoder(2, 10, 0.1, seed=2), A=np.array([[-1.0, 2.0], [-2.0, -1.0]]),
                       lambda_d=10.0, lambda_v=20.0, mu=1e-6, nu=1e-5, sigma_v=1e-3, dt=1e-4)
    t = np.arange(T) * 1e-4
    c = np.stack([10 * np.cos(2 * np.pi * 3 * t), 10 * np.sin(2 * np.pi * 2 * t)], 1)
    return net, c


def test_round_trip_through_a_file_is_identical(setting, tmp_path):
    net, c = setting
    graph = export_scn(net)
    path = tmp_path / "scn.nir"
    nir.write(str(path), graph)
    back = import_scn(nir.read(str(path)))
    for f in dataclasses.fields(net):
        assert np.array_equal(np.asarray(getattr(net, f.name)), np.asarray(getattr(back, f.name))), f.name
    a, b = simulate(net, c, key=3), simulate(back, c, key=3)
    assert np.array_equal(np.asarray(a.readout), np.asarray(b.readout))
    assert {type(n).__name__ for n in graph.nodes.values()} >= {"Affine", "LIF", "LI", "Linear"}
    assert "slow" in graph.nodes  # A != -lambda_d I: the slow path is exported


def test_executor_with_subtraction_is_bayesnn_all_mode(setting):
    # An independent code path (NumPy loop over the graph's nodes) against the scn
    # kernel: same Euler arithmetic, sums in another order -> rounding only (1e-9 is
    # the suite's path-vs-path floor for 10^2-10^3 steps of O(1) quantities).
    net, c = setting
    quiet = net.replace(sigma_v=0.0)
    ref = simulate(quiet, c, key=0, spike_mode="all")
    out, spikes, _ = run_nir_graph(export_scn(quiet), c, float(net.dt), reset="subtract")
    assert np.max(np.abs(out - np.asarray(ref.readout))) < 1e-9
    assert int(spikes.sum()) == int(ref.spikes.n_events)


def test_integrator_exports_if_neurons_and_bad_graphs_are_refused(setting):
    net, _ = setting
    integ = make_network(np.asarray(net.Gamma), lambda_d=10.0, lambda_v=0.0, mu=1e-6, dt=1e-4)
    graph = export_scn(integ)
    assert type(graph.nodes["neurons"]).__name__ == "IF"
    assert import_scn(graph).lambda_v == 0.0
    del graph.nodes["trace"]
    with pytest.raises(ValueError, match="trace"):
        import_scn(graph)
    with pytest.raises(ValueError, match="reset"):
        run_nir_graph(export_scn(net), np.zeros((2, 2)), 1e-4, reset="zero")
