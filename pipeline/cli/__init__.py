"""The `newsletter` command line (DESIGN.md lists its commands)."""

from __future__ import annotations

import sys

import typer
from sqlalchemy.exc import SQLAlchemyError

from pipeline.cli import broadcast, content, demo, digest, feeds, serve, subscribers, worker
from pipeline.cli.context import EXIT_BAD_INPUT, describe_database_error, err
from pipeline.settings import SettingsProblem

app = typer.Typer(
    help="Posts in; feeds and email digests out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(content.init)
app.command()(content.ingest)
app.command()(serve.serve)
app.command()(worker.worker)
app.command()(demo.demo)
app.command()(broadcast.broadcast)
app.add_typer(content.config_app, name="config")
app.add_typer(content.posts_app, name="posts")
app.add_typer(feeds.feeds_app, name="feeds")
app.add_typer(subscribers.subscribers_app, name="subscribers")
app.add_typer(digest.digest_app, name="digest")
app.add_typer(digest.deliveries_app, name="deliveries")


def main() -> None:
    """Entry point: a setting found unworkable mid-command (a delivery backend without its
    key, an unreadable DKIM key) or a failing database is one line, not a traceback."""
    try:
        app()
    except SettingsProblem as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(EXIT_BAD_INPUT)
    except SQLAlchemyError as exc:
        err.print(f"error: database: {describe_database_error(exc)}", markup=False)
        sys.exit(EXIT_BAD_INPUT)
