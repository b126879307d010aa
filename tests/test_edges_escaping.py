"""User text on its way out (issue #25, injection): control characters and bidi overrides in
messages, Rich markup in names, YAML written by `churnlab init`, formulas in CSV outputs."""

import csv
import re

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

import churnlab.tracking
from churnlab import cli
from churnlab.cli import app
from churnlab.config import load_config
from churnlab.escaping import csv_restored, csv_safe, printable
from churnlab.events import load_events, save_events_dir
from churnlab.workflows.training import load_data
from cli_lines import output_lines

runner = CliRunner()
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # all but the line ends


def _clean(text: str) -> str:
    """``text`` after checking that no raw control character or bidi override is in it."""
    assert "\x1b" not in text and not RAW_CONTROL.search(text), repr(text)
    return text


def _only_error_line(stderr: str) -> str:
    lines = output_lines(_clean(stderr))
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


# ---- the terminal --------------------------------------------------------------------


def test_printable_escapes_controls_line_breaks_and_bidi_overrides():
    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert printable("x\ny\tz\r") == "x\\ny\\tz\\r"
    assert printable("\x00\x7f\x85\x9b") == "\\x00\\x7f\\x85\\x9b"
    assert printable("abc\u202edef\u2066\u2069") == "abc\\u202edef\\u2066\\u2069"
    assert printable("Müller [i]d C:\\data 100%") == "Müller [i]d C:\\data 100%"  # printable text unchanged
    assert printable(7) == "7"


def test_a_path_with_escape_sequences_and_a_newline_is_one_escaped_error_line(tmp_path):
    out = tmp_path / "c.yaml"
    res = runner.invoke(app, ["init", "no\x1b[2J\nsuch\u202e", "--out", str(out)])
    assert res.exit_code == 2
    assert _only_error_line(res.stderr) == "error: PATH: not found: no\\x1b[2J\\nsuch\\u202e"
    assert not out.exists()


def test_an_osc_sequence_in_an_option_value_is_escaped(tmp_path):
    bad = "b\x1b]0;pwned\x07.csv"
    res = runner.invoke(app, ["report", "--model", "m", "--backtest", bad, "--out", str(tmp_path / "r.html")])
    assert res.exit_code == 2
    assert _only_error_line(res.stderr) == "error: --backtest: not found: b\\x1b]0;pwned\\x07.csv"
    assert list(tmp_path.iterdir()) == []


def test_config_problems_are_one_line_each_and_a_control_character_in_a_key_is_escaped(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"cutoffs": {"start": "2024-01-01", "end": "2024-06-01"},
                                   "label": {"horizon_days": -3}, "bad\x1b[2Jkey\u202e": 1}))
    res = runner.invoke(app, ["train", "--config", str(cfg), "--workdir", str(tmp_path / "wd")])
    assert res.exit_code == 2
    lines = output_lines(_clean(res.stderr))
    assert len(lines) == 2 and all(line.startswith(f"error: {cfg}: ") for line in lines), lines
    assert any("label.horizon_days" in line and "(got -3)" in line for line in lines), lines
    assert any("bad\\x1b[2Jkey\\u202e" in line for line in lines), lines
    assert not (tmp_path / "wd").exists()


def test_a_warning_is_one_escaped_line(capsys):
    cli._warn(UserWarning("column 'a\nb\x1b[2J' is odd"), UserWarning, "", 0)
    assert capsys.readouterr().err == "warning: column 'a\\nb\\x1b[2J' is odd\n"


def test_console_output_is_escaped_and_not_read_as_markup(capsys):
    cli.console.print("note: cust[/]no [i]d :smile: \x1b[2J\u202e")
    table = cli.Table(title="tiers [/]")
    table.add_column("risk_tier")
    table.add_row("[i]d\x1b[2J")  # e.g. a tier read from a past score file
    cli.PlainConsole(width=120).print(table)
    printed = capsys.readouterr()
    assert _clean(printed.err) == "note: cust[/]no [i]d :smile: \\x1b[2J\\u202e\n"
    assert "tiers [/]" in _clean(printed.out) and "[i]d\\x1b[2J" in printed.out


