"""`newsletter feeds build`: write the RSS, Atom and JSON feeds."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from pipeline.cli.context import EXIT_OK, EXIT_PARTIAL, database, err, fail, out, progress, settings
from pipeline.feeds import build_feeds

feeds_app = typer.Typer(help="Build the RSS, Atom and JSON feeds.", no_args_is_help=True)

T = TypeVar("T")


@feeds_app.command("build")
def build(
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="Write here instead of FEEDS_DIR."),
    ] = None,
) -> None:
    """Write feed.xml, atom.xml and feed.json for the site, each tag and each author;
    feeds whose posts did not change are left untouched."""
    config = settings()
    db = database(config)
    try:
        report = build_feeds(db, config, out_dir, track=_tracked)
    except OSError as exc:
        fail(f"cannot write feeds: {exc.strerror or exc} ({exc.filename or out_dir})")
    finally:
        db.close()
    out.print(report.summary(), markup=False)
    if report.hub_error:
        err.print(f"error: {report.hub_error}", markup=False)
    raise typer.Exit(EXIT_PARTIAL if report.hub_error else EXIT_OK)


def _tracked(feeds: Sequence[T]) -> Iterator[T]:
    """The feeds, advancing a progress bar (shown on a terminal only) as each is written."""
    with progress("Building feeds", total=len(feeds)) as bar:
        for feed in feeds:
            yield feed
            bar.advance(bar.task_ids[0])
