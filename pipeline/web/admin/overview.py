"""The dashboard, the posts list and the settings page: what the admin reads at a glance."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from pipeline.outbox import counts, recent_runs
from pipeline.scheduling.triggers import next_runs
from pipeline.storage import Database
from pipeline.storage.models import DigestRun
from pipeline.storage.posts import all_posts, count_posts, posts_by_status
from pipeline.web.admin.charts import Membership, bar_chart, line_chart, weekly_members
from pipeline.web.admin.paging import PageNumber, Paging
from pipeline.web.admin.render import page
from pipeline.web.admin.routing import AdminRoute
from pipeline.web.state import web_state

router = APIRouter(route_class=AdminRoute)
RUNS_LISTED = 10
RUNS_CHARTED = 20
POSTS_PER_PAGE = 50


@router.get("/")
def dashboard(request: Request) -> HTMLResponse:
    state = web_state(request)
    db: Database = state.db
    now = state.clock()
    runs = recent_runs(db, limit=RUNS_CHARTED)
    by_run = counts(db, [run.id for run in runs])
    posts = posts_by_status(db)
    people = [Membership(confirmed, left) for confirmed, left in state.subscribers.memberships()]
    weeks = weekly_members(people, state.settings.zone, now.date())
    growth = [(f"{week:%d %b %Y}", total) for week, total, _, _ in weeks]
    changes = [
        (f"week of {week:%d %b %Y}", {"new": new, "left": left}) for week, _, new, left in weeks
    ]
    sent = [(_run_label(run), by_run[run.id]) for run in reversed(runs)]
    ends = (_period(runs[-1]), _period(runs[0])) if runs else None
    return page(
        request,
        "dashboard.html",
        posts=posts,
        subscribers=state.subscribers.counts(),
        upcoming=next_runs(state.settings, now),
        runs=[(run, by_run[run.id]) for run in runs[:RUNS_LISTED]],
        growth=line_chart("Confirmed subscribers, by week", growth),
        changes=bar_chart(
            "New and unsubscribed, per week",
            changes,
            ("new", "left"),
            ticks=(growth[0][0], growth[-1][0]) if growth else None,
        ),
        messages=bar_chart(
            "Messages per run",
            sent,
            ("sent", "failed"),
            ticks=ends,
        ),
    )


@router.get("/posts")
def posts(request: Request, page_number: PageNumber = 1) -> HTMLResponse:
    """Every post, drafts and removed ones too, newest first."""
    db = web_state(request).db
    paging = Paging(page_number, POSTS_PER_PAGE, count_posts(db))
    rows = all_posts(db, limit=paging.size, offset=paging.offset)
    return page(request, "posts.html", posts=rows, paging=paging)


@router.get("/settings")
def settings_page(request: Request) -> HTMLResponse:
    """The effective settings, secrets masked (as `newsletter config check` prints them)."""
    return page(request, "settings.html", settings=web_state(request).settings.masked())


def _run_label(run: DigestRun) -> str:
    return f"run {run.id} ({_period(run)})"


def _period(run: DigestRun) -> str:
    return f"{run.frequency} {run.period}"
