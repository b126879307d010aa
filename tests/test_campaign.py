"""Customer value, campaign economics, and the campaign columns in scoring and the report."""

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.config import CampaignConfig, ConfigError, load_campaign
from churnlab.datasets import make_demo_events
from churnlab.events import load_events, save_events_dir
from churnlab.models import BGNBD, GammaGamma, rfm_summary
from churnlab.models.profit import profit_curve
from churnlab.scoring.campaign import add_campaign, expected_profit, mark_targets
from churnlab.scoring.value import customer_value

AS_OF = "2024-12-01"


@pytest.fixture(scope="module")
def small_events():
    return make_demo_events(600, random_state=3)


# ---- customer value ------------------------------------------------------------------


def test_bgnbd_gg_value_without_discount_is_expected_purchases_times_expected_spend(small_events):
    t = pd.Timestamp("2024-07-01")
    v = customer_value(small_events, t, horizon_days=180, margin=0.25)
    s = rfm_summary(small_events, t, period_days=7.0)
    repeat = s[(s["x"] > 0) & (s["monetary"] > 0)]
    bg = BGNBD().fit(s["x"], s["t_x"], s["T"])
    gg = GammaGamma().fit(repeat["x"], repeat["monetary"])
    expected = 0.25 * gg.conditional_expected_average_value(s["x"], s["monetary"]) * bg.expected_purchases(180 / 7, s["x"], s["t_x"], s["T"])
    np.testing.assert_allclose(v.reindex(s.index).to_numpy(), expected, rtol=1e-9)


def test_discounting_lowers_value_by_at_most_the_horizons_factor(small_events):
    plain = customer_value(small_events, "2024-07-01", horizon_days=365)
    discounted = customer_value(small_events, "2024-07-01", horizon_days=365, discount_rate=0.1)
    assert (discounted <= plain + 1e-12).all() and (discounted >= plain / 1.1 - 1e-12).all()
    assert (discounted < plain).mean() > 0.9


def test_subscription_value_by_hand():
    day = pd.Timestamp
    subs = pd.DataFrame({
        "customer_id": [1, 2, 3, 4],
        "start_ts": [day("2023-01-01"), day("2023-01-01"), day("2023-01-01"), day("2022-01-01")],
        "end_ts": [pd.NaT, pd.NaT, day("2024-03-01"), day("2022-06-01")],
        "amount": [100.0, 50.0, 80.0, 30.0],
    })
    ev = load_events(subscriptions=subs)
    v = customer_value(ev, "2024-07-01", horizon_days=365, method="subscription", margin=0.5)
    # the year before 2024-07-01: customers 1 and 2 at risk all year, 3 until its end on 2024-03-01, 4 not at all
    month = 365 / 12
    exposure = 2 * 365 / month + (day("2024-03-01") - day("2023-07-02")).days / month
    s = np.exp(-1 / exposure)
    factor = sum(s ** m for m in range(1, 13))
    assert sorted(v.index) == [1, 2]  # only subscriptions active at as_of
    assert v.loc[1] == pytest.approx(0.5 * 100 * factor, rel=1e-12)
    assert v.loc[2] == pytest.approx(0.5 * 50 * factor, rel=1e-12)


def test_simple_value_is_the_seed_formula_over_one_horizon(small_events):
    from churnlab.metrics import predictive_clv

    v = customer_value(small_events, "2024-07-01", horizon_days=365, method="simple", margin=0.5)
    clv = predictive_clv(small_events, "2024-07-01", period_days=365)
    expected = 0.5 * clv["aov"] * clv["purchases_per_period"] * np.minimum(clv["expected_lifetime_periods"], 1.0)
    pd.testing.assert_series_equal(v, expected.rename("customer_value"), check_names=False)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"method": "magic"}, "`method` must be one of ['bgnbd_gg', 'simple', 'subscription'], got 'magic'"),
        ({"margin": 0.0}, "`margin` must be > 0, got 0.0"),
        ({"margin": 1.5}, "`margin` must be in (0, 1], got 1.5"),
        ({"method": "subscription"}, "customer value method 'subscription' needs a subscriptions table; these events have none"),
    ],
)
def test_bad_value_arguments(small_events, kwargs, message):
    with pytest.raises((ValueError, TypeError)) as exc:
        customer_value(small_events, "2024-07-01", **kwargs)
    assert str(exc.value) == message


