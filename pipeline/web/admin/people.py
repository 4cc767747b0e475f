"""The subscriber list: search, add one, import a CSV, export the list."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from pipeline.storage.posts import site_tags
from pipeline.web.admin.held import Held, NotHeld, hold, take
from pipeline.web.admin.paging import PageNumber, Paging
from pipeline.web.admin.render import page, see_other
from pipeline.web.admin.routing import AdminRoute, posted, session_of
from pipeline.web.invitations import invite_soon
from pipeline.web.state import web_state
from subscribers import (
    STATUSES,
    SubscriberError,
    SubscriberStore,
    export_csv,
    import_csv,
)

router = APIRouter(route_class=AdminRoute)
PER_PAGE = 50
REFUSALS_SHOWN = 200
SEARCH_LENGTH = 320
ADDED = {"created": "Added", "merged": "Updated"}
STATUS_CHOICE = f"^({'|'.join(STATUSES)})?$"


@router.get("/subscribers")
def subscribers(
    request: Request,
    q: str = Query("", max_length=SEARCH_LENGTH),
    status: str = Query("", pattern=STATUS_CHOICE),
    page_number: PageNumber = 1,
    added: str = "",
    invited: str = "",
) -> HTMLResponse:
    """Subscribers whose address or name contains `q` (any case), of `status` if given,
    newest first."""
    notice = _added_notice(added, q) or (f"Pending people: {invited}." if invited else None)
    return _list(request, q.strip(), page_number, status=status, notice=notice)


@router.post("/subscribers/invite")
def invite_pending(request: Request) -> Response:
    """Mail the confirmation link again to pending people not asked within the hour."""
    posted(request)
    invited = invite_soon(web_state(request))
    return see_other(
        "/admin/subscribers?" + urlencode({"status": "pending", "invited": invited.summary()})
    )


@router.post("/subscribers")
def add(request: Request) -> Response:
    form = posted(request)
    store: SubscriberStore = web_state(request).subscribers
    try:
        subscriber, outcome = store.add(
            form.text("email"),
            name=form.text("name") or None,
            frequency=form.text("frequency") or None,
            confirmed=form.text("confirmed") == "yes",
            method="admin",
            ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
        )
    except SubscriberError as exc:
        return _list(request, "", 1, code=422, error=f"Not added: {exc}", form=form.fields)
    if subscriber.status == "pending":
        invite_soon(web_state(request), [subscriber.id])
    return see_other(f"/admin/subscribers?{urlencode({'q': subscriber.email, 'added': outcome})}")


@router.post("/subscribers/import")
def import_file(request: Request) -> HTMLResponse:
    """Add or merge each row of the uploaded CSV (or, with `preview`, only show what each
    row would become, and keep the file for the confirmation); report what happened."""
    form = posted(request)
    data = form.files.get("file", b"")
    if not data.strip():
        return _list(request, "", 1, code=422, error="Choose a CSV file to import.")
    held = Held(data, form.file_names.get("file", ""), form.text("confirmed") == "yes")
    return _import(request, held, preview=form.text("preview") == "yes")


@router.post("/subscribers/import/confirm")
def confirm_import(request: Request) -> HTMLResponse:
    """Import the file kept at its preview, exactly as previewed."""
    form = posted(request)
    try:
        held = take(web_state(request).settings, session_of(request), form.text("held"))
    except NotHeld as exc:
        return _list(request, "", 1, code=409, error=str(exc))
    return _import(request, held, preview=False)


def _import(request: Request, held: Held, *, preview: bool) -> HTMLResponse:
    try:
        text = held.data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _list(request, "", 1, code=422, error=f"Not UTF-8 text (byte {exc.start}).")
    rows: list[tuple[int, str]] = []
    report = import_csv(
        io.StringIO(text, newline=""),
        web_state(request).subscribers,
        confirmed=held.confirmed,
        site_tags=site_tags(web_state(request).db),
        file_name=held.file_name,
        dry_run=preview,
        show=_first_rows(rows) if preview else None,
    )
    invited = invite_soon(web_state(request), report.pending_ids)
    settings = web_state(request).settings
    return page(
        request,
        "imported.html",
        report=report,
        preview=preview,
        held=hold(settings, session_of(request), held) if preview else None,
        held_confirmed=held.confirmed,
        invited=invited,
        rows=rows,
        refused=report.refused[:REFUSALS_SHOWN],
        kept_out=report.kept_out[:REFUSALS_SHOWN],
    )


def _first_rows(rows: list[tuple[int, str]]) -> Callable[[int, str], None]:
    """A preview's `show`: keeps the first REFUSALS_SHOWN rows for the page."""

    def show(line: int, text: str) -> None:
        if len(rows) < REFUSALS_SHOWN:
            rows.append((line, text))

    return show


@router.get("/subscribers/export.csv")
def export(request: Request) -> Response:
    """Every subscriber as CSV, cells that a spreadsheet would run as formulas defused."""
    stream = io.StringIO(newline="")
    export_csv(web_state(request).subscribers, stream)
    name = f"subscribers-{web_state(request).clock():%Y-%m-%d}.csv"
    return Response(
        stream.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _list(
    request: Request,
    q: str,
    page_number: int,
    code: int = 200,
    *,
    status: str = "",
    **context: Any,
) -> HTMLResponse:
    store: SubscriberStore = web_state(request).subscribers
    paging = Paging(page_number, PER_PAGE, store.count_matching(q, status=status))
    rows = store.search(q, status=status, limit=paging.size, offset=paging.offset)
    return page(
        request,
        "subscribers.html",
        code,
        subscribers=rows,
        q=q,
        status_filter=status,
        statuses=STATUSES,
        paging=paging,
        counts=web_state(request).subscribers.counts(),
        snippet=_embed_snippet(request),
        **context,
    )


def _embed_snippet(request: Request) -> str:
    """The sign-up form another site can paste, pointing at this site (templates/embed.html)."""
    templates = web_state(request).admin.templates
    return templates.get_template("embed.html").render(
        base_url=web_state(request).settings.base_url
    )


def _added_notice(added: str, email: str) -> str | None:
    verb = ADDED.get(added)
    return f"{verb} {email}." if verb else None
