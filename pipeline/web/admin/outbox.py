"""The sent-mail viewer: the .eml files the `file` backend writes into DATA_DIR/outbox.

Only names the backend could have written are opened (no path separators, no leading
dot), and only regular files in the folder itself: a symlink planted in the outbox is
never followed (opened with O_NOFOLLOW, so it cannot be swapped in after a check either),
so no other file is reachable. HTML bodies are shown in a sandboxed frame.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import BinaryIO

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from pipeline.settings import Settings
from pipeline.web.admin.mailview import read_headers, read_mail
from pipeline.web.admin.paging import PageNumber, Paging
from pipeline.web.admin.render import framed, message_page, page
from pipeline.web.admin.routing import AdminRoute
from pipeline.web.state import web_state

router = APIRouter(route_class=AdminRoute)
PER_PAGE = 50
_NAME = re.compile(r"[A-Za-z0-9@_-][A-Za-z0-9@._-]{0,250}\.eml")
NO_MESSAGE = "There is no such message in the outbox."


@router.get("/outbox")
def outbox(request: Request, page_number: PageNumber = 1) -> HTMLResponse:
    """The newest messages first (the backend's file names start with the time)."""
    settings: Settings = web_state(request).settings
    folder = _folder(settings)
    names = sorted(
        (
            path.name
            for path in folder.glob("*.eml")
            if _NAME.fullmatch(path.name) and not path.is_symlink()
        ),
        reverse=True,
    )
    paging = Paging(page_number, PER_PAGE, len(names))
    messages = []
    for name in names[paging.offset : paging.offset + paging.size]:
        file = _opened(settings, name)
        if file is not None:  # else deleted meanwhile
            with file:
                messages.append((name, read_headers(file)))
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
    data = _message(web_state(request).settings, name)
    if data is None:
        return message_page(request, 404, "No such message", NO_MESSAGE)
    return page(request, "mail.html", name=name, mail=read_mail(data))


@router.get("/outbox/{name}/html")
def message_html(request: Request, name: str) -> Response:
    data = _message(web_state(request).settings, name)
    html = read_mail(data).html if data is not None else None
    if html is None:
        return message_page(request, 404, "No such message", NO_MESSAGE)
    return framed(html)


def _folder(settings: Settings) -> Path:
    return settings.data_dir / "outbox"


def _message(settings: Settings, name: str) -> bytes | None:
    """The bytes of message `name` (see `_opened`)."""
    file = _opened(settings, name)
    if file is None:
        return None
    with file:
        return file.read()


def _opened(settings: Settings, name: str) -> BinaryIO | None:
    """Message `name`, open for reading, if that is a regular file in the outbox itself."""
    if not _NAME.fullmatch(name):
        return None
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK  # NONBLOCK: a FIFO must not hang us
    try:
        fd = os.open(_folder(settings) / name, flags)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")
