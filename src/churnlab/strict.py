"""The base of every configuration model: unknown keys, infinities and NaN refused, and no
boolean or other silent stand-in accepted where a number or a date is expected.

pydantic's lax mode reads ``true`` as 1 and a number as a Unix time; a config value that is
``horizon_days: true`` or ``start: 0`` is a mistake, never a number or a date.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

__all__ = ["StrictModel", "SHOWN", "clip", "show"]

# the error type of messages that already echo the offending value (no "(got ...)" added)
SHOWN = "churnlab_value_shown"
_SHOW_LIMIT = 80


def show(value: Any, limit: int = _SHOW_LIMIT) -> str:
    """``value`` as a config file spells it (``true``, ``2024-01-01``, ``'x'``), at most
    ``limit`` characters (longer ones end in ``...``).

    Examples
    --------
    >>> show(True), show(dt.date(2024, 1, 1)), show("x" * 100)[-5:], len(show("x" * 100))
    ('true', '2024-01-01', 'xx...', 80)
    """
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, (dt.date, dt.datetime)):
        text = value.isoformat()
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def clip(text: Any, limit: int = _SHOW_LIMIT) -> str:
    """``text`` on one line (whitespace runs as one space), at most ``limit`` characters.

    Examples
    --------
    >>> clip("a\\n b"), clip("x" * 100, 10)
    ('a b', 'xxxxxxx...')
    """
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kinds(annotation: Any) -> tuple[set, set]:
    """The scalar types a field takes directly and as the items of a list or tuple."""
    top: set = set()
    items: set = set()
    stack = [(annotation, top)]
    while stack:
        ann, into = stack.pop()
        origin = typing.get_origin(ann)
        if origin is Annotated:
            stack.append((typing.get_args(ann)[0], into))
        elif origin is Union or origin is types.UnionType:
            stack.extend((a, into) for a in typing.get_args(ann))
        elif origin in (list, tuple, set, frozenset, Sequence):
            stack.extend((a, items) for a in typing.get_args(ann) if a is not Ellipsis)
        elif origin is Literal or origin is not None:
            continue
        elif isinstance(ann, type):
            into.add(ann)
    return top, items


def _mistake(kinds: set, value: Any) -> str | None:
    """What ``value`` should have been, when it is a stand-in for it; else None."""
    numbers = bool(kinds & {int, float}) and bool not in kinds
    dates = bool(kinds & {dt.date, dt.datetime}) and not kinds & {int, float, bool, str}
    if numbers and isinstance(value, bool):
        return "a number"
    if dates and isinstance(value, (int, float)):
        return "a date (YYYY-MM-DD)"
    return None


class StrictModel(BaseModel):
    """A config section: unknown keys, ``.inf``/``.nan``, booleans for numbers and numbers
    for dates are refused, naming the key and the value."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_stand_ins(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name) if info.field_name else None
        if field is None:
            return value
        top, items = _kinds(field.annotation)
        want = _mistake(top, value)
        if want:
            raise PydanticCustomError(SHOWN, "expected {want}, got {got}", {"want": want, "got": show(value)})
        if items and isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                want = _mistake(items, item)
                if want:
                    raise PydanticCustomError(
                        SHOWN, "item {i}: expected {want}, got {got}", {"i": i, "want": want, "got": show(item)}
                    )
        return value
