"""Dates from remote sources as timezone-aware UTC datetimes.

Remote sources date posts loosely (feedparser's UTC struct_times, RFC 3339 strings,
WordPress's offset-less `*_gmt` fields); an unreadable date yields None rather than an
error, because an undated post (ingest dates it when first seen) beats a lost one.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def from_struct_time(value: time.struct_time | None) -> datetime | None:
    """A datetime from feedparser's `*_parsed` fields, which it has already normalised to UTC."""
    if value is None:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def parse_iso(value: object) -> datetime | None:
    """An ISO 8601 / RFC 3339 timestamp in UTC; one without an offset is taken to be UTC."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 with a positive offset
        return None