def test_value_needs_amounts_and_enough_repeat_customers(small_events):
    no_amounts = load_events(small_events.purchases.drop(columns="amount"))
    with pytest.raises(ValueError, match=r"^purchases.amount: customer value method 'bgnbd_gg' needs order values"):
        customer_value(no_amounts, "2024-07-01")
    few = load_events(small_events.purchases[small_events.purchases["customer_id"] < 15])
    with pytest.raises(ValueError, match=r"repeat customers with spend; the spend model needs at least 20"):
        customer_value(few, "2024-07-01")
    with pytest.raises(ValueError, match=r"`order_value` must be > 0, got -5"):
        customer_value(no_amounts, "2024-07-01", order_value=-5)


def test_a_log_without_amounts_is_valued_with_an_order_value(small_events):
    """Expected purchases (BG/NBD fitted here independently) x the given spend per purchase."""
    from churnlab.scoring.value import StoredValue, fit_value_model

    t = pd.Timestamp("2024-07-01")
    no_amounts = load_events(small_events.purchases.drop(columns="amount"))
    v = customer_value(no_amounts, t, horizon_days=180, margin=0.5, order_value=40.0)
    s = rfm_summary(no_amounts, t, period_days=7.0)
    bg = BGNBD().fit(s["x"], s["t_x"], s["T"])
    np.testing.assert_allclose(v.reindex(s.index), 0.5 * 40.0 * bg.expected_purchases(180 / 7, s["x"], s["t_x"], s["T"]), rtol=1e-9)
    vm = fit_value_model(no_amounts, t)
    assert vm["gamma_gamma"] is None
    chunk = StoredValue(vm, 180.0, 0.5, order_value=40.0)(no_amounts, t, v.index[:40])
    np.testing.assert_array_equal(chunk.to_numpy(), customer_value(no_amounts, t, 180, margin=0.5, value_model=vm,
                                                                   order_value=40.0).iloc[:40].to_numpy())
    with pytest.raises(ValueError, match=r"the value model has no spend model .* give an average order value \(campaign.order_value\)"):
        customer_value(small_events, t, value_model=vm)  # amounts now, but the stored model has no spend part


# ---- campaign economics ----------------------------------------------------------------


def test_expected_profit_with_known_outcomes_equals_the_profit_curve():
    """With probabilities 0/1 (the outcomes known), the expected profit of contacting the top
    fraction, per customer of the list, is the realised profit of models.profit.profit_curve."""
    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.3).astype(float)
    score = y * 0.5 + rng.random(500)
    c = CampaignConfig(contact_cost=1, incentive_cost=10, acceptance={"alpha": 6, "beta": 14})
    frac, curve = profit_curve(y, score, clv=200, d=10, f=1, gamma=0.3)
    order = np.argsort(-score, kind="stable")
    profit = expected_profit(y[order], np.full(500, 200.0), c)
    cumulative = np.r_[0.0, np.cumsum(profit)] / 500
    np.testing.assert_allclose(cumulative[np.round(frac * 500).astype(int)], curve, atol=1e-12)


def test_targets_respect_budget_and_sign():
    profit = np.array([3.0, -2.0, 7.0, 0.0, np.nan, 3.0])
    assert mark_targets(profit, None).tolist() == [True, False, True, False, False, True]
    assert mark_targets(profit, 2).tolist() == [True, False, True, False, False, False]


