"""`newsletter digest preview|send` and `newsletter deliveries`."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from pipeline.atomic import replace_file
from pipeline.cli.context import (
    EXIT_OK,
    EXIT_PARTIAL,
    database,
    err,
    fail,
    find_subscriber,
    out,
    print_json,
    settings,
    subscriber_store,
)
from pipeline.delivery import check_delivery
from pipeline.delivery.single import send_one
from pipeline.digest import message_parts
from pipeline.digest.each import start_post_runs
from pipeline.digest.preview import (
    SendOutlook,
    editor_copy,
    preview_message,
    preview_posts,
    run_archive_url,
    run_subject,
    send_outlook,
    would_send,
)
from pipeline.digest.runs import start_run
from pipeline.editorial import Editorial, EditorialError, editorial, render_intro
from pipeline.editorial.files import read_markdown
from pipeline.frequencies import EACH
from pipeline.outbox import (
    SendReport,
    cancel_run,
    counts,
    pause_run,
    recent_runs,
    resume_run,
    run_json,
    send_run,
    unfinished_runs,
)
from pipeline.outbox.status import UNFINISHED, RunStatus
from pipeline.private import PRIVATE_MODE
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.storage.models import DigestRun
from pipeline.storage.posts import post_titles
from subscribers import Frequency, SubscriberError, normalise_email

digest_app = typer.Typer(help="Preview and send email digests.", no_args_is_help=True)

FrequencyOption = Annotated[Frequency, typer.Option(help="Which digest.")]


@digest_app.command("preview")
def preview(
    frequency: FrequencyOption = "weekly",
    email: Annotated[str | None, typer.Option(help="Preview for this subscriber.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", metavar="DIR")] = None,
) -> None:
    """Write the digest a subscriber (or a sample reader) would get now, as .html and .txt."""
    config = settings()
    db = database(config)
    subscriber = find_subscriber(config, db, email) if email else None
    now = datetime.now(UTC)
    posts = preview_posts(db, subscriber, frequency, now)
    if not posts:
        fail("no published posts to preview (run `newsletter ingest` first)")
    link = run_archive_url(config, frequency, now, posts)
    html, text = message_parts(preview_message(config, posts, subscriber, link))
    folder = out_dir or config.data_dir / "preview"
    paths = [folder / f"digest-{frequency}.{suffix}" for suffix in ("html", "txt")]
    try:
        for path, body in zip(paths, (html, text), strict=True):
            replace_file(path, body.encode(), mode=PRIVATE_MODE)
    except OSError as exc:
        fail(f"cannot write the preview to {folder}: {exc.strerror or exc}")
    for path in paths:
        out.print(str(path), markup=False)


@digest_app.command("send")
def send(
    frequency: FrequencyOption = "weekly",
    yes: Annotated[bool, typer.Option("--yes", help="Send without asking.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List who would get which posts; send nothing.")
    ] = False,
    test_to: Annotated[
        str | None, typer.Option(help="Send one copy here; no subscriber's state changes.")
    ] = None,
    no_wait: Annotated[
        bool,
        typer.Option(
            "--no-wait", help="With BROKER_URL: hand the run to the workers and return at once."
        ),
    ] = False,
    subject: Annotated[
        str | None, typer.Option(help="This run's subject instead of the default one.")
    ] = None,
    intro: Annotated[
        Path | None,
        typer.Option(metavar="FILE.md", help="A Markdown note that opens this run's digest."),
    ] = None,
) -> None:
    """Send this period's digest to every subscriber of FREQUENCY with something new.

    With BROKER_URL set the workers send it, and this shows their progress until the run
    ends (or returns at once with --no-wait)."""
    config = settings()
    db = database(config)
    note = _note(subject, intro)
    if test_to:
        _send_test(config, db, frequency, test_to, note)
    elif dry_run:
        _dry_run(config, db, frequency)
    else:
        _send_run(config, db, frequency, yes, note, wait=not no_wait)


def _note(subject: str | None, intro: Path | None) -> Editorial | None:
    """The editor's subject and intro, checked; one line and exit 2 if unusable."""
    if subject is None and intro is None:
        return None
    try:
        return editorial(subject, read_markdown(intro) if intro else None)
    except EditorialError as exc:
        fail(str(exc))


def _send_test(
    config: Settings, db: Database, frequency: Frequency, address: str, note: Editorial | None
) -> None:
    try:
        email = normalise_email(address)
    except SubscriberError as exc:
        fail(f"{address}: {exc}")
    posts = preview_posts(db, None, frequency, datetime.now(UTC))
    if not posts:
        fail("no published posts to send (run `newsletter ingest` first)")
    result = send_one(config, editor_copy(config, posts, email, note=note))
    if not result.ok:
        fail(f"{email}: {result.error}", code=EXIT_PARTIAL)
    out.print(f"test digest ({len(posts)} posts) sent to {email}", markup=False)


