"""What every command shares: settings, the database, output and the exit-code rules.

Exit codes (DESIGN.md): 0 success, 1 partly failed, 2 bad input or settings.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import SQLAlchemyError

from pipeline.redact import redacted
from pipeline.settings import Settings, SettingsProblem, load_settings
from pipeline.site_file import with_site_file
from pipeline.storage import Database, open_database
from subscribers import Subscriber, SubscriberError, SubscriberStore

EXIT_OK, EXIT_PARTIAL, EXIT_BAD_INPUT = 0, 1, 2
T = TypeVar("T")

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print one line to stderr and stop with `code`."""
    err.print(f"error: {message}", markup=False)
    raise typer.Exit(code)


def settings() -> Settings:
    """The settings (the content folder's site.yml filling in the site's name where the
    settings do not), or a one-line error and exit 2."""
    try:
        return with_site_file(load_settings())
    except SettingsProblem as exc:
        fail(str(exc))


def database(config: Settings) -> Database:
    """The database, migrated to head on first use, or a one-line error and exit 2."""
    url = config.effective_database_url
    try:
        return open_database(url)
    except (OSError, SQLAlchemyError) as exc:
        fail(f"database {redacted(url)}: {describe_database_error(exc)}")


def subscriber_store(config: Settings, db: Database) -> SubscriberStore:
    """The subscriber list on this database, new subscribers defaulting to TIMEZONE."""
    return SubscriberStore(db.sessions, default_timezone=config.timezone)


def find_subscriber(config: Settings, db: Database, email: str) -> Subscriber:
    """The subscriber with this address, or a one-line error and exit 2."""
    try:
        found = subscriber_store(config, db).find(email)
    except SubscriberError as exc:
        fail(f"{email}: {exc}")
    if found is None:
        fail(f"{email}: not on the list")
    return found


def describe_database_error(exc: BaseException) -> str:
    """The first line of the driver's own message, without SQLAlchemy's boilerplate."""
    original = getattr(exc, "orig", None) or exc
    text = getattr(original, "strerror", None) or str(original)
    return text.strip().splitlines()[0] if text.strip() else type(original).__name__


def print_json(items: list[dict[str, Any]]) -> None:
    """A JSON array on stdout and nothing else (for `--json`)."""
    sys.stdout.write(json.dumps(items, ensure_ascii=False, indent=2) + "\n")


@contextmanager
def progress(description: str, total: int) -> Iterator[Progress]:
    """A progress bar on a terminal; silent when stderr is a pipe or a file."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    with bar:
        bar.add_task(description, total=total)
        yield bar


def tracker(description: str) -> Callable[[Sequence[T]], Iterator[T]]:
    """A `track` argument for long work: yields the items, advancing a progress bar."""

    def track(items: Sequence[T]) -> Iterator[T]:
        with progress(description, total=len(items)) as bar:
            for item in items:
                yield item
                bar.advance(bar.task_ids[0])

    return track
