"""Rolling-origin backtests of the shipped configs: 3 folds each (the last three cutoffs as
test cutoffs), untracked. Prints per fold the shipped model and every model's test ROC-AUC /
PR-AUC with 95% bootstrap intervals (200 resamples), the means across folds and the driver
stability (Spearman rank correlation of driver shares between consecutive folds)."""
from __future__ import annotations

import time
from pathlib import Path

from _util import machine

from churnlab.config import load_config
from churnlab.workflows.backtest import backtest

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    print(f"# backtests ({machine()})")
    for name in ("demo", "cdnow"):
        t0 = time.perf_counter()
        bt = backtest(load_config(ROOT / "configs" / f"{name}.yaml"), folds=3, track=False)
        print(f"\n## configs/{name}.yaml ({time.perf_counter() - t0:.0f} s)")
        print("| fold | test cutoff | model | ROC-AUC [95%] | PR-AUC [95%] |")
        print("|---|---|---|---|---|")
        for r in bt.folds.itertuples():
            print(f"| {r.fold} | {r.test_cutoff.date()} | {r.model}{' (shipped)' if r.shipped else ''} | "
                  f"{r.roc_auc:.3f} [{r.roc_auc_low:.3f}, {r.roc_auc_high:.3f}] | {r.pr_auc:.3f} [{r.pr_auc_low:.3f}, {r.pr_auc_high:.3f}] |")
        for r in bt.summary.itertuples():
            print(f"{r.model} {r.metric}: mean {r.mean:.3f}, sd {r.std:.3f}")
        for r in bt.stability.itertuples():
            print(f"drivers fold {r.from_fold} -> {r.to_fold}: Spearman {r.spearman:.2f}")
        tops = bt.drivers[bt.drivers["rank"] <= 3].groupby("fold")["driver"].apply(", ".join)
        for fold, names in tops.items():
            print(f"fold {fold} top drivers: {names}")


if __name__ == "__main__":
    main()
