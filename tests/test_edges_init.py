"""`churnlab init` at its edges: a folder of exports in the user's own names (a .csv.gz file, a
``closed_at`` column, 2011 dates), a BankChurners-like table with a text label and identifier
columns; every key of the written config commented, paths relative to it, and what it wrote
trains from the CLI."""

import re

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.config import ConfigError, load_config, parse_config
from churnlab.events import EventValidationError, validate_table
from churnlab.features.table import parse_labels
from churnlab.init import guess_config, render_config
from churnlab.workflows.training import load_data
from cli_lines import output_lines

runner = CliRunner()

KEY_LINE = re.compile(r"^ *[A-Za-z_][A-Za-z0-9_]*:")


def exports_2011(folder, n: int = 300, seed: int = 7):
    """orders.csv.gz (cust_no, InvoiceDate, total, via), tickets.csv (customer, created_at,
    closed_at, topic; some open), accounts.csv (cust_no, created, plan, region); all in 2011.
    Returns the tickets frame as written."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    start, stop = pd.Timestamp("2011-01-01"), pd.Timestamp("2011-12-31")
    ids = np.arange(10001, 10001 + n)
    rows = []
    for cid in ids:
        rate = rng.uniform(0.5, 3) / 30  # purchases per day: a quiet spell is often not churn
        leaves = start + pd.Timedelta(days=float(rng.uniform(60, 600)))  # stops buying (may be after the data)
        t = start + pd.Timedelta(days=float(rng.exponential(20)))
        while t < min(leaves, stop):
            rows.append((cid, t.floor("s"), round(float(rng.gamma(2.0, 20.0)), 2), rng.choice(["web", "store", "app"])))
            t += pd.Timedelta(days=float(rng.exponential(1 / rate)))
    rows += [(ids[0], start + pd.Timedelta(hours=9), 10.0, "web"), (ids[1], stop + pd.Timedelta(hours=9), 12.0, "app")]
    orders = pd.DataFrame(rows, columns=["cust_no", "InvoiceDate", "total", "via"])
    orders["InvoiceDate"] = orders["InvoiceDate"].dt.strftime("%Y-%m-%d %H:%M:%S")
    orders.to_csv(folder / "orders.csv.gz", index=False)
    k = 2 * n
    opened = start + pd.to_timedelta(rng.uniform(0, 360 * 86400, k).round(), unit="s")
    closed = pd.Series(opened + pd.to_timedelta(rng.uniform(600, 200 * 3600, k).round(), unit="s"))
    closed[rng.random(k) < 0.2] = pd.NaT  # still open
    tickets = pd.DataFrame({"customer": rng.choice(ids, k), "created_at": opened.strftime("%Y-%m-%d %H:%M:%S"),
                            "closed_at": closed.dt.strftime("%Y-%m-%d %H:%M:%S"),
                            "topic": rng.choice(["billing", "delivery", "returns"], k)})
    tickets.to_csv(folder / "tickets.csv", index=False)
    created = pd.Timestamp("2010-01-01") + pd.to_timedelta(rng.uniform(0, 364, n).round(), unit="D")
    pd.DataFrame({"cust_no": ids, "created": created.strftime("%Y-%m-%d"), "plan": rng.choice(["basic", "plus"], n),
                  "region": rng.choice(["north", "south", "east"], n)}).to_csv(folder / "accounts.csv", index=False)
    return tickets


def bank_churners(n: int = 600, seed: int = 3) -> pd.DataFrame:
    """A BankChurners-like table: CLIENTNUM, a text Attrition_Flag, a row number, names, e-mails."""
    rng = np.random.default_rng(seed)
    trans = rng.poisson(60, n)
    inactive = rng.integers(0, 6, n)
    p = 1 / (1 + np.exp(-(-1.5 - 0.03 * (trans - 60) + 0.4 * (inactive - 2.5))))
    attrited = rng.random(n) < p
    return pd.DataFrame({
        "RowNumber": np.arange(1, n + 1),
        "CLIENTNUM": rng.choice(np.arange(700_000_000, 800_000_000), n, replace=False),
        "Attrition_Flag": np.where(attrited, "Attrited Customer", "Existing Customer"),
        "Surname": [f"Surname{i}x{rng.integers(0, 9)}" for i in range(n)],
        "Email": [f"person{i}@example.org" for i in range(n)],
        "Customer_Age": rng.integers(25, 70, n),
        "Gender": rng.choice(["F", "M"], n),
        "Total_Trans_Ct": trans,
        "Months_Inactive_12_mon": inactive,
    })


def _key_lines_without_comment(text: str) -> list[str]:
    return [line for line in text.splitlines() if KEY_LINE.match(line) and "  # " not in line]


def test_init_on_2011_exports_writes_a_commented_relative_config_that_trains(tmp_path):
    exports_2011(tmp_path / "exports")
    out = tmp_path / "shop.yaml"
    res = runner.invoke(app, ["init", str(tmp_path / "exports"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    cfg = yaml.safe_load(text)
    d = cfg["data"]
    assert (d["purchases"], d["support"], d["customers"]) == ("exports/orders.csv.gz", "exports/tickets.csv", "exports/accounts.csv")
    assert d["mapping"] == {
        "purchases": {"customer_id": "cust_no", "ts": "InvoiceDate", "amount": "total", "channel": "via"},
        "support": {"customer_id": "customer", "ts": "created_at", "category": "topic", "resolved_ts": "closed_at"},
        "customers": {"customer_id": "cust_no", "signup_ts": "created"},
    }
    # purchases from 2011-01-01 09:00 to 2011-12-31 09:00: 90 days leave one training cutoff, 60 days four
    assert cfg["cutoffs"] == {"start": "2011-04-01", "end": "2011-11-01", "freq": "MS"}
    assert cfg["label"]["horizon_days"] == 60
    assert _key_lines_without_comment(text) == []
    assert "      customer_id: \"cust_no\"  # the customer id; guessed from the name\n" in text
    assert re.search(r"^cutoffs:  # .*purchases from 2011-01-01 to 2011-12-31", text, re.M)
    # train from another working directory: the paths are the config's, not the shell's
    res = runner.invoke(app, ["train", "--config", str(out), "--workdir", str(tmp_path / "models")])
    assert res.exit_code == 0, res.output
    assert "runs:/" in res.output


def test_resolution_hours_come_from_closed_at(tmp_path):
    tickets = exports_2011(tmp_path / "exports", n=60)
    out = tmp_path / "shop.yaml"
    assert runner.invoke(app, ["init", str(tmp_path / "exports"), "--out", str(out)]).exit_code == 0
    support = load_data(load_config(out).data).support
    expected = (pd.to_datetime(tickets["closed_at"]) - pd.to_datetime(tickets["created_at"])).dt.total_seconds() / 3600
    want = pd.DataFrame({"customer_id": tickets["customer"], "ts": pd.to_datetime(tickets["created_at"]), "hours": expected})
    got = support.merge(want, on=["customer_id", "ts"], how="inner", validate="one_to_one")
    assert len(got) == len(tickets)
    np.testing.assert_allclose(got["resolution_hours"], got["hours"])  # NaN (open) in the same rows
    assert got["resolved"].tolist() == got["hours"].notna().tolist()
    assert 0 < got["hours"].isna().sum() < len(got)


def test_a_resolution_before_its_ticket_is_one_line_naming_the_row(tmp_path):
    tickets = pd.DataFrame({"customer_id": [1, 2, 3], "ts": ["2011-03-01 10:00", "2011-03-02", "2011-03-03"],
                            "category": "billing", "resolved_ts": ["2011-03-01 12:30", None, "2011-03-02 23:00"]})
    with pytest.raises(EventValidationError) as err:
        validate_table(tickets, "support")
    assert str(err.value) == ("support.resolved_ts: before the ticket's ts (2011-03-03 00:00:00); 1 bad row(s); "
                              "first at row 2 (customer_id=3): '2011-03-02 23:00:00'")
    ok = validate_table(tickets.iloc[:2], "support")
    assert ok["resolution_hours"].iloc[0] == 2.5 and np.isnan(ok["resolution_hours"].iloc[1])
    assert "resolved_ts" not in ok.columns and ok["resolved"].tolist() == [True, False]
    with pytest.raises(EventValidationError, match=r"missing required column\(s\) \['resolution_hours'\] \(or resolved_ts"):
        validate_table(tickets.drop(columns="resolved_ts"), "support")
    # from the CLI: exit 2, one line
    folder = tmp_path / "d"
    folder.mkdir()
    pd.DataFrame({"customer_id": [1, 1, 3], "ts": ["2011-01-05", "2011-06-01", "2011-03-01"], "amount": 5.0}).to_csv(folder / "purchases.csv", index=False)
    tickets.to_csv(folder / "support.csv", index=False)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"data": {"path": "d"}, "cutoffs": {"start": "2011-02-01", "end": "2011-05-01"}}))
    res = runner.invoke(app, ["train", "--config", str(tmp_path / "c.yaml"), "--workdir", str(tmp_path / "wd")])
    lines = output_lines(res.stderr)
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: support.resolved_ts: before"), res.output
    assert "'2011-03-02 23:00:00'" in lines[0]


def test_init_on_a_bank_churners_table_writes_positive_and_exclude_and_trains(tmp_path):
    table = bank_churners()
    table.to_csv(tmp_path / "BankChurners.csv", index=False)
    out = tmp_path / "configs" / "bank.yaml"  # in configs/: paths are relative to the project root
    out.parent.mkdir()
    res = runner.invoke(app, ["init", str(tmp_path / "BankChurners.csv"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    d = yaml.safe_load(text)["data"]
    assert d == {"source": "table", "path": "BankChurners.csv", "id": "CLIENTNUM", "label": "Attrition_Flag",
                 "positive": "Attrited Customer", "time": None, "exclude": ["RowNumber", "Surname", "Email"]}
    assert _key_lines_without_comment(text) == []
    assert re.search(r"^  exclude:  # .*RowNumber \(row numbers\), Surname \(names or contact details\), Email \(e-mail addresses\)", text, re.M)
    cfg = load_config(out)
    labels = parse_labels(pd.read_csv(cfg.data.path)[cfg.data.label], "t.Attrition_Flag", positive=cfg.data.positive)
    assert labels.mean() == (table["Attrition_Flag"] == "Attrited Customer").mean()
    res = runner.invoke(app, ["train", "--config", str(out), "--workdir", str(tmp_path / "models")])
    assert res.exit_code == 0, res.output


def test_text_labels_with_positive_refuse_other_values_naming_them():
    flags = pd.Series(["Attrited Customer", "Existing Customer", " Attrited Customer ", "Existing Customer"])
    assert parse_labels(flags, "t.flag", positive="Attrited Customer").tolist() == [1, 0, 1, 0]
    assert parse_labels(pd.Series([1, 0, 1]), "t.flag", positive="1").tolist() == [1, 0, 1]
    assert parse_labels(pd.Series([1.0, 0.0]), "t.flag", positive="1").tolist() == [1, 0]
    with pytest.raises(EventValidationError) as err:
        parse_labels(pd.concat([flags, pd.Series(["Unknown"])], ignore_index=True), "t.flag", positive="Attrited Customer")
    assert str(err.value) == ("t.flag: with data.positive 'Attrited Customer' the labels must be it or one other value "
                              "('Existing Customer'); 1 bad row(s); first at row 4: 'Unknown'")
    with pytest.raises(EventValidationError, match=r"t.flag: data.positive 'Churned' is not a value of the column; its values are \['Attrited Customer', 'Existing Customer'\]"):
        parse_labels(flags, "t.flag", positive="Churned")
    with pytest.raises(EventValidationError, match=r"t.flag: missing label; 1 bad row\(s\); first at row 1"):
        parse_labels(pd.Series(["Attrited Customer", None]), "t.flag", positive="Attrited Customer")
    with pytest.raises(ConfigError, match=r"data.positive is for data.source 'table', got 'yes'"):
        parse_config({"data": {"path": "d", "positive": "yes"}, "cutoffs": {"start": "2024-01-01", "end": "2024-06-01"}})


def test_a_text_label_without_positive_is_refused_at_training_naming_the_value(tmp_path):
    bank_churners(200).to_csv(tmp_path / "bank.csv", index=False)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"data": {"source": "table", "path": "bank.csv", "label": "Attrition_Flag",
                                                              "exclude": ["RowNumber", "Surname", "Email", "CLIENTNUM"]}}))
    res = runner.invoke(app, ["train", "--config", str(tmp_path / "c.yaml"), "--workdir", str(tmp_path / "wd")])
    lines = output_lines(res.stderr)
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert "Attrition_Flag: labels must be" in lines[0] and "Customer'" in lines[0]


@pytest.mark.parametrize(("values", "positive"), [
    (["Churned", "Active"], "Churned"), (["Stayed", "Left"], "Left"), (["Exited", "Retained"], "Exited"),
    (["Existing Customer", "Attrited Customer"], "Attrited Customer"), (["Y", "N"], None),
])
def test_the_positive_label_is_guessed_from_its_words(tmp_path, values, positive):
    pd.DataFrame({"user_id": range(40), "status": values * 20, "x": range(40)}).to_csv(tmp_path / "t.csv", index=False)
    cfg, notes, why = guess_config(tmp_path / "t.csv")
    assert (cfg["data"]["id"], cfg["data"]["label"], cfg["data"].get("positive")) == ("user_id", "status", positive)
    if positive is None:
        assert any("could not tell which of ['N', 'Y'] means churned: set data.positive" in n for n in notes)


def test_a_label_of_yes_no_needs_no_positive_and_a_table_without_id_is_numbered(tmp_path):
    pd.DataFrame({"Churn": ["Yes", "No"] * 30, "tenure": [i % 13 for i in range(60)]}).to_csv(tmp_path / "t.csv", index=False)
    cfg, notes, _ = guess_config(tmp_path / "t.csv", out=tmp_path / "t.yaml")
    assert cfg["data"] == {"source": "table", "path": "t.csv", "id": None, "label": "Churn", "time": None, "exclude": []}
    assert any("no customer id column: rows are identified by their row number" in n for n in notes)
    parse_config(cfg)  # valid as written


@pytest.mark.parametrize(("columns", "mapping"), [
    ({"CustomerID": [1, 2], "order_date": ["2024-01-05", "2024-03-01"], "Revenue": [5.0, 7.0], "sales_channel": ["a", "b"]},
     {"customer_id": "CustomerID", "ts": "order_date", "amount": "Revenue", "channel": "sales_channel"}),
    ({"User-ID": [1, 2], "purchased_at": ["2024-01-05", "2024-03-01"], "Order Total": [5.0, 7.0], "Source": ["a", "b"]},
     {"customer_id": "User-ID", "ts": "purchased_at", "amount": "Order Total", "channel": "Source"}),
    ({"account_id": [1, 2], "date": ["2024-01-05", "2024-03-01"], "value": [5.0, 7.0]},
     {"customer_id": "account_id", "ts": "date", "amount": "value"}),
    ({"customer": [1, 2], "created_at": ["2024-01-05", "2024-03-01"], "TOTAL": [5.0, 7.0]},
     {"customer_id": "customer", "ts": "created_at", "amount": "TOTAL"}),
])
def test_column_names_are_guessed_ignoring_case_and_separators(tmp_path, columns, mapping):
    pd.DataFrame(columns).to_csv(tmp_path / "orders.csv", index=False)
    cfg, _, _ = guess_config(tmp_path)
    assert cfg["data"]["mapping"]["purchases"] == mapping


def test_a_unit_price_is_not_taken_for_an_order_value_and_a_date_name_must_hold_dates(tmp_path):
    pd.DataFrame({"CustomerID": [1, 2], "timestamp": ["north", "south"], "InvoiceDate": ["2011-01-05", "2011-03-01"],
                  "Quantity": [2, 3], "UnitPrice": [1.5, 2.0]}).to_csv(tmp_path / "orders.csv", index=False)
    cfg, notes, _ = guess_config(tmp_path)
    assert cfg["data"]["mapping"]["purchases"] == {"customer_id": "CustomerID", "ts": "InvoiceDate", "quantity": "Quantity"}
    assert any("'UnitPrice' looks like a unit price" in n for n in notes)


def test_a_time_column_of_epoch_numbers_is_mapped_with_a_note(tmp_path):
    pd.DataFrame({"user_id": [1, 2], "timestamp": [1293840000, 1298937600], "amount": 1.0}).to_csv(tmp_path / "orders.csv", index=False)
    cfg, notes, why = guess_config(tmp_path)
    assert cfg["data"]["mapping"]["purchases"] == {"customer_id": "user_id", "ts": "timestamp"}
    assert "purchases: 'timestamp' (ts) holds no dates as written: set data.timestamp_unit (epoch numbers) or data.date_format" in notes
    assert "not dates as written" in render_config(cfg, notes, why=why).split("ts: \"timestamp\"")[1].splitlines()[0]


def test_month_first_dates_get_their_format_and_ambiguous_ones_a_note(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    pd.DataFrame({"CustomerID": [1, 2, 1], "InvoiceDate": ["12/1/2010 8:26", "12/13/2010 9:01", "1/20/2011 10:00"],
                  "amount": 1.0}).to_csv(tmp_path / "a" / "orders.csv", index=False)
    cfg, notes, _ = guess_config(tmp_path / "a", out=tmp_path / "a.yaml")
    assert cfg["data"]["date_format"] == {"purchases": "%m/%d/%Y %H:%M"}
    (tmp_path / "a.yaml").write_text(render_config(cfg, notes))
    assert len(load_data(load_config(tmp_path / "a.yaml").data).purchases) == 3
    pd.DataFrame({"CustomerID": [1, 2], "InvoiceDate": ["01/02/2011", "03/04/2011"], "amount": 1.0}).to_csv(tmp_path / "b" / "orders.csv", index=False)
    cfg, notes, _ = guess_config(tmp_path / "b")
    assert "date_format" not in cfg["data"]
    assert any("day-first and as month-first: set data.date_format.purchases" in n for n in notes)


def test_a_short_log_says_so_and_every_rendered_key_is_commented(tmp_path):
    pd.DataFrame({"cust_no": [1, 2], "order_date": ["2011-01-05", "2011-03-01"], "total": 1.0}).to_csv(tmp_path / "orders.csv", index=False)
    cfg, notes, why = guess_config(tmp_path)
    assert any("too short for a train/validation/test split" in n for n in notes)
    text = render_config(cfg, notes, why=why)
    assert _key_lines_without_comment(text) == [] and yaml.safe_load(text) == cfg
