"""What each feature means, how a reason reads, and which driver group it belongs to."""

from __future__ import annotations

import re

from churnlab.features.config import FeatureConfig

__all__ = ["COMPOSITE_REASONS", "FAMILIES", "composite_reasons", "describe_feature", "describe_static", "escape_braces"]

#: Feature-name prefix -> the event table the feature comes from.
FAMILIES = {"p": "purchases", "s": "support", "v": "surveys", "sub": "subscriptions", "a": "activity"}

#: Reasons that read two features of one driver group at once: (feature, piece) joined in
#: order, e.g. "no purchase for 40 days, 2.5x their usual gap".
COMPOSITE_REASONS = {
    "recency": (("p_recency_days", "no purchase for {value:.0f} days"), ("p_overdue_ratio", ", {value:.1f}x their usual gap")),
    "unresolved_tickets": (
        ("s_unresolved_total", "{value:.0f} unresolved tickets"),
        ("s_unresolved_30d", " ({value:.0f} opened in the last 30 days)"),
    ),
    "nps": (("v_nps_last", "last NPS {value:.0f}"), ("v_nps_segment", " ({value})")),
}


_ACTIVITY = [  # (pattern, meaning, reason), the event type's slug first in each match
    (r"^a_(.+)_prev_(\d+)d$", "'{t}' events (value summed) in the {w} days before the last {w}",
     "{{value:,.0f}} '{t}' events in the {w} days before the last {w}"),
    (r"^a_(.+)_active_days_(\d+)d$", "days with a '{t}' event in the last {w} days",
     "'{t}' on {{value:.0f}} of the last {w} days"),
    (r"^a_(.+)_days_since_last()$", "days since the last '{t}' event", "last '{t}' {{value:.0f}} days ago"),
    (r"^a_(.+)_(\d+)d$", "'{t}' events (value summed) in the last {w} days", "{{value:,.0f}} '{t}' events in the last {w} days"),
]


def composite_reasons(columns) -> dict[str, tuple[tuple[str, str], ...]]:
    """:data:`COMPOSITE_REASONS` plus one per activity event type among ``columns``: its count
    in the trend window beside the window before, e.g. "12 'login' events in the last 90
    days (40 in the 90 days before)"."""
    out = dict(COMPOSITE_REASONS)
    for col in columns:
        m = re.match(r"^a_(.+)_prev_(\d+)d$", col)
        if m and m.group(1) not in ("events",):
            t, w = m.groups()
            out[f"activity_{t}"] = ((f"a_{t}_{w}d", f"{{value:,.0f}} '{t}' events in the last {w} days"),
                                    (col, f" ({{value:,.0f}} in the {w} days before)"))
    return out


def escape_braces(text: str) -> str:
    """``text`` as literal text inside a reason template (braces doubled): a user's column
    name such as ``tenure{months}`` is shown, never read as a placeholder.

    >>> escape_braces("tenure{months}")
    'tenure{{months}}'
    """
    return str(text).replace("{", "{{").replace("}", "}}")


def describe_static(name: str, column: str) -> tuple[str, str, str, str, str]:
    """The dictionary row of static attribute feature ``name``, read from the customers
    table's ``column``: the user's column name in the group, meaning and reason."""
    return name, "static", str(column), f"static customer attribute `{column}`", f"{escape_braces(column)}: {{value}}"


