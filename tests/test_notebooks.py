"""The example notebooks run as written, with tiny arguments (``BAYESNN_NOTEBOOK_SMALL=1``,
each notebook's first code cell), and are stored without outputs."""
from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))
# NUTS (two chains, 100 + 100 steps) takes about a minute on two loaded cores; the Neo
# notebook (16 s) repeats what tests/test_interop_neo.py checks fast.
SLOW = {"03_fit_rates.ipynb", "04_neo_interop.ipynb"}
NEEDS = {"04_neo_interop.ipynb": ("neo", "elephant", "nixio")}


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name
    assert notebook.metadata.kernelspec.name == "python3"


def _write_neo_file(path: Path) -> Path:
    """A NEST-like recording saved by Neo's NixIO: 20 trains (ids 1-20, times in ms)
    of the generative model's input spikes, 6 s."""
    import neo
    import numpy as np
    import quantities as pq

    from bayesnn import neuron, processes
    from bayesnn.core import spike_arrays

    rng = np.random.default_rng(0)  # the notebook's model (same seed and draws)
    params = neuron.NeuronParams(1.0, 3.0, rng.uniform(5, 30, 20), rng.uniform(5, 30, 20), 1.0)
    times, senders, counts = spike_arrays(processes.sample_trial(params, key=5, duration=6.0).inputs)
    segment = neo.Segment(name="simulator run")
    for gid in range(1, 21):
        mine = senders == gid - 1
        segment.spiketrains.append(neo.SpikeTrain(np.repeat(times[mine], counts[mine]) * 1e3 * pq.ms,
                                                  t_stop=6000 * pq.ms, id=gid))
    block = neo.Block(name="recording")
    block.segments.append(segment)
    with neo.io.NixIO(str(path), mode="ow") as io:
        io.write_block(block)
    return path


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW
                                  else p for p in NOTEBOOKS], ids=lambda path: path.name)
def test_notebook_runs(path, tmp_path, monkeypatch):
    for module in NEEDS.get(path.name, ()):
        pytest.importorskip(module)
    monkeypatch.setenv("BAYESNN_NOTEBOOK_SMALL", "1")
    if path.name in NEEDS:
        monkeypatch.setenv("BAYESNN_NEO_FILE", str(_write_neo_file(tmp_path / "run.nix")))
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    images = sum("image/png" in output.get("data", {}) for cell in notebook.cells
                 if cell.cell_type == "code" for output in cell.outputs)
    assert images >= 1, f"{path.name} drew no figure"
