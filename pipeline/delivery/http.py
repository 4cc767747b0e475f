"""HTTP for the email APIs: one Session per backend, and a POST retried within a budget.

A request carries a whole batch, so what to do with a failure matters: 429 waits as long as
the provider asks (Retry-After, or a rate-limit reset header), 5xx answers and network
failures back off exponentially with jitter, and all of it stays within a few retries and a
minute, after which the batch comes back as transient for the outbox to reschedule. Any
other answer is returned at once: sending the same request again cannot change it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from pipeline.http import USER_AGENT, one_line

TOO_MANY_REQUESTS = 429
EPOCH_2001 = 1e9  # a reset header above this is a Unix time, below it a number of seconds
_ERROR_MAX = 300

# A provider's own message in the JSON object of an error answer ("" if it has none).
ErrorReader = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class RetryPolicy:
    """How long one request may keep trying: `retries` more attempts, `budget` seconds of
    waiting in all, the first backoff `backoff` seconds (doubling, plus up to as much
    again of jitter so that a pool's workers do not retry in step)."""

    retries: int = 3
    budget: float = 60.0
    backoff: float = 0.5


def api_session(headers: Mapping[str, str]) -> requests.Session:
    """A Session (connections kept alive between batches) sending `headers` every time."""
    session = requests.Session()
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json", **headers})
    return session


def post(
    session: requests.Session,
    url: str,
    *,
    timeout: float,
    policy: RetryPolicy,
    error: ErrorReader,
    **request: Any,
) -> requests.Response | str:
    """The first answer that is neither 429 nor 5xx, or one line saying why none came
    (with the provider's own message, read by `error`)."""
    waited = 0.0
    attempt = 0
    while True:
        try:
            response = session.post(url, timeout=(timeout, timeout), **request)
        except requests.RequestException as exc:
            reason = (one_line(exc) or type(exc).__name__)[:_ERROR_MAX]
            delay = _backoff(policy, attempt)
        else:
            status = response.status_code
            if status != TOO_MANY_REQUESTS and status < 500:
                return response
            reason = describe(response, error)
            asked = _asked_wait(response) if status == TOO_MANY_REQUESTS else None
            delay = _backoff(policy, attempt) if asked is None else asked
        if attempt >= policy.retries or waited + delay > policy.budget:
            tries = f" ({attempt + 1} attempts)" if attempt else ""
            return f"{reason}{tries}"
        time.sleep(delay)
        waited += delay
        attempt += 1


def describe(response: requests.Response, error: ErrorReader) -> str:
    """`HTTP 422: <the provider's own message>`, on one line and not too long."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message = error(body) if isinstance(body, dict) else ""
    message = " ".join((message or response.text or response.reason or "").split())
    text = f"HTTP {response.status_code}: {message}" if message else f"HTTP {response.status_code}"
    return text[:_ERROR_MAX]


def _backoff(policy: RetryPolicy, attempt: int) -> float:
    delay = policy.backoff * 2**attempt
    return delay + random.uniform(0, delay)


def _asked_wait(response: requests.Response) -> float | None:
    """Seconds the provider asked us to wait: Retry-After (seconds or a date), else the
    rate-limit reset (seconds from now, or a Unix time as SendGrid sends it)."""
    retry_after = response.headers.get("Retry-After")
    if retry_after:
        try:
            return Retry().parse_retry_after(retry_after)
        except InvalidHeader:
            pass
    reset = response.headers.get("RateLimit-Reset") or response.headers.get("X-RateLimit-Reset")
    try:
        seconds = float(reset or "")
    except ValueError:
        return None
    if seconds > EPOCH_2001:
        seconds -= time.time()
    return max(0.0, seconds)