# ---- Rich markup in names; YAML written by init ---------------------------------------


def _orders(ids, id_column="customer_id", ts_column="order_date", amount_column="total") -> pd.DataFrame:
    return pd.DataFrame({id_column: ids, ts_column: ["2024-01-05", "2024-06-01", "2024-03-01"][: len(ids)],
                         amount_column: [5.0, 7.0, 9.0][: len(ids)]})


@pytest.mark.parametrize("column", ["cust[/]no", "[i]d"])
def test_init_prints_and_writes_markup_like_column_names_literally(tmp_path, column):
    data = tmp_path / "shop"
    data.mkdir()
    _orders([1, 1, 2], id_column=column).to_csv(data / "orders.csv", index=False)
    out = tmp_path / "shop.yaml"
    res = runner.invoke(app, ["init", str(data), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert f"'customer_id': '{column}'" in _clean(res.stderr)
    assert yaml.safe_load(out.read_text())["data"]["mapping"]["purchases"]["customer_id"] == column


def test_init_quotes_every_value_so_hostile_names_inject_no_key(tmp_path):
    folder = "shop\nmodel: {x: 1}"
    data = tmp_path / folder
    data.mkdir()
    file = data / "orders.x\nmodel: {x: 1} #'\"\x1b[2J\u202e.csv"
    columns = {"id_column": "cust: #no", "ts_column": "order\ndate", "amount_column": "'total\""}
    _orders([1, 1, 2], **columns).to_csv(file, index=False)
    out = tmp_path / "c.yaml"
    res = runner.invoke(app, ["init", str(data), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "orders.x\\nmodel: {x: 1} #'\"\\x1b[2J\\u202e.csv" in _clean(res.stderr)  # the note, escaped
    text = out.read_text()
    assert all(line.startswith(("#", " ")) or line.split(":")[0] in {"name", "data", "label", "mlflow", "cutoffs"}
               for line in text.splitlines()), text
    cfg = yaml.safe_load(text)
    assert list(cfg) == ["name", "data", "label", "mlflow", "cutoffs"]
    assert cfg["name"] == folder and cfg["mlflow"] == {"experiment": folder}
    assert sorted(cfg["data"]) == ["mapping", "on_duplicates", "purchases", "source"]
    assert cfg["data"]["purchases"] == f"{folder}/{file.name}"  # relative to the config's folder
    assert cfg["data"]["mapping"] == {"purchases": {"customer_id": "cust: #no", "ts": "order\ndate", "amount": "'total\""}}
    loaded = load_data(load_config(out).data)  # read back as the config that train uses
    assert sorted(loaded.purchases["customer_id"].tolist()) == [1, 1, 2]


# ---- CSV formula injection ------------------------------------------------------------

FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(1,2)", "-1+1", "@x", "\tx", "\rx", "'=quoted"]


def test_csv_safe_quotes_text_cells_and_keeps_numbers_and_restores_exactly():
    df = pd.DataFrame({
        "text": pd.array([*FORMULAS, "a-b", None], dtype="string"),
        "obj": [*FORMULAS, 3, None],
        "cat": pd.Categorical([*FORMULAS, "a-b", "a-b"]),
        "num": [-1, -2.5, 3, 4, 5, 6, 7, 8, 9],
        "=head": range(9),
    })
    safe = csv_safe(df)
    quoted = ["'=cmd|' /C calc'!A0", "'+SUM(1,2)", "'-1+1", "'@x", "'\tx", "'\rx", "''=quoted"]
    assert safe["text"].tolist()[:8] == [*quoted, "a-b"] and safe["text"].dtype == df["text"].dtype
    assert safe["obj"].tolist()[:8] == [*quoted, 3]
    assert safe["cat"].tolist() == [*quoted, "a-b", "a-b"]
    assert safe["num"].tolist() == [-1, -2.5, 3, 4, 5, 6, 7, 8, 9] and safe["num"].dtype == float
    assert list(safe.columns) == ["text", "obj", "cat", "num", "'=head"]
    assert df["text"].tolist()[0] == "=cmd|' /C calc'!A0"  # the input is not changed
    back = csv_restored(safe)
    pd.testing.assert_frame_equal(back, df)


def test_mlflow_csv_artifacts_are_neutralised(monkeypatch):
    logged = {}
    monkeypatch.setattr(churnlab.tracking.mlflow, "log_text", lambda text, name: logged.setdefault(name, text))
    churnlab.tracking.log_frame_artifact(pd.DataFrame({"feature": ["=x", "y"], "psi": [-0.5, 1.0]}), "t.csv")
    assert logged["t.csv"] == "feature,psi\n'=x,-0.5\ny,1.0\n"


def test_the_drift_csv_is_neutralised(tmp_path):
    from churnlab.monitor import DriftCounter, reference_profile

    X = pd.DataFrame({"@SUM(A1)": [1.0, 2.0, 3.0, 4.0], "tenure": [4.0, 3.0, 2.0, 1.0]})
    cli._write_drift(DriftCounter(reference_profile(X, [0.1, 0.2, 0.3, 0.4])).add(X, [0.1, 0.2, 0.3, 0.4]), tmp_path / "s.csv")
    with open(tmp_path / "s.drift.csv", newline="") as f:
        assert [row[0] for row in csv.reader(f)] == ["feature", "churn_probability", "'@SUM(A1)", "tenure"]


AS_OF = "2024-09-01"  # the demo events run to 2024-12-31: the 90-day horizon has passed


@pytest.fixture(scope="module")
def formula_events(tmp_path_factory, demo_events):
    """The demo events with text ids, formula-like for the first customers."""
    ids = sorted(demo_events.customers["customer_id"])
    names = {i: (FORMULAS[k] if k < len(FORMULAS) else f"c{i}") for k, i in enumerate(ids)}
    tables = {name: t.assign(customer_id=t["customer_id"].map(names)) for name, t in demo_events.tables().items()}
    return save_events_dir(load_events(**tables), tmp_path_factory.mktemp("formula-events")), names


def test_score_csv_neutralises_formula_ids_parquet_keeps_them_and_monitor_reads_them_back(trained, formula_events, tmp_path):
    result, _ = trained
    events, names = formula_events
    common = ["--model", result.model_uri, "--tracking-uri", result.tracking_uri, "--events", str(events)]
    for out in ("s.csv", "s.parquet"):
        res = runner.invoke(app, ["score", *common, "--as-of", AS_OF, "--top-k", "1", "--out", str(tmp_path / out)])
        assert res.exit_code == 0, res.output
        _clean(res.stderr)
    with open(tmp_path / "s.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    written = {r["customer_id"] for r in rows}
    expected = {"'" + v if k < len(FORMULAS) else v for k, v in enumerate(names.values())}
    assert written == expected
    assert "'=cmd|' /C calc'!A0" in written and "''=quoted" in written and "c8" in written
    assert all(r["churn_probability"] == "" or float(r["churn_probability"]) >= 0 for r in rows)  # numbers unquoted
    assert set(pq.read_table(tmp_path / "s.parquet").column("customer_id").to_pylist()) == set(names.values())
    assert (tmp_path / "s.drift.csv").is_file()
    realized = [runner.invoke(app, ["monitor", *common, "--scores", str(tmp_path / out)]) for out in ("s.csv", "s.parquet")]
    assert [r.exit_code for r in realized] == [0, 0], [r.output for r in realized]
    # the CSV reads back with the ids as written: the same customers labelled as from Parquet
    assert (realized[0].stdout, realized[0].stderr) == (realized[1].stdout, realized[1].stderr)
    labelled = int(re.search(r"([\d,]+) scored customers labelled", realized[0].stderr).group(1).replace(",", ""))
    assert labelled > 1000, realized[0].stderr