def describe_feature(name: str, cfg: FeatureConfig) -> tuple[str, str, str, str, str]:
    """(feature, family, driver group, one-line meaning, reason template) for a feature name.

    Reason templates use ``{value}`` for the feature's value, read in :mod:`churnlab.explain`.
    """
    if name.startswith("static_"):
        return describe_static(name, name[len("static_") :])
    fam = FAMILIES.get(name.split("_", 1)[0], "customer")
    m = re.search(r"_(\d+)d$", name)
    w = m.group(1) if m else ""
    table = {
        "p_recency_days": ("recency", "days since the last purchase", "no purchase for {value:.0f} days"),
        "p_first_purchase_days": ("tenure", "days since the first purchase", "first purchase {value:.0f} days ago"),
        "p_count_total": ("frequency", "purchases ever", "{value:.0f} purchases in total"),
        "p_amount_total": ("monetary", "total spend ever", "total spend {value:,.2f}"),
        "p_aov": ("monetary", "average order value", "average order {value:,.2f}"),
        "p_gap_median_days": ("purchase_cycle", "median days between purchases", "usually buys every {value:.0f} days"),
        "p_gap_mean_days": ("purchase_cycle", "mean days between purchases", "buys every {value:.0f} days on average"),
        "p_gap_std_days": ("purchase_cycle", "std of days between purchases", "purchase gaps vary by {value:.0f} days"),
        "p_overdue_ratio": (
            "recency",
            "days since last purchase / median gap",
            "last purchase is {value:.1f}x their usual gap ago",
        ),
        "p_distinct_products": ("breadth", "distinct products bought", "{value:.0f} distinct products"),
        "p_distinct_channels": ("breadth", "distinct purchase channels", "{value:.0f} purchase channels"),
        "s_count_total": ("support_volume", "support tickets ever", "{value:.0f} support tickets in total"),
        "s_days_since_last": ("support_recency", "days since the last ticket", "last ticket {value:.0f} days ago"),
        "s_unresolved_total": ("unresolved_tickets", "tickets unresolved at as_of", "{value:.0f} unresolved tickets"),
        "s_unresolved_share": (
            "unresolved_tickets",
            "share of tickets unresolved at as_of",
            "{value:.0%} of tickets unresolved",
        ),
        "s_resolution_hours_mean": (
            "long_resolution",
            "mean resolution hours (tickets resolved by as_of)",
            "tickets take {value:.0f} h to resolve on average",
        ),
        "s_resolution_hours_max": (
            "long_resolution",
            "slowest resolution in hours",
            "a ticket took {value:.0f} h to resolve",
        ),
        "v_days_since_last": ("survey_recency", "days since the last survey answer", "last survey {value:.0f} days ago"),
        "v_responses_total": ("survey_engagement", "survey answers ever", "{value:.0f} survey answers"),
        "v_responses_per_year": ("survey_engagement", "survey answers per year of tenure", "{value:.1f} answers a year"),
        "v_nps_last": ("nps", "last NPS score (0-10)", "last NPS {value:.0f}"),
        "v_nps_mean": ("nps", "mean NPS score", "average NPS {value:.1f}"),
        "v_nps_count": ("nps", "NPS answers", "{value:.0f} NPS answers"),
        "v_nps_days_since_last": ("nps", "days since the last NPS answer", "last NPS answer {value:.0f} days ago"),
        "v_nps_trend": ("nps", "last NPS minus the mean of earlier ones", "NPS moved {value:+.1f} vs before"),
        "v_nps_segment": ("nps", "detractor (0-6) / passive (7-8) / promoter (9-10)", "last NPS: {value}"),
        "v_csat_last": ("csat", "last CSAT score (1-5)", "last CSAT {value:.0f}/5"),
        "v_csat_mean": ("csat", "mean CSAT score", "average CSAT {value:.1f}/5"),
        "v_csat_count": ("csat", "CSAT answers", "{value:.0f} CSAT answers"),
        "v_csat_days_since_last": ("csat", "days since the last CSAT answer", "last CSAT {value:.0f} days ago"),
        "tenure_days": ("tenure", "days since signup or first event", "customer for {value:.0f} days"),
        "sub_count_total": ("subscriptions", "subscriptions ever", "{value:.0f} subscriptions in total"),
        "sub_active_count": ("subscription_status", "subscriptions active at as_of", "{value:.0f} active subscriptions"),
        "sub_mrr": ("recurring_revenue", "recurring revenue of the active subscriptions", "recurring revenue {value:,.2f}"),
        "sub_tenure_days": ("tenure", "days since the first subscription started", "subscriber for {value:.0f} days"),
        "sub_days_since_last_start": ("subscription_changes", "days since a subscription last started",
                                      "last subscription started {value:.0f} days ago"),
        "sub_days_since_last_end": ("subscription_changes", "days since a subscription last ended",
                                    "a subscription ended {value:.0f} days ago"),
        "sub_days_to_term_end": ("term_end", "days to the current term's end", "term ends in {value:.0f} days"),
        "a_events_total": ("activity_volume", "activity events ever (value summed)", "{value:,.0f} activity events in total"),
        "a_days_since_last": ("activity_recency", "days since the last activity event", "last activity {value:.0f} days ago"),
    }
    if name in table:
        group, meaning, reason = table[name]
        return name, fam, group, meaning, reason
    if name.startswith("a_"):
        for pat, meaning, reason in _ACTIVITY:
            m = re.match(pat, name)
            if m:
                t, win = m.group(1), m.group(2)
                return name, fam, f"activity_{t}", meaning.format(t=t, w=win), reason.format(t=t, w=win)
    patterns = [
        (r"^sub_mrr_change_", "recurring_revenue", f"recurring revenue now minus {w} days ago",
         "recurring revenue {value:+,.2f} vs " + w + " days ago"),
        (r"^sub_started_\d+d$", "subscription_changes", f"subscriptions started in the last {w} days",
         "{value:.0f} subscriptions started in the last " + w + " days"),
        (r"^sub_ended_\d+d$", "subscription_changes", f"subscriptions ended in the last {w} days",
         "{value:.0f} subscriptions ended in the last " + w + " days"),
        (r"^sub_plan_changes_", "subscription_changes", f"plan changes (one ends, another starts) in the last {w} days",
         "{value:.0f} plan changes in the last " + w + " days"),
        (r"^p_count_trend_", "frequency_trend", f"purchases in the last {w} days minus the {w} before",
         "{value:+.0f} purchases vs the previous " + w + " days"),
        (r"^p_amount_trend_", "frequency_trend", f"spend in the last {w} days minus the {w} before",
         "spend {value:+,.2f} vs the previous " + w + " days"),
        (r"^p_count_\d+d$", "frequency", f"purchases in the last {w} days", "{value:.0f} purchases in the last " + w + " days"),
        (r"^p_amount_\d+d$", "monetary", f"spend in the last {w} days", "spent {value:,.2f} in the last " + w + " days"),
        (r"^s_count_\d+d$", "support_volume", f"support tickets in the last {w} days",
         "{value:.0f} tickets in the last " + w + " days"),
        (r"^s_unresolved_\d+d$", "unresolved_tickets", f"tickets opened in the last {w} days and unresolved at as_of",
         "{value:.0f} unresolved tickets from the last " + w + " days"),
        (r"^s_long_resolution_", "long_resolution", f"tickets in the last {w} days resolved after > {cfg.long_resolution_hours:g} h",
         "{value:.0f} tickets took over " + f"{cfg.long_resolution_hours:g}" + " h in the last " + w + " days"),
        (r"^s_cat_", "support_categories", f"tickets of this category in the last {w} days",
         "{value:.0f} '" + name[len("s_cat_"): -len(f"_{w}d")] + "' tickets in the last " + w + " days"),
    ]
    for pat, group, meaning, reason in patterns:
        if re.search(pat, name):
            return name, fam, group, meaning, reason
    return name, fam, name, name, f"{name} = {{value}}"
