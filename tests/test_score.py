import dataclasses
import shutil
import threading
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import load_trained
from typer.testing import CliRunner

from churnlab.cli import app
from churnlab.events import save_events_dir
from churnlab.scoring import SchemaMismatchError, ScoringModel, risk_tiers, score_customers, write_scores
from cli_lines import output_lines

AS_OF = "2024-12-01"


@pytest.fixture(scope="module")
def scoring(trained):
    result, _ = trained
    return load_trained(result), result


@pytest.fixture(scope="module")
def events_dir(tmp_path_factory, demo_events):
    return save_events_dir(demo_events, tmp_path_factory.mktemp("events"))


def test_scores_match_the_model_and_reasons_are_present(scoring, demo_events):
    sm, result = scoring
    df = pd.concat(score_customers(sm, demo_events, AS_OF, chunk_size=1000))
    X = result.builder.transform(demo_events, AS_OF)
    # the population the model was trained on: bought, and within active_days=180
    expected = pd.Series("scored", index=X.index)
    expected[X["p_count_total"] == 0] = "no_purchase"
    expected[(X["p_count_total"] > 0) & (X["p_recency_days"] > 180)] = "inactive"
    assert list(df["status"]) == list(expected)
    assert {"scored", "inactive"} <= set(df["status"])
    scored = df["status"] == "scored"
    # the probability comes from the SHAP pass's margin through predict_proba's own sigmoid:
    # the same operations on the same bits, so bit for bit on any CPU
    np.testing.assert_array_equal(df.loc[scored, "churn_probability"].to_numpy(), result.model.churn_probability(X[scored.to_numpy()]))
    assert df.loc[~scored, "churn_probability"].isna().all()
    # a risk reason is a fact that raises risk against the typical customer: customers above
    # the base rate have one; some below it have none
    above = scored & df["risk_tier"].isin(["high", "medium"]).to_numpy(dtype=bool)
    assert df.loc[above, "reason_1"].notna().mean() > 0.95
    assert set(df.loc[scored, "risk_tier"]) == {"high", "medium", "low"}
    assert (df["horizon_days"] == 90).all() and (df["model_version"] == result.model_uri).all()


def test_chunked_equals_unchunked(scoring, demo_events):
    sm, _ = scoring
    a = pd.concat(score_customers(sm, demo_events, AS_OF, chunk_size=333)).reset_index(drop=True)
    b = pd.concat(score_customers(sm, demo_events, AS_OF, chunk_size=10**6)).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_top_share_tiers_use_one_cut_for_the_whole_list(scoring, demo_events):
    sm, _ = scoring
    a = pd.concat(score_customers(sm, demo_events, AS_OF, k=0, top_share=0.1, chunk_size=250)).reset_index(drop=True)
    b = pd.concat(score_customers(sm, demo_events, AS_OF, k=0, top_share=0.1, chunk_size=10**6)).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    scored = a[a["status"] == "scored"]
    cut = np.quantile(scored["churn_probability"], 0.9)  # independent: numpy on the final column
    assert (scored["risk_tier"] == "high").sum() == (scored["churn_probability"] >= cut).sum()
    assert abs((scored["risk_tier"] == "high").mean() - 0.1) < 0.01
    assert a.loc[a["status"] != "scored", "risk_tier"].isna().all()


