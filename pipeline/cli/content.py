"""Commands for the content side: init, config check, ingest, posts."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.cli.context import (
    EXIT_OK,
    EXIT_PARTIAL,
    database,
    err,
    fail,
    out,
    print_json,
    settings,
    tracker,
)
from pipeline.delivery import check_delivery
from pipeline.delivery.providers import missing_webhook
from pipeline.links import post_url
from pipeline.redact import redacted
from pipeline.refresh import RefreshReport, refresh
from pipeline.scheduling.triggers import next_runs
from pipeline.storage.posts import post_json, published_posts
from subscribers.timestamps import utcnow

config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
posts_app = typer.Typer(help="Look at ingested posts.", no_args_is_help=True)


def init() -> None:
    """Create or migrate the database (idempotent)."""
    config = settings()
    db = database(config)
    action = "migrated" if db.migrated else "already up to date"
    db.close()
    out.print(f"database {action}: {redacted(config.effective_database_url)}", markup=False)


@config_app.command("check")
def config_check() -> None:
    """Validate the settings (sending's too) and print them, secrets masked, then when
    digests go out next; an email API without the settings of its bounce webhook is an
    error too (its bounces would go unnoticed)."""
    config = settings()
    check_delivery(config)
    for name, value in config.masked().items():
        out.print(f"{name}={'' if value is None else value}", markup=False)
    for frequency, fire in next_runs(config, utcnow()):
        out.print(f"next {frequency} digest: {fire:%a %Y-%m-%d %H:%M %Z}", markup=False)
    if problem := missing_webhook(config):
        fail(problem)


def ingest(
    source: Annotated[str | None, typer.Option(help="Only this source (by name).")] = None,
    mail_backlog: Annotated[
        bool,
        typer.Option(
            "--mail-backlog",
            help="Mail the posts a source holds at its first ingest as new (by default"
            " its back catalogue is only mailed if a digest's window covers its dates).",
        ),
    ] = False,
) -> None:
    """Pull new and updated posts from the sources; print counts; rebuild feeds on change."""
    config = settings()
    if source is not None and source not in {item.name for item in config.sources}:
        names = ", ".join(item.name for item in config.sources) or "none"
        fail(f"no source named {source!r} (configured: {names})")
    db = database(config)
    report = refresh(db, config, only=source, track=tracker("Ingesting"), mail_backlog=mail_backlog)
    db.close()
    print_refresh(report)
    raise typer.Exit(EXIT_PARTIAL if report.failed else EXIT_OK)


def print_refresh(report: RefreshReport) -> None:
    """Each source's errors and counts, then the feed build's summary if one ran."""
    for source in report.sources:
        for line in source.errors:
            err.print(f"error: {line}", markup=False)
        out.print(source.summary(), markup=False)
    if report.feeds is not None:
        out.print(report.feeds.summary(), markup=False)
        if report.feeds.hub_error:
            err.print(f"error: {report.feeds.hub_error}", markup=False)
    if report.feeds_error:
        err.print(f"error: {report.feeds_error}", markup=False)


@posts_app.command("list")
def posts_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """List published posts, newest first."""
    config = settings()
    db = database(config)
    posts = published_posts(db)
    db.close()
    if as_json:
        print_json([post_json(post, config.base_url) for post in posts])
        return
    for post in posts:
        authors = ", ".join(post.authors) or "-"
        day = f"{post.published.astimezone(config.zone):%Y-%m-%d}" if post.dated else "undated   "
        url = post_url(post.url, post.slug, config.base_url)
        out.print(f"{day}  {post.title}  ({authors})  {url}", markup=False)
