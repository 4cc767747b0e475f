"""Who gets which posts: periods, each subscriber's posts since their last digest, grouping.

A subscriber gets the published posts that became news (`Post.news_at`: first seen,
fresh, not back catalogue; see `pipeline.ingest.news_from`) after their last delivered
digest (any frequency: switching from weekly to daily neither repeats nor skips a post)
and up to the run's cutoff, filtered by their topics. A post that reaches its source
late, with a date before the last digest, is still new then. On a first digest the window
is the last 1/7/30 days. Subscribers with the same posts share one selection, rendered
once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.outbox.rows import last_digests
from pipeline.storage.models import Post
from subscribers import Subscriber

FIRST_DIGEST_LOOKBACK = {
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
    "monthly": timedelta(days=30),
}


def period_of(frequency: str, moment: datetime, zone: tzinfo) -> str:
    """The key of the daily (2026-11-22), weekly (ISO week, 2026-W47) or monthly (2026-11)
    period `moment` falls in, read in `zone`."""
    day = moment.astimezone(zone).date()
    if frequency == "daily":
        return day.isoformat()
    if frequency == "weekly":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if frequency == "monthly":
        return f"{day:%Y-%m}"
    raise ValueError(f"unknown frequency {frequency!r}")


@dataclass(frozen=True)
class Candidate:
    """A post that may go into this run: what selection needs to know of it."""

    id: int
    news_at: datetime
    tags: frozenset[str]


@dataclass
class Plan:
    """A run's recipients grouped by selection: post ids (newest first) → subscriber ids."""

    groups: dict[tuple[int, ...], list[int]] = field(default_factory=dict)
    zones: dict[int, str] = field(default_factory=dict)  # subscriber id → time zone

    @property
    def recipients(self) -> int:
        return sum(len(subscribers) for subscribers in self.groups.values())


def plan(session: Session, frequency: str, cutoff: datetime) -> Plan:
    """Every confirmed subscriber of `frequency` with something new, grouped by selection."""
    subscribers = session.execute(
        select(Subscriber.id, Subscriber.topics, Subscriber.timezone).where(
            Subscriber.status == "confirmed", Subscriber.frequency == frequency
        )
    ).all()
    last = last_digests(session, (row.id for row in subscribers))
    lookback = cutoff - FIRST_DIGEST_LOOKBACK[frequency]
    earliest = min([lookback, *last.values()])
    posts = candidates(session, earliest, cutoff)
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for row in subscribers:
        chosen = choose(posts, last.get(row.id, lookback), row.topics)
        if chosen:
            groups[chosen].append(row.id)
    return Plan(dict(groups), {row.id: row.timezone for row in subscribers})


def selection_for(
    session: Session, subscriber: Subscriber | None, frequency: str, cutoff: datetime
) -> tuple[int, ...]:
    """The posts one subscriber (or, for None, a new subscriber) would get now."""
    lookback = cutoff - FIRST_DIGEST_LOOKBACK[frequency]
    if subscriber is None:
        return choose(candidates(session, lookback, cutoff), lookback, ())
    since = last_digests(session, [subscriber.id]).get(subscriber.id, lookback)
    return choose(candidates(session, since, cutoff), since, subscriber.topics)


def choose(
    posts: Iterable[Candidate], since: datetime, topics: Iterable[str] | None
) -> tuple[int, ...]:
    """The ids of `posts` new after `since` that match `topics` (none: all)."""
    wanted = frozenset(topic.casefold() for topic in topics or ())
    return tuple(
        post.id for post in posts if post.news_at > since and (not wanted or post.tags & wanted)
    )


def candidates(session: Session, after: datetime, cutoff: datetime) -> list[Candidate]:
    """Published posts that became news in (after, cutoff], newest first; drafts and
    removed posts never."""
    rows = session.execute(
        select(Post.id, Post.news_at, Post.tags)
        .where(Post.status == "published", Post.news_at > after, Post.news_at <= cutoff)
        .order_by(Post.published.desc(), Post.id.desc())
    )
    return [
        Candidate(row.id, row.news_at, frozenset(tag.casefold() for tag in row.tags))
        for row in rows
    ]