def test_reasons_only_for_chosen_tiers(scoring, demo_events):
    sm, _ = scoring
    full = pd.concat(score_customers(sm, demo_events, AS_OF, k=3, chunk_size=700)).reset_index(drop=True)
    some = pd.concat(score_customers(sm, demo_events, AS_OF, k=3, chunk_size=700, reason_tiers={"high"})).reset_index(drop=True)
    reason_cols = [c for c in full.columns if c.startswith(("reason_", "driver_"))]
    other = [c for c in full.columns if c not in reason_cols]
    pd.testing.assert_frame_equal(some[other], full[other])  # probabilities, tiers, statuses unchanged
    high = full["risk_tier"].eq("high").fillna(False).to_numpy(bool)
    assert 0 < high.sum() < (full["status"] == "scored").sum()
    # the high tier gets exactly the reasons it gets when everyone is explained ...
    pd.testing.assert_frame_equal(some.loc[high, reason_cols], full.loc[high, reason_cols])
    # ... and nobody else gets any
    assert some.loc[~high, reason_cols].isna().all().all()
    assert full.loc[full["risk_tier"].eq("medium").fillna(False).to_numpy(bool), "reason_1"].notna().any()
    with pytest.raises(ValueError, match=r"`reason_tiers` must name risk tiers among \['high', 'low'\], got \['medium'\]"):
        next(score_customers(sm, demo_events, AS_OF, top_share=0.1, reason_tiers={"medium"}))


def test_risk_tiers():
    assert list(risk_tiers(np.array([0.9, 0.3, 0.1, np.nan]))) == ["high", "medium", "low", None]
    assert list(risk_tiers(np.array([0.9, 0.3]), {"high": 0.8})) == ["high", "low"]
    top = risk_tiers(np.arange(100) / 100, top_share=0.1)
    assert (top == "high").sum() == 10


@pytest.mark.parametrize(
    "thresholds,error,fragment",
    [
        ({"high": 1.5}, ValueError, "`thresholds`: high must be in (0, 1), got 1.5"),
        ({"high": 0.0}, ValueError, "high must be in (0, 1), got 0.0"),
        ({"high": 0.1, "medium": 0.6}, ValueError, "high (0.1) must be above medium (0.6)"),
        ({"high": 0.5, "medium": 0.5}, ValueError, "high (0.5) must be above medium (0.5)"),
        ({"critical": 0.9}, ValueError, "unknown risk tier 'critical'"),
        ({"high": "0.5"}, TypeError, "high must be a number in (0, 1), got '0.5'"),
        ({"high": np.float64(2.0)}, ValueError, "got 2.0"),  # shown as Python shows it, not np.float64(2.0)
        ({}, TypeError, "`thresholds` must be a dict"),
    ],
)
def test_bad_thresholds_are_refused(thresholds, error, fragment):
    with pytest.raises(error) as err:
        risk_tiers(np.array([0.5]), thresholds)
    assert fragment in str(err.value)


def test_listed_customers_without_history_are_reported(scoring, demo_events, tmp_path):
    sm, _ = scoring
    counts = write_scores(score_customers(sm, demo_events, AS_OF, customer_ids=[1, 2, 987654]), tmp_path / "s.csv")
    assert counts == {"scored": 2, "no_history": 1}
    out = pd.read_csv(tmp_path / "s.csv")
    assert list(out["customer_id"]) == [1, 2, 987654]
    assert out.loc[2, "status"] == "no_history" and np.isnan(out.loc[2, "churn_probability"])


def test_write_is_atomic_on_failure(scoring, demo_events, tmp_path):
    sm, _ = scoring

    def exploding():
        gen = score_customers(sm, demo_events, AS_OF, chunk_size=500)
        yield next(gen)
        raise KeyboardInterrupt  # as if Ctrl-C arrived mid-way

    with pytest.raises(KeyboardInterrupt):
        write_scores(exploding(), tmp_path / "scores.parquet")
    assert list(tmp_path.iterdir()) == []  # neither the output nor a temp file
    # the feature thread that was building chunks ahead has stopped with the run, and so has
    # the thread that wrote the first chunk
    assert not [t for t in threading.enumerate() if t.name.startswith(("churnlab-features", "churnlab-writer"))]


