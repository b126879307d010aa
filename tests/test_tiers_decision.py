"""Risk tiers that fit the decision: read against the base rate, one sentence each, and with a
campaign no target in the tier that says "no action"; the score summary counts the targets
per tier."""

import re

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.config import CampaignConfig
from churnlab.events import save_events_dir
from churnlab.scoring import risk_tiers
from churnlab.scoring.campaign import add_campaign
from churnlab.scoring.tiers import TIER_MEANINGS, TIERS, base_rate_thresholds, target_tiers

AS_OF = "2024-12-01"


@pytest.mark.parametrize("base, high, medium", [(0.3, 0.6, 0.3), (0.02, 0.04, 0.02), (0.5, 0.75, 0.5), (0.8, 0.9, 0.8)])
def test_tier_boundaries_are_the_base_rate_and_twice_it(base, high, medium):
    cuts = base_rate_thresholds(np.linspace(0, 1, 11), base)
    assert cuts == pytest.approx({"high": high, "medium": medium})


def test_tiers_of_hand_made_probabilities_at_a_30_percent_base_rate():
    cuts = base_rate_thresholds([0.1, 0.5], 0.3)
    p = np.array([0.95, 0.6, 0.5999, 0.478, 0.3, 0.2999, 0.05, np.nan])
    assert risk_tiers(p, cuts).tolist() == ["high", "high", "medium", "medium", "medium", "low", "low", None]
    # a customer above the base rate is never "low" (it was up to p = 0.478 at a 30% base rate)
    q = np.random.default_rng(0).uniform(0, 1, 10_000)
    assert (q[risk_tiers(q, cuts) == "low"] <= 0.3).all()


def test_bad_base_rates_and_empty_probabilities_are_refused():
    with pytest.raises(ValueError, match=r"`base_rate` must be in \(0, 1\), got 0"):
        base_rate_thresholds([0.2], 0)
    with pytest.raises(ValueError, match="`validation_proba` holds no probability"):
        base_rate_thresholds([np.nan], 0.3)


def test_each_tier_is_one_documented_sentence():
    assert tuple(TIER_MEANINGS) == TIERS
    for tier, sentence in TIER_MEANINGS.items():
        assert sentence.count(". ") == 0 and sentence.endswith("."), tier
    assert "no action" in TIER_MEANINGS["low"] and "no action" not in TIER_MEANINGS["medium"] + TIER_MEANINGS["high"]


def test_targets_are_never_in_the_no_action_tier():
    assert target_tiers(np.array(["low", "low", "medium", "high", None], dtype=object),
                        [True, False, True, True, False]).tolist() == ["medium", "low", "medium", "high", None]
    with pytest.raises(ValueError, match="differ in length"):
        target_tiers(["low"], [True, False])
    c = CampaignConfig(contact_cost=1, incentive_cost=10, acceptance=0.3)
    # customer 1: p 0.2 (below a 0.3 base rate, "low") but worth 2,000: the best contact
    scored = pd.DataFrame({"customer_id": [1, 2, 3, 4], "churn_probability": [0.2, 0.7, 0.1, np.nan],
                           "risk_tier": pd.array(["low", "high", "low", None], dtype="string")})
    values = pd.Series([2000.0, 100.0, 20.0, 50.0], index=[1, 2, 3, 4])
    for campaign, sort in ((c, False), (c.model_copy(update={"budget": 1}), True)):
        out = pd.concat(add_campaign([scored], values, campaign, sort=sort)).set_index("customer_id")
        assert out.loc[1, "target"] and out.loc[1, "risk_tier"] == "medium"
        assert not out.loc[3, "target"] and out.loc[3, "risk_tier"] == "low"
        assert not out.loc[out["target"], "risk_tier"].eq("low").any()
        assert out["risk_tier"].dtype == scored["risk_tier"].dtype


@pytest.mark.slow
def test_the_score_summary_counts_targets_per_tier(trained, demo_events, tmp_path):
    result, _ = trained
    campaign = tmp_path / "campaign.yaml"  # no budget: every positive expected profit, low risk included
    campaign.write_text(yaml.safe_dump({"campaign": {"contact_cost": 1.0, "incentive_cost": 10.0, "acceptance": 0.3,
                                                     "margin": 0.3, "value_method": "bgnbd_gg", "horizon_days": 365}}))
    out = tmp_path / "s.parquet"
    events = save_events_dir(demo_events, tmp_path / "events")
    r = CliRunner().invoke(app, ["score", "--model", result.model_uri, "--tracking-uri", result.tracking_uri, "--events",
                                 str(events), "--as-of", AS_OF, "--out", str(out), "--campaign", str(campaign), "--top-k", "1"])
    assert r.exit_code == 0, r.output
    df = pd.read_parquet(out)
    targets = df[df["target"]]
    assert len(targets) > 0 and not targets["risk_tier"].eq("low").any()
    # some targets are below the model's medium cut: moved up from "low" by the campaign
    medium = result.risk_tiers["medium"]
    assert (targets["churn_probability"] < medium).any()
    line = re.search(r"targets by risk tier: high ([\d,]+), medium ([\d,]+), low ([\d,]+)", r.output)
    assert line, r.output
    counts = {t: int(line.group(i).replace(",", "")) for i, t in enumerate(("high", "medium", "low"), start=1)}
    assert counts == {t: int(targets["risk_tier"].eq(t).sum()) for t in ("high", "medium", "low")}
    assert counts["low"] == 0 and sum(counts.values()) == len(targets)
