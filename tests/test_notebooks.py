"""The example notebooks in examples/notebooks: stored clean, and each one runs top to bottom.

Every notebook is kept with its outputs stripped (no outputs, no execution counts), so the
repository holds only what a person wrote. The slow tests execute each one in a fresh Jupyter
kernel with ``SYMSIM_NOTEBOOK_QUICK=1`` (the kernel inherits the environment), which shrinks its
data so that all three run in a couple of minutes; the asserts inside a notebook are its claims, so
a notebook whose results drift fails here. At full size (a few minutes each) they run in Jupyter,
or with nbclient as below with the variable unset.
"""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "examples" / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXECUTED = ("lorenz_discovery", "pde_discovery", "your_own_data")


def test_the_notebooks_are_found():
    assert set(EXECUTED) <= {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_valid_and_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nbformat.validate(notebook)
    assert notebook.nbformat == 4
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3"
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, f"{path.name} has no code cells"
    dirty = [k for k, cell in enumerate(notebook.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} are stored with outputs or execution counts; strip them"
    assert 'os.environ.get("SYMSIM_NOTEBOOK_QUICK") == "1"' in code[0].source, \
        f"{path.name}: the first code cell should read SYMSIM_NOTEBOOK_QUICK"


@pytest.mark.slow
@pytest.mark.parametrize("name", EXECUTED)
def test_notebook_runs_top_to_bottom(name, tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("pysindy")
    monkeypatch.setenv("SYMSIM_NOTEBOOK_QUICK", "1")
    notebook = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()        # a failing cell raises CellExecutionError with its traceback
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    printed = ["".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout") for cell in code]
    assert "quick mode: True" in printed[0]
    assert "checks passed" in printed[-1], printed[-1]
    assert not list(tmp_path.iterdir()), "the notebook wrote into its working folder instead of a temporary one"
