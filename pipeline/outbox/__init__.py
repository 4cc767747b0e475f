"""The outbox: digest runs and their rows, claimed by live senders and sent exactly once.

`rows` alone reads and writes the tables; `senders` keeps claims live; `send_run` is the
one way every front end (CLI, demo, scheduler, admin, API, benchmarks) sends a run.
"""

from pipeline.outbox.runs import (
    backlog,
    cancel_run,
    counts,
    deliveries_to,
    due_runs,
    find_run,
    get_run,
    idle_runs,
    pause_run,
    problems,
    recent_runs,
    resume_run,
    run_json,
    started_periods,
    unfinished_runs,
)
from pipeline.outbox.send import SendReport, send_run
from pipeline.outbox.status import FINISHED, UNFINISHED, OutboxStatus, RunStatus

__all__ = [
    "FINISHED",
    "UNFINISHED",
    "OutboxStatus",
    "RunStatus",
    "SendReport",
    "backlog",
    "cancel_run",
    "counts",
    "deliveries_to",
    "due_runs",
    "find_run",
    "get_run",
    "idle_runs",
    "pause_run",
    "problems",
    "recent_runs",
    "resume_run",
    "run_json",
    "send_run",
    "started_periods",
    "unfinished_runs",
]
