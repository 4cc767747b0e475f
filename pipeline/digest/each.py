"""Per-post mail (frequency `each`): one run per post that became news, for the subscribers
who chose `each`, keyed (`each`, `post-ID`) so it is made once whoever asks, and sent like
any digest run (the same outbox, claims, retries, unsubscribe links).

A post gets its run while it is news: from when it became news (`Post.news_at`) for its
DIGEST_WINDOWS["each"] hours, which is also how long the run may take to go out.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.digest.runs import RunStart, open_digest_run
from pipeline.digest.select import Plan, Planned, grouped, planned_post
from pipeline.frequencies import EACH, post_period
from pipeline.outbox import started_periods
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.storage.models import Post


def pending_posts(db: Database, settings: Settings, now: datetime) -> list[int]:
    """Posts that are news now and have no run of their own yet, oldest first."""
    since = now - timedelta(hours=settings.digest_windows[EACH])
    query = (
        select(Post.id)
        .where(Post.status == "published", Post.news_at > since, Post.news_at <= now)
        .order_by(Post.news_at, Post.id)
    )
    with db.session() as session:
        ids = list(session.scalars(query))
    started = started_periods(db, EACH, [post_period(post_id) for post_id in ids])
    return [post_id for post_id in ids if post_period(post_id) not in started]


def start_post_runs(db: Database, settings: Settings, now: datetime) -> list[RunStart]:
    """A run for each pending post (see `pending_posts`), with its outbox rows."""
    lookback = now - timedelta(hours=settings.digest_windows[EACH])
    return [
        open_digest_run(
            db,
            settings,
            EACH,
            post_period(post_id),
            now,
            functools.partial(_planner, post_id=post_id, lookback=lookback),
        )
        for post_id in pending_posts(db, settings, now)
    ]


def _planner(
    session: Session, _cutoff: datetime, *, post_id: int, lookback: datetime
) -> Iterator[list[Planned]]:
    return planned_post(session, post_id, lookback)


def plan_pending(db: Database, settings: Settings, now: datetime) -> tuple[int, Plan]:
    """(pending posts, who would get which) for a send of per-post mail now."""
    pending = pending_posts(db, settings, now)
    lookback = now - timedelta(hours=settings.digest_windows[EACH])
    with db.session() as session:
        chunks = [
            chunk for post_id in pending for chunk in planned_post(session, post_id, lookback)
        ]
    return len(pending), grouped(chunks)
