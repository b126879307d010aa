"""Training on a customer table that holds its own churn label (``data.source: table``).

The split is by time when the table has a snapshot-time column: the latest snapshot dates
(``split.test_size`` of them) are the test period, the ones before (``validation_size``)
validation, the rest training. Without a time column the rows are split at random,
stratified by the label and seeded (``split.seed``), and the run says so.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from churnlab.config import DataConfig, TrainConfig
from churnlab.events import EventValidationError, read_table
from churnlab.events.contract import snapshot_times
from churnlab.features.snapshots import TrainingSet
from churnlab.features.table import TableFeatures
from churnlab.models import compare_models
from churnlab.models.baselines import PriorRate
from churnlab.models.leakage import check_leakage, holdout_leakage_notes, resolve_allowed
from churnlab.workflows.compare import (driver_groups, make_candidates, refit_models, reliability_tables, select_model, shipped_notes,
                                        validation_probability)
from churnlab.scoring.tiers import base_rate_thresholds

__all__ = ["fit_table", "load_table", "split_table", "table_fingerprint"]


def load_table(data: DataConfig) -> pd.DataFrame:
    """The table a ``data.source: table`` config points at, with one row per id (and time);
    without ``data.id``, rows are told apart by their row number."""
    df = read_table(data.path, "table", id_column=data.id)
    keys = [c for c in (data.id, data.time) if c]
    missing = [c for c in [*keys, data.label] if c not in df.columns]
    if missing:
        raise EventValidationError(f"table {data.path.name}: missing column(s) {missing} (config data.id/data.label/data.time); got {list(df.columns)}")
    unknown = [c for c in data.exclude if c not in df.columns]
    if unknown:
        raise EventValidationError(f"data.exclude: no column(s) {unknown} in table {data.path.name}; its columns are {list(df.columns)}")
    if data.time:
        fmt = data.date_format if isinstance(data.date_format, str) else None
        df = df.assign(**{data.time: snapshot_times(df[data.time], data.time, fmt)})
    dup = df.duplicated(keys).to_numpy() if data.id else np.zeros(len(df), dtype=bool)
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        per = f"{data.id} and {data.time}" if data.time else data.id
        raise EventValidationError(f"table.{data.id}: duplicated {per}; first at row {row}: {df[data.id].iloc[row]!r}")
    return df


def table_fingerprint(df: pd.DataFrame) -> dict:
    """Rows, columns and a content hash, for run tracking."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes()).hexdigest()
    return {"table_rows": int(len(df)), "table_columns": int(df.shape[1]), "sha256": digest}


def split_table(df: pd.DataFrame, y: np.ndarray, time: str | None, test_size: float, validation_size: float, seed: int):
    """Row positions of the train / validation / test parts and a description of the split."""
    if time:
        dates = np.sort(df[time].unique())
        if len(dates) < 3:
            raise ValueError(f"table.{time}: {len(dates)} distinct snapshot date(s); a split by time needs at least 3")
        n_test = max(1, int(round(len(dates) * test_size)))
        n_val = max(1, int(round(len(dates) * validation_size)))
        if n_test + n_val >= len(dates):
            n_test, n_val = 1, 1
        test_from, val_from = dates[-n_test], dates[-n_test - n_val]
        t = df[time].to_numpy()
        parts = {"train": np.flatnonzero(t < val_from), "validation": np.flatnonzero((t >= val_from) & (t < test_from)),
                 "test": np.flatnonzero(t >= test_from)}
        how = f"by time: test from {pd.Timestamp(test_from).date()}, validation from {pd.Timestamp(val_from).date()}"
    else:
        rows = np.arange(len(df))
        rest, test = train_test_split(rows, test_size=test_size, stratify=y, random_state=seed)
        train, val = train_test_split(rest, test_size=validation_size / (1 - test_size), stratify=y[rest], random_state=seed)
        parts = {"train": np.sort(train), "validation": np.sort(val), "test": np.sort(test)}
        how = f"random, stratified by the label, seed {seed} (the table has no time column)"
    for name, at in parts.items():
        if len(at) == 0 or len(np.unique(y[at])) < 2:
            raise ValueError(f"the {name} part of the table has no rows or a single class ({how})")
    return parts, how


