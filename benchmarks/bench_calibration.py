"""Calibration that holds forward: the shipped model's test-period ECE and mean predicted vs
observed churn rate, before (trained on the training cutoffs, Platt on the validation cutoff)
and after (refitted on every cutoff up to validation, Platt on a year of out-of-time
predictions), on the demo, CDNOW and the subscription demo.

`.venv/bin/python benchmarks/bench_calibration.py [demo] [cdnow] [subscriptions-demo]`
Deterministic (seeded): one run per row; the seconds are wall time on the machine named.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _util import machine
from churnlab.config import load_config
from churnlab.models.evaluate import expected_calibration_error
from churnlab.workflows.training import fit_and_evaluate, load_data

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"demo": "configs/demo.yaml", "cdnow": "configs/cdnow.yaml", "subscriptions-demo": "configs/subscriptions-demo.yaml"}
SCHEMES = {"before": {"model.refit": False, "model.calibration_days": 0}, "after": {}}


def row(name: str, scheme: str, overrides: dict) -> dict:
    cfg = load_config(ROOT / CONFIGS[name], overrides or None)
    events = load_data(cfg.data)
    t0 = time.perf_counter()
    r = fit_and_evaluate(cfg, events)
    secs = time.perf_counter() - t0
    y = r.test_scores["churned"].to_numpy()
    out = {"data": name, "scheme": scheme, "shipped": r.selected, "observed": float(y.mean()), "seconds": secs}
    for model in dict.fromkeys([r.selected, "lightgbm"]):
        p = r.test_scores[model].to_numpy()
        tag = "shipped" if model == r.selected else model
        out |= {f"{tag}_ece": expected_calibration_error(y, p), f"{tag}_mean": float(p.mean()),
                f"{tag}_roc_auc": float(r.evaluation.loc[model, "roc_auc"])}
    if "lightgbm_ece" not in out:
        out |= {k.replace("shipped", "lightgbm"): v for k, v in out.items() if k.startswith("shipped_")}
    out["validation_ece"] = float((lambda t: (t["n"] * (t["mean_predicted"] - t["observed_rate"]).abs()).sum() / t["n"].sum())(
        r.reliability["validation"])) if r.reliability is not None else np.nan
    return out


def main(names: list[str]) -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    print(f"date {pd.Timestamp.now(tz='UTC'):%Y-%m-%d}, commit {commit} (+ working tree), {machine()}")
    rows = [row(n, s, o) for n in names for s, o in SCHEMES.items()]
    df = pd.DataFrame(rows)
    df["shipped_mean/observed"] = df["shipped_mean"] / df["observed"]
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.float_format", "{:.3f}".format):
        print(df.to_string(index=False))


if __name__ == "__main__":
    main([a for a in sys.argv[1:] if a in CONFIGS] or list(CONFIGS))
