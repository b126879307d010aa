"""Training configuration: YAML validated by pydantic. Unknown keys and bad values are
rejected with the key named, e.g. ``model.imbalance: Input should be 'balanced' or 'none'``.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Discriminator, Field, Tag, ValidationError, field_serializer, field_validator, model_validator
from pydantic_core import PydanticCustomError

from churnlab.strict import SHOWN, StrictModel, clip, show
from churnlab.yamlfile import load_yaml, yaml_problem
from churnlab.features import FeatureConfig
from churnlab.features.snapshots import count_cutoffs, make_cutoffs

# a YAML file larger than this is refused unread (churnlab.yamlfile bounds what its aliases expand to)
MAX_YAML_BYTES = 1 << 20

__all__ = ["TrainConfig", "ConfigError", "load_config"]


class ConfigError(ValueError):
    """A configuration file or value that cannot be used; the message names the key.

    ``problems`` holds one message per bad key; the message joins them, one per line.
    """

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems) if problems else [str(message)]


class _Strict(StrictModel):
    """Unknown keys, ``.inf``/``.nan``, booleans for numbers and numbers for dates refused."""


class DataConfig(_Strict):
    source: Literal["files", "table", "sql", "demo", "demo_subscriptions", "cdnow"] = "files"
    url: str | None = Field(
        None, repr=False, description="sql: a SQLAlchemy URL (postgresql+psycopg://user@host:5432/db, duckdb:///shop.duckdb, "
        "sqlite:///shop.db); a password in it is shown and stored as ***",
    )
    password_env: str | None = Field(None, description="sql: the environment variable that holds the database password")
    tables: dict[Literal["purchases", "support", "surveys", "subscriptions", "activity", "customers"], str] = Field(
        {}, description="sql: per table, a table or view name (schema.table) or a SELECT/WITH query",
    )
    path: Path | None = Field(
        None, description="files: folder of purchases/support/surveys/subscriptions/activity/customers .parquet|.csv; table: the file"
    )
    id: str | None = Field(None, description="table: the customer id column; none: rows are identified by their row number")
    label: str | None = Field(None, description="table: the churn label column (1/0, true/false, yes/no)")
    positive: str | None = Field(
        None, description="table: the label value that means churned (e.g. 'Attrited Customer'); the one other value means stayed"
    )
    time: str | None = Field(None, description="table: the snapshot-date column (split by time); none: a seeded stratified split")
    exclude: list[str] = Field([], description="table: columns left out of the features (not the id, label or time column)")
    purchases: Path | None = None
    subscriptions: Path | None = None
    activity: Path | None = None
    support: Path | None = None
    surveys: Path | None = None
    customers: Path | None = None
    mapping: dict[Literal["purchases", "support", "surveys", "subscriptions", "activity", "customers"], dict[str, str]] = {}
    on_duplicates: Literal["raise", "drop", "keep"] = "raise"
    timestamp_unit: str | dict[str, str] | None = Field(
        None, description="unit of numeric (epoch) timestamps (D, h, m, s, ms, us, ns), for all tables or per table"
    )
    time_range: tuple[dt.date, dt.date] | None = Field(None, description="accepted timestamps; default 1900-01-01 to 2200-01-01")
    date_format: str | dict[str, str] | None = Field(
        None, description="strftime format of text timestamps (e.g. '%d/%m/%Y'), for all tables or per table; default: ISO 8601 only"
    )
    observed_until: dt.date | None = Field(
        None, description="the date the data is complete to (label windows must end by the day after); "
        "default: the last event of the table the label rule reads (purchases, subscriptions or customers)",
    )
    demo_customers: int = Field(3000, gt=0)
    demo_seed: int = 0

    @field_validator("timestamp_unit")
    @classmethod
    def _units(cls, value):
        from churnlab.events import TABLE_SCHEMAS, TIMESTAMP_UNITS

        for table, unit in (value.items() if isinstance(value, dict) else [(None, value)] if value is not None else []):
            if table is not None and table not in TABLE_SCHEMAS:
                raise ValueError(f"unknown table {table!r}; tables are {sorted(TABLE_SCHEMAS)}")
            if unit not in TIMESTAMP_UNITS:
                raise ValueError(f"unit must be one of {list(TIMESTAMP_UNITS)}, got {unit!r}")
        return value

    @field_validator("date_format")
    @classmethod
    def _formats(cls, value):
        from churnlab.events import TABLE_SCHEMAS
        from churnlab.events.dates import check_date_format

        for table, fmt in (value.items() if isinstance(value, dict) else [(None, value)]):
            if table is not None and table not in TABLE_SCHEMAS:
                raise ValueError(f"unknown table {table!r}; tables are {sorted(TABLE_SCHEMAS)}")
            check_date_format(fmt, "date_format")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value):
        from churnlab.events.sql import check_url

        try:
            return None if value is None else check_url(value)
        except ValueError as exc:  # the URL may hold a password: never echoed
            raise PydanticCustomError(SHOWN, str(exc)) from None

    @field_serializer("url")
    def _hide_password(self, value):
        from churnlab.events.sql import redact_url

        return None if value is None else redact_url(value)

    @model_validator(mode="after")
    def _where(self) -> "DataConfig":
        sql = {k: getattr(self, k) for k in ("url", "password_env") if getattr(self, k) is not None} | (
            {"tables": self.tables} if self.tables else {})
        if self.source == "sql":
            if self.url is None:
                raise ValueError("data.source 'sql' needs data.url (a SQLAlchemy URL) and data.tables")
            if not {"purchases", "subscriptions", "activity"} & set(self.tables):
                raise ValueError("data.source 'sql' needs data.tables.purchases (or subscriptions, activity): "
                                 "a table or view name, or a SELECT query")
            files = [k for k in ("path", "purchases", "support", "surveys", "subscriptions", "activity", "customers")
                     if getattr(self, k) is not None]
            if files:
                raise ValueError(f"data.{files[0]} is for files; with data.source 'sql' the tables are data.tables")
        elif sql:
            raise ValueError(f"data.{next(iter(sql))} is for data.source 'sql'")
        if self.source == "files" and self.path is None and self.purchases is None and self.subscriptions is None and self.activity is None:
            raise ValueError("data.source 'files' needs data.path (a folder) or data.purchases (or data.subscriptions, data.activity: files)")
        if self.source == "table":
            missing = [k for k in ("path", "label") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"data.source 'table' needs data.{', data.'.join(missing)}")
            for key in ("id", "label", "time"):
                if getattr(self, key) is not None and getattr(self, key) in self.exclude:
                    raise ValueError(f"data.exclude: {getattr(self, key)!r} is the {key} column (data.{key}); it cannot be excluded")
            twice = sorted({c for c in self.exclude if self.exclude.count(c) > 1})
            if twice:
                raise ValueError(f"data.exclude: {twice[0]!r} is listed twice")
        elif any(getattr(self, k) is not None for k in ("id", "label", "time")):
            raise ValueError("data.id, data.label and data.time are for data.source 'table'")
        elif self.positive is not None:
            raise ValueError(f"data.positive is for data.source 'table', got {self.positive!r}")
        elif self.exclude:
            raise ValueError(f"data.exclude is for data.source 'table', got {self.exclude}")
        return self


class CutoffConfig(_Strict):
    dates: list[dt.date] | None = Field(None, min_length=1)
    start: dt.date | None = None
    end: dt.date | None = None
    freq: str = "MS"
    train_every_days: int | None = Field(
        None, gt=0, description="also snapshot the training period every this many days (e.g. 7 or 14): "
        "more training rows when the cutoffs are few; validation and test cutoffs stay as configured",
    )
    max_cutoffs: int = Field(
        100, gt=0, description="most snapshot dates one run builds (the cutoffs and those train_every_days adds); "
        "more are refused before any work",
    )

    @field_validator("dates")
    @classmethod
    def _distinct(cls, dates: list[dt.date] | None) -> list[dt.date] | None:
        seen: set[dt.date] = set()
        for d in dates or []:
            if d in seen:
                raise PydanticCustomError(SHOWN, "{date} is listed twice", {"date": d.isoformat()})
            seen.add(d)
        return dates

    @field_validator("freq")
    @classmethod
    def _forward(cls, freq: str) -> str:
        from pandas.tseries.frequencies import to_offset

        try:
            steps = to_offset(freq).n
        except (TypeError, ValueError):
            raise PydanticCustomError(SHOWN, "not a pandas frequency (e.g. MS, W, 14D), got {got}", {"got": show(freq)}) from None
        if steps <= 0:
            raise PydanticCustomError(SHOWN, "must step forward in time (e.g. MS, W, 14D), got {got}", {"got": show(freq)})
        return freq

    @model_validator(mode="after")
    def _one_way(self) -> "CutoffConfig":
        if self.dates is None and (self.start is None or self.end is None):
            raise ValueError("give cutoffs.dates, or both cutoffs.start and cutoffs.end")
        if self.dates is not None and (self.start is not None or self.end is not None):
            raise ValueError("give cutoffs.dates or cutoffs.start/end, not both")
        bound = f"more than max_cutoffs ({self.max_cutoffs})"
        if self.dates is not None:
            if len(self.dates) > self.max_cutoffs:
                raise ValueError(f"dates lists {len(self.dates):,} dates, {bound}: raise cutoffs.max_cutoffs")
            return self
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        n, exact = count_cutoffs(self.start, self.end, self.freq, exact_up_to=self.max_cutoffs)
        span = f"freq {self.freq!r} from {self.start} to {self.end}"
        if n == 0:
            raise ValueError(f"{span} makes no cutoff")
        if n > self.max_cutoffs:
            raise ValueError(
                f"{span} makes {'' if exact else 'about '}{n:,} cutoffs, {bound}: "
                "use a coarser cutoffs.freq or raise cutoffs.max_cutoffs"
            )
        return self

    def resolve(self):
        import pandas as pd

        if self.dates is not None:
            return sorted(pd.Timestamp(d) for d in self.dates)
        return make_cutoffs(self.start, self.end, self.freq, max_cutoffs=self.max_cutoffs)


class SplitConfig(_Strict):
    """How a labelled table is split (event data is split by its cutoffs instead)."""

    test_size: float = Field(0.2, gt=0, lt=1, description="share of rows (or of the latest snapshot dates) for test")
    validation_size: float = Field(0.2, gt=0, lt=1, description="share for validation, before test")
    seed: int = Field(0, description="seed of the stratified split of a table without a time column")

    @model_validator(mode="after")
    def _room(self) -> "SplitConfig":
        if self.test_size + self.validation_size >= 1:
            raise ValueError(f"split.test_size + split.validation_size must be < 1, got {self.test_size + self.validation_size:g}")
        return self


class LabelConfig(_Strict):
    rule: Literal["fixed", "adaptive", "contractual"] = "fixed"
    horizon_days: int = Field(90, gt=0)
    k: float = Field(3.0, gt=0)
    min_window_days: float | None = Field(None, gt=0)
    single_purchase: Literal["floor", "exclude"] = "floor"
    active_days: int | None = Field(365, gt=0)


class SearchConfig(_Strict):
    """LightGBM's hyperparameter search on the validation period (Optuna's seeded TPE sampler)."""

    trials: int = Field(0, ge=0, description="parameter sets tried besides `params` (0: no search)")
    timeout_s: float | None = Field(
        None, gt=0, description="stop starting trials after this many seconds; results then depend on the machine's speed"
    )


class ModelConfig(_Strict):
    candidates: list[Literal["lightgbm", "logistic_regression", "rfm_logistic"]] = Field(
        ["lightgbm", "logistic_regression", "rfm_logistic"], min_length=1,
        description="models fitted on the training period; one is selected on validation by `select_by` "
        "and `select_rule` and shipped (rfm_logistic only with purchases)",
    )
    select_by: Literal["pr_auc", "roc_auc", "neg_log_loss", "neg_brier"] = "pr_auc"
    select_rule: Literal["one_se", "best"] = Field(
        "one_se", description="one_se: the simplest candidate within one bootstrap standard error of the best; best: the best"
    )
    search: SearchConfig = SearchConfig()
    screen_features: bool = Field(
        True, description="refit LightGBM without the features whose permutation importance on validation "
        "does not exceed chance (their SHAP values are then 0)",
    )
    params: dict[str, Any] = Field({}, description="LightGBM parameters (names or aliases), checked by LightGBM")
    num_boost_round: int = Field(1000, gt=0)
    early_stopping_rounds: int = Field(50, gt=0)
    imbalance: Literal["balanced", "none"] = "balanced"
    calibration: Literal["platt", "isotonic"] | None = "platt"
    calibration_days: int = Field(
        365, ge=0, description="event data: LightGBM is calibrated on out-of-time predictions at every cutoff in this many "
        "days up to the validation cutoff, each by a model trained on the cutoffs whose labels end by it (0: the validation cutoff alone)",
    )
    refit: bool = Field(
        True, description="refit each candidate on the training and validation periods together with the rounds or C "
        "validation chose; the test period then measures the shipped model",
    )
    num_threads: int = Field(2, gt=0)
    explanation_cache_mb: float = Field(
        64.0, ge=0, description="SHAP values of the training rows' tree patterns saved with the model, "
        "newest cutoffs first, up to this size in memory (0: none); scoring then starts with them cached",
    )

    @field_validator("candidates")
    @classmethod
    def _distinct(cls, names: list[str]) -> list[str]:
        seen = [n for i, n in enumerate(names) if n in names[:i]]
        if seen:
            raise ValueError(f"names {seen[0]!r} twice")
        return names

    @field_validator("params")
    @classmethod
    def _lightgbm_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        from churnlab.models.lightgbm import check_lightgbm_params

        check_lightgbm_params(params)
        return params


class MLflowConfig(_Strict):
    tracking_uri: str | None = Field(None, description="default: sqlite:///<workdir>/mlflow.db")
    experiment: str = "churnlab"
    register_name: str | None = None
    run_name: str | None = None


class UpliftConfig(_Strict):
    """Uplift models from a randomised campaign (:func:`churnlab.train_uplift`): the treatments
    table, the learners, and the economics of the incremental-profit curve."""

    source: Literal["file", "simulation"] = Field(
        "file", description="file: the treatments table in `treatments`; simulation: events and campaign from "
        "churnlab.datasets.uplift_sim (sim_customers, sim_seed)",
    )
    treatments: Path | None = Field(None, description="file: the treatments table (.csv or .parquet): customer_id, ts, treated; "
                                    "optional campaign, cost (needed unless train_uplift is given the table)")
    mapping: dict[str, str] = Field({}, description="treatments column renames {our_column: their_column}")
    learners: list[Literal["t_learner", "x_learner"]] = Field(
        ["t_learner", "x_learner"], min_length=1, description="meta-learners fitted; one is selected on validation by the Qini coefficient",
    )
    value_days: int = Field(365, gt=0, description="customer value: spend in this many days before the treatment's ts")
    margin: float = Field(1.0, gt=0, le=1, description="share of retained value that is profit")
    contact_cost: float = Field(1.0, ge=0, description="cost of contacting one customer")
    incentive_cost: float = Field(0.0, ge=0, description="incentive paid by each contacted customer who stays")
    bootstrap: int = Field(200, ge=10, le=10_000, description="bootstrap resamples of the uplift-per-decile intervals")
    validation_size: float = Field(0.25, gt=0, lt=1, description="one or two campaign dates: share of customers for validation")
    test_size: float = Field(0.25, gt=0, lt=1, description="one or two campaign dates: share of customers for test")
    params: dict[str, Any] = Field({}, description="LightGBM parameters of every base learner, checked by LightGBM")
    num_boost_round: int = Field(300, gt=0)
    early_stopping_rounds: int = Field(30, gt=0)
    sim_customers: int = Field(6000, gt=0, description="simulation: number of customers")
    sim_seed: int = Field(0, description="simulation: seed")

    @field_validator("params")
    @classmethod
    def _lightgbm_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        from churnlab.models.lightgbm import check_lightgbm_params

        check_lightgbm_params(params)
        return params

    @model_validator(mode="after")
    def _where(self) -> "UpliftConfig":
        if self.validation_size + self.test_size >= 1:
            raise ValueError(f"validation_size + test_size must be < 1, got {self.validation_size + self.test_size:g}")
        if len(set(self.learners)) != len(self.learners):
            raise ValueError(f"learners names a learner twice: {self.learners}")
        return self


class TrainConfig(_Strict):
    """Everything a training run needs: ``name``, ``data``, ``cutoffs``, ``label``,
    ``features``, ``model``, ``seed``, ``mlflow``. See ``configs/demo.yaml`` and the README's
    "Your own data". Unknown keys are rejected, naming the key.

    Attributes
    ----------
    name : str
    data : DataConfig
        ``source`` (files, table, sql, demo, cdnow), ``path`` or per-table files (sql:
        ``url``, ``password_env``, ``tables``), ``mapping``, ``on_duplicates``,
        ``timestamp_unit``, ``time_range``.
    cutoffs : CutoffConfig
        ``dates``, or ``start``/``end``/``freq``; ``train_every_days``, ``max_cutoffs``.
    label : LabelConfig
        ``rule``, ``horizon_days``, ``k``, ``min_window_days``, ``single_purchase``, ``active_days``.
    features : FeatureConfig
    model : ModelConfig
        ``params`` (LightGBM's, checked by LightGBM), ``num_boost_round``,
        ``early_stopping_rounds``, ``imbalance``, ``calibration``, ``num_threads``,
        ``explanation_cache_mb``.
    seed : int
    mlflow : MLflowConfig
        ``tracking_uri``, ``experiment``, ``register_name``, ``run_name``.
    allow_leaky : list of str
        Features kept although they alone separate the validation labels (the leakage
        guard, :mod:`churnlab.models.leakage`), by the name the run gives them: a table
        column, ``customers.<column>`` or a feature name.

    Examples
    --------
    >>> cfg = parse_config({"cutoffs": {"start": "2024-01-01", "end": "2024-06-01"}})
    >>> cfg.label.rule, cfg.label.horizon_days, len(cfg.cutoffs.resolve())
    ('fixed', 90, 6)
    """

    name: str = "churnlab"
    data: DataConfig = DataConfig(source="demo")
    cutoffs: CutoffConfig | None = None
    split: SplitConfig = SplitConfig()
    label: LabelConfig = LabelConfig()
    features: FeatureConfig = FeatureConfig()
    model: ModelConfig = ModelConfig()
    seed: int = 0
    mlflow: MLflowConfig = MLflowConfig()
    allow_leaky: list[str] = Field([], description="features kept although they alone separate the validation labels")
    uplift: UpliftConfig | None = Field(None, description="uplift models from a randomised campaign (churnlab.train_uplift)")

    @model_validator(mode="after")
    def _mode(self) -> "TrainConfig":
        return _check_snapshot_count(_check_mode(self))


def _check_snapshot_count(cfg: "TrainConfig") -> "TrainConfig":
    """The cutoffs plus those ``train_every_days`` adds stay within ``cutoffs.max_cutoffs``."""
    c = cfg.cutoffs
    if c is None or not c.train_every_days:
        return cfg
    from churnlab.models.split import densify_training, time_split

    cuts = c.resolve()
    try:
        split = densify_training(time_split(cuts, cfg.label.horizon_days), cfg.label.horizon_days, c.train_every_days)
    except ValueError:  # too few cutoffs for a split: training refuses them, naming them
        return cfg
    n = len(set(cuts) | set(split["train"]))
    if n > c.max_cutoffs:
        raise ValueError(
            f"cutoffs.train_every_days {c.train_every_days} adds {n - len(cuts):,} training cutoffs to the {len(cuts)} "
            f"configured: {n:,} snapshot dates, more than cutoffs.max_cutoffs ({c.max_cutoffs}): "
            "raise cutoffs.train_every_days or cutoffs.max_cutoffs"
        )
    return cfg


def _check_mode(cfg: "TrainConfig") -> "TrainConfig":
    if cfg.data.source != "table" and cfg.cutoffs is None:
        raise ValueError("cutoffs: required for event data (dates, or start and end)")
    return cfg


# the branches of a union, in error locations but no key of the file: left out of messages
_TAG_BETA, _TAG_RATE = "(alpha, beta)", "(rate)"


class AcceptanceBeta(_Strict):
    """A churner's acceptance rate drawn from Beta(alpha, beta) (the EMP measure's 6, 14: mean 0.3)."""

    alpha: float = Field(gt=0)
    beta: float = Field(gt=0)


class CampaignConfig(_Strict):
    """A retention campaign: costs, acceptance, margin, budget, and how customer value is
    computed (:func:`churnlab.scoring.value.customer_value`). See ``configs/campaign.yaml``."""

    contact_cost: float = Field(ge=0, description="cost of contacting one customer (f)")
    incentive_cost: float = Field(ge=0, description="cost of the incentive, paid by each contacted customer who accepts (d)")
    acceptance: Annotated[
        Annotated[AcceptanceBeta, Tag(_TAG_BETA)] | Annotated[float, Tag(_TAG_RATE)],
        Discriminator(lambda v: _TAG_BETA if isinstance(v, (dict, AcceptanceBeta)) else _TAG_RATE),
    ] = Field(description="a churner's acceptance rate: a number in [0, 1] or {alpha, beta}")
    margin: float = Field(1.0, gt=0, le=1, description="share of revenue that is profit")
    budget: int | None = Field(None, gt=0, description="most customers to contact (none: every one with a positive expected profit)")
    value_method: Literal["bgnbd_gg", "simple", "subscription"] = "bgnbd_gg"
    horizon_days: float = Field(365.0, gt=0, description="customer value over this many days after as_of")
    discount_rate: float = Field(0.0, ge=0, description="annual discount rate of future value")
    value_column: str | None = Field(
        None, description="for a model trained on a customer table: the table's column holding each customer's value",
    )
    order_value: float | None = Field(
        None, gt=0, description="bgnbd_gg: spend per purchase for every customer instead of Gamma-Gamma's (purchases without amounts)",
    )

    @field_validator("acceptance")
    @classmethod
    def _rate(cls, value):
        if isinstance(value, float) and not 0 <= value <= 1:
            raise ValueError("must be a rate in [0, 1] or {alpha, beta}")
        return value

    @property
    def mean_acceptance(self) -> float:
        a = self.acceptance
        return a.alpha / (a.alpha + a.beta) if isinstance(a, AcceptanceBeta) else float(a)


def load_campaign(path: str | Path) -> CampaignConfig:
    """Read and validate a campaign YAML file (a top-level ``campaign:`` mapping).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    CampaignConfig

    Raises
    ------
    ConfigError
        One line per bad key, naming the key and the value.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "campaign.yaml"
    >>> _ = path.write_text("campaign: {contact_cost: 1, incentive_cost: -10, acceptance: 0.3}\\n")
    >>> load_campaign(path)
    Traceback (most recent call last):
    ...
    churnlab.config.ConfigError: ...campaign.yaml: campaign.incentive_cost: Input should be greater than or equal to 0 (got -10)
    """
    p = Path(path)
    data = _read_yaml(p, "campaign file")
    if not isinstance(data, dict) or set(data) != {"campaign"}:
        got = clip(sorted(map(str, data))) if isinstance(data, dict) else type(data).__name__
        raise ConfigError(f"{p}: expected one top-level key 'campaign', got {got}")
    if not isinstance(data["campaign"] or {}, dict):
        raise ConfigError(f"{p}: campaign: expected a mapping of keys, got {show(data['campaign'])}")
    try:
        return CampaignConfig.model_validate(data["campaign"] or {})
    except ValidationError as err:
        lines = [line.replace(f"{p}: ", f"{p}: campaign.", 1) for line in _format(err, str(p))]
        raise ConfigError("\n".join(lines), lines) from None


def _read_yaml(p: Path, what: str):
    """A YAML file's content (None for an empty file: ``{}``); ConfigError, one line, when it
    is missing, larger than ``MAX_YAML_BYTES``, not YAML, or expands past ``MAX_YAML_VALUES``."""
    if not p.is_file():
        raise ConfigError(f"{what} not found: {p}")
    size = p.stat().st_size
    if size > MAX_YAML_BYTES:
        raise ConfigError(f"{p}: {size:,} bytes, more than the {MAX_YAML_BYTES:,} a {what} may have")
    with p.open("rb") as f:
        raw = f.read(MAX_YAML_BYTES + 1)
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(f"{p}: more than the {MAX_YAML_BYTES:,} bytes a {what} may have")
    try:
        data = load_yaml(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: {yaml_problem(exc)}") from None
    return {} if data is None else data


def _format(err: ValidationError, origin: str) -> list[str]:
    lines = []
    for e in err.errors():
        key = ".".join(clip(p) for p in e["loc"] if p not in (_TAG_BETA, _TAG_RATE))
        msg = clip(e["msg"].replace("Value error, ", ""), 240)
        got = e.get("input")
        shown = "" if isinstance(got, dict) or e["type"] == SHOWN else f" (got {clip(repr(got))})"
        lines.append(f"{origin}: {key}: {msg}{shown}" if key else f"{origin}: {msg}{shown}")
    return lines


def parse_config(data: dict, origin: str = "config") -> TrainConfig:
    """Validate a config mapping (as read from YAML).

    Parameters
    ----------
    data : dict
    origin : str
        Where it came from, the start of every error message.

    Returns
    -------
    TrainConfig

    Raises
    ------
    ConfigError
        One line per bad key, naming the key and the value.

    Examples
    --------
    >>> parse_config({"cutoffs": {"start": "2024-01-01", "end": "2024-06-01"}, "label": {"horizon_days": -3}}, "my.yaml")
    Traceback (most recent call last):
    ...
    churnlab.config.ConfigError: my.yaml: label.horizon_days: Input should be greater than 0 (got -3)
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as err:
        lines = _format(err, origin)
        raise ConfigError("\n".join(lines), lines) from None