def fit_table(cfg: TrainConfig, df: pd.DataFrame, *, progress=None):
    """Fit the candidate models and the prior rate on the split of ``df``, select one on validation; return a TrainResult."""
    from churnlab.workflows.training import TrainResult, holdout_notes, selection_notes, selection_options

    d, s, m = cfg.data, cfg.split, cfg.model
    features = TableFeatures(d.id, d.label, d.time, table=d.path.name if d.path else "table", exclude=d.exclude,
                             date_format=d.date_format if isinstance(d.date_format, str) else None)
    y_all = features.labels(df, positive=d.positive)
    parts, how = split_table(df, y_all, d.time, s.test_size, s.validation_size, s.seed)
    features.fit(df.iloc[parts["train"]], kinds_from=df)  # column kinds from the whole file; levels from training
    X = {k: features.transform(df.iloc[at]) for k, at in parts.items()}
    y = {k: y_all[at] for k, at in parts.items()}
    groups = driver_groups(features)
    shown = dict(features.columns_)  # feature -> the table's column as written
    leak_notes = check_leakage(X["train"], y["train"], X["validation"], y["validation"], shown=shown, allow=cfg.allow_leaky,
                               remedy="leave {it} out (data.exclude)")
    sel = select_model(make_candidates(m, cfg.seed, list(X["train"].columns)), X["train"], y["train"], X["validation"], y["validation"],
                       groups=groups, progress=progress, **selection_options(cfg))
    leak_notes += holdout_leakage_notes(X["train"], y["train"], X["test"], y["test"], float(sel.validation.loc[sel.selected, "roc_auc"]),
                                        shown=shown, skip=resolve_allowed(cfg.allow_leaky, shown))
    if m.refit:  # on train + validation with what validation chose; LightGBM keeps the calibration fitted on validation
        refit_models(sel, pd.concat([X["train"], X["validation"]]), np.concatenate([y["train"], y["validation"]]))
    model = sel.model
    scores = {name: candidate.churn_probability(X["test"]) for name, candidate in sel.models.items()}
    scores["prior_rate"] = PriorRate().fit_xy(X["train"], y["train"]).churn_probability_x(X["test"])
    evaluation = compare_models(y["test"], scores)
    p_val = validation_probability(sel, sel.selected, X["validation"])
    reliability = reliability_tables(y["validation"], p_val, y["test"], scores[sel.selected])
    n_refit = len(parts["train"]) + len(parts["validation"])
    ship_notes = shipped_notes(sel, reliability, refit=f"{n_refit:,} rows" if m.refit else None,
                               calibrated_on=f"{m.calibration} on the validation rows")
    tiers = base_rate_thresholds(p_val, float(np.mean(y["train"])))
    if m.explanation_cache_mb > 0:
        model.cache_explanations(X["train"], m.explanation_cache_mb)
    frames = []
    for k, at in parts.items():
        part = X[k].reset_index().assign(churned=y[k], part=k)
        if d.time:
            part["cutoff"] = df[d.time].to_numpy()[at]
        frames.append(part)
    frame = pd.concat(frames, ignore_index=True)
    definition = {"rule": "table", "label_column": d.label, "split": how}
    if d.positive is not None:  # the value that means churned, for whoever reads the label again
        definition["positive"] = d.positive
    ts = TrainingSet(frame, pd.DataFrame(columns=["customer_id", "reason"]), features, definition)
    test_scores = pd.DataFrame({"customer_id": X["test"].index, "churned": y["test"], **scores})
    split = {k: [f"{len(at)} rows"] for k, at in parts.items()}
    return TrainResult(model, features, ts, split, evaluation, test_scores, test_features=X["test"],
                       notes=[f"split: {how}", *features.notes_, *leak_notes, *selection_notes(sel), *ship_notes,
                              *holdout_notes(y["test"], scores, sel.selected, sel.select_by, cfg.seed)],
                       risk_tiers=tiers, selected=sel.selected,
                       validation=sel.validation, search=sel.search, screening=sel.screening, reliability=reliability)
