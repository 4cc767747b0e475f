"""Keeping and reading the public copies of runs' mail.

A copy is the mail's own HTML with its slots filled by public values: the built-in
personal slots (address, name, To) become empty, every link slot (unsubscribe, preferences)
leads to the site, any other slot is emptied. So whatever a template personalises, the
archive shows nobody's address, name or token.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from pipeline.frequencies import EACH
from pipeline.mail.template import MessageTemplate
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.storage.models import ArchivedMail

PUBLIC_KINDS = frozenset({"digest", "broadcast"})  # the runs whose mail the archive shows


@dataclass(frozen=True)
class ArchiveEntry:
    """One archived mail as lists and feeds show it."""

    kind: str
    subject: str
    path: str
    published_at: datetime


def archive_path(frequency: str, period: str) -> str:
    """The page of the run for `frequency` and `period` (what identifies a run)."""
    return f"/archive/{quote(frequency, safe='')}/{quote(period, safe='')}"


def archive_url(settings: Settings, frequency: str, period: str) -> str:
    """The absolute "View in browser" address of that run's mail."""
    return settings.base_url + archive_path(frequency, period)


def archive_kind(run_kind: str, frequency: str) -> str:
    """What readers call it: a broadcast, a per-post mail, or a digest."""
    if run_kind != "digest":
        return run_kind
    return "post" if frequency == EACH else "digest"


def public_html(template: MessageTemplate, base_url: str) -> str:
    """The template's HTML with each slot holding a public value (see the module)."""

    def public(match: re.Match[str]) -> str:
        return html.escape(f"{base_url}/") if match.group(1).endswith("_url") else ""

    return template.slot.sub(public, template.html)


def keep(
    db: Database,
    *,
    run_id: int,
    run_kind: str,
    frequency: str,
    period: str,
    template: MessageTemplate,
    base_url: str,
    now: datetime,
) -> bool:
    """Keep the run's public copy unless it has one (or it is no mail for the public, such as
    a round of invitations); whether this call kept it."""
    if run_kind not in PUBLIC_KINDS:
        return False
    entry = ArchivedMail(
        run_id=run_id,
        kind=archive_kind(run_kind, frequency),
        frequency=frequency,
        period=period,
        subject=template.subject,
        html=public_html(template, base_url),
        published_at=now,
    )
    try:
        with db.session() as session:
            if session.scalar(select(ArchivedMail.id).where(ArchivedMail.run_id == run_id)):
                return False
            session.add(entry)
    except IntegrityError:  # another sender kept it first
        return False
    return True


def count_entries(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(ArchivedMail)) or 0


def latest_entries(db: Database, *, limit: int, offset: int = 0) -> list[ArchiveEntry]:
    """The newest archived mails first."""
    query = (
        select(
            ArchivedMail.kind,
            ArchivedMail.subject,
            ArchivedMail.frequency,
            ArchivedMail.period,
            ArchivedMail.published_at,
        )
        .order_by(ArchivedMail.published_at.desc(), ArchivedMail.id.desc())
        .offset(offset)
        .limit(limit)
    )
    with db.session() as session:
        return [
            ArchiveEntry(
                row.kind, row.subject, archive_path(row.frequency, row.period), row.published_at
            )
            for row in session.execute(query)
        ]


def find_entry(db: Database, frequency: str, period: str) -> str | None:
    """The archived HTML of that run's mail, if it went out."""
    query = select(ArchivedMail.html).where(
        ArchivedMail.frequency == frequency, ArchivedMail.period == period
    )
    with db.session() as session:
        return session.scalar(query)
