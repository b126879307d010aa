"""What the feature builder computes (the ``features:`` section of a training config)."""

from __future__ import annotations

from pydantic import ConfigDict, Field, field_validator

from churnlab.strict import StrictModel

__all__ = ["FeatureConfig"]


class FeatureConfig(StrictModel):
    """What the feature builder computes. Unknown keys are rejected.

    Parameters
    ----------
    windows : tuple of int
        Look-back windows in days for counts and sums.
    trend_window : int
        Trends compare the last N days with the N before.
    top_categories : int
        Support categories kept by name; the rest are pooled.
    support_categories : tuple of str, optional
        A fixed category list instead of the most frequent ones.
    long_resolution_hours : float
        A ticket slower than this counts as long.
    include_static : bool
        Add the customers table's static attributes.
    top_event_types : int
        Activity event types kept by name; the rest are pooled as "other".
    event_types : tuple of str, optional
        A fixed event-type list instead of the most frequent ones.

    Examples
    --------
    >>> FeatureConfig(windows=(90, 30)).windows
    (30, 90)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    windows: tuple[int, ...] = Field((30, 90, 180, 365), description="look-back windows in days")
    trend_window: int = Field(90, gt=0, description="trend compares the last N days with the N before")
    top_categories: int = Field(5, ge=0, description="support categories kept by name; the rest are pooled")
    support_categories: tuple[str, ...] | None = Field(None, description="fixed category list (else learned)")
    long_resolution_hours: float = Field(72.0, gt=0, description="a ticket slower than this counts as long")
    include_static: bool = Field(True, description="add the customers table's static attributes")
    top_event_types: int = Field(5, ge=0, description="activity event types kept by name; the rest are pooled")
    event_types: tuple[str, ...] | None = Field(None, description="fixed activity event-type list (else learned)")

    @field_validator("windows")
    @classmethod
    def _windows_positive(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v:
            raise ValueError("`windows` must name at least one window")
        bad = [w for w in v if int(w) != w or w <= 0]
        if bad:
            raise ValueError(f"`windows` must be whole days > 0, got {bad[0]!r}")
        return tuple(sorted(set(int(w) for w in v)))
