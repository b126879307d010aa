"""What `make demo` installs: the package alone, not the test tools (pyspark, playwright)."""

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_ONLY = ("pyspark", "playwright", "pytest", "hypothesis", "nbclient", "ipykernel")


def _requirement_names(reqs):
    return {r.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower() for r in reqs}


def test_the_package_alone_needs_no_test_tool():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = _requirement_names(project["dependencies"])
    assert not base & set(TEST_ONLY), base & set(TEST_ONLY)
    assert {"pyspark", "playwright", "pytest"} <= _requirement_names(project["optional-dependencies"]["dev"])


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_installs_the_package_without_extras(tmp_path):
    # a dry run on a copy of the Makefile and pyproject in a folder without a venv: the
    # commands make would run for `demo`, and for `test`
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)

    def commands(target):
        out = subprocess.run(["make", "-n", target], cwd=tmp_path, capture_output=True, text=True, check=True)
        return [line for line in out.stdout.splitlines() if "pip install" in line and "--upgrade pip" not in line]

    demo = commands("demo")
    assert demo and all("[" not in line for line in demo), demo
    assert any('".[dev]"' in line for line in commands("test"))


def test_version_is_written_once_and_printed_by_the_cli():
    import importlib.metadata

    from typer.testing import CliRunner

    import churnlab
    from churnlab.cli import app

    assert "version" not in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]  # dynamic: from churnlab
    assert importlib.metadata.version("churnlab") == churnlab.__version__
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output == f"churnlab {churnlab.__version__}\n"


def test_printed_hints_name_the_environments_own_script(monkeypatch, tmp_path):
    import sys

    from churnlab import cli

    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "mlflow").write_text("#!/bin/sh\n")
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    monkeypatch.setenv("PATH", "/nonexistent")  # the venv is not activated
    assert cli._beside_python("mlflow") == str(bin_dir / "mlflow")
    monkeypatch.setenv("PATH", str(bin_dir))  # activated: the bare name works as printed
    (bin_dir / "mlflow").chmod(0o755)
    assert cli._beside_python("mlflow") == "mlflow"
