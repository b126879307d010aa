"""Damaged models and awkward inputs at the CLI: exit 3 (model) or 2 (input) with one
`error:` line naming the file or column, no output file, never a crash in LightGBM; odd
column names train, score and plot, with the user's own names in the reasons."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import small_config, train_from_cli

from churnlab.datasets import make_demo_events
from churnlab.explain import top_drivers
from churnlab.models import LinearChurnModel, load_model_files
from churnlab.models.files import FILES_KEY, META_KEY, ModelFileError
from churnlab.plots import importance_figure
from churnlab.scoring import ScoringModel
from churnlab.tracking import TrackingError, load_model_bundle
from cli_lines import output_lines

AS_OF = "2024-12-01"
CLI = [sys.executable, "-m", "churnlab.cli"]
ODD = ["price [EUR]", "tenure{months}", "$\\frac{a}$"]  # JSON punctuation, braces, mathtext


def _cli(args, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def _only_error_line(output: str) -> str:
    lines = output_lines(output)
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


def _nothing_written(folder: Path) -> None:
    assert [p.name for p in folder.iterdir() if p.name.startswith(("out", ".out"))] == []


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    """One small training run on demo events whose customers table has odd column names as
    static attributes: (folder, events dir, model URI, --tracking-uri args, artifact folder)."""
    folder = tmp_path_factory.mktemp("odd")
    ev = make_demo_events(1500, random_state=0)
    rng = np.random.default_rng(0)
    customers = ev.customers.copy()
    customers[ODD[0]] = rng.gamma(2, 10, len(customers)).round(2)
    customers[ODD[1]] = rng.integers(0, 60, len(customers)).astype(float)
    customers[ODD[2]] = pd.Categorical(rng.choice(["x", "y"], len(customers)))
    events = folder / "events"
    events.mkdir()
    for name, df in ev.tables().items():
        (customers if name == "customers" else df).to_parquet(events / f"{name}.parquet")
    uri, tracking, _ = train_from_cli(small_config(data={"source": "files", "path": str(events)}), folder)
    metas = list((folder / "wd").rglob("churnlab.json"))
    assert len(metas) == 1
    return folder, events, uri, tracking, metas[0].parent


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    else:  # one flipped byte in the middle: same size, other content
        i = len(data) // 2
        path.write_bytes(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :])


DAMAGE = [("model.txt", "truncated", "is truncated"), ("model.txt", "empty", "is empty"),
          ("shap_patterns.npz", "truncated", "is truncated"), ("model.txt", "flipped", "sha256 mismatch"),
          ("churnlab.json", "flipped", "")]


@pytest.mark.parametrize("where", ["folder", "runs"])
@pytest.mark.parametrize("name,how,says", DAMAGE, ids=[f"{n}-{h}" for n, h, _ in DAMAGE])
def test_a_damaged_model_file_exits_3_naming_it(odd, tmp_path, where, name, how, says):
    folder, events, uri, tracking, artifacts = odd
    if where == "folder":
        model = tmp_path / "model"
        shutil.copytree(artifacts.parent, model)
        target, args = model / "artifacts" / name, ["--model", str(model)]
    else:  # the store's own copy, put back afterwards
        target, args = artifacts / name, ["--model", uri, *tracking]
    saved = target.read_bytes()
    try:
        _damage(target, how)
        res = _cli(["score", *args, "--events", str(events), "--as-of", AS_OF, "--out", str(tmp_path / "out.parquet")], tmp_path)
    finally:
        target.write_bytes(saved)
    assert res.returncode == 3, res.stderr[-2000:]  # not a signal (SIGSEGV, SIGABRT), not exit 1
    line = _only_error_line(res.stderr)
    assert f"artifacts/{name} " in line and says in line and "the model cannot be used" in line
    assert "[LightGBM]" not in res.stdout + res.stderr
    _nothing_written(tmp_path)


def test_a_model_saved_without_checksums_still_loads_and_a_truncated_one_exits_3(odd, tmp_path):
    """Metadata written before checksums were recorded: read as before; its truncated
    model.txt is refused before LightGBM reads it (it would crash the process)."""
    _, events, _, _, artifacts = odd
    model = tmp_path / "model"
    shutil.copytree(artifacts.parent, model)
    meta_path = model / "artifacts" / "churnlab.json"
    meta = json.loads(meta_path.read_text())
    assert set(meta[FILES_KEY]) == {"model.txt", "shap_patterns.npz"} and META_KEY in meta
    meta_path.write_text(json.dumps({k: v for k, v in meta.items() if k not in (FILES_KEY, META_KEY)}))
    loaded, _ = load_model_bundle(str(model))
    assert loaded.feature_names_ == meta["feature_names"]
    _damage(model / "artifacts" / "model.txt", "truncated")
    res = _cli(["score", "--model", str(model), "--events", str(events), "--as-of", AS_OF, "--out", str(tmp_path / "out.parquet")], tmp_path)
    assert res.returncode == 3, res.stderr[-2000:]
    assert _only_error_line(res.stderr) == (f"error: model {model}: artifacts/model.txt is not a complete LightGBM text "
                                            "model (truncated or damaged); the model cannot be used")
    _nothing_written(tmp_path)


def test_the_linear_model_file_is_checked_too(tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = (X["a"] + rng.normal(size=300) > 0).astype(int)
    model = LinearChurnModel().fit(X[:200], y[:200], validation=(X[200:], y[200:]))
    model.to_files(tmp_path / LinearChurnModel.MODEL_FILE, tmp_path / "churnlab.json")
    meta = json.loads((tmp_path / "churnlab.json").read_text())
    assert meta[FILES_KEY][LinearChurnModel.MODEL_FILE]["bytes"] == (tmp_path / LinearChurnModel.MODEL_FILE).stat().st_size
    loaded, _ = load_model_files(tmp_path)
    assert np.array_equal(loaded.churn_probability(X), model.churn_probability(X))
    _damage(tmp_path / LinearChurnModel.MODEL_FILE, "flipped")
    with pytest.raises(ModelFileError, match=r"linear_model\.json differs from the file that was saved \(sha256 mismatch\)"):
        load_model_files(tmp_path)
    with pytest.raises(TrackingError, match=r"^model .+: linear_model\.json differs from the file"):
        load_model_bundle(str(tmp_path))


# ---- inputs the model needs, and optional ones ------------------------------------------


def _events_without(events: Path, table: str, column: str, folder: Path) -> Path:
    out = folder / "events"
    shutil.copytree(events, out)
    df = pd.read_parquet(out / f"{table}.parquet")
    df.drop(columns=column).to_parquet(out / f"{table}.parquet")
    return out


def test_customers_without_a_column_the_model_uses_exit_2_naming_it(odd, tmp_path):
    _, events, uri, tracking, _ = odd
    less = _events_without(events, "customers", "tier", tmp_path)
    res = _cli(["score", "--model", uri, *tracking, "--events", str(less), "--as-of", AS_OF, "--out", str(tmp_path / "out.parquet")], tmp_path)
    assert res.returncode == 2, res.stderr[-2000:]
    line = _only_error_line(res.stderr)
    assert line.startswith("error: customers: missing column(s) 'tier' (feature static_tier) that the model uses")
    _nothing_written(tmp_path)


def test_purchases_without_the_optional_product_column_score_with_that_feature_missing(odd, tmp_path):
    _, events, uri, tracking, _ = odd
    less = _events_without(events, "purchases", "product", tmp_path)
    out = tmp_path / "out.parquet"
    res = _cli(["score", "--model", uri, *tracking, "--events", str(less), "--as-of", AS_OF, "--out", str(out)], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    notes = [line for line in res.stderr.splitlines() if "purchases.product" in line]
    assert notes == ["warning: purchases.product: column absent (optional); the model's feature p_distinct_products "
                     "is missing for every customer"]
    assert len(pd.read_parquet(out)) == 1500


def test_features_without_product_are_missing_and_the_rest_unchanged(odd):
    from churnlab.events import load_events_dir

    _, events, _, _, artifacts = odd
    sm = ScoringModel.load(str(artifacts.parent))
    ev = load_events_dir(events)
    full = sm.features(ev, AS_OF)
    without = dataclasses.replace(ev, purchases=ev.purchases.drop(columns="product"))
    with pytest.warns(UserWarning, match="purchases.product: column absent"):
        X = sm.features(without, AS_OF)
    assert X["p_distinct_products"].isna().all() and full["p_distinct_products"].notna().all()
    pd.testing.assert_frame_equal(X.drop(columns="p_distinct_products"), full.drop(columns="p_distinct_products"))


# ---- odd column names -------------------------------------------------------------------


def test_odd_static_column_names_train_score_and_keep_the_users_names_in_reasons(odd, tmp_path):
    from churnlab.events import load_events_dir

    _, events, uri, tracking, artifacts = odd
    sm = ScoringModel.load(str(artifacts.parent))
    assert sm.builder.static_features()[ODD[0]] == "static_price_EUR"
    assert sm.builder.static_features()[ODD[1]] == "static_tenure_months"
    assert sm.builder.static_features()[ODD[2]] == "static_frac_a"
    d = sm.dictionary.set_index("feature")
    assert d.loc["static_tenure_months", "group"] == ODD[1] and d.loc["static_frac_a", "group"] == ODD[2]
    X = sm.features(load_events_dir(events), AS_OF).head(3)
    sv = pd.DataFrame(0.0, index=X.index, columns=[*X.columns, "expected_value"])
    sv["static_tenure_months"] = 1.0
    sv.loc[X.index[0], "static_frac_a"] = 2.0
    reasons = top_drivers(sv, X, sm.dictionary, k=2, kind="both")
    first = reasons[reasons["customer_id"] == X.index[0]]
    a, typical_a = X["static_frac_a"].iloc[0], d.loc["static_frac_a", "typical"]
    tail = " (as most customers)" if a == typical_a else f" (most customers: {typical_a})"
    assert first["reason"].tolist() == [f"$\\frac{{a}}$: {a}{tail}",
                                        f"tenure{{months}}: {X['static_tenure_months'].iloc[0]} "
                                        f"(typical customer: {d.loc['static_tenure_months', 'typical']})"]
    assert first["driver"].tolist() == [ODD[2], ODD[1]]
    out, report = tmp_path / "out.parquet", tmp_path / "out.html"
    res = _cli(["report", "--model", uri, *tracking, "--events", str(events), "--as-of", AS_OF, "--out", str(report),
                "--segment", "static_frac_a"], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert report.is_file() and not out.exists()


def test_reason_templates_are_not_read_as_format_strings():
    X = pd.DataFrame({"f": [12.0, 3.0], "g": ["x", "y"]}, index=[1, 2])
    sv = pd.DataFrame({"f": [1.0, 1.0], "g": [0.5, 0.5], "expected_value": [0.0, 0.0]}, index=[1, 2])
    dictionary = [  # an escaped name, and a template as models saved before escaping wrote it
        {"feature": "f", "group": "tenure{months}", "meaning": "m", "reason": "tenure{{months}} = {value:,.10g}"},
        {"feature": "g", "group": "g{0}", "meaning": "m", "reason": "g{0}{x.y} {{value}} = {value}"},
    ]
    got = top_drivers(sv, X, dictionary, k=2)["reason"].tolist()
    # compared with the typical customer (of these two): "x" is the most common of a tie, no risk
    assert got == ["tenure{months} = 12 (typical customer: 7.5)", "tenure{months} = 3 (typical customer: 7.5)",
                   "g{0}{x.y} {value} = y (most customers: x)"]


def test_plots_show_mathtext_and_dollar_names_as_text():
    png = importance_figure(pd.Series({ODD[2]: 1.0, "price $ [EUR]": 0.5, "a\\$b": 0.2}), "t", "x")
    assert png.startswith(b"\x89PNG")


def test_a_labelled_table_with_odd_column_names_trains_scores_and_reports(tmp_path):
    rng = np.random.default_rng(0)
    n = 1500
    t = pd.DataFrame({"cid": [f"C{i:04d}" for i in range(n)], ODD[0]: rng.gamma(2, 10, n).round(2),
                      ODD[1]: rng.integers(0, 60, n), ODD[2]: rng.choice(["x", "y", "z"], n)})
    logit = 1.0 - 0.08 * t[ODD[1]] + 0.8 * (t[ODD[2]] == "x") + 0.02 * t[ODD[0]]
    t["Churn"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "Yes", "No")
    t.to_csv(tmp_path / "table.csv", index=False)
    cfg = {"name": "odd-table", "data": {"source": "table", "path": str(tmp_path / "table.csv"), "id": "cid", "label": "Churn"},
           "split": {"test_size": 0.2, "validation_size": 0.2, "seed": 0},
           "model": {"params": {"num_leaves": 7, "min_data_in_leaf": 30}, "num_boost_round": 100}, "seed": 0}
    uri, tracking, _ = train_from_cli(cfg, tmp_path)
    out = tmp_path / "out.csv"
    res = _cli(["score", "--model", uri, *tracking, "--table", str(tmp_path / "table.csv"), "--out", str(out)], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    scores = pd.read_csv(out, dtype=str, keep_default_na=False)
    first = t.iloc[0]
    row = scores[scores["customer_id"] == "C0000"].iloc[0]
    drivers = dict(zip(row[[f"driver_{i}" for i in range(1, 6)]], row[[f"reason_{i}" for i in range(1, 6)]]))
    # the user's name, the value as given, compared with the typical customer
    assert drivers.get(ODD[1], "").startswith(f"tenure{{months}} = {first[ODD[1]]} (typical customer: ")
    assert set(drivers) - {""} <= set(ODD)
    res = _cli(["report", "--model", uri, *tracking, "--table", str(tmp_path / "table.csv"), "--out", str(tmp_path / "r.html")], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    less = t.drop(columns=ODD[1])
    less.to_csv(tmp_path / "less.csv", index=False)
    res = _cli(["score", "--model", uri, *tracking, "--table", str(tmp_path / "less.csv"), "--out", str(tmp_path / "out3.csv")], tmp_path)
    assert res.returncode == 2
    assert f"missing column(s) ['{ODD[1]}']" in _only_error_line(res.stderr)
    assert not (tmp_path / "out3.csv").exists()
