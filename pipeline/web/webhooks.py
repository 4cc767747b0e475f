"""`POST /webhooks/{provider}`: bounces and complaints from the email API, suppressed.

Mailing addresses that bounce or complain ruins the sender's reputation, and providers
suspend accounts that keep doing it, so their reports go straight to the subscriber store:
a hard bounce or a complaint suppresses the address, soft bounces count towards
HARD_BOUNCE_LIMIT. The call is verified before its body is read (see
`pipeline.delivery.signatures`), and answers are short JSON with one-line reasons:

- 200: accepted (events of no interest are ignored, so the provider does not retry them);
- 400: verified but not a JSON event; 401: not signed, or not genuine; 404: no such
  provider; 503: WEBHOOK_SECRET is not set or does not fit the provider (the provider
  retries later, so nothing is lost while an admin fixes it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from pipeline.delivery.feedback import (
    Feedback,
    read_mailgun,
    read_postmark,
    read_resend,
    read_sendgrid,
)
from pipeline.delivery.signatures import (
    SECRET,
    WebhookSecretError,
    verify_mailgun,
    verify_postmark,
    verify_resend,
    verify_sendgrid,
)
from subscribers import SubscriberError, SubscriberStore

log = logging.getLogger(__name__)
router = APIRouter()
NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class _Hook:
    verify: Callable[[str, Mapping[str, str], bytes], bool]
    read: Callable[[Any], list[Feedback]]


HOOKS = {
    "postmark": _Hook(verify_postmark, read_postmark),
    "sendgrid": _Hook(verify_sendgrid, read_sendgrid),
    "mailgun": _Hook(verify_mailgun, read_mailgun),
    "resend": _Hook(verify_resend, read_resend),
}


@router.post("/webhooks/{provider}")
async def webhook(provider: str, request: Request) -> JSONResponse:
    hook = HOOKS.get(provider)
    if hook is None:
        return _answer(404, error=f"no webhook for {provider!r}; use one of {', '.join(HOOKS)}")
    settings = request.app.state.settings
    if settings.webhook_secret is None:
        return _answer(503, error=f"{SECRET} is not set, so webhooks are off")
    body = await request.body()
    try:
        genuine = hook.verify(settings.webhook_secret.get_secret_value(), request.headers, body)
    except WebhookSecretError as exc:
        log.error("webhook %s: %s", provider, exc)
        return _answer(503, error=str(exc))
    if not genuine:
        log.warning("webhook %s: refused a call that is not signed or not genuine", provider)
        return _answer(401, error="not signed, or the signature does not match")
    try:
        events = hook.read(json.loads(body))
    except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        return _answer(400, error=f"not a {provider} event: {' '.join(str(exc).split())}")
    store = request.app.state.subscribers
    recorded = await run_in_threadpool(_record, store, events, settings.hard_bounce_limit)
    return _answer(200, recorded=recorded)


def _record(store: SubscriberStore, events: list[Feedback], threshold: int) -> int:
    """Apply each event to the store; how many could be (a malformed address cannot)."""
    recorded = 0
    for event in events:
        try:
            if event.kind == "complaint":
                store.record_complaint(event.email)
            else:
                store.record_bounce(event.email, hard=event.kind == "hard", threshold=threshold)
        except SubscriberError as exc:
            log.warning("webhook event for a bad address ignored: %s", exc)
            continue
        recorded += 1
    return recorded


def _answer(status: int, **content: object) -> JSONResponse:
    return JSONResponse(content, status_code=status, headers=NO_STORE)
