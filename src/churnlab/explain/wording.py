"""Reason texts a person would write, from a feature's value and what it is compared with.

Each feature of churnlab's feature builder has a *statement*: its fact in plain words (plural
and sign aware: "1 purchase", "8 fewer purchases than in the 90 days before") followed by a
comparison, with the customer's own history where the features hold it ("no purchase for 188
days, 2.5x their usual gap", "spent 3,603.23 in the last 180 days, less than their usual
9,100.00") or else with the typical customer (the median, or the most common category, of
the model's reference rows: "last NPS 3 (typical customer: 8)").

A statement also says whether its fact *raises risk compared with that reference*: a
feature whose risky side is known (more unresolved tickets, fewer purchases, a longer gap)
must lie on it; any other feature must differ from the typical customer; a missing value
must be unusual (most customers have one). :func:`churnlab.explain.reasons.driver_arrays`
gives a risk reason only for such a fact, so a protective-sounding fact ("spent 3,603.23 in
the last 180 days" from a big spender) is never a risk reason.

Texts are built per distinct displayed value (:func:`format_values`) and joined per
distinct combination, so that a million reason slots take a few thousand string operations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from churnlab.explain.formatting import format_many, text_before_value

__all__ = ["FAMILIES", "Statement", "family_of", "statement", "typical_values"]

#: Driver groups read as one family: one reason per family ("no purchase for 188 days", never
#: beside "0 purchases in the last 90 days" and "spent 0.00 in the last 90 days").
FAMILIES = {"recency": "purchase_activity", "frequency": "purchase_activity", "monetary": "purchase_activity",
            "frequency_trend": "purchase_activity"}

DAYS = ("day", "days")


def family_of(group: str) -> str:
    """The reason family of a driver group (:data:`FAMILIES`, else the group itself).

    >>> family_of("recency"), family_of("nps")
    ('purchase_activity', 'nps')
    """
    return FAMILIES.get(group, group)


def typical_values(features: pd.DataFrame) -> dict:
    """What the typical customer looks like, per feature column: the median of a number, the
    most common category (ties: the first in category order), or None where most values are
    missing.

    >>> X = pd.DataFrame({"n": [1.0, 2.0, 10.0, np.nan], "plan": pd.Categorical(["a", "b", "b", "a"])})
    >>> typical_values(X)
    {'n': 2.0, 'plan': 'a'}
    """
    out = {}
    for col in features.columns:
        s = features[col]
        if s.isna().mean() > 0.5 or not s.notna().any():
            out[col] = None
        elif isinstance(s.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(s.dtype):
            counts = s.astype(object).dropna().astype(str).value_counts(sort=False)
            order = [str(c) for c in s.cat.categories] if isinstance(s.dtype, pd.CategoricalDtype) else sorted(counts.index)
            counts = counts.reindex([c for c in order if c in counts.index])
            out[col] = str(counts.idxmax())
        else:
            out[col] = float(np.nanmedian(s.to_numpy(dtype=float)))
    return out


# ---- text pieces: (texts, codes) with texts[codes] the text of each row ----------------

def format_values(spec: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``format(v, spec)`` of each value, each distinct text built once."""
    return format_many("{value:" + spec + "}", "", x)


def _lit(text: str, n: int):
    return np.array([text], dtype=object), np.zeros(n, dtype=np.int64)


def _pick(choices: tuple, which: np.ndarray):
    return np.array(choices, dtype=object), np.asarray(which, dtype=np.int64)


def _plural(x: np.ndarray, nouns: tuple[str, str]):
    """The singular noun where the value displays as 1 (no decimals), else the plural."""
    return _pick(nouns, np.rint(np.abs(x)) != 1)


