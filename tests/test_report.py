import os
import re
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.events import save_events_dir
from churnlab.report import SECTIONS, build_report
from churnlab.scoring import ScoringModel

AS_OF = "2024-12-01"


@pytest.fixture(scope="module")
def report_path(trained, demo_events, tmp_path_factory):
    result, _ = trained
    folder = tmp_path_factory.mktemp("report")
    events = save_events_dir(demo_events, folder / "events")
    res = CliRunner().invoke(
        app,
        ["report", "--model", result.model_uri, "--tracking-uri", result.tracking_uri, "--events", str(events), "--as-of", AS_OF, "--out", str(folder / "report.html"), "--customer", "7"],
    )
    assert res.exit_code == 0, res.output
    return folder / "report.html"


def test_report_is_self_contained(report_path):
    text = report_path.read_text()
    for s in SECTIONS:
        assert f"id='{s}'" in text
    assert "<script" not in text
    # no external resource: every src/href is inline data
    assert not re.findall(r"(?:src|href)=[\"'](?!data:)", text)
    assert "Customer <b>7</b>" in text
    assert "lightgbm" in text  # headline metrics travel with the model


def test_report_rejects_unknown_customer(trained, demo_events):
    result, _ = trained
    sm = ScoringModel.load(result.model_uri)
    with pytest.raises(ValueError, match="customer_id 424242 has no history"):
        build_report(sm, demo_events, AS_OF, customer_id=424242)


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_in_headless_chromium(report_path):
    if _chromium() is None:
        if os.environ.get("CHURNLAB_REQUIRE_BROWSER"):
            pytest.fail("chromium is required here (CHURNLAB_REQUIRE_BROWSER is set) but not installed")
        pytest.skip("Debian chromium not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    errors, requests = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=_chromium(),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
        )
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
        page.goto(report_path.as_uri())
        page.wait_for_load_state("load")
        headings = page.locator("h2").all_inner_texts()
        images = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        rows = page.locator("#riskiest-customers tbody tr").count()
        browser.close()
    assert errors == []
    assert requests == []  # opens offline
    assert headings[0].startswith("Headline metrics") and len(headings) == len(SECTIONS)
    assert images and all(images)
    assert rows == 25


def test_report_counts_cancelled_customers_and_does_not_review_them(trained, demo_events):
    from test_score import with_cancellations

    result, _ = trained
    sm = ScoringModel.load(result.model_uri)
    X = result.builder.transform(demo_events, AS_OF)
    riskiest = pd.Series(sm.model.churn_probability(X), index=X.index)[sm.eligibility(X) == "scored"].sort_values(ascending=False)
    events, gone = with_cancellations(demo_events, riskiest.index[:20].tolist())
    text = build_report(sm, events, AS_OF)
    assert f"{len(gone):,} cancelled" in text
    riskiest_table = text.split("id='riskiest-customers'")[1].split("</section>")[0]
    assert not any(f"<td class=\"num\">{c}</td>" in riskiest_table for c in gone)


def test_report_output_must_be_html(trained, demo_events, tmp_path):
    result, _ = trained
    events = save_events_dir(demo_events, tmp_path / "events")
    res = CliRunner().invoke(
        app, ["report", "--model", result.model_uri, "--tracking-uri", result.tracking_uri, "--events", str(events), "--as-of", AS_OF, "--out", str(tmp_path / "r.pdf")],
    )
    assert res.exit_code == 2
    assert res.output == "error: --out must end in .html, got 'r.pdf'\n"
    assert not (tmp_path / "r.pdf").exists()