def _dry_run(config: Settings, db: Database, frequency: Frequency) -> None:
    now = datetime.now(UTC)
    outlook = send_outlook(db, config, frequency, now)
    groups = would_send(outlook, db, now)
    emails = subscriber_store(config, db).emails(
        subscriber_id for ids in groups.values() for subscriber_id in ids
    )
    titles = post_titles(db, {post_id for post_ids in groups for post_id in post_ids})
    for post_ids, subscriber_ids in groups.items():
        listed = "; ".join(titles[post_id] for post_id in post_ids)
        for subscriber_id in subscriber_ids:
            out.print(f"{emails[subscriber_id]}: {len(post_ids)} posts ({listed})", markup=False)
    total = sum(len(ids) for ids in groups.values())
    if outlook.run is not None:
        run = outlook.run
        out.print(f"run {run.id} for {outlook.period} is {run.status}", markup=False)
    if frequency == EACH:
        out.print(f"{total} emails would go out, one per new post and reader", markup=False)
    else:
        out.print(f"{total} subscribers would get the {frequency} digest", markup=False)


def _send_run(
    config: Settings,
    db: Database,
    frequency: Frequency,
    yes: bool,
    note: Editorial | None,
    *,
    wait: bool,
) -> None:
    """Exit 0 only when the run is done; otherwise say what is left and when it goes."""
    now = datetime.now(UTC)
    check_delivery(config)  # a delivery setting that cannot work stops us before the run
    if frequency == EACH:
        _send_each(config, db, yes, now, wait=wait)
        return
    if not yes:
        outlook = send_outlook(db, config, frequency, now)
        if outlook.finished and outlook.run is not None:
            out.print(
                f"the {frequency} digest for {outlook.period} is {outlook.run.status}"
                f" (run {outlook.run.id}): nothing to send",
                markup=False,
            )
            return
        show_confirmation(outlook, run_subject(db, config, outlook, note), note)
        _confirm(outlook)
    started = start_run(db, config, frequency, now, note=note)
    run = started.run
    if note is not None and not started.created:
        err.print(
            f"run {run.id} was started before: it keeps its own subject and intro", markup=False
        )
    if not started.created and run.status not in (*UNFINISHED, RunStatus.PAUSED):
        out.print(
            f"the {frequency} digest for {run.period} is {run.status} (run {run.id}):"
            " nothing to send",
            markup=False,
        )
        return
    report_and_exit(send_with_progress(db, config, run.id, wait=wait))


def _send_each(config: Settings, db: Database, yes: bool, now: datetime, *, wait: bool) -> None:
    """Per-post mail: a run for each new post, then every unfinished per-post run (those a
    stopped sender left too) sent here; exit 0 only when all are done."""
    if not yes:
        outlook = send_outlook(db, config, EACH, now)
        left = unfinished_runs(db, EACH)
        if outlook.recipients or left:
            _confirm_each(outlook.recipients, len(outlook.planned or {}), len(left))
    for started in start_post_runs(db, config, now):
        run = started.run
        out.print(f"run {run.id} for {run.period}: {run.status}", markup=False)
    left = unfinished_runs(db, EACH)
    reports = [send_with_progress(db, config, run_id, wait=wait) for run_id in left]
    if not reports:
        out.print("no new post to send on its own", markup=False)
        raise typer.Exit(EXIT_OK)
    for report in reports:
        for line in report.errors[:20]:
            err.print(f"error: {line}", markup=False)
        out.print(report.summary(), markup=False)
    if any(report.status in (*UNFINISHED, RunStatus.PAUSED) for report in reports):
        err.print(
            "what is left goes out with `newsletter serve` running (its sweep), or with"
            " `newsletter digest send --frequency each`",
            markup=False,
        )
    sent = all(report.done and not report.failed for report in reports)
    raise typer.Exit(EXIT_OK if sent else EXIT_PARTIAL)


def _confirm_each(mails: int, posts: int, left: int) -> None:
    """Ask before sending per-post mail; a script must say --yes."""
    question = f"Send {mails} emails for {posts} new posts"
    if left:
        question += f" and finish {left} unfinished per-post runs"
    question += "?"
    if not sys.stdin.isatty():
        fail(f"{question} Add --yes to send without asking.")
    if not typer.confirm(question):
        raise typer.Exit(EXIT_OK)


def report_and_exit(report: SendReport) -> None:
    for line in report.errors[:20]:
        err.print(f"error: {line}", markup=False)
    out.print(report.summary(), markup=False)
    if not report.done:
        if report.status in (*UNFINISHED, RunStatus.PAUSED):
            err.print(
                "what is left goes out with `newsletter serve` running (its sweep), or"
                f" with `newsletter deliveries resume {report.run_id}`",
                markup=False,
            )
        raise typer.Exit(EXIT_PARTIAL)
    raise typer.Exit(EXIT_PARTIAL if report.failed else EXIT_OK)


