"""Config strictness at the edges (issue #25): booleans and numbers standing in for numbers
and dates, duplicated cutoffs, unbounded cutoff counts, YAML syntax errors, alias bombs,
huge files and huge echoed values. Every case: exit 2, one ``error:`` line naming the key
and the value, nothing written."""

import time

import pandas as pd
import pytest
import yaml
from conftest import small_config
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.config import MAX_YAML_BYTES, ConfigError, load_campaign, load_config, parse_config
from churnlab.features.snapshots import count_cutoffs, make_cutoffs
from cli_lines import output_lines

runner = CliRunner()
CAMPAIGN = {"contact_cost": 1.0, "incentive_cost": 10.0, "acceptance": 0.3}
BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi")
)


def _train(tmp_path, text: str) -> str:
    """Run ``churnlab train`` on ``text``; assert exit 2, one error line, nothing written."""
    (tmp_path / "bad.yaml").write_text(text)
    res = runner.invoke(app, ["train", "--config", str(tmp_path / "bad.yaml"), "--workdir", str(tmp_path / "wd")])
    assert res.exit_code == 2, res.output
    assert res.stdout == "", res.output
    lines = output_lines(res.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]  # no workdir, no mlflow.db
    return lines[0]


def _dump(cfg: dict) -> str:
    return yaml.safe_dump(cfg, sort_keys=False)


# ---- booleans for numbers, numbers for dates -------------------------------------------


@pytest.mark.parametrize(
    "override,expected",
    [
        ({"label.horizon_days": True}, "label.horizon_days: expected a number, got true"),
        ({"label.k": False}, "label.k: expected a number, got false"),
        ({"label.active_days": True}, "label.active_days: expected a number, got true"),
        ({"seed": True}, "seed: expected a number, got true"),
        ({"data.demo_customers": True}, "data.demo_customers: expected a number, got true"),
        ({"features.trend_window": True}, "features.trend_window: expected a number, got true"),
        ({"features.windows": [30, True]}, "features.windows: item 1: expected a number, got true"),
        ({"model.num_threads": True}, "model.num_threads: expected a number, got true"),
        ({"model.explanation_cache_mb": False}, "model.explanation_cache_mb: expected a number, got false"),
        ({"model.search": {"trials": True}}, "model.search.trials: expected a number, got true"),
        ({"split.test_size": True}, "split.test_size: expected a number, got true"),
        ({"cutoffs.max_cutoffs": True}, "cutoffs.max_cutoffs: expected a number, got true"),
        ({"cutoffs.start": 0}, "cutoffs.start: expected a date (YYYY-MM-DD), got 0"),
        ({"cutoffs": {"dates": [20240101, "2024-02-01"]}}, "cutoffs.dates: item 0: expected a date (YYYY-MM-DD), got 20240101"),
        ({"label.k": float("inf")}, "label.k: Input should be a finite number (got inf)"),
    ],
)
def test_a_boolean_or_a_number_standing_in_is_refused_naming_key_and_value(override, expected):
    with pytest.raises(ConfigError) as err:
        parse_config(small_config(**override), "cfg.yaml")
    assert str(err.value) == f"cfg.yaml: {expected}"


def test_horizon_days_true_through_the_cli(tmp_path):
    line = _train(tmp_path, "cutoffs: {start: 2023-09-01, end: 2024-10-01}\nlabel: {horizon_days: true}\n")
    assert line == f"error: {tmp_path / 'bad.yaml'}: label.horizon_days: expected a number, got true"


def test_numbers_as_numbers_stay_accepted():
    # whole floats for ints, ints for floats and numeric text keep pydantic's reading
    cfg = parse_config(small_config(**{"label.horizon_days": 90.0, "label.k": 2, "seed": "7"}))
    assert (cfg.label.horizon_days, cfg.label.k, cfg.seed) == (90, 2.0, 7)
    with pytest.raises(ConfigError, match=r"label.horizon_days: Input should be a valid integer, got a number with a fractional part \(got 90.5\)"):
        parse_config(small_config(**{"label.horizon_days": 90.5}))


