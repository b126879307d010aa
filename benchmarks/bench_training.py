"""Training: wall time of `churnlab.train` on the shipped configs, and what denser training
snapshots buy when monthly cutoffs are few.

Training time: configs/demo.yaml and configs/cdnow.yaml, untracked (no MLflow I/O), 3 runs,
median and range. The time covers the data, the features at every cutoff, every candidate
(LightGBM with its validation screening, the logistic regressions), the baselines and the
selection.

Ablation: the demo data with few cutoffs (monthly 2024-02-01 .. 2024-10-01, 90-day label:
3 monthly training cutoffs) and configs/cdnow.yaml (7 monthly training cutoffs), each trained
as configured, then with `cutoffs.train_every_days` 14 and 7. Validation and test cutoffs
are the same in the rows of one data set, so their test figures compare.
"""
from __future__ import annotations

import statistics
import time

from _util import machine

from churnlab.config import load_config, parse_config
from churnlab.models.evaluate import ranked_models
from churnlab.workflows.training import train

RUNS = 3


def timed(cfg) -> tuple[list[float], object]:
    out, result = [], None
    for _ in range(RUNS):
        t0 = time.perf_counter()
        result = train(cfg, track=False)
        out.append(time.perf_counter() - t0)
    return sorted(out), result


def main() -> None:
    print(f"# training ({machine()})")
    for path in ("configs/demo.yaml", "configs/cdnow.yaml"):
        t, result = timed(load_config(path))
        ev = result.evaluation.loc[result.selected]
        print(f"{path}: median {statistics.median(t):.1f} s (min {t[0]:.1f}, max {t[-1]:.1f}; {RUNS} runs); "
              f"selected {result.selected}, test ROC-AUC {ev['roc_auc']:.4f}, PR-AUC {ev['pr_auc']:.4f}")
    print("\n# denser training snapshots")
    demo_few = parse_config({
        "data": {"source": "demo", "demo_customers": 4000, "demo_seed": 0},
        "cutoffs": {"start": "2024-02-01", "end": "2024-10-01", "freq": "MS"},
        "label": {"horizon_days": 90, "active_days": 180},
        "model": {"params": {"num_leaves": 15, "min_data_in_leaf": 50}},
    }).model_dump(mode="json")
    cdnow = load_config("configs/cdnow.yaml").model_dump(mode="json")
    print("| data | training snapshots | training rows | selected | LightGBM ROC / PR | shipped ROC / PR | best baseline ROC / PR | time |")
    print("|---|---|---|---|---|---|---|---|")
    for name, base in (("demo, 3 monthly training cutoffs", demo_few), ("configs/cdnow.yaml", cdnow)):
        for every in (None, 14, 7):
            cfg = parse_config({**base, "cutoffs": {**base["cutoffs"], "train_every_days": every}})
            t0 = time.perf_counter()
            r = train(cfg, track=False)
            took = time.perf_counter() - t0
            ev = r.evaluation
            # the best baseline among those that rank customers (not constant, fit converged)
            baselines = ev.loc[[n for n in ranked_models(ev) if n not in ("lightgbm", "logistic_regression")]]
            rows = int(r.training_set.frame["cutoff"].isin(r.split["train"]).sum())
            label = "monthly" if every is None else f"every {every} days"
            print(f"| {name} | {label} ({len(r.split['train'])}) | {rows:,} | {r.selected} | "
                  f"{ev.loc['lightgbm', 'roc_auc']:.4f} / {ev.loc['lightgbm', 'pr_auc']:.4f} | "
                  f"{ev.loc[r.selected, 'roc_auc']:.4f} / {ev.loc[r.selected, 'pr_auc']:.4f} | "
                  f"{baselines['roc_auc'].max():.4f} / {baselines['pr_auc'].max():.4f} | {took:.1f} s |")

if __name__ == "__main__":
    main()