def load_config(path: str | Path, overrides: dict | None = None) -> TrainConfig:
    """Read and validate a YAML training config.

    Relative data paths resolve against the file's folder (or the project root, for a
    file in a ``configs/`` folder).

    Parameters
    ----------
    path : str or Path
    overrides : dict, optional
        ``{"dotted.key": value}`` applied before validation, e.g.
        ``{"mlflow.tracking_uri": "http://..."}``.

    Returns
    -------
    TrainConfig

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "mine.yaml"
    >>> _ = path.write_text("cutoffs: {dates: [2024-01-01, 2024-04-01, 2024-07-01]}\\n")
    >>> load_config(path, {"label.horizon_days": 60}).label.horizon_days
    60
    """
    p = Path(path)
    data = _read_yaml(p, "config file")
    for key, value in (overrides or {}).items():
        node, path = data, []
        *parents, last = key.split(".")
        for part in [*parents, None]:
            if not isinstance(node, dict):
                where = ".".join(path) or "(top level)"
                raise ConfigError(f"{p}: {where}: expected a mapping of keys, got {show(node)}")
            if part is not None:
                node, path = node.setdefault(part, {}), [*path, part]
        node[last] = value
    cfg = parse_config(data, str(p))
    base = p.resolve().parent.parent if p.resolve().parent.name == "configs" else p.resolve().parent
    for field in ("path", "purchases", "support", "surveys", "subscriptions", "activity", "customers"):
        value = getattr(cfg.data, field)
        if value is not None and not value.is_absolute():
            setattr(cfg.data, field, (base / value))
    if cfg.data.url is not None:  # a SQLite or DuckDB file named relative to the config, as data paths are
        m = re.match(r"^(sqlite|duckdb)(\+\w+)?:///(?!/)(?!:memory:)([^?]+)", cfg.data.url)
        if m:
            cfg.data.url = cfg.data.url[: m.start(3)] + str(base / m.group(3)) + cfg.data.url[m.end(3):]
    return cfg