def test_campaign_file_errors_name_the_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"campaign": {"contact_cost": -1, "incentive_cost": 10, "acceptance": 1.2, "budget": 0}}))
    with pytest.raises(ConfigError) as exc:
        load_campaign(path)
    assert str(exc.value).splitlines() == [
        f"{path}: campaign.contact_cost: Input should be greater than or equal to 0 (got -1)",
        f"{path}: campaign.acceptance: must be a rate in [0, 1] or {{alpha, beta}} (got 1.2)",
        f"{path}: campaign.budget: Input should be greater than 0 (got 0)",
    ]
    path.write_text(yaml.safe_dump({"campaign": {"contact_cost": 1, "incentive_cost": 10, "acceptance": {"alpha": -1, "beta": 2}}}))
    with pytest.raises(ConfigError, match=r"campaign.acceptance.alpha: Input should be greater than 0 \(got -1\)"):
        load_campaign(path)
    assert load_campaign("configs/campaign.yaml").mean_acceptance == pytest.approx(0.3)


def test_add_campaign_streams_without_budget_and_ranks_the_whole_list_with_one():
    c = CampaignConfig(contact_cost=1, incentive_cost=10, acceptance=0.3)
    chunks = [pd.DataFrame({"customer_id": [1, 2], "churn_probability": [0.9, 0.1]}),
              pd.DataFrame({"customer_id": [3], "churn_probability": [0.5]})]
    values = pd.Series([100.0, 100.0, 300.0], index=[1, 2, 3])
    streamed = list(add_campaign(iter(chunks), values, c))
    assert len(streamed) == 2 and streamed[0]["target"].tolist() == [True, False]
    ranked = list(add_campaign(iter(chunks), values, c.model_copy(update={"budget": 1}), sort=True))
    assert len(ranked) == 1 and ranked[0]["customer_id"].tolist() == [3, 1, 2]
    assert ranked[0]["target"].tolist() == [True, False, False]
    assert ranked[0]["value_at_risk"].tolist() == [150.0, 90.0, 10.0]


# ---- scoring and report --------------------------------------------------------------


@pytest.fixture(scope="module")
def events_dir(tmp_path_factory, demo_events):
    return save_events_dir(demo_events, tmp_path_factory.mktemp("events"))


def _score(trained, events_dir, out, *extra):
    result, _ = trained
    return CliRunner().invoke(app, ["score", "--model", result.model_uri, "--tracking-uri", result.tracking_uri,
                                    "--events", str(events_dir), "--as-of", AS_OF, "--out", str(out), *extra])


def test_score_with_a_campaign_adds_the_columns_sorted_within_budget(trained, events_dir, tmp_path):
    out = tmp_path / "s.parquet"
    r = _score(trained, events_dir, out, "--campaign", "configs/campaign.yaml", "--sort", "expected_profit", "--top-k", "3")
    assert r.exit_code == 0, r.output
    df = pd.read_parquet(out)
    assert {"customer_value", "value_at_risk", "expected_profit", "target"} <= set(df.columns)
    assert 0 < df["target"].sum() <= 500
    profits = df["expected_profit"].dropna().to_numpy()
    assert np.all(np.diff(profits) <= 0)  # highest first
    scored = df[df["status"] == "scored"]
    np.testing.assert_allclose(scored["value_at_risk"], scored["churn_probability"] * scored["customer_value"])
    assert df.loc[df["status"] != "scored", "target"].eq(False).all()
    assert "campaign: contact" in r.output


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--sort", "expected_profit"], "--sort expected_profit needs --campaign"),
        (["--campaign", "configs/campaign.yaml", "--sort", "probability"], "--sort must be 'expected_profit', got 'probability'"),
        (["--campaign", "nope.yaml"], "campaign file not found: nope.yaml"),
    ],
)
def test_campaign_options_are_checked(trained, events_dir, tmp_path, extra, message):
    out = tmp_path / "s.parquet"
    r = _score(trained, events_dir, out, *extra)
    assert r.exit_code == 2 and message in r.output and not out.exists()


def test_report_shows_the_campaign(trained, demo_events):
    from churnlab.report import build_report
    from churnlab.scoring import ScoringModel

    result, _ = trained
    html = build_report(ScoringModel.load(result.model_uri), demo_events, AS_OF, campaign=load_campaign("configs/campaign.yaml"))
    assert "Campaign: whom to contact" in html and "Recommended: contact" in html and "expected profit curve" in html


