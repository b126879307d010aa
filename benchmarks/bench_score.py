"""Explanations and batch scoring at 200k customers (demo generator), with reasons.

Prints: TreeSHAP time (LightGBM's pred_contrib as reference, then the pattern-cached engine
cold and warm), reasons throughput, the scoring stage from features (target >= 100k
customers/s), end-to-end scoring throughput to a Parquet file bigger than one chunk (the
model loaded from its files for each run, as a fresh `churnlab score` process does: with the
SHAP values of its training patterns, and for comparison without), and peak memory for
different list sizes at a fixed chunk size.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from _util import bench_model, machine, measure
from churnlab.datasets import make_demo_events
from churnlab.explain import shap_values, top_drivers
from churnlab.models.lightgbm import ChurnModel, PATTERNS_FILE
from churnlab.scoring import ScoringModel, risk_tiers, score_customers, write_scores
from churnlab.scoring.pipeline import _score_features

N = 200_000
AS_OF = "2024-12-01"
REPEATS = 7


def main() -> None:
    print(f"# Explain + score benchmark ({machine()})")
    result, secs = bench_model()
    print(
        f"model: trained on 20,000 demo customers in {secs:.1f}s, {result.model.best_iteration_} trees, "
        f"{result.model._treeshap.cached_patterns:,} (tree, pattern) SHAP values of its training rows cached"
    )
    saved_dir = tempfile.TemporaryDirectory()  # removed when the benchmark ends
    saved = Path(saved_dir.name)
    result.model.to_files(saved / "model.txt", saved / "churnlab.json", extra=result.metadata)
    print(f"saved model: booster {(saved / 'model.txt').stat().st_size / 2**20:.1f} MiB, training patterns "
          f"{(saved / PATTERNS_FILE).stat().st_size / 2**20:.1f} MiB")

    def load(patterns: bool = True) -> ScoringModel:
        """The model as `churnlab score` loads it in a fresh process: from its files."""
        model, meta = ChurnModel.from_files(saved / "model.txt", saved / "churnlab.json")
        if not patterns:
            model._patterns_file = None  # as a model trained with explanation_cache_mb: 0
        return ScoringModel(model, meta, version="bench")

    sm = load(patterns=False)
    events, secs, _ = measure(make_demo_events, N, random_state=7)
    print(f"data: {N:,} customers, {len(events.purchases):,} purchases, {len(events.support):,} tickets, "
          f"{len(events.surveys):,} surveys (simulated in {secs:.1f}s)")

    X, secs, mb = measure(sm.features, events, AS_OF)
    X = X[sm.eligibility(X) == "scored"]
    print(f"features at {AS_OF}: {secs:.2f}s for all known customers ({len(X):,} in the scored population)")
    P = sm.model._prepare(X.iloc[:20_000])
    _, secs, _ = measure(sm.model.booster_.predict, P, num_iteration=sm.model.best_iteration_, pred_contrib=True)
    print(f"LightGBM pred_contrib on 20,000 rows (reference): {secs:.2f}s = {20_000 / secs:,.0f} customers/s")
    sv, secs, mb = measure(shap_values, sm.model, X)
    print(
        f"TreeSHAP cached by decision pattern, cold (empty cache): {secs:.2f}s = {len(X) / secs:,.0f} customers/s, "
        f"peak +{mb:.0f} MiB, {sm.model._treeshap.cached_patterns:,} (tree, pattern) values cached"
    )
    sv, secs, mb = measure(shap_values, sm.model, X)
    print(f"TreeSHAP cached by decision pattern, warm: {secs:.2f}s = {len(X) / secs:,.0f} customers/s")
    drivers, secs, mb = measure(top_drivers, sv, X, sm.dictionary, 5)
    print(f"top-5 reasons from SHAP values: {secs:.2f}s = {len(X) / secs:,.0f} customers/s")
    tiers = lambda p: risk_tiers(p)  # noqa: E731
    _, secs, mb = measure(_score_features, sm, X, 5, tiers)
    print(
        f"scoring stage from features (probability, tier, top-5 reasons; warm cache): {secs:.2f}s = "
        f"{len(X) / secs:,.0f} customers/s (target >= 100,000/s)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        # End-to-end runs start with an empty SHAP pattern cache, as a fresh `churnlab score`
        # process does (numba's compiled kernels come from its disk cache there too); chunks
        # of 50,000 customers are the CLI's default.
        def run(n_list, chunk, model=None, **kw):
            ids = events.customers["customer_id"].iloc[:n_list]
            out = Path(tmp) / f"scores_{n_list}_{chunk}.parquet"
            scorer = model if model is not None else load()
            counts, secs, mb = measure(lambda: write_scores(score_customers(scorer, events, AS_OF, ids, chunk_size=chunk, **kw), out))
            return counts, secs, mb, out

        for n_list, chunk in ((50_000, 50_000), (100_000, 50_000), (N, 50_000), (N, 25_000)):
            counts, secs, mb, out = run(n_list, chunk)
            print(
                f"score {n_list:>7,} listed customers, top-5 reasons (chunks of {chunk:,}, model loaded afresh) -> parquet: "
                f"{secs:.2f}s = {n_list / secs:,.0f} customers/s end to end (target >= 100,000/s), peak +{mb:.0f} MiB, "
                f"{out.stat().st_size / 2**20:.1f} MiB file, {counts}"
            )
        # the headline figure, over several runs: one run on a shared VM moves by 10-20%
        rates = sorted(N / run(N, 50_000)[1] for _ in range(REPEATS))
        print(
            f"score {N:>7,} listed customers, top-5 reasons (chunks of 50,000, model loaded afresh), {REPEATS} runs: "
            f"median {rates[REPEATS // 2]:,.0f} customers/s end to end (min {rates[0]:,.0f}, max {rates[-1]:,.0f}; "
            f"target >= 100,000/s)"
        )
        counts, secs, mb, out = run(N, 50_000, model=load(patterns=False))
        print(f"score {N:>7,} listed customers, top-5 reasons, model without its training patterns (empty SHAP cache): "
              f"{secs:.2f}s = {N / secs:,.0f} customers/s end to end")
        warm = load()
        run(N, 50_000, model=warm)
        counts, secs, mb, out = run(N, 50_000, model=warm)
        print(f"score {N:>7,} listed customers, top-5 reasons, warm SHAP cache (a second list in one process): "
              f"{secs:.2f}s = {N / secs:,.0f} customers/s end to end")
        counts, secs, mb, out = run(N, 50_000, reason_tiers={"high"})
        n_high = int((pd.read_parquet(out, columns=["risk_tier"])["risk_tier"] == "high").sum())
        print(
            f"score {N:>7,} customers, top-5 reasons for the 'high' tier only ({n_high:,} customers): {secs:.2f}s = "
            f"{N / secs:,.0f} customers/s end to end, peak +{mb:.0f} MiB"
        )
        counts, secs, mb, out = run(N, 50_000, k=0)
        print(f"score {N:>7,} customers, no reasons (k=0): {secs:.2f}s = {N / secs:,.0f} customers/s end to end, peak +{mb:.0f} MiB")


if __name__ == "__main__":
    main()