def test_a_failed_write_surfaces_and_leaves_no_file(scoring, demo_events, tmp_path):
    """Chunks are written on a thread of their own: its error (here: a later chunk that does
    not fit the file's schema) is raised by write_scores, and nothing is left behind."""
    import pyarrow as pa

    sm, _ = scoring
    first = next(score_customers(sm, demo_events, AS_OF, chunk_size=500))
    bad = first.assign(churn_probability="not a number")
    with pytest.raises(pa.ArrowInvalid):
        write_scores(iter([first, first, bad, first]), tmp_path / "scores.parquet")
    assert list(tmp_path.iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("churnlab-writer")]


def test_a_failing_chunk_stops_the_pipeline_and_writes_nothing(scoring, demo_events, tmp_path, monkeypatch):
    """Features are built ahead on a worker thread: its error surfaces as itself, the chunks
    after it are not built, and no output is left behind."""
    sm, _ = scoring
    built = []
    features = ScoringModel.features

    def failing(self, events, as_of, ids, *args, **kwargs):
        built.append(len(built))
        if len(built) == 2:
            raise ValueError("purchases.amount: bad value in chunk 2")
        return features(self, events, as_of, ids, *args, **kwargs)

    monkeypatch.setattr(ScoringModel, "features", failing)
    ids = demo_events.customers["customer_id"].iloc[:1200]
    with pytest.raises(ValueError, match="bad value in chunk 2"):
        write_scores(score_customers(sm, demo_events, AS_OF, ids, chunk_size=100), tmp_path / "scores.parquet")
    assert list(tmp_path.iterdir()) == []
    assert len(built) < 12  # the 12 chunks were not all built
    assert not [t for t in threading.enumerate() if t.name.startswith("churnlab-features")]


def test_schema_mismatch_names_features(scoring, demo_events):
    sm, _ = scoring
    bad_meta = dict(sm.metadata)
    bad_meta["feature_builder"] = {**sm.metadata["feature_builder"], "feature_names": sm.builder.feature_names_[:-2]}
    with pytest.raises(SchemaMismatchError, match="missing from the builder"):
        ScoringModel(sm.model, bad_meta)
    from churnlab.events import EventTables

    no_support = EventTables(purchases=demo_events.purchases, surveys=demo_events.surveys, customers=demo_events.customers)
    with pytest.raises(SchemaMismatchError, match=r"table\(s\) \['support'\].*s_count_total"):
        next(score_customers(sm, no_support, AS_OF))


# ---- CLI --------------------------------------------------------------------------------

runner = CliRunner()


def _score_cli(trained, events_dir, out, *extra):
    result, _ = trained
    return runner.invoke(
        app,
        ["score", "--model", result.model_uri, "--tracking-uri", result.tracking_uri, "--events", str(events_dir), "--as-of", AS_OF, "--out", str(out), *extra],
    )


def test_cli_score_writes_parquet(trained, events_dir, tmp_path):
    res = _score_cli(trained, events_dir, tmp_path / "scores.parquet", "--top-k", "3")
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(tmp_path / "scores.parquet")
    assert len(df) == 2500 and "reason_3" in df.columns and "reason_4" not in df.columns


