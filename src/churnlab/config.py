"""Training configuration: YAML validated by pydantic. Unknown keys and bad values are
rejected with the key named, e.g. ``model.imbalance: Input should be 'balanced' or 'none'``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from churnlab.features import FeatureConfig, make_cutoffs

__all__ = ["TrainConfig", "ConfigError", "load_config"]


class ConfigError(ValueError):
    """A configuration file or value that cannot be used; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    source: Literal["files", "table", "demo", "demo_subscriptions", "cdnow"] = "files"
    path: Path | None = Field(
        None, description="files: folder of purchases/support/surveys/subscriptions/activity/customers .parquet|.csv; table: the file"
    )
    id: str | None = Field(None, description="table: the customer id column")
    label: str | None = Field(None, description="table: the churn label column (1/0, true/false, yes/no)")
    time: str | None = Field(None, description="table: the snapshot-date column (split by time); none: a seeded stratified split")
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

    @model_validator(mode="after")
    def _where(self) -> "DataConfig":
        if self.source == "files" and self.path is None and self.purchases is None and self.subscriptions is None and self.activity is None:
            raise ValueError("data.source 'files' needs data.path (a folder) or data.purchases (or data.subscriptions, data.activity: files)")
        if self.source == "table":
            missing = [k for k in ("path", "id", "label") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"data.source 'table' needs data.{', data.'.join(missing)}")
        elif any(getattr(self, k) is not None for k in ("id", "label", "time")):
            raise ValueError("data.id, data.label and data.time are for data.source 'table'")
        return self


class CutoffConfig(_Strict):
    dates: list[dt.date] | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    freq: str = "MS"
    train_every_days: int | None = Field(
        None, gt=0, description="also snapshot the training period every this many days (e.g. 7 or 14): "
        "more training rows when the cutoffs are few; validation and test cutoffs stay as configured",
    )

    @model_validator(mode="after")
    def _one_way(self) -> "CutoffConfig":
        if self.dates is None and (self.start is None or self.end is None):
            raise ValueError("give cutoffs.dates, or both cutoffs.start and cutoffs.end")
        if self.dates is not None and (self.start is not None or self.end is not None):
            raise ValueError("give cutoffs.dates or cutoffs.start/end, not both")
        return self

    def resolve(self):
        import pandas as pd

        if self.dates is not None:
            return sorted(pd.Timestamp(d) for d in self.dates)
        return make_cutoffs(self.start, self.end, self.freq)


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


class TrainConfig(_Strict):
    """Everything a training run needs: ``name``, ``data``, ``cutoffs``, ``label``,
    ``features``, ``model``, ``seed``, ``mlflow``. See ``configs/demo.yaml`` and the README's
    "Your own data". Unknown keys are rejected, naming the key.

    Attributes
    ----------
    name : str
    data : DataConfig
        ``source`` (files, demo, cdnow), ``path`` or per-table files, ``mapping``,
        ``on_duplicates``, ``timestamp_unit``, ``time_range``.
    cutoffs : CutoffConfig
        ``dates``, or ``start``/``end``/``freq``.
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

    @model_validator(mode="after")
    def _mode(self) -> "TrainConfig":
        return _check_mode(self)


def _check_mode(cfg: "TrainConfig") -> "TrainConfig":
    if cfg.data.source != "table" and cfg.cutoffs is None:
        raise ValueError("cutoffs: required for event data (dates, or start and end)")
    return cfg


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
        Annotated[AcceptanceBeta, Tag("beta")] | Annotated[float, Tag("rate")],
        Discriminator(lambda v: "beta" if isinstance(v, (dict, AcceptanceBeta)) else "rate"),
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
        raise ConfigError(f"{p}: expected one top-level key 'campaign', got {sorted(data) if isinstance(data, dict) else type(data).__name__}")
    try:
        return CampaignConfig.model_validate(data["campaign"] or {})
    except ValidationError as err:
        lines = _format(err, str(p)).splitlines()
        raise ConfigError("\n".join(line.replace(f"{p}: ", f"{p}: campaign.", 1) for line in lines)) from None


def _read_yaml(p: Path, what: str):
    """A YAML file's content; ConfigError when it is missing or not YAML."""
    if not p.is_file():
        raise ConfigError(f"{what} not found: {p}")
    try:
        return yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None


def _format(err: ValidationError, origin: str) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].replace("Value error, ", "")
        got = e.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"{origin}: {key}: {msg}{shown}")
    return "\n".join(lines)


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
        raise ConfigError(_format(err, origin)) from None


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
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    cfg = parse_config(data, str(p))
    base = p.resolve().parent.parent if p.resolve().parent.name == "configs" else p.resolve().parent
    for field in ("path", "purchases", "support", "surveys", "subscriptions", "activity", "customers"):
        value = getattr(cfg.data, field)
        if value is not None and not value.is_absolute():
            setattr(cfg.data, field, (base / value))
    return cfg
