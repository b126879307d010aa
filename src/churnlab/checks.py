"""Argument checks shared by the public functions: a bad value is named with the parameter,
e.g. "`horizon_days` must be a number > 0, got '90'", as a TypeError (wrong kind of value)
or a ValueError (right kind, wrong value)."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_number"]


def check_number(
    value, name: str, *, above: float | None = None, at_least: float | None = None, integer: bool = False,
) -> float:
    """``value`` as a float if it is a finite real number (not a bool, not text) within bounds.

    >>> check_number(90, "horizon_days", above=0)
    90.0
    >>> check_number("90", "horizon_days", above=0)
    Traceback (most recent call last):
    ...
    TypeError: `horizon_days` must be a number > 0, got '90'
    """
    bounds = " > " + f"{above:g}" if above is not None else (" >= " + f"{at_least:g}" if at_least is not None else "")
    kind = "a whole number" if integer else "a number"
    shown = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be {kind}{bounds}, got {shown!r}")
    v = float(value)
    if not np.isfinite(v) or (integer and v != np.floor(v)):
        raise ValueError(f"`{name}` must be {'a whole' if integer else 'a finite'} number{bounds}, got {shown!r}")
    if (above is not None and not v > above) or (at_least is not None and not v >= at_least):
        raise ValueError(f"`{name}` must be{bounds}, got {shown!r}")
    return v