@pytest.mark.parametrize(
    "key,value,expected",
    [
        ("contact_cost", True, "campaign.contact_cost: expected a number, got true"),
        ("acceptance", True, "campaign.acceptance: expected a number, got true"),
        ("acceptance", {"alpha": True, "beta": 14}, "campaign.acceptance.alpha: expected a number, got true"),
        ("budget", True, "campaign.budget: expected a number, got true"),
        ("horizon_days", float("nan"), "campaign.horizon_days: Input should be a finite number (got nan)"),
    ],
)
def test_campaign_refuses_booleans_for_numbers(tmp_path, key, value, expected):
    path = tmp_path / "campaign.yaml"
    path.write_text(_dump({"campaign": {**CAMPAIGN, key: value}}))
    with pytest.raises(ConfigError) as err:
        load_campaign(path)
    assert str(err.value) == f"{path}: {expected}"


# ---- cutoffs: duplicates and bounds ---------------------------------------------------


def test_duplicated_cutoff_dates_are_refused(tmp_path):
    line = _train(tmp_path, "cutoffs: {dates: [2024-01-01, 2024-03-01, 2024-01-01, 2024-06-01]}\n")
    assert line == f"error: {tmp_path / 'bad.yaml'}: cutoffs.dates: 2024-01-01 is listed twice"


@pytest.mark.parametrize(
    "freq,count",
    [("D", "397"), ("min", "570,241"), ("h", "9,505")],
)
def test_fine_frequencies_are_refused_fast_saying_how_many(tmp_path, freq, count):
    start = time.perf_counter()
    line = _train(tmp_path, f"cutoffs: {{start: 2023-09-01, end: 2024-10-01, freq: {freq}}}\n")
    assert time.perf_counter() - start < 10
    assert line == (
        f"error: {tmp_path / 'bad.yaml'}: cutoffs: freq '{freq}' from 2023-09-01 to 2024-10-01 makes {count} cutoffs, "
        "more than max_cutoffs (100): use a coarser cutoffs.freq or raise cutoffs.max_cutoffs"
    )


def test_max_cutoffs_is_configurable_and_bounds_dates_and_densification():
    cfg = parse_config(small_config(**{"cutoffs": {"start": "2023-09-01", "end": "2024-10-01", "freq": "D", "max_cutoffs": 397}}))
    assert len(cfg.cutoffs.resolve()) == 397
    with pytest.raises(ConfigError, match=r"cutoffs: dates lists 3 dates, more than max_cutoffs \(2\): raise cutoffs.max_cutoffs"):
        parse_config(small_config(**{"cutoffs": {"dates": ["2024-01-01", "2024-02-01", "2024-03-01"], "max_cutoffs": 2}}))
    # small_config: 14 monthly cutoffs, 90-day labels; daily training snapshots add 207 more
    with pytest.raises(ConfigError) as err:
        parse_config(small_config(**{"cutoffs.train_every_days": 1}), "cfg.yaml")
    assert str(err.value) == (
        "cfg.yaml: cutoffs.train_every_days 1 adds 207 training cutoffs to the 14 configured: 221 snapshot dates, "
        "more than cutoffs.max_cutoffs (100): raise cutoffs.train_every_days or cutoffs.max_cutoffs"
    )
    assert parse_config(small_config(**{"cutoffs.train_every_days": 7})).cutoffs.train_every_days == 7


