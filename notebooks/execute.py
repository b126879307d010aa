"""Execute the notebooks and write them back with their outputs (``make notebooks``).

The committed notebooks are the executed ones, so that they read on a forge with their
tables and plots; ``tests/test_notebooks.py`` executes them again and fails when a cell
errors, writes to stderr, or when the committed file's cells differ from what it ran.

Usage: ``python notebooks/execute.py [NOTEBOOK ...]`` (default: every ``*.ipynb`` here).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
NOTEBOOKS = sorted(HERE.glob("*.ipynb"))
TIMEOUT_S = 900


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` without what changes from run to run but the outputs themselves: execution
    timestamps, the kernel's Python version; cells numbered 1, 2, ... in order."""
    nb.metadata = nbformat.from_dict({k: v for k, v in nb.metadata.items() if k == "kernelspec"}
                                     | {"language_info": {"name": "python"}})
    count = 0
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            count += 1
            cell.execution_count = count
            for out in cell.outputs:
                if "execution_count" in out:
                    out.execution_count = count
    return nb


def execute(path: Path, cwd: Path) -> nbformat.NotebookNode:
    """Run the notebook at ``path`` in a fresh python3 kernel, in the folder ``cwd``; return it
    with its outputs (:func:`clean`). Raises ``nbclient.exceptions.CellExecutionError`` on
    the first cell that fails."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return clean(nb)


def main(paths: list[str]) -> int:
    for path in [Path(p) for p in paths] or NOTEBOOKS:
        with tempfile.TemporaryDirectory(prefix="churnlab-notebook-") as cwd:
            nb = execute(path, Path(cwd))
        nbformat.write(nb, path)
        print(f"{path}: executed, {path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
