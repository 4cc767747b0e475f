"""`Idempotency-Key` for POSTs with effects: a client that retries after a lost answer
gets the first answer again (status and body), marked `Idempotent-Replayed: true`.

Kept in memory, for the newest KEEP keys: enough for a client's retries, forgotten on a
restart (the operations are idempotent by nature too; the key just pins the answer).
Only successes are kept, so a request that failed can be retried with the same key.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse

from pipeline.web.api.errors import ApiError

KEEP = 1_000
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

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._answers: OrderedDict[str, tuple[str, Answer]] = OrderedDict()
        # Held while producing, so two requests with one key cannot both act.
        self._lock = threading.Lock()

    def answer(self, key: str | None, request: str, produce: Callable[[], Answer]) -> JSONResponse:
        """`produce()`'s (status, body) as JSON; with a key seen before, the stored one."""
        if key is None:
            status, body = produce()
            return JSONResponse(body, status)
        with self._lock:
            known = self._answers.get(key)
            if known is not None:
                answered, (status, body) = known
                if answered != request:
                    raise ApiError(422, f"this Idempotency-Key was used for {answered}")
                self._answers.move_to_end(key)
                return JSONResponse(body, status, headers=REPLAYED)
            status, body = produce()
            self._answers[key] = (request, (status, body))
            while len(self._answers) > self.keep:
                self._answers.popitem(last=False)
        return JSONResponse(body, status)
