"""The sent-mail viewer: the .eml files the `file` backend writes into DATA_DIR/outbox.

Only names the backend could have written are opened (no path separators, no leading
dot), so no other file is reachable. HTML bodies are shown in a sandboxed frame.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from pipeline.settings import Settings
from pipeline.web.admin.mailview import read_headers, read_mail
from pipeline.web.admin.paging import Paging
from pipeline.web.admin.render import framed, message_page, page
from pipeline.web.admin.routing import AdminRoute

router = APIRouter(route_class=AdminRoute)
PER_PAGE = 50
_NAME = re.compile(r"[A-Za-z0-9@_-][A-Za-z0-9@._-]{0,250}\.eml")
NO_MESSAGE = "There is no such message in the outbox."


@router.get("/outbox")
def outbox(request: Request, page_number: int = Query(1, alias="page", ge=1)) -> HTMLResponse:
    """The newest messages first (the backend's file names start with the time)."""
    settings: Settings = request.app.state.settings
    folder = _folder(settings)
    names = sorted(
        (path.name for path in folder.glob("*.eml") if _NAME.fullmatch(path.name)), reverse=True
    )
    paging = Paging(page_number, PER_PAGE, len(names))
    messages = []
    for name in names[paging.offset : paging.offset + paging.size]:
        try:
            messages.append((name, read_headers(folder / name)))
        except OSError:  # deleted meanwhile
            continue
    return page(
        request,
        "outbox.html",
        messages=messages,
        paging=paging,
        folder=folder,
        backend=settings.email_backend,
    )


@router.get("/outbox/{name}")
def message(request: Request, name: str) -> HTMLResponse:
    """One message: its headers, its text part, and its HTML part in a frame."""
    path = _message_path(request.app.state.settings, name)
    if path is None:
        return message_page(request, 404, "No such message", NO_MESSAGE)
    return page(request, "mail.html", name=name, mail=read_mail(path.read_bytes()))


@router.get("/outbox/{name}/html")
def message_html(request: Request, name: str) -> Response:
    path = _message_path(request.app.state.settings, name)
    html = read_mail(path.read_bytes()).html if path else None
    if html is None:
        return message_page(request, 404, "No such message", NO_MESSAGE)
    return framed(html)


def _folder(settings: Settings) -> Path:
    return settings.data_dir / "outbox"


def _message_path(settings: Settings, name: str) -> Path | None:
    path = _folder(settings) / name
    return path if _NAME.fullmatch(name) and path.is_file() else None
