"""The subscriber pages: sign-up with double opt-in, confirm, unsubscribe (with RFC 8058
one-click) and preferences.

Links carry signed tokens (`subscribers.TokenSigner`); the token in the path is the
capability, so no cookie, session or CSRF token is involved. GET never changes anything
but a confirmation (what the emailed link does; idempotent), so link scanners that
prefetch an unsubscribe link unsubscribe no one.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, TypedDict

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from pipeline.invitations import send_confirmations, send_welcome
from pipeline.settings import Settings
from pipeline.storage.posts import site_tags
from pipeline.web.forms import FormError, SignupForm, is_json, read_form, read_signup
from pipeline.web.ratelimit import client_key
from pipeline.web.state import web_state
from subscribers import Subscriber, SubscriberError, TokenError, TokenSigner
from subscribers.profile import suggest_timezones, timezone_names
from subscribers.transitions import ACTIVE

log = logging.getLogger(__name__)
router = APIRouter(default_response_class=HTMLResponse)

# Sign-ups per client address (an IPv6 client's /64) per window: a person needs one, a
# script mailing confirmations to strangers gets a handful.
SIGNUP_LIMIT = 5
SIGNUP_WINDOW_SECONDS = 600.0
# The one answer to every accepted sign-up, whatever the address's state: it must not tell
# a stranger whether someone is subscribed.
CHECK_INBOX = (
    "Check your inbox. If this address is not subscribed yet, we have sent it a link to "
    "confirm the subscription."
)
TOO_MANY = "Too many sign-ups from your network. Please try again later."
# These pages show personal data and carry a capability in their address.
PRIVATE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
_LINK_PROBLEMS = {
    "expired": (
        410,
        "This link has expired",
        "Confirmation links work for seven days. Sign up again and we will send a new one.",
    ),
    "invalid": (
        400,
        "This link is not valid",
        "It may be incomplete, or replaced by the link in a newer email from us.",
    ),
}


@dataclass(frozen=True)
class Choices:
    """What the preferences form shows and sends; None means "leave as it is"."""

    name: str | None
    frequency: str | None
    timezone: str | None
    topics: list[str]

    @classmethod
    def of(cls, subscriber: Subscriber) -> Choices:
        return cls(subscriber.name, subscriber.frequency, subscriber.timezone, subscriber.topics)


@router.get("/subscribe")
def subscribe_page(request: Request) -> HTMLResponse:
    return _page(request, "subscribe.html", heading="Subscribe", sent=False)


@router.post("/subscribe")
async def subscribe(request: Request) -> Response:
    """Start a double opt-in: the same answer for every acceptable address, and the
    confirmation mailed after the answer has gone, so its timing cannot tell either."""
    limiter = web_state(request).signup_limiter
    wait = await run_in_threadpool(limiter.hit, client_key(_client_ip(request)))
    if wait:
        headers = {"Retry-After": str(math.ceil(wait))}
        return _signup_answer(request, 429, error=TOO_MANY, headers=headers)
    try:
        signup = await read_signup(request)
    except FormError as exc:
        return _signup_answer(request, exc.status, error=str(exc))
    except SubscriberError as exc:
        return _signup_answer(request, 422, error=str(exc))
    if signup.honeypot:
        return _signup_answer(request)
    state = web_state(request)
    try:
        subscriber, send = await run_in_threadpool(
            partial(
                state.subscribers.request_subscription,
                signup.email,
                name=signup.name,
                frequency=signup.frequency,
                timezone=signup.timezone,
                topics=signup.topics,
                **_origin(request),
            )
        )
    except SubscriberError as exc:
        return _signup_answer(request, 422, error=str(exc), form=signup)
    task = BackgroundTask(send_confirmation, state.settings, state.signer, subscriber)
    return _signup_answer(request, background=task if send else None)


def send_confirmation(settings: Settings, signer: TokenSigner, subscriber: Subscriber) -> None:
    """Mail the confirmation link. A failure is only logged: the visitor has had the
    answer already, and the store allows another try after its hour."""
    for failure in send_confirmations(settings, signer, [subscriber]):
        log.warning("confirmation to subscriber %s not sent: %s", subscriber.id, failure)


@router.get("/confirm/{token}")
def confirm(request: Request, token: str) -> HTMLResponse:
    state = web_state(request)
    try:
        subscriber_id, nonce = state.signer.read_confirm_token(token)
    except TokenError as exc:
        return _link_problem(request, str(exc))
    confirmed = state.subscribers.confirm(subscriber_id, nonce, **_origin(request))
    if confirmed is None:  # left the list, or signed up again since this link was sent
        return _link_problem(request, "invalid")
    subscriber = confirmed.subscriber
    welcome = BackgroundTask(send_welcome, state.settings, state.signer, subscriber)
    return _page(
        request,
        "confirm.html",
        heading="You are subscribed",
        subscriber=subscriber,
        token=state.signer.manage_token(subscriber),
        background=welcome if confirmed.first else None,
    )


@router.get("/unsubscribe/{token}")
def unsubscribe_page(request: Request, token: str) -> HTMLResponse:
    """Only a page with a button: mail scanners open links, people press buttons."""
    subscriber = _holder(request, token)
    if subscriber is None:
        return _link_problem(request, "invalid")
    return _unsubscribe_answer(request, token, subscriber)


@router.post("/unsubscribe/{token}")
async def unsubscribe(request: Request, token: str) -> HTMLResponse:
    """The page's button, and RFC 8058 one-click (`List-Unsubscribe=One-Click`, sent by mail
    providers without cookies): both leave the list and answer 200, never a redirect."""
    try:
        fields = await read_form(request)
    except FormError as exc:
        return _bad_request(request, exc)
    ids = _manage_ids(request, token)
    if ids is None:
        return _link_problem(request, "invalid")
    one_click = fields.get("List-Unsubscribe") == "One-Click"
    subscriber = await run_in_threadpool(
        partial(
            web_state(request).subscribers.unsubscribe,
            *ids,
            method="one-click" if one_click else "link",
            **_origin(request),
        )
    )
    if subscriber is None:
        return _link_problem(request, "invalid")
    return _unsubscribe_answer(request, token, subscriber)


@router.get("/preferences/{token}")
def preferences_page(request: Request, token: str) -> HTMLResponse:
    subscriber = _holder(request, token)
    if subscriber is None:
        return _link_problem(request, "invalid")
    return _preferences(request, token, subscriber, Choices.of(subscriber))


@router.post("/preferences/{token}")
async def save_preferences(request: Request, token: str) -> HTMLResponse:
    try:
        fields = await read_form(request)
    except FormError as exc:
        return _bad_request(request, exc)
    subscriber = await run_in_threadpool(_holder, request, token)
    if subscriber is None:
        return _link_problem(request, "invalid")
    # The form always sends every field: no ticked topic means none (every post).
    choices = Choices(
        fields.get("name"),
        fields.get("frequency"),
        fields.get("timezone"),
        fields.getlist("topics"),
    )
    try:
        saved = await run_in_threadpool(
            partial(
                web_state(request).subscribers.update_preferences,
                subscriber.id,
                subscriber.token_nonce,
                **asdict(choices),
                **_origin(request),
            )
        )
    except SubscriberError as exc:
        return _preferences(request, token, subscriber, choices, 422, error=str(exc))
    if saved is None:  # signed up again meanwhile: this link is now stale
        return _link_problem(request, "invalid")
    return _preferences(request, token, saved, Choices.of(saved), saved=True)


def _signup_answer(
    request: Request,
    status: int = 200,
    *,
    error: str | None = None,
    form: SignupForm | None = None,
    headers: dict[str, str] | None = None,
    background: BackgroundTask | None = None,
) -> Response:
    """JSON for a JSON request, else the page: "check your inbox", or the form again with
    the error and what was typed (autoescaped)."""
    headers = {**PRIVATE, **(headers or {})}
    if is_json(request):
        body = {"error": error} if error else {"message": CHECK_INBOX}
        return JSONResponse(body, status, headers=headers, background=background)
    sent = error is None
    return _page(
        request,
        "subscribe.html",
        status,
        headers=headers,
        background=background,
        heading="Check your inbox" if sent else "Subscribe",
        sent=sent,
        message=CHECK_INBOX,
        error=error,
        form=form,
    )


def _unsubscribe_answer(request: Request, token: str, subscriber: Subscriber) -> HTMLResponse:
    active = subscriber.status in ACTIVE
    heading = "Unsubscribe" if active else "You are unsubscribed"
    return _page(
        request,
        "unsubscribe.html",
        heading=heading,
        subscriber=subscriber,
        token=token,
        active=active,
    )


def _preferences(
    request: Request,
    token: str,
    subscriber: Subscriber,
    choices: Choices,
    status: int = 200,
    *,
    saved: bool = False,
    error: str | None = None,
) -> HTMLResponse:
    chosen = {topic.casefold() for topic in choices.topics}
    options = {topic.casefold(): topic for topic in site_tags(web_state(request).db)}
    options.update((topic.casefold(), topic) for topic in choices.topics)
    return _page(
        request,
        "preferences.html",
        status,
        heading="Your preferences",
        subscriber=subscriber,
        token=token,
        active=subscriber.status in ACTIVE,
        choices=choices,
        topics=[(topic, key in chosen) for key, topic in sorted(options.items())],
        zones=timezone_names(),
        suggestions=_zone_suggestions(choices.timezone) if error else [],
        saved=saved,
        error=error,
    )


def _zone_suggestions(typed: str | None) -> list[str]:
    """Close matches for a time zone the store refused; none if it was not the zone."""
    if not typed or typed.strip() in timezone_names():
        return []
    return suggest_timezones(typed)


def _bad_request(request: Request, error: FormError) -> HTMLResponse:
    return _page(request, "base.html", error.status, heading="Bad request", message=str(error))


def _link_problem(request: Request, reason: str) -> HTMLResponse:
    status, heading, message = _LINK_PROBLEMS[reason]
    return _page(request, "link_problem.html", status, heading=heading, message=message)


def _page(
    request: Request,
    template: str,
    status: int = 200,
    *,
    headers: dict[str, str] = PRIVATE,
    background: BackgroundTask | None = None,
    **context: Any,
) -> HTMLResponse:
    return web_state(request).templates.TemplateResponse(
        request, template, context, status_code=status, headers=headers, background=background
    )


def _manage_ids(request: Request, token: str) -> tuple[int, str] | None:
    """(subscriber id, nonce) from a well-signed manage token."""
    try:
        return web_state(request).signer.read_manage_token(token)
    except TokenError:
        return None


def _holder(request: Request, token: str) -> Subscriber | None:
    """The subscriber a manage token is for, if its nonce is still current (a
    re-subscription renews the nonce, and with it every link)."""
    ids = _manage_ids(request, token)
    if ids is None:
        return None
    return web_state(request).subscribers.holding(*ids)


class _Origin(TypedDict):
    ip: str | None
    user_agent: str | None


def _origin(request: Request) -> _Origin:
    """Where a request came from, for the consent record."""
    return {"ip": _client_ip(request), "user_agent": request.headers.get("user-agent")}


def _client_ip(request: Request) -> str | None:
    """The client's address; behind a proxy, uvicorn takes it from X-Forwarded-For when
    the proxy is trusted (FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else None
