"""Progress stages: one plain line per finished stage off a terminal, nested live bars on one."""

import io

import numpy as np
import pandas as pd
from rich.console import Console

from churnlab.datasets import make_demo_events
from churnlab.features import build_training_set
from churnlab.models import ChurnModel, LinearChurnModel
from churnlab.progress import ConsoleProgress, NoProgress
from churnlab.workflows.compare import select_model


def _lines(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


def test_off_a_terminal_each_stage_leaves_one_line_without_control_codes():
    out = io.StringIO()
    progress = ConsoleProgress(Console(file=out, width=100))
    assert not progress.live
    with progress.stage("outer", total=2) as outer:
        with progress.stage("inner") as inner:
            inner.advance(5)
        outer.advance(2)
        outer.note("done twice")
    lines = _lines(out)
    assert len(lines) == 3 and lines[0].startswith("inner: 5  ") and lines[1].startswith("outer: 2/2  ")
    assert lines[2] == "  done twice" and lines[0].endswith(" s")
    assert "\x1b" not in out.getvalue()


def test_a_failed_stage_leaves_no_line_and_the_error_propagates():
    out = io.StringIO()
    progress = ConsoleProgress(Console(file=out, width=100))
    try:
        with progress.stage("boom", total=3) as s:
            s.advance()
            raise RuntimeError("inside")
    except RuntimeError as exc:
        assert str(exc) == "inside"
    assert out.getvalue() == ""


def test_nested_live_stages_share_one_display():
    # Rich allows one live display at a time: a stage opened inside another must not start a second
    out = io.StringIO()
    progress = ConsoleProgress(Console(file=out, width=100, force_terminal=True), live=True)
    with progress.stage("outer", total=2) as outer:
        with progress.stage("inner", total=3) as inner:
            inner.advance(3)
            assert progress._bars is not None and len(progress._bars.tasks) == 2
        outer.advance(2)
    assert progress._bars is None
    text = out.getvalue()
    assert "inner: " in text and "outer: " in text


def test_training_stages_count_the_cutoffs_candidates_and_trials():
    events = make_demo_events(300, random_state=0)
    out = io.StringIO()
    progress = ConsoleProgress(Console(file=out, width=200))
    cuts = ["2024-01-01", "2024-02-01", "2024-03-01"]
    build_training_set(events, cuts, horizon_days=60, progress=progress)
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"recency": rng.exponential(30, 900), "orders": rng.poisson(3, 900).astype(float)})
    y = (X["recency"] + rng.normal(0, 10, 900) > 35).astype(int)
    sel = select_model({"lightgbm": ChurnModel(num_boost_round=30), "logistic_regression": LinearChurnModel()},
                       X[:600], y[:600], X[600:], y[600:], search_trials=2, progress=progress)
    lines = _lines(out)
    heads = [line.split("  ")[0] for line in lines if not line.startswith("  ")]
    assert heads == ["features per cutoff: 3/3", "search trials: 3/3", "candidates: 2/2"]
    notes = [line.strip() for line in lines if line.startswith("  ")]
    # each candidate's note carries the validation score select_model ranked it by
    for name in ("lightgbm", "logistic_regression"):
        (note,) = [n for n in notes if n.startswith(f"{name}: ")]
        assert f"validation pr_auc {sel.validation.loc[name, 'select_score']:.4f}" in note


def test_the_default_is_silent(capsys):
    with NoProgress().stage("quiet", total=1) as s:
        s.advance()
    assert capsys.readouterr() == ("", "")
