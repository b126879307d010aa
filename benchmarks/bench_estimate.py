"""Label-free performance estimate against realized performance, on rolling-origin backtest
folds of the shipped configs (demo and CDNOW; 3 folds each, untracked).

Per fold, for the shipped model: the estimate its calibrated test-period probabilities give
before any label is known (:func:`churnlab.monitor.estimate_performance`: churn rate, ROC-AUC
with the spread of label draws, PR-AUC), the realized values once the labels are in, and the
model's ECE (10 equal-count bins). Target: estimated ROC-AUC within 0.02 of realized on every
fold. Rerun after any change to calibration: `.venv/bin/python benchmarks/run_all.py bench_estimate`.
"""
from __future__ import annotations

import datetime
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _util import machine

from churnlab.config import load_config
from churnlab.workflows.backtest import backtest

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.02


def main(names=("demo", "cdnow")) -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    print(f"# label-free estimate vs realized, {datetime.date.today()}, commit {commit} (+ working tree), {machine()}")
    print("| config (time) | fold: test cutoff | shipped | n | churn rate: observed / estimated | ROC-AUC: realized / "
          "estimated (sd) | abs. error | PR-AUC: realized / estimated | ECE |")
    print("|---|---|---|---|---|---|---|---|---|")
    errors = []
    for name in names:
        t0 = time.perf_counter()
        bt = backtest(load_config(ROOT / "configs" / f"{name}.yaml"), folds=3, n_boot=20, track=False)
        secs = time.perf_counter() - t0
        for i, r in enumerate(bt.folds[bt.folds["shipped"]].itertuples()):
            err = abs(r.expected_roc_auc - r.roc_auc)
            errors.append(err)
            label = f"{name}.yaml ({secs:.0f} s)" if i == 0 else ""
            print(f"| {label} | {r.fold}: {r.test_cutoff.date()} | {r.model} | {r.n:,} | {r.base_rate:.3f} / "
                  f"{r.expected_churn_rate:.3f} | {r.roc_auc:.3f} / {r.expected_roc_auc:.3f} ({r.expected_roc_auc_sd:.3f}) | "
                  f"{err:.3f} | {r.pr_auc:.3f} / {r.expected_pr_auc:.3f} | {r.ece:.3f} |", flush=True)
    e = np.asarray(errors)
    print(f"\nROC-AUC abs. error over {len(e)} folds: median {np.median(e):.3f}, max {e.max():.3f} "
          f"(target <= {TARGET}: {'met' if e.max() <= TARGET else 'not met'})")


if __name__ == "__main__":
    # `bench_estimate.py cdnow` runs one config (run_all.py's own arguments are benchmark names)
    main(tuple(a for a in sys.argv[1:] if a in ("demo", "cdnow")) or ("demo", "cdnow"))
