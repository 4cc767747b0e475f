"""`newsletter feeds build`: write the RSS, Atom and JSON feeds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.context import EXIT_OK, EXIT_PARTIAL, database, err, fail, out, settings, tracker
from pipeline.feeds import build_feeds, write_error

feeds_app = typer.Typer(help="Build the RSS, Atom and JSON feeds.", no_args_is_help=True)


@feeds_app.command("build")
def build(
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="Write here instead of FEEDS_DIR."),
    ] = None,
) -> None:
    """Write feed.xml, atom.xml and feed.json for the site, each tag and each author.

    Feeds whose posts did not change are left untouched.
    """
    config = settings()
    db = database(config)
    try:
        report = build_feeds(db, config, out_dir, track=tracker("Building feeds"))
    except OSError as exc:
        fail(write_error(exc, out_dir or config.effective_feeds_dir))
    finally:
        db.close()
    out.print(report.summary(), markup=False)
    if report.hub_error:
        err.print(f"error: {report.hub_error}", markup=False)
    raise typer.Exit(EXIT_PARTIAL if report.hub_error else EXIT_OK)