def test_stored_value_model_gives_the_refitted_value_at_its_own_cutoff(small_events):
    from churnlab.scoring.value import fit_value_model

    params = fit_value_model(small_events, "2024-07-01")
    a = customer_value(small_events, "2024-07-01", value_model=params, discount_rate=0.1)
    b = customer_value(small_events, "2024-07-01", discount_rate=0.1)
    pd.testing.assert_series_equal(a, b)
    later = customer_value(small_events, "2024-10-01", value_model=params)  # later histories, the stored models
    assert later.notna().all() and (later >= 0).all()


def test_a_training_run_stores_the_value_model(trained):
    result, _ = trained
    vm = result.metadata["value_model"]
    assert set(vm) == {"bgnbd", "gamma_gamma", "fitted_as_of", "period_days"}
    assert vm["fitted_as_of"] == str(result.split["test"][0].date())


def test_scoring_computes_the_stored_value_chunk_by_chunk_with_the_whole_lists_numbers(trained, demo_events):
    """`churnlab score --campaign` values each chunk beside its features: the same bits as
    customer_value over every customer, whatever the chunk size."""
    from churnlab.scoring import ScoringModel, score_customers
    from churnlab.scoring.campaign import value_source

    result, _ = trained
    sm = ScoringModel.load(result.model_uri)
    plan = load_campaign("configs/campaign.yaml")
    per_chunk, values = value_source(plan, demo_events, AS_OF, sm.value_model)
    assert values is None and per_chunk is not None
    whole = customer_value(demo_events, AS_OF, plan.horizon_days, margin=plan.margin, discount_rate=plan.discount_rate,
                           value_model=sm.value_model)
    for size in (400, 5000):
        scored = pd.concat(list(add_campaign(score_customers(sm, demo_events, AS_OF, k=0, chunk_size=size, value=per_chunk),
                                             None, plan)), ignore_index=True)
        want = whole.reindex(scored["customer_id"]).to_numpy()
        assert np.array_equal(scored["customer_value"].to_numpy(), want, equal_nan=True)
        reference = pd.concat(list(add_campaign(score_customers(sm, demo_events, AS_OF, k=0, chunk_size=size), whole, plan)),
                              ignore_index=True)
        pd.testing.assert_frame_equal(scored, reference)
    assert scored["target"].sum() == plan.budget  # the budget ranks the whole list across chunks


def test_value_source_refuses_purchases_without_amounts(trained, demo_events):
    from churnlab.events import EventTables
    from churnlab.scoring.campaign import value_source

    plan = load_campaign("configs/campaign.yaml")
    ev = EventTables(**{**demo_events.tables(), "purchases": demo_events.purchases.drop(columns="amount")})
    with pytest.raises(ValueError, match="purchases.amount: customer value method 'bgnbd_gg' needs order values"):
        value_source(plan, ev, AS_OF, trained[0].metadata["value_model"])


def test_add_campaign_with_a_budget_keeps_the_chunks_and_targets_across_them():
    c = CampaignConfig(contact_cost=1, incentive_cost=10, acceptance=0.3, budget=2)
    chunks = [pd.DataFrame({"customer_id": [1, 2], "churn_probability": [0.9, 0.1], "customer_value": [100.0, 100.0]}),
              pd.DataFrame({"customer_id": [3, 4], "churn_probability": [0.5, 0.8], "customer_value": [300.0, 10.0]})]
    out = list(add_campaign(iter(chunks), None, c))
    # profits 0.9*0.3*90-1-1 = 22.3, 0.1*0.3*90-9-1 < 0, 0.5*0.3*290-5-1 = 37.5, 0.8*0.3*0-2-1 < 0
    assert [len(o) for o in out] == [2, 2]
    assert [o["target"].tolist() for o in out] == [[True, False], [True, False]]
    with pytest.raises(ValueError, match="no `values` given and the scored chunks have no customer_value column"):
        list(add_campaign([chunks[0].drop(columns="customer_value")], None, c))
