"""The documented own-data loop, from the CLI only: a folder of the user's own exports (their
column names, a gzipped CSV) -> train -> score -> report -> monitor. Every command after
train reads the data the way train did: from the data section the model stores, or from the
same config, or from a new folder read with that config's mapping."""

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.datasets import make_demo_events
from cli_lines import output_lines

pytestmark = pytest.mark.slow
runner = CliRunner()


def _exports(folder, n=900, seed=3):
    """The demo events as a user's exports: orders.csv.gz, tickets.csv and accounts.csv in
    their own column names; the ids written as text ("C0042")."""
    ev = make_demo_events(n, random_state=seed)
    folder.mkdir()
    name = lambda s: "C" + s.astype(str).str.zfill(4)  # noqa: E731
    orders = ev.purchases.rename(columns={"customer_id": "cust_no", "ts": "order_date", "amount": "total"})
    orders.assign(cust_no=name(orders["cust_no"])).to_csv(folder / "orders.csv.gz", index=False)
    tickets = ev.support.rename(columns={"customer_id": "customer", "ts": "opened", "resolution_hours": "hours", "category": "topic"})
    tickets.assign(customer=name(tickets["customer"])).to_csv(folder / "tickets.csv", index=False)
    accounts = ev.customers.rename(columns={"customer_id": "cust_no", "signup_ts": "created"})
    accounts.assign(cust_no=name(accounts["cust_no"])).to_csv(folder / "accounts.csv", index=False)
    return ev


def _config(folder, exports):
    cfg = {
        "name": "mine",
        "data": {
            "source": "files",
            "purchases": f"{exports.name}/orders.csv.gz",
            "support": f"{exports.name}/tickets.csv",
            "customers": f"{exports.name}/accounts.csv",
            "mapping": {
                "purchases": {"customer_id": "cust_no", "ts": "order_date", "amount": "total"},
                "support": {"customer_id": "customer", "ts": "opened", "resolution_hours": "hours", "category": "topic"},
                "customers": {"customer_id": "cust_no", "signup_ts": "created"},
            },
        },
        "cutoffs": {"start": "2023-10-01", "end": "2024-10-01", "freq": "MS"},
        "label": {"rule": "fixed", "horizon_days": 90, "active_days": 180},
        "model": {"params": {"num_leaves": 7, "min_data_in_leaf": 40}, "num_boost_round": 60},
        "mlflow": {"experiment": "mine"},
    }
    path = folder / "mine.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _ok(args):
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return res.output


def test_own_exports_train_score_report_monitor_from_the_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative --workdir, as a user types it
    exports = tmp_path / "exports"
    _exports(exports)
    config = _config(tmp_path, exports)
    out = _ok(["train", "--config", str(config), "--workdir", "wd"])
    uri = out.split("model: ")[1].split()[0]
    # train ends with ready-to-paste commands that find the store under --workdir
    nxt = [line.strip() for line in out.splitlines() if line.strip().startswith("churnlab ")]
    assert nxt[0] == f"churnlab score --model {uri} --workdir wd --as-of 2025-01-01 --out scores.parquet", out
    assert nxt[1].startswith(f"churnlab report --model {uri} --workdir wd --as-of 2025-01-01")

    # 1. as printed: the model's own data section (the exports, their mapping)
    _ok(nxt[0].split()[1:])
    stored = pd.read_parquet(tmp_path / "scores.parquet")
    assert stored["customer_id"].str.match(r"^C\d{4}$").all() and len(stored) == 900  # ids as written

    # 2. the same config, explicitly; 3. a new folder of exports read with the config's mapping
    _ok(["score", "--model", uri, "--workdir", "wd", "--config", str(config), "--as-of", "2025-01-01", "--out", "by-config.parquet"])
    newer = tmp_path / "newer"
    newer.mkdir()
    for src, dst in (("orders.csv.gz", "purchases.csv.gz"), ("tickets.csv", "support.csv"), ("accounts.csv", "customers.csv")):
        (newer / dst).write_bytes((exports / src).read_bytes())
    _ok(["score", "--model", uri, "--workdir", "wd", "--config", str(config), "--events", str(newer),
         "--as-of", "2025-01-01", "--out", "by-folder.parquet"])
    for name in ("by-config", "by-folder"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"{name}.parquet"), stored)

    # the report and, for a past cutoff whose horizon the data covers, realized performance
    _ok(nxt[1].split()[1:])
    assert "<html" in (tmp_path / "report.html").read_text()[:2000].lower()
    _ok(["score", "--model", uri, "--workdir", "wd", "--as-of", "2024-09-01", "--out", "past.parquet"])
    out = _ok(["monitor", "--model", uri, "--workdir", "wd", "--scores", "past.parquet"])
    assert "scores as of 2024-09-01" in out and "ROC-AUC" in out


def test_a_folder_in_the_users_names_without_the_mapping_is_one_line_naming_the_column(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exports = tmp_path / "exports"
    _exports(exports, n=600)
    config = _config(tmp_path, exports)
    uri = _ok(["train", "--config", str(config), "--workdir", "wd"]).split("model: ")[1].split()[0]
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "purchases.csv.gz").write_bytes((exports / "orders.csv.gz").read_bytes())
    # the model's mapping reads the user's names; a folder in other names is named, exit 2
    pd.read_csv(exports / "orders.csv.gz").rename(columns={"order_date": "date"}).to_csv(raw / "purchases.csv.gz", index=False)
    res = runner.invoke(app, ["score", "--model", uri, "--workdir", "wd", "--events", str(raw), "--as-of", "2025-01-01",
                              "--out", "s.parquet"])
    assert res.exit_code == 2, res.output
    lines = output_lines(res.output)
    assert len(lines) == 1 and "'order_date' is not a column" in lines[0], res.output
    assert not (tmp_path / "s.parquet").exists()
    # a store that is not there: exit 3, one line naming it, nothing created
    res = runner.invoke(app, ["score", "--model", uri, "--workdir", "elsewhere", "--as-of", "2025-01-01", "--out", "s.parquet"])
    assert res.exit_code == 3, res.output
    assert "elsewhere" in res.output and not (tmp_path / "elsewhere").exists()
