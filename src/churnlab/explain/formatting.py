"""Reason templates formatted fast and literally: ``{value}`` / ``{value:spec}`` and
escaped braces, nothing else; each distinct text built once."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

__all__ = ["format_many", "format_text", "render", "text_before_value"]

# a numeric format spec with fixed decimals ("{value:.0f}", "{value:+,.2f}", "{value:.1%}"),
# not an escaped one ("{{value:.0f}}" is literal text)
_SPEC = re.compile(r"(?<!\{)\{value:[+\- ]?,?\.(\d+)([f%])\}")
# what a reason template holds besides literal text: escaped braces and the value's placeholder
_TOKEN = re.compile(r"\{\{|\}\}|\{value(?::([^{}]*))?\}")


def render(template: str, value) -> str:
    """``template`` with ``{value}`` / ``{value:spec}`` formatted and ``{{`` / ``}}`` as braces;
    any other text (a user's column name included) is copied as it is, never interpreted:
    not ``str.format``, which reads ``tenure{months}`` as a placeholder.

    >>> render("tenure{{months}} = {value:,.1f}", 1234.5)
    'tenure{months} = 1,234.5'
    """
    def one(m: re.Match) -> str:
        token = m.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return format(value, m.group(1) or "")

    return _TOKEN.sub(one, template)


def format_text(template: str, meaning: str, value) -> str:
    """One value's text: :func:`render`, ``"never recorded: <meaning>"`` for a missing value,
    ``"<meaning>: <value>"`` where the template's format does not fit the value."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return f"never recorded: {meaning}"
    try:
        return render(template, value)
    except (ValueError, TypeError):  # e.g. a numeric format spec on a category
        return f"{meaning}: {value}"


def format_many(template: str, meaning: str, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Format many values with one template: ``(texts, codes)`` with ``texts[codes]`` the text
    of each value, each distinct text built once (this is the hot loop of reason codes).

    With a fixed number of decimals, values are grouped by the digits they display (their
    rounding to that precision, and the sign, for "-0.0"), so e.g. 200k recency days become a
    few hundred strings to build. A value whose binary rounding could disagree with the exact
    decimal rounding of ``format`` (within a hair of a half), or too large for that check, is
    formatted on its own: every text is the one ``format`` gives for the value."""
    m = _SPEC.search(template)
    if m is not None and values.dtype != object:
        x = values.astype(float)
        digits = int(m.group(1)) + (2 if m.group(2) == "%" else 0)
        with np.errstate(invalid="ignore"):
            scaled = x * 10.0**digits
            r = np.rint(scaled)
            # below 2**32 the scaling's error is under 1e-6: outside that band of a half,
            # the rounded digits are those of the exact value (NaN, inf fail the test)
            plain = (np.abs(scaled) < 2.0**32) & (np.abs(np.abs(scaled - r) - 0.5) > 1e-6)
        at_plain, at_own = np.flatnonzero(plain), np.flatnonzero(~plain)
        codes = np.empty(len(x), dtype=np.int64)
        c1, u1 = pd.factorize(r[at_plain].astype(np.int64) * 2 + np.signbit(x[at_plain]))
        c2, _ = pd.factorize(x[at_own], use_na_sentinel=False)
        codes[at_plain], codes[at_own] = c1, c2 + len(u1)
        _, first = np.unique(codes, return_index=True)  # one value stands for each group
        return np.array([format_text(template, meaning, float(x[i])) for i in first], dtype=object), codes
    keys = pd.Series(values, dtype=object).astype(str).where(pd.notna(values), None).to_numpy()
    codes, _ = pd.factorize(keys, use_na_sentinel=False)
    _, first = np.unique(codes, return_index=True)
    return np.array([format_text(template, meaning, values[i]) for i in first], dtype=object), codes.astype(np.int64)


def text_before_value(template: str) -> str | None:
    """The literal text before the value's placeholder (braces unescaped), None without one.

    >>> text_before_value("g{0}{x.y} {{value}} = {value}"), text_before_value("no value")
    ('g{0}{x.y} {value} = ', None)
    """
    for m in _TOKEN.finditer(template):
        if m.group(0) not in ("{{", "}}"):
            return render(template[: m.start()], None)
    return None
