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
