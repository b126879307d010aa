"""Labelled-table mode: the shipped model's test ROC-AUC against scikit-learn's
HistGradientBoostingClassifier (defaults, seeded) refitted on the same train + validation
rows, on the demo table (10,000 customers) and the table derived from the real CDNOW log
(:func:`churnlab.datasets.cdnow_table.load_cdnow_table`, 23,570 customers).

`.venv/bin/python benchmarks/bench_table_hgb.py [demo] [cdnow]`
Deterministic (seeded): one run per row. "gap s.e." is the paired bootstrap standard error
of the ROC-AUC difference on the test rows (200 stratified resamples).
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from _util import machine
from churnlab.config import parse_config
from churnlab.datasets import load_cdnow_table, make_demo_table
from churnlab.features.table import TableFeatures
from churnlab.workflows.compare import paired_bootstrap_se
from churnlab.workflows.table import load_table, split_table
from churnlab.workflows.training import train

ROOT = Path(__file__).resolve().parents[1]
TABLES = {
    "demo": (lambda: make_demo_table(10_000, random_state=0), {"id": "customerID", "label": "Churn", "positive": "Yes"}),
    "cdnow": (lambda: load_cdnow_table("1997-10-01", horizon_days=91), {"id": "customer_id", "label": "churned"}),
}


def row(name: str, refit: bool, folder: Path) -> dict:
    make, data = TABLES[name]
    path = folder / f"{name}.csv"
    if not path.exists():
        make().to_csv(path, index=False)
    cfg = parse_config({"name": name, "data": {"source": "table", "path": str(path), **data}, "model": {"refit": refit}})
    r = train(cfg, track=False)
    y = r.test_scores["churned"].to_numpy()
    shipped = r.test_scores[r.selected].to_numpy()
    # the same rows as the run: the same split of the same file, the same feature frame
    d = cfg.data
    df = load_table(d)
    feats = TableFeatures(d.id, d.label, d.time, table=path.name, exclude=d.exclude)
    y_all = feats.labels(df, positive=d.positive)
    parts, _ = split_table(df, y_all, d.time, cfg.split.test_size, cfg.split.validation_size, cfg.split.seed)
    feats.fit(df.iloc[parts["train"]], kinds_from=df)
    fit_at = np.sort(np.concatenate([parts["train"], parts["validation"]]))
    hgb = HistGradientBoostingClassifier(random_state=0, categorical_features="from_dtype")
    hgb.fit(feats.transform(df.iloc[fit_at]), y_all[fit_at])
    X_test = feats.transform(df.iloc[parts["test"]])
    assert (y_all[parts["test"]] == y).all(), "the benchmark's test rows must be the run's"
    p_hgb = hgb.predict_proba(X_test)[:, 1]
    se = paired_bootstrap_se(y, {"hgb": p_hgb, "shipped": shipped}, "hgb", "roc_auc")["shipped"]
    return {"table": name, "refit": refit, "rows": len(df), "shipped": r.selected, "shipped_roc_auc": roc_auc_score(y, shipped),
            "lightgbm_roc_auc": roc_auc_score(y, r.test_scores["lightgbm"]),
            "hgb_roc_auc": roc_auc_score(y, p_hgb), "gap": roc_auc_score(y, shipped) - roc_auc_score(y, p_hgb), "gap_se": se,
            "fit_rows": len(fit_at), "test_rows": len(y)}


def main(names: list[str]) -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    print(f"date {pd.Timestamp.now(tz='UTC'):%Y-%m-%d}, commit {commit} (+ working tree), {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        rows = [row(n, refit, Path(tmp)) for n in names for refit in (False, True)]
    with pd.option_context("display.width", 250, "display.float_format", "{:.4f}".format):
        print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main([a for a in sys.argv[1:] if a in TABLES] or list(TABLES))
