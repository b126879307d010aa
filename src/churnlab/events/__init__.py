"""The event data contract and its loaders (see :mod:`churnlab.events.contract`)."""

from churnlab.checks import to_timestamp
from churnlab.events.contract import (
    DEFAULT_TIME_RANGE,
    MAX_VALUE,
    SCORE_RANGES,
    TABLE_SCHEMAS,
    TIMESTAMP_UNITS,
    EventValidationError,
    TableSchema,
    validate_table,
)
from churnlab.events.tables import EventTables, as_events, load_events, load_events_dir, read_table, save_events_dir

__all__ = [
    "DEFAULT_TIME_RANGE",
    "EventTables",
    "EventValidationError",
    "MAX_VALUE",
    "SCORE_RANGES",
    "TABLE_SCHEMAS",
    "TIMESTAMP_UNITS",
    "TableSchema",
    "as_events",
    "load_events",
    "load_events_dir",
    "read_table",
    "save_events_dir",
    "to_timestamp",
    "validate_table",
]
