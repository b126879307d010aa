"""Scoring with and without the campaign columns, side by side (target: with >= 90% of the
rate without).

200,000 listed customers (demo generator), the bench model, top-5 reasons, one Parquet file
each. "with" = customer value (BG/NBD x Gamma-Gamma stored with the model, applied to each
chunk's customers beside their features) + value at risk, expected profit and targets within the budget of
configs/campaign.yaml (the whole list ranked), as `churnlab score --campaign` does. Runs
alternate (without, with) so that drift of the shared machine hits both; median and range of
the listed customers per second.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from _util import bench_model, machine

from churnlab.config import load_campaign
from churnlab.datasets import make_demo_events
from churnlab.scoring import ScoringModel, score_customers, write_scores
from churnlab.scoring.campaign import add_campaign, value_source

N = 200_000
AS_OF = "2024-12-01"
RUNS = 5


def main() -> None:
    print(f"# scoring with campaign columns ({machine()})")
    result, _ = bench_model()
    sm = ScoringModel(result.model, result.metadata, version="bench")
    events = make_demo_events(N, random_state=7)
    plan = load_campaign(Path(__file__).resolve().parents[1] / "configs" / "campaign.yaml")
    rates = {"without": [], "with": []}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(RUNS):
            for kind in ("without", "with"):
                t0 = time.perf_counter()
                if kind == "with":  # as `churnlab score --campaign` does
                    per_chunk, values = value_source(plan, events, AS_OF, sm.value_model)
                    chunks = add_campaign(score_customers(sm, events, AS_OF, k=5, value=per_chunk), values, plan)
                else:
                    chunks = score_customers(sm, events, AS_OF, k=5)
                counts = write_scores(chunks, Path(tmp) / f"{kind}.parquet")
                secs = time.perf_counter() - t0
                rates[kind].append(sum(counts.values()) / secs)
                print(f"run {run + 1} {kind}: {sum(counts.values()):,} listed in {secs:.1f} s", flush=True)
    for kind, r in rates.items():
        r.sort()
        print(f"{kind} campaign columns: median {statistics.median(r):,.0f} listed customers/s (min {r[0]:,.0f}, max {r[-1]:,.0f})")
    ratio = statistics.median(rates["with"]) / statistics.median(rates["without"])
    print(f"with / without: {ratio:.1%} (target >= 90%)")


if __name__ == "__main__":
    main()
