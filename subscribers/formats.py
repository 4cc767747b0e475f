"""The subscriber exports of other tools, recognised by their columns.

Each reader turns one row (a dict of lower-cased column name to cell) into a `Row`:
the address, what the person told the other tool, and how they stood there (subscribed,
pending, or gone: unsubscribed, cleaned, blocklisted, disabled). Column names and values
follow each tool's documented export:

- Mailchimp: one file per audience status (subscribed, unsubscribed, cleaned,
  non-subscribed) with "Email Address", "First Name", "Last Name", TAGS, OPTIN_TIME,
  OPTIN_IP, CONFIRM_TIME, CONFIRM_IP, TIMEZONE, UNSUB_TIME (unsubscribed file) and
  CLEAN_TIME (cleaned file).
- Substack: email, active_subscription, expiry, plan, email_disabled, created_at.
- Buttondown: email (or email_address), subscriber_type (or type), creation_date, tags,
  unsubscription_date, undeliverability_date, ip_address.
- Ghost: id, email, name, note, subscribed_to_emails, complimentary_plan, created_at,
  labels.
- listmonk: uuid, email, name, attributes, status (enabled, disabled, blocklisted),
  created_at (Go's time format), updated_at.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from subscribers.errors import SubscriberError, shown
from subscribers.profile import check_timezone

Cells = Mapping[str, str]


@dataclass(frozen=True)
class Row:
    """One person as an export gives them. `status` None: subscribed there, so confirmed
    here only if the importer vouches for their consent (--confirmed)."""

    email: str
    name: str | None = None
    frequency: str | None = None
    timezone: str | None = None
    tags: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    status: str | None = None
    joined: datetime | None = None
    left_at: datetime | None = None
    ip: str | None = None


@dataclass(frozen=True)
class Format:
    """A tool's export: its name and how to read one of its rows."""

    name: str
    read: Callable[[Cells], Row]


def detect(columns: set[str], file_name: str = "") -> Format | None:
    """The tool whose export has these (lower-cased) columns; None for a plain CSV.
    `file_name` tells Mailchimp's per-status files apart when the columns cannot."""
    if {"uuid", "email", "attributes", "status"} <= columns:
        return Format("listmonk", _listmonk)
    if {"email", "subscribed_to_emails"} <= columns:
        return Format("Ghost", _ghost)
    if "email" in columns and ({"email_disabled"} <= columns or {"active_subscription"} <= columns):
        return Format("Substack", _substack)
    if columns & {"email", "email_address"} and (
        "subscriber_type" in columns or {"type", "creation_date"} <= columns
    ):
        return Format("Buttondown", _buttondown)
    if "email address" in columns and columns & _MAILCHIMP_MARKS:
        return Format("Mailchimp", _mailchimp_reader(columns, file_name.lower()))
    return None


_MAILCHIMP_MARKS = frozenset(
    {"member_rating", "optin_time", "confirm_time", "leid", "euid", "unsub_time", "clean_time"}
)


def _mailchimp_reader(columns: set[str], file_name: str) -> Callable[[Cells], Row]:
    """Mailchimp exports each audience status to its own file: the unsubscribed one has
    UNSUB_TIME, the cleaned one (addresses that bounced) CLEAN_TIME."""
    if "unsub_time" in columns or "unsubscribed" in file_name:
        status, left_column = "unsubscribed", "unsub_time"
    elif "clean_time" in columns or "cleaned" in file_name:
        status, left_column = "bounced", "clean_time"
    elif "nonsubscribed" in file_name:
        status, left_column = "never", ""
    else:
        status, left_column = "", ""

    def read(cells: Cells) -> Row:
        if status == "never":
            raise SubscriberError("never subscribed (a Mailchimp non-subscribed contact)")
        first, last = cells.get("first name", ""), cells.get("last name", "")
        return Row(
            email=cells.get("email address", ""),
            name=" ".join(filter(None, (first, last))) or None,
            timezone=_zone(cells.get("timezone")),
            tags=tag_list(cells.get("tags", "")),
            status=status or None,
            joined=moment(cells.get("confirm_time")) or moment(cells.get("optin_time")),
            left_at=moment(cells.get(left_column)) if left_column else None,
            ip=cells.get("confirm_ip") or cells.get("optin_ip") or None,
        )

    return read


