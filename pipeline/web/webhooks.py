"""`POST /webhooks/{provider}`: bounces and complaints from the email API, suppressed.

Mailing addresses that bounce or complain ruins the sender's reputation, and providers
suspend accounts that keep doing it, so their reports go straight to the subscriber store:
a hard bounce or a complaint suppresses the address, soft bounces count towards
HARD_BOUNCE_LIMIT. A forged report would take a person off the list (or block their
sign-up), so a call is checked as far as its headers allow before its body is read, the
body is read only up to MAX_BODY, and nothing reaches the store unless the provider's own
scheme (see `pipeline.delivery.providers`) proves it genuine and its key was not seen
before. Answers are short JSON with one-line reasons:

- 200: accepted (events of no interest, and repeats, are ignored, so the provider does not
  retry them);
- 400: genuine but not the provider's JSON; 401: not signed, not genuine, or stale;
  404: no webhook for this provider is configured; 413: body over MAX_BODY.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from pipeline.delivery.feedback import (
    REMEMBER,
    TOLERANCE,
    BadEvent,
    Feedback,
    Hook,
    NotGenuine,
    Report,
)
from pipeline.settings import Settings
from pipeline.storage.webstate import Record, SharedState
from pipeline.web.forms import FormError, read_body
from pipeline.web.state import web_state
from subscribers import SubscriberError, SubscriberStore

log = logging.getLogger(__name__)
router = APIRouter()
NO_STORE = {"Cache-Control": "no-store"}
MAX_BODY = 1_000_000  # SendGrid's batches stay under 768 KB; the others post one event
SEAL = "seal:"  # keeps a call's seal apart from event keys


@router.post("/webhooks/{provider}")
async def webhook(provider: str, request: Request) -> JSONResponse:
    hook: Hook | None = web_state(request).webhooks.get(provider)
    if hook is None:
        return _answer(404, error=f"no webhook for {provider!r} is configured")
    state: SharedState = web_state(request).shared
    now = state.clock()
    try:
        hook.admit(request.headers, now)
        body = await read_body(request, MAX_BODY)
        report = await run_in_threadpool(hook.open, request.headers, body, now)
    except NotGenuine as exc:
        log.warning("webhook %s: refused a call: %s", provider, exc)
        return _answer(401, error="not signed, or the signature does not match")
    except FormError as exc:
        return _answer(exc.status, error=str(exc))
    except BadEvent as exc:
        return _answer(400, error=f"not a {provider} event: {exc}")
    settings: Settings = web_state(request).settings
    recorded = await run_in_threadpool(
        _record_once,
        state,
        web_state(request).subscribers,
        provider,
        report,
        now,
        settings.hard_bounce_limit,
    )
    return _answer(200, recorded=recorded)


def _record_once(
    state: SharedState,
    store: SubscriberStore,
    provider: str,
    report: Report,
    now: datetime,
    threshold: int,
) -> int:
    """Record the events whose key is new (or that have none), if the call's seal is new;
    if recording fails, the keys are forgotten again so that the provider's retry counts."""
    keys = {event.once: now + REMEMBER for event in report.events if event.once is not None}
    if report.seal is not None:
        keys[SEAL + report.seal] = now + 2 * TOLERANCE  # the call is stale after that
    scope = f"webhook:{provider}"
    new = state.change(scope, keys, functools.partial(_first_seen, keys)) if keys else set()
    if repeated := keys.keys() - new:
        log.warning("webhook %s: ignored %d repeated key(s)", provider, len(repeated))
    if report.seal is not None and SEAL + report.seal not in new:
        return 0
    events = [event for event in report.events if event.once is None or event.once in new]
    try:
        return _record(store, events, threshold)
    except BaseException:
        state.change(scope, new, _forget)
        raise


def _first_seen(until: dict[str, datetime], records: dict[str, Record], _now: datetime) -> set[str]:
    """Mark each key not marked yet until its time; those keys."""
    new = {key for key, record in records.items() if not record.data}
    for key in new:
        records[key].data, records[key].expires_at = {"seen": True}, until[key]
    return new


def _forget(records: dict[str, Record], now: datetime) -> None:
    for record in records.values():
        record.data, record.expires_at = {}, now


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
