"""Digest runs: start this period's (idempotently), watch them, pause, resume, cancel.

Sending happens in a background thread; the answer is the run, whose counts show the
progress on each later GET.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from pipeline.digest.runs import start_run
from pipeline.editorial import EditorialError, editorial
from pipeline.frequencies import EACH
from pipeline.outbox import (
    UNFINISHED,
    cancel_run,
    counts,
    get_run,
    pause_run,
    recent_runs,
    resume_run,
    run_json,
)
from pipeline.storage import Database
from pipeline.storage.models import DigestRun
from pipeline.web.api.context import (
    ClockDep,
    DatabaseDep,
    SendersDep,
    SettingsDep,
    StateDep,
)
from pipeline.web.api.errors import ApiError
from pipeline.web.api.idempotency import Answer, KeyHeader
from pipeline.web.api.models import RunOut, SendRequest, failures
from pipeline.web.api.routing import ApiRoute
from pipeline.web.sending import check_backend
from subscribers import Frequency

router = APIRouter(route_class=ApiRoute, tags=["deliveries"])
# The run's id leads to the operations on it (OpenAPI links, for clients and schemathesis).
LINKS = {
    operation: {"operationId": operation, "parameters": {"run_id": "$response.body#/id"}}
    for operation in ("show_run", "pause", "resume", "cancel")
}
NO_RUN = failures({404: "no run with this id"})
STUCK = failures({404: "no run with this id", 409: "the run's status does not allow it"})
RunId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the run's id")]


@router.get("/deliveries", response_model=list[RunOut], summary="Digest runs, newest first")
def list_runs(
    db: DatabaseDep, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> list[dict[str, Any]]:
    runs = recent_runs(db, limit=limit)
    by_run = counts(db, [run.id for run in runs])
    return [run_json(run, by_run[run.id]) for run in runs]


@router.get(
    "/deliveries/{run_id}", response_model=RunOut, summary="One digest run", responses=NO_RUN
)
def show_run(run_id: RunId, db: DatabaseDep) -> dict[str, Any]:
    return _json(db, _found(get_run(db, run_id), run_id))


@router.post(
    "/digests/{frequency}/send",
    response_model=RunOut,
    status_code=201,
    summary="Send this period's digest",
    responses={
        200: {"model": RunOut, "description": "the period's run existed already", "links": LINKS},
        201: {"links": LINKS},
        **failures({409: "a request with this Idempotency-Key is still being answered"}),
    },
)
def send_digest(
    frequency: Frequency,
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    state: StateDep,
    senders: SendersDep,
    clock: ClockDep,
    idempotency_key: KeyHeader = None,
    body: SendRequest | None = None,
) -> JSONResponse:
    """Plan and queue this period's run (201), or find the one that exists (200), and send
    it in the background: one run per frequency and period however often this is called.
    Finished and paused runs are not sent again. Per-post mail (`each`) is not sent here:
    each new post gets its own run when it is ingested (409). A new run takes the body's
    subject and Markdown intro; an existing one keeps its own."""

    if frequency == EACH:
        raise ApiError(
            409, "per-post emails go out by themselves: each new post gets its own run at ingest"
        )
    try:
        note = editorial(body.subject, body.intro) if body else None
    except EditorialError as exc:
        raise ApiError(422, str(exc)) from None

    def start() -> Answer:
        check_backend(settings)
        started = start_run(db, settings, frequency, clock(), note=note)
        answer = (201 if started.created else 200), _json(db, started.run)
        senders.start(db, settings, started.run)
        return answer

    return state.keys.answer(idempotency_key, f"POST {request.url.path}", start)


@router.post(
    "/deliveries/{run_id}/pause", response_model=RunOut, summary="Pause a run", responses=STUCK
)
def pause(run_id: RunId, db: DatabaseDep, clock: ClockDep) -> dict[str, Any]:
    """Stop sending between batches; `resume` continues where it stopped."""
    return _move(db, run_id, clock(), pause_run, "paused")


@router.post(
    "/deliveries/{run_id}/resume", response_model=RunOut, summary="Resume a run", responses=STUCK
)
def resume(
    run_id: RunId, db: DatabaseDep, settings: SettingsDep, senders: SendersDep, clock: ClockDep
) -> dict[str, Any]:
    """Send a paused run again, or an unfinished one that no process is sending."""
    check_backend(settings)
    run = _found(resume_run(db, run_id, clock()), run_id)
    if run.status not in UNFINISHED:
        raise ApiError(409, f"run {run_id} is {run.status}: it cannot be resumed")
    senders.start(db, settings, run)
    return _json(db, run)


@router.post(
    "/deliveries/{run_id}/cancel", response_model=RunOut, summary="Cancel a run", responses=STUCK
)
def cancel(run_id: RunId, db: DatabaseDep, clock: ClockDep) -> dict[str, Any]:
    """End a run for good: what was not sent yet is skipped."""
    return _move(db, run_id, clock(), cancel_run, "cancelled")


def _move(
    db: Database,
    run_id: int,
    now: datetime,
    move: Callable[[Database, int, datetime], DigestRun | None],
    target: str,
) -> dict[str, Any]:
    """Apply `move` at `now`; 409 if the run was in a state it does not leave for `target`."""
    run = _found(move(db, run_id, now), run_id)
    if run.status != target:
        raise ApiError(409, f"run {run_id} is {run.status}: it cannot be {target}")
    return _json(db, run)


def _found(run: DigestRun | None, run_id: int) -> DigestRun:
    if run is None:
        raise ApiError(404, f"no digest run {run_id}")
    return run


def _json(db: Database, run: DigestRun) -> dict[str, Any]:
    return run_json(run, counts(db, [run.id])[run.id])