@pytest.mark.parametrize(
    "change,code,fragment",
    [
        ({"--model": "runs:/0000000000/model"}, 3, "model not found"),
        ({"--model": "TWO_MODELS"}, 3, "holds more than one model"),
        ({"--as-of": "31/31/2024"}, 2, "`--as-of` must be a date"),
        ({"--as-of": "1990-01-01"}, 2, "--as-of 1990-01-01 is not after the first event (2023-01-01"),
        ({"--customers": "EMPTY"}, 2, "holds no customer id"),
        ({"--customers": "MISSING"}, 2, "--customers: file not found"),
        ({"--customers": "FRACTION"}, 2, "customer_id must be written as integers like the events' ids, got '2.5' at row 1"),
        ({"--customers": "TEXT"}, 2, "customer_id must be written as integers like the events' ids, got 'abc' at row 1"),
        ({"--events": "MISSING"}, 2, "--events: not found"),
        ({"--events": "NO_PURCHASES"}, 2, "purchases: no purchases.parquet or purchases.csv in"),
        ({"--events": "BOTH_FORMATS"}, 2, "purchases: both purchases.parquet and purchases.csv in"),
        ({"--events": "UNREADABLE"}, 2, "purchases: cannot read"),
        ({"--out": "scores.xlsx"}, 2, "must end in .parquet or .csv"),
        ({"--out": "FOLDER"}, 2, "is a folder"),
        ({"--out": "no-such-folder/scores.parquet"}, 2, "the output folder does not exist"),
        ({"--high": "0.1", "--medium": "0.6"}, 2, "--high (0.1) must be above --medium (0.6)"),
        ({"--high": "1.5", "--medium": "0.2"}, 2, "--high must be in (0, 1), got 1.5"),
        ({"--high": "0.5"}, 2, "give --high and --medium together (or neither: the model's tiers)"),
        ({"--reasons-for": "urgent"}, 2, "`reason_tiers` must name risk tiers among ['high', 'low', 'medium'], got ['urgent']"),
    ],
)
def test_cli_score_bad_inputs_leave_no_output(trained, events_dir, tmp_path, change, code, fragment):
    result, _ = trained
    work = tmp_path / "work"
    work.mkdir()
    args = {"--model": result.model_uri, "--events": str(events_dir), "--as-of": AS_OF, "--out": str(work / "scores.parquet")}
    for k, v in change.items():
        if v in ("EMPTY", "FRACTION", "TEXT"):
            (tmp_path / "list.csv").write_text({"EMPTY": "customer_id\n", "FRACTION": "customer_id\n1\n2.5\n", "TEXT": "customer_id\n1\nabc\n"}[v])
            v = str(tmp_path / "list.csv")
        elif v == "MISSING":
            v = str(tmp_path / "no-such-folder")
        elif v in ("UNREADABLE", "NO_PURCHASES", "BOTH_FORMATS"):
            bad = tmp_path / "bad"
            bad.mkdir()
            if v == "UNREADABLE":
                (bad / "purchases.parquet").write_text("not parquet")
            elif v == "NO_PURCHASES":
                (bad / "support.csv").write_text("customer_id\n")
            else:
                shutil.copy(events_dir / "purchases.parquet", bad / "purchases.parquet")
                (bad / "purchases.csv").write_text("customer_id,ts,amount\n1,2024-01-01,5\n")
            v = str(bad)
        elif v == "TWO_MODELS":
            local = Path(mlflow.artifacts.download_artifacts(result.model_uri, tracking_uri=result.tracking_uri))
            shutil.copytree(local, tmp_path / "two" / "a")
            shutil.copytree(local, tmp_path / "two" / "b")
            v = str(tmp_path / "two")
        elif v == "FOLDER":
            v = str(work)
        elif k == "--out":
            v = str(work / v)
        args[k] = v
    flat = [x for kv in args.items() for x in kv]
    res = runner.invoke(app, ["score", "--tracking-uri", result.tracking_uri, *flat])
    assert res.exit_code == code, res.output
    assert fragment in res.output
    errors = output_lines(res.output)
    assert len(errors) == 1 and errors[0].startswith("error: "), res.output  # one line, nothing else
    assert list(work.iterdir()) == []


def test_cli_help_on_every_command():
    for cmd in ([], ["train"], ["demo"], ["score"], ["report"], ["version"]):
        res = runner.invoke(app, [*cmd, "--help"])
        assert res.exit_code == 0 and "Usage" in res.output


def test_columns_keep_their_types_when_a_chunk_has_nobody_scored(scoring, demo_events, tmp_path):
    """The first chunk fixes the file's schema: all-empty reason and probability columns must
    still be string and float columns there, not nulls."""
    sm, _ = scoring
    ids = [987_654, 987_655, 1, 2]  # the first chunk of two has no history at all
    out = tmp_path / "s.parquet"
    assert write_scores(score_customers(sm, demo_events, AS_OF, ids, chunk_size=2), out) == {"no_history": 2, "scored": 2}
    schema = pq.read_schema(out)
    assert schema.field("churn_probability").type == pa.float64()
    assert schema.field("as_of").type == pa.timestamp("us")
    for col in ("risk_tier", "reason_1", "driver_5", "status", "model_version"):
        assert pa.types.is_string(schema.field(col).type) or pa.types.is_large_string(schema.field(col).type), col
    df = pd.read_parquet(out)
    assert df["reason_1"].isna().tolist() == [True, True, False, False]