@pytest.mark.parametrize(
    "cutoffs,expected",
    [
        ({"freq": "0D"}, "cutoffs.freq: must step forward in time (e.g. MS, W, 14D), got '0D'"),
        ({"freq": "-1MS"}, "cutoffs.freq: must step forward in time (e.g. MS, W, 14D), got '-1MS'"),
        ({"freq": "fortnightly"}, "cutoffs.freq: not a pandas frequency (e.g. MS, W, 14D), got 'fortnightly'"),
        ({"start": "2024-10-01", "end": "2023-09-01"}, "cutoffs: end (2023-09-01) is before start (2024-10-01)"),
        ({"start": "2024-02-02", "end": "2024-12-01", "freq": "YS"}, "cutoffs: freq 'YS' from 2024-02-02 to 2024-12-01 makes no cutoff"),
    ],
)
def test_cutoff_ranges_that_make_nothing_are_refused_at_load(cutoffs, expected):
    with pytest.raises(ConfigError) as err:
        parse_config(small_config(**{"cutoffs": {"start": "2023-09-01", "end": "2024-10-01", **cutoffs}}), "cfg.yaml")
    assert str(err.value) == f"cfg.yaml: {expected}"


@pytest.mark.parametrize("freq", ["MS", "W", "W-MON", "SMS", "B", "D", "6h", "14D", "QS", "YS"])
def test_count_cutoffs_equals_the_cutoffs_made(freq):
    n, exact = count_cutoffs("2023-01-15", "2024-10-01", freq)
    assert exact and n == len(pd.date_range("2023-01-15", "2024-10-01", freq=freq)) == len(make_cutoffs("2023-01-15", "2024-10-01", freq))


