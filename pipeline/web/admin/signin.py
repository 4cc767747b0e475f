"""Signing in and out of the admin pages."""

from __future__ import annotations

import math
from functools import partial

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from pipeline.web.admin.auth import (
    COOKIE,
    HOME,
    SIGNIN_COOKIE,
    SIGNIN_PATH,
    credentials_match,
    new_token,
)
from pipeline.web.admin.backoff import signin_limits
from pipeline.web.admin.render import page, see_other
from pipeline.web.admin.routing import AdminRoute, SignInRoute, posted, session_of
from pipeline.web.state import web_state

router = APIRouter(route_class=SignInRoute)
signout_router = APIRouter(route_class=AdminRoute)
WRONG = "Wrong username or password."


@router.get("/signin")
def signin_page(request: Request, next_page: str = Query(HOME, alias="next")) -> Response:
    """The form; a signed-in admin goes straight on."""
    state = web_state(request).admin
    if state.cookies.session(request.cookies.get(COOKIE)) is not None:
        return see_other(_safe_next(next_page))
    return _form(request, _safe_next(next_page))


@router.post("/signin")
async def signin(request: Request) -> Response:
    """Sign in, unless this address, or this address with this username, has failed too
    often lately (429)."""
    form = posted(request)
    username, password = form.text("username"), str(form.fields.get("password", ""))
    next_page = _safe_next(form.text("next"))
    state = web_state(request).admin
    host = request.client.host if request.client else None
    verify = partial(credentials_match, web_state(request).settings, username, password)
    attempt = await run_in_threadpool(state.backoff.attempt, signin_limits(host, username), verify)
    if attempt.wait:
        retry = math.ceil(attempt.wait)
        message = f"Too many failed sign-ins. Try again in {retry} seconds."
        return _form(request, next_page, 429, error=message, headers={"Retry-After": str(retry)})
    if not attempt.ok:
        return _form(request, next_page, 401, error=WRONG, username=username)
    response = see_other(next_page)
    state.cookies.start(response, username)
    return response


@signout_router.post("/signout")
def signout(request: Request) -> Response:
    response = see_other(SIGNIN_PATH)
    web_state(request).admin.cookies.end(response, session_of(request))
    return response


def _form(
    request: Request,
    next_page: str,
    status: int = 200,
    *,
    headers: dict[str, str] | None = None,
    **context: str,
) -> HTMLResponse:
    """The sign-in form, with the token of its cookie (a fresh one if it has none)."""
    cookies = web_state(request).admin.cookies
    token = cookies.signin_token(request.cookies.get(SIGNIN_COOKIE))
    fresh = token is None
    token = token or new_token()
    response = page(
        request,
        "signin.html",
        status,
        headers=headers,
        signin_token=token,
        next=next_page,
        **context,
    )
    if fresh:
        cookies.offer_signin(response, token)
    return response


def _safe_next(path: str) -> str:
    """Where to go after signing in: an admin page, never another site (`//evil`)."""
    return path if path.startswith(HOME) and "\\" not in path else HOME