def test_prefetch_keeps_order_stays_within_depth_and_surfaces_errors():
    """Items come back in order, at most ``depth`` are computed ahead of the one being
    consumed, an error surfaces at its own item, and leaving early starts nothing more."""
    import time

    from churnlab.scoring import prefetch

    started: list[int] = []

    def slow_square(x):
        started.append(x)
        time.sleep(0.01)
        if x == 7:
            raise KeyError("item 7")
        return x * x

    with prefetch(slow_square, range(7), depth=2) as squares:
        got = []
        for value in squares:
            got.append(value)
            time.sleep(0.05)  # a slow consumer: the worker runs ahead, but no further than 2
            assert len(started) <= len(got) + 2
    assert got == [x * x for x in range(7)]

    started.clear()
    with pytest.raises(KeyError, match="item 7"):
        with prefetch(slow_square, range(5, 20), depth=2) as squares:
            for value in squares:
                pass
    assert max(started) <= 7 + 2  # nothing started beyond depth once the error was raised

    started.clear()
    with prefetch(slow_square, range(100), depth=3) as squares:
        next(squares)
    time.sleep(0.1)
    assert len(started) <= 1 + 3  # left early: what was not started never starts
    with prefetch(slow_square, [2, 3], depth=0) as squares:  # depth 0: on the caller's thread
        assert list(squares) == [4, 9]
    with pytest.raises(ValueError, match="`depth` must be an integer >= 0, got -1"):
        with prefetch(slow_square, [1], depth=-1):
            pass


def test_scoring_builds_features_on_one_worker_and_scores_on_the_caller(scoring, demo_events, monkeypatch):
    """Chunks' features come from the prefetch thread, probabilities and reasons from the
    caller's thread; the output is the same bytes as one chunk."""
    import churnlab.scoring.pipeline as pipeline

    sm, _ = scoring
    expected = pd.concat(score_customers(sm, demo_events, AS_OF, chunk_size=10**6)).reset_index(drop=True)
    where = {"features": set(), "scores": set()}
    features, predict = type(sm).features, pipeline._predict

    def traced_features(self, *args, **kwargs):
        where["features"].add(threading.current_thread().name)
        return features(self, *args, **kwargs)

    def traced_predict(*args, **kwargs):
        where["scores"].add(threading.current_thread().name)
        return predict(*args, **kwargs)

    monkeypatch.setattr(type(sm), "features", traced_features)
    monkeypatch.setattr(pipeline, "_predict", traced_predict)
    got = pd.concat(score_customers(sm, demo_events, AS_OF, chunk_size=400)).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)
    assert len(where["features"]) == 1 and next(iter(where["features"])).startswith("churnlab-prefetch")
    assert where["scores"] == {threading.main_thread().name}


@pytest.mark.parametrize("storage", ["pyarrow", "python"])
def test_coded_text_columns_read_as_their_texts(storage):
    """Reason and driver columns travel as codes into their distinct texts and become string
    columns with one take: the same column as the texts themselves, missing where -1."""
    from churnlab.scoring.output import Coded, text_column

    texts = np.array(["no purchase for 3 days", "tier: gold", "last NPS 2 (detractor)"], dtype=object)
    codes = np.array([2, -1, 0, 0, 1, -1])
    with pd.option_context("mode.string_storage", storage):
        got = pd.Series(text_column(Coded(texts, codes)))
        expected = pd.Series(pd.array([texts[c] if c >= 0 else None for c in codes], dtype=pd.StringDtype()))
        pd.testing.assert_series_equal(got, expected)
        assert got.dtype.storage == storage
        empty = pd.Series(text_column(Coded(np.array([], dtype=object), np.full(3, -1))))
        assert empty.isna().all() and empty.dtype == pd.StringDtype()


