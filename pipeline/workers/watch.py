"""Following a run that the workers send, for a command that waits for it to end."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from pipeline.outbox import (
    FINISHED,
    OutboxStatus,
    RunStatus,
    SendReport,
    backlog,
    counts,
    get_run,
    problems,
)
from pipeline.outbox.send import WAIT_BUDGET_SECONDS
from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.workers.dispatch import rescue
from subscribers.timestamps import utcnow

POLL_SECONDS = 0.5
RESCUE_SECONDS = 30.0  # idle this long with work due: its tasks were lost, hand it over again
ERRORS_SHOWN = 20


def watch_run(
    db: Database,
    settings: Settings,
    run_id: int,
    *,
    progress: Callable[[SendReport], None] | None = None,
    notice: Callable[[str], None] | None = None,
    wait: float = WAIT_BUDGET_SECONDS,
    clock: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], None] = time.sleep,
) -> SendReport:
    """Follow `run_id` until it ends, pauses, or only has retries due more than `wait`
    seconds away; a run that sits idle with work due for RESCUE_SECONDS is handed over
    again (`notice` says so). The report reads like `send_run`'s."""
    checked = clock()
    while True:
        report = _report(db, run_id)
        if progress:
            progress(report)
        if report.status in FINISHED or report.status == RunStatus.PAUSED:
            break
        now = clock()
        left = backlog(db, run_id, now)
        if not left.in_flight and left.next_due and left.next_due > now + timedelta(seconds=wait):
            report.retrying, report.next_attempt = left.queued, left.next_due
            break
        if (now - checked).total_seconds() >= RESCUE_SECONDS:
            if rescue(db, settings, now, [run_id]) and notice:
                notice(
                    f"no worker was sending run {run_id} for {RESCUE_SECONDS:.0f} s: handed"
                    " over again (is `newsletter worker` running on this BROKER_URL?)"
                )
            checked = now
        sleep(POLL_SECONDS)
    report.errors = [
        f"{email or 'row ' + str(item.id)}: {item.last_error}"
        for item, email in problems(db, run_id, ERRORS_SHOWN)
        if item.status == OutboxStatus.FAILED
    ]
    return report


def _report(db: Database, run_id: int) -> SendReport:
    run = get_run(db, run_id)
    if run is None:
        raise LookupError(f"no digest run {run_id}")
    tally = counts(db, [run_id])[run_id]
    return SendReport(
        run_id,
        sent=tally["sent"],
        failed=tally["failed"],
        skipped=tally["skipped"],
        status=run.status,
        note=run.note,
        next_attempt=run.resume_at,
    )
