"""Built-in data: a synthetic event generator with planted churn drivers
(:mod:`~churnlab.datasets.demo`), a labelled customer table (:mod:`~churnlab.datasets.table`), a subscription business
(:mod:`~churnlab.datasets.subscriptions`),
the real CDNOW log (:mod:`~churnlab.datasets.cdnow`) and a labelled table derived from it
(:mod:`~churnlab.datasets.cdnow_table`)."""

from churnlab.datasets.cdnow import CDNOW_ATTRIBUTION, load_cdnow
from churnlab.datasets.cdnow_table import load_cdnow_table
from churnlab.datasets.demo import PLANTED_DRIVERS, make_demo_events
from churnlab.datasets.subscriptions import make_demo_subscriptions
from churnlab.datasets.table import make_demo_table

__all__ = ["CDNOW_ATTRIBUTION", "PLANTED_DRIVERS", "load_cdnow", "load_cdnow_table", "make_demo_events", "make_demo_subscriptions", "make_demo_table"]
