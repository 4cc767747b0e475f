"""`newsletter demo`: the whole pipeline once, on the embedded defaults."""

from __future__ import annotations

import typer

from pipeline.cli.content import print_refresh
from pipeline.cli.context import EXIT_OK, EXIT_PARTIAL, database, out, settings
from pipeline.refresh import refresh
from pipeline.storage.posts import published_posts


def demo() -> None:
    """Ingest the bundled content, build the feeds, and say where to look."""
    config = settings()
    db = database(config)
    report = refresh(db, config, build_anyway=True)
    posts = published_posts(db)
    db.close()
    print_refresh(report)
    feeds = config.effective_feeds_dir
    out.print(f"\n{len(posts)} posts in {config.effective_database_url}:", markup=False)
    for post in posts:
        out.print(
            f"  {post.published.astimezone(config.zone):%Y-%m-%d}  {post.title}", markup=False
        )
    out.print(
        f"\nFeeds: {feeds / 'feed.xml'}, {feeds / 'atom.xml'}, {feeds / 'feed.json'}"
        f"\nNext: `make run` and open {config.base_url}/",
        markup=False,
    )
    raise typer.Exit(EXIT_PARTIAL if report.failed else EXIT_OK)
