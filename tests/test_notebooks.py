"""The notebooks are committed executed (they read on a forge with their tables and plots) and
are executed again here, so they cannot rot: a cell that fails, anything on stderr (a tqdm
IProgress warning, MLflow INFO lines), or a committed file whose cells are not the ones that
ran fails the test. ``make notebooks`` (``python notebooks/execute.py``) writes them back.
They write only to temporary folders."""

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

pytestmark = pytest.mark.slow


def _executor():
    spec = importlib.util.spec_from_file_location("notebook_execute", ROOT / "notebooks" / "execute.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _code(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def _stderr(nb) -> list[str]:
    return [o.get("text", "") for c in _code(nb) for o in c.outputs if o.output_type == "stream" and o.get("name") == "stderr"]


def _shape(cell) -> list[tuple]:
    """What a cell showed, without the values: each output's kind and its formats."""
    return [(o.output_type, o.get("name"), tuple(sorted(o.get("data", {})))) for o in cell.outputs]


def test_notebooks_are_committed_executed_without_noise():
    assert [p.name for p in NOTEBOOKS] == ["01-quickstart.ipynb", "02-cdnow-benchmark.ipynb"]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = _code(nb)
        # notebooks show the library, they do not copy it
        assert "import churnlab as cl" in "".join(c.source for c in code)
        missing = [i for i, c in enumerate(code, 1) if not c.outputs]
        assert not missing, f"{path.name}: code cell(s) {missing} have no outputs; run make notebooks"
        assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), path.name  # one run, in order
        assert not [o for c in code for o in c.outputs if o.output_type == "error"], path.name
        assert _stderr(nb) == [], path.name
        images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
        assert len(images) >= 2, f"{path.name} should show its plots"
        # nothing that changes from run to run but the outputs: no timestamps, no kernel version
        assert not [c for c in nb.cells if "execution" in c.metadata], path.name
        assert nb.metadata.get("language_info") == {"name": "python"}, path.name
        assert path.stat().st_size < 1_500_000, f"{path.name}: {path.stat().st_size:,} bytes"
        html = [o for c in code for o in c.outputs if "text/html" in o.get("data", {})]
        assert all(len("".join(o.data["text/html"])) < 20_000 for o in html), path.name  # tables, not dumps


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes_cleanly_and_is_up_to_date(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    committed = nbformat.read(path, as_version=4)
    fresh = _executor().execute(path, tmp_path)  # a cell that fails raises CellExecutionError
    assert not [o for c in _code(fresh) for o in c.outputs if o.output_type == "error"]
    assert _stderr(fresh) == [], "".join(_stderr(fresh))[:2000]
    # the committed file is the notebook that ran: the same cells, showing the same kinds of output
    assert [(c.cell_type, c.source) for c in committed.cells] == [(c.cell_type, c.source) for c in fresh.cells]
    for i, (old, new) in enumerate(zip(_code(committed), _code(fresh)), 1):
        assert _shape(old) == _shape(new), f"{path.name}, code cell {i}: outputs differ from a fresh run; run make notebooks"
    # nothing was written beside the notebook or into the working folder
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_cdnow_chart_counts_purchases():
    nb = nbformat.read(ROOT / "notebooks" / "02-cdnow-benchmark.ipynb", as_version=4)
    cell = next(c for c in _code(nb) if "resample(\"W\")" in c.source)
    assert '["amount"]' not in cell.source and 'rename("purchases per week")' in cell.source
