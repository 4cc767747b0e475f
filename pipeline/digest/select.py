"""Who gets which posts: each subscriber's posts since their last digest, grouping.

A subscriber gets the published posts that became news (`Post.news_at`: first seen,
fresh, not back catalogue; see `pipeline.ingest.news_from`) after their last delivered
digest (any frequency: switching from weekly to daily neither repeats nor skips a post)
and up to the run's cutoff, filtered by their topics. A post that reaches its source
late, with a date before the last digest, is still new then. On a first digest the window
is the frequency's first lookback (the last 1/7/30 days, see `pipeline.frequencies`).
Subscribers with the same posts share one selection, rendered once.

A run's plan is read in chunks of subscribers, in id order, and each chunk is queued
before the next is read, so planning a million subscribers takes no more memory than
planning a thousand.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from pipeline.frequencies import CADENCES, EACH
from pipeline.outbox.rows import last_digests
from pipeline.storage.models import Post
from subscribers import Frequency, Subscriber

PLAN_CHUNK = 5_000


@dataclass(frozen=True)
class Candidate:
    """A post that may go into this run: what selection needs to know of it."""

    id: int
    news_at: datetime
    tags: frozenset[str]


@dataclass(frozen=True)
class Planned:
    """One subscriber with something new: the post ids (newest first) and their time zone."""

    subscriber_id: int
    post_ids: tuple[int, ...]
    zone: str


@dataclass
class Plan:
    """A run's recipients grouped by selection: post ids (newest first) → subscriber ids."""

    groups: dict[tuple[int, ...], list[int]] = field(default_factory=dict)

    @property
    def recipients(self) -> int:
        return sum(len(subscribers) for subscribers in self.groups.values())


def plan(session: Session, frequency: Frequency, cutoff: datetime) -> Plan:
    """Every confirmed subscriber of `frequency` with something new, grouped by selection
    (in memory: for previews and counts; a run queues `planned` chunk by chunk)."""
    return grouped(planned(session, frequency, cutoff))


def grouped(chunks: Iterable[list[Planned]]) -> Plan:
    """A plan's chunks as one Plan, grouped by selection."""
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for chunk in chunks:
        for item in chunk:
            groups[item.post_ids].append(item.subscriber_id)
    return Plan(dict(groups))


def planned(
    session: Session, frequency: Frequency, cutoff: datetime, chunk: int | None = None
) -> Iterator[list[Planned]]:
    """Every confirmed subscriber of `frequency` with something new, in id order, read
    `chunk` (PLAN_CHUNK) subscribers at a time."""
    lookback = cutoff - CADENCES[frequency].first_lookback
    for subscribers in _confirmed(session, frequency, chunk or PLAN_CHUNK):
        last = last_digests(session, subscribers[0].id, subscribers[-1].id)
        posts = candidates(session, min([lookback, *last.values()]), cutoff)
        found = []
        for row in subscribers:
            chosen = choose(posts, last.get(row.id, lookback), row.topics)
            if chosen:
                found.append(Planned(row.id, chosen, row.timezone))
        yield found


def planned_post(
    session: Session, post_id: int, lookback: datetime, chunk: int | None = None
) -> Iterator[list[Planned]]:
    """The confirmed `each` subscribers who get post `post_id` in its own email, in id
    order, `chunk` (PLAN_CHUNK) at a time: those its tags match (or with no topics) who have
    not had it in a digest of another frequency (counted since their last one, or since
    `lookback` for those who never had one).

    Other per-post mails do not count: each post has its own run, and a post that became
    news before another post's mail went out is still new to its readers.
    """
    post = session.execute(
        select(Post.id, Post.news_at, Post.tags).where(
            Post.id == post_id, Post.status == "published", Post.news_at.is_not(None)
        )
    ).one_or_none()
    if post is None:
        return
    candidate = Candidate(post.id, post.news_at, frozenset(tag.casefold() for tag in post.tags))
    for subscribers in _confirmed(session, EACH, chunk or PLAN_CHUNK):
        last = last_digests(session, subscribers[0].id, subscribers[-1].id, but=EACH)
        yield [
            Planned(row.id, (post.id,), row.timezone)
            for row in subscribers
            if choose([candidate], last.get(row.id, lookback), row.topics)
        ]


def selection_for(
    session: Session, subscriber: Subscriber | None, frequency: Frequency, cutoff: datetime
) -> tuple[int, ...]:
    """The posts one subscriber (or, for None, a new subscriber) would get now."""
    lookback = cutoff - CADENCES[frequency].first_lookback
    if subscriber is None:
        return choose(candidates(session, lookback, cutoff), lookback, ())
    since = last_digests(session, subscriber.id, subscriber.id).get(subscriber.id, lookback)
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


class _Reader(NamedTuple):
    id: int
    topics: list[str]
    timezone: str


_NO_TOPICS = (None, "[]", "null")  # as most subscribers' topics are stored


def _confirmed(session: Session, frequency: Frequency, size: int) -> Iterator[list[_Reader]]:
    """The confirmed subscribers of `frequency` (id, topics, timezone), in id order, `size`
    at a time: a plan never holds more than one chunk of them. Topics are read as the
    stored text and parsed only where there are some (parsing every row's was a third of
    planning a run)."""
    after = 0
    while True:
        subscribers = [
            _Reader(key, [] if topics in _NO_TOPICS else json.loads(topics), timezone)
            for key, topics, timezone in session.execute(
                select(Subscriber.id, cast(Subscriber.topics, Text), Subscriber.timezone)
                .where(
                    Subscriber.status == "confirmed",
                    Subscriber.frequency == frequency,
                    Subscriber.id > after,
                )
                .order_by(Subscriber.id)
                .limit(size)
            )
        ]
        if not subscribers:
            return
        yield subscribers
        after = subscribers[-1].id
