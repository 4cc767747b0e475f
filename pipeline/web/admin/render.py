"""Answering admin requests: pages from `templates/admin/`, framed email bodies, redirects,
and the headers every admin answer carries.

Admin pages show personal data: never cached, never framed by another page, never indexed.
Email bodies (a digest preview, a sent message) are shown in a sandboxed frame of the
admin's own pages only: their inline styles apply there and nowhere else, and nothing in
them runs, whatever they contain.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from pipeline.web.state import web_state

ADMIN_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; frame-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
ADMIN_HEADERS = {
    "Content-Security-Policy": ADMIN_CSP,
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "same-origin",
}
FRAMED_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox"
)
FRAMED_HEADERS = {"Content-Security-Policy": FRAMED_CSP, "X-Frame-Options": "SAMEORIGIN"}


def page(
    request: Request,
    template: str,
    status: int = 200,
    *,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """`templates/admin/<template>` with the session (for the nav and the forms' token)."""
    session = getattr(request.state, "admin", None)
    context = {"admin": session, "csrf": session.csrf if session else None, **context}
    return web_state(request).admin.templates.TemplateResponse(
        request, f"admin/{template}", context, status_code=status, headers=headers
    )


def message_page(
    request: Request, status: int, heading: str, message: str, **context: Any
) -> HTMLResponse:
    """A page that only says something: an error, a refusal, a state."""
    return page(request, "notice.html", status, heading=heading, message=message, **context)


def framed(html: str) -> HTMLResponse:
    """An email's HTML body, for an <iframe sandbox> on an admin page."""
    return HTMLResponse(html, headers=FRAMED_HEADERS)


def see_other(url: str) -> RedirectResponse:
    """After a POST: the page to look at next (a reload does not post again)."""
    return RedirectResponse(url, status_code=303)