def test_count_cutoffs_without_making_them():
    start = time.perf_counter()
    days = (pd.Timestamp("2200-01-01") - pd.Timestamp("1900-01-01")).days
    assert count_cutoffs("1900-01-01", "2200-01-01", "ns") == (days * 86_400 * 10**9 + 1, True)
    assert count_cutoffs("2024-01-01", "2024-01-02", "7min") == (24 * 60 // 7 + 1, True)
    n, exact = count_cutoffs("1900-01-01", "2200-01-01", "bh", exact_up_to=100)
    assert not exact and n == pytest.approx(len(pd.date_range("1900-01-01", "1910-01-01", freq="bh")) * 30, rel=0.01)
    assert time.perf_counter() - start < 5
    with pytest.raises(ValueError, match=r"`freq` 'min' makes 570,241 cutoffs from 2023-09-01 to 2024-10-01, more than `max_cutoffs` \(60\)"):
        make_cutoffs("2023-09-01", "2024-10-01", "min", max_cutoffs=60)


# ---- the YAML itself ------------------------------------------------------------------


def test_a_yaml_syntax_error_is_one_line_with_its_place(tmp_path):
    line = _train(tmp_path, "cutoffs:\n  dates: [2024-01-01, 2024-02-01\nlabel: {horizon_days: 90}\n")
    assert line.startswith(f"error: {tmp_path / 'bad.yaml'}: not valid YAML at line 3, column ")
    assert "expected ',' or ']'" in line


def test_an_alias_bomb_fails_fast(tmp_path):
    assert len(BOMB) < 400 and BOMB.count("*") == 72
    start = time.perf_counter()
    line = _train(tmp_path, BOMB)
    assert time.perf_counter() - start < 10
    assert line == (
        f"error: {tmp_path / 'bad.yaml'}: not valid YAML at line 6, column 4: "
        "more than 100,000 values once its aliases are expanded"
    )


def test_small_aliases_and_merge_keys_still_work(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(
        "cutoffs: {start: 2023-09-01, end: 2024-10-01}\nfeatures: {windows: &w [30, 90], top_categories: 3}\n"
        "model:\n  params: &p {num_leaves: 15}\n  search: {trials: 0}\n"
        "label:\n  <<: {horizon_days: 60, active_days: 180}\n  horizon_days: 30\n"
    )
    cfg = load_config(path)
    assert (cfg.features.windows, cfg.label.horizon_days, cfg.label.active_days) == ((30, 90), 30, 180)


def test_a_recursive_alias_and_a_repeated_key_are_refused(tmp_path):
    line = _train(tmp_path, "cutoffs: &c {start: 2023-09-01, end: 2024-10-01, again: *c}\n")
    assert line == f"error: {tmp_path / 'bad.yaml'}: not valid YAML at line 1, column 10: an alias refers to a collection that holds it"
    (tmp_path / "bad.yaml").unlink()
    line = _train(tmp_path, "cutoffs: {start: 2023-09-01, end: 2024-10-01}\nlabel:\n  horizon_days: 90\n  horizon_days: 30\n")
    assert line == f"error: {tmp_path / 'bad.yaml'}: not valid YAML at line 4, column 3: key 'horizon_days' is given twice in one mapping"


def test_a_python_tag_is_one_line_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    line = _train(tmp_path, f'cutoffs: !!python/object/apply:os.system ["touch {marker}"]\n')
    assert line == (
        f"error: {tmp_path / 'bad.yaml'}: not valid YAML at line 1, column 10: "
        "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'"
    )
    assert not marker.exists()


def test_a_huge_file_is_refused_unread(tmp_path):
    line = _train(tmp_path, "# " + "x" * MAX_YAML_BYTES + "\n")
    assert line == f"error: {tmp_path / 'bad.yaml'}: {MAX_YAML_BYTES + 3:,} bytes, more than the 1,048,576 a config file may have"


def test_huge_values_are_echoed_short(tmp_path):
    line = _train(tmp_path, _dump({"cutoffs": {"start": "2023-09-01", "end": "2024-10-01"}, "model": {"imbalance": "y" * 100_000}}))
    assert line.startswith(f"error: {tmp_path / 'bad.yaml'}: model.imbalance: Input should be 'balanced' or 'none' (got 'yyy")
    assert line.endswith("y...)") and len(line) < len(str(tmp_path)) + 200
    (tmp_path / "bad.yaml").unlink()
    line = _train(tmp_path, _dump({"cutoffs": {"start": "2023-09-01", "end": "2024-10-01"}, "k" * 5000: 1}))
    assert line == f"error: {tmp_path / 'bad.yaml'}: {'k' * 77}...: Extra inputs are not permitted (got 1)"


def test_an_override_into_a_value_that_is_not_a_mapping(tmp_path):
    (tmp_path / "bad.yaml").write_text("cutoffs: {start: 2023-09-01, end: 2024-10-01}\nmlflow: 5\n")
    res = runner.invoke(app, ["train", "--config", str(tmp_path / "bad.yaml"), "--workdir", str(tmp_path / "wd"),
                              "--tracking-uri", f"sqlite:///{tmp_path / 'other.db'}"])
    assert res.exit_code == 2, res.output
    assert res.stderr.splitlines() == [f"error: {tmp_path / 'bad.yaml'}: mlflow: expected a mapping of keys, got 5"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


# ---- the campaign file ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        (BOMB, "not valid YAML at line 6, column 4: more than 100,000 values once its aliases are expanded"),
        ("campaign: {contact_cost: 1, contact_cost: 2}\n", "not valid YAML at line 1, column 29: key 'contact_cost' is given twice in one mapping"),
        ("campaign: [1, 2]\n", "campaign: expected a mapping of keys, got [1, 2]"),
        ("campaign: {contact_cost: 1\n", "not valid YAML at line 2, column 1: "),
    ],
)
def test_campaign_yaml_is_read_as_strictly(tmp_path, text, expected):
    path = tmp_path / "campaign.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_campaign(path)
    assert str(err.value).startswith(f"{path}: {expected}") and "\n" not in str(err.value)


def test_score_with_a_bomb_campaign_is_one_line_and_writes_nothing(tmp_path):
    (tmp_path / "bad.yaml").write_text(BOMB)
    out = tmp_path / "scores.csv"
    start = time.perf_counter()
    res = runner.invoke(app, ["score", "--model", "runs:/0123/model", "--events", str(tmp_path), "--as-of", "2024-12-01",
                              "--out", str(out), "--campaign", str(tmp_path / "bad.yaml")])
    assert time.perf_counter() - start < 10
    assert res.exit_code == 2, res.output
    assert res.stderr.splitlines() == [
        f"error: {tmp_path / 'bad.yaml'}: not valid YAML at line 6, column 4: more than 100,000 values once its aliases are expanded"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]