def _substack(cells: Cells) -> Row:
    disabled = _true(cells.get("email_disabled", ""))
    return Row(
        email=cells.get("email", ""),
        name=cells.get("name") or None,
        status="unsubscribed" if disabled else None,
        joined=moment(cells.get("created_at")),
    )


# Buttondown's subscriber types: who receives mail, who is waiting, who has gone.
_BUTTONDOWN = {
    **dict.fromkeys(
        ("regular", "premium", "trialed", "unpaid", "gifted", "churning", "paused", "past_due"),
        "",
    ),
    "unactivated": "pending",
    "unsubscribed": "unsubscribed",
    "removed": "unsubscribed",
    "churned": "",
    "undeliverable": "bounced",
    "complained": "complained",
}
_BUTTONDOWN_REFUSED = frozenset({"blocked", "spammy"})


def _buttondown(cells: Cells) -> Row:
    kind = (cells.get("subscriber_type") or cells.get("type") or "regular").strip().lower()
    if kind in _BUTTONDOWN_REFUSED:
        raise SubscriberError(f"not subscribed (Buttondown type {shown(kind)})")
    if kind not in _BUTTONDOWN:
        raise SubscriberError(f"unknown Buttondown type {shown(kind)}")
    status = _BUTTONDOWN[kind] or None
    left_at = {
        "unsubscribed": cells.get("unsubscription_date"),
        "bounced": cells.get("undeliverability_date"),
    }.get(status or "")
    return Row(
        email=cells.get("email") or cells.get("email_address") or "",
        tags=tag_list(cells.get("tags", "")),
        status=status,
        joined=moment(cells.get("creation_date") or cells.get("subscription_date")),
        left_at=moment(left_at),
        ip=cells.get("ip_address") or None,
    )


def _ghost(cells: Cells) -> Row:
    subscribed = _true(cells.get("subscribed_to_emails", ""))
    return Row(
        email=cells.get("email", ""),
        name=cells.get("name") or None,
        tags=tag_list(cells.get("labels", "")),
        status=None if subscribed else "unsubscribed",
        joined=moment(cells.get("created_at")),
    )


# listmonk's subscriber statuses; disabled and blocklisted people are never mailed.
_LISTMONK = {"enabled": "", "disabled": "unsubscribed", "blocklisted": "unsubscribed"}


def _listmonk(cells: Cells) -> Row:
    state = cells.get("status", "").strip().lower()
    if state not in _LISTMONK:
        raise SubscriberError(f"unknown listmonk status {shown(state)}")
    status = _LISTMONK[state] or None
    return Row(
        email=cells.get("email", ""),
        name=cells.get("name") or None,
        status=status,
        joined=moment(cells.get("created_at")),
        left_at=moment(cells.get("updated_at")) if status else None,
    )


def tag_list(cell: str) -> list[str]:
    """Tags from one cell, as the tools write them: `"a","b"` (Mailchimp), `a, b` (Ghost,
    Buttondown), or a JSON array."""
    text = cell.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return [str(item).strip() for item in parsed if str(item).strip()]
        text = text.strip("[]")
    parts = next(csv.reader([text], skipinitialspace=True), [])
    return [part.strip().strip("'\"").strip() for part in parts if part.strip().strip("'\"")]


# Go's time.String(): "2021-06-05 10:11:12.123456789 +0000 UTC" (listmonk's export).
_GO_TIME = re.compile(
    r"(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(?:\.(\d+))? ([+-]\d\d):?(\d\d)(?: \S+)?"
)


def moment(raw: str | None) -> datetime | None:
    """A time as the tools write it (ISO 8601, "2020-01-01 10:00:00" in UTC, Go's format),
    aware and in UTC; None when blank or unreadable (the row is still imported)."""
    text = (raw or "").strip()
    if not text:
        return None
    if match := _GO_TIME.fullmatch(text):
        day, clock, fraction, hours, minutes = match.groups()
        text = f"{day}T{clock}.{(fraction or '0')[:6]}{hours}:{minutes}"
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=parsed.tzinfo or UTC).astimezone(UTC)


def _zone(raw: str | None) -> str | None:
    """The zone if it is one the store knows: another tool's guess never refuses a row."""
    try:
        return check_timezone(raw) if raw and raw.strip() else None
    except SubscriberError:
        return None


def _true(raw: str) -> bool:
    return raw.strip().lower() in {"true", "t", "yes", "y", "1"}
