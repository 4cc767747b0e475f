"""`newsletter demo`: the whole pipeline once, on the embedded defaults."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from pipeline.cli.content import print_refresh
from pipeline.cli.context import EXIT_OK, EXIT_PARTIAL, database, out, settings
from pipeline.digest.runs import start_run
from pipeline.outbox import SendReport, send_run
from pipeline.refresh import refresh
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.storage.posts import published_posts
from subscribers import SubscriberStore

SAMPLE_READERS = (
    ("ada@example.org", "Ada Lovelace", "Europe/London"),
    ("grace@example.org", "Grace Hopper", "America/New_York"),
    ("zoe@example.org", "Zoë Okafor", "Africa/Lagos"),
)


def demo() -> None:
    """Ingest the bundled content, build the feeds, subscribe sample readers, send a digest."""
    config = settings()
    db = database(config)
    # A first ingest is back catalogue: the demo mails it anyway, to show a digest.
    report = refresh(db, config, mail_backlog=True)
    posts = published_posts(db)
    print_refresh(report)
    out.print(f"\n{len(posts)} posts in {config.effective_database_url}:", markup=False)
    for post in posts:
        out.print(
            f"  {post.published.astimezone(config.zone):%Y-%m-%d}  {post.title}", markup=False
        )
    sent = _send_sample_digest(db, config)
    db.close()
    feeds = config.effective_feeds_dir
    out.print(
        f"\nDigest: {sent.summary()}"
        f"\nSent mail: {_mail_location(config)}"
        f"\nFeeds: {feeds / 'feed.xml'}, {feeds / 'atom.xml'}, {feeds / 'feed.json'}"
        f"\nNext: `make run` and open {config.base_url}/"
        f"\nAdmin: {config.base_url}/admin/ (set NEWSLETTER_ADMIN_USERNAME and"
        " NEWSLETTER_ADMIN_PASSWORD first)",
        markup=False,
    )
    raise typer.Exit(EXIT_PARTIAL if report.failed or sent.failed else EXIT_OK)


def _send_sample_digest(db: Database, config: Settings) -> SendReport:
    """Subscribe the sample readers (confirmed) and send them this week's digest."""
    store = SubscriberStore(db.sessions, default_timezone=config.timezone)
    for email, name, zone in SAMPLE_READERS:
        store.add(email, name=name, timezone=zone, confirmed=True, method="admin")
    return send_run(db, config, start_run(db, config, "weekly", datetime.now(UTC)).run.id)


def _mail_location(config: Settings) -> str:
    if config.email_backend == "file":
        return f"{config.data_dir / 'outbox'}/*.eml"
    return f"through the {config.email_backend} backend"
