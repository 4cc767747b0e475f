"""`Idempotency-Key` for POSTs with effects: a client that retries after a lost answer
gets the first answer again (status and body), marked `Idempotent-Replayed: true`.

Answers live in the database's shared web state for KEEP_SECONDS, so a retry that lands on
another web process, or after a restart, is answered the same. A request holds its key
while it runs: the same key arriving meanwhile (on any process) gets 409 rather than acting
twice. Only successes are kept, so a request that failed can be retried with the same key.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse

from pipeline.storage.webstate import Record, SharedState
from pipeline.web.api.errors import ApiError

SCOPE = "api-idempotency"
KEEP_SECONDS = 24 * 3600.0
HOLD_SECONDS = 120.0  # a request that died holding its key frees it after this
KEY_MAX_LENGTH = 255
REPLAYED = {"Idempotent-Replayed": "true"}
KeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=KEY_MAX_LENGTH,
        description="a retry with the same key gets the first answer",
    ),
]
Answer = tuple[int, Any]


class IdempotencyKeys:
    """Answers by key, each with the request (method and path) it answered."""

    def __init__(self, state: SharedState) -> None:
        self._state = state

    def answer(self, key: str | None, request: str, produce: Callable[[], Answer]) -> JSONResponse:
        """`produce()`'s (status, body) as JSON; with a key seen before, the stored one."""
        if key is None:
            status, body = produce()
            return JSONResponse(body, status)
        known = self._state.change(
            SCOPE, [key], lambda records, now: _hold(records[key], request, now)
        )
        if known is not None:
            return JSONResponse(known["body"], known["status"], headers=REPLAYED)
        kept: Answer | None = None
        try:
            status, body = produce()
            if status < 400:
                kept = status, body
        finally:
            self._state.change(
                SCOPE, [key], lambda records, now: _settle(records[key], request, kept, now)
            )
        return JSONResponse(body, status)


def _hold(record: Record, request: str, now: datetime) -> dict[str, Any] | None:
    """The stored answer for this key, or None after taking the key for this request."""
    data = record.data
    if data:
        if data["request"] != request:
            raise ApiError(422, f"this Idempotency-Key was used for {data['request']}")
        if "status" not in data:
            raise ApiError(409, "a request with this Idempotency-Key is still being answered")
        return data
    record.data = {"request": request}
    record.expires_at = now + timedelta(seconds=HOLD_SECONDS)
    return None


def _settle(record: Record, request: str, kept: Answer | None, now: datetime) -> None:
    """Keep a success's answer; forget the key after a failure, so it can be retried."""
    if kept is None:
        record.data, record.expires_at = {}, now
        return
    status, body = kept
    record.data = {"request": request, "status": status, "body": body}
    record.expires_at = now + timedelta(seconds=KEEP_SECONDS)