def show_confirmation(outlook: SendOutlook, subject: str, note: Editorial | None) -> None:
    """What the run would send: subject, intro, posts, and recipients by frequency and zone."""
    intro = outlook.run.intro if outlook.run is not None else note.intro if note else None
    out.print(f"Subject: {subject}", markup=False)
    if intro:
        out.print("Intro:", markup=False)
        out.print(textwrap.indent(render_intro(intro).text, "  "), markup=False)
    if outlook.audience.posts:
        out.print("Posts (recipients):", markup=False)
        for title, number in outlook.audience.posts:
            out.print(f"  {title} ({number})", markup=False)
    if outlook.audience.zones:
        out.print("Recipients by frequency and time zone:", markup=False)
        for (frequency, zone), number in outlook.audience.zones.items():
            out.print(f"  {frequency:<8} {zone:<32} {number}", markup=False)


def _confirm(outlook: SendOutlook) -> None:
    """Ask before sending; a script must say --yes."""
    if outlook.run is not None:
        question = f"Resume run {outlook.run.id} ({outlook.left} messages left)?"
    else:
        question = (
            f"Send the {outlook.frequency} digest for {outlook.period}"
            f" to {outlook.recipients} subscribers?"
        )
    if not sys.stdin.isatty():
        fail(f"{question} Add --yes to send without asking.")
    if not typer.confirm(question):
        raise typer.Exit(EXIT_OK)


def send_with_progress(db: Database, config: Settings, run_id: int, *, wait: bool) -> SendReport:
    """Send with a progress bar (sent, failed, rate, ETA) on a terminal; with BROKER_URL,
    hand the run over to the workers and follow it (unless told not to wait)."""
    left = counts(db, [run_id])[run_id]
    total = left["queued"] + left["sending"]
    if config.broker_url:
        chunks = _hand_over(db, config, run_id)
        if not wait:
            out.print(f"run {run_id}: handed to the workers ({chunks} chunk tasks)", markup=False)
            raise typer.Exit(EXIT_OK)
        done_before = left["sent"] + left["failed"] + left["skipped"]
        total += done_before
    bar = Progress(
        TextColumn("Sending"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TextColumn("{task.fields[rate]:.0f} msg/s"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    with bar:
        task = bar.add_task("send", total=total, failed=0, rate=0.0)

        def update(report: SendReport) -> None:
            done = report.sent + report.failed + report.skipped
            speed = bar.tasks[0].speed or 0.0
            bar.update(task, completed=done, failed=report.failed, rate=speed)

        if config.broker_url:
            from pipeline.workers import watch_run

            notice = partial(err.print, markup=False)
            return watch_run(db, config, run_id, progress=update, notice=notice)
        return send_run(db, config, run_id, progress=update)


def _hand_over(db: Database, config: Settings, run_id: int) -> int:
    """Enqueue the run's chunk tasks; a broker that cannot take them is one line."""
    from pipeline.workers import dispatch
    from pipeline.workers.dispatch import BrokerUnavailable

    try:
        return dispatch(db, config, run_id)
    except BrokerUnavailable as exc:
        fail(f"{exc}; run {run_id} waits until the scheduler's sweep hands it over again")


deliveries_app = typer.Typer(help="Digest runs: list them, pause, resume or cancel one.")


@deliveries_app.callback(invoke_without_command=True)
def deliveries(
    context: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """Digest runs, newest first, with how many messages are in each state."""
    if context.invoked_subcommand is not None:
        return
    db = database(settings())
    runs = recent_runs(db)
    by_run = counts(db, [run.id for run in runs])
    items = [run_json(run, by_run[run.id]) for run in runs]
    if as_json:
        print_json(items)
        return
    for item in items:
        tally = ", ".join(f"{count} {status}" for status, count in item["counts"].items() if count)
        out.print(
            f"run {item['id']}  {item['frequency']} {item['period']}  {item['status']}"
            f"  {tally or 'no messages'}",
            markup=False,
        )


RunId = Annotated[int, typer.Argument(help="The run's id (see `newsletter deliveries`).")]


@deliveries_app.command("pause")
def pause(run_id: RunId) -> None:
    """Stop a run between batches until it is resumed."""
    _control(run_id, "paused", pause_run)


@deliveries_app.command("cancel")
def cancel(run_id: RunId) -> None:
    """End a run for good: what was not sent yet is skipped."""
    _control(run_id, "cancelled", cancel_run)


@deliveries_app.command("resume")
def resume(run_id: RunId) -> None:
    """Send a paused or unfinished run now, here, until it is done."""
    config = settings()
    db = database(config)
    check_delivery(config)
    run = resume_run(db, run_id, datetime.now(UTC))
    if run is None:
        fail(f"no digest run {run_id}")
    if run.status not in UNFINISHED:
        fail(f"run {run_id} is {run.status}: it cannot be resumed")
    report_and_exit(send_with_progress(db, config, run_id, wait=True))


def _control(run_id: int, target: str, move: Callable[..., DigestRun | None]) -> None:
    db = database(settings())
    run = move(db, run_id, datetime.now(UTC))
    if run is None:
        fail(f"no digest run {run_id}")
    if run.status != target:
        fail(f"run {run_id} is {run.status}: it cannot be {target}")
    out.print(f"run {run_id} {target}", markup=False)
