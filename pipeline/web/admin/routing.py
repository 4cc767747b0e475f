"""The route class of every /admin route: the checks run before any handler, in one place.

In order: while ADMIN_USERNAME/ADMIN_PASSWORD are unset, every admin route answers 503 and
says how to turn the admin on; without a session, a page redirects to sign-in and anything
else is refused (403); a POST must carry its form's CSRF token (403 otherwise), and is read
only after the session is proven. Handlers find the session in `request.state.admin` and
the form in `request.state.form` (see `session_of` and `posted`). Every answer, refusals
included, carries the admin's headers, unless the handler set its own (framed bodies).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, ClassVar
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from pipeline.web.admin.auth import (
    ADMIN_OFF,
    COOKIE,
    SIGNIN_COOKIE,
    SIGNIN_PATH,
    AdminSession,
    admin_on,
)
from pipeline.web.admin.csrf import CSRF_FIELD, token_matches
from pipeline.web.admin.forms import MAX_BODY, AdminForm, read_admin_form
from pipeline.web.admin.render import ADMIN_HEADERS, message_page, see_other
from pipeline.web.forms import MAX_BODY as PUBLIC_MAX_BODY
from pipeline.web.forms import FormError
from pipeline.web.state import web_state

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
SIGNED_OUT = "Your session has ended. Sign in again, then repeat what you were doing."
FORM_EXPIRED = (
    "This form is out of date or did not come from this admin page. "
    "Open the page again and submit it from there."
)


class AdminRoute(APIRoute):
    """A route for signed-in admins."""

    needs_session: ClassVar[bool] = True

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await self._refusal(request) or await handler(request)
            except RequestValidationError:  # e.g. /admin/runs/abc
                response = message_page(request, 404, "Not found", "There is no such page.")
            for name, value in ADMIN_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return guarded

    async def _refusal(self, request: Request) -> Response | None:
        """The answer that stops this request before its handler, if any."""
        if not admin_on(web_state(request).settings):
            return message_page(request, 503, "The admin is off", ADMIN_OFF)
        cookies = web_state(request).admin.cookies
        session = await run_in_threadpool(cookies.session, request.cookies.get(COOKIE))
        request.state.admin = session
        if self.needs_session and session is None:
            if request.method in ("GET", "HEAD"):
                return see_other(signin_url(request))
            return message_page(request, 403, "Signed out", SIGNED_OUT)
        if request.method != "POST":
            return None
        try:
            form = await read_admin_form(request, MAX_BODY if session else PUBLIC_MAX_BODY)
        except FormError as exc:
            return message_page(request, exc.status, "Bad request", str(exc))
        expected: str | None
        if session is not None and self.needs_session:
            expected = session.csrf
        else:
            expected = cookies.signin_token(request.cookies.get(SIGNIN_COOKIE))
        if not token_matches(expected, form.text(CSRF_FIELD)):
            return message_page(request, 403, "Form expired", FORM_EXPIRED)
        request.state.form = form
        return None


class SignInRoute(AdminRoute):
    """The sign-in form: open to all while the admin is on; its POST checks the CSRF token
    of the sign-in cookie."""

    needs_session = False


def signin_url(request: Request) -> str:
    """The sign-in page, coming back to this page afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{SIGNIN_PATH}?{urlencode({'next': here})}"


def session_of(request: Request) -> AdminSession:
    """The signed-in admin's session (AdminRoute has checked there is one)."""
    return request.state.admin


def posted(request: Request) -> AdminForm:
    """The POSTed form (AdminRoute has read it and checked its token)."""
    return request.state.form
