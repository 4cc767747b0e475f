"""What is new: posts first seen since a subscriber's last digest and fresh, never a
source's back catalogue (unless a digest's window covers its real date), on real
databases, a real folder source and the file backend, with the clock injected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from pipeline.digest.runs import start_run
from pipeline.digest.select import selection_for
from pipeline.ingest import ingest_source, news_from
from pipeline.outbox import send_run
from pipeline.settings import Settings, load_settings
from pipeline.sources.directory import DirectorySource
from pipeline.storage import Database
from pipeline.storage.models import DigestSelection, OutboxItem, Post
from pipeline.storage.posts import post_json, published_posts
from subscribers import SubscriberStore

MONDAY = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
FRESH = timedelta(days=30)


def write(folder: Path, name: str, title: str, date: datetime | None) -> None:
    dated = f"date: {date.isoformat()}\n" if date else ""
    text = f"---\ntitle: {title}\n{dated}author: Ann Lee\n---\nAbout {title}.\n"
    (folder / name).write_text(text, encoding="utf-8")


def read(db: Database, settings: Settings, folder: Path, now: datetime, **options) -> None:
    source = DirectorySource("posts", folder, timezone=UTC)
    report = ingest_source(db, source, settings, now=now, **options)
    assert report.failed == 0, report.errors


def subscribe(db: Database, address: str) -> int:
    store = SubscriberStore(db.sessions, default_timezone="Europe/London")
    subscriber, _ = store.add(address, confirmed=True)
    return subscriber.id


def mailing(settings: Settings) -> Settings:
    kept = settings.model_dump(include={"database_url", "data_dir", "site_url"})
    return load_settings(**kept, email_backend="file", secret_key="test-secret-key-0123456789")


def new_for_a_first_digest(db: Database, now: datetime) -> list[str]:
    with db.session() as session:
        ids = selection_for(session, None, "weekly", now)
        found = dict(session.execute(select(Post.id, Post.title)).all())
    return [found[post_id] for post_id in ids]


def send_weekly(db: Database, settings: Settings, now: datetime) -> dict[int, list[str]]:
    """Plan and send the weekly digest at `now`: the titles each subscriber id was sent."""
    run = start_run(db, settings, "weekly", now).run
    send_run(db, settings, run.id, clock=lambda: now)
    with db.session() as session:
        rows = session.execute(
            select(OutboxItem.subscriber_id, DigestSelection.post_ids)
            .join(DigestSelection, DigestSelection.id == OutboxItem.selection_id)
            .where(OutboxItem.run_id == run.id, OutboxItem.status == "sent")
        ).all()
        found = dict(session.execute(select(Post.id, Post.title)).all())
    return {subscriber: [found[i] for i in post_ids] for subscriber, post_ids in rows}


def test_news_from_rules() -> None:
    seen = MONDAY
    assert news_from(seen, seen - timedelta(days=3), backlog=False, freshness=FRESH) == seen
    assert news_from(seen, seen - timedelta(days=31), backlog=False, freshness=FRESH) is None
    assert news_from(seen, None, backlog=False, freshness=FRESH) == seen
    assert news_from(seen, None, backlog=True, freshness=FRESH) is None
    old = seen - timedelta(days=400)
    assert news_from(seen, old, backlog=True, freshness=FRESH) == old
    later = seen + timedelta(days=2)  # a scheduled post: news when its date comes
    assert news_from(seen, later, backlog=False, freshness=FRESH) == later


def test_back_catalogue_is_not_mailed_unless_the_window_covers_its_date(
    db: Database, settings: Settings, posts_dir: Path
) -> None:
    write(posts_dir, "old.md", "Old essay", MONDAY - timedelta(days=200))
    write(posts_dir, "last-month.md", "Last month", MONDAY - timedelta(days=20))
    write(posts_dir, "this-week.md", "This week", MONDAY - timedelta(days=2))
    write(posts_dir, "undated.md", "Undated", None)
    read(db, settings, posts_dir, MONDAY - timedelta(hours=1))
    assert new_for_a_first_digest(db, MONDAY) == ["This week"]
    [undated] = [post_json(p, settings.base_url) for p in published_posts(db) if not p.dated]
    assert undated["title"] == "Undated" and undated["dated"] is False


def test_mail_backlog_treats_the_first_ingest_as_new_but_fresh_only(
    db: Database, settings: Settings, posts_dir: Path
) -> None:
    write(posts_dir, "old.md", "Old essay", MONDAY - timedelta(days=200))
    write(posts_dir, "last-month.md", "Last month", MONDAY - timedelta(days=20))
    write(posts_dir, "undated.md", "Undated", None)
    read(db, settings, posts_dir, MONDAY - timedelta(hours=1), mail_backlog=True)
    assert sorted(new_for_a_first_digest(db, MONDAY)) == ["Last month", "Undated"]


def test_later_ingests_are_news_when_first_seen(
    db: Database, settings: Settings, posts_dir: Path
) -> None:
    read(db, settings, posts_dir, MONDAY - timedelta(days=30))  # the source starts empty
    write(posts_dir, "undated.md", "Undated", None)
    write(posts_dir, "stale.md", "Imported late", MONDAY - timedelta(days=45))
    read(db, settings, posts_dir, MONDAY - timedelta(hours=1))
    assert new_for_a_first_digest(db, MONDAY) == ["Undated"]


def test_a_late_arrival_goes_in_the_next_digest_across_two_periods(
    db: Database, settings: Settings, posts_dir: Path
) -> None:
    config = mailing(settings)
    ann = subscribe(db, "ann@example.org")
    read(db, config, posts_dir, MONDAY - WEEK)  # first ingest: an empty source
    write(posts_dir, "first.md", "First", MONDAY - timedelta(days=3))
    read(db, config, posts_dir, MONDAY - timedelta(days=3))
    assert send_weekly(db, config, MONDAY) == {ann: ["First"]}
    # Dated before that digest, but it reached the source (a lagging feed, a file copied
    # in late) after it: new in the next period. An old post imported late is not.
    write(posts_dir, "late.md", "Late", MONDAY - timedelta(days=2))
    write(posts_dir, "ancient.md", "Ancient", MONDAY - timedelta(days=90))
    read(db, config, posts_dir, MONDAY + timedelta(days=2))
    bo = subscribe(db, "bo@example.org")
    assert send_weekly(db, config, MONDAY + WEEK) == {ann: ["Late"], bo: ["Late"]}
    assert send_weekly(db, config, MONDAY + 2 * WEEK) == {}


def test_a_draft_published_later_is_news_then(
    db: Database, settings: Settings, posts_dir: Path
) -> None:
    config = mailing(settings)
    ann = subscribe(db, "ann@example.org")
    read(db, config, posts_dir, MONDAY - WEEK)
    text = "---\ntitle: Slow\ndate: {}\ndraft: {}\n---\nBody.\n"
    path = posts_dir / "slow.md"
    path.write_text(text.format((MONDAY - WEEK).isoformat(), "true"), encoding="utf-8")
    read(db, config, posts_dir, MONDAY - timedelta(days=5))
    assert send_weekly(db, config, MONDAY) == {}
    path.write_text(text.format((MONDAY - WEEK).isoformat(), "false"), encoding="utf-8")
    read(db, config, posts_dir, MONDAY + timedelta(days=1))
    assert send_weekly(db, config, MONDAY + WEEK) == {ann: ["Slow"]}
