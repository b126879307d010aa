"""`churnlab init`: guessed configs that train as they are."""


import yaml
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.config import load_config
from churnlab.datasets import make_demo_table
from churnlab.workflows.training import load_data

runner = CliRunner()


def test_init_maps_a_folder_of_renamed_files(demo_events, tmp_path):
    data = tmp_path / "shop"
    data.mkdir()
    orders = demo_events.purchases.rename(columns={"customer_id": "cust_no", "ts": "order_date", "amount": "total"})
    orders.to_csv(data / "orders.csv", index=False)
    demo_events.customers.rename(columns={"signup_ts": "signup_date"}).to_csv(data / "Customers.csv", index=False)
    out = tmp_path / "shop.yaml"
    res = runner.invoke(app, ["init", str(data), "--out", str(out)])
    assert res.exit_code == 0, res.output
    cfg = yaml.safe_load(out.read_text())
    assert cfg["data"]["mapping"]["purchases"] == {"customer_id": "cust_no", "ts": "order_date", "amount": "total"}
    assert cfg["data"]["mapping"]["customers"] == {"signup_ts": "signup_date"}
    assert cfg["cutoffs"] == {"start": "2023-05-01", "end": "2024-10-01", "freq": "MS"}
    assert out.read_text().startswith("# Written by `churnlab init`")
    loaded = load_data(load_config(out).data)  # the guessed config reads the data as it is
    assert len(loaded.purchases) == len(demo_events.purchases)
    res = runner.invoke(app, ["init", str(data), "--out", str(out)])
    assert res.exit_code == 2 and "exists" in res.output


def test_init_recognises_a_labelled_table(tmp_path):
    make_demo_table(50, random_state=0).to_csv(tmp_path / "telco.csv", index=False)
    out = tmp_path / "telco.yaml"
    res = runner.invoke(app, ["init", str(tmp_path / "telco.csv"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    cfg = load_config(out)
    assert (cfg.data.source, cfg.data.id, cfg.data.label, cfg.data.time) == ("table", "customerID", "Churn", None)


def test_init_says_what_it_cannot_find(tmp_path):
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")
    res = runner.invoke(app, ["init", str(tmp_path), "--out", str(tmp_path / "x.yaml")])
    assert res.exit_code == 2 and "no purchases file" in res.output
    res = runner.invoke(app, ["init", str(tmp_path / "notes.csv"), "--out", str(tmp_path / "x.yaml")])
    assert res.exit_code == 2 and "no label column" in res.output
