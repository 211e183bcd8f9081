"""Execute the four notebooks top to bottom, in order, on the built-in demo data with smaller parameters.

Each notebook's first code cell is tagged ``parameters``; the test inserts a cell after it that overrides the
defaults (as papermill does), then runs the notebook with nbclient in the notebooks folder. The notebooks share one
work folder, as a user's would: 01 extracts, 02 trains, 03 evaluates, 04 predicts.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ORDER = ["01_data_extraction", "02_training", "03_evaluation", "04_prediction"]


def _overrides(work: Path) -> str:
    return "\n".join(
        [
            f"WORK_DIR = Path({str(work)!r})",
            "SMALL = True  # the test suite's smaller settings",
        ]
    )


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("notebooks")


def _run(name: str, work: Path) -> nbformat.NotebookNode:
    path = NOTEBOOKS / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    params = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert params, f"{path}: no cell tagged 'parameters'"
    nb.cells.insert(params[0] + 1, nbformat.v4.new_code_cell(_overrides(work)))
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return nb


def test_notebooks_are_committed_without_outputs() -> None:
    for name in ORDER:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{name}: committed with outputs"


@pytest.mark.slow
@pytest.mark.parametrize("name", ORDER)
def test_notebook_runs(name: str, work_dir: Path) -> None:
    nb = _run(name, work_dir)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "error"]
    assert not errors