def test_the_logged_model_brings_its_training_patterns_and_scores_the_same(trained, demo_events, tmp_path):
    """The MLflow model carries the SHAP values of its training rows' patterns: loaded, it
    starts with them cached, and the scores file is byte for byte the one an empty cache
    writes."""
    result, _ = trained
    shipped = ScoringModel.load(result.model_uri)
    assert shipped.model._engine().cached_patterns == result.model._treeshap.cached_patterns > 0
    empty = ScoringModel.load(result.model_uri)
    empty.model._patterns_file = None
    assert empty.model._engine().cached_patterns == 0
    for name, sm in (("shipped", shipped), ("empty", empty)):
        sm.version = "v"  # the model URI is the same; the files must be too
        write_scores(score_customers(sm, demo_events, AS_OF, chunk_size=700), tmp_path / f"{name}.parquet")
    assert (tmp_path / "shipped.parquet").read_bytes() == (tmp_path / "empty.parquet").read_bytes()


def with_cancellations(events, ids, as_of=AS_OF):
    """The events with ``customers.cancel_ts``: the first half of ``ids`` cancelled 10 days
    before ``as_of``, one exactly at it (not before: still scored), the rest never."""
    t = pd.Timestamp(as_of)
    cancel = pd.Series(pd.NaT, index=events.customers["customer_id"], dtype="datetime64[us]")
    half = ids[: len(ids) // 2]
    cancel[half] = t - pd.Timedelta(days=10)
    cancel[ids[-1]] = t
    return dataclasses.replace(events, customers=events.customers.assign(cancel_ts=cancel.to_numpy())), list(half)


def test_customers_cancelled_before_as_of_are_not_scored(scoring, demo_events):
    sm, result = scoring
    X = result.builder.transform(demo_events, AS_OF)
    scored_before = pd.concat(score_customers(sm, demo_events, AS_OF, k=0)).set_index("customer_id")
    active = scored_before.index[scored_before["status"] == "scored"][:40].tolist()
    events, gone = with_cancellations(demo_events, active)
    for chunk_size in (7, 10**6):
        out = pd.concat(score_customers(sm, events, AS_OF, k=2, chunk_size=chunk_size)).set_index("customer_id")
        assert (out.loc[gone, "status"] == "cancelled").all()
        assert out.loc[gone, "churn_probability"].isna().all() and out.loc[gone, "reason_1"].isna().all()
        assert out.loc[active[-1], "status"] == "scored"  # cancel_ts == as_of: still a customer at as_of
        others = out.index.difference(gone)
        pd.testing.assert_series_equal(out.loc[others, "status"], scored_before.loc[others, "status"])
    assert len(X) == len(out)
    # a listed customer with no history who cancelled is reported as cancelled too
    listed = pd.concat(score_customers(sm, events, AS_OF, customer_ids=[gone[0], 987654], k=0))
    assert list(listed["status"]) == ["cancelled", "no_history"]


def test_score_customers_checks_its_arguments_when_called(scoring, demo_events):
    sm, _ = scoring
    with pytest.raises(TypeError, match="`model` must be a ScoringModel"):
        score_customers(pd.DataFrame(), demo_events, AS_OF)  # no next() needed
    with pytest.raises(TypeError, match="`events` must be EventTables"):
        score_customers(sm, demo_events.purchases, AS_OF)
    with pytest.raises(TypeError, match="`k` must be an integer, got '5'"):
        score_customers(sm, demo_events, AS_OF, k="5")
    with pytest.raises(ValueError, match=r"`as_of` 2020-01-01 00:00:00 is not after the first event \(2023-01-01"):
        score_customers(sm, demo_events, "2020-01-01")
    with pytest.raises(ValueError, match="high .0.1. must be above medium .0.6."):
        score_customers(sm, demo_events, AS_OF, thresholds={"high": 0.1, "medium": 0.6})
    with pytest.raises(ValueError, match="`top_share` must be in"):
        score_customers(sm, demo_events, AS_OF, top_share=1.5)


@pytest.mark.parametrize(
    "ids,fragment",
    [
        ([1, 2.5], "got 2.5"),
        ([1, True], "got True"),
        ([False], "got False"),
        (["1", "abc"], "got 'abc'"),
        (["1", "2.0"], "got '2.0'"),
        ([1, None], "missing id at position 1"),
        ([], "the customer list is empty"),
    ],
)
def test_customer_lists_must_hold_integral_ids(scoring, demo_events, ids, fragment):
    sm, _ = scoring
    with pytest.raises(ValueError) as err:
        score_customers(sm, demo_events, AS_OF, customer_ids=ids)
    assert fragment in str(err.value)


def test_integral_ids_in_any_form_score_the_same_customers(scoring, demo_events):
    sm, _ = scoring
    as_int = pd.concat(score_customers(sm, demo_events, AS_OF, customer_ids=[3, 1, 2], k=0))
    for form in ([3.0, 1.0, 2.0], ["3", "1", "2"], np.array([3, 1, 2], dtype=np.int32)):
        pd.testing.assert_frame_equal(pd.concat(score_customers(sm, demo_events, AS_OF, customer_ids=form, k=0)), as_int)


@pytest.mark.parametrize("base_rate", [0.02, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9])
def test_default_tiers_follow_the_base_rate_and_never_degenerate(base_rate):
    """Calibrated probabilities around a base rate from 2% to 90%: the model's default tiers
    are read against it (low at or below it, high from twice it, or midway to 1), never one
    tier for all."""
    from churnlab.scoring.tiers import base_rate_thresholds

    rng = np.random.default_rng(0)
    a = 2.0
    draw = lambda n: rng.beta(a, a * (1 - base_rate) / base_rate, n)  # noqa: E731  mean = base_rate
    cuts = base_rate_thresholds(draw(5000), base_rate)
    assert 0 < cuts["medium"] < cuts["high"] < 1
    p = draw(20000)
    t = risk_tiers(p, cuts)
    tiers = pd.Series(t).value_counts(normalize=True)
    assert set(tiers.index) == {"high", "medium", "low"} and tiers.min() >= 0.02
    assert (p[t == "low"] < base_rate).all() and (p[t != "low"] >= base_rate).all()
    assert (t[p >= min(2 * base_rate, (1 + base_rate) / 2)] == "high").all()
    # the fixed 0.5 / 0.2 cuts put a 2% business all in "low": what this replaces
    if base_rate == 0.02:
        fixed = pd.Series(risk_tiers(draw(2000), {"high": 0.5, "medium": 0.2})).value_counts(normalize=True)
        assert fixed.get("low", 0.0) > 0.99


def test_the_model_carries_its_tiers_and_scoring_uses_them(scoring, demo_events):
    sm, result = scoring
    cuts = sm.metadata["risk_tiers"]
    assert cuts == result.risk_tiers and sm.thresholds == cuts and 0 < cuts["medium"] < cuts["high"] < 1
    base = float(result.training_set.frame.loc[result.training_set.frame["cutoff"].isin(result.split["train"]), "churned"].mean())
    assert cuts["high"] <= 3 * base + 1e-12
    df = pd.concat(score_customers(sm, demo_events, AS_OF, k=0))
    scored = df[df["status"] == "scored"]
    expected = np.where(scored["churn_probability"] >= cuts["high"], "high",
                        np.where(scored["churn_probability"] >= cuts["medium"], "medium", "low"))
    assert list(scored["risk_tier"]) == list(expected)
