"""What every HTTP client here shares (sources, the provider APIs, WebSub pings): how it
names itself, which answers are worth retrying, and failures told in one line."""

from __future__ import annotations

import requests

USER_AGENT = "newsletter-pipeline/0.1"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def status_reason(response: requests.Response) -> str:
    """`HTTP 500 after 2 retries`, counting the retries urllib3 recorded for this answer."""
    history = getattr(getattr(response.raw, "retries", None), "history", None) or ()
    reason = f"HTTP {response.status_code}"
    if not history:
        return reason
    return f"{reason} after {len(history)} {'retry' if len(history) == 1 else 'retries'}"


def one_line(exc: BaseException) -> str:
    """An exception's message on one line, as every error we report or store must be."""
    return " ".join(str(exc).split())