def join(parts: list, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Pieces ``(texts, codes)`` joined row by row, each distinct combination once."""
    text, codes = np.array([""], dtype=object), np.zeros(n, dtype=np.int64)
    for t, c in parts:
        pair, codes = np.unique(codes * len(t) + c, return_inverse=True)
        text = text[pair // len(t)] + t[pair % len(t)]
        codes = codes.ravel()
    return text, codes


def merge(n: int, cases: list) -> tuple[np.ndarray, np.ndarray]:
    """One ``(texts, codes)`` from disjoint cases ``(mask, (texts, codes of the masked rows))``."""
    texts, codes, used = [], np.zeros(n, dtype=np.int64), 0
    for mask, (t, c) in cases:
        if mask.any():
            codes[mask] = c + used
            texts.append(t)
            used += len(t)
    return (np.concatenate(texts) if texts else np.array([], dtype=object)), codes


def _decimals(spec: str) -> int:
    m = re.search(r"\.(\d+)([f%])", spec)
    if not m:
        return 6
    return int(m.group(1)) + (2 if m.group(2) == "%" else 0)


def _shown(x: np.ndarray, spec: str) -> np.ndarray:
    """Values rounded as displayed, for comparisons a reader can see."""
    d = _decimals(spec)
    return np.round(np.asarray(x, dtype=float) * (100.0 if "%" in spec else 1.0), d - (2 if "%" in spec else 0))


# ---- statements --------------------------------------------------------------------

@dataclass
class Statement:
    """How one feature reads: ``text(col, n)`` gives ``(texts, codes)`` for ``n`` rows whose
    columns ``col`` (a name -> its values at those rows) returns, ``risky(col, n)`` whether each
    row's fact raises risk compared with the reference it states."""

    text: Callable
    risky: Callable


def _vs_typical(spec: str, typical, zero_is_none: bool = False) -> str:
    """" (typical customer: t)", "none" for a count of 0."""
    if typical is None:
        return ""
    shown = format(typical, spec)
    if zero_is_none and float(_shown(np.array([typical]), spec)[0]) == 0:
        shown = "none"
    return f" (typical customer: {shown})"


def _side(x: np.ndarray, typical, spec: str, direction: int) -> np.ndarray:
    """Whether each value lies on the risky side of ``typical`` as displayed (``direction``
    +1: above is risky, -1: below, 0: any difference); missing values are never."""
    if typical is None:
        return np.zeros(len(x), dtype=bool)
    a, b = _shown(x, spec), float(_shown(np.array([typical]), spec)[0])
    with np.errstate(invalid="ignore"):
        return (a > b) if direction > 0 else (a < b) if direction < 0 else (np.isfinite(a) & (a != b))


def fact(prefix: str, spec: str, nouns: tuple | None, suffix: str, direction: int, typical, missing: str,
         feature: str) -> Statement:
    """``prefix value noun suffix (typical customer: t)``, e.g. "3 unresolved tickets
    (typical customer: none)"; ``missing`` where the value is missing."""
    def text(col, n):
        x = col(feature)
        na = np.isnan(x)
        xs, m = x[~na], int((~na).sum())
        parts = [_lit(prefix, m), format_values(spec, xs)]
        if nouns:
            parts += [_lit(" ", m), _plural(xs, nouns)]
        parts += [_lit(suffix + _vs_typical(spec, typical, zero_is_none=bool(nouns) and nouns != DAYS), m)]
        return merge(n, [(~na, join(parts, m)), (na, _lit(missing, int(na.sum())))])

    def risky(col, n):
        x = col(feature)
        return _side(x, typical, spec, direction) | (np.isnan(x) & (typical is not None))

    return Statement(text, risky)


def change(noun_less: tuple, noun_more: tuple, same: str, spec: str, feature: str, missing: str) -> Statement:
    """A change against the customer's own past, risky when negative: ``noun_less`` /
    ``noun_more`` are (before the number, after the number) for a fall / a rise, e.g.
    ("", " fewer purchases than in the 90 days before")."""
    def text(col, n):
        x = col(feature)
        shown = _shown(x, spec)
        down, up = shown < 0, shown > 0
        na = np.isnan(x)
        level = ~(down | up | na)
        cases = []
        for mask, (before, after) in ((down, noun_less), (up, noun_more)):
            m = int(mask.sum())
            parts = [_lit(before, m), format_values(spec, np.abs(x[mask])), *(after(x[mask]) if callable(after) else [_lit(after, m)])]
            cases.append((mask, join(parts, m)))
        cases += [(level, _lit(same, int(level.sum()))), (na, _lit(missing, int(na.sum())))]
        return merge(n, cases)

    def risky(col, n):
        with np.errstate(invalid="ignore"):
            return _shown(col(feature), spec) < 0

    return Statement(text, risky)


def _nouns_after(nouns: tuple, tail: str):
    """``" noun(s)<tail>"`` after a number, plural by that number."""
    def pieces(x):
        m = len(x)
        return [_lit(" ", m), _plural(x, nouns), _lit(tail, m)]
    return pieces


def versus_own(base: Statement, feature: str, spec: str, nouns: tuple | None, prefix: str, suffix: str,
               own: Callable, less: str, more: str, sep: str = ", ") -> Statement:
    """``base`` (against the typical customer), but where ``own(col)`` gives the customer's
    own usual value the comparison is with it: "3 purchases in the last 90 days, 8 fewer than
    in the 90 days before". Risky when below their usual or, failing that, when ``base`` is;
    the text states the comparison that makes it risky."""
    def parts_of(col, n):
        x, usual, how = own(col)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(x) & np.isfinite(usual) & (_shown(usual, spec) != _shown(x, spec))
            below = ok & (_shown(x, spec) < _shown(usual, spec))
        return x, usual, how, ok, below

    def text(col, n):
        x, usual, how, ok, below = parts_of(col, n)
        use = ok & (below | ~base.risky(col, n))
        m = int(use.sum())
        xs, us = x[use], usual[use]
        parts = [_lit(prefix, m), format_values(spec, xs)]
        if nouns:
            parts += [_lit(" ", m), _plural(xs, nouns)]
        parts += [_lit(suffix + sep, m), *how(xs, us, below[use], m, less, more)]
        rest = base.text(col, n)
        return merge(n, [(use, join(parts, m)), (~use, (rest[0], rest[1][~use]))])

    def risky(col, n):
        return parts_of(col, n)[4] | base.risky(col, n)

    return Statement(text, risky)


def _than_before(w: str):
    def how(xs, us, below, m, less, more):
        diff = np.abs(xs - us)
        return [format_values(",.0f" if less == "fewer" else ",.2f", diff), _pick((f" {more} than in the {w} days before",
                                                                                 f" {less} than in the {w} days before"), below)]
    return how


def _than_usual(spec: str):
    def how(xs, us, below, m, less, more):
        return [_pick((f"{more} than their usual ", f"{less} than their usual "), below), format_values(spec, us)]
    return how


def _category(label: str, typical, missing: str, feature: str) -> Statement:
    """``label: value (most customers: mode)``; risky when not the most common value. The
    column comes as a :class:`pandas.Categorical`: texts are built per category used."""
    def text(col, n):
        v = col(feature)
        codes, cats = np.asarray(v.codes, dtype=np.int64), v.categories
        used = np.unique(codes[codes >= 0])
        tail = f" (most customers: {typical})" if typical is not None else ""
        texts = np.array([f"{label}{cats[c]}{tail if str(cats[c]) != str(typical) else ' (as most customers)'}" for c in used],
                         dtype=object)
        na = codes < 0
        return merge(n, [(~na, (texts, np.searchsorted(used, codes[~na]))), (na, _lit(missing, int(na.sum())))])

    def risky(col, n):
        v = col(feature)
        codes = np.asarray(v.codes)
        if typical is None:
            return np.zeros(n, dtype=bool)
        same = [i for i, c in enumerate(v.categories) if str(c) == str(typical)]
        return (codes >= 0) & (codes != (same[0] if same else -2))

    return Statement(text, risky)


def _recency(typical, feature: str, ratio: str | None) -> Statement:
    base = fact("no purchase for ", ".0f", DAYS, "", +1, typical, "no purchase recorded", feature)
    if ratio is None:
        return base

    def text(col, n):
        r, o = col(feature), col(ratio)
        ok = np.isfinite(r) & np.isfinite(o)
        m = int(ok.sum())
        mine = join([_lit("no purchase for ", m), format_values(".0f", r[ok]), _lit(" ", m), _plural(r[ok], DAYS),
                     _lit(", ", m), format_values(".1f", o[ok]), _lit("x their usual gap", m)], m)
        rest = base.text(col, n)
        return merge(n, [(ok, mine), (~ok, (rest[0], rest[1][~ok]))])

    def risky(col, n):
        o = col(ratio)
        with np.errstate(invalid="ignore"):
            return np.where(np.isfinite(o), _shown(o, ".1f") > 1.0, base.risky(col, n))

    return Statement(text, risky)


# fact(prefix, spec, nouns, suffix, direction) per feature of the builder; direction +1:
# a higher value is the risky side, -1: a lower one, 0: unknown (any difference)
_FACTS = {
    "p_first_purchase_days": ("first purchase ", ".0f", DAYS, " ago", -1),
    "p_count_total": ("", ".0f", ("purchase", "purchases"), " in total", -1),
    "p_amount_total": ("total spend ", ",.2f", None, "", -1),
    "p_aov": ("average order ", ",.2f", None, "", -1),
    "p_gap_median_days": ("usually buys every ", ".0f", DAYS, "", +1),
    "p_gap_mean_days": ("buys every ", ".0f", DAYS, " on average", +1),
    "p_gap_std_days": ("purchase gaps vary by ", ".0f", DAYS, "", +1),
    "p_overdue_ratio": ("last purchase ", ".1f", None, "x their usual gap ago", +1),
    "p_distinct_products": ("", ".0f", ("distinct product", "distinct products"), "", -1),
    "p_distinct_channels": ("", ".0f", ("purchase channel", "purchase channels"), "", -1),
    "s_count_total": ("", ".0f", ("support ticket", "support tickets"), " in total", +1),
    "s_days_since_last": ("last ticket ", ".0f", DAYS, " ago", -1),
    "s_unresolved_total": ("", ".0f", ("unresolved ticket", "unresolved tickets"), "", +1),
    "s_unresolved_share": ("", ".0%", None, " of tickets unresolved", +1),
    "s_resolution_hours_mean": ("tickets take ", ".0f", None, " h to resolve on average", +1),
    "s_resolution_hours_max": ("a ticket took ", ".0f", None, " h to resolve", +1),
    "v_days_since_last": ("last survey answer ", ".0f", DAYS, " ago", 0),
    "v_responses_total": ("", ".0f", ("survey answer", "survey answers"), "", 0),
    "v_responses_per_year": ("", ".1f", None, " survey answers a year", 0),
    "v_nps_last": ("last NPS ", ".0f", None, "", -1),
    "v_nps_mean": ("average NPS ", ".1f", None, "", -1),
    "v_nps_count": ("", ".0f", ("NPS answer", "NPS answers"), "", 0),
    "v_nps_days_since_last": ("last NPS answer ", ".0f", DAYS, " ago", 0),
    "v_csat_last": ("last CSAT ", ".0f", None, "/5", -1),
    "v_csat_mean": ("average CSAT ", ".1f", None, "/5", -1),
    "v_csat_count": ("", ".0f", ("CSAT answer", "CSAT answers"), "", 0),
    "v_csat_days_since_last": ("last CSAT answer ", ".0f", DAYS, " ago", 0),
    "tenure_days": ("customer for ", ".0f", DAYS, "", -1),
    "sub_count_total": ("", ".0f", ("subscription", "subscriptions"), " in total", 0),
    "sub_active_count": ("", ".0f", ("active subscription", "active subscriptions"), "", -1),
    "sub_mrr": ("recurring revenue ", ",.2f", None, "", 0),
    "sub_tenure_days": ("subscriber for ", ".0f", DAYS, "", -1),
    "sub_days_since_last_start": ("last subscription started ", ".0f", DAYS, " ago", 0),
    "sub_days_since_last_end": ("a subscription ended ", ".0f", DAYS, " ago", -1),
    "sub_days_to_term_end": ("term ends in ", ".0f", DAYS, "", -1),
    "a_events_total": ("", ",.0f", ("activity event", "activity events"), " in total", -1),
    "a_days_since_last": ("last activity ", ".0f", DAYS, " ago", +1),
}

# the same, by pattern: (regex, builder of the fact from the match)
_PATTERNS = [
    (r"^p_count_(\d+)d$", lambda m: ("", ".0f", ("purchase", "purchases"), f" in the last {m[1]} days", -1)),
    (r"^p_amount_(\d+)d$", lambda m: ("spent ", ",.2f", None, f" in the last {m[1]} days", -1)),
    (r"^s_count_(\d+)d$", lambda m: ("", ".0f", ("ticket", "tickets"), f" in the last {m[1]} days", +1)),
    (r"^s_unresolved_(\d+)d$", lambda m: ("", ".0f", ("unresolved ticket", "unresolved tickets"), f" from the last {m[1]} days", +1)),
    (r"^s_long_resolution_(\d+)d$", lambda m: ("", ".0f", ("ticket", "tickets"), f" took long in the last {m[1]} days", +1)),
    (r"^s_cat_(.+)_(\d+)d$", lambda m: ("", ".0f", (f"'{m[1]}' ticket", f"'{m[1]}' tickets"), f" in the last {m[2]} days", +1)),
    (r"^sub_started_(\d+)d$", lambda m: ("", ".0f", ("subscription", "subscriptions"), f" started in the last {m[1]} days", 0)),
    (r"^sub_ended_(\d+)d$", lambda m: ("", ".0f", ("subscription", "subscriptions"), f" ended in the last {m[1]} days", +1)),
    (r"^sub_plan_changes_(\d+)d$", lambda m: ("", ".0f", ("plan change", "plan changes"), f" in the last {m[1]} days", +1)),
    (r"^a_(.+)_active_days_(\d+)d$", lambda m: (f"'{m[1]}' on ", ".0f", None, f" of the last {m[2]} days", -1)),
    (r"^a_(.+)_days_since_last$", lambda m: (f"last '{m[1]}' ", ".0f", DAYS, " ago", +1)),
    (r"^a_(.+)_prev_(\d+)d$", lambda m: ("", ",.0f", (f"'{m[1]}' event", f"'{m[1]}' events"), f" in the {m[2]} days before the last {m[2]}", 0)),
    (r"^a_(.+)_(\d+)d$", lambda m: ("", ",.0f", (f"'{m[1]}' event", f"'{m[1]}' events"), f" in the last {m[2]} days", -1)),
]

def _missing(feature: str, label: str) -> str:
    """What a missing value says, in words."""
    for prefix, words in (("v_nps", "no NPS answer recorded"), ("v_csat", "no CSAT answer recorded"),
                          ("v_", "no survey answer recorded"), ("s_resolution", "no resolved ticket yet"),
                          ("s_", "no support ticket recorded"), ("p_gap", "a single purchase so far"),
                          ("p_overdue", "a single purchase so far"), ("p_", "no purchase recorded"),
                          ("sub_", "no subscription recorded"), ("a_", "no activity recorded")):
        if feature.startswith(prefix):
            return words
    return f"{label}: not recorded"


def _template_spec(template: str) -> str:
    m = re.search(r"\{value:([^{}]*)\}", template)
    return m.group(1) if m else ""


def statement(feature: str, columns, typical: dict, row: dict, is_text: bool) -> Statement:
    """The :class:`Statement` of ``feature`` among the frame's ``columns``, with ``typical``
    (:func:`typical_values`) and its dictionary ``row`` (``group``, ``reason``, ``meaning``;
    a ``static_`` feature reads as its column, ``group``). Features churnlab does not know
    read as their dictionary template, compared with the typical customer."""
    t = typical.get(feature)
    cols = set(columns)
    missing = _missing(feature, str(row.get("group", feature)))
    if is_text:
        template = str(row.get("reason", f"{feature}: {{value}}"))
        label = text_before_value(template)
        label = f"{feature}: " if label is None else label
        if not feature.startswith(("p_", "s_", "v_", "sub_", "a_")):
            missing = f"{label}not recorded"
        if feature.startswith("static_"):
            label = f"{row.get('group', feature)}: "
            missing = f"{row.get('group', feature)}: not recorded"
        if feature == "v_nps_segment":
            label, missing = "last NPS: ", "no NPS answer recorded"
        return _category(label, t, missing, feature)
    if feature in ("p_recency_days", "p_overdue_ratio") and "p_recency_days" in cols:
        return _recency(typical.get("p_recency_days"), "p_recency_days", "p_overdue_ratio" if "p_overdue_ratio" in cols else None)
    m = re.match(r"^p_(count|amount)_trend_(\d+)d$", feature)
    if m:
        w = m[2]
        if m[1] == "count":
            return change(("", _nouns_after(("fewer purchase", "fewer purchases"), f" than in the {w} days before")),
                          ("", _nouns_after(("more purchase", "more purchases"), f" than in the {w} days before")),
                          f"as many purchases as in the {w} days before", ".0f", feature, missing)
        return change(("spend ", f" lower than in the previous {w} days"), ("spend ", f" higher than in the previous {w} days"),
                      f"spend as in the previous {w} days", ",.2f", feature, missing)
    if re.match(r"^sub_mrr_change_(\d+)d$", feature):
        w = re.match(r"^sub_mrr_change_(\d+)d$", feature)[1]
        return change(("recurring revenue ", f" lower than {w} days ago"), ("recurring revenue ", f" higher than {w} days ago"),
                      f"recurring revenue as {w} days ago", ",.2f", feature, missing)
    if feature == "v_nps_trend":
        return change(("last NPS ", " lower than their earlier answers"), ("last NPS ", " higher than their earlier answers"),
                      "last NPS as their earlier answers", ".1f", feature, missing)
    spec_row = _FACTS.get(feature)
    found = None
    if spec_row is None:
        for pat, make in _PATTERNS:
            found = re.match(pat, feature)
            if found:
                spec_row = make(found)
                break
    if spec_row is None:  # a feature churnlab does not know: its template, vs the typical customer
        template = str(row.get("reason", f"{feature} = {{value}}"))
        spec = _template_spec(template)
        if text_before_value(template):
            missing = text_before_value(template) + "not recorded"

        def text(col, n, template=template, spec=spec):
            x = col(feature)
            texts, codes = format_many(template, str(row.get("meaning", feature)), x)
            na = np.isnan(x)
            tail = _vs_typical(spec, t) if t is not None else ""
            texts = np.array([s + tail for s in texts], dtype=object)
            return merge(n, [(~na, (texts, codes[~na])), (na, _lit(missing, int(na.sum())))])

        def risky(col, n, spec=spec):
            x = col(feature)
            return _side(x, t, spec, 0) | (np.isnan(x) & (t is not None))

        return Statement(text, risky)
    prefix, spec, nouns, suffix, direction = spec_row
    if feature.startswith("s_long_resolution_"):
        hours = re.search(r"over ([\d.]+) h", str(row.get("reason", "")))
        w = re.search(r"_(\d+)d$", feature)[1]
        prefix, spec, nouns, suffix, direction = "", ".0f", ("ticket", "tickets"), \
            f" took over {hours[1] if hours else 'the long-resolution'} h in the last {w} days", +1
    base = fact(prefix, spec, nouns, suffix, direction, t, missing, feature)
    m = re.match(r"^p_(count|amount)_(\d+)d$", feature)
    if m:
        kind, w = m[1], m[2]
        trend = f"p_{kind}_trend_{w}d"
        total, tenure = f"p_{kind}_total", "p_first_purchase_days"
        less, more = ("fewer", "more") if kind == "count" else ("less", "more")
        if trend in cols:
            return versus_own(base, feature, spec, nouns, prefix, suffix,
                              lambda col: (col(feature), col(feature) - col(trend), _than_before(w)), less, more)
        if total in cols and tenure in cols:
            def usual(col, w=float(w)):
                x, tot, ten = col(feature), col(total), col(tenure)
                with np.errstate(invalid="ignore", divide="ignore"):
                    u = np.where(ten >= 2 * w, (tot - x) / (ten - w) * w, np.nan)
                return x, u, _than_usual(spec)
            return versus_own(base, feature, spec, nouns, prefix, suffix, usual, less, more)
        return base
    m = re.match(r"^a_(.+)_(\d+)d$", feature)
    if m and not re.match(r"^a_.+_(prev|active_days)_\d+d$", feature):
        prev = f"a_{m[1]}_prev_{m[2]}d"
        if prev in cols:
            w = m[2]

            def how(xs, us, below, n, less, more, w=w):
                return [_lit("(", n), format_values(",.0f", us), _lit(f" in the {w} days before)", n)]

            return versus_own(base, feature, spec, nouns, prefix, suffix, lambda col: (col(feature), col(prev), how),
                              "fewer", "more", sep=" ")
    return base

