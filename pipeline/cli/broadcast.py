"""`newsletter broadcast FILE.md`: a one-off mail to every confirmed subscriber, or to
those of one topic, sent through the outbox like a digest."""

from __future__ import annotations

import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.context import EXIT_OK, EXIT_PARTIAL, database, fail, out, settings
from pipeline.cli.digest import report_and_exit, send_with_progress
from pipeline.delivery import check_delivery
from pipeline.delivery.single import send_one
from pipeline.editorial import EditorialError, render_intro, subject_line
from pipeline.editorial.broadcast import Broadcast, read_broadcast, test_copy
from pipeline.editorial.broadcast_runs import audience, start_broadcast
from pipeline.outbox import UNFINISHED, RunStatus
from pipeline.settings import Settings
from pipeline.storage import Database
from subscribers import SubscriberError, normalise_email

BODY_LINES_SHOWN = 20


def broadcast(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.md",
            help="The mail in Markdown: a `subject:` "
            "front matter line or a first `# heading` gives its subject.",
        ),
    ],
    topic: Annotated[
        str | None, typer.Option(help="Send only to subscribers who chose this topic.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Send without asking.")] = False,
    test_to: Annotated[
        str | None,
        typer.Option(help="Send one copy here and nothing else; no run, nothing queued."),
    ] = None,
) -> None:
    """Send a one-off mail. The same file to the same topic is one run: sending it again
    resumes that run (or says it was sent) rather than mailing anyone twice."""
    config = settings()
    try:
        mail = read_broadcast(file, topic)
    except EditorialError as exc:
        fail(str(exc))
    if test_to:
        _send_test(config, mail, test_to)
        return
    db = database(config)
    check_delivery(config)  # a delivery setting that cannot work stops us before the run
    if not yes:
        _confirm(db, mail)
    started = start_broadcast(db, mail, datetime.now(UTC))
    run = started.run
    if not started.created and run.status not in (*UNFINISHED, RunStatus.PAUSED):
        out.print(f"this broadcast is {run.status} (run {run.id}): nothing to send", markup=False)
        return
    report_and_exit(send_with_progress(db, config, run.id, wait=True))


def _send_test(config: Settings, mail: Broadcast, address: str) -> None:
    try:
        email = normalise_email(address)
    except SubscriberError as exc:
        fail(f"{address}: {exc}")
    check_delivery(config)
    result = send_one(config, test_copy(config, mail, email))
    if not result.ok:
        fail(f"{email}: {result.error}", code=EXIT_PARTIAL)
    out.print(f"test broadcast sent to {email}", markup=False)


def _confirm(db: Database, mail: Broadcast) -> None:
    """Show what would go to whom, then ask; a script must say --yes."""
    reach = audience(db, mail.topic)
    total = sum(reach.values())
    out.print(f"Subject: {subject_line(mail.subject)}", markup=False)
    out.print(f"Topic: {mail.topic or 'all confirmed subscribers'}", markup=False)
    lines = render_intro(mail.body).text.splitlines()
    out.print("Body:", markup=False)
    out.print(textwrap.indent("\n".join(lines[:BODY_LINES_SHOWN]), "  "), markup=False)
    if len(lines) > BODY_LINES_SHOWN:
        out.print(f"  … ({len(lines) - BODY_LINES_SHOWN} more lines)", markup=False)
    if reach:
        out.print("Recipients by frequency and time zone:", markup=False)
        for (frequency, zone), number in reach.items():
            out.print(f"  {frequency:<8} {zone:<32} {number}", markup=False)
    if not total:
        out.print("no confirmed subscriber would get it: nothing to send", markup=False)
        raise typer.Exit(EXIT_OK)
    question = f"Send this broadcast to {total} subscriber{'s' if total != 1 else ''}?"
    if not sys.stdin.isatty():
        fail(f"{question} Add --yes to send without asking.")
    if not typer.confirm(question):
        raise typer.Exit(EXIT_OK)
