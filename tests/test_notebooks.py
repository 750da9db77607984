"""The notebooks in examples/ are executable documentation: each runs top to bottom in a real Jupyter kernel.

A cell that raises fails the test (nbclient); the notebooks hold their own checks against the plaintext
libraries (lifelines, scikit-learn, the genomics oracle).  They are stored without outputs (checked here),
so what a reader sees is always what the current code produces.
"""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the test extra installs nbformat/nbclient/ipykernel")
nbclient = pytest.importorskip("nbclient")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
#: smaller settings for the default test run (the reader's defaults stay in each notebook's parameter cell)
FAST = {"genomics": "TIMING_BATCHES = (5, 10)", "regression": "N_FEATURES = 8\nEPSILONS = (4.0,)"}


def with_parameters(nb, lines: str):
    """Append ``lines`` to the cell tagged "parameters" (papermill's convention) so they override it."""
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            cell.source += "\n" + lines
            return nb
    raise AssertionError("the notebook has no cell tagged 'parameters'")


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {"survival.ipynb", "genomics.ipynb", "regression.ipynb",
                                           "deployment.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    stale = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count)]
    assert not stale, f"{path.name}: cells {stale} carry outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    if path.stem in FAST:
        with_parameters(nb, FAST[path.stem])
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(EXAMPLES)}})
    client.execute()  # raises CellExecutionError naming the cell that failed
    errors = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == "error"]
    assert not errors
