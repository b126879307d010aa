"""Batch scoring at 1,000,000 customers: end-to-end time and peak memory.

One run of `write_scores(score_customers(...))` with top-5 reasons for everyone, chunks of
50,000 (the CLI default), the model loaded from its files as a fresh `churnlab score` does.
Prints the rate per customer listed and per customer actually scored with reasons, and the
process's peak RSS (absolute, and growth over the loaded events).
"""
from __future__ import annotations

import resource
import tempfile
from pathlib import Path

from _util import bench_model, machine, measure
from churnlab.datasets import make_demo_events
from churnlab.models.lightgbm import ChurnModel
from churnlab.scoring import ScoringModel, score_customers, write_scores

N = 1_000_000
AS_OF = "2024-12-01"
REPEATS = 3


def main() -> None:
    print(f"# Scoring 1,000,000 customers ({machine()})")
    result, _ = bench_model()
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp)
        result.model.to_files(saved / "model.txt", saved / "churnlab.json", extra=result.metadata)
        del result
        events, secs, _ = measure(make_demo_events, N, random_state=11)
        print(f"data: {N:,} customers, {len(events.purchases):,} purchases, {len(events.support):,} tickets, "
              f"{len(events.surveys):,} surveys (simulated in {secs:.0f}s)")
        out = saved / "scores.parquet"
        runs = []
        for _ in range(REPEATS):  # each run with the model loaded afresh, as a new process would
            model, meta = ChurnModel.from_files(saved / "model.txt", saved / "churnlab.json")
            sm = ScoringModel(model, meta, version="bench")
            runs.append(measure(lambda: write_scores(score_customers(sm, events, AS_OF), out)))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux
        counts = runs[0][0]
        listed, scored = sum(counts.values()), counts.get("scored", 0)
        secs = sorted(r[1] for r in runs)
        growth = max(r[2] for r in runs)
        print(
            f"score {listed:,} listed customers ({scored:,} scored with top-5 reasons), chunks of 50,000 -> parquet, "
            f"{REPEATS} runs: median {secs[REPEATS // 2]:.1f}s = {listed / secs[REPEATS // 2]:,.0f} listed/s "
            f"(min {listed / secs[-1]:,.0f}, max {listed / secs[0]:,.0f}), {scored / secs[REPEATS // 2]:,.0f} scored/s; "
            f"peak RSS {peak:,.0f} MiB, at most +{growth:,.0f} MiB over the loaded events; "
            f"{out.stat().st_size / 2**20:.0f} MiB file; {counts}"
        )


if __name__ == "__main__":
    main()
