"""A report that fits on a screen: segments of 30+ customers by a sensible attribute, a
calibration chart, a glossary of the profit measures, money with 2 decimals, targets per
risk tier, escaped user text, and (in headless Chromium) a page under 15,000 px tall at
1400 px wide without horizontal overflow."""

import html as htmllib
import os
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from churnlab.config import load_campaign
from churnlab.models.evaluate import calibration_table
from churnlab.plots import reliability_figure
from churnlab.report import build_report, write_report
from churnlab.report_sections import (
    GLOSSARY, calibration_section, choose_segment, html_table, money, reliability_tables, segment_groups, segments_section,
)

AS_OF = "2024-12-01"


# ---- segments --------------------------------------------------------------------------------


def _customers(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "static_noise_score": rng.normal(size=n),                                              # continuous
        "static_noise_segment": pd.Categorical(rng.choice([f"S{i:02d}" for i in range(20)], n)),  # 20 levels
        "static_region": pd.Categorical(rng.choice(["north", "south"], n)),                   # no effect
        "static_tier": pd.Categorical(np.array(["basic", "plus", "premium"])[np.arange(n) * 3 // n]),  # the risk
        "p_recency_days": rng.integers(0, 200, n).astype(float),                              # not an attribute
    }, index=pd.RangeIndex(n, name="customer_id"))
    proba = pd.Series(X["static_tier"].map({"basic": 0.6, "plus": 0.3, "premium": 0.1}).astype(float)
                      + rng.normal(0, 0.01, n), index=X.index)
    return X, proba


def test_the_segment_is_the_categorical_attribute_whose_segments_differ_most_in_risk():
    X, proba = _customers()
    col, groups, note = choose_segment(X, proba)
    assert col == "static_tier" and note == ""
    assert groups.value_counts().to_dict() == {"basic": 200, "plus": 200, "premium": 200}


def test_without_a_usable_category_a_number_is_cut_at_its_quantiles():
    X, proba = _customers()
    X = X.drop(columns=["static_tier", "static_region"])  # left: 20 levels (too many) and a number
    col, groups, _ = choose_segment(X, proba)
    assert col == "static_noise_score"
    # 600 customers: 5 quantile bins of 120 (600 // 30 = 20 bins allowed, at most 5 made)
    assert groups.value_counts().tolist() == [120] * 5
    assert groups.attrs["ordered_by"] == "value" and len(groups.attrs["order"]) == 5
    lows = [float(label.split(" to ")[0]) for label in groups.attrs["order"]]
    assert lows == sorted(lows)


def test_no_attribute_that_makes_segments_gives_a_note_and_no_table():
    X, proba = _customers(n=50)  # 50 customers: no two groups of 30
    col, groups, note = choose_segment(X, proba)
    assert col is None and groups is None
    assert note.startswith("No customer attribute makes 2 to 12 segments of at least 30 customers")
    body = segments_section(col, groups, note, proba, pd.Series("low", index=X.index), None, None)
    assert "<table" not in body and "no segment comparison" in body


def test_a_chosen_segment_keeps_the_large_levels_and_lumps_or_leaves_out_the_rest():
    s = pd.Series(["a"] * 40 + ["b"] * 35 + [f"r{i}" for i in range(25)] + ["c"] * 30)
    got = segment_groups(s, lump=True)
    # a, b, c have 30+; the 25 rare ones together make "(other)" (25 < 30: left out)
    assert got.value_counts(dropna=False).to_dict() == {"a": 40, "b": 35, "c": 30, np.nan: 25}
    assert segment_groups(s) is None  # as a default choice: levels under 30 disqualify it
    many = pd.Series([f"L{i:02d}" for i in range(14)] * 40)
    lumped = segment_groups(many, lump=True)
    assert lumped.nunique() == 12 and (lumped == "(other)").sum() == 3 * 40  # 11 largest + 3 in "(other)"


def test_segment_option_accepts_the_attribute_name_and_refuses_an_unknown_column():
    X, proba = _customers()
    assert choose_segment(X, proba, segment="region")[0] == "static_region"
    with pytest.raises(ValueError, match=r"`segment`: 'colour' is not a feature column \(customer attributes: static_noise_score"):
        choose_segment(X, proba, segment="colour")


def test_segments_are_ordered_by_risk_and_user_text_is_escaped():
    X, proba = _customers()
    X["static_tier"] = X["static_tier"].cat.rename_categories({"plus": "<img src=x onerror=alert(1)>"})
    sv = pd.DataFrame({"p_recency_days": np.linspace(-1, 1, len(X)), "static_tier": 0.5, "expected_value": -1.0}, index=X.index)
    col, groups, _ = choose_segment(X, proba)
    tiers = pd.Series(np.where(proba >= 0.5, "high", "low"), index=X.index)
    body = segments_section(col, groups, "", proba, tiers, sv, None)
    assert "<img src=x" not in body and htmllib.escape("<img src=x onerror=alert(1)>") in body
    rows = re.findall(r"<tr><td>([^<]+)</td><td class=\"num\">200</td>", body)
    assert rows == ["basic", htmllib.escape("<img src=x onerror=alert(1)>"), "premium"]  # riskiest first
    assert "share_high_risk" in body and '<td class="num">1.000</td>' in body  # basic: all high


# ---- tables, money, calibration --------------------------------------------------------------


def test_money_has_two_decimals_and_thousands_separators_and_tables_scroll_inside_the_page():
    assert money(1234567.891) == "1,234,567.89" and money(0.005) == "0.01" and money(-12.5) == "-12.50"
    table = html_table(pd.DataFrame({"customer_id": [12345], "expected_profit": [9876.543], "x<y": ["a&b"]}))
    assert table.startswith('<div class="tw">')
    assert '<td class="num">12345</td>' in table  # an id, as written
    assert '<td class="num">9,876.54</td>' in table and "<th>x&lt;y</th>" in table and "<td>a&amp;b</td>" in table


def test_calibration_section_states_mean_predicted_observed_and_ece_of_the_stored_table():
    y = np.array([0, 0, 0, 1] * 25 + [0, 1, 1, 1] * 25)
    p = np.r_[np.full(100, 0.15), np.full(100, 0.65)]
    table = calibration_table(y, p, n_bins=2)
    # bins {0.15 x 100: 25% observed}, {0.65 x 100: 75% observed}: gaps 0.10 each
    body = calibration_section(reliability_tables({"test": table.to_dict("records")}))
    assert "test: mean predicted 40.0% against 50.0% observed; ECE 0.100 over 2 equal-count bins (200 customers)" in body
    assert 'alt="calibration"' in body
    assert reliability_figure(y, p, n_bins=2)[:4] == b"\x89PNG"
    assert "No calibration table is stored" in calibration_section(reliability_tables(None))


# ---- the report of the shared demo model -------------------------------------------------------


@pytest.fixture(scope="module")
def layout_report(trained, demo_events, tmp_path_factory):
    """The demo report with every optional section a demo has: the run's calibration table
    and a campaign."""
    from conftest import load_trained

    from churnlab.report_artifact import run_reliability

    result, _ = trained
    sm = load_trained(result)
    rel = run_reliability(result.run_id, sm.metadata["selected"], tracking_uri=result.tracking_uri)
    plan = load_campaign("configs/campaign.yaml")
    text = build_report(sm, demo_events, AS_OF, customer_id=7, campaign=plan, reliability={"test period": rel})
    return write_report(text, tmp_path_factory.mktemp("layout") / "report.html"), sm, plan


@pytest.mark.slow
def test_demo_report_segments_by_a_real_attribute_and_explains_its_measures(layout_report):
    path, _, _ = layout_report
    text = path.read_text(encoding="utf-8")
    segments = text.split("id='segments'")[1].split("</section>")[0]
    title = re.search(r"<h2>Segments by (\w+)</h2>", segments).group(1)
    assert title in {"static_tier", "static_region", "static_acquisition_channel"}  # never the planted noise
    counts = [int(c.replace(",", "")) for c in re.findall(r"<td>[^<]+</td><td class=\"num\">([\d,]+)</td>", segments)]
    assert 2 <= len(counts) <= 12 and min(counts) >= 30
    headline = text.split("id='headline'")[1].split("</section>")[0]
    for term in ("EMPC", "MP"):
        assert f"<dt>{term}</dt><dd>{htmllib.escape(GLOSSARY[term])}</dd>" in headline
    assert "alt=\"calibration\"" in text.split("id='calibration'")[1].split("</section>")[0]


@pytest.mark.slow
def test_demo_report_shows_money_with_two_decimals_and_targets_per_tier(layout_report, trained, demo_events):
    from churnlab.events import to_timestamp
    from churnlab.labels import cancelled_before
    from churnlab.scoring import risk_tiers
    from churnlab.scoring.tiers import target_tiers
    from churnlab.scoring.campaign import campaign_values, expected_profit, mark_targets

    path, sm, plan = layout_report
    text = path.read_text(encoding="utf-8")
    campaign = text.split("id='campaign'")[1].split("</section>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", campaign.split("<h3>")[1].split("<tbody>")[1])
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in rows]
    assert len(cells) == 25
    for value, profit in ((c[3], c[4]) for c in cells):  # customer_value, expected_profit
        assert re.fullmatch(r"-?\d{1,3}(,\d{3})*\.\d{2}", value) and re.fullmatch(r"-?\d{1,3}(,\d{3})*\.\d{2}", profit)
    summary = campaign.split("<img")[0]
    assert re.search(r"expected profit -?\d{1,3}(,\d{3})*\.\d{2}, value at risk \d{1,3}(,\d{3})*\.\d{2}", summary)
    # the targets per tier, recomputed from the model's own probabilities and the campaign
    t = to_timestamp(AS_OF)
    X = sm.features(demo_events, t)
    X = X[sm.eligibility(X, cancelled_before(demo_events, t)) == "scored"]
    p = sm.model.churn_probability(X)
    values = campaign_values(plan, demo_events, t, value_model=sm.value_model).reindex(X.index).to_numpy(dtype=float)
    target = mark_targets(expected_profit(p, values, plan), plan.budget).astype(bool)
    tiers = pd.Series(target_tiers(risk_tiers(p, sm.thresholds), target))[target].value_counts()
    assert "low" not in tiers.index  # no target in the tier that says "no action"
    expected = ", ".join(f"{tiers[t]:,} {t}" for t in ("high", "medium") if t in tiers)
    assert f"<p id='targets-by-tier'>Targets by risk tier: {expected}.</p>" in campaign
    assert sum(tiers) == int(re.search(r"contact <b>([\d,]+)</b>", campaign).group(1).replace(",", ""))


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
def test_demo_report_fits_a_1400px_window_in_headless_chromium(layout_report):
    if _chromium() is None:
        if os.environ.get("CHURNLAB_REQUIRE_BROWSER"):
            pytest.fail("chromium is required here (CHURNLAB_REQUIRE_BROWSER is set) but not installed")
        pytest.skip("Debian chromium not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    path, _, _ = layout_report
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=_chromium(),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        height, width, window = page.evaluate(
            "[document.documentElement.scrollHeight, document.documentElement.scrollWidth, window.innerWidth]")
        sections = page.locator("section").count()
        browser.close()
    assert window == 1400
    assert width <= window  # no horizontal overflow of the page
    assert height < 15_000, f"the report is {height} px tall"
    assert sections >= 9  # headline ... segments, campaign included: nothing left out to fit
