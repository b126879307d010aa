import os
import tempfile

# numba's compiled-kernel cache goes to the system temp folder, not into the source tree
# (must be set before numba is imported, which importing churnlab can do)
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "churnlab-tests-numba"))

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from churnlab.config import parse_config  # noqa: E402
from churnlab.datasets import make_demo_events  # noqa: E402

# Property tests draw the same examples on every run and machine (fixed seeds in tests);
# `HYPOTHESIS_PROFILE=explore pytest` searches new ones.
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def small_config(**overrides) -> dict:
    cfg = {
        "name": "test",
        "data": {"source": "demo", "demo_customers": 2500, "demo_seed": 0},
        "cutoffs": {"start": "2023-09-01", "end": "2024-10-01", "freq": "MS"},
        "label": {"rule": "fixed", "horizon_days": 90, "active_days": 180},
        "model": {"params": {"num_leaves": 15, "min_data_in_leaf": 50}, "num_boost_round": 400},
        "seed": 0,
    }
    for key, value in overrides.items():
        node = cfg
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return cfg


@pytest.fixture(scope="session")
def demo_events():
    return make_demo_events(2500, random_state=0)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, demo_events):
    """One tracked training run on the demo data, shared by the model/explain/score tests."""
    from churnlab.workflows.training import train

    workdir = tmp_path_factory.mktemp("workdir")
    cfg = parse_config(small_config(**{"mlflow.register_name": "churnlab-test"}))
    result = train(cfg, events=demo_events, workdir=workdir)
    _TRAINED_STORE.append(result.tracking_uri)
    return result, workdir


_TRAINED_STORE: list[str] = []


def load_trained(result):
    """The shared trained model as a ScoringModel, read from its own store: module-scoped
    fixtures are set up before the per-test reset below, while the process may still point
    at the store of a test that ran before."""
    import mlflow

    from churnlab.scoring import ScoringModel

    mlflow.set_tracking_uri(result.tracking_uri)
    return ScoringModel.load(result.model_uri)


@pytest.fixture(autouse=True)
def _tracking_store_of_the_trained_model():
    """Tests that train or score through the CLI point the process's MLflow client at their
    own store; every test starts pointed at the shared trained model's store again."""
    if _TRAINED_STORE:
        import mlflow

        mlflow.set_tracking_uri(_TRAINED_STORE[0])
    yield


@pytest.fixture(scope="session")
def bench(tmp_path_factory):
    """The CDNOW benchmark, run once per test session (tracked in a temporary store):
    ``(evaluation, details, workdir)``."""
    from churnlab.workflows.experiments import cdnow_benchmark

    workdir = tmp_path_factory.mktemp("cdnow")
    return (*cdnow_benchmark(track=True, workdir=workdir), workdir)


def train_from_cli(config: dict, folder) -> tuple[str, list[str], str]:
    """Write ``config`` into ``folder``, run ``churnlab train`` on it; return the model URI, the
    ``--tracking-uri`` arguments that find it, and the command's output."""
    import yaml
    from typer.testing import CliRunner

    from churnlab.cli import app

    (folder / "cfg.yaml").write_text(yaml.safe_dump(config))
    res = CliRunner().invoke(app, ["train", "--config", str(folder / "cfg.yaml"), "--workdir", str(folder / "wd")])
    assert res.exit_code == 0, res.output
    return res.output.split("model: ")[1].split()[0], ["--tracking-uri", f"sqlite:///{folder / 'wd' / 'mlflow.db'}"], res.output
