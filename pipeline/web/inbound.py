"""`POST /webhooks/{provider}/inbound`: unsubscribe requests mailed to List-Unsubscribe's
`mailto:` address, as the provider's inbound route posts them (see
`pipeline.delivery.inbound`). Only a call the provider signed, and not seen before, counts;
the mail must name a manage token this site signed, so nobody can unsubscribe anyone else
by mailing the address. Answers are short JSON: 200 (also for a mail that asks nothing, so
the provider does not retry it), 401 not signed, 404 no signed inbound route configured,
400/413 for a body that is not a form or too large."""

from __future__ import annotations

import logging
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from pipeline.delivery.feedback import TOLERANCE, NotGenuine
from pipeline.delivery.inbound import inbound_route, requested_token
from pipeline.storage.webstate import Record
from pipeline.web.forms import FormError, parse_form, read_body
from pipeline.web.state import web_state
from subscribers import TokenError

log = logging.getLogger(__name__)
router = APIRouter()
MAX_BODY = 2_000_000  # a forwarded mail with its text; attachments are not wanted
NO_STORE = {"Cache-Control": "no-store"}


@router.post("/webhooks/{provider}/inbound")
async def inbound(provider: str, request: Request) -> JSONResponse:
    route = inbound_route(web_state(request).settings)
    if route is None or route[0] != provider:
        return _answer(404, error=f"no signed inbound route for {provider!r} is configured")
    state = web_state(request).shared
    now = state.clock()
    try:
        fields = parse_form(request, await read_body(request, MAX_BODY))
        seal = route[1].verify(fields, now)
    except NotGenuine as exc:
        log.warning("inbound %s: refused a call: %s", provider, exc)
        return _answer(401, error="not signed, or the signature does not match")
    except FormError as exc:
        return _answer(exc.status, error=str(exc))
    first = await run_in_threadpool(
        state.change, f"inbound:{provider}", [seal], lambda records, _now: _spend(records, now)
    )
    token = requested_token(fields) if first else None
    if token is None:
        return _answer(200, unsubscribed=0)
    try:
        ids = web_state(request).signer.read_manage_token(token)
    except TokenError:
        log.warning("inbound %s: an unsubscribe mail named no token of ours", provider)
        return _answer(200, unsubscribed=0)
    subscriber = await run_in_threadpool(
        web_state(request).subscribers.unsubscribe, *ids, method="one-click"
    )
    return _answer(200, unsubscribed=int(subscriber is not None))


def _spend(records: dict[str, Record], now: datetime) -> bool:
    """Mark the call's key as seen; whether it was new."""
    [record] = records.values()
    if record.data:
        return False
    record.data, record.expires_at = {"seen": True}, now + 2 * TOLERANCE
    return True


def _answer(status: int, **content: object) -> JSONResponse:
    return JSONResponse(content, status_code=status, headers=NO_STORE)
