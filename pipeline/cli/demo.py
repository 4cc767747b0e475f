"""`newsletter demo`: the whole pipeline once, on the embedded defaults."""

from __future__ import annotations

import typer

from pipeline.cli.context import EXIT_OK, EXIT_PARTIAL, database, err, out, settings
from pipeline.ingest import ingest
from pipeline.storage.posts import published_posts


def demo() -> None:
    """Ingest the bundled content and show what came in."""
    config = settings()
    db = database(config)
    reports = ingest(db, config)
    posts = published_posts(db)
    db.close()
    for report in reports:
        for line in report.errors:
            err.print(f"error: {line}", markup=False)
        out.print(report.summary(), markup=False)
    out.print(f"\n{len(posts)} posts in {config.effective_database_url}:", markup=False)
    for post in posts:
        out.print(
            f"  {post.published.astimezone(config.zone):%Y-%m-%d}  {post.title}", markup=False
        )
    out.print("\nNext: `newsletter posts list --json`, or `make test`.", markup=False)
    raise typer.Exit(EXIT_PARTIAL if any(report.failed for report in reports) else EXIT_OK)
