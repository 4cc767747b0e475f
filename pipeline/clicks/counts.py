"""Click counts in the database: one row per run and post, raised in one statement.

An upsert (`INSERT … ON CONFLICT DO UPDATE SET clicks = clicks + 1`) is atomic on SQLite
and PostgreSQL alike, so concurrent hits never lose a count, and however often a link is
followed the table grows by one row per run and post at most.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.storage import Database
from pipeline.storage.dialect import clash_aware_insert
from pipeline.storage.models import ClickCount, Post


def count_click(db: Database, run_id: int, post_id: int) -> bool:
    """Add one to the run's count for the post; False if the run or post is gone."""

    def work(session: Session) -> None:
        statement = clash_aware_insert(session, ClickCount).values(
            run_id=run_id, post_id=post_id, clicks=1
        )
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[ClickCount.run_id, ClickCount.post_id],
                set_={"clicks": ClickCount.clicks + 1},
            )
        )

    try:
        db.patiently(work)
    except IntegrityError:  # the run was deleted since the mail went out
        return False
    return True


@dataclass
class ClickTotals:
    """Clicks per run, and per post within each run (title, clicks), most clicked first."""

    runs: dict[int, int] = field(default_factory=dict)
    posts: dict[int, list[tuple[str, int]]] = field(default_factory=dict)


def click_totals(db: Database, run_ids: list[int]) -> ClickTotals:
    """The counts of `run_ids` (runs without a click are absent)."""
    totals = ClickTotals()
    if not run_ids:
        return totals
    per_post: dict[int, list[tuple[str, int]]] = defaultdict(list)
    with db.session() as session:
        rows = session.execute(
            select(ClickCount.run_id, Post.title, ClickCount.clicks)
            .join(Post, Post.id == ClickCount.post_id)
            .where(ClickCount.run_id.in_(run_ids))
            .order_by(ClickCount.run_id, ClickCount.clicks.desc(), Post.title)
        )
        for run_id, title, clicks in rows:
            per_post[run_id].append((title, clicks))
            totals.runs[run_id] = totals.runs.get(run_id, 0) + clicks
    totals.posts = dict(per_post)
    return totals
