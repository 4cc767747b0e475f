"""Digest runs: the list, one run's progress and failures, and pause, resume, cancel."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from pipeline.clicks import click_totals
from pipeline.outbox import (
    FINISHED,
    RunStatus,
    cancel_run,
    counts,
    get_run,
    pause_run,
    problems,
    recent_runs,
    resume_run,
)
from pipeline.web.admin.render import message_page, page, see_other
from pipeline.web.admin.routing import AdminRoute
from pipeline.web.state import web_state

router = APIRouter(route_class=AdminRoute)
RUNS_LISTED = 50
PROBLEMS_SHOWN = 200
REFRESH_SECONDS = 3
NO_RUN = "There is no such digest run."


@router.get("/runs")
def runs(request: Request) -> HTMLResponse:
    db = web_state(request).db
    listed = recent_runs(db, limit=RUNS_LISTED)
    ids = [run.id for run in listed]
    by_run = counts(db, ids)
    clicks = click_totals(db, ids).runs
    return page(request, "runs.html", runs=[(run, by_run[run.id]) for run in listed], clicks=clicks)


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: int) -> HTMLResponse:
    """A run's messages by status, the ones that failed (or wait for a retry) with their
    errors, and its controls; refreshed every few seconds until it is over."""
    db = web_state(request).db
    run = get_run(db, run_id)
    if run is None:
        return message_page(request, 404, "No such run", NO_RUN)
    active = run.status not in FINISHED
    return page(
        request,
        "run.html",
        run=run,
        counts=counts(db, [run_id])[run_id],
        problems=problems(db, run_id, PROBLEMS_SHOWN),
        clicks=click_totals(db, [run_id]).posts.get(run_id, []),
        click_counting=web_state(request).settings.click_counting,
        refresh=REFRESH_SECONDS if active and run.status != RunStatus.PAUSED else None,
        finished=not active,
    )


@router.post("/runs/{run_id}/{action}")
def control(
    request: Request, run_id: int, action: Literal["pause", "resume", "cancel"]
) -> Response:
    """Pause a run between batches, resume it (sending again here), or cancel what is left."""
    state = web_state(request)
    now = state.clock()
    if action == "pause":
        run = pause_run(state.db, run_id, now)
    elif action == "resume":
        run = resume_run(state.db, run_id, now)
        if run is not None:
            state.senders.start(state.db, state.settings, run)
    else:
        run = cancel_run(state.db, run_id, now)
    if run is None:
        return message_page(request, 404, "No such run", NO_RUN)
    return see_other(f"/admin/runs/{run_id}")
