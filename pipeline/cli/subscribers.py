"""`newsletter subscribers …`: add, import, export, list, show and remove subscribers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, TextIO

import typer

from pipeline.cli.context import (
    EXIT_OK,
    EXIT_PARTIAL,
    database,
    err,
    fail,
    out,
    print_json,
    progress,
    settings,
    subscriber_store,
)
from pipeline.invitations import invite
from pipeline.outbox import send_run
from pipeline.private import open_private
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.storage.posts import site_tags
from subscribers import (
    Frequency,
    ImportReport,
    SubscriberError,
    SubscriberStore,
    export_csv,
    import_csv,
    subscriber_json,
)
from subscribers.csv_import import PLAIN

subscribers_app = typer.Typer(help="Manage the subscriber list.", no_args_is_help=True)

CSV_FILE = Annotated[Path, typer.Argument(metavar="FILE.csv", dir_okay=False)]


def _store() -> SubscriberStore:
    config = settings()
    return subscriber_store(config, database(config))


@subscribers_app.command("add")
def add(
    email: Annotated[str, typer.Argument(help="The address to add.")],
    name: Annotated[str | None, typer.Option(help="The subscriber's name.")] = None,
    frequency: Annotated[Frequency | None, typer.Option(help="Digest frequency.")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone, e.g. Europe/Paris.")] = None,
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="Consent already given: skip double opt-in.")
    ] = False,
) -> None:
    """Add a subscriber (pending unless --confirmed: then they are mailed a link to
    confirm), or update one already on the list."""
    config = settings()
    db = database(config)
    store = subscriber_store(config, db)
    try:
        subscriber, outcome = store.add(
            email,
            name=name,
            frequency=frequency,
            timezone=timezone,
            confirmed=confirmed,
            method="cli",
        )
    except SubscriberError as exc:
        fail(f"{email}: {exc}")
    verb = "added" if outcome == "created" else "updated"
    out.print(
        f"{verb} {subscriber.email} ({subscriber.status}, {subscriber.frequency})", markup=False
    )
    if subscriber.status == "pending":
        _ask_to_confirm(config, db, store, [subscriber.id])


@subscribers_app.command("import")
def import_(
    path: CSV_FILE,
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="Consent already given: import as confirmed.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what each row would become; write nothing.")
    ] = False,
) -> None:
    """Import a CSV (columns email, name, frequency, timezone, topics) or the export of
    Mailchimp, Substack, Buttondown, Ghost or listmonk; report what became of each row."""
    config = settings()
    db = database(config)
    store = subscriber_store(config, db)
    show = _shown_row(path) if dry_run else None
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            report = import_csv(
                _tracked_lines(stream, path),
                store,
                confirmed=confirmed,
                site_tags=site_tags(db),
                file_name=path.name,
                dry_run=dry_run,
                show=show,
            )
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}")
    except UnicodeDecodeError as exc:
        fail(f"{path}: not UTF-8 text (byte {exc.start})")
    if not dry_run:
        _print_report(path, report)
    if report.format != PLAIN:
        out.print(f"{path}: read as a {report.format} export", markup=False)
    if report.labels:
        kept = ", ".join(f"{label} ({count})" for label, count in report.labels.most_common())
        out.print(f"{path}: tags kept as labels (no post has them): {kept}", markup=False)
    prefix = "would be: " if dry_run else ""
    out.print(f"{path}: {prefix}{report.summary()}", markup=False)
    asked = report.pending_ids and _ask_to_confirm(config, db, store, report.pending_ids)
    failed = report.refused_count or asked
    raise typer.Exit(EXIT_PARTIAL if failed and not dry_run else EXIT_OK)


@subscribers_app.command("invite")
def invite_pending() -> None:
    """Mail the confirmation link again to every pending subscriber not asked within
    the hour."""
    config = settings()
    db = database(config)
    failed = _ask_to_confirm(config, db, subscriber_store(config, db), None)
    raise typer.Exit(EXIT_PARTIAL if failed else EXIT_OK)


def _ask_to_confirm(
    config: Settings, db: Database, store: SubscriberStore, subscriber_ids: list[int] | None
) -> bool:
    """Queue the confirmation link for pending people, then send that outbox run here (a
    run cut short is finished by `newsletter serve` or a worker); whether any failed
    (failures on stderr, exit 1 left to the caller)."""
    invited = invite(db, store, subscriber_ids)
    out.print(invited.summary(), markup=False)
    if invited.run is None:
        return False
    report = send_run(db, config, invited.run.id)
    for failure in report.errors:
        err.print(f"confirmation not sent: {failure}", markup=False)
    out.print(f"confirmations: {report.summary()}", markup=False)
    return bool(report.failed)


def _shown_row(path: Path) -> Callable[[int, str], None]:
    """Print what one row would become (a dry run)."""

    def show(line: int, text: str) -> None:
        out.print(f"{path}:{line}: {text}", markup=False)

    return show


def _print_report(path: Path, report: ImportReport) -> None:
    """Kept-out rows on stdout (they are not errors), refused ones on stderr."""
    for line, reason in report.kept_out:
        out.print(f"{path}:{line}: {reason}", markup=False)
    for line, reason in report.refused:
        err.print(f"{path}:{line}: {reason}", markup=False)
    for what, count, listed in (
        ("kept out", report.kept_out_count, report.kept_out),
        ("refused", report.refused_count, report.refused),
    ):
        if count > len(listed):
            err.print(f"{path}: … and {count - len(listed)} more {what} rows", markup=False)


def _tracked_lines(stream: TextIO, path: Path) -> Iterator[str]:
    """The file's lines, advancing a progress bar by bytes read (on a terminal only)."""
    with progress(f"Importing {path.name}", total=path.stat().st_size) as bar:
        for line in stream:
            yield line
            bar.advance(bar.task_ids[0], len(line.encode("utf-8")))


@subscribers_app.command("export")
def export(path: CSV_FILE) -> None:
    """Write every subscriber to a CSV file (RFC 4180, safe to open in a spreadsheet)."""
    store = _store()
    try:
        with open_private(path) as stream:
            count = export_csv(store, stream)
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}")
    out.print(f"{path}: {count} subscribers exported", markup=False)


@subscribers_app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """List subscribers, oldest first."""
    everyone = (subscriber_json(subscriber) for subscriber in _store().iter_all())
    if as_json:
        print_json(list(everyone))
        return
    for item in everyone:
        name = f" ({item['name']})" if item["name"] else ""
        out.print(
            f"{item['email']}{name}  {item['status']}  {item['frequency']}  {item['timezone']}",
            markup=False,
        )


@subscribers_app.command("show")
def show(email: Annotated[str, typer.Argument(help="The address to look up.")]) -> None:
    """Print everything stored about one subscriber as JSON (a GDPR access request)."""
    try:
        data = _store().personal_data(email)
    except SubscriberError as exc:
        fail(f"{email}: {exc}")
    if data is None:
        fail(f"{email}: not on the list")
    print_json([data])


@subscribers_app.command("remove")
def remove(
    email: Annotated[str, typer.Argument(help="The address to remove.")],
    erase: Annotated[
        bool,
        typer.Option(
            "--erase", help="Erase personal data; keep only a hash so it is never mailed."
        ),
    ] = False,
) -> None:
    """Remove a subscriber; with --erase, also suppress the address (stored hashed)."""
    try:
        removed = _store().remove(email, erase=erase)
    except SubscriberError as exc:
        fail(f"{email}: {exc}")
    if not removed and not erase:
        fail(f"{email}: not on the list")
    action = "erased" if erase else "removed"
    out.print(f"{email}: {action}", markup=False)
